//! The JSON-schema → CEL translation: each keyword of a tenant schema becomes a CEL condition
//! over `variables.values`, guarded so that it only fires on a key the Tenant itself sets and
//! on a value of the type the keyword is about.
//!
//! Pure, and never stricter than the operator: a keyword it cannot express exactly is left out
//! and listed as [`Unchecked`], never approximated. The words of each check are in `messages.rs`.

#[cfg(test)]
mod keyword_tests;
mod literal;
#[cfg(test)]
mod schema_tests;
#[cfg(test)]
mod unchecked_tests;

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::messages::{self, Counted, reason};
use crate::diagnostics::Text;
pub(super) use literal::cel_string;
use literal::{cel_double, cel_literal};

/// One CEL validation of the policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// Where in the tenant the value is, e.g. `values.branding.primaryColor`, `values.services[*]`.
    pub field: String,
    pub expression: String,
    /// English, then Vietnamese.
    pub message: String,
    /// Names the offending keys (for unknown keys only); the API server falls back to `message`.
    pub message_expression: Option<String>,
}

/// A schema keyword the policy does not check (the operator still does).
#[derive(Clone, Debug, PartialEq)]
pub struct Unchecked {
    pub field: String,
    pub keyword: String,
    pub reason: &'static str,
}

/// The CEL checks of a tenant schema, over `variables.values`, and the keywords left out.
pub fn schema_checks(schema: &Value, platform: &str) -> (Vec<Check>, Vec<Unchecked>) {
    let mut walker = Walker::default();
    // No schema accepts any values, as the operator's check does.
    let rules = match schema {
        Value::Null => Vec::new(),
        schema => walker.walk(schema, "variables.values", "values", &[]),
    };
    let checks = rules
        .into_iter()
        .map(|r| Check {
            expression: r.expression(),
            message: messages::check_message(&r.field, &r.text, platform),
            message_expression: r
                .message_expression
                .map(|m| messages::with_platform_expression(&m, platform)),
            field: r.field,
        })
        .collect();
    (checks, walker.unchecked)
}

/// The lower or upper end of a `minLength`/`maxLength`, `minItems`/`maxItems` or
/// `minProperties`/`maxProperties` range, both ends included.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Limit {
    Min,
    Max,
}

impl Limit {
    fn operator(self) -> &'static str {
        match self {
            Limit::Min => ">=",
            Limit::Max => "<=",
        }
    }
}

/// A bound of `minimum`, `maximum`, `exclusiveMinimum` or `exclusiveMaximum`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Bound {
    AtLeast,
    GreaterThan,
    AtMost,
    LessThan,
}

impl Bound {
    fn operator(self) -> &'static str {
        match self {
            Bound::AtLeast => ">=",
            Bound::GreaterThan => ">",
            Bound::AtMost => "<=",
            Bound::LessThan => "<",
        }
    }
}

/// One condition under guards: `!(guards) || cond`.
struct Rule {
    guards: Vec<String>,
    cond: String,
    field: String,
    text: Text,
    message_expression: Option<String>,
}

impl Rule {
    fn expression(&self) -> String {
        if self.guards.is_empty() {
            self.cond.clone()
        } else {
            format!("!({}) || {}", self.guards.join(" && "), self.cond)
        }
    }
}

/// Keywords that only annotate a schema; nothing to check.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "$defs",
    "definitions",
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "contentMediaType",
    "contentEncoding",
];

/// Keywords handled below (with the keyword they depend on).
const HANDLED: &[&str] = &[
    "type",
    "enum",
    "const",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "items",
    "minProperties",
    "maxProperties",
    "properties",
    "additionalProperties",
    "allOf",
];

#[derive(Default)]
struct Walker {
    unchecked: Vec<Unchecked>,
    /// How many `items`/`additionalProperties` levels deep the walk is, naming the bound
    /// variables of nested `.all(...)` macros (`x1`, `x2`, `k1`, ...) apart.
    depth: usize,
}

impl Walker {
    fn skip(&mut self, field: &str, keyword: &str, reason: &'static str) {
        self.unchecked.push(Unchecked {
            field: field.to_string(),
            keyword: keyword.to_string(),
            reason,
        });
    }

