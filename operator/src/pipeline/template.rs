//! Handlebars templates of a platform, compiled once per platform revision. Strict mode makes a
//! reference to a missing value an error; the escape function quotes every `{{value}}` as one YAML
//! scalar, and helpers that must emit numbers or lists write them in a form that cannot carry
//! structure (digits, `true`/`false`, JSON flow with quoted strings).

use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext, RenderError,
    RenderErrorReason, ScopedJson, TemplateError,
};
use serde_json::Value;

use crate::api::NamedTemplate;
use crate::diagnostics::{Diagnostic, Origin, Text};

use super::naming::object_name;
use super::quote::{flow_json, quote_scalar};

/// Prefix of tenant template names inside the registry (shared ones use `shared/`).
pub const TENANT_PREFIX: &str = "tenant/";
pub const SHARED_PREFIX: &str = "shared/";

/// The compiled templates of one platform.
pub struct CompiledTemplates {
    registry: Handlebars<'static>,
    pub shared: Vec<String>,
    pub tenant: Vec<String>,
}

impl CompiledTemplates {
    /// Compiles shared and tenant templates; every problem of every template is reported.
    pub fn compile(
        shared: &[NamedTemplate],
        tenant: &[NamedTemplate],
    ) -> Result<Self, Vec<Diagnostic>> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(quote_scalar);
        registry.register_helper("name", Box::new(NameHelper));
        registry.register_helper("concat", Box::new(ConcatHelper));
        registry.register_helper("lower", Box::new(CaseHelper { upper: false }));
        registry.register_helper("upper", Box::new(CaseHelper { upper: true }));
        registry.register_helper("default", Box::new(DefaultHelper));
        registry.register_helper("join", Box::new(JoinHelper));
        registry.register_helper("num", Box::new(RawHelper::Number));
        registry.register_helper("bool", Box::new(RawHelper::Bool));
        registry.register_helper("json", Box::new(RawHelper::Json));
        registry.register_helper("scalar", Box::new(ScalarBlockHelper));
        let mut problems = Vec::new();
        let mut names = (Vec::new(), Vec::new());
        for (prefix, list, out) in [
            (SHARED_PREFIX, shared, &mut names.0),
            (TENANT_PREFIX, tenant, &mut names.1),
        ] {
            for t in list {
                let key = format!("{prefix}{}", t.name);
                if let Some(d) = unquoted_output(&key, &t.template) {
                    problems.push(d);
                    continue;
                }
                match registry.register_template_string(&key, &t.template) {
                    Ok(()) => out.push(key),
                    Err(e) => problems.push(template_error(&key, &e)),
                }
            }
        }
        if problems.is_empty() {
            Ok(CompiledTemplates {
                registry,
                shared: names.0,
                tenant: names.1,
            })
        } else {
            Err(problems)
        }
    }

    /// Renders one compiled template with `context`.
    pub fn render(&self, key: &str, context: &Context) -> Result<String, Diagnostic> {
        self.registry
            .render_with_context(key, context)
            .map_err(|e| render_error(key, &e))
    }
}

/// Refuses the forms that bypass quoting: `{{{x}}}`, `{{&x}}` and raw blocks `{{{{raw}}}}`.
fn unquoted_output(key: &str, text: &str) -> Option<Diagnostic> {
    for (i, line) in text.lines().enumerate() {
        for (pos, _) in line.match_indices("{{") {
            let rest = line[pos + 2..].trim_start_matches('~');
            if rest.starts_with('{') || rest.starts_with('&') {
                return Some(
                    Diagnostic::new(
                        "UnquotedOutput",
                        Origin::Template {
                            name: key.to_string(),
                            line: Some(i + 1),
                        },
                        "",
                        Text::new(
                            "triple-stash {{{ }}} or {{& }} inserts a value unquoted, so the value could change the document's structure",
                            "{{{ }}} hoặc {{& }} chèn giá trị không có dấu nháy, giá trị có thể làm thay đổi cấu trúc tài liệu",
                        ),
                    )
                    .with_hint(Text::new(
                        "use {{value}} (quoted), {{num x}}, {{bool x}} or {{json x}}",
                        "dùng {{value}} (có nháy), {{num x}}, {{bool x}} hoặc {{json x}}",
                    )),
                );
            }
        }
    }
    None
}

