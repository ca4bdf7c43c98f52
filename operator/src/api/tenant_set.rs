use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::schema_helpers::free_form_object;
use super::tenant::{Predecessor, Transition};

/// One declaration for many tenants: every commune of a province, or a list of units, each
/// becoming a Tenant with values templated from its unit.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "khaibao.dev",
    version = "v1alpha1",
    kind = "TenantSet",
    plural = "tenantsets",
    namespaced,
    shortname = "kbts",
    category = "khaibao",
    status = "TenantSetStatus",
    printcolumn = r#"{"name":"Platform","type":"string","jsonPath":".spec.platform"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".status.desired"}"#,
    printcolumn = r#"{"name":"Ready","type":"integer","jsonPath":".status.ready"}"#,
    printcolumn = r#"{"name":"Conflicts","type":"integer","jsonPath":".status.conflictCount"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TenantSetSpec {
    /// Platform of every tenant made.
    pub platform: String,
    /// Official division of the units: "34" (default) or "63".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(34|63)$"))]
    pub division: Option<String>,
    /// Which units.
    pub units: UnitSelector,
    /// Parent tenant (the province, same namespace) of every commune made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Values of every tenant; strings may use `{{unit.slug}}`, `{{unit.name}}`, `{{unit.code}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub values: Option<Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// The TenantSets (`namespace/name`) this one replaces after a change of administrative
    /// units; each is deleted once every tenant it made is retired into a successor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predecessors: Vec<String>,
    /// Per unit code of this set, the tenants its Tenant replaces (its `spec.predecessors`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unit_predecessors: BTreeMap<String, Vec<Predecessor>>,
    /// Copied to every Tenant made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<Transition>,
}

/// Units from the official registry: listed codes, or every commune of a province, optionally
/// filtered by type or code.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UnitSelector {
    /// Unit codes (2 digits for provinces, 5 for communes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<String>,
    /// Every commune of this province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{2}$"))]
    pub communes_of: Option<String>,
    /// Keep only these types (`xã`, `phường`, `thị trấn`, `đặc khu`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// Leave these codes out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

/// What the operator observed about a TenantSet. Bounded: counts, and at most a few names.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TenantSetStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub desired: i64,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub ready: i64,
    #[serde(default)]
    pub conflict_count: i64,
    /// Up to 10 tenants that could not be made, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Tenants a held prune would delete: the value `khaibao.dev/confirm-prune` must carry
    /// (`khaibao approve tenantset NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_prune: Option<i64>,
}
