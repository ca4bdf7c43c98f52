//! Prometheus metrics: reconciles, failures, durations, API writes by verb, tenants by condition.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    pub controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub controller: &'static str,
    pub error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabel {
    pub verb: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabel {
    pub platform: String,
    pub condition: &'static str,
}

pub struct Metrics {
    pub registry: Registry,
    pub reconciles: Family<ControllerLabel, Counter>,
    pub failures: Family<ErrorLabels, Counter>,
    pub duration: Family<ControllerLabel, Histogram>,
    pub api_writes: Family<VerbLabel, Counter>,
    pub tenants: Family<ConditionLabel, Gauge>,
    pub owned_objects: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("khaibao");
        let reconciles = Family::<ControllerLabel, Counter>::default();
        let failures = Family::<ErrorLabels, Counter>::default();
        let duration = Family::<ControllerLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0])
        });
        let api_writes = Family::<VerbLabel, Counter>::default();
        let tenants = Family::<ConditionLabel, Gauge>::default();
        let owned_objects = Gauge::default();
        registry.register("reconciles", "Reconciles run", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that failed",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            duration.clone(),
        );
        registry.register(
            "api_writes",
            "API writes made by the operator, by verb",
            api_writes.clone(),
        );
        registry.register(
            "tenants",
            "Tenants by condition (from the last platform reconcile)",
            tenants.clone(),
        );
        registry.register(
            "owned_objects",
            "Objects in the owned-object index",
            owned_objects.clone(),
        );
        Metrics {
            registry,
            reconciles,
            failures,
            duration,
            api_writes,
            tenants,
            owned_objects,
        }
    }
}

impl Metrics {
    pub fn write(&self, verb: &'static str) {
        self.api_writes.get_or_create(&VerbLabel { verb }).inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