/// Lint-only check: a `{{...}}` in key position lets a value choose a key.
pub fn values_in_keys(key: &str, text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let body = line.trim_start().trim_start_matches("- ");
        if body.starts_with("{{#")
            || body.starts_with("{{/")
            || body.starts_with("{{else")
            || body.starts_with("{{!")
        {
            continue;
        }
        let Some(colon) = find_mapping_colon(body) else {
            continue;
        };
        if body[..colon].contains("{{") {
            out.push(
                Diagnostic::new(
                    "ValueInKey",
                    Origin::Template {
                        name: key.to_string(),
                        line: Some(i + 1),
                    },
                    "",
                    Text::new(
                        "a template expression is used as a mapping key, so a value could choose keys",
                        "biểu thức mẫu được dùng làm khóa, giá trị có thể tự chọn khóa",
                    ),
                )
                .with_hint(Text::new(
                    "keep keys literal and put values on the right of ':'",
                    "giữ khóa cố định, chỉ đặt giá trị bên phải dấu ':'",
                )),
            );
        }
    }
    out
}

/// The position of the `:` that ends a block-mapping key on this line, if any (outside quotes and
/// template expressions).
fn find_mapping_colon(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let (mut in_expr, mut quote) = (false, None::<u8>);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_expr {
            if line[i..].starts_with("}}") {
                in_expr = false;
                i += 2;
                continue;
            }
        } else if let Some(q) = quote {
            if b == q {
                quote = None;
            }
        } else if line[i..].starts_with("{{") {
            in_expr = true;
            i += 2;
            continue;
        } else if b == b'"' || b == b'\'' {
            quote = Some(b);
        } else if b == b'#' {
            return None;
        } else if b == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn template_error(key: &str, e: &TemplateError) -> Diagnostic {
    Diagnostic::new(
        "TemplateError",
        Origin::Template {
            name: key.to_string(),
            line: e.pos().map(|(line, _)| line),
        },
        "",
        Text::new(
            format!("template does not compile: {}", e.reason()),
            format!("mẫu không biên dịch được: {}", e.reason()),
        ),
    )
}

fn render_error(key: &str, e: &RenderError) -> Diagnostic {
    let reason = match e.reason() {
        RenderErrorReason::MissingVariable(Some(path)) => Text::new(
            format!("the template uses {path}, which has no value for this tenant"),
            format!("mẫu dùng {path} nhưng đơn vị này không có giá trị đó"),
        ),
        other => Text::new(
            format!("template failed to render: {other}"),
            format!("không kết xuất được mẫu: {other}"),
        ),
    };
    Diagnostic::new(
        "TemplateError",
        Origin::Template {
            name: e.template_name.clone().unwrap_or_else(|| key.to_string()),
            line: e.line_no,
        },
        "",
        reason,
    )
    .with_hint(Text::new(
        "give the value a default in the platform's schema or defaults, or guard it with {{#if}}",
        "đặt giá trị mặc định trong lược đồ hoặc defaults của nền tảng, hoặc dùng {{#if}}",
    ))
}

fn helper_error(msg: String) -> RenderError {
    RenderErrorReason::Other(msg).into()
}

/// Renders a parameter's value as plain text (strings unquoted, others as JSON).
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `{{name "suffix"}}`: an object name carrying the tenant (or the platform, in shared templates).
struct NameHelper;

impl HelperDef for NameHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let suffix = h.param(0).map(|p| plain(p.value())).unwrap_or_default();
        let root = ctx.data();
        let stem = root
            .pointer("/tenant/stem")
            .or_else(|| root.pointer("/platform/name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        object_name(stem, &suffix)
            .map(|n| ScopedJson::Derived(Value::String(n)))
            .map_err(helper_error)
    }
}

/// `{{concat a "." b}}`: one string from several parts (then quoted as one scalar).
struct ConcatHelper;

impl HelperDef for ConcatHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let s: String = h.params().iter().map(|p| plain(p.value())).collect();
        Ok(ScopedJson::Derived(Value::String(s)))
    }
}

