//! JSON values written as CEL literals, for the constants a check compares against (enum
//! options, `const`, patterns, key names, bounds). Every string that reaches the generated CEL
//! goes through [`cel_string`]; never paste a schema's text into an expression unquoted.

use serde_json::Value;

/// A CEL string literal. JSON's escapes (`\"`, `\\`, `\n`, `\uXXXX`, ...) are all valid CEL.
pub(in crate::admission) fn cel_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// A CEL double literal: always with a `.` or an exponent, so CEL does not read it as an int.
pub(super) fn cel_double(f: f64) -> String {
    let s = format!("{f:?}");
    if s.contains(['.', 'e', 'E']) || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

/// A JSON value as a CEL literal (lists and maps included).
pub(super) fn cel_literal(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => cel_double(f),
            _ => n.to_string(),
        },
        Value::String(s) => cel_string(s),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(cel_literal).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", cel_string(k), cel_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strings_are_quoted_and_escaped() {
        assert_eq!(cel_string("plain"), r#""plain""#);
        assert_eq!(cel_string("a \"q\" \\ \n ắ"), r#""a \"q\" \\ \n ắ""#);
    }

    #[test]
    fn doubles_always_read_as_doubles() {
        assert_eq!(cel_double(10.0), "10.0");
        assert_eq!(cel_double(1.5), "1.5");
        assert_eq!(cel_double(-0.0), "-0.0");
        assert_eq!(cel_double(1e300), "1e300");
        assert_eq!(cel_double(1e21), "1e21");
    }

    #[test]
    fn json_values_become_cel_literals() {
        assert_eq!(cel_literal(&json!(null)), "null");
        assert_eq!(cel_literal(&json!(true)), "true");
        assert_eq!(cel_literal(&json!(3)), "3");
        assert_eq!(cel_literal(&json!(-3)), "-3");
        assert_eq!(cel_literal(&json!(2.5)), "2.5");
        // Above i64: written as a double (CEL ints are 64-bit).
        assert_eq!(cel_literal(&json!(u64::MAX)), "1.8446744073709552e19");
        assert_eq!(cel_literal(&json!("x")), r#""x""#);
        assert_eq!(
            cel_literal(&json!({"a": [1, 2.0, "b"], "c": {}})),
            r#"{"a": [1, 2.0, "b"], "c": {}}"#
        );
    }
}
