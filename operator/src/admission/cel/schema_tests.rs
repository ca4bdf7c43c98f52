//! Whole schemas translated: the committed `dichvucong` platform, and one schema using every
//! keyword at once, nested.

use serde_json::json;

use super::*;
use crate::admission::fixtures::dichvucong;

fn check<'a>(checks: &'a [Check], field: &str, needle: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.field == field && c.expression.contains(needle))
        .unwrap_or_else(|| panic!("no check of {field} containing {needle:?} in {checks:#?}"))
}

#[test]
fn dichvucong_schema_becomes_guarded_checks() {
    let (checks, _) = schema_checks(&dichvucong().spec.tenant_schema, "dichvucong");
    let v = "variables.values";
    // A nested pattern: only checked when the tenant sets the key, under a map, as a string.
    let color = check(&checks, "values.branding.primaryColor", "matches");
    assert_eq!(
        color.expression,
        format!(
            r#"!(type({v}) == map && "branding" in {v} && type({v}["branding"]) == map && "primaryColor" in {v}["branding"] && type({v}["branding"]["primaryColor"]) == string) || {v}["branding"]["primaryColor"].matches("^#[0-9a-fA-F]{{6}}$")"#
        )
    );
    assert_eq!(
        color.message,
        "values.branding.primaryColor must match the pattern ^#[0-9a-fA-F]{6}$ (platform dichvucong) / values.branding.primaryColor phải khớp mẫu ^#[0-9a-fA-F]{6}$"
    );
    let rate = check(&checks, "values.rateLimitPerMinute", ">= 10.0");
    assert!(
        rate.expression
            .ends_with(r#"double(variables.values["rateLimitPerMinute"]) >= 10.0"#)
    );
    assert!(
        rate.message
            .starts_with("values.rateLimitPerMinute must be at least 10 ")
    );
    check(&checks, "values.rateLimitPerMinute", "<= 10000.0");
    check(&checks, "values.rateLimitPerMinute", "== int ||");
    check(
        &checks,
        "values.branding.title",
        "size(variables.values[\"branding\"][\"title\"]) <= 120",
    );
    check(&checks, "values.onlinePayment", "== bool");
    // Items of a list: every element, under a type guard of the list.
    let svc = check(&checks, "values.services[*]", "matches");
    assert!(svc.expression.contains(r#"variables.values["services"].all(x1, !(type(x1) == string) || x1.matches("^[a-z0-9-]+$"))"#), "{}", svc.expression);
    // additionalProperties: false at the root and in nested objects, naming the keys.
    let root = check(&checks, "values", ".all(k1, k1 in [");
    assert!(
        root.message
            .contains("allows only the keys branding, contact, domain,"),
        "{}",
        root.message
    );
    assert!(
        root.message_expression
            .as_deref()
            .is_some_and(|m| m.contains(".filter(k1, !(k1 in ["))
    );
    check(
        &checks,
        "values.contact",
        "k1 in [\"address\", \"email\", \"hotline\"]",
    );
}

#[test]
fn keywords_map_to_cel() {
    let schema = json!({"type": "object", "properties": {
        "level": {"enum": ["low", "high", 3, null]},
        "mode": {"const": "strict"},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1.5},
        "old": {"type": "integer", "minimum": 1, "exclusiveMinimum": true},
        "tags": {"type": "array", "minItems": 1, "maxItems": 5, "items": {"type": "array", "items": {"enum": ["a"]}}},
        "labels": {"type": "object", "maxProperties": 3, "additionalProperties": {"type": "string", "maxLength": 8}},
        "both": {"allOf": [{"type": "string"}, {"minLength": 2}]},
        "nothing": false,
        "weird key/ \"q\"": {"type": ["string", "null"]},
    }});
    let (checks, unchecked) = schema_checks(&schema, "p");
    assert!(unchecked.is_empty(), "{unchecked:?}");
    let e = |field: &str, needle: &str| check(&checks, field, needle).expression.clone();
    e(
        "values.level",
        r#"variables.values["level"] in ["low", "high", 3, null]"#,
    );
    e("values.mode", r#"variables.values["mode"] == "strict""#);
    e("values.ratio", r#"double(variables.values["ratio"]) > 0.0"#);
    e(
        "values.ratio",
        r#"double(variables.values["ratio"]) <= 1.5"#,
    );
    e("values.old", r#"double(variables.values["old"]) > 1.0"#);
    e("values.tags", r#"size(variables.values["tags"]) >= 1"#);
    e("values.tags", r#"size(variables.values["tags"]) <= 5"#);
    // Nested lists get their own variable.
    let nested = e("values.tags[*][*]", "x2 in [\"a\"]");
    assert!(
        nested.contains(
            r#"variables.values["tags"].all(x1, !(type(x1) == list) || x1.all(x2, x2 in ["a"]))"#
        ),
        "{nested}"
    );
    let labels = e(
        "values.labels.*",
        "size(variables.values[\"labels\"][k1]) <= 8",
    );
    assert!(
        labels.contains(r#"variables.values["labels"].all(k1, k1 in [] || "#),
        "{labels}"
    );
    e("values.labels", r#"size(variables.values["labels"]) <= 3"#);
    e("values.both", r#"type(variables.values["both"]) == string"#);
    e("values.both", r#"size(variables.values["both"]) >= 2"#);
    let nothing = check(&checks, "values.nothing", "false");
    assert!(nothing.message.contains("is not allowed: remove it"));
    // Keys and literals are escaped as CEL strings.
    e(
        r#"values.weird key/ "q""#,
        r#""weird key/ \"q\"" in variables.values"#,
    );
    e(r#"values.weird key/ "q""#, "== null_type");
}

#[test]
fn the_platform_is_named_in_every_message() {
    let (checks, _) = schema_checks(
        &json!({"type": "object", "additionalProperties": false}),
        "van'ban",
    );
    assert!(
        checks
            .iter()
            .all(|c| c.message.contains("(platform van'ban)"))
    );
    assert!(
        checks[1]
            .message_expression
            .as_deref()
            .is_some_and(|m| m.ends_with(r#"' (platform ' + "van'ban" + ')'"#))
    );
}
