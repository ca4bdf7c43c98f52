//! Time to online: how long after a Tenant is declared the platform's own workload, the
//! dichvucong portal (`platforms/dichvucong/portal`), serves that unit's page. "Ready" is the
//! operator's word for its own work; a citizen sees the page, so the clock stops at the first
//! correct answer of the real portal process: `200` at the unit's host, naming the unit (its
//! name and `data-unit-code`), never a 404 or another unit's page.
//!
//! Per size, on a fresh control plane with the release operator and the release portal (run
//! as its ServiceAccount by `khaibao_e2e::portal::Portal`):
//!
//! - **Cold convergence:** every Tenant of the fleet is applied (the bench's usual
//!   concurrency); per tenant, the clock runs from its own create call returning to its first
//!   correct page.
//! - **Single declarations on the converged fleet:** N communes spread over the fleet are, one
//!   at a time, deleted (until the Tenant, its objects and its page are gone and the API server
//!   is quiet) and declared again under a fresh name; the clock runs from the create call
//!   returning to the first correct page (one host, polled every 5 ms). Delete-and-redeclare
//!   rather than "a commune the fleet lacks" because the 10.1k fleet is every unit of the
//!   registry: there is no commune left to add, and one method keeps the sizes comparable. The
//!   fleet stays at its size (one tenant short while a single is deleted); the unit's objects
//!   are made anew, under the same names (names come from the unit, not the Tenant).
//!
//! Polling 10,000 hosts every 20 ms would cost more CPU than the convergence it measures on a
//! 2-core machine, so a host is polled at the e2e harness's 20 ms only once the bench's own
//! watch (the portal's label selector, on the platform namespace) has seen its page ConfigMap:
//! the portal cannot serve a page before that ConfigMap exists. The other hosts are swept
//! slowly as a safety net; a page found by the sweep, before the bench's watch saw its
//! ConfigMap, is counted and reported, so a lagging watch would show instead of hiding.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use futures::stream::{FuturesUnordered, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::networking::v1::Ingress;
use khaibao::api::Tenant;
use khaibao::pipeline::tenant_label_value;
use khaibao_e2e::http::Reply;
use khaibao_e2e::portal::Portal;
use khaibao_e2e::scale::{ProcStats, ReadyTracker, quiesce};
use khaibao_e2e::{ControlPlane, conditions_summary};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore, oneshot};

use crate::fleet::{PLATFORM, PLATFORM_NAMESPACE, PageKey, Rendered, Size, render};
use crate::runs::{Cpu, apply_tenant, cpu_now, platform_ready};

/// No workload write for this long counts as quiet.
const QUIET: Duration = Duration::from_secs(2);
/// How often a host whose page ConfigMap has been seen is polled: the e2e harness's cadence.
const POLL: Duration = Duration::from_millis(20);
/// How often a single's host is polled: one host is cheap to poll finer than the harness's
/// 20 ms, which would be half of what a single measures.
const SINGLE_POLL: Duration = Duration::from_millis(5);
/// Requests to the portal in flight at most.
const POLL_IN_FLIGHT: usize = 32;
/// The 20 ms cadence stretches beyond this many polls a second in total, so a portal lagging
/// behind thousands of ConfigMaps is not also buried under the bench's requests.
const HOT_POLLS_PER_SECOND: f64 = 1_000.0;
/// What the safety sweep of the hosts whose ConfigMap is not seen yet adds at most.
const SWEEP_POLLS_PER_SECOND: f64 = 250.0;
/// Appended to a single's name when it is declared again: no registry slug ends so.
const FRESH_SUFFIX: &str = "-redeclared";
/// The portal's own label selector (`platforms/dichvucong/templates/shared/portal.yaml.hbs`).
const PAGE_SELECTOR: &str = "khaibao.dev/platform=dichvucong,khaibao.dev/tenant";

pub struct OnlineOptions {
    pub operator_concurrency: usize,
    /// Tenants applied at once during cold convergence.
    pub tenant_concurrency: usize,
    pub singles: usize,
    /// How long the fleet, or one single, may take to be online.
    pub timeout: Duration,
}

