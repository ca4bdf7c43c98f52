//! The khaibao API (`khaibao.dev/v1alpha1`): types only. No logic lives here beyond serde and
//! schema attributes; merging, validation and rendering live in `pipeline`.

mod analysis;
mod platform;
mod schema_helpers;
mod tenant;
mod tenant_set;

pub use analysis::{
    AnalysisCheckStatus, AnalysisHttpCheck, AnalysisMetric, AnalysisSchedule, AnalysisStatus,
    RolloutAnalysis,
};
pub use platform::{
    ANNOTATION_APPROVE_ROLLOUT, FailingTenant, GeneratedKey, GeneratedSecret, KeyEncoding,
    NamedTemplate, Platform, PlatformRevision, PlatformRevisionSpec, PlatformSpec, PlatformStatus,
    PlatformTemplates, ProvinceCounts, ReformStatus, RolloutPolicy, RolloutStatus,
};
pub use tenant::{
    Level, ObjectReference, Predecessor, Tenant, TenantSpec, TenantStatus, Transition, UnitRef,
};
pub use tenant_set::{TenantSet, TenantSetSpec, TenantSetStatus, UnitSelector};

/// Carried by every successor a reform plan writes: the plan's id (a content hash).
pub const ANNOTATION_REFORM_PLAN: &str = "khaibao.dev/reform-plan";
/// Carried by every successor a reform plan writes: how many tenants the whole plan retires, so
/// the blast-radius guard judges the plan, not the part of it applied so far.
pub const ANNOTATION_REFORM_RETIRES: &str = "khaibao.dev/reform-plan-retires";
/// On a Platform: the id of a reform plan whose retirements are approved
/// (`khaibao approve reform ID --platform P`), when they pass the blast-radius guard.
pub const ANNOTATION_APPROVE_REFORM: &str = "khaibao.dev/approve-reform";

/// The API group of every khaibao resource.
pub const GROUP: &str = "khaibao.dev";
/// The API version served.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as written in manifests.
pub const API_VERSION: &str = "khaibao.dev/v1alpha1";

/// Every CRD khaibao defines, in a stable order (used by `khaibao crds` and the drift test).
pub fn crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    use kube::CustomResourceExt;
    vec![
        Platform::crd(),
        PlatformRevision::crd(),
        Tenant::crd(),
        TenantSet::crd(),
    ]
}

/// Every CRD as one YAML stream: what `khaibao crds` prints and `charts/khaibao/crds/` holds.
pub fn crds_yaml() -> String {
    let values: Vec<serde_json::Value> = crds()
        .iter()
        .map(|c| serde_json::to_value(c).unwrap_or_default())
        .collect();
    crate::yaml::to_yaml_stream(&values)
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_crds_match_the_types() {
        let committed = include_str!("../../../charts/khaibao/crds/khaibao.dev.yaml");
        assert!(
            committed == super::crds_yaml(),
            "charts/khaibao/crds/khaibao.dev.yaml is out of date with the Rust types; \
             regenerate it with `cargo run -p khaibao-cli -- crds > charts/khaibao/crds/khaibao.dev.yaml`"
        );
    }
}
