//! What the generated policy says when it refuses a Tenant, in English then Vietnamese, in
//! words a provincial administrator understands; and why a keyword is left to the operator.
//! Wording only: which values pass is decided in `cel.rs`, never here. Every change here
//! changes the generated policy of every platform.

use serde_json::Value;

use super::cel::{Bound, Limit, cel_string};
use crate::diagnostics::Text;

/// Why a schema keyword is not in the policy (shown by `khaibao platform admission`).
pub(super) mod reason {
    pub const REQUIRED: &str = "values are merged national ← province ← commune: a key a tenant leaves out may come from another layer, so only the operator can tell";
    pub const FORMAT: &str = "formats are checked by the operator (and `khaibao validate`)";
    pub const NOT_EXPRESSIBLE: &str =
        "not expressible in the generated CEL policy; checked by the operator";
    pub const NOT_A_SCHEMA: &str = "not a JSON schema object";
    pub const UNKNOWN_TYPE: &str = "unknown type name";
    pub const PATTERN_NOT_RE2: &str =
        "uses regular-expression syntax RE2 (CEL) lacks, such as look-around or back-references";
    pub const TUPLE_ITEMS: &str = "tuple-style items are not supported";
}

/// What a `minItems`/`maxItems` or `minProperties`/`maxProperties` counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Counted {
    Items,
    Keys,
}

/// The message of one check: `values.x must … (platform p) / values.x phải …`.
pub(super) fn check_message(field: &str, text: &Text, platform: &str) -> String {
    format!(
        "{field} {} (platform {platform}) / {field} {}",
        text.en, text.vi
    )
}

/// A `messageExpression` (CEL yielding a string) with the platform named after it, as
/// [`check_message`] names it.
pub(super) fn with_platform_expression(expression: &str, platform: &str) -> String {
    format!(
        "{expression} + ' (platform ' + {} + ')'",
        cel_string(platform)
    )
}

/// A `false` schema: the key must not be set.
pub(super) fn not_allowed() -> Text {
    Text::new("is not allowed: remove it", "không được phép: hãy xoá")
}

/// `type`, one name or several.
pub(super) fn type_is(types: &[&str]) -> Text {
    let en = types
        .iter()
        .map(|t| type_name_en(t))
        .collect::<Vec<_>>()
        .join(" or ");
    let vi = types
        .iter()
        .map(|t| type_name_vi(t))
        .collect::<Vec<_>>()
        .join(" hoặc ");
    Text::new(format!("must be {en}"), format!("phải là {vi}"))
}

fn type_name_en(t: &str) -> String {
    match t {
        "string" => "a string (text in quotes)".into(),
        "boolean" => "true or false".into(),
        "object" => "an object (key: value pairs)".into(),
        "array" => "a list".into(),
        "integer" => "a whole number".into(),
        "number" => "a number".into(),
        other => format!("of type {other}"),
    }
}

fn type_name_vi(t: &str) -> String {
    match t {
        "string" => "một chuỗi (văn bản trong ngoặc kép)".into(),
        "boolean" => "true hoặc false".into(),
        "object" => "một đối tượng (các cặp khoá: giá trị)".into(),
        "array" => "một danh sách".into(),
        "integer" => "một số nguyên".into(),
        "number" => "một số".into(),
        other => format!("kiểu {other}"),
    }
}

/// `enum`.
pub(super) fn one_of(options: &[Value]) -> Text {
    let shown = short_list(options);
    Text::new(
        format!("must be one of {shown}"),
        format!("phải là một trong các giá trị {shown}"),
    )
}

/// `const`.
pub(super) fn equals(value: &Value) -> Text {
    Text::new(format!("must be {value}"), format!("phải bằng {value}"))
}

/// `pattern`.
pub(super) fn matches_pattern(pattern: &str) -> Text {
    Text::new(
        format!("must match the pattern {pattern}"),
        format!("phải khớp mẫu {pattern}"),
    )
}

/// `minLength`, `maxLength`.
pub(super) fn length(limit: Limit, n: u64) -> Text {
    let (en, vi) = limit_words(limit);
    Text::new(
        format!("must be {en} {n} characters long"),
        format!("phải dài {vi} {n} ký tự"),
    )
}

/// `minItems`, `maxItems`, `minProperties`, `maxProperties`.
pub(super) fn count(limit: Limit, n: u64, counted: Counted) -> Text {
    let (en, vi) = limit_words(limit);
    let (what_en, what_vi) = match counted {
        Counted::Items => ("items", "phần tử"),
        Counted::Keys => ("keys", "khoá"),
    };
    Text::new(
        format!("must have {en} {n} {what_en}"),
        format!("phải có {vi} {n} {what_vi}"),
    )
}

fn limit_words(limit: Limit) -> (&'static str, &'static str) {
    match limit {
        Limit::Min => ("at least", "ít nhất"),
        Limit::Max => ("at most", "nhiều nhất"),
    }
}

/// `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`; `shown` is the bound as the
/// schema writes it (`10`, not `10.0`).
pub(super) fn number_bound(bound: Bound, shown: &str) -> Text {
    let (en, vi) = match bound {
        Bound::AtLeast => ("at least", "lớn hơn hoặc bằng"),
        Bound::GreaterThan => ("greater than", "lớn hơn"),
        Bound::AtMost => ("at most", "nhỏ hơn hoặc bằng"),
        Bound::LessThan => ("less than", "nhỏ hơn"),
    };
    Text::new(
        format!("must be {en} {shown}"),
        format!("phải {vi} {shown}"),
    )
}

/// `additionalProperties: false`, given the allowed key names in order.
pub(super) fn only_keys(names: &[&str]) -> Text {
    if names.is_empty() {
        return Text::new("must be empty", "phải để trống");
    }
    let allowed = names.join(", ");
    Text::new(
        format!("allows only the keys {allowed}: remove or rename the others"),
        format!("chỉ cho phép các khoá {allowed}: hãy xoá hoặc đổi tên các khoá khác"),
    )
}

/// The `messageExpression` of `additionalProperties: false`, naming the keys found by
/// `unknown` (a CEL list of strings) and the allowed `names`. English only: the API server
/// shows it instead of the bilingual message, and falls back to that message if it fails.
pub(super) fn unknown_keys_expression(field: &str, unknown: &str, names: &[&str]) -> String {
    format!(
        "{} + ' has unknown key(s) ' + {unknown}.join(', ') + '; allowed: ' + {}",
        cel_string(field),
        cel_string(&names.join(", ")),
    )
}

/// The options of an `enum` as JSON, cut at 200 characters so a long enum keeps the message
/// readable.
fn short_list(options: &[Value]) -> String {
    let s = options
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(197).collect::<String>())
    } else {
        s
    }
}
