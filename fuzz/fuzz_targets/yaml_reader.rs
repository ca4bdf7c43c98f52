//! Fuzzes the YAML reader (`khaibao::yaml::parse_stream`) with arbitrary text. Whatever the
//! bytes: it never panics; a refusal carries a place inside the input; an accepted stream gives
//! the same documents with and without position tracking, numbered in order, with a position
//! inside the input for every node (and every key before its value); nesting stays within the
//! reader's bound unless aliases made it; and every value reads back identically from its JSON
//! text (JSON is YAML). Run: cargo +nightly fuzz run yaml_reader -- -runs=1000000 -max_len=4096
#![no_main]

use khaibao::yaml::{Location, SourceDocument, YamlError, parse_stream};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The reader's nesting bound (`MAX_DEPTH` in operator/src/yaml/source.rs): at most this many
/// collections inside one another are read from the text.
const MAX_DEPTH: usize = 256;
/// saphyr-parser counts nested flow collections in a `u8`: the 256th is refused.
const MAX_FLOW_DEPTH: usize = 255;

/// The lines of `text` as the reader counts them (saphyr-parser breaks lines at `\n`, `\r` and
/// `\r\n` only, as YAML 1.2 does), as their lengths in bytes: saphyr-parser counts columns in
/// characters mostly, but in bytes in places (a directive's name), so only bytes bound them.
fn line_lengths(text: &str) -> Vec<usize> {
    let mut lines = vec![0];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(0);
            }
            '\n' => lines.push(0),
            _ => *lines.last_mut().unwrap() += c.len_utf8(),
        }
    }
    lines
}

/// The places a location may name: a character of a line, the end of a line, or the start of
/// the line saphyr-parser opens at the end of a stream whose last line is not empty.
fn check_location(what: &str, loc: Location, lines: &[usize], text: &str) {
    let last = *lines.last().unwrap();
    let max_line = lines.len() + usize::from(last > 0);
    assert!(
        loc.line >= 1 && loc.line <= max_line,
        "{what} at {loc}: line outside the input's {} line(s) in {text:?}",
        lines.len()
    );
    let max_column = lines.get(loc.line - 1).map_or(1, |n| n + 1);
    assert!(
        loc.column >= 1 && loc.column <= max_column,
        "{what} at {loc}: column outside line {} ({} bytes) in {text:?}",
        loc.line,
        max_column - 1
    );
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Collections nested on the deepest path (a scalar is 0), without recursion.
fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(a) => Box::new(a.iter()),
            Value::Object(o) => Box::new(o.values()),
            _ => {
                deepest = deepest.max(d);
                continue;
            }
        };
        deepest = deepest.max(d + 1);
        stack.extend(children.map(|c| (c, d + 1)));
    }
    deepest
}

fn count_nodes(v: &Value) -> usize {
    let mut n = 0;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        n += 1;
        match v {
            Value::Array(a) => stack.extend(a.iter()),
            Value::Object(o) => stack.extend(o.values()),
            _ => {}
        }
    }
    n
}

/// Every node of a document read with positions has one (its own, or, inside a copy made by an
/// alias, the alias's) within the input, at or after the document's start; a key recorded for
/// a node comes before the node.
fn check_positions(doc: &SourceDocument, lines: &[usize], text: &str) {
    if doc.positions.contains("") {
        assert_eq!(doc.positions.value(""), Some(doc.start), "root of {text:?}");
    }
    if doc.value.is_null() && !doc.positions.contains("") {
        // An empty document (comments only, a bare `---`): nothing was read, nothing recorded.
        return;
    }
    let mut stack: Vec<(String, &Value, bool)> = vec![(String::new(), &doc.value, false)];
    while let Some((pointer, v, in_mapping)) = stack.pop() {
        let at = doc
            .positions
            .value(&pointer)
            .unwrap_or_else(|| panic!("no position for {pointer:?} in {text:?}"));
        check_location(&format!("value {pointer:?}"), at, lines, text);
        assert!(
            at >= doc.start,
            "{pointer:?} at {at} before its document's start {} in {text:?}",
            doc.start
        );
        let key = doc
            .positions
            .key(&pointer)
            .unwrap_or_else(|| panic!("no key position for {pointer:?} in {text:?}"));
        check_location(&format!("key {pointer:?}"), key, lines, text);
        if in_mapping && doc.positions.contains(&pointer) {
            assert!(
                key <= at,
                "key of {pointer:?} at {key} after its value at {at} in {text:?}"
            );
        }
        match v {
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    stack.push((format!("{pointer}/{i}"), x, false));
                }
            }
            Value::Object(map) => {
                for (k, x) in map {
                    stack.push((format!("{pointer}/{}", escape(k)), x, true));
                }
            }
            _ => {}
        }
    }
}

