//! A YAML 1.2 reader that builds `serde_json::Value`s and remembers where each node came from.
//!
//! It is driven by `saphyr-parser`'s event stream (a maintained YAML 1.2 parser that gives spans)
//! rather than a serde deserializer because diagnostics need a position for *any* JSON pointer
//! into the document, not only for the first type error. It refuses duplicate keys, complex keys
//! and unknown tags, and bounds alias expansion so a "billion laughs" file cannot exhaust memory.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

/// A 1-based line and column in a source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    fn from_span(span: &Span) -> Self {
        Location {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A syntax error with the place it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct YamlError {
    pub location: Location,
    pub message: String,
}

/// Where each node of one document sits, keyed by JSON pointer (`/spec/values/theme`).
#[derive(Debug, Clone, Default)]
pub struct Positions {
    values: HashMap<String, Location>,
    keys: HashMap<String, Location>,
}

impl Positions {
    /// The location of the value at `pointer`, or of its closest ancestor that has one.
    pub fn value(&self, pointer: &str) -> Option<Location> {
        let mut p = pointer;
        loop {
            if let Some(l) = self.values.get(p) {
                return Some(*l);
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }

    /// The location of the key that introduces `pointer` (falls back to the value's).
    pub fn key(&self, pointer: &str) -> Option<Location> {
        self.keys
            .get(pointer)
            .copied()
            .or_else(|| self.value(pointer))
    }

    /// True when the exact pointer was present in the source document.
    pub fn contains(&self, pointer: &str) -> bool {
        self.values.contains_key(pointer)
    }
}

/// One document of a stream.
#[derive(Debug, Clone)]
pub struct SourceDocument {
    pub value: Value,
    pub positions: Positions,
    /// Where the document starts (its first node).
    pub start: Location,
    /// Index of the document within its stream, from 0.
    pub index: usize,
}

/// Upper bound on nodes produced by alias expansion in one stream.
const ALIAS_EXPANSION_LIMIT: usize = 1_000_000;
/// Upper bound on nesting; deeper documents are refused rather than risking the stack later.
const MAX_DEPTH: usize = 256;

/// Parses a multi-document YAML stream. Empty documents (only comments, or a bare `---`) are
/// returned as `Value::Null` so callers can skip them while keeping document indices stable.
/// With `track_positions` false no position tables are built (used for rendered output).
pub fn parse_stream(text: &str, track_positions: bool) -> Result<Vec<SourceDocument>, YamlError> {
    let mut builder = Builder {
        track: track_positions,
        ..Builder::default()
    };
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| YamlError {
            location: Location {
                line: e.marker().line(),
                column: e.marker().col() + 1,
            },
            message: e.info().to_string(),
        })?;
        builder.event(event, span)?;
    }
    Ok(builder.documents)
}

enum Frame {
    Mapping {
        map: Map<String, Value>,
        pointer: String,
        /// The key waiting for its value, with its location.
        key: Option<(String, Location)>,
        anchor: usize,
    },
    Sequence {
        items: Vec<Value>,
        pointer: String,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    track: bool,
    documents: Vec<SourceDocument>,
    stack: Vec<Frame>,
    positions: Positions,
    anchors: HashMap<usize, Value>,
    doc_start: Location,
    root: Option<Value>,
    expanded: usize,
}

fn escape_pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlError> {
        let here = Location::from_span(&span);
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            Event::DocumentStart(_) => {
                self.positions = Positions::default();
                self.anchors.clear();
                self.root = None;
                self.doc_start = here;
            }
            Event::DocumentEnd => {
                let value = self.root.take().unwrap_or(Value::Null);
                let index = self.documents.len();
                self.documents.push(SourceDocument {
                    value,
                    positions: std::mem::take(&mut self.positions),
                    start: self.doc_start,
                    index,
                });
            }
            Event::Scalar(text, style, anchor, tag) => {
                if self.expecting_key() {
                    let key = scalar_key(&text, style, tag.as_deref(), here)?;
                    if let Some(Frame::Mapping { map, key: slot, .. }) = self.stack.last_mut() {
                        if map.contains_key(&key) {
                            return Err(YamlError {
                                location: here,
                                message: format!("duplicate key \"{key}\" in the same mapping"),
                            });
                        }
                        *slot = Some((key, here));
                    }
                    return Ok(());
                }
                let value = resolve_scalar(&text, style, tag.as_deref(), here)?;
                if anchor > 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.push_value(value, here);
            }
            Event::Alias(id) => {
                if self.expecting_key() {
                    return Err(YamlError {
                        location: here,
                        message: "an alias cannot be used as a mapping key".into(),
                    });
                }
                let value = self.anchors.get(&id).cloned().ok_or(YamlError {
                    location: here,
                    message: "alias refers to an unknown anchor".into(),
                })?;
                self.expanded += count_nodes(&value);
                if self.expanded > ALIAS_EXPANSION_LIMIT {
                    return Err(YamlError {
                        location: here,
                        message: format!(
                            "aliases expand to more than {ALIAS_EXPANSION_LIMIT} nodes; refusing to continue"
                        ),
                    });
                }
                self.push_value(value, here);
            }
            Event::MappingStart(anchor, tag) | Event::SequenceStart(anchor, tag)
                if tag.as_deref().is_some_and(|t| !is_collection_tag(t)) =>
            {
                let _ = anchor;
                let t = tag.map(|t| t.to_string()).unwrap_or_default();
                return Err(YamlError {
                    location: here,
                    message: format!("unsupported YAML tag {t} on a collection"),
                });
            }
            Event::MappingStart(anchor, _) => {
                let pointer = self.open_child(here)?;
                self.stack.push(Frame::Mapping {
                    map: Map::new(),
                    pointer,
                    key: None,
                    anchor,
                });
            }
            Event::SequenceStart(anchor, _) => {
                let pointer = self.open_child(here)?;
                self.stack.push(Frame::Sequence {
                    items: Vec::new(),
                    pointer,
                    anchor,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Mapping { map, anchor, .. }) => (Value::Object(map), anchor),
                    Some(Frame::Sequence { items, anchor, .. }) => (Value::Array(items), anchor),
                    None => return Ok(()),
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.attach(value);
            }
        }
        Ok(())
    }

    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Mapping { key: None, .. }))
    }

    /// Computes the pointer of a node about to be opened and records its location.
    fn open_child(&mut self, here: Location) -> Result<String, YamlError> {
        if self.expecting_key() {
            return Err(YamlError {
                location: here,
                message: "complex mapping keys (a mapping or list used as a key) are not supported"
                    .into(),
            });
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError {
                location: here,
                message: format!("nesting deeper than {MAX_DEPTH} levels"),
            });
        }
        let pointer = self.child_pointer();
        self.record(&pointer, here);
        Ok(pointer)
    }

    fn child_pointer(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Mapping { pointer, key, .. }) => {
                let k = key.as_ref().map(|(k, _)| k.as_str()).unwrap_or_default();
                format!("{pointer}/{}", escape_pointer_token(k))
            }
            Some(Frame::Sequence { pointer, items, .. }) => format!("{pointer}/{}", items.len()),
        }
    }

    fn record(&mut self, pointer: &str, here: Location) {
        if pointer.is_empty() {
            self.doc_start = here;
        }
        if !self.track {
            return;
        }
        if let Some(Frame::Mapping {
            key: Some((_, kl)), ..
        }) = self.stack.last()
        {
            self.positions.keys.insert(pointer.to_string(), *kl);
        }
        self.positions.values.insert(pointer.to_string(), here);
    }

    fn push_value(&mut self, value: Value, here: Location) {
        if self.track || self.stack.is_empty() {
            let pointer = self.child_pointer();
            self.record(&pointer, here);
        }
        self.attach(value);
    }

    fn attach(&mut self, value: Value) {
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Sequence { items, .. }) => items.push(value),
            Some(Frame::Mapping { map, key, .. }) => {
                if let Some((k, _)) = key.take() {
                    map.insert(k, value);
                }
            }
        }
    }
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count_nodes).sum::<usize>(),
        Value::Object(o) => 1 + o.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

