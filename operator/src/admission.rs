//! A platform's tenant schema turned into a ValidatingAdmissionPolicy (CEL, evaluated inside the
//! API server), so that a Tenant whose own `values` break the schema is refused at
//! `kubectl apply` time instead of being accepted and reported `Rendered=False` later.
//!
//! Pure: schema in, policy objects out; no client, no I/O. What the policy checks is a subset of
//! what the operator checks, never more: values are merged national ← province ← commune, so
//! only the keys a Tenant itself sets are checked (their type, enum, pattern, length, bounds,
//! unknown keys), and `required` is left to the operator. Every schema keyword the policy cannot
//! express is listed in [`ValuesPolicy::unchecked`].

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::api::Platform;
use crate::pipeline::LABEL_TENANT_SET;

/// The generated policy and binding of one platform, with what they check and what they leave
/// to the operator.
#[derive(Clone, Debug)]
pub struct ValuesPolicy {
    pub policy: Value,
    pub binding: Value,
    pub checks: Vec<Check>,
    pub unchecked: Vec<Unchecked>,
}

impl ValuesPolicy {
    /// The policy and its binding, in the order they must be applied.
    pub fn objects(&self) -> Vec<Value> {
        vec![self.policy.clone(), self.binding.clone()]
    }
}

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

/// `khaibao-values-<platform>`: the name of the policy and of its binding.
pub fn policy_name(platform: &str) -> String {
    format!("khaibao-values-{platform}")
}

/// The policy (failure policy `Ignore`, matched to this platform's Tenants by `matchConditions`)
/// and its binding (`Deny`).
pub fn values_policy(platform: &Platform) -> ValuesPolicy {
    let name = platform.metadata.name.clone().unwrap_or_default();
    let (checks, unchecked) = schema_checks(&platform.spec.tenant_schema, &name);
    let policy_name = policy_name(&name);
    let labels = json!({
        "app.kubernetes.io/managed-by": "khaibao",
        "khaibao.dev/platform": name,
    });
    let validations: Vec<Value> = checks
        .iter()
        .map(|c| {
            let mut v = json!({
                "expression": c.expression,
                "message": c.message,
                "reason": "Invalid",
            });
            if let Some(m) = &c.message_expression {
                v["messageExpression"] = json!(m);
            }
            v
        })
        .collect();
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": policy_name, "labels": labels},
        "spec": {
            // An expression that cannot be evaluated lets the request through: the operator
            // checks every value again, so the worst case is today's Rendered=False condition,
            // never a blocked namespace or cluster.
            "failurePolicy": "Ignore",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["khaibao.dev"],
                "apiVersions": ["v1alpha1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["tenants"],
            }]},
            "matchConditions": [
                {"name": "tenant-of-this-platform",
                 "expression": format!("object.spec.platform == {}", cel_string(&name))},
                // Finalizer and label patches of a tenant that was valid under an older schema
                // must still go through: only a request that writes values is checked.
                {"name": "values-written",
                 "expression": "request.operation == 'CREATE' || \
                    (has(object.spec.values) ? object.spec.values : {}) != \
                    (has(oldObject.spec.values) ? oldObject.spec.values : {})"},
                // A TenantSet's values are templates filled per unit by the operator; one bad
                // unit must not stop the set, so those tenants are left to the operator.
                {"name": "not-made-by-a-tenant-set",
                 "expression": format!("!has(object.metadata.labels) || !({} in object.metadata.labels)",
                    cel_string(LABEL_TENANT_SET))},
            ],
            "variables": [{"name": "values",
                "expression": "has(object.spec.values) ? object.spec.values : {}"}],
            "validations": validations,
        },
    });
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": policy_name, "labels": labels},
        "spec": {"policyName": policy_name, "validationActions": ["Deny"]},
    });
    ValuesPolicy {
        policy,
        binding,
        checks,
        unchecked,
    }
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
            message: format!(
                "{} {} (platform {platform}) / {} {}",
                r.field, r.en, r.field, r.vi
            ),
            message_expression: r
                .message_expression
                .map(|m| format!("{} + ' (platform ' + {} + ')'", m, cel_string(platform))),
            field: r.field,
        })
        .collect();
    (checks, walker.unchecked)
}

