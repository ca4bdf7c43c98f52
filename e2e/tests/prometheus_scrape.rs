//! The operator as a monitoring stack reads it: a real Prometheus (built from its Go module by
//! `e2e/build-prometheus.sh`) scrapes the real operator every second as job `khaibao` (the job
//! name the chart's ServiceMonitor gives it) and evaluates the chart's alerting rules
//! (`charts/khaibao/prometheus/rules.yaml`, as the PrometheusRule ships them). What PromQL says
//! here is what an on-call person's Prometheus would say: the tenants Ready, no alert while all
//! is well, the rollout-halted and tenants-failing alerts on a broken template, every dashboard
//! query valid, a deleted platform's series gone, and the operator-down alerts once it dies.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, ensure};
use k8s_openapi::jiff::Timestamp;
use khaibao::api::RolloutStatus;
use khaibao_e2e::prometheus::{Prometheus, PrometheusConfig, Sample, show};
use khaibao_e2e::rollouts::edit_config_template;
use khaibao_e2e::{
    Operator, OperatorOptions, Scope, platform_revision, wait_until, with_cluster, workspace_root,
};
use serde_json::{Value, json};

/// The scrape job, as the chart's ServiceMonitor names it and the rules select it.
const JOB: &str = "khaibao";
/// Every phase the operator reports per platform (operator/src/controller/metrics.rs).
const PHASES: usize = 6;

fn rules_file() -> std::path::PathBuf {
    workspace_root().join("charts/khaibao/prometheus/rules.yaml")
}

/// `khaibao_tenants` of `platform` by condition.
async fn tenants_by_condition(
    prom: &Prometheus,
    platform: &str,
) -> anyhow::Result<BTreeMap<String, f64>> {
    let samples = prom
        .query(&format!(
            "khaibao_tenants{{job={JOB:?}, platform={platform:?}}}"
        ))
        .await?;
    Ok(samples
        .iter()
        .filter_map(|s| Some((s.label("condition")?.to_string(), s.value)))
        .collect())
}

/// `khaibao_rollout_phase` of `platform` by phase.
async fn rollout_phases(
    prom: &Prometheus,
    platform: &str,
) -> anyhow::Result<BTreeMap<String, f64>> {
    let samples = prom
        .query(&format!(
            "khaibao_rollout_phase{{job={JOB:?}, platform={platform:?}}}"
        ))
        .await?;
    Ok(samples
        .iter()
        .filter_map(|s| Some((s.label("phase")?.to_string(), s.value)))
        .collect())
}

/// Whether `ALERTS` has `alert` in `state` (`pending` or `firing`), for `platform` if given.
fn has_alert(alerts: &[Sample], alert: &str, state: &str, platform: Option<&str>) -> bool {
    alerts.iter().any(|a| {
        a.label("alertname") == Some(alert)
            && a.label("alertstate") == Some(state)
            && platform.is_none_or(|p| a.label("platform") == Some(p))
    })
}

async fn wait_alert(
    prom: &Prometheus,
    alert: &str,
    state: &str,
    platform: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<()> {
    wait_until(&format!("{alert} {state}"), timeout, async || {
        let alerts = prom.alerts().await?;
        ensure!(
            has_alert(&alerts, alert, state, platform),
            "ALERTS:\n{}",
            show(&alerts)
        );
        Ok(())
    })
    .await?;
    Ok(())
}

/// No alert at all, pending or firing, once every rule has been evaluated on data newer than
/// now: a rule that fires on a healthy system would page someone for nothing.
async fn assert_no_alerts(prom: &Prometheus, what: &str) -> anyhow::Result<()> {
    prom.wait_rules_evaluated_since(Timestamp::now(), Duration::from_secs(30))
        .await?;
    let alerts = prom.alerts().await?;
    ensure!(
        alerts.is_empty(),
        "{what}: expected no alert, ALERTS has:\n{}",
        show(&alerts)
    );
    Ok(())
}

/// Every query of the chart's Grafana dashboard, with its variables set as Grafana would set
/// them for this job and all platforms, runs on the real Prometheus without a PromQL error, and
/// each but the failures panel (no failure is a good answer) returns series.
async fn check_dashboard_queries(prom: &Prometheus) -> anyhow::Result<()> {
    let path = workspace_root().join("charts/khaibao/grafana/dashboard.json");
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("{} is not JSON", path.display()))?;
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .with_context(|| format!("panel {title:?} has a target without expr"))?;
            let query = expr
                .replace("$job", JOB)
                .replace("$platform", ".*")
                .replace("$__rate_interval", "1m");
            let samples = prom
                .query(&query)
                .await
                .with_context(|| format!("dashboard panel {title:?}"))?;
            ensure!(
                !samples.is_empty() || title == "Reconcile failures",
                "dashboard panel {title:?}: {query} returned no series"
            );
            checked += 1;
        }
    }
    ensure!(checked >= 10, "only {checked} dashboard queries found");
    Ok(())
}

