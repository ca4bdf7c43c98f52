use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::schema_helpers::free_form_object;

/// One administrative unit (a province or a commune) on one platform.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "khaibao.dev",
    version = "v1alpha1",
    kind = "Tenant",
    plural = "tenants",
    namespaced,
    shortname = "kbt",
    category = "khaibao",
    status = "TenantStatus",
    printcolumn = r#"{"name":"Platform","type":"string","jsonPath":".spec.platform"}"#,
    printcolumn = r#"{"name":"Unit code","type":"string","jsonPath":".spec.unit.code"}"#,
    printcolumn = r#"{"name":"Level","type":"string","jsonPath":".spec.unit.level"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.revision"}"#,
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".status.targetRevision"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// Name of the Platform this unit uses.
    pub platform: String,
    /// The administrative unit, as in the official registry.
    pub unit: UnitRef,
    /// Name of the province Tenant (same namespace) a commune inherits values from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Values for the platform's templates, checked against its tenant schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub values: Option<Value>,
    /// Stop reconciling this tenant (its objects stay as they are).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// The tenants this one replaces after a change of administrative units (written by
    /// `khaibao reform plan`). Each is retired, its objects deleted, only once this tenant is
    /// Ready; generated secrets are adopted, never regenerated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predecessors: Vec<Predecessor>,
    /// How long the predecessors' host names and keys keep being honoured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<Transition>,
}

/// A tenant replaced by a successor in an administrative reform.
#[derive(
    Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq, PartialOrd, Ord,
)]
#[serde(rename_all = "camelCase")]
pub struct Predecessor {
    /// `namespace/name` of the replaced Tenant.
    pub tenant: String,
    pub level: Level,
    /// Its unit code, in `division`.
    #[schemars(regex(pattern = r"^[0-9]{2}([0-9]{3})?$"))]
    pub code: String,
    /// Division of `code`: "63" (the default, the list before 1 July 2025) or "34".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(34|63)$"))]
    pub division: Option<String>,
    /// This successor took only part of a divided predecessor: the predecessor's host name and
    /// generated secrets go to the successor where `partial` is false (exactly one).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// A unit of the new division now answers at this predecessor's host name (it has the
    /// same slug in the same province, or it is this successor): no alias is served for it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_taken: bool,
}

/// The transition period of a reform.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    /// Date (`YYYY-MM-DD`) until which predecessors' host names are served and their API keys
    /// accepted; templates see it as `transition.until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    pub until: Option<String>,
}

/// An administrative unit by its official GSO code.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UnitRef {
    pub level: Level,
    /// Official GSO code as a string: 2 digits for a province, 5 for a commune.
    #[schemars(regex(pattern = r"^[0-9]{2}([0-9]{3})?$"))]
    pub code: String,
    /// Official name, e.g. "Thành phố Hà Nội" (the short form "Hà Nội" is accepted for provinces).
    pub name: String,
    /// The province a commune belongs to (2 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{2}$"))]
    pub province_code: Option<String>,
    /// Which official division the code belongs to: "34" (from 1 July 2025, the default) or "63".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(34|63)$"))]
    pub division: Option<String>,
}

/// Level of an administrative unit.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    Deserialize,
    Serialize,
    JsonSchema,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[default]
    Province,
    Commune,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::Commune => "commune",
        }
    }
}

/// What the operator observed about a tenant.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Platform revision the applied objects were rendered from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Platform revision this tenant is assigned by the platform's rollout: what it renders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_revision: Option<String>,
    /// Hash of the applied desired objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_hash: Option<String>,
    /// The objects this tenant owns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ObjectReference>,
    /// Public URL of the tenant, from its Ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Predecessors (`spec.predecessors`) already retired: objects deleted, Tenant gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predecessors_retired: Option<i64>,
    /// Predecessors still waiting: for this tenant to be Ready, or for the plan's approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predecessors_pending: Option<i64>,
}

/// A reference to one object a tenant owns.
#[derive(
    Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq, PartialOrd, Ord,
)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// The resourceVersion khaibao last wrote: a different one means someone else changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}
