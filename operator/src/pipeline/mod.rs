//! The one render pipeline: `(Platform, parent Tenant?, Tenant) -> desired objects + hash`.
//!
//! merge values → validate against the tenant schema → render (strict, quoted) → parse → policy.
//! It is pure: no I/O, no clock, no cluster, no randomness. The CLI and the operator both call
//! it, so a template that passes `khaibao test` behaves the same in the cluster.

mod collisions;
mod expansion;
mod naming;
mod policy;
mod predecessors;
mod quote;
mod schema;
mod template;
mod values;

use serde_json::{Value, json};

use crate::api::{Level, Platform, Tenant};
use crate::diagnostics::{Diagnostic, Origin, Text};
use crate::registry::{ResolvedUnit, resolve_unit};
use crate::yaml::parse_stream;

pub use collisions::find_collisions;
pub use expansion::{LABEL_TENANT_SET, expand_tenant_set};
pub use naming::{is_dns_label, object_name, short_hash, tenant_label_value, tenant_stem};
pub use policy::{
    ANNOTATION_GENERATED, ANNOTATION_OWNER, LABEL_COMPONENT, LABEL_LEVEL, LABEL_MANAGED_BY,
    LABEL_PLATFORM, LABEL_PROVINCE, LABEL_REVISION, LABEL_TENANT, LABEL_UNIT_CODE, MANAGER,
};
pub use predecessors::{
    ADOPTED_SUFFIX, ANNOTATION_ADOPTED_SECRET, ResolvedPredecessor, adopted_key, host_taker,
    is_in_place, moved_code, resolve_predecessor,
};
pub use quote::quote_scalar;
pub use schema::TenantSchema;
pub use template::values_in_keys;
pub use values::{Layer, MergedValues, Provenance, apply_schema_defaults, merge_layers};

/// One object the pipeline wants in the cluster, with the template that produced it.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredObject {
    pub template: String,
    pub object: Value,
}

impl DesiredObject {
    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }
    pub fn api_version(&self) -> &str {
        self.object["apiVersion"].as_str().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }
}

/// Everything one tenant becomes.
#[derive(Clone, Debug)]
pub struct RenderedTenant {
    pub namespace: String,
    pub name: String,
    pub unit: ResolvedUnit,
    pub values: MergedValues,
    /// Objects to server-side apply.
    pub objects: Vec<DesiredObject>,
    /// Secrets the operator creates once; their data here are placeholders, never real values.
    /// With predecessors of another unit code, also one `<stem>-<secret>-adopted` per secret.
    pub generated_secrets: Vec<DesiredObject>,
    /// `spec.predecessors` other than the tenant itself, resolved from the registry.
    pub predecessors: Vec<ResolvedPredecessor>,
    /// Platform revision the objects were rendered from.
    pub revision: String,
    /// Hash of `objects` and `generated_secrets`: equal hashes mean nothing to apply.
    pub hash: String,
}

/// A platform with its templates and schema compiled, ready to render any number of tenants.
pub struct CompiledPlatform {
    pub platform: Platform,
    pub name: String,
    pub revision: String,
    schema: TenantSchema,
    templates: template::CompiledTemplates,
}

/// The Secret data shown instead of a generated value.
pub const GENERATED_PLACEHOLDER: &str = "<generated in the cluster, never shown>";

impl CompiledPlatform {
    /// Compiles the schema and every template; reports every problem found.
    pub fn compile(platform: &Platform) -> Result<Self, Vec<Diagnostic>> {
        let name = platform.metadata.name.clone().unwrap_or_default();
        let spec = &platform.spec;
        let mut problems = Vec::new();
        if !is_dns_label(&spec.namespace) {
            problems.push(Diagnostic::new(
                "InvalidPlatform",
                Origin::Platform,
                "/spec/namespace",
                Text::new(
                    format!(
                        "namespace {:?} is not a valid namespace name",
                        spec.namespace
                    ),
                    format!("namespace {:?} không hợp lệ", spec.namespace),
                ),
            ));
        }
        let schema = TenantSchema::compile(&spec.tenant_schema)
            .map_err(|d| problems.push(d))
            .ok();
        let templates =
            template::CompiledTemplates::compile(&spec.templates.shared, &spec.templates.tenant)
                .map_err(|d| problems.extend(d))
                .ok();
        match (schema, templates) {
            (Some(schema), Some(templates)) if problems.is_empty() => Ok(CompiledPlatform {
                name,
                revision: platform_revision(platform),
                platform: platform.clone(),
                schema,
                templates,
            }),
            _ => Err(problems),
        }
    }