struct CaseHelper {
    upper: bool,
}

impl HelperDef for CaseHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let s = h.param(0).map(|p| plain(p.value())).unwrap_or_default();
        let s = if self.upper {
            s.to_uppercase()
        } else {
            s.to_lowercase()
        };
        Ok(ScopedJson::Derived(Value::String(s)))
    }
}

/// `{{default values.x "fallback"}}`: the value, or the fallback when it is null or empty.
struct DefaultHelper;

impl HelperDef for DefaultHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let v = h.param(0).map(|p| p.value().clone()).unwrap_or(Value::Null);
        let empty = matches!(&v, Value::Null) || v.as_str().is_some_and(str::is_empty);
        let out = if empty {
            h.param(1).map(|p| p.value().clone()).unwrap_or(Value::Null)
        } else {
            v
        };
        Ok(ScopedJson::Derived(out))
    }
}

/// `{{join values.list ", "}}`: the items of a list as one string.
struct JoinHelper;

impl HelperDef for JoinHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let sep = h
            .param(1)
            .map(|p| plain(p.value()))
            .unwrap_or_else(|| ",".into());
        let Some(Value::Array(items)) = h.param(0).map(|p| p.value()) else {
            return Err(helper_error("join expects a list".into()));
        };
        let s = items.iter().map(plain).collect::<Vec<_>>().join(&sep);
        Ok(ScopedJson::Derived(Value::String(s)))
    }
}

/// `{{#scalar trim=","}}...{{/scalar}}`: the block's whole text as one quoted scalar, e.g. a
/// comma-separated list built with `{{#each}}` (`trim`: characters removed from both ends, such
/// as the last separator). Inside the block values are not quoted one by one (that would put
/// quotes inside the string); quoting the whole keeps every value from changing the
/// document's structure.
struct ScalarBlockHelper;

impl HelperDef for ScalarBlockHelper {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let mut text = handlebars::StringOutput::new();
        if let Some(t) = h.template() {
            let escaping = rc.is_disable_escape();
            rc.set_disable_escape(true);
            let rendered = handlebars::Renderable::render(t, r, ctx, rc, &mut text);
            rc.set_disable_escape(escaping);
            rendered?;
        }
        let text = text.into_string().map_err(RenderError::from)?;
        let trim: Vec<char> = h
            .hash_get("trim")
            .map(|v| plain(v.value()).chars().collect())
            .unwrap_or_default();
        out.write(&quote_scalar(text.trim_matches(trim.as_slice())))?;
        Ok(())
    }
}

/// Helpers that write a typed value unquoted: only digits, booleans or quoted JSON can come out.
enum RawHelper {
    Number,
    Bool,
    Json,
}

impl HelperDef for RawHelper {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let Some(p) = h.param(0) else {
            return Err(helper_error(format!("{} needs one value", h.name())));
        };
        let v = p.value();
        let text = match (self, v) {
            (RawHelper::Number, Value::Number(n)) => n.to_string(),
            (RawHelper::Bool, Value::Bool(b)) => b.to_string(),
            (RawHelper::Json, v) => flow_json(v),
            (RawHelper::Number, other) => {
                return Err(helper_error(format!("num expects a number, got {other}")));
            }
            (RawHelper::Bool, other) => {
                return Err(helper_error(format!(
                    "bool expects true or false, got {other}"
                )));
            }
        };
        out.write(&text)?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
