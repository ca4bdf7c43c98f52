//! The one render pipeline: `(Platform, parent Tenant?, Tenant) -> desired objects + hash`.
//!
//! merge values → validate against the tenant schema → render (strict, quoted) → parse → policy.
//! It is pure: no I/O, no clock, no cluster, no randomness. The CLI and the operator both call
//! it, so a template that passes `khaibao test` behaves the same in the cluster.

mod collisions;
mod expansion;
mod generated_secrets;
mod naming;
mod objects;
mod parent;
mod policy;
mod predecessors;
mod quote;
mod schema;
mod template;
mod values;

use serde_json::{Value, json};

use crate::api::{Platform, Tenant};
use crate::diagnostics::{Diagnostic, Origin, Text};
use crate::registry::{ResolvedUnit, resolve_unit};
use parent::check_parent;

pub use collisions::{Claims, find_claim_collisions, find_collisions};
pub use expansion::{LABEL_TENANT_SET, expand_tenant_set};
pub use generated_secrets::GENERATED_PLACEHOLDER;
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

/// The renderer's output format, part of what a revision means. Any change to what the
/// pipeline makes of the same platform and tenant (a new label, a renamed field) goes behind
/// a new epoch, and the old epochs keep rendering exactly as before: a fleet converged by an
/// older operator then sees a new platform revision and moves through the platform's waves,
/// while tenants not reached yet keep rendering — byte for byte — what they have (0 writes).
/// `epochs_tests` holds a hash of every epoch's output and fails when one changes.
///
/// - 1: the output up to December 2026.
/// - 2: adds `app.kubernetes.io/part-of` (platform) and `app.kubernetes.io/instance` (tenant)
///   unless the template set them.
pub const RENDERER_EPOCH: u32 = 2;

/// A platform with its templates and schema compiled, ready to render any number of tenants.
pub struct CompiledPlatform {
    pub platform: Platform,
    pub name: String,
    pub revision: String,
    /// The renderer epoch this platform renders at.
    pub epoch: u32,
    schema: TenantSchema,
    templates: template::CompiledTemplates,
}

impl CompiledPlatform {
    /// Compiles the schema and every template at the newest renderer epoch; reports every
    /// problem found.
    pub fn compile(platform: &Platform) -> Result<Self, Vec<Diagnostic>> {
        Self::compile_at(platform, RENDERER_EPOCH)
    }

    /// Compiles for rendering at renderer `epoch` (`1..=RENDERER_EPOCH`): what a pinned
    /// operator, or a snapshot made by an older one, renders.
    pub fn compile_at(platform: &Platform, epoch: u32) -> Result<Self, Vec<Diagnostic>> {
        let name = platform.metadata.name.clone().unwrap_or_default();
        let spec = &platform.spec;
        let mut problems = Vec::new();
        if !(1..=RENDERER_EPOCH).contains(&epoch) {
            problems.push(Diagnostic::new(
                "UnknownRendererEpoch",
                Origin::Platform,
                "",
                Text::new(
                    format!(
                        "renderer epoch {epoch} is not known to this khaibao, which renders epochs 1 to {RENDERER_EPOCH}: \
                         the revision was made by a newer release; upgrade the operator"
                    ),
                    format!(
                        "phiên bản kết xuất {epoch} không được bản khaibao này hỗ trợ (chỉ 1 đến {RENDERER_EPOCH}): \
                         bản sửa đổi do một bản phát hành mới hơn tạo; hãy nâng cấp operator"
                    ),
                ),
            ));
        }
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
                revision: platform_revision_at(platform, epoch),
                epoch,
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
            epoch: self.epoch,
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
            epoch: self.epoch,
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
}

/// The platform's revision at the newest renderer epoch.
pub fn platform_revision(platform: &Platform) -> String {
    platform_revision_at(platform, RENDERER_EPOCH)
}

/// SHA-256 of the canonical JSON of everything a tenant's output depends on, shortened: the
/// platform's content and the renderer epoch. Epoch 1 adds nothing to the hash, so revisions
/// made before epochs existed keep their names.
pub fn platform_revision_at(platform: &Platform, epoch: u32) -> String {
    let s = &platform.spec;
    let mut content = json!({
        "tenantTemplates": s.templates.tenant,
        "sharedTemplates": s.templates.shared,
        "tenantSchema": s.tenant_schema,
        "defaults": s.defaults,
        "allowedKinds": s.allowed_kinds,
        "generatedSecrets": s.generated_secrets,
        "namespace": s.namespace,
    });
    if epoch > 1 {
        content["renderer"] = json!(epoch);
    }
    short_hash(&serde_json::to_vec(&content).unwrap_or_default(), 10)
}

/// Hash of a tenant's desired objects.
pub fn desired_hash(objects: &[DesiredObject], secrets: &[DesiredObject]) -> String {
    let all: Vec<&Value> = objects.iter().chain(secrets).map(|o| &o.object).collect();
    short_hash(&serde_json::to_vec(&all).unwrap_or_default(), 16)
}

#[cfg(test)]
mod epochs_tests;
#[cfg(test)]
mod injection_tests;
#[cfg(test)]
mod tests;