    /// Rules for the value at `access` (a CEL expression), shown to users as `field`, each to
    /// hold when `guards` hold.
    fn walk(&mut self, schema: &Value, access: &str, field: &str, guards: &[String]) -> Vec<Rule> {
        let mut rules = Vec::new();
        let rule = |extra: &[String], cond: String, text: Text| {
            let mut g = guards.to_vec();
            g.extend(extra.iter().cloned());
            Rule {
                guards: g,
                cond,
                field: field.to_string(),
                text,
                message_expression: None,
            }
        };
        let s = match schema {
            Value::Bool(true) => return rules,
            Value::Bool(false) => {
                rules.push(rule(&[], "false".into(), messages::not_allowed()));
                return rules;
            }
            Value::Object(s) => s,
            _ => {
                self.skip(field, "(schema)", reason::NOT_A_SCHEMA);
                return rules;
            }
        };
        for key in s.keys() {
            if ANNOTATIONS.contains(&key.as_str())
                || HANDLED.contains(&key.as_str())
                || key.starts_with("x-")
            {
                continue;
            }
            let reason = match key.as_str() {
                "required" => reason::REQUIRED,
                "format" => reason::FORMAT,
                _ => reason::NOT_EXPRESSIBLE,
            };
            self.skip(field, key, reason);
        }

        let is_string = format!("type({access}) == string");
        let is_number = format!("(type({access}) == int || type({access}) == double)");
        let is_list = format!("type({access}) == list");
        let is_map = format!("type({access}) == map");

        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let conds: Option<Vec<String>> =
                types.iter().map(|t| type_condition(t, access)).collect();
            match conds {
                Some(conds) if !conds.is_empty() => {
                    rules.push(rule(&[], conds.join(" || "), messages::type_is(&types)));
                }
                _ => self.skip(field, "type", reason::UNKNOWN_TYPE),
            }
        }
        if let Some(Value::Array(options)) = s.get("enum") {
            let list = options.iter().map(cel_literal).collect::<Vec<_>>();
            rules.push(rule(
                &[],
                format!("{access} in [{}]", list.join(", ")),
                messages::one_of(options),
            ));
        }
        if let Some(c) = s.get("const") {
            rules.push(rule(
                &[],
                format!("{access} == {}", cel_literal(c)),
                messages::equals(c),
            ));
        }
        if let Some(Value::String(p)) = s.get("pattern") {
            if re2_compatible(p) {
                rules.push(rule(
                    std::slice::from_ref(&is_string),
                    format!("{access}.matches({})", cel_string(p)),
                    messages::matches_pattern(p),
                ));
            } else {
                self.skip(field, "pattern", reason::PATTERN_NOT_RE2);
            }
        }
        for (kw, limit) in [("minLength", Limit::Min), ("maxLength", Limit::Max)] {
            if let Some(n) = s.get(kw).and_then(Value::as_u64) {
                rules.push(rule(
                    std::slice::from_ref(&is_string),
                    format!("size({access}) {} {n}", limit.operator()),
                    messages::length(limit, n),
                ));
            }
        }
        for (kw, bound) in number_bounds(s) {
            let Some(n) = s.get(kw).and_then(Value::as_f64) else {
                continue;
            };
            rules.push(rule(
                std::slice::from_ref(&is_number),
                format!("double({access}) {} {}", bound.operator(), cel_double(n)),
                messages::number_bound(bound, &s[kw].to_string()),
            ));
        }
        for (kw, limit, guard, counted) in [
            ("minItems", Limit::Min, &is_list, Counted::Items),
            ("maxItems", Limit::Max, &is_list, Counted::Items),
            ("minProperties", Limit::Min, &is_map, Counted::Keys),
            ("maxProperties", Limit::Max, &is_map, Counted::Keys),
        ] {
            if let Some(n) = s.get(kw).and_then(Value::as_u64) {
                rules.push(rule(
                    std::slice::from_ref(guard),
                    format!("size({access}) {} {n}", limit.operator()),
                    messages::count(limit, n, counted),
                ));
            }
        }
        match s.get("items") {
            Some(items @ (Value::Object(_) | Value::Bool(_))) => {
                self.depth += 1;
                let var = format!("x{}", self.depth);
                let inner = self.walk(items, &var, &format!("{field}[*]"), &[]);
                self.depth -= 1;
                for r in inner {
                    let mut g = guards.to_vec();
                    g.push(is_list.clone());
                    rules.push(Rule {
                        guards: g,
                        cond: format!("{access}.all({var}, {})", r.expression()),
                        ..r
                    });
                }
            }
            Some(_) => self.skip(field, "items", reason::TUPLE_ITEMS),
            None => {}
        }
        let properties = s.get("properties").and_then(Value::as_object);
        if let Some(props) = properties {
            for (name, sub) in props {
                let child = format!("{access}[{}]", cel_string(name));
                let mut g = guards.to_vec();
                g.push(is_map.clone());
                g.push(format!("{} in {access}", cel_string(name)));
                rules.extend(self.walk(sub, &child, &format!("{field}.{name}"), &g));
            }
        }
        let known: Vec<String> = properties
            .map(|p| p.keys().map(|k| cel_string(k)).collect())
            .unwrap_or_default();
        match s.get("additionalProperties") {
            // Which keys a pattern admits is not expressible here: no unknown-key check at all.
            Some(_) if s.contains_key("patternProperties") => {}
            Some(Value::Bool(false)) => {
                let var = format!("k{}", self.depth + 1);
                let names: BTreeSet<&String> =
                    properties.map(|p| p.keys().collect()).unwrap_or_default();
                let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
                let list = format!("[{}]", known.join(", "));
                let mut r = rule(
                    std::slice::from_ref(&is_map),
                    format!("{access}.all({var}, {var} in {list})"),
                    messages::only_keys(&names),
                );
                r.message_expression = Some(messages::unknown_keys_expression(
                    field,
                    &format!("{access}.filter({var}, !({var} in {list}))"),
                    &names,
                ));
                rules.push(r);
            }
            Some(sub @ Value::Object(_)) => {
                self.depth += 1;
                let var = format!("k{}", self.depth);
                let inner = self.walk(sub, &format!("{access}[{var}]"), &format!("{field}.*"), &[]);
                self.depth -= 1;
                let list = format!("[{}]", known.join(", "));
                for r in inner {
                    let mut g = guards.to_vec();
                    g.push(is_map.clone());
                    rules.push(Rule {
                        guards: g,
                        cond: format!("{access}.all({var}, {var} in {list} || {})", r.expression()),
                        ..r
                    });
                }
            }
            _ => {}
        }
        if let Some(Value::Array(all)) = s.get("allOf") {
            for sub in all {
                rules.extend(self.walk(sub, access, field, guards));
            }
        }
        rules
    }
}

