//! What the translation leaves to the operator, keyword by keyword, and why: every keyword it
//! cannot express exactly is listed, never approximated, so the policy never refuses a Tenant
//! the operator would accept.

use serde_json::{Value, json};

use super::*;
use crate::admission::fixtures::dichvucong;

/// The keywords of `schema` left to the operator, as `field keyword: reason`.
fn left_to_operator(schema: Value) -> Vec<String> {
    let (_, unchecked) = schema_checks(&schema, "p");
    unchecked
        .iter()
        .map(|u| format!("{} {}: {}", u.field, u.keyword, u.reason))
        .collect()
}

#[test]
fn type_unknown_is_left_to_the_operator() {
    for t in [
        json!("frobnicate"),
        json!(["string", "frobnicate"]),
        json!([]),
        json!(5),
    ] {
        let (checks, _) = schema_checks(&json!({"type": t}), "p");
        assert!(checks.is_empty(), "{t}: {checks:?}");
        assert_eq!(
            left_to_operator(json!({"type": t})),
            ["values type: unknown type name"]
        );
    }
}

#[test]
fn pattern_beyond_re2_is_left_to_the_operator() {
    let (checks, _) = schema_checks(&json!({"pattern": "^(?!admin)"}), "p");
    assert!(checks.is_empty());
    assert_eq!(
        left_to_operator(json!({"pattern": "^(?!admin)"})),
        [
            "values pattern: uses regular-expression syntax RE2 (CEL) lacks, such as look-around or back-references"
        ]
    );
}

#[test]
fn items_as_a_tuple_is_left_to_the_operator() {
    let (checks, _) = schema_checks(&json!({"items": [{"type": "string"}]}), "p");
    assert!(checks.is_empty());
    assert_eq!(
        left_to_operator(json!({"items": [{"type": "string"}]})),
        ["values items: tuple-style items are not supported"]
    );
}

#[test]
fn additional_properties_true_or_beside_pattern_properties_checks_nothing() {
    let (checks, unchecked) = schema_checks(&json!({"additionalProperties": true}), "p");
    assert!(checks.is_empty() && unchecked.is_empty());
    let schema = json!({"patternProperties": {"^x-": {}}, "additionalProperties": false});
    let (checks, _) = schema_checks(&schema, "p");
    assert!(checks.is_empty(), "{checks:?}");
    assert_eq!(
        left_to_operator(schema),
        [
            "values patternProperties: not expressible in the generated CEL policy; checked by the operator"
        ]
    );
}

#[test]
fn required_is_left_to_the_operator() {
    let (checks, _) = schema_checks(&json!({"required": ["a"]}), "p");
    assert!(checks.is_empty());
    assert_eq!(
        left_to_operator(json!({"required": ["a"]})),
        [
            "values required: values are merged national ← province ← commune: a key a tenant leaves out may come from another layer, so only the operator can tell"
        ]
    );
}

#[test]
fn format_and_other_keywords_are_left_to_the_operator() {
    assert_eq!(
        left_to_operator(json!({"format": "email", "oneOf": [], "uniqueItems": true})),
        [
            "values format: formats are checked by the operator (and `khaibao validate`)",
            "values oneOf: not expressible in the generated CEL policy; checked by the operator",
            "values uniqueItems: not expressible in the generated CEL policy; checked by the operator",
        ]
    );
    assert_eq!(
        left_to_operator(json!("a string is no schema")),
        ["values (schema): not a JSON schema object"]
    );
}

#[test]
fn annotations_are_neither_checked_nor_reported() {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "x", "$comment": "c",
        "$defs": {}, "definitions": {}, "title": "t", "description": "d", "default": 1,
        "examples": [1], "deprecated": false, "readOnly": true, "writeOnly": false,
        "contentMediaType": "text/plain", "contentEncoding": "base64", "x-khaibao-note": "n",
    });
    let (checks, unchecked) = schema_checks(&schema, "p");
    assert!(
        checks.is_empty() && unchecked.is_empty(),
        "{checks:?} {unchecked:?}"
    );
}

#[test]
fn what_cannot_be_checked_is_listed() {
    let (_, unchecked) = schema_checks(&dichvucong().spec.tenant_schema, "dichvucong");
    let got: Vec<(String, String)> = unchecked
        .iter()
        .map(|u| (u.field.clone(), u.keyword.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("values", "required"),
            ("values.branding.logo", "format"),
            ("values.contact.email", "format"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(
        unchecked[0]
            .reason
            .contains("merged national ← province ← commune")
    );
    let schema = json!({"type": "object", "properties": {
        "a": {"type": "string", "pattern": "^(?!admin).*$"},
        "b": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        "c": {"type": "array", "uniqueItems": true, "items": [{"type": "string"}]},
        "d": {"type": "object", "patternProperties": {"^x-": {}}, "additionalProperties": false},
    }});
    let (checks, unchecked) = schema_checks(&schema, "p");
    let got: Vec<String> = unchecked
        .iter()
        .map(|u| format!("{} {}", u.field, u.keyword))
        .collect();
    assert_eq!(
        got,
        [
            "values.a pattern",
            "values.b oneOf",
            "values.c uniqueItems",
            "values.c items",
            "values.d patternProperties"
        ]
    );
    // What is left still gets its type checks; patternProperties disables the unknown-key check.
    assert!(checks.iter().any(|c| {
        c.field == "values.a"
            && c.expression
                .ends_with("type(variables.values[\"a\"]) == string")
    }));
    assert!(
        !checks
            .iter()
            .any(|c| c.field == "values.d" && c.expression.contains(".all("))
    );
}

#[test]
fn re2_refuses_what_cel_cannot_compile() {
    assert!(re2_compatible(
        r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]+)+$"
    ));
    assert!(re2_compatible(r"^\d{3}\s\w+$"));
    assert!(!re2_compatible(r"^(?!x)"));
    assert!(!re2_compatible(r"(?<=a)b"));
    assert!(!re2_compatible(r"(a)\1"));
    assert!(!re2_compatible(r"[unclosed"));
}
