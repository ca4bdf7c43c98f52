//! The platform's tenant schema: compiled once per platform, then used to check every tenant's
//! effective values. Messages are written here (in English and Vietnamese) rather than taken
//! from the validator, so they read the same in the CLI, in conditions and in both languages.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use crate::diagnostics::{Diagnostic, Origin, Text, dotted_path};

use super::values::{Layer, MergedValues};

/// A compiled tenant schema.
pub struct TenantSchema {
    validator: Validator,
}

impl TenantSchema {
    /// Compiles `schema`; an empty schema accepts any object.
    pub fn compile(schema: &Value) -> Result<Self, Diagnostic> {
        let schema = if schema.is_null() {
            &Value::Object(Default::default())
        } else {
            schema
        };
        if let Err(e) = jsonschema::meta::validate(schema) {
            return Err(schema_problem(&e));
        }
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .map_err(|e| schema_problem(&e))?;
        Ok(TenantSchema { validator })
    }

    /// Checks effective values; each problem points at `/spec/values/...` in the document of the
    /// layer that set the offending value.
    pub fn check(&self, merged: &MergedValues) -> Vec<Diagnostic> {
        if self.validator.is_valid(&merged.value) {
            return Vec::new();
        }
        self.validator
            .iter_errors(&merged.value)
            .map(|e| value_problem(&e, merged))
            .collect()
    }
}

fn schema_problem(e: &ValidationError<'_>) -> Diagnostic {
    let at = e.instance_path().as_str().to_string();
    Diagnostic::new(
        "InvalidSchema",
        Origin::Platform,
        format!("/spec/tenantSchema{at}"),
        Text::new(
            format!(
                "the tenant schema is not a valid JSON schema at {}: {e}",
                or_root(&at)
            ),
            format!(
                "lược đồ giá trị không phải JSON Schema hợp lệ tại {}: {e}",
                or_root(&at)
            ),
        ),
    )
}

fn or_root(p: &str) -> String {
    if p.is_empty() {
        "(root)".into()
    } else {
        dotted_path(p)
    }
}

fn value_problem(e: &ValidationError<'_>, merged: &MergedValues) -> Diagnostic {
    let at = e.instance_path().as_str().to_string();
    let (en, vi, hint, pointer_suffix) = describe(e, &at);
    let pointer_suffix = pointer_suffix.unwrap_or_else(|| at.clone());
    let origin = match merged.layer_of(&pointer_suffix) {
        // A missing required value is the tenant's to add, whichever layer set the enclosing
        // object (at the root that is usually the national defaults).
        _ if matches!(e.kind(), ValidationErrorKind::Required { .. }) => Origin::Tenant,
        Some(Layer::Parent(_)) => Origin::Parent,
        Some(Layer::National) | Some(Layer::SchemaDefault) => Origin::Platform,
        _ => Origin::Tenant,
    };
    let doc_pointer = match origin {
        Origin::Platform => format!("/spec/defaults{pointer_suffix}"),
        _ => format!("/spec/values{pointer_suffix}"),
    };
    let shown = format!(
        "values{}",
        if at.is_empty() {
            String::new()
        } else {
            format!(".{}", dotted_path(&at))
        }
    );
    let d = Diagnostic::new(
        "SchemaViolation",
        origin,
        doc_pointer,
        Text::new(format!("{shown}: {en}"), format!("{shown}: {vi}")),
    );
    match hint {
        Some(h) => d.with_hint(h),
        None => d,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(57).collect::<String>())
    } else {
        s
    }
}

