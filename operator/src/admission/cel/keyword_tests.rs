//! What each JSON-schema keyword the translation handles becomes: the CEL and the message, on
//! the smallest schema that uses it. The keyword sits at the root, so the only guards are its
//! own (a `pattern` only applies to a string, `minItems` to a list, ...).

use serde_json::{Value, json};

use super::*;

/// The one check of `schema` on platform `p`, which must leave nothing to the operator.
fn only_check(schema: Value) -> Check {
    let (mut checks, unchecked) = schema_checks(&schema, "p");
    assert!(unchecked.is_empty(), "{unchecked:?}");
    assert_eq!(checks.len(), 1, "{checks:#?}");
    checks.remove(0)
}

/// `values <en> (platform p) / values <vi>`, the message of a check of the whole `values`.
fn root_message(en: &str, vi: &str) -> String {
    format!("values {en} (platform p) / values {vi}")
}

#[test]
fn type_each_json_type() {
    let v = "variables.values";
    for (t, cel, en, vi) in [
        (
            "string",
            format!("type({v}) == string"),
            "a string (text in quotes)",
            "một chuỗi (văn bản trong ngoặc kép)",
        ),
        (
            "boolean",
            format!("type({v}) == bool"),
            "true or false",
            "true hoặc false",
        ),
        (
            "object",
            format!("type({v}) == map"),
            "an object (key: value pairs)",
            "một đối tượng (các cặp khoá: giá trị)",
        ),
        (
            "array",
            format!("type({v}) == list"),
            "a list",
            "một danh sách",
        ),
        (
            "null",
            format!("type({v}) == null_type"),
            "of type null",
            "kiểu null",
        ),
        (
            "number",
            format!("type({v}) == int || type({v}) == double"),
            "a number",
            "một số",
        ),
        // 600.0 is an integer to JSON Schema, and may arrive as a CEL double.
        (
            "integer",
            format!("type({v}) == int || (type({v}) == double && double(int({v})) == {v})"),
            "a whole number",
            "một số nguyên",
        ),
    ] {
        let c = only_check(json!({"type": t}));
        assert_eq!(c.field, "values");
        assert_eq!(c.expression, cel, "{t}");
        assert_eq!(
            c.message,
            root_message(&format!("must be {en}"), &format!("phải là {vi}")),
            "{t}"
        );
        assert_eq!(c.message_expression, None);
    }
}

#[test]
fn type_list_accepts_any_of_them() {
    let c = only_check(json!({"type": ["string", "null"]}));
    assert_eq!(
        c.expression,
        "type(variables.values) == string || type(variables.values) == null_type"
    );
    assert_eq!(
        c.message,
        root_message(
            "must be a string (text in quotes) or of type null",
            "phải là một chuỗi (văn bản trong ngoặc kép) hoặc kiểu null"
        )
    );
}

#[test]
fn enum_lists_its_options() {
    let c = only_check(json!({"enum": ["low", 3, 1.5, null, true, ["a"], {"k": 1}]}));
    assert_eq!(
        c.expression,
        r#"variables.values in ["low", 3, 1.5, null, true, ["a"], {"k": 1}]"#
    );
    assert_eq!(
        c.message,
        root_message(
            r#"must be one of "low", 3, 1.5, null, true, ["a"], {"k":1}"#,
            r#"phải là một trong các giá trị "low", 3, 1.5, null, true, ["a"], {"k":1}"#
        )
    );
}