    fn namespace(&self) -> &str {
        &self.platform.spec.namespace
    }

    /// The platform's shared workload, rendered once.
    pub fn render_shared(&self) -> Result<Vec<DesiredObject>, Vec<Diagnostic>> {
        let context = json!({
            "platform": self.platform_context(),
            "values": self.platform.spec.defaults,
        });
        let scope = policy::Scope {
            platform: &self.name,
            namespace: self.namespace(),
            revision: &self.revision,
            allowed_kinds: &self.platform.spec.allowed_kinds,
            tenant: None,
        };
        self.render_templates(&self.templates.shared, context, &scope)
    }

    fn platform_context(&self) -> Value {
        json!({
            "name": self.name,
            "namespace": self.namespace(),
            "displayName": self.platform.spec.display_name,
            "revision": self.revision,
        })
    }

    /// Renders one tenant. `parent` is the Tenant named by `tenant.spec.parent`, looked up by the
    /// caller in the tenant's namespace (`None` if it does not exist).
    pub fn render_tenant(
        &self,
        tenant: &Tenant,
        parent: Option<&Tenant>,
    ) -> Result<RenderedTenant, Vec<Diagnostic>> {
        let namespace = tenant
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = tenant.metadata.name.clone().unwrap_or_default();
        let mut problems = Vec::new();
        if tenant.spec.platform != self.name {
            problems.push(Diagnostic::new(
                "WrongPlatform",
                Origin::Tenant,
                "/spec/platform",
                Text::new(
                    format!(
                        "tenant is on platform {:?}, not {:?}",
                        tenant.spec.platform, self.name
                    ),
                    format!(
                        "đơn vị thuộc nền tảng {:?}, không phải {:?}",
                        tenant.spec.platform, self.name
                    ),
                ),
            ));
        }
        let unit = resolve_unit(&tenant.spec.unit)
            .map_err(|d| problems.push(d))
            .ok();
        if let Some(unit) = &unit {
            check_parent(tenant, parent, unit, &namespace, &mut problems);
        }
        let predecessors = predecessors::resolve_predecessors(tenant, &namespace, &name)
            .map_err(|d| problems.extend(d))
            .unwrap_or_default();
        let values = self.effective_values(tenant, parent);
        problems.extend(self.schema.check(&values));
        let Some(unit) = unit.filter(|_| problems.is_empty()) else {
            return Err(problems);
        };

        let mut predecessors = predecessors;
        predecessors.retain(|p| predecessors::keep_in_place(p, &unit));
        predecessors::check_provinces(tenant, &predecessors, &unit)?;
        let stem = tenant_stem(&unit.slug, &unit.code);
        let label = tenant_label_value(&namespace, &name);
        let key = format!("{namespace}/{name}");
        let context = json!({
            "platform": self.platform_context(),
            "tenant": {"name": name, "namespace": namespace, "stem": stem, "label": label},
            "unit": {
                "level": unit.level.as_str(), "code": unit.code, "name": unit.name, "slug": unit.slug,
                "type": unit.division_type, "provinceCode": unit.province_code,
                "provinceName": unit.province_name, "provinceSlug": unit.province_slug,
                "division": unit.division.as_str(),
                "predecessors": predecessors::predecessors_context(&predecessors),
            },
            "transition": {
                "until": tenant.spec.transition.as_ref().and_then(|t| t.until.as_deref()).unwrap_or_default(),
                "adoptedSecrets": predecessors::of_other_codes(&predecessors, &unit.code).next().is_some()
                    && !self.platform.spec.generated_secrets.is_empty(),
            },
            "values": values.value,
        });
        let scope = policy::Scope {
            platform: &self.name,
            namespace: self.namespace(),
            revision: &self.revision,
            allowed_kinds: &self.platform.spec.allowed_kinds,
            tenant: Some(policy::TenantScope {
                stem: &stem,
                key: &key,
                label: &label,
                unit_code: &unit.code,
                level: unit.level.as_str(),
                province_code: &unit.province_code,
            }),
        };
        let objects = self.render_templates(&self.templates.tenant, context, &scope)?;
        let adopting: Vec<&ResolvedPredecessor> =
            predecessors::of_other_codes(&predecessors, &unit.code).collect();
        let generated_secrets = self.generated_secret_placeholders(&stem, &adopting, &scope)?;
        let hash = desired_hash(&objects, &generated_secrets);
        Ok(RenderedTenant {
            namespace,
            name,
            unit,
            values,
            objects,
            generated_secrets,
            predecessors,
            revision: self.revision.clone(),
            hash,
        })
    }

