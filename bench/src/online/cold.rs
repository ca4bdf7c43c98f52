//! Cold convergence: the whole fleet applied, each tenant's host polled to its first correct
//! page.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::stream::{FuturesUnordered, StreamExt};
use khaibao::api::Tenant;
use khaibao_e2e::portal::Portal;
use khaibao_e2e::scale::{ProcStats, ReadyTracker, quiesce};
use khaibao_e2e::{ControlPlane, conditions_summary};
use kube::Client;
use kube::api::Api;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::pages::{Expected, Pages, watch_pages};
use super::{ColdOnline, OnlineOptions, QUIET, key};
use crate::fleet::{PageKey, Rendered};
use crate::runs::{apply_tenant, cpu_now};

/// How often a host whose page ConfigMap has been seen is polled: the e2e harness's cadence.
const POLL: Duration = Duration::from_millis(20);
/// Requests to the portal in flight at most.
const POLL_IN_FLIGHT: usize = 32;
/// The 20 ms cadence stretches beyond this many polls a second in total, so a portal lagging
/// behind thousands of ConfigMaps is not also buried under the bench's requests.
const HOT_POLLS_PER_SECOND: f64 = 1_000.0;
/// What the safety sweep of the hosts whose ConfigMap is not seen yet adds at most.
const SWEEP_POLLS_PER_SECOND: f64 = 250.0;

/// What the cold phase's pollers share.
struct Cold<'a> {
    client: Client,
    portal: &'a Portal,
    pages: Arc<Pages>,
    apply_slots: Semaphore,
    poll_slots: Semaphore,
    sweep: Duration,
    deadline: Instant,
}

/// One tenant of the cold phase, from its create call to its page (or the deadline).
#[derive(Debug)]
struct Outcome {
    index: usize,
    created: Instant,
    online: Option<Instant>,
    polls: u64,
    errors: u64,
    by_sweep: bool,
    at_first_poll: bool,
    gap: Option<Duration>,
    last_answer: String,
}

async fn declare_and_watch(
    index: usize,
    tenant: &Value,
    page: &PageKey,
    c: &Cold<'_>,
) -> anyhow::Result<Outcome> {
    let expected = Expected::of(page);
    let slot = c.apply_slots.acquire().await?;
    apply_tenant(&c.client, tenant).await?;
    drop(slot);
    let created = Instant::now();
    let mut out = Outcome {
        index,
        created,
        online: None,
        polls: 0,
        errors: 0,
        by_sweep: false,
        at_first_poll: false,
        gap: None,
        last_answer: "never polled".into(),
    };
    let mut last_sent: Option<Instant> = None;
    let mut hot_polls = 0u64;
    loop {
        let (seen, hot) = c.pages.seen(index);
        if seen {
            let every = POLL.max(Duration::from_secs_f64(hot as f64 / HOT_POLLS_PER_SECOND));
            if let Some(last) = last_sent {
                tokio::time::sleep_until((last + every).into()).await;
            }
        } else {
            tokio::select! {
                _ = c.pages.wake[index].notified() => {}
                _ = tokio::time::sleep(c.sweep) => {}
            }
        }
        // The watch may have seen the ConfigMap while this poller slept on the sweep.
        let (seen, _) = c.pages.seen(index);
        if Instant::now() > c.deadline {
            return Ok(out);
        }
        let permit = c.poll_slots.acquire().await?;
        let sent = Instant::now();
        let reply = c.portal.get(&page.host, "/").await;
        drop(permit);
        out.polls += 1;
        if seen {
            hot_polls += 1;
        }
        match reply {
            Ok(r) if expected.matches(&r) => {
                out.online = Some(Instant::now());
                out.by_sweep = !seen;
                out.at_first_poll = seen && hot_polls == 1;
                out.gap = last_sent.filter(|_| !out.at_first_poll).map(|l| sent - l);
                c.pages.mark_online(index);
                return Ok(out);
            }
            Ok(r) => {
                let head: String = r.body.chars().take(120).collect();
                out.last_answer = format!("{} {head:?}", r.status);
            }
            Err(e) => {
                out.errors += 1;
                out.last_answer = format!("{e:#}");
            }
        }
        last_sent = Some(sent);
    }
}

