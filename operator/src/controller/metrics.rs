//! Prometheus metrics: reconciles, failures, durations, API writes by verb, tenants by condition,
//! rollout phase by platform. The chart's alerting rules (`charts/khaibao/prometheus/rules.yaml`)
//! and dashboard read these names: a rename here is a rename there.

use std::collections::BTreeMap;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::api::{ProvinceCounts, RolloutStatus};

/// Every phase `khaibao_rollout_phase` reports, so that each platform has one series per phase
/// and a phase left shows as 0 instead of a series that stops (which an alert reads as stale).
pub const ROLLOUT_PHASES: [&str; 6] = [
    RolloutStatus::PROGRESSING,
    RolloutStatus::PAUSED,
    RolloutStatus::AWAITING_APPROVAL,
    RolloutStatus::HALTED,
    RolloutStatus::COMPLETE,
    RolloutStatus::CANCELLED,
];

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

/// The conditions `khaibao_tenants` counts, per platform.
pub const TENANT_CONDITIONS: [&str; 3] = ["ready", "failed", "total"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabel {
    pub platform: String,
    pub condition: &'static str,
}

/// One province of one platform: at most 63 series per metric and platform (the province codes
/// of either division), however many communes there are.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProvinceLabels {
    pub platform: String,
    pub province: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub platform: String,
    pub phase: &'static str,
}

pub struct Metrics {
    pub registry: Registry,
    pub reconciles: Family<ControllerLabel, Counter>,
    pub failures: Family<ErrorLabels, Counter>,
    pub duration: Family<ControllerLabel, Histogram>,
    pub api_writes: Family<VerbLabel, Counter>,
    pub tenants: Family<ConditionLabel, Gauge>,
    pub rollout_phase: Family<PhaseLabels, Gauge>,
    pub province_total: Family<ProvinceLabels, Gauge>,
    pub province_ready: Family<ProvinceLabels, Gauge>,
    pub province_failed: Family<ProvinceLabels, Gauge>,
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
        let rollout_phase = Family::<PhaseLabels, Gauge>::default();
        let owned_objects = Gauge::default();
        let province_total = Family::<ProvinceLabels, Gauge>::default();
        let province_ready = Family::<ProvinceLabels, Gauge>::default();
        let province_failed = Family::<ProvinceLabels, Gauge>::default();
        registry.register("reconciles", "Reconciles run", reconciles.clone());
        registry.register(
            "province_tenants",
            "Tenants per province code (a commune counts in its province)",
            province_total.clone(),
        );
        registry.register(
            "province_tenants_ready",
            "Ready tenants per province code",
            province_ready.clone(),
        );
        registry.register(
            "province_tenants_failed",
            "Failed tenants per province code",
            province_failed.clone(),
        );
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
            "rollout_phase",
            "1 for the phase of the platform's last rollout, 0 for the others (all 0 before its first)",
            rollout_phase.clone(),
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
            rollout_phase,
            province_total,
            province_ready,
            province_failed,
            owned_objects,
        }
    }
}

impl Metrics {
    pub fn write(&self, verb: &'static str) {
        self.api_writes.get_or_create(&VerbLabel { verb }).inc();
    }

    /// Records `phase` as the phase of `platform`'s rollout (`None`: it never had one).
    pub fn set_rollout_phase(&self, platform: &str, phase: Option<&str>) {
        for p in ROLLOUT_PHASES {
            let label = PhaseLabels {
                platform: platform.to_string(),
                phase: p,
            };
            self.rollout_phase
                .get_or_create(&label)
                .set(i64::from(phase == Some(p)));
        }
    }

    /// Records the platform's counts per province; a province no longer counted (its last
    /// tenant deleted) loses its series.
    pub fn set_provinces(
        &self,
        platform: &str,
        old: &BTreeMap<String, ProvinceCounts>,
        new: &BTreeMap<String, ProvinceCounts>,
    ) {
        for gone in old.keys().filter(|p| !new.contains_key(*p)) {
            self.forget_province(platform, gone);
        }
        for (province, c) in new {
            let label = ProvinceLabels {
                platform: platform.to_string(),
                province: province.clone(),
            };
            self.province_total.get_or_create(&label).set(c.total);
            self.province_ready.get_or_create(&label).set(c.ready);
            self.province_failed.get_or_create(&label).set(c.failed);
        }
    }

