//! How a value enters a rendered document: always as one double-quoted scalar, so no value can
//! end a line, open a mapping or start a document. Escapes every character YAML parsers might
//! treat as a line break or that is not printable; the result is valid JSON and YAML at once.

use serde_json::Value;

/// `s` as a double-quoted YAML/JSON scalar.
pub fn quote_scalar(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20
                || (0x7f..=0x9f).contains(&(c as u32))
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
                || (0xd800..=0xdfff).contains(&(c as u32)) =>
            {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON value in flow style (valid YAML), every string quoted with [`quote_scalar`].
pub fn flow_json(v: &Value) -> String {
    match v {
        Value::String(s) => quote_scalar(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(flow_json).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(m) => {
            let inner: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", quote_scalar(k), flow_json(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_stream;
    use serde_json::json;

    #[test]
    fn quoted_values_read_back_as_the_same_string() {
        for s in [
            "plain",
            "a: b",
            "line\n---\nkind: Secret",
            "{{x}}",
            "# c",
            "'\"",
            "\\",
            "\u{85}\u{2028}x",
            "tab\t",
            "\u{0}\u{1f}\u{7f}",
            "emoji 🇻🇳",
            "&anchor *alias !tag",
            "",
        ] {
            let doc = format!("k: {}\n", quote_scalar(s));
            let parsed = parse_stream(&doc, false).unwrap();
            assert_eq!(parsed.len(), 1, "{doc}");
            assert_eq!(parsed[0].value, json!({"k": s}), "{doc}");
            let as_json: Value = serde_json::from_str(&quote_scalar(s)).unwrap();
            assert_eq!(as_json, json!(s));
        }
    }

    #[test]
    fn flow_json_is_yaml() {
        let v = json!({"a": ["x\n- y", 1, true, null], "b: c": {"d": "---"}});
        let doc = format!("k: {}\n", flow_json(&v));
        assert_eq!(parse_stream(&doc, false).unwrap()[0].value, json!({"k": v}));
    }
}
