use super::*;
use serde_json::json;

fn one(text: &str) -> SourceDocument {
    let mut docs = parse_stream(text, true).expect("parses");
    assert_eq!(docs.len(), 1);
    docs.remove(0)
}

#[test]
fn scalars_resolve_with_the_core_schema() {
    let d = one("a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: 0x10\ng: hello\nh: \"\"\ni: 01\n");
    assert_eq!(
        d.value,
        json!({"a":1,"b":"1","c":true,"d":null,"e":1.5,"f":16,"g":"hello","h":"","i":1})
    );
}

#[test]
fn positions_point_at_values_and_keys() {
    let text = "spec:\n  values:\n    theme:\n      color: red\n  list:\n    - x\n    - y\n";
    let d = one(text);
    assert_eq!(
        d.positions.value("/spec/values/theme/color"),
        Some(Location {
            line: 4,
            column: 14
        })
    );
    assert_eq!(
        d.positions.key("/spec/values/theme/color"),
        Some(Location { line: 4, column: 7 })
    );
    assert_eq!(
        d.positions.value("/spec/list/1"),
        Some(Location { line: 7, column: 7 })
    );
    // A pointer that is absent falls back to its closest ancestor.
    assert_eq!(
        d.positions.value("/spec/values/missing"),
        Some(Location { line: 3, column: 5 })
    );
}

#[test]
fn multi_document_streams_keep_their_indices() {
    let docs = parse_stream("a: 1\n---\n# only a comment\n---\nb: 2\n", true).unwrap();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[1].value, Value::Null);
    assert_eq!(docs[2].value, json!({"b": 2}));
    assert_eq!(docs[2].start.line, 5);
}

#[test]
fn duplicate_keys_are_refused_with_their_line() {
    let err = parse_stream("a: 1\nb: 2\na: 3\n", true).unwrap_err();
    assert_eq!(err.location.line, 3);
    assert!(err.message.contains("duplicate key \"a\""), "{err}");
}

#[test]
fn syntax_errors_carry_a_location() {
    let err = parse_stream("a: [1, 2\nb: 3\n", true).unwrap_err();
    assert!(err.location.line >= 1, "{err}");
    let err = parse_stream("a: b: c\n", true).unwrap_err();
    assert_eq!(err.location.line, 1, "{err}");
}

#[test]
fn aliases_expand_but_not_without_bound() {
    let d = one("base: &b {x: 1}\ncopy: *b\n");
    assert_eq!(d.value["copy"], json!({"x": 1}));
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
            p = i - 1
        ));
    }
    let err = parse_stream(&bomb, true).unwrap_err();
    assert!(err.message.contains("aliases expand"), "{err}");
}

#[test]
fn unknown_tags_and_complex_keys_are_refused() {
    assert!(parse_stream("a: !custom x\n", true).is_err());
    assert!(parse_stream("? [a, b]\n: c\n", true).is_err());
    assert_eq!(one("a: !!str 12\n").value, json!({"a": "12"}));
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    assert!(parse_stream(&deep, false).is_err());
}