fn check_error(e: &YamlError, lines: &[usize], text: &str) {
    check_location(&format!("error {:?}", e.message), e.location, lines, text);
    assert!(
        !e.message.is_empty(),
        "an error without a message for {text:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = line_lengths(&text);
    let tracked = parse_stream(&text, true);
    let untracked = parse_stream(&text, false);
    let docs = match (tracked, untracked) {
        (Err(e), Err(u)) => {
            assert_eq!(e, u, "refusal depends on position tracking for {text:?}");
            check_error(&e, &lines, &text);
            return;
        }
        (Ok(docs), Ok(u)) => {
            assert_eq!(docs.len(), u.len(), "{text:?}");
            for (d, u) in docs.iter().zip(&u) {
                assert_eq!(
                    d.value, u.value,
                    "value depends on position tracking for {text:?}"
                );
                assert_eq!(d.start, u.start, "{text:?}");
                assert_eq!(d.index, u.index, "{text:?}");
            }
            docs
        }
        (t, u) => panic!("position tracking changes the outcome for {text:?}: {t:?} vs {u:?}"),
    };
    let mut nodes = 0;
    for (i, doc) in docs.iter().enumerate() {
        assert_eq!(doc.index, i, "{text:?}");
        check_location("document start", doc.start, &lines, &text);
        if i > 0 {
            assert!(
                doc.start >= docs[i - 1].start,
                "documents out of order in {text:?}"
            );
        }
        check_positions(doc, &lines, &text);
        nodes += count_nodes(&doc.value);
        let d = depth(&doc.value);
        // Nesting written in the text is refused beyond MAX_DEPTH; a copy made by an alias is
        // not counted against it, so only a stream with aliases may hold a deeper value. (An
        // open finding, not asserted here: chained anchors reach about 21,000 levels in 45 KB,
        // and such a file overflows the stack of `khaibao validate`.)
        assert!(
            d <= MAX_DEPTH || text.contains('*'),
            "depth {d} without an alias in {text:?}"
        );
        // JSON is YAML: the value's JSON text reads back as the same single document, up to
        // saphyr-parser's limit of 255 nested flow collections (JSON is all flow); deeper, it
        // is refused for its nesting.
        let json = serde_json::to_string(&doc.value).expect("a Value serializes");
        match parse_stream(&json, false) {
            Ok(back) => {
                assert!(d <= MAX_FLOW_DEPTH, "JSON of depth {d} accepted: {json}");
                assert_eq!(back.len(), 1, "JSON {json} of {text:?}");
                assert_eq!(back[0].value, doc.value, "JSON {json} of {text:?}");
            }
            Err(e) => assert!(
                d > MAX_FLOW_DEPTH
                    && (e.message.contains("recursion limit exceeded")
                        || e.message.contains("nesting deeper")),
                "JSON {json} of {text:?} refused: {e}"
            ),
        }
    }
    // Aliases expand to at most 1,000,000 nodes per stream; the rest was written in the text,
    // at most a few nodes per character (an empty value takes none, its key one).
    assert!(
        nodes <= 1_000_000 + 2 * text.len() + 2,
        "{nodes} nodes from {} bytes",
        text.len()
    );
});