/// What one size measured.
#[derive(Clone, Debug, Default)]
pub struct OnlineRun {
    pub label: String,
    pub tenants: usize,
    pub cold: Option<ColdOnline>,
    pub singles: Vec<SingleOnline>,
    /// VmHWM at the end of cold convergence and at the end of the run (the whole run's peak).
    pub portal_rss_cold_mib: f64,
    pub portal_rss_mib: f64,
    pub operator_rss_cold_mib: f64,
    pub operator_rss_mib: f64,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct ColdOnline {
    /// Per tenant: seconds from its create call returning to its first correct page.
    pub online: Vec<f64>,
    /// Since the first create call: when the last one returned, the last page was first
    /// correct, and the watch first saw every Tenant Ready.
    pub applied_at: f64,
    pub last_online_at: f64,
    pub all_ready_at: f64,
    pub polls: u64,
    pub poll_errors: u64,
    /// Pages found by the sweep, before the bench's watch had seen their ConfigMap.
    pub by_sweep: usize,
    /// Pages correct at the first poll after their ConfigMap was seen.
    pub at_first_poll: usize,
    /// Seconds between the poll that found a page and the poll of that host before it (for
    /// the pages found at a later poll): how coarse the figures are.
    pub gaps: Vec<f64>,
    pub cpu: Cpu,
    pub portal_cpu: f64,
}

#[derive(Clone, Debug, Default)]
pub struct SingleOnline {
    /// `namespace/name` deleted, and declared again as `namespace/name-redeclared`.
    pub tenant: String,
    pub online: f64,
    /// Seconds between the poll that found the page and the one before it.
    pub gap: Option<f64>,
    /// From the create call returning until the bench's watch saw the Tenant Ready.
    pub ready: Option<f64>,
}

/// The page tests of one tenant, made once rather than per poll.
struct Expected {
    code: String,
    name: String,
}

impl Expected {
    fn of(page: &PageKey) -> Expected {
        Expected {
            code: format!("data-unit-code=\"{}\"", escape(&page.unit_code)),
            name: escape(&page.unit_name),
        }
    }

    fn matches(&self, r: &Reply) -> bool {
        r.status == 200 && r.body.contains(&self.code) && r.body.contains(&self.name)
    }
}

/// The portal escapes every ConfigMap value; so must what its page is searched for.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Which hosts' page ConfigMaps the bench's watch has seen and which pages were found, so a
/// host is polled fast only while its page can be about to appear.
struct Pages {
    index: HashMap<String, usize>,
    state: Mutex<PageState>,
    wake: Vec<Notify>,
}

#[derive(Default)]
struct PageState {
    seen: Vec<bool>,
    online: Vec<bool>,
    /// Seen and not online: the hosts on the fast cadence.
    hot: usize,
}

impl Pages {
    fn new(pages: &[PageKey]) -> Pages {
        Pages {
            index: pages
                .iter()
                .enumerate()
                .map(|(i, p)| (p.host.clone(), i))
                .collect(),
            state: Mutex::new(PageState {
                seen: vec![false; pages.len()],
                online: vec![false; pages.len()],
                hot: 0,
            }),
            wake: (0..pages.len()).map(|_| Notify::new()).collect(),
        }
    }

    fn mark_seen(&self, host: &str) {
        let Some(&i) = self.index.get(host) else {
            return;
        };
        // Never poisoned: nothing panics while it is held.
        let mut s = self.state.lock().expect("pages lock");
        if !s.seen[i] {
            s.seen[i] = true;
            if !s.online[i] {
                s.hot += 1;
            }
            // A permit is kept when the host's poller is not waiting yet.
            self.wake[i].notify_one();
        }
    }

    fn mark_online(&self, i: usize) {
        // Never poisoned: nothing panics while it is held.
        let mut s = self.state.lock().expect("pages lock");
        if !s.online[i] {
            s.online[i] = true;
            if s.seen[i] {
                s.hot -= 1;
            }
        }
    }

    /// Whether the host's ConfigMap was seen, and how many hosts are on the fast cadence.
    fn seen(&self, i: usize) -> (bool, usize) {
        // Never poisoned: nothing panics while it is held.
        let s = self.state.lock().expect("pages lock");
        (s.seen[i], s.hot)
    }

    fn online(&self) -> usize {
        // Never poisoned: nothing panics while it is held.
        let s = self.state.lock().expect("pages lock");
        s.online.iter().filter(|o| **o).count()
    }
}

/// A task stopped when this is dropped: the watch must not outlive its control plane, also
/// when a phase fails.
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Watches the platform namespace's page ConfigMaps with the portal's selector; the receiver
/// fires once the initial list is done, so no ConfigMap made after it can be missed.
fn watch_pages(client: Client, pages: Arc<Pages>) -> (Task, oneshot::Receiver<()>) {
    let api: Api<ConfigMap> = Api::namespaced(client, PLATFORM_NAMESPACE);
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        let mut listed = Some(tx);
        let mut events = watcher(api, watcher::Config::default().labels(PAGE_SELECTOR))
            .default_backoff()
            .boxed();
        while let Some(ev) = events.next().await {
            let Ok(ev) = ev else { continue };
            match ev {
                watcher::Event::Apply(cm) | watcher::Event::InitApply(cm) => {
                    if let Some(host) = cm.data.as_ref().and_then(|d| d.get("host")) {
                        pages.mark_seen(host.trim());
                    }
                }
                watcher::Event::InitDone => {
                    if let Some(tx) = listed.take() {
                        let _ = tx.send(());
                    }
                }
                watcher::Event::Init | watcher::Event::Delete(_) => {}
            }
        }
    });
    (Task(task), rx)
}

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