    /// The tenant's effective values: schema defaults ← national ← parent ← tenant.
    pub fn effective_values(&self, tenant: &Tenant, parent: Option<&Tenant>) -> MergedValues {
        let no_values = Value::Null;
        let mut layers = vec![(Layer::National, &self.platform.spec.defaults)];
        if let Some(p) = parent.filter(|_| tenant.spec.parent.is_some()) {
            let name = p.metadata.name.clone().unwrap_or_default();
            layers.push((
                Layer::Parent(name),
                p.spec.values.as_ref().unwrap_or(&no_values),
            ));
        }
        layers.push((
            Layer::Tenant,
            tenant.spec.values.as_ref().unwrap_or(&no_values),
        ));
        let mut values = merge_layers(layers);
        apply_schema_defaults(&self.platform.spec.tenant_schema, &mut values);
        values
    }

    /// Checks the national defaults (with schema defaults) against the tenant schema.
    pub fn check_defaults(&self) -> Vec<Diagnostic> {
        let mut values = merge_layers([(Layer::National, &self.platform.spec.defaults)]);
        apply_schema_defaults(&self.platform.spec.tenant_schema, &mut values);
        self.schema
            .check(&values)
            .into_iter()
            .filter(|d| d.origin == Origin::Platform)
            .collect()
    }

