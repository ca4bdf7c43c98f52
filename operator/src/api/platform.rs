use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::schema_helpers::free_form_object;

/// One shared national platform: its shared workload, the templates every tenant renders, the
/// schema of a tenant's values and the national defaults.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "khaibao.dev",
    version = "v1alpha1",
    kind = "Platform",
    plural = "platforms",
    shortname = "kbp",
    category = "khaibao",
    status = "PlatformStatus",
    printcolumn = r#"{"name":"Display name","type":"string","jsonPath":".spec.displayName"}"#,
    printcolumn = r#"{"name":"Namespace","type":"string","jsonPath":".spec.namespace"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.revision"}"#,
    printcolumn = r#"{"name":"Rollout","type":"string","jsonPath":".status.rollout.phase"}"#,
    printcolumn = r#"{"name":"Tenants","type":"integer","jsonPath":".status.tenants.total"}"#,
    printcolumn = r#"{"name":"Ready","type":"integer","jsonPath":".status.tenants.ready"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PlatformSpec {
    /// Human-readable name, e.g. "Cổng dịch vụ công trực tuyến".
    pub display_name: String,
    /// Namespace the platform's shared workload and every tenant object live in.
    pub namespace: String,
    /// OpenAPI v3 / JSON Schema of a tenant's `values`, with `default`s.
    #[serde(default)]
    #[schemars(schema_with = "free_form_object")]
    pub tenant_schema: Value,
    /// National values every tenant starts from.
    #[serde(default)]
    #[schemars(schema_with = "free_form_object")]
    pub defaults: Value,
    /// Kinds tenant templates may produce (e.g. ConfigMap, Secret, Service, Ingress).
    #[serde(default)]
    pub allowed_kinds: Vec<String>,
    /// Secrets generated once per tenant by the operator (values never rendered or printed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generated_secrets: Vec<GeneratedSecret>,
    /// How a new platform revision reaches the tenants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutPolicy>,
    /// Handlebars templates; `khaibao platform build` fills them from `templates/`.
    #[serde(default)]
    pub templates: PlatformTemplates,
}

/// The platform's templates, by where they are rendered.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct PlatformTemplates {
    /// Rendered once per platform into its namespace (the shared workload).
    #[serde(default)]
    pub shared: Vec<NamedTemplate>,
    /// Rendered once per tenant.
    #[serde(default)]
    pub tenant: Vec<NamedTemplate>,
}

/// A template and the file name it came from (used in error messages).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct NamedTemplate {
    pub name: String,
    pub template: String,
}

/// A Secret the operator creates once per tenant, named `{{name "<name>"}}`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct GeneratedSecret {
    /// Suffix of the Secret's name, e.g. `api-key`.
    pub name: String,
    /// The keys to generate.
    pub keys: Vec<GeneratedKey>,
}

/// One randomly generated key of a generated Secret.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct GeneratedKey {
    pub key: String,
    /// Length in characters (default 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 8, max = 4096))]
    pub length: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<KeyEncoding>,
}

/// Alphabet of a generated key.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KeyEncoding {
    #[default]
    Alphanumeric,
    Hex,
}

/// How a new revision reaches the tenants (waves; see the rollout issue).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutPolicy {
    /// Tenants (namespace/name) updated first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canary: Vec<String>,
    /// Number of canary tenants when none are listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub canary_count: Option<i32>,
    /// Wave size after the canary: a count ("50") or a percentage ("10%").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    /// Failures (count or percentage) that halt the rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<String>,
    /// Seconds a wave may take to become Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub wave_timeout_seconds: Option<i32>,
    #[serde(default)]
    pub paused: bool,
    /// Checks of what the wave's tenants serve, run once its tenants are Ready and before the
    /// next wave (or the rollout's completion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<super::RolloutAnalysis>,
}

/// What the operator observed about a platform. Bounded in size whatever the number of
/// tenants: counts, at most one entry per province, and the few worst failing tenants.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlatformStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The revision tenants are on: the one a rollout moves them from, or the one it completed.
    /// A revision is a content hash of everything a tenant's output depends on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The revision of the shared objects applied last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_revision: Option<String>,
    /// The revision before `revision`: where `khaibao rollout undo` goes back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_revision: Option<String>,
    /// The current (or last) rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
    /// Tenant counts: `total`, `ready`, `failed`, and by level (`province`, `commune`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tenants: BTreeMap<String, i64>,
    /// Tenant counts per province code (a commune counts in its province).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provinces: BTreeMap<String, ProvinceCounts>,
    /// The tenants failing longest (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<FailingTenant>,
    /// Reform plans whose successors are on this platform, by plan id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reforms: Vec<ReformStatus>,
}

