//! From a list of templates to desired objects: each template rendered, its output parsed as
//! YAML and every object put through the policy, with two objects of one kind and name refused.
//! Shared by the shared workload and every tenant, so it is apart from both.

use serde_json::Value;

use super::{CompiledPlatform, DesiredObject, policy, template};
use crate::diagnostics::{Diagnostic, Origin, Text};
use crate::yaml::parse_stream;

impl CompiledPlatform {
    pub(super) fn render_templates(
        &self,
        keys: &[String],
        context: Value,
        scope: &policy::Scope<'_>,
    ) -> Result<Vec<DesiredObject>, Vec<Diagnostic>> {
        // One Context per call: handlebars would otherwise deep-copy the data for every template.
        let context = handlebars::Context::from(context);
        let mut objects: Vec<DesiredObject> = Vec::new();
        let mut problems = Vec::new();
        for key in keys {
            let text = match self.templates.render(key, &context) {
                Ok(t) => t,
                Err(d) => {
                    problems.push(d);
                    continue;
                }
            };
            let docs = match parse_stream(&text, false) {
                Ok(d) => d,
                Err(e) => {
                    let line = text
                        .lines()
                        .nth(e.location.line.saturating_sub(1))
                        .unwrap_or_default();
                    problems.push(Diagnostic::new(
                        "RenderedYamlInvalid",
                        Origin::Template { name: key.clone(), line: None },
                        "",
                        Text::new(
                            format!("rendered output is not valid YAML at its line {}: {} (line: {line:?})", e.location.line, e.message),
                            format!("kết quả kết xuất không phải YAML hợp lệ tại dòng {}: {} (dòng: {line:?})", e.location.line, e.message),
                        ),
                    ));
                    continue;
                }
            };
            for doc in docs.into_iter().filter(|d| !d.value.is_null()) {
                let mut object = doc.value;
                match policy::enforce(&mut object, key, scope) {
                    Ok(()) => {
                        let candidate = DesiredObject {
                            template: key.clone(),
                            object,
                        };
                        if let Some(dup) = objects
                            .iter()
                            .find(|o| o.kind() == candidate.kind() && o.name() == candidate.name())
                        {
                            problems.push(Diagnostic::new(
                                "DuplicateObject",
                                Origin::Template {
                                    name: key.clone(),
                                    line: None,
                                },
                                "",
                                Text::new(
                                    format!(
                                        "{} {} is rendered twice (also by {})",
                                        candidate.kind(),
                                        candidate.name(),
                                        dup.template
                                    ),
                                    format!(
                                        "{} {} được kết xuất hai lần (cả bởi {})",
                                        candidate.kind(),
                                        candidate.name(),
                                        dup.template
                                    ),
                                ),
                            ));
                        } else {
                            objects.push(candidate);
                        }
                    }
                    Err(mut d) => {
                        // Point at the object's `kind:` line in the template file.
                        if let Origin::Template {
                            line: line @ None, ..
                        } = &mut d.origin
                        {
                            let kind = object.get("kind").and_then(Value::as_str);
                            *line = kind.and_then(|k| self.kind_line(key, k));
                        }
                        problems.push(d)
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(objects)
        } else {
            Err(problems)
        }
    }

    /// The 1-based line of `kind: <kind>` in the template registered as `key`, if it is written
    /// literally there.
    fn kind_line(&self, key: &str, kind: &str) -> Option<usize> {
        let templates = &self.platform.spec.templates;
        let (list, name) = match key.strip_prefix(template::TENANT_PREFIX) {
            Some(name) => (&templates.tenant, name),
            None => (
                &templates.shared,
                key.strip_prefix(template::SHARED_PREFIX)?,
            ),
        };
        let text = &list.iter().find(|t| t.name == name)?.template;
        text.lines()
            .position(|l| {
                l.trim().strip_prefix("kind:").is_some_and(|k| {
                    let k = k.split(" #").next().unwrap_or_default().trim();
                    k.trim_matches(['"', '\'']) == kind
                })
            })
            .map(|i| i + 1)
    }
}