    fn forget_province(&self, platform: &str, province: &str) {
        let label = ProvinceLabels {
            platform: platform.to_string(),
            province: province.to_string(),
        };
        self.province_total.remove(&label);
        self.province_ready.remove(&label);
        self.province_failed.remove(&label);
    }

    /// Drops the series of a deleted platform: a halted rollout or failing tenants of a platform
    /// that is gone would otherwise alert until the operator restarts.
    pub fn forget_platform(&self, platform: &str) {
        // Province codes are two digits in both divisions.
        for code in 0..100 {
            self.forget_province(platform, &format!("{code:02}"));
        }
        for p in ROLLOUT_PHASES {
            self.rollout_phase.remove(&PhaseLabels {
                platform: platform.to_string(),
                phase: p,
            });
        }
        for condition in TENANT_CONDITIONS {
            self.tenants.remove(&ConditionLabel {
                platform: platform.to_string(),
                condition,
            });
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provinces_have_one_series_each_and_lose_it_with_their_last_tenant() {
        let m = Metrics::default();
        let counts = |total, ready, failed| ProvinceCounts {
            total,
            ready,
            failed,
        };
        let before = BTreeMap::from([
            ("01".to_string(), counts(127, 126, 1)),
            ("46".to_string(), counts(1, 1, 0)),
        ]);
        m.set_provinces("dichvucong", &BTreeMap::new(), &before);
        let text = m.encode();
        assert!(
            text.contains(r#"khaibao_province_tenants{platform="dichvucong",province="01"} 127"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"khaibao_province_tenants_failed{platform="dichvucong",province="01"} 1"#
            ),
            "{text}"
        );
        let after = BTreeMap::from([("01".to_string(), counts(127, 127, 0))]);
        m.set_provinces("dichvucong", &before, &after);
        let text = m.encode();
        assert!(!text.contains(r#"province="46""#), "{text}");
        m.forget_platform("dichvucong");
        assert!(!m.encode().contains("province=\"01\""));
    }

    #[test]
    fn rollout_phase_has_one_series_per_phase_and_forgetting_a_platform_drops_them() {
        let m = Metrics::default();
        m.set_rollout_phase("dichvucong", Some(RolloutStatus::HALTED));
        m.set_rollout_phase("vanban", None);
        let text = m.encode();
        assert!(
            text.contains(r#"khaibao_rollout_phase{platform="dichvucong",phase="Halted"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"khaibao_rollout_phase{platform="dichvucong",phase="Progressing"} 0"#),
            "{text}"
        );
        let lines = |t: &str, p: &str| {
            t.lines()
                .filter(|l| l.starts_with("khaibao_rollout_phase{") && l.contains(p))
                .map(|l| l.rsplit(' ').next().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(lines(&text, "dichvucong").len(), ROLLOUT_PHASES.len());
        assert!(lines(&text, "vanban").iter().all(|v| v == "0"));

        // The phase moves: the old one drops to 0, not out of the output.
        m.set_rollout_phase("dichvucong", Some(RolloutStatus::CANCELLED));
        let text = m.encode();
        assert!(text.contains(r#"phase="Halted"} 0"#), "{text}");
        assert!(text.contains(r#"phase="Cancelled"} 1"#), "{text}");

        m.tenants
            .get_or_create(&ConditionLabel {
                platform: "dichvucong".into(),
                condition: "failed",
            })
            .set(2);
        m.forget_platform("dichvucong");
        let text = m.encode();
        assert!(!text.contains("dichvucong"), "{text}");
        assert_eq!(lines(&text, "vanban").len(), ROLLOUT_PHASES.len());
    }
}