fn type_names(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => t.to_string(),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

/// English and Vietnamese messages, an optional hint, and (for errors about a child such as an
/// unexpected property) the pointer of that child.
fn describe(e: &ValidationError<'_>, at: &str) -> (String, String, Option<Text>, Option<String>) {
    let got = short(e.instance());
    match e.kind() {
        ValidationErrorKind::Type { kind } => {
            let want = type_names(kind);
            let article = if want.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            (
                format!("{got} is not of type {want}"),
                format!("{got} không phải kiểu {want}"),
                Some(Text::new(
                    format!("write {article} {want} here"),
                    format!("hãy ghi một giá trị kiểu {want}"),
                )),
                None,
            )
        }
        ValidationErrorKind::Enum { options } => (
            format!("{got} is not one of {}", short(options)),
            format!("{got} không thuộc các giá trị cho phép {}", short(options)),
            None,
            None,
        ),
        ValidationErrorKind::Constant { expected_value } => (
            format!("{got} must be {}", short(expected_value)),
            format!("{got} phải là {}", short(expected_value)),
            None,
            None,
        ),
        ValidationErrorKind::Pattern { pattern } => (
            format!("{got} does not match the pattern {pattern}"),
            format!("{got} không khớp mẫu {pattern}"),
            None,
            None,
        ),
        ValidationErrorKind::Format { format } => (
            format!("{got} is not a valid {format}"),
            format!("{got} không đúng định dạng {format}"),
            None,
            None,
        ),
        ValidationErrorKind::Required { property } => {
            let p = property
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| property.to_string());
            (
                format!("required value {p:?} is missing"),
                format!("thiếu giá trị bắt buộc {p:?}"),
                Some(Text::new(
                    format!(
                        "add {p}: under {}",
                        if at.is_empty() {
                            "values".into()
                        } else {
                            format!("values.{}", dotted_path(at))
                        }
                    ),
                    format!(
                        "thêm {p}: vào {}",
                        if at.is_empty() {
                            "values".into()
                        } else {
                            format!("values.{}", dotted_path(at))
                        }
                    ),
                )),
                None,
            )
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let first = unexpected.first().cloned().unwrap_or_default();
            (
                format!(
                    "unknown value(s) {} are not allowed here",
                    unexpected.join(", ")
                ),
                format!("không được khai báo giá trị lạ {}", unexpected.join(", ")),
                Some(Text::new(
                    "check the spelling against the platform's tenant schema",
                    "kiểm tra lại chính tả theo lược đồ của nền tảng",
                )),
                Some(format!(
                    "{at}/{}",
                    first.replace('~', "~0").replace('/', "~1")
                )),
            )
        }
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => (
            format!("{got} is below the minimum {limit}"),
            format!("{got} nhỏ hơn mức tối thiểu {limit}"),
            None,
            None,
        ),
        ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => (
            format!("{got} is above the maximum {limit}"),
            format!("{got} lớn hơn mức tối đa {limit}"),
            None,
            None,
        ),
        ValidationErrorKind::MinLength { limit } => (
            format!("{got} is shorter than {limit} characters"),
            format!("{got} ngắn hơn {limit} ký tự"),
            None,
            None,
        ),
        ValidationErrorKind::MaxLength { limit } => (
            format!("{got} is longer than {limit} characters"),
            format!("{got} dài hơn {limit} ký tự"),
            None,
            None,
        ),
        ValidationErrorKind::MinItems { limit } => (
            format!("needs at least {limit} items"),
            format!("cần ít nhất {limit} phần tử"),
            None,
            None,
        ),
        ValidationErrorKind::MaxItems { limit } => (
            format!("has more than {limit} items"),
            format!("có nhiều hơn {limit} phần tử"),
            None,
            None,
        ),
        _ => {
            let m = e.to_string();
            (m.clone(), format!("giá trị không hợp lệ: {m}"), None, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::values::merge_layers;
    use serde_json::json;

    fn schema() -> TenantSchema {
        TenantSchema::compile(&json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["domain"],
            "properties": {
                "domain": {"type": "string", "pattern": "^[a-z0-9.-]+$"},
                "tier": {"enum": ["basic", "standard"]},
                "replicas": {"type": "integer", "minimum": 1},
                "contact": {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}}
            }
        }))
        .unwrap()
    }

    #[test]
    fn errors_point_at_the_value_and_its_layer() {
        let national = json!({"domain": "dichvucong.gov.vn"});
        let tenant =
            json!({"tier": "gold", "replicas": "3", "colour": 1, "contact": {"email": "nope"}});
        let m = merge_layers([(Layer::National, &national), (Layer::Tenant, &tenant)]);
        let errs = schema().check(&m);
        let reasons: Vec<_> = errs
            .iter()
            .map(|d| (d.pointer.as_str(), d.message.en.as_str()))
            .collect();
        assert!(
            reasons.contains(&(
                "/spec/values/tier",
                "values.tier: \"gold\" is not one of [\"basic\",\"standard\"]"
            )),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|(p, m)| *p == "/spec/values/replicas" && m.contains("not of type integer"))
        );
        assert!(
            reasons
                .iter()
                .any(|(p, m)| *p == "/spec/values/colour" && m.contains("colour"))
        );
        assert!(
            reasons
                .iter()
                .any(|(p, m)| *p == "/spec/values/contact/email" && m.contains("email"))
        );
        assert_eq!(errs.len(), 4);
    }

    #[test]
    fn missing_required_and_national_defaults() {
        let national = json!({"domain": "BAD DOMAIN"});
        let m = merge_layers([(Layer::National, &national)]);
        let errs = schema().check(&m);
        assert_eq!(errs[0].origin, Origin::Platform);
        assert_eq!(errs[0].pointer, "/spec/defaults/domain");
        let m = merge_layers([(Layer::Tenant, &json!({}))]);
        let errs = schema().check(&m);
        assert!(
            errs[0]
                .message
                .en
                .contains("required value \"domain\" is missing")
        );
        assert!(errs[0].message.vi.contains("thiếu giá trị bắt buộc"));
    }

    #[test]
    fn a_missing_required_value_is_the_tenants_to_add() {
        // The root object exists because of the national defaults, but the tenant must add it.
        let national = json!({"tier": "basic"});
        let m = merge_layers([(Layer::National, &national), (Layer::Tenant, &json!({}))]);
        let errs = schema().check(&m);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].origin, Origin::Tenant);
        assert_eq!(errs[0].pointer, "/spec/values");
    }

    #[test]
    fn an_invalid_schema_is_refused() {
        let e = TenantSchema::compile(&json!({"type": "strnig"}))
            .err()
            .unwrap();
        assert_eq!(e.reason, "InvalidSchema");
    }
}
