//! The portal's Prometheus metrics. Requests are counted by tenant and status code: the tenant
//! label takes only the `khaibao.dev/tenant` values of declared units (unknown hosts share one
//! empty value), so the series are bounded by the fleet whatever hosts clients send. Analysis
//! queries of a rollout select a wave's tenants by this label.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub tenant: String,
    pub code: u16,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Histogram,
    pub sites: Gauge,
    pub broken_sites: Gauge,
    pub updates: Counter<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("portal");
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Histogram::new([0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5]);
        let sites = Gauge::default();
        let broken_sites = Gauge::default();
        let updates = Counter::default();
        registry.register(
            "requests",
            "Requests answered, by tenant (khaibao.dev/tenant; empty for unknown hosts) and status code",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer a request (all tenants)",
            duration.clone(),
        );
        registry.register("sites", "Units served", sites.clone());
        registry.register(
            "broken_sites",
            "Units whose ConfigMap cannot be read (their host answers 500)",
            broken_sites.clone(),
        );
        registry.register(
            "index_updates",
            "ConfigMap and Secret changes applied to the index",
            updates.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            sites,
            broken_sites,
            updates,
        }
    }
}

impl Metrics {
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("encoding to a String");
        out
    }
}
