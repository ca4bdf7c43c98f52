//! Merging the values of several predecessors into one successor, leaf by leaf, and listing
//! every leaf where they differ. A leaf is a scalar or a whole array (merging lists element by
//! element would invent values nobody wrote); objects are walked.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One predecessor's values, in the order the merge rule ranks them (winner first).
pub struct Contribution<'a> {
    /// `namespace/name` of the predecessor (or of its TenantSet).
    pub from: &'a str,
    /// Index of the predecessor in the plan's input, for locating a leaf in its file.
    pub source: usize,
    /// JSON pointer prefix of the values inside that source document (`/spec/values`).
    pub base: &'a str,
    pub values: &'a Value,
}

/// A value at a leaf and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Sourced {
    pub value: Value,
    pub from: String,
    pub source: usize,
    /// JSON pointer of the leaf in the source document.
    pub pointer: String,
}

/// A leaf where predecessors differ: what was kept, what was not.
#[derive(Clone, Debug, PartialEq)]
pub struct LeafConflict {
    /// JSON pointer inside the values (`/contact/hotline`).
    pub path: String,
    pub kept: Sourced,
    pub dropped: Vec<Sourced>,
}

/// Leaves of `v` as (pointer, value): scalars and arrays; an empty object is a leaf too, so
/// `{a: {}}` is not lost.
pub fn leaves(v: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    walk(v, String::new(), &mut out);
    out
}

fn walk<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                walk(x, format!("{at}/{}", escape(k)), out);
            }
        }
        // No values at all is not a value.
        Value::Null if at.is_empty() => {}
        Value::Object(_) if at.is_empty() => {}
        _ => out.push((at, v)),
    }
}

/// JSON pointer token escaping (RFC 6901).
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Merges contributions: the first to set a leaf keeps it; a later different value at the same
/// leaf (or one that would need a leaf to be an object and a scalar at once) is a conflict.
pub fn merge(contributions: &[Contribution<'_>]) -> (Value, Vec<LeafConflict>) {
    // Leaves kept so far, by path; a BTreeMap keeps paths sorted so prefix checks are cheap.
    let mut kept: BTreeMap<String, Sourced> = BTreeMap::new();
    let mut conflicts: BTreeMap<String, LeafConflict> = BTreeMap::new();
    for c in contributions {
        for (path, value) in leaves(c.values) {
            let here = Sourced {
                value: value.clone(),
                from: c.from.to_string(),
                source: c.source,
                pointer: format!("{}{path}", c.base),
            };
            if let Some(k) = kept.get(&path) {
                if k.value != *value {
                    conflicts
                        .entry(path.clone())
                        .or_insert_with(|| LeafConflict {
                            path: path.clone(),
                            kept: k.clone(),
                            dropped: Vec::new(),
                        })
                        .dropped
                        .push(here);
                }
                continue;
            }
            // A kept leaf above this one (`/a` kept as a scalar, `/a/b` arrives) or below it.
            if let Some(blocker) = blocking_leaf(&kept, &path) {
                let k = kept[&blocker].clone();
                conflicts
                    .entry(path.clone())
                    .or_insert_with(|| LeafConflict {
                        path: path.clone(),
                        kept: k,
                        dropped: Vec::new(),
                    })
                    .dropped
                    .push(here);
                continue;
            }
            kept.insert(path, here);
        }
    }
    let mut out = Value::Object(Map::new());
    for (path, s) in &kept {
        set_pointer(&mut out, path, s.value.clone());
    }
    (out, conflicts.into_values().collect())
}

fn blocking_leaf(kept: &BTreeMap<String, Sourced>, path: &str) -> Option<String> {
    // An ancestor of `path` kept as a leaf.
    let mut at = path;
    while let Some(i) = at.rfind('/') {
        at = &at[..i];
        if kept.contains_key(at) {
            return Some(at.to_string());
        }
    }
    // A descendant kept: `path` would replace a whole subtree.
    let prefix = format!("{path}/");
    kept.range(prefix.clone()..)
        .next()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
}

/// Sets `value` at `pointer`, creating objects on the way (replacing a non-object in the way).
pub fn set_pointer(root: &mut Value, pointer: &str, value: Value) {
    if pointer.is_empty() {
        *root = value;
        return;
    }
    let mut at = root;
    let tokens: Vec<String> = pointer[1..].split('/').map(unescape).collect();
    for (i, t) in tokens.iter().enumerate() {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        let Value::Object(m) = at else { return };
        if i + 1 == tokens.len() {
            m.insert(t.clone(), value);
            return;
        }
        at = m
            .entry(t.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c<'a>(from: &'a str, v: &'a Value) -> Contribution<'a> {
        Contribution {
            from,
            source: 0,
            base: "/spec/values",
            values: v,
        }
    }

    #[test]
    fn the_first_contribution_wins_and_others_are_listed() {
        let a = json!({"contact": {"hotline": "1", "email": "a@x"}, "services": ["s1"]});
        let b = json!({"contact": {"hotline": "2", "address": "B"}, "services": ["s1"]});
        let (merged, conflicts) = merge(&[c("tinh-08/tuyen-quang", &a), c("tinh-02/ha-giang", &b)]);
        assert_eq!(
            merged,
            json!({"contact": {"hotline": "1", "email": "a@x", "address": "B"}, "services": ["s1"]})
        );
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].path, "/contact/hotline");
        assert_eq!(conflicts[0].kept.from, "tinh-08/tuyen-quang");
        assert_eq!(conflicts[0].dropped[0].value, json!("2"));
        assert_eq!(
            conflicts[0].dropped[0].pointer,
            "/spec/values/contact/hotline"
        );
    }

    #[test]
    fn a_scalar_against_an_object_is_a_conflict_not_a_loss() {
        let a = json!({"branding": "plain"});
        let b = json!({"branding": {"title": "T"}});
        let (merged, conflicts) = merge(&[c("a", &a), c("b", &b)]);
        assert_eq!(merged, json!({"branding": "plain"}));
        assert_eq!(conflicts[0].path, "/branding/title");
        let (merged, conflicts) = merge(&[c("b", &b), c("a", &a)]);
        assert_eq!(merged, json!({"branding": {"title": "T"}}));
        assert_eq!(conflicts[0].path, "/branding");
    }

    #[test]
    fn keys_with_slashes_round_trip() {
        let a = json!({"a/b": {"~c": 1}, "e": {}});
        let (merged, _) = merge(&[c("a", &a)]);
        assert_eq!(merged, a);
    }
}
