//! Rollouts gated by what is served: the real portal serves the tenants, a real Prometheus
//! scrapes it, and `spec.rollout.analysis` checks each wave (a PromQL query over the wave's
//! tenants and an HTTP request per sampled tenant) before the next one moves. A template change
//! whose objects all apply but whose pages fail halts after the canary by analysis, the other
//! tenants untouched; a healthy change rolls through every wave.

use std::time::Duration;

use anyhow::{Context, ensure};
use khaibao::api::{AnalysisStatus, RolloutStatus};
use khaibao_e2e::portal::Portal;
use khaibao_e2e::prometheus::{Prometheus, PrometheusConfig};
use khaibao_e2e::rollouts::{edit_config_template, khaibao_stdout, rollout, wait_phase};
use khaibao_e2e::{platform_revision, tenant_ready, wait_until, with_shared};
use serde_json::json;

const PROVINCES: [&str; 4] = ["01", "46", "79", "92"];

/// The wave's server errors over the last 5 s (a real platform would look at a minute or more;
/// the test keeps it short so that the broken rollout's errors age out quickly).
const SERVER_ERRORS: &str = "sum(increase(portal_requests_total{tenant=~\"{{tenants.regex}}\",code=~\"5..\"}[5s])) or vector(0)";

fn host_of(slug: &str) -> String {
    format!("{slug}.dichvucong.gov.vn")
}

/// A template line that makes the portal refuse the page (`aliases` must be host names) while
/// the API server accepts the ConfigMap: every object applies, no page serves.
const BREAKS_THE_PAGE: &str = "  aliases: \"không phải tên miền!\"";
/// A harmless line: the portal ignores keys it does not know.
const HARMLESS: &str = "  footer: Bản quyền thuộc Cổng dịch vụ công quốc gia";