/// One condition under guards: `!(guards) || cond`.
struct Rule {
    guards: Vec<String>,
    cond: String,
    field: String,
    en: String,
    vi: String,
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
        let rule = |extra: &[String], cond: String, en: String, vi: String| {
            let mut g = guards.to_vec();
            g.extend(extra.iter().cloned());
            Rule {
                guards: g,
                cond,
                field: field.to_string(),
                en,
                vi,
                message_expression: None,
            }
        };
        let s = match schema {
            Value::Bool(true) => return rules,
            Value::Bool(false) => {
                rules.push(rule(
                    &[],
                    "false".into(),
                    "is not allowed: remove it".into(),
                    "không được phép: hãy xoá".into(),
                ));
                return rules;
            }
            Value::Object(s) => s,
            _ => {
                self.skip(field, "(schema)", "not a JSON schema object");
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
                "required" => {
                    "values are merged national ← province ← commune: a key a tenant leaves out may come from another layer, so only the operator can tell"
                }
                "format" => "formats are checked by the operator (and `khaibao validate`)",
                _ => "not expressible in the generated CEL policy; checked by the operator",
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
                    let names = types
                        .iter()
                        .map(|t| type_name(t))
                        .collect::<Vec<_>>()
                        .join(" or ");
                    let names_vi = types
                        .iter()
                        .map(|t| type_name_vi(t))
                        .collect::<Vec<_>>()
                        .join(" hoặc ");
                    rules.push(rule(
                        &[],
                        conds.join(" || "),
                        format!("must be {names}"),
                        format!("phải là {names_vi}"),
                    ));
                }
                _ => self.skip(field, "type", "unknown type name"),
            }
        }
        if let Some(Value::Array(options)) = s.get("enum") {
            let list = options.iter().map(cel_literal).collect::<Vec<_>>();
            let shown = short_list(options);
            rules.push(rule(
                &[],
                format!("{access} in [{}]", list.join(", ")),
                format!("must be one of {shown}"),
                format!("phải là một trong các giá trị {shown}"),
            ));
        }
        if let Some(c) = s.get("const") {
            rules.push(rule(
                &[],
                format!("{access} == {}", cel_literal(c)),
                format!("must be {c}"),
                format!("phải bằng {c}"),
            ));
        }
        if let Some(Value::String(p)) = s.get("pattern") {
            if re2_compatible(p) {
                rules.push(rule(
                    std::slice::from_ref(&is_string),
                    format!("{access}.matches({})", cel_string(p)),
                    format!("must match the pattern {p}"),
                    format!("phải khớp mẫu {p}"),
                ));
            } else {
                self.skip(
                    field,
                    "pattern",
                    "uses regular-expression syntax RE2 (CEL) lacks, such as look-around or back-references",
                );
            }
        }
        for (kw, op, en, vi) in [
            ("minLength", ">=", "at least", "ít nhất"),
            ("maxLength", "<=", "at most", "nhiều nhất"),
        ] {
            if let Some(n) = s.get(kw).and_then(Value::as_u64) {
                rules.push(rule(
                    std::slice::from_ref(&is_string),
                    format!("size({access}) {op} {n}"),
                    format!("must be {en} {n} characters long"),
                    format!("phải dài {vi} {n} ký tự"),
                ));
            }
        }
        for (kw, op, en, vi) in number_bounds(s) {
            let Some(n) = s.get(kw).and_then(Value::as_f64) else {
                continue;
            };
            let shown = s[kw].to_string();
            rules.push(rule(
                std::slice::from_ref(&is_number),
                format!("double({access}) {op} {}", cel_double(n)),
                format!("must be {en} {shown}"),
                format!("phải {vi} {shown}"),
            ));
        }
        for (kw, op, en, vi, guard) in [
            ("minItems", ">=", "at least", "ít nhất", &is_list),
            ("maxItems", "<=", "at most", "nhiều nhất", &is_list),
            ("minProperties", ">=", "at least", "ít nhất", &is_map),
            ("maxProperties", "<=", "at most", "nhiều nhất", &is_map),
        ] {
            if let Some(n) = s.get(kw).and_then(Value::as_u64) {
                let what = if kw.ends_with("Items") {
                    ("items", "phần tử")
                } else {
                    ("keys", "khoá")
                };
                rules.push(rule(
                    std::slice::from_ref(guard),
                    format!("size({access}) {op} {n}"),
                    format!("must have {en} {n} {}", what.0),
                    format!("phải có {vi} {n} {}", what.1),
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
            Some(_) => self.skip(field, "items", "tuple-style items are not supported"),
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
            Some(_) if s.contains_key("patternProperties") => {}
            Some(Value::Bool(false)) => {
                self.depth += 1;
                let var = format!("k{}", self.depth);
                self.depth -= 1;
                let names: BTreeSet<&String> =
                    properties.map(|p| p.keys().collect()).unwrap_or_default();
                let allowed = names
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                let (en, vi) = if names.is_empty() {
                    ("must be empty".to_string(), "phải để trống".to_string())
                } else {
                    (
                        format!("allows only the keys {allowed}: remove or rename the others"),
                        format!(
                            "chỉ cho phép các khoá {allowed}: hãy xoá hoặc đổi tên các khoá khác"
                        ),
                    )
                };
                let list = format!("[{}]", known.join(", "));
                let mut r = rule(
                    std::slice::from_ref(&is_map),
                    format!("{access}.all({var}, {var} in {list})"),
                    en,
                    vi,
                );
                r.message_expression = Some(format!(
                    "{} + ' has unknown key(s) ' + {access}.filter({var}, !({var} in {list})).join(', ') + '; allowed: ' + {}",
                    cel_string(field),
                    cel_string(&allowed),
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

fn type_name(t: &str) -> String {
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

/// `(keyword, CEL operator, English, Vietnamese)` of the numeric bounds, including the draft-4
/// boolean form of `exclusiveMinimum`/`exclusiveMaximum`.
fn number_bounds(
    s: &Map<String, Value>,
) -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    let excl_min = s.get("exclusiveMinimum") == Some(&Value::Bool(true));
    let excl_max = s.get("exclusiveMaximum") == Some(&Value::Bool(true));
    vec![
        if excl_min {
            ("minimum", ">", "greater than", "lớn hơn")
        } else {
            ("minimum", ">=", "at least", "lớn hơn hoặc bằng")
        },
        if excl_max {
            ("maximum", "<", "less than", "nhỏ hơn")
        } else {
            ("maximum", "<=", "at most", "nhỏ hơn hoặc bằng")
        },
        ("exclusiveMinimum", ">", "greater than", "lớn hơn"),
        ("exclusiveMaximum", "<", "less than", "nhỏ hơn"),
    ]
}

/// A CEL string literal. JSON's escapes (`\"`, `\\`, `\n`, `\uXXXX`, ...) are all valid CEL.
fn cel_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

fn cel_double(f: f64) -> String {
    let s = format!("{f:?}");
    if s.contains(['.', 'e', 'E']) || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

/// A JSON value as a CEL literal (lists and maps included).
fn cel_literal(v: &Value) -> String {
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

/// Whether an ECMA-262 pattern (JSON Schema) can be handed to RE2 (CEL's `matches`).
/// `regex-syntax` follows RE2's syntax: it refuses look-around and back-references, which RE2
/// lacks, so a pattern it parses compiles in the API server too.
fn re2_compatible(pattern: &str) -> bool {
    regex_syntax::Parser::new().parse(pattern).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dichvucong() -> Platform {
        let text = include_str!("../../platforms/dichvucong/platform.yaml");
        let doc = crate::yaml::parse_stream(text, false).expect("platform.yaml parses");
        serde_json::from_value(doc[0].value.clone()).expect("a Platform")
    }

    fn check<'a>(checks: &'a [Check], field: &str, needle: &str) -> &'a Check {
        checks
            .iter()
            .find(|c| c.field == field && c.expression.contains(needle))
            .unwrap_or_else(|| panic!("no check of {field} containing {needle:?} in {checks:#?}"))
    }

    #[test]
    fn dichvucong_schema_becomes_guarded_checks() {
        let (checks, _) = schema_checks(&dichvucong().spec.tenant_schema, "dichvucong");
        let v = "variables.values";
        // A nested pattern: only checked when the tenant sets the key, under a map, as a string.
        let color = check(&checks, "values.branding.primaryColor", "matches");
        assert_eq!(
            color.expression,
            format!(
                r#"!(type({v}) == map && "branding" in {v} && type({v}["branding"]) == map && "primaryColor" in {v}["branding"] && type({v}["branding"]["primaryColor"]) == string) || {v}["branding"]["primaryColor"].matches("^#[0-9a-fA-F]{{6}}$")"#
            )
        );
        assert_eq!(
            color.message,
            "values.branding.primaryColor must match the pattern ^#[0-9a-fA-F]{6}$ (platform dichvucong) / values.branding.primaryColor phải khớp mẫu ^#[0-9a-fA-F]{6}$"
        );
        let rate = check(&checks, "values.rateLimitPerMinute", ">= 10.0");
        assert!(
            rate.expression
                .ends_with(r#"double(variables.values["rateLimitPerMinute"]) >= 10.0"#)
        );
        assert!(
            rate.message
                .starts_with("values.rateLimitPerMinute must be at least 10 ")
        );
        check(&checks, "values.rateLimitPerMinute", "<= 10000.0");
        check(&checks, "values.rateLimitPerMinute", "== int ||");
        check(
            &checks,
            "values.branding.title",
            "size(variables.values[\"branding\"][\"title\"]) <= 120",
        );
        check(&checks, "values.onlinePayment", "== bool");
        // Items of a list: every element, under a type guard of the list.
        let svc = check(&checks, "values.services[*]", "matches");
        assert!(svc.expression.contains(r#"variables.values["services"].all(x1, !(type(x1) == string) || x1.matches("^[a-z0-9-]+$"))"#), "{}", svc.expression);
        // additionalProperties: false at the root and in nested objects, naming the keys.
        let root = check(&checks, "values", ".all(k1, k1 in [");
        assert!(
            root.message
                .contains("allows only the keys branding, contact, domain,"),
            "{}",
            root.message
        );
        assert!(
            root.message_expression
                .as_deref()
                .is_some_and(|m| m.contains(".filter(k1, !(k1 in ["))
        );
        check(
            &checks,
            "values.contact",
            "k1 in [\"address\", \"email\", \"hotline\"]",
        );
    }

    #[test]
    fn what_cannot_be_checked_is_listed() {
        let (_, unchecked) = schema_checks(&dichvucong().spec.tenant_schema, "dichvucong");
        let got: Vec<(String, String)> = unchecked
            .iter()
            .map(|u| (u.field.clone(), u.keyword.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("values", "required"),
                ("values.branding.logo", "format"),
                ("values.contact.email", "format"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert!(
            unchecked[0]
                .reason
                .contains("merged national ← province ← commune")
        );
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "string", "pattern": "^(?!admin).*$"},
            "b": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "c": {"type": "array", "uniqueItems": true, "items": [{"type": "string"}]},
            "d": {"type": "object", "patternProperties": {"^x-": {}}, "additionalProperties": false},
        }});
        let (checks, unchecked) = schema_checks(&schema, "p");
        let got: Vec<String> = unchecked
            .iter()
            .map(|u| format!("{} {}", u.field, u.keyword))
            .collect();
        assert_eq!(
            got,
            [
                "values.a pattern",
                "values.b oneOf",
                "values.c uniqueItems",
                "values.c items",
                "values.d patternProperties"
            ]
        );
        // What is left still gets its type checks; patternProperties disables the unknown-key check.
        assert!(checks.iter().any(|c| {
            c.field == "values.a"
                && c.expression
                    .ends_with("type(variables.values[\"a\"]) == string")
        }));
        assert!(
            !checks
                .iter()
                .any(|c| c.field == "values.d" && c.expression.contains(".all("))
        );
    }

    #[test]
    fn keywords_map_to_cel() {
        let schema = json!({"type": "object", "properties": {
            "level": {"enum": ["low", "high", 3, null]},
            "mode": {"const": "strict"},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1.5},
            "old": {"type": "integer", "minimum": 1, "exclusiveMinimum": true},
            "tags": {"type": "array", "minItems": 1, "maxItems": 5, "items": {"type": "array", "items": {"enum": ["a"]}}},
            "labels": {"type": "object", "maxProperties": 3, "additionalProperties": {"type": "string", "maxLength": 8}},
            "both": {"allOf": [{"type": "string"}, {"minLength": 2}]},
            "nothing": false,
            "weird key/ \"q\"": {"type": ["string", "null"]},
        }});
        let (checks, unchecked) = schema_checks(&schema, "p");
        assert!(unchecked.is_empty(), "{unchecked:?}");
        let e = |field: &str, needle: &str| check(&checks, field, needle).expression.clone();
        e(
            "values.level",
            r#"variables.values["level"] in ["low", "high", 3, null]"#,
        );
        e("values.mode", r#"variables.values["mode"] == "strict""#);
        e("values.ratio", r#"double(variables.values["ratio"]) > 0.0"#);
        e(
            "values.ratio",
            r#"double(variables.values["ratio"]) <= 1.5"#,
        );
        e("values.old", r#"double(variables.values["old"]) > 1.0"#);
        e("values.tags", r#"size(variables.values["tags"]) >= 1"#);
        e("values.tags", r#"size(variables.values["tags"]) <= 5"#);
        // Nested lists get their own variable.
        let nested = e("values.tags[*][*]", "x2 in [\"a\"]");
        assert!(nested.contains(r#"variables.values["tags"].all(x1, !(type(x1) == list) || x1.all(x2, x2 in ["a"]))"#), "{nested}");
        let labels = e(
            "values.labels.*",
            "size(variables.values[\"labels\"][k1]) <= 8",
        );
        assert!(
            labels.contains(r#"variables.values["labels"].all(k1, k1 in [] || "#),
            "{labels}"
        );
        e("values.labels", r#"size(variables.values["labels"]) <= 3"#);
        e("values.both", r#"type(variables.values["both"]) == string"#);
        e("values.both", r#"size(variables.values["both"]) >= 2"#);
        let nothing = check(&checks, "values.nothing", "false");
        assert!(nothing.message.contains("is not allowed: remove it"));
        // Keys and literals are escaped as CEL strings.
        e(
            r#"values.weird key/ "q""#,
            r#""weird key/ \"q\"" in variables.values"#,
        );
        e(r#"values.weird key/ "q""#, "== null_type");
    }

    #[test]
    fn policy_is_scoped_to_the_platform_and_never_blocks() {
        let vp = values_policy(&dichvucong());
        let spec = &vp.policy["spec"];
        assert_eq!(vp.policy["metadata"]["name"], "khaibao-values-dichvucong");
        assert_eq!(spec["failurePolicy"], "Ignore");
        assert_eq!(
            spec["matchConstraints"]["resourceRules"][0]["resources"],
            json!(["tenants"])
        );
        assert_eq!(
            spec["matchConstraints"]["resourceRules"][0]["operations"],
            json!(["CREATE", "UPDATE"])
        );
        let conditions: Vec<&str> = spec["matchConditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["expression"].as_str().unwrap())
            .collect();
        assert_eq!(conditions[0], r#"object.spec.platform == "dichvucong""#);
        assert!(conditions[1].contains("request.operation == 'CREATE' ||"));
        assert!(conditions[2].contains(r#""khaibao.dev/tenant-set" in object.metadata.labels"#));
        assert_eq!(
            spec["validations"].as_array().unwrap().len(),
            vp.checks.len()
        );
        assert!(
            spec["validations"]
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v["reason"] == "Invalid")
        );
        assert_eq!(
            vp.binding["spec"],
            json!({"policyName": "khaibao-values-dichvucong", "validationActions": ["Deny"]})
        );
        // An empty schema checks nothing but is still a valid policy.
        let mut p = dichvucong();
        p.spec.tenant_schema = Value::Null;
        let empty = values_policy(&p);
        assert!(empty.checks.is_empty() && empty.unchecked.is_empty());
    }

    #[test]
    fn re2_refuses_what_cel_cannot_compile() {
        assert!(re2_compatible(
            r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]+)+$"
        ));
        assert!(re2_compatible(r"^\d{3}\s\w+$"));
        assert!(!re2_compatible(r"^(?!x)"));
        assert!(!re2_compatible(r"(?<=a)b"));
        assert!(!re2_compatible(r"(a)\1"));
        assert!(!re2_compatible(r"[unclosed"));
    }
}