fn is_collection_tag(tag: &Tag) -> bool {
    tag.is_yaml_core_schema() && matches!(tag.suffix.as_str(), "map" | "seq")
}

fn scalar_key(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    here: Location,
) -> Result<String, YamlError> {
    Ok(match resolve_scalar(text, style, tag, here)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// Resolves a scalar with the YAML 1.2 core schema, as Kubernetes' own YAML decoding does for
/// the common cases (`true`, `3`, `0x1F`, `1.5`, `null`, `~`).
fn resolve_scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    here: Location,
) -> Result<Value, YamlError> {
    if let Some(tag) = tag {
        let bad = || YamlError {
            location: here,
            message: format!("value {text:?} does not fit its tag {tag}"),
        };
        if !tag.is_yaml_core_schema() {
            // A local `!` tag on a quoted/plain scalar is the "non-specific" tag: a string.
            if tag.handle == "!" && tag.suffix.is_empty() {
                return Ok(Value::String(text.to_string()));
            }
            return Err(YamlError {
                location: here,
                message: format!("unsupported YAML tag {tag}; remove it"),
            });
        }
        return match tag.suffix.as_str() {
            "str" => Ok(Value::String(text.to_string())),
            "null" => Ok(Value::Null),
            "bool" => plain_bool(text).map(Value::Bool).ok_or_else(bad),
            "int" => plain_int(text).ok_or_else(bad),
            "float" => plain_float(text)
                .or_else(|| plain_int(text))
                .ok_or_else(bad),
            _ => Err(YamlError {
                location: here,
                message: format!("unsupported YAML tag {tag}; remove it"),
            }),
        };
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_string()));
    }
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Ok(Value::Null);
    }
    if let Some(b) = plain_bool(text) {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = plain_int(text).or_else(|| plain_float(text)) {
        return Ok(n);
    }
    Ok(Value::String(text.to_string()))
}

fn plain_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn plain_int(text: &str) -> Option<Value> {
    let (neg, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let parsed = if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i128::from_str_radix(oct, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<i128>().ok()?
    } else {
        return None;
    };
    let n = if neg { -parsed } else { parsed };
    if let Ok(i) = i64::try_from(n) {
        Some(Value::Number(i.into()))
    } else {
        u64::try_from(n).ok().map(|u| Value::Number(u.into()))
    }
}

fn plain_float(text: &str) -> Option<Value> {
    let body = text.trim_start_matches(['-', '+']);
    let looks_numeric = body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && body.bytes().any(|b| b.is_ascii_digit());
    if !looks_numeric {
        return None;
    }
    let f: f64 = text.parse().ok()?;
    Number::from_f64(f).map(Value::Number)
}

#[cfg(test)]
#[path = "source_tests.rs"]
mod tests;