#[test]
fn analysis_halts_a_rollout_whose_canary_page_fails_and_passes_a_healthy_one() {
    with_shared(async |env| {
        let s = env.cp.scope("analysis").await?;
        let portal = Portal::start(&env.cp, "analysis", &s.namespace, &s.platform).await?;
        let prom = Prometheus::start(
            &env.cp.state_dir.join("prometheus-analysis"),
            PrometheusConfig::new().scrape("portal", &[portal.addr()]),
        )
        .await?;
        prom.wait_for_target_up("portal", Duration::from_secs(60))
            .await?;

        let mut manifest = s.platform_manifest()?;
        manifest["spec"]["rollout"] = json!({
            "canaryCount": 1, "batch": "50%", "maxFailures": "0", "waveTimeoutSeconds": 120,
            "analysis": {
                "prometheus": prom.url(),
                "metrics": [{
                    "name": "server-errors",
                    "query": SERVER_ERRORS,
                    "successCondition": "result < 1",
                    "intervalSeconds": 2, "count": 2,
                }],
                "http": [{
                    "name": "home-page",
                    "url": format!("http://{}/", portal.addr()),
                    "host": "{{unit.slug}}.{{values.domain}}",
                    "bodyContains": "{{unit.name}}",
                    "intervalSeconds": 1, "count": 2, "timeoutSeconds": 5,
                }],
            },
        });
        s.apply_platform(&manifest).await?;
        let tenants = s.provinces(&PROVINCES)?;
        s.create_tenants(&tenants).await?;
        s.wait_ready(PROVINCES.len(), Duration::from_secs(90))
            .await?;
        let slugs: Vec<String> = tenants
            .iter()
            .map(|t| {
                t["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        for slug in &slugs {
            portal
                .wait_for_page(&host_of(slug), Duration::from_secs(30), |r| r.status == 200)
                .await?;
        }
        let rev1 = platform_revision(&manifest)?;

        // A change that breaks the page: the canary moves, its objects apply and it is Ready,
        // then the analysis sees its page fail and halts the rollout.
        let mut broken = manifest.clone();
        edit_config_template(&mut broken, BREAKS_THE_PAGE)?;
        let rev2 = platform_revision(&broken)?;
        s.apply_platform(&broken).await?;
        let r = wait_phase(&s, &rev2, RolloutStatus::HALTED, Duration::from_secs(90)).await?;
        let analysis = r
            .analysis
            .clone()
            .context("no analysis in the halted rollout")?;
        ensure!(
            analysis.wave == 1 && analysis.phase == AnalysisStatus::FAILED,
            "analysis {analysis:?}"
        );
        let message = r.message.clone().unwrap_or_default();
        ensure!(
            message.contains("analysis of wave 1/")
                && message.contains("home-page")
                && message.contains("answered 500"),
            "halt message: {message}"
        );
        ensure!(r.waves_started == 1 && r.on_target == 1, "{r:?}");
        let canary = r.canaries.first().cloned().unwrap_or_default();
        let canary_slug = canary.rsplit('/').next().unwrap_or_default().to_string();
        for t in s.tenants().await? {
            let key = format!(
                "{}/{}",
                t.metadata.namespace.as_deref().unwrap_or_default(),
                t.metadata.name.as_deref().unwrap_or_default()
            );
            let revision = t.status.as_ref().and_then(|s| s.revision.clone());
            if key == canary {
                ensure!(
                    revision.as_deref() == Some(rev2.as_str()) && tenant_ready(&t),
                    "the canary should be Ready on the new revision (its objects apply): {key}"
                );
            } else {
                ensure!(
                    revision.as_deref() == Some(rev1.as_str()),
                    "{key} left revision 1 during a halted rollout"
                );
            }
        }
        for slug in &slugs {
            let r = portal.get(&host_of(slug), "/").await?;
            let want = if *slug == canary_slug { 500 } else { 200 };
            ensure!(
                r.status == want,
                "{slug} answers {} (expected {want})",
                r.status
            );
        }
        // Halted for good: no wave starts while the analysis stays failed.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let (_, again) = rollout(&s).await?;
        ensure!(
            again.phase == RolloutStatus::HALTED && again.waves_started == 1,
            "{again:?}"
        );
        let status = khaibao_stdout(&env.cp, &["rollout", "status", &s.platform])?;
        ensure!(
            status.contains("analysis")
                && status.contains("home-page")
                && status.contains("Failed"),
            "rollout status shows no analysis:\n{status}"
        );

        // Back to revision 1 (the rollout is cancelled), then a healthy change: every wave is
        // analysed and passes, and the rollout completes.
        s.apply_platform(&manifest).await?;
        wait_phase(&s, &rev2, RolloutStatus::CANCELLED, Duration::from_secs(60)).await?;
        s.wait_ready(PROVINCES.len(), Duration::from_secs(60))
            .await?;
        // The broken canary's 500s must have aged out of the query's window first.
        wait_until(
            "no server errors in the last 5 s",
            Duration::from_secs(60),
            async || {
                let samples = prom
                    .query("sum(increase(portal_requests_total{code=~\"5..\"}[5s])) or vector(0)")
                    .await?;
                ensure!(
                    samples.iter().all(|s| s.value == 0.0),
                    "still {}",
                    khaibao_e2e::prometheus::show(&samples)
                );
                Ok(())
            },
        )
        .await?;
        let mut healthy = manifest.clone();
        edit_config_template(&mut healthy, HARMLESS)?;
        let rev3 = platform_revision(&healthy)?;
        s.apply_platform(&healthy).await?;
        let r = wait_phase(&s, &rev3, RolloutStatus::COMPLETE, Duration::from_secs(180)).await?;
        let analysis = r
            .analysis
            .clone()
            .context("no analysis in the completed rollout")?;
        ensure!(
            analysis.phase == AnalysisStatus::SUCCESSFUL && analysis.wave == r.waves,
            "last analysis {analysis:?} of {} waves",
            r.waves
        );
        for c in &analysis.checks {
            ensure!(c.successes >= 2 && c.failures == 0, "check {c:?}");
        }
        for t in s.tenants().await? {
            ensure!(
                t.status.as_ref().and_then(|s| s.revision.as_deref()) == Some(rev3.as_str()),
                "{:?} not on revision 3",
                t.metadata.name
            );
        }
        // The query really read the portal's series: one per tenant and code, as Prometheus has
        // them.
        let samples = prom
            .query("count(portal_requests_total{code=\"200\"})")
            .await?;
        ensure!(
            !samples.is_empty(),
            "Prometheus has no portal_requests_total"
        );
        drop(prom);
        drop(portal);
        s.cleanup().await
    });
}

/// Bad input to an analysis: a Prometheus that is down holds the wave (it says so, and nothing
/// counts as healthy); a query that does not parse fails the analysis and halts the rollout.
#[test]
fn a_prometheus_down_holds_the_wave_and_a_query_that_does_not_parse_halts_it() {
    with_shared(async |env| {
        let s = env.cp.scope("analysis-bad").await?;
        let portal = Portal::start(&env.cp, "analysis-bad", &s.namespace, &s.platform).await?;
        let prom = Prometheus::start(
            &env.cp.state_dir.join("prometheus-analysis-bad"),
            PrometheusConfig::new().scrape("portal", &[portal.addr()]),
        )
        .await?;
        // Nothing listens on port 9 of 127.0.0.1 (discard is not served here).
        let analysis = |prometheus: &str, query: &str| {
            json!({
                "canaryCount": 1, "batch": "100%", "maxFailures": "0",
                "analysis": {
                    "prometheus": prometheus,
                    "metrics": [{"name": "server-errors", "query": query,
                                 "successCondition": "result < 1", "intervalSeconds": 1, "count": 2}],
                },
            })
        };
        let mut manifest = s.platform_manifest()?;
        manifest["spec"]["rollout"] = analysis("http://127.0.0.1:9", SERVER_ERRORS);
        s.apply_platform(&manifest).await?;
        s.create_tenants(&s.provinces(&["01", "46"])?).await?;
        s.wait_ready(2, Duration::from_secs(90)).await?;

        edit_config_template(&mut manifest, HARMLESS)?;
        let rev2 = platform_revision(&manifest)?;
        s.apply_platform(&manifest).await?;
        wait_until(
            "the wave to wait for Prometheus",
            Duration::from_secs(60),
            async || {
                let (_, r) = rollout(&s).await?;
                let m = r.message.clone().unwrap_or_default();
                ensure!(
                    r.to == rev2
                        && r.phase == RolloutStatus::PROGRESSING
                        && m.contains("unreachable")
                        && m.contains("the wave waits"),
                    "{} at wave {}: {m}",
                    r.phase,
                    r.waves_started
                );
                Ok(())
            },
        )
        .await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (_, r) = rollout(&s).await?;
        let check = r
            .analysis
            .as_ref()
            .and_then(|a| a.checks.first())
            .context("no check status")?;
        ensure!(
            r.waves_started == 1
                && check.successes == 0
                && check.failures == 0
                && check.inconclusive >= 2,
            "a Prometheus that is down must neither pass nor fail the wave: {r:?}"
        );

        // The address fixed but the query broken (policy edits do not start a new rollout).
        manifest["spec"]["rollout"] = analysis(&prom.url(), "sum(portal_requests_total");
        s.apply_platform(&manifest).await?;
        let r = wait_phase(&s, &rev2, RolloutStatus::HALTED, Duration::from_secs(60)).await?;
        let message = r.message.clone().unwrap_or_default();
        ensure!(
            message.contains("Prometheus refused the query") && message.contains("bad_data"),
            "halt message: {message}"
        );
        ensure!(r.waves_started == 1, "{r:?}");
        drop(prom);
        drop(portal);
        s.cleanup().await
    });
}
