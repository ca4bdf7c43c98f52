//! Writes JSON values as YAML documents for the CLI's output. Quoting is left to serde-saphyr's
//! serializer so strings such as "yes", "01" or "a: b" stay strings when read back.

use serde_json::Value;

/// One value as a YAML document (without the leading `---`).
pub fn to_yaml_document(value: &Value) -> String {
    // Serializing a serde_json::Value cannot fail: it has no non-string keys or foreign types.
    serde_saphyr::to_string(value).unwrap_or_else(|e| format!("# cannot serialize: {e}\n"))
}

/// Several values as a stream, each document introduced by `---`.
pub fn to_yaml_stream<'a>(values: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::new();
    for v in values {
        out.push_str("---\n");
        out.push_str(&to_yaml_document(v));
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_stream;
    use serde_json::json;

    #[test]
    fn tricky_strings_round_trip() {
        let v = json!({
            "a": "yes", "b": "01", "c": "x: y", "d": "line1\nline2\n", "e": "---", "f": "{{x}}",
            "g": "# not a comment", "h": "'quoted'", "i": "\"dq\"", "j": "", "k": "null", "l": "tab\there",
            "m": "Thành phố Hà Nội", "n": [1, "2", true, null], "o": "\u{2028}\u{85}"
        });
        let text = to_yaml_stream([&v]);
        let back = parse_stream(&text, false).unwrap();
        assert_eq!(back[0].value, v, "{text}");
    }
}
