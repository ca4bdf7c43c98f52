//! The Secrets a platform generates in the cluster, as the pipeline sees them: placeholders that
//! are desired, labelled and hashed like any object, and never carry a real value (the operator
//! makes those once). Apart from the templates because no template writes them.

use serde_json::{Value, json};

use super::{
    ADOPTED_SUFFIX, ANNOTATION_ADOPTED_SECRET, ANNOTATION_GENERATED, CompiledPlatform,
    DesiredObject, ResolvedPredecessor, adopted_key, object_name, policy,
};
use crate::diagnostics::{Diagnostic, Origin, Text};

/// The Secret data shown instead of a generated value.
pub const GENERATED_PLACEHOLDER: &str = "<generated in the cluster, never shown>";

impl CompiledPlatform {
    /// One placeholder per generated secret and, when some predecessors have another unit code
    /// (`adopting`), one `<stem>-<secret>-adopted` per secret with a key
    /// `<predecessor code>.<key>` for each of their values: desired and labelled like every
    /// generated Secret, so it is never pruned while the predecessors are listed.
    pub(super) fn generated_secret_placeholders(
        &self,
        stem: &str,
        adopting: &[&ResolvedPredecessor],
        scope: &policy::Scope<'_>,
    ) -> Result<Vec<DesiredObject>, Vec<Diagnostic>> {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        let specs = &self.platform.spec.generated_secrets;
        let own = specs.iter().enumerate().map(|(i, g)| (i, g, false));
        let adopted = specs
            .iter()
            .enumerate()
            .filter(|_| !adopting.is_empty())
            .map(|(i, g)| (i, g, true));
        for (i, g, is_adopted) in own.chain(adopted) {
            let suffix = if is_adopted {
                format!("{}{ADOPTED_SUFFIX}", g.name)
            } else {
                g.name.clone()
            };
            let name = match object_name(stem, &suffix) {
                Ok(n) => n,
                Err(msg) => {
                    problems.push(Diagnostic::new(
                        "InvalidPlatform",
                        Origin::Platform,
                        format!("/spec/generatedSecrets/{i}/name"),
                        Text::new(msg.clone(), msg),
                    ));
                    continue;
                }
            };
            let placeholder = || Value::String(GENERATED_PLACEHOLDER.into());
            let (data, annotations): (serde_json::Map<String, Value>, Value) = if is_adopted {
                (
                    adopting
                        .iter()
                        .flat_map(|p| {
                            g.keys
                                .iter()
                                .map(|k| (adopted_key(&p.code, &k.key), placeholder()))
                        })
                        .collect(),
                    json!({ANNOTATION_GENERATED: "true", ANNOTATION_ADOPTED_SECRET: g.name}),
                )
            } else {
                (
                    g.keys
                        .iter()
                        .map(|k| (k.key.clone(), placeholder()))
                        .collect(),
                    json!({ANNOTATION_GENERATED: "true"}),
                )
            };
            let mut object = json!({
                "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "annotations": annotations},
                "stringData": data,
            });
            // Generated secrets are the platform's own design, so they bypass allowedKinds.
            let allow_secret = vec!["Secret".to_string()];
            let secret_scope = policy::Scope {
                allowed_kinds: &allow_secret,
                ..*scope
            };
            match policy::enforce(&mut object, "generatedSecrets", &secret_scope) {
                Ok(()) => out.push(DesiredObject {
                    template: "generatedSecrets".into(),
                    object,
                }),
                Err(d) => problems.push(d),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }
}