/// The whole fleet applied on the empty platform, each tenant timed to its first correct page.
pub(super) async fn cold(
    rendered: &Rendered,
    cp: &ControlPlane,
    operator: Option<u32>,
    client: &Client,
    portal: &Portal,
    tracker: &ReadyTracker,
    o: &OnlineOptions,
) -> anyhow::Result<ColdOnline> {
    let tenants = &rendered.fleet.tenants;
    let n = tenants.len();
    let pages = Arc::new(Pages::new(&rendered.pages));
    let (watch, listed) = watch_pages(client.clone(), pages.clone());
    listed
        .await
        .context("the bench's ConfigMap watch ended before its first list")?;
    // The Tenant watch lists nothing yet; a moment lets it reach its watch, as in
    // runs/khaibao_run.rs.
    tokio::time::sleep(Duration::from_millis(500)).await;
    quiesce(client, QUIET, Duration::from_secs(30)).await?;
    let portal_cpu = || {
        portal
            .pid()
            .and_then(|p| ProcStats::read(p).ok())
            .map_or(0.0, |s| s.cpu_seconds)
    };
    let (c0, p0) = (cpu_now(cp, operator), portal_cpu());
    let start = Instant::now();
    let ctx = Cold {
        client: client.clone(),
        portal,
        pages: pages.clone(),
        apply_slots: Semaphore::new(o.tenant_concurrency.max(1)),
        poll_slots: Semaphore::new(POLL_IN_FLIGHT),
        sweep: Duration::from_secs_f64((n as f64 / SWEEP_POLLS_PER_SECOND).max(1.0)),
        deadline: start + o.timeout,
    };
    let mut all: FuturesUnordered<_> = tenants
        .iter()
        .zip(&rendered.pages)
        .enumerate()
        .map(|(i, (t, p))| declare_and_watch(i, t, p, &ctx))
        .collect();
    let mut outcomes = Vec::with_capacity(n);
    let mut progress = tokio::time::interval(Duration::from_secs(10));
    progress.tick().await;
    loop {
        tokio::select! {
            next = all.next() => match next {
                Some(outcome) => outcomes.push(outcome?),
                None => break,
            },
            _ = progress.tick() => eprintln!(
                "[bench]   online after {:.0} s: {} of {n} pages, {} Tenants Ready",
                start.elapsed().as_secs_f64(),
                pages.online(),
                tracker.ready(),
            ),
        }
    }
    drop(all);
    let (c1, p1) = (cpu_now(cp, operator), portal_cpu());
    drop(watch);
    let late: Vec<&Outcome> = outcomes.iter().filter(|x| x.online.is_none()).collect();
    if !late.is_empty() {
        let mut examples = Vec::new();
        for x in late.iter().take(5) {
            let (ns, name) = key(&tenants[x.index]);
            let seen = pages.seen(x.index).0;
            let status = match Api::<Tenant>::namespaced(client.clone(), &ns)
                .get_opt(&name)
                .await
            {
                Ok(Some(t)) => conditions_summary(&t),
                Ok(None) => "no Tenant".into(),
                Err(e) => format!("cannot read the Tenant: {e}"),
            };
            examples.push(format!(
                "{ns}/{name} at {}: page ConfigMap {}seen by the bench's watch, {} polls, last answer {}; Tenant: {status}",
                rendered.pages[x.index].host,
                if seen { "" } else { "never " },
                x.polls,
                x.last_answer,
            ));
        }
        anyhow::bail!(
            "{} of {n} pages not online after {:?}, e.g.:\n{}",
            late.len(),
            o.timeout,
            examples.join("\n")
        );
    }
    let all_ready = tracker.wait(n, o.timeout).await?;
    let since = |t: Instant| t.saturating_duration_since(start).as_secs_f64();
    let online_at = |x: &Outcome| x.online.unwrap_or(x.created);
    Ok(ColdOnline {
        online: outcomes
            .iter()
            .map(|x| online_at(x).duration_since(x.created).as_secs_f64())
            .collect(),
        applied_at: outcomes
            .iter()
            .map(|x| since(x.created))
            .fold(0.0, f64::max),
        last_online_at: outcomes
            .iter()
            .map(|x| since(online_at(x)))
            .fold(0.0, f64::max),
        all_ready_at: since(all_ready),
        polls: outcomes.iter().map(|x| x.polls).sum(),
        poll_errors: outcomes.iter().map(|x| x.errors).sum(),
        by_sweep: outcomes.iter().filter(|x| x.by_sweep).count(),
        at_first_poll: outcomes.iter().filter(|x| x.at_first_poll).count(),
        gaps: outcomes
            .iter()
            .filter_map(|x| x.gap.map(|g| g.as_secs_f64()))
            .collect(),
        cpu: c1.since(c0),
        portal_cpu: p1 - p0,
    })
}