/// Progress of one reform plan on a platform: successors adopted, predecessors retired.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReformStatus {
    /// The plan's id (`khaibao.dev/reform-plan` on its successors).
    pub plan: String,
    /// `Adopting` (successors not all Ready), `AwaitingApproval` (retirements held by the
    /// blast-radius guard), `Retiring`, or `Complete`.
    pub phase: String,
    pub successors: i64,
    pub successors_ready: i64,
    pub predecessors_retired: i64,
    pub predecessors_pending: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Tenants of one province on a platform.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ProvinceCounts {
    pub total: i64,
    pub ready: i64,
    pub failed: i64,
}

/// One failing tenant in a platform's status.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FailingTenant {
    /// `namespace/name`.
    pub tenant: String,
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
}

/// A rollout from one platform revision to another, in waves. The wave a tenant is in is a
/// function of its `namespace/name` and the boundaries recorded here, so it never changes while
/// tenants come and go, and a restarted operator continues exactly where it was.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    pub from: String,
    pub to: String,
    /// `Progressing`, `AwaitingApproval`, `Paused`, `Halted`, `Complete` or `Cancelled`.
    pub phase: String,
    /// Canary tenants (`namespace/name`): wave 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canaries: Vec<String>,
    /// The last tenant key of every batch wave after the canaries, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wave_ends: Vec<String>,
    /// Waves in all (canaries included).
    pub waves: i32,
    /// Waves moved to `to` so far.
    pub waves_started: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave_started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Tenants of the platform, moved to `to`, Ready there, and failed there.
    pub total: i64,
    pub on_target: i64,
    pub ready: i64,
    pub failed: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why this rollout waits for approval before any wave (it deletes objects from more
    /// tenants than the guard allows); approved by annotating the Platform
    /// `khaibao.dev/approve-rollout=<to>` (`khaibao approve platform NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_approval: Option<String>,
    /// The analysis of the last wave that had one (`spec.rollout.analysis`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<super::AnalysisStatus>,
}

/// Annotation on a Platform approving the rollout to the revision it names.
pub const ANNOTATION_APPROVE_ROLLOUT: &str = "khaibao.dev/approve-rollout";

impl RolloutStatus {
    pub const PROGRESSING: &'static str = "Progressing";
    pub const PAUSED: &'static str = "Paused";
    /// Waiting for approval before the first wave.
    pub const AWAITING_APPROVAL: &'static str = "AwaitingApproval";
    pub const HALTED: &'static str = "Halted";
    pub const COMPLETE: &'static str = "Complete";
    /// Superseded by the platform going back to `from` (`khaibao rollout undo` mid-rollout).
    pub const CANCELLED: &'static str = "Cancelled";

    /// Whether tenants are still split between `from` and `to`.
    pub fn is_active(&self) -> bool {
        self.phase != Self::COMPLETE && self.phase != Self::CANCELLED
    }
}

/// An immutable snapshot of a platform's content at one revision, named
/// `<platform>-<revision>`. Tenants not yet reached by a rollout keep rendering against the
/// snapshot of the revision they are on; `khaibao rollout undo` copies one back.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "khaibao.dev",
    version = "v1alpha1",
    kind = "PlatformRevision",
    plural = "platformrevisions",
    shortname = "kbpr",
    category = "khaibao",
    printcolumn = r#"{"name":"Platform","type":"string","jsonPath":".spec.platform"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".spec.revision"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PlatformRevisionSpec {
    pub platform: String,
    pub revision: String,
    /// The platform's spec at this revision (without its rollout policy).
    pub content: PlatformSpec,
    /// The renderer epoch the revision renders at (`khaibao::pipeline::RENDERER_EPOCH` of the
    /// operator that made it); absent on snapshots made before epochs existed, which are 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renderer: Option<u32>,
}

impl PlatformRevision {
    /// The snapshot's object name.
    pub fn name_for(platform: &str, revision: &str) -> String {
        format!("{platform}-{revision}")
    }
}