#[test]
fn enum_message_is_cut_at_200_characters() {
    let options: Vec<String> = (0..30).map(|i| format!("option-{i:02}")).collect();
    let c = only_check(json!({"enum": options}));
    // The expression keeps every option; only the message is cut.
    assert!(
        c.expression.ends_with(r#""option-29"]"#),
        "{}",
        c.expression
    );
    let shown = c
        .message
        .strip_prefix("values must be one of ")
        .and_then(|m| m.split(" (platform p)").next())
        .unwrap();
    assert_eq!(shown.chars().count(), 198);
    assert!(shown.ends_with('…'), "{shown}");
}

#[test]
fn const_compares_with_a_literal() {
    let c = only_check(json!({"const": "strict"}));
    assert_eq!(c.expression, r#"variables.values == "strict""#);
    assert_eq!(
        c.message,
        root_message(r#"must be "strict""#, r#"phải bằng "strict""#)
    );
    let c = only_check(json!({"const": {"a": [1, 2.5]}}));
    assert_eq!(c.expression, r#"variables.values == {"a": [1, 2.5]}"#);
}

#[test]
fn pattern_matches_strings_only() {
    let c = only_check(json!({"pattern": "^[a-z]+$"}));
    assert_eq!(
        c.expression,
        r#"!(type(variables.values) == string) || variables.values.matches("^[a-z]+$")"#
    );
    assert_eq!(
        c.message,
        root_message("must match the pattern ^[a-z]+$", "phải khớp mẫu ^[a-z]+$")
    );
    // Quotes and backslashes reach CEL escaped.
    let c = only_check(json!({"pattern": r#"^\d+"x"$"#}));
    assert!(
        c.expression.ends_with(r#".matches("^\\d+\"x\"$")"#),
        "{}",
        c.expression
    );
}

#[test]
fn min_length() {
    let c = only_check(json!({"minLength": 2}));
    assert_eq!(
        c.expression,
        "!(type(variables.values) == string) || size(variables.values) >= 2"
    );
    assert_eq!(
        c.message,
        root_message(
            "must be at least 2 characters long",
            "phải dài ít nhất 2 ký tự"
        )
    );
}

#[test]
fn max_length() {
    let c = only_check(json!({"maxLength": 120}));
    assert_eq!(
        c.expression,
        "!(type(variables.values) == string) || size(variables.values) <= 120"
    );
    assert_eq!(
        c.message,
        root_message(
            "must be at most 120 characters long",
            "phải dài nhiều nhất 120 ký tự"
        )
    );
}

#[test]
fn minimum() {
    let c = only_check(json!({"minimum": 10}));
    assert_eq!(
        c.expression,
        "!((type(variables.values) == int || type(variables.values) == double)) || double(variables.values) >= 10.0"
    );
    // The message shows the bound as written, the expression as a CEL double.
    assert_eq!(
        c.message,
        root_message("must be at least 10", "phải lớn hơn hoặc bằng 10")
    );
}

#[test]
fn maximum() {
    let c = only_check(json!({"maximum": 1.5}));
    assert!(
        c.expression
            .ends_with(" || double(variables.values) <= 1.5"),
        "{}",
        c.expression
    );
    assert_eq!(
        c.message,
        root_message("must be at most 1.5", "phải nhỏ hơn hoặc bằng 1.5")
    );
}

#[test]
fn exclusive_minimum() {
    let c = only_check(json!({"exclusiveMinimum": 0}));
    assert!(
        c.expression.ends_with(" || double(variables.values) > 0.0"),
        "{}",
        c.expression
    );
    assert_eq!(
        c.message,
        root_message("must be greater than 0", "phải lớn hơn 0")
    );
}

#[test]
fn exclusive_maximum() {
    let c = only_check(json!({"exclusiveMaximum": 100}));
    assert!(
        c.expression
            .ends_with(" || double(variables.values) < 100.0"),
        "{}",
        c.expression
    );
    assert_eq!(
        c.message,
        root_message("must be less than 100", "phải nhỏ hơn 100")
    );
}

#[test]
fn exclusive_bounds_in_draft_4_form() {
    let (checks, unchecked) = schema_checks(
        &json!({"minimum": 1, "exclusiveMinimum": true, "maximum": 9, "exclusiveMaximum": true}),
        "p",
    );
    assert!(unchecked.is_empty());
    let got: Vec<(&str, &str)> = checks
        .iter()
        .map(|c| {
            let cond = c.expression.rsplit(" || ").next().unwrap();
            let en = c.message.split(" (platform").next().unwrap();
            (cond, en)
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "double(variables.values) > 1.0",
                "values must be greater than 1"
            ),
            (
                "double(variables.values) < 9.0",
                "values must be less than 9"
            ),
        ]
    );
}

#[test]
fn min_items() {
    let c = only_check(json!({"minItems": 1}));
    assert_eq!(
        c.expression,
        "!(type(variables.values) == list) || size(variables.values) >= 1"
    );
    assert_eq!(
        c.message,
        root_message("must have at least 1 items", "phải có ít nhất 1 phần tử")
    );
}

#[test]
fn max_items() {
    let c = only_check(json!({"maxItems": 5}));
    assert_eq!(
        c.expression,
        "!(type(variables.values) == list) || size(variables.values) <= 5"
    );
    assert_eq!(
        c.message,
        root_message("must have at most 5 items", "phải có nhiều nhất 5 phần tử")
    );
}

#[test]
fn min_properties() {
    let c = only_check(json!({"minProperties": 1}));
    assert_eq!(
        c.expression,
        "!(type(variables.values) == map) || size(variables.values) >= 1"
    );
    assert_eq!(
        c.message,
        root_message("must have at least 1 keys", "phải có ít nhất 1 khoá")
    );
}

#[test]
fn max_properties() {
    let c = only_check(json!({"maxProperties": 3}));
    assert_eq!(
        c.expression,
        "!(type(variables.values) == map) || size(variables.values) <= 3"
    );
    assert_eq!(
        c.message,
        root_message("must have at most 3 keys", "phải có nhiều nhất 3 khoá")
    );
}

#[test]
fn items_checks_every_element() {
    let c = only_check(json!({"items": {"type": "string"}}));
    assert_eq!(c.field, "values[*]");
    assert_eq!(
        c.expression,
        "!(type(variables.values) == list) || variables.values.all(x1, type(x1) == string)"
    );
    assert_eq!(
        c.message,
        "values[*] must be a string (text in quotes) (platform p) / values[*] phải là một chuỗi (văn bản trong ngoặc kép)"
    );
    // `items: false`: the list must be empty.
    let c = only_check(json!({"items": false}));
    assert_eq!(
        c.expression,
        "!(type(variables.values) == list) || variables.values.all(x1, false)"
    );
    assert!(
        c.message
            .starts_with("values[*] is not allowed: remove it ")
    );
}

#[test]
fn properties_are_checked_only_when_set() {
    let c = only_check(json!({"properties": {"title": {"type": "string"}}}));
    assert_eq!(c.field, "values.title");
    assert_eq!(
        c.expression,
        r#"!(type(variables.values) == map && "title" in variables.values) || type(variables.values["title"]) == string"#
    );
    assert!(c.message.starts_with("values.title must be a string "));
}

#[test]
fn nested_objects_carry_every_guard_above() {
    let c = only_check(json!({"properties": {"a": {"properties": {"b": {"minimum": 0}}}}}));
    assert_eq!(c.field, "values.a.b");
    assert_eq!(
        c.expression,
        concat!(
            r#"!(type(variables.values) == map && "a" in variables.values"#,
            r#" && type(variables.values["a"]) == map && "b" in variables.values["a"]"#,
            r#" && (type(variables.values["a"]["b"]) == int || type(variables.values["a"]["b"]) == double))"#,
            r#" || double(variables.values["a"]["b"]) >= 0.0"#
        )
    );
}

#[test]
fn additional_properties_false_names_the_allowed_keys() {
    let c = only_check(json!({"additionalProperties": false, "properties": {"b": {}, "a": {}}}));
    assert_eq!(c.field, "values");
    // serde_json's maps are sorted (no `preserve_order`), so the keys are listed sorted.
    assert_eq!(
        c.expression,
        r#"!(type(variables.values) == map) || variables.values.all(k1, k1 in ["a", "b"])"#
    );
    assert_eq!(
        c.message,
        root_message(
            "allows only the keys a, b: remove or rename the others",
            "chỉ cho phép các khoá a, b: hãy xoá hoặc đổi tên các khoá khác"
        )
    );
    // Where the API server evaluates it, the message names the unknown keys (English only).
    assert_eq!(
        c.message_expression.as_deref(),
        Some(
            r#""values" + ' has unknown key(s) ' + variables.values.filter(k1, !(k1 in ["a", "b"])).join(', ') + '; allowed: ' + "a, b" + ' (platform ' + "p" + ')'"#
        )
    );
}

#[test]
fn additional_properties_false_without_properties_means_empty() {
    let c = only_check(json!({"additionalProperties": false}));
    assert_eq!(
        c.expression,
        "!(type(variables.values) == map) || variables.values.all(k1, k1 in [])"
    );
    assert_eq!(c.message, root_message("must be empty", "phải để trống"));
}

#[test]
fn additional_properties_schema_checks_the_other_keys() {
    let c =
        only_check(json!({"properties": {"a": true}, "additionalProperties": {"type": "string"}}));
    assert_eq!(c.field, "values.*");
    assert_eq!(
        c.expression,
        r#"!(type(variables.values) == map) || variables.values.all(k1, k1 in ["a"] || type(variables.values[k1]) == string)"#
    );
    assert!(c.message.starts_with("values.* must be a string "));
}

#[test]
fn all_of_checks_each_part_in_place() {
    let (checks, unchecked) = schema_checks(
        &json!({"allOf": [{"type": "string"}, {"minLength": 2}]}),
        "p",
    );
    assert!(unchecked.is_empty());
    let got: Vec<&str> = checks.iter().map(|c| c.expression.as_str()).collect();
    assert_eq!(
        got,
        [
            "type(variables.values) == string",
            "!(type(variables.values) == string) || size(variables.values) >= 2",
        ]
    );
}

#[test]
fn boolean_schemas() {
    let c = only_check(json!(false));
    assert_eq!(c.expression, "false");
    assert_eq!(
        c.message,
        root_message("is not allowed: remove it", "không được phép: hãy xoá")
    );
    let (checks, unchecked) = schema_checks(&json!(true), "p");
    assert!(checks.is_empty() && unchecked.is_empty());
}

#[test]
fn no_schema_checks_nothing() {
    let (checks, unchecked) = schema_checks(&Value::Null, "p");
    assert!(checks.is_empty() && unchecked.is_empty());
}