/// Nearest-rank percentile (`p` in 0..=1) of `v`; 0 for none.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return 0.0;
    }
    let rank = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

fn hwm_mib(pid: Option<u32>) -> f64 {
    pid.and_then(|p| ProcStats::read(p).ok())
        .map_or(0.0, |s| s.hwm_kib as f64 / 1024.0)
}

/// The `namespace` and `name` of a Tenant manifest.
fn key(t: &Value) -> (String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (s(&t["metadata"]["namespace"]), s(&t["metadata"]["name"]))
}

/// One size: cold convergence, then the singles, on a fresh control plane.
pub async fn run(size: &Size, o: &OnlineOptions) -> anyhow::Result<OnlineRun> {
    let rendered = render(size)?;
    let n = rendered.fleet.tenants.len();
    let mut r = OnlineRun {
        label: size.label.into(),
        tenants: n,
        ..Default::default()
    };
    let (cp, client, op, _) = platform_ready(&rendered.fleet, o.operator_concurrency).await?;
    let portal = match Portal::start(&cp, "bench", PLATFORM_NAMESPACE, PLATFORM).await {
        Ok(p) => p,
        Err(e) => {
            // Keeps the state dir: the portal's log is there.
            cp.mark_failed();
            return Err(e.context(format!("starting the portal at {}", size.label)));
        }
    };
    let (op_pid, portal_pid) = (op.pid(), portal.pid());
    let tracker = ReadyTracker::start(client.clone());
    let measured = async {
        let cold = cold(&rendered, &cp, op_pid, &client, &portal, &tracker, o).await?;
        r.portal_rss_cold_mib = hwm_mib(portal_pid);
        r.operator_rss_cold_mib = hwm_mib(op_pid);
        eprintln!(
            "[bench]   online, cold: p50 {:.3} s, p99 {:.3} s, max {:.3} s, last at {:.1} s (every Tenant Ready at {:.1} s); {} polls, {} by the sweep; peak RSS portal {:.0} MiB, operator {:.0} MiB",
            percentile(&cold.online, 0.5),
            percentile(&cold.online, 0.99),
            percentile(&cold.online, 1.0),
            cold.last_online_at,
            cold.all_ready_at,
            cold.polls,
            cold.by_sweep,
            r.portal_rss_cold_mib,
            r.operator_rss_cold_mib,
        );
        r.cold = Some(cold);
        singles(&rendered, &client, &portal, &tracker, o, &mut r.singles).await
    }
    .await;
    r.portal_rss_mib = hwm_mib(portal_pid);
    r.operator_rss_mib = hwm_mib(op_pid);
    if let Err(e) = measured {
        let log = portal.log();
        let lines: Vec<&str> = log.lines().collect();
        r.error = Some(format!(
            "{e:#}\nthe portal's last log lines:\n{}",
            lines[lines.len().saturating_sub(10)..].join("\n")
        ));
        eprintln!("[bench] online at {} failed: {e:#}", size.label);
        cp.mark_failed();
    }
    drop(tracker);
    drop(portal);
    drop(op);
    Ok(r)
}

/// The whole fleet applied on the empty platform, each tenant timed to its first correct page.
async fn cold(
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
    // The Tenant watch lists nothing yet; a moment lets it reach its watch, as in runs.rs.
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
async fn singles(
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
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), 2.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        // With 20 samples p99 is the largest.
        let twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&twenty, 0.99), 20.0);
    }

    #[test]
    fn a_page_is_correct_only_with_its_own_unit() {
        let page = PageKey {
            host: "xa-a.tinh.dichvucong.gov.vn".into(),
            unit_code: "00004".into(),
            unit_name: "Phường Trúc Bạch".into(),
        };
        let e = Expected::of(&page);
        let reply = |status, body: &str| Reply {
            status,
            headers: Default::default(),
            body: body.into(),
        };
        let own =
            "<p class=\"unit\" data-unit-code=\"00004\">Phường Trúc Bạch, Thành phố Hà Nội</p>";
        assert!(e.matches(&reply(200, own)));
        assert!(!e.matches(&reply(404, own)));
        assert!(!e.matches(&reply(
            200,
            "<p class=\"unit\" data-unit-code=\"00007\">Phường Trúc Bạch</p>"
        )));
        assert!(!e.matches(&reply(
            200,
            "<p data-unit-code=\"00004\">Phường Quán Thánh</p>"
        )));
    }

    #[test]
    fn singles_are_communes_spread_over_the_fleet() {
        let t = |level: &str| json!({"spec": {"unit": {"level": level}}});
        let fleet: Vec<Value> = [vec![t("province"); 3], vec![t("commune"); 10]].concat();
        assert_eq!(pick_singles(&fleet, 5), vec![3, 5, 7, 9, 11]);
        assert_eq!(pick_singles(&fleet, 20).len(), 10);
        assert!(pick_singles(&fleet[..3], 2).is_empty());
    }
}
