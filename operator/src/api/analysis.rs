//! Rollouts gated by what is served: checks run on each wave once its tenants are Ready, before
//! the next wave moves, in the conventions of Argo Rollouts' AnalysisTemplate and Flagger's
//! metric templates (a query, a success condition, interval, count, failure limit). A failed
//! analysis is that wave's failure and halts the rollout like any other.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `spec.rollout.analysis`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysis {
    /// Base address of the Prometheus HTTP API (`http://prometheus.monitoring:9090`), for
    /// `metrics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<String>,
    /// Prometheus queries, one per measurement per wave (never one per tenant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<AnalysisMetric>,
    /// HTTP checks, one request per sampled tenant of the wave per measurement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<AnalysisHttpCheck>,
}

/// How often a check is measured and what decides it (Argo Rollouts' `interval`, `count`,
/// `failureLimit`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisSchedule {
    /// Seconds between two measurements (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub interval_seconds: Option<i32>,
    /// Successful measurements that pass the check (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub count: Option<i32>,
    /// Failed measurements tolerated; one more fails the analysis (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub failure_limit: Option<i32>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisMetric {
    pub name: String,
    /// PromQL, a template over the wave: `{{tenants.regex}}` (the wave's `khaibao.dev/tenant`
    /// labels as an anchored regex alternative), `{{tenants.labels}}` (comma-separated),
    /// `{{tenants.count}}`, `{{wave}}`, `{{revision}}`, `{{platform.name}}`.
    pub query: String,
    /// `result < 0.05`: the query's value (a scalar, or each sample of a vector) compared with
    /// a number by `<`, `<=`, `>`, `>=`, `==` or `!=`. An empty result fails the measurement
    /// (write `… or vector(0)` where no data means healthy).
    pub success_condition: String,
    #[serde(flatten)]
    pub schedule: AnalysisSchedule,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisHttpCheck {
    pub name: String,
    /// `http://` address to request, a template over each tenant: `{{tenant.name}}`,
    /// `{{tenant.namespace}}`, `{{tenant.label}}`, `{{unit.slug}}`, `{{unit.level}}`,
    /// `{{unit.provinceSlug}}`, `{{unit.code}}`, `{{unit.name}}`, `{{values.…}}`.
    pub url: String,
    /// The `Host` header, a template over each tenant like `url` (default: the URL's host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Expected status code (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 599))]
    pub expect_status: Option<i32>,
    /// Text the body must contain, a template over each tenant (e.g. `{{unit.name}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// Seconds one request may take (default 5); a timeout fails the measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 60))]
    pub timeout_seconds: Option<i32>,
    /// Tenants of the wave requested per measurement, spread over the wave (default 10), so a
    /// wave of a thousand communes costs ten requests per interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub max_tenants: Option<i32>,
    #[serde(flatten)]
    pub schedule: AnalysisSchedule,
}

/// The analysis of one wave, in the Platform's `status.rollout.analysis`: persisted after
/// every measurement, so a restarted operator continues it rather than starting over.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisStatus {
    /// The wave analysed (1-based, as `wavesStarted` counts).
    pub wave: i32,
    /// `Running`, `Successful` or `Failed`.
    pub phase: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<AnalysisCheckStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl AnalysisStatus {
    pub const RUNNING: &'static str = "Running";
    pub const SUCCESSFUL: &'static str = "Successful";
    pub const FAILED: &'static str = "Failed";
}

/// One check's measurements so far in this wave's analysis.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisCheckStatus {
    pub name: String,
    /// `metric` or `http`.
    pub kind: String,
    pub successes: i32,
    pub failures: i32,
    /// Measurements that could not be taken (Prometheus unreachable): counted neither way; the
    /// wave waits.
    #[serde(default)]
    pub inconclusive: i32,
    /// The last measured value (a query's result, or the last status code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_at: Option<Time>,
}