#[test]
fn prometheus_reads_the_operator_and_the_chart_alerts_fire_when_they_should() {
    with_cluster(async |cp| {
        let mut op = Operator::start(cp, OperatorOptions::new("e2e-prometheus"))?;
        op.wait_ready(Duration::from_secs(60)).await?;
        let s = Scope::new(cp.client().await?, "prom");
        let platform = s.platform.clone();
        let mut manifest = s.platform_manifest()?;
        // One canary and no failure allowed: a broken revision halts after the canary.
        manifest["spec"]["rollout"] = json!({"canaryCount": 1, "batch": "50%", "maxFailures": "0", "waveTimeoutSeconds": 120});
        let original = manifest.clone();
        s.apply_platform(&manifest).await?;
        let tenants = s.provinces(&["01", "46", "79"])?;
        s.create_tenants(&tenants).await?;
        s.wait_ready(3, Duration::from_secs(90)).await?;

        let config = PrometheusConfig::new()
            .scrape(JOB, &[op.metrics_addr()])
            .rule_file(rules_file());
        let prom = Prometheus::start(&cp.state_dir.join("prometheus"), config).await?;
        prom.wait_for_target_up(JOB, Duration::from_secs(30))
            .await?;
        let up = prom.query(&format!("up{{job={JOB:?}}} == 1")).await?;
        ensure!(up.len() == 1, "up == 1:\n{}", show(&up));

        // The tenant gauge says what the cluster says: the three declared tenants Ready.
        wait_until(
            "Prometheus reading 3 Ready tenants",
            Duration::from_secs(30),
            async || {
                let by = tenants_by_condition(&prom, &platform).await?;
                let want = BTreeMap::from([
                    ("failed".to_string(), 0.0),
                    ("ready".to_string(), 3.0),
                    ("total".to_string(), 3.0),
                ]);
                ensure!(by == want, "khaibao_tenants by condition: {by:?}");
                Ok(())
            },
        )
        .await?;
        // By province: one series per province code, each with its one Ready tenant.
        let ready = prom
            .query(&format!(
                "khaibao_province_tenants_ready{{job={JOB:?}, platform={platform:?}}}"
            ))
            .await?;
        ensure!(
            ready.len() == 3
                && ready
                    .iter()
                    .all(|s| s.value == 1.0 && s.label("province").is_some()),
            "khaibao_province_tenants_ready:\n{}",
            show(&ready)
        );
        // No rollout yet (the platform's first revision): a series per phase, every one 0.
        let phases = rollout_phases(&prom, &platform).await?;
        ensure!(
            phases.len() == PHASES && phases.values().all(|v| *v == 0.0),
            "rollout phases before any rollout: {phases:?}"
        );
        assert_no_alerts(&prom, "healthy operator, 3 Ready tenants").await?;

        // A key the API server refuses: the canary's apply fails and the rollout halts.
        let mut broken = manifest.clone();
        edit_config_template(&mut broken, "  \"bad key!\": broken")?;
        let rev2 = platform_revision(&broken)?;
        s.apply_platform(&broken).await?;
        wait_alert(
            &prom,
            "KhaibaoRolloutHalted",
            "firing",
            Some(&platform),
            Duration::from_secs(90),
        )
        .await?;
        let rollout = s
            .get_platform()
            .await?
            .and_then(|p| p.status?.rollout)
            .context("no rollout in the platform's status")?;
        ensure!(
            rollout.to == rev2 && rollout.phase == RolloutStatus::HALTED,
            "Prometheus says halted, the platform says {rollout:?}"
        );
        // The canary is not Ready: KhaibaoTenantsFailing waits out its `for` (pending).
        wait_alert(
            &prom,
            "KhaibaoTenantsFailing",
            "pending",
            Some(&platform),
            Duration::from_secs(60),
        )
        .await?;
        let failed = tenants_by_condition(&prom, &platform).await?;
        ensure!(
            failed.get("failed") == Some(&1.0),
            "one canary failing, khaibao_tenants says {failed:?}"
        );

        // Back to the first revision: the rollout is cancelled, the canary returns, and both
        // alerts resolve by themselves.
        s.apply_platform(&original).await?;
        wait_until(
            "the rollout cancelled and the canary Ready",
            Duration::from_secs(90),
            async || {
                let phases = rollout_phases(&prom, &platform).await?;
                let by = tenants_by_condition(&prom, &platform).await?;
                ensure!(
                    phases.get(RolloutStatus::CANCELLED) == Some(&1.0)
                        && phases.get(RolloutStatus::HALTED) == Some(&0.0)
                        && by.get("ready") == Some(&3.0)
                        && by.get("failed") == Some(&0.0),
                    "rollout phases {phases:?}, tenants {by:?}"
                );
                Ok(())
            },
        )
        .await?;
        assert_no_alerts(&prom, "rollout cancelled, tenants Ready again").await?;
        check_dashboard_queries(&prom).await?;

        // A deleted platform's series leave the scrape, so that nothing alerts on a platform
        // that is gone.
        s.cleanup().await?;
        wait_until(
            "the deleted platform's series gone",
            Duration::from_secs(30),
            async || {
                let left = prom
                    .query(&format!("{{job={JOB:?}, platform={platform:?}}}"))
                    .await?;
                ensure!(left.is_empty(), "still scraped:\n{}", show(&left));
                Ok(())
            },
        )
        .await?;

        // The operator dies: its `up` drops to 0 and both operator alerts go pending.
        op.kill9()?;
        wait_alert(
            &prom,
            "KhaibaoOperatorDown",
            "pending",
            None,
            Duration::from_secs(30),
        )
        .await?;
        wait_alert(
            &prom,
            "KhaibaoOperatorReplicaDown",
            "pending",
            None,
            Duration::from_secs(30),
        )
        .await?;
        let up = prom.query(&format!("up{{job={JOB:?}}}")).await?;
        ensure!(
            up.len() == 1 && up[0].value == 0.0,
            "up after kill -9:\n{}",
            show(&up)
        );
        Ok(())
    });
}