/// The CEL condition that the value at `access` has JSON type `t`, if `t` is a JSON type.
fn type_condition(t: &str, access: &str) -> Option<String> {
    Some(match t {
        "string" => format!("type({access}) == string"),
        "boolean" => format!("type({access}) == bool"),
        "object" => format!("type({access}) == map"),
        "array" => format!("type({access}) == list"),
        "null" => format!("type({access}) == null_type"),
        "number" => format!("type({access}) == int || type({access}) == double"),
        // JSON Schema counts 600.0 as an integer; the API server may hand it over as a double.
        "integer" => format!(
            "type({access}) == int || (type({access}) == double && double(int({access})) == {access})"
        ),
        _ => return None,
    })
}

/// The numeric bound each keyword sets, including the draft-4 boolean form of
/// `exclusiveMinimum`/`exclusiveMaximum` (which makes `minimum`/`maximum` exclusive; a boolean
/// is not a number, so the keyword itself then adds no check).
fn number_bounds(s: &Map<String, Value>) -> [(&'static str, Bound); 4] {
    let excl_min = s.get("exclusiveMinimum") == Some(&Value::Bool(true));
    let excl_max = s.get("exclusiveMaximum") == Some(&Value::Bool(true));
    [
        (
            "minimum",
            if excl_min {
                Bound::GreaterThan
            } else {
                Bound::AtLeast
            },
        ),
        (
            "maximum",
            if excl_max {
                Bound::LessThan
            } else {
                Bound::AtMost
            },
        ),
        ("exclusiveMinimum", Bound::GreaterThan),
        ("exclusiveMaximum", Bound::LessThan),
    ]
}

/// Whether an ECMA-262 pattern (JSON Schema) can be handed to RE2 (CEL's `matches`).
/// `regex-syntax` follows RE2's syntax: it refuses look-around and back-references, which RE2
/// lacks, so a pattern it parses compiles in the API server too.
fn re2_compatible(pattern: &str) -> bool {
    regex_syntax::Parser::new().parse(pattern).is_ok()
}
