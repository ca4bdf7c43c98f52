//! Single declarations on the converged fleet: one commune at a time deleted, declared again
//! and timed to its first correct page.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::networking::v1::Ingress;
use khaibao::api::Tenant;
use khaibao::pipeline::tenant_label_value;
use khaibao_e2e::portal::Portal;
use khaibao_e2e::scale::{ReadyTracker, quiesce};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::{Value, json};

use super::pages::Expected;
use super::{OnlineOptions, QUIET, SingleOnline, key};
use crate::fleet::{PLATFORM_NAMESPACE, Rendered};
use crate::runs::apply_tenant;

/// How often a single's host is polled: one host is cheap to poll finer than the harness's
/// 20 ms, which would be half of what a single measures.
const SINGLE_POLL: Duration = Duration::from_millis(5);
/// Appended to a single's name when it is declared again: no registry slug ends so.
const FRESH_SUFFIX: &str = "-redeclared";

/// The communes re-declared one at a time: `count` of them, spread evenly over the fleet.
fn pick_singles(tenants: &[Value], count: usize) -> Vec<usize> {
    let communes: Vec<usize> = tenants
        .iter()
        .enumerate()
        .filter(|(_, t)| t["spec"]["unit"]["level"] == "commune")
        .map(|(i, _)| i)
        .collect();
    let count = count.min(communes.len());
    (0..count)
        .map(|k| communes[k * communes.len() / count])
        .collect()
}

/// Each pick deleted until nothing of it is left, then declared under a fresh name and timed
/// to its first correct page (and to Ready, from the bench's Tenant watch).
pub(super) async fn singles(
    rendered: &Rendered,
    client: &Client,
    portal: &Portal,
    tracker: &ReadyTracker,
    o: &OnlineOptions,
    out: &mut Vec<SingleOnline>,
) -> anyhow::Result<()> {
    let n = rendered.fleet.tenants.len();
    let picks = pick_singles(&rendered.fleet.tenants, o.singles);
    ensure!(
        picks.len() == o.singles,
        "--online-singles {} but the fleet has only {} communes",
        o.singles,
        picks.len()
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), PLATFORM_NAMESPACE);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), PLATFORM_NAMESPACE);
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), PLATFORM_NAMESPACE);
    for (k, &i) in picks.iter().enumerate() {
        let tenant = &rendered.fleet.tenants[i];
        let page = &rendered.pages[i];
        let (ns, name) = key(tenant);
        let api: Api<Tenant> = Api::namespaced(client.clone(), &ns);
        api.delete(&name, &DeleteParams::default())
            .await
            .with_context(|| format!("deleting {ns}/{name}"))?;
        let objects = ListParams::default().labels(&format!(
            "khaibao.dev/tenant={}",
            tenant_label_value(&ns, &name)
        ));
        khaibao_e2e::wait_until(
            &format!("{ns}/{name} and its objects gone"),
            o.timeout,
            async || {
                ensure!(
                    api.get_opt(&name).await?.is_none(),
                    "the Tenant is still there"
                );
                let left = cms.list(&objects).await?.items.len()
                    + secrets.list(&objects).await?.items.len()
                    + ingresses.list(&objects).await?.items.len();
                ensure!(left == 0, "{left} of its objects are left");
                Ok(())
            },
        )
        .await?;
        portal
            .wait_for_page(&page.host, o.timeout, |r| r.status == 404)
            .await
            .with_context(|| format!("{} still served after {ns}/{name} was deleted", page.host))?;
        quiesce(client, QUIET, Duration::from_secs(30)).await?;
        let mut fresh = tenant.clone();
        let fresh_name = format!("{name}{FRESH_SUFFIX}");
        fresh["metadata"]["name"] = json!(fresh_name);
        apply_tenant(client, &fresh).await?;
        let created = Instant::now();
        let (took, gap) = first_page(portal, &page.host, &Expected::of(page), o.timeout)
            .await
            .with_context(|| format!("{ns}/{fresh_name} declared"))?;
        let ready = ready_since(tracker, n, created, o.timeout).await?;
        eprintln!(
            "[bench]   single {}/{}: {ns}/{fresh_name} online in {:.3} s (Ready in {})",
            k + 1,
            picks.len(),
            took.as_secs_f64(),
            ready.map_or("?".into(), |r| format!("{r:.3} s")),
        );
        out.push(SingleOnline {
            tenant: format!("{ns}/{name}"),
            online: took.as_secs_f64(),
            gap: gap.map(|g| g.as_secs_f64()),
            ready,
        });
    }
    Ok(())
}

/// Polls `host` every [`SINGLE_POLL`] until it serves the expected page; returns how long that
/// took and how long before the finding poll the previous one was sent.
async fn first_page(
    portal: &Portal,
    host: &str,
    expected: &Expected,
    timeout: Duration,
) -> anyhow::Result<(Duration, Option<Duration>)> {
    let start = Instant::now();
    let mut last_sent: Option<Instant> = None;
    loop {
        let sent = Instant::now();
        let r = portal.get(host, "/").await?;
        if expected.matches(&r) {
            return Ok((start.elapsed(), last_sent.map(|l| sent - l)));
        }
        if start.elapsed() > timeout {
            let head: String = r.body.chars().take(400).collect();
            anyhow::bail!(
                "{host} did not serve its page within {timeout:?}; last answer {}:\n{head}",
                r.status
            );
        }
        last_sent = Some(sent);
        tokio::time::sleep_until((sent + SINGLE_POLL).into()).await;
    }
}

/// Seconds from `since` until the watch counted `n` Tenants Ready again (the single is the
/// only one not Ready then); `None` if the count never dropped below `n` after `since`.
async fn ready_since(
    tracker: &ReadyTracker,
    n: usize,
    since: Instant,
    timeout: Duration,
) -> anyhow::Result<Option<f64>> {
    khaibao_e2e::wait_until("every Tenant Ready again", timeout, async || {
        let ready = tracker.ready();
        ensure!(ready >= n, "{ready} of {n} Ready");
        Ok(())
    })
    .await?;
    Ok(tracker
        .timeline()
        .into_iter()
        .find(|(t, c)| *t >= since && *c >= n)
        .map(|(t, _)| t.duration_since(since).as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singles_are_communes_spread_over_the_fleet() {
        let t = |level: &str| json!({"spec": {"unit": {"level": level}}});
        let fleet: Vec<Value> = [vec![t("province"); 3], vec![t("commune"); 10]].concat();
        assert_eq!(pick_singles(&fleet, 5), vec![3, 5, 7, 9, 11]);
        assert_eq!(pick_singles(&fleet, 20).len(), 10);
        assert!(pick_singles(&fleet[..3], 2).is_empty());
    }
}