    fn render_templates(
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

    /// One placeholder per generated secret and, when some predecessors have another unit code
    /// (`adopting`), one `<stem>-<secret>-adopted` per secret with a key
    /// `<predecessor code>.<key>` for each of their values: desired and labelled like every
    /// generated Secret, so it is never pruned while the predecessors are listed.
    fn generated_secret_placeholders(
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

fn check_parent(
    tenant: &Tenant,
    parent: Option<&Tenant>,
    unit: &ResolvedUnit,
    namespace: &str,
    problems: &mut Vec<Diagnostic>,
) {
    let Some(parent_name) = &tenant.spec.parent else {
        return;
    };
    let issue = |reason, en: String, vi: String| {
        Diagnostic::new(reason, Origin::Tenant, "/spec/parent", Text::new(en, vi))
    };
    if unit.level == Level::Province {
        problems.push(issue(
            "InvalidParent",
            format!("a province cannot have a parent (parent: {parent_name})"),
            format!("tỉnh không thể có đơn vị cha (parent: {parent_name})"),
        ));
        return;
    }
    let Some(parent) = parent else {
        problems.push(
            issue(
                "MissingParent",
                format!("parent tenant {parent_name:?} does not exist in namespace {namespace}"),
                format!("không có đơn vị cha {parent_name:?} trong namespace {namespace}"),
            )
            .with_hint(Text::new(
                "declare the province Tenant in the same namespace, or remove spec.parent",
                "khai báo Tenant của tỉnh trong cùng namespace, hoặc bỏ spec.parent",
            )),
        );
        return;
    };
    let pns = parent.metadata.namespace.as_deref().unwrap_or("default");
    if pns != namespace {
        problems.push(issue(
            "InvalidParent",
            format!("parent {parent_name} is in namespace {pns}, not {namespace}"),
            format!("đơn vị cha {parent_name} nằm ở namespace {pns}, không phải {namespace}"),
        ));
    }
    if parent.spec.platform != tenant.spec.platform {
        problems.push(issue(
            "InvalidParent",
            format!(
                "parent {parent_name} is on platform {:?}, not {:?}",
                parent.spec.platform, tenant.spec.platform
            ),
            format!(
                "đơn vị cha {parent_name} thuộc nền tảng {:?}, không phải {:?}",
                parent.spec.platform, tenant.spec.platform
            ),
        ));
    }
    if parent.spec.parent.is_some() || parent.spec.unit.level != Level::Province {
        problems.push(issue(
            "InvalidParent",
            format!("parent {parent_name} must be a province tenant without a parent of its own"),
            format!("đơn vị cha {parent_name} phải là một tỉnh và không có đơn vị cha"),
        ));
        return;
    }
    let same_division =
        parent.spec.unit.division.as_deref().unwrap_or("34") == unit.division.as_str();
    // Mid-reform, an old commune's province is updated in place into its successor (a new
    // division) before the commune itself is retired: that parent still stands for its province.
    let parent_succeeds_its_province = parent.spec.predecessors.iter().any(|p| {
        p.level == Level::Province
            && p.code == unit.province_code
            && p.division.as_deref().unwrap_or("63") == unit.division.as_str()
    });
    if parent_succeeds_its_province && !same_division {
        return;
    }
    if !same_division {
        // Codes of the two divisions overlap (01 is Hà Nội in both): say what differs.
        let parent_division = parent.spec.unit.division.as_deref().unwrap_or("34");
        problems.push(issue(
            "UnitOutsideProvince",
            format!(
                "{} ({}) is a unit of the {}-province division, but its parent {parent_name} is province {} of the {parent_division}-province division; declare both in one division (unit.division)",
                unit.name,
                unit.code,
                unit.division.as_str(),
                parent.spec.unit.code
            ),
            format!(
                "{} ({}) thuộc danh mục {} tỉnh, nhưng đơn vị cha {parent_name} là tỉnh {} của danh mục {parent_division} tỉnh; hãy khai báo cả hai trong cùng một danh mục (unit.division)",
                unit.name,
                unit.code,
                unit.division.as_str(),
                parent.spec.unit.code
            ),
        ));
    } else if parent.spec.unit.code != unit.province_code {
        problems.push(issue(
            "UnitOutsideProvince",
            format!(
                "{} ({}) is in province {} ({}), but its parent {parent_name} is province {}",
                unit.name, unit.code, unit.province_code, unit.province_name, parent.spec.unit.code
            ),
            format!(
                "{} ({}) thuộc tỉnh {} ({}), nhưng đơn vị cha {parent_name} là tỉnh {}",
                unit.name, unit.code, unit.province_code, unit.province_name, parent.spec.unit.code
            ),
        ));
    }
}

/// SHA-256 of the canonical JSON of everything a tenant's output depends on, shortened.
pub fn platform_revision(platform: &Platform) -> String {
    let s = &platform.spec;
    let content = json!({
        "tenantTemplates": s.templates.tenant,
        "sharedTemplates": s.templates.shared,
        "tenantSchema": s.tenant_schema,
        "defaults": s.defaults,
        "allowedKinds": s.allowed_kinds,
        "generatedSecrets": s.generated_secrets,
        "namespace": s.namespace,
    });
    short_hash(&serde_json::to_vec(&content).unwrap_or_default(), 10)
}

/// Hash of a tenant's desired objects.
pub fn desired_hash(objects: &[DesiredObject], secrets: &[DesiredObject]) -> String {
    let all: Vec<&Value> = objects.iter().chain(secrets).map(|o| &o.object).collect();
    short_hash(&serde_json::to_vec(&all).unwrap_or_default(), 16)
}

#[cfg(test)]
mod injection_tests;
#[cfg(test)]
mod tests;
