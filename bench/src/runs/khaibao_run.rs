//! The khaibao run (cold convergence, full resync, template change), and the platform set-up
//! and Tenant apply that time to online shares with it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use futures::{StreamExt, TryStreamExt};
use khaibao::api::{Platform, Tenant};
use khaibao_e2e::scale::{ApiRequests, Fleet, ProcStats, ReadyTracker, quiesce};
use khaibao_e2e::{ControlPlane, Operator, OperatorOptions, platform_revision};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::Value;

use super::{BENCH_MANAGER, Phase, QUIET, cpu_now, create_namespaces, record};
use crate::fleet::{PLATFORM, Rendered, changed_platform, platform};

/// What a khaibao run measured.
#[derive(Clone, Debug, Default)]
pub struct KhaibaoRun {
    pub cold: Phase,
    /// Operator writes per tenant at cold start (the bench's own Tenant applies subtracted).
    pub writes_per_tenant: f64,
    pub peak_rss_mib: f64,
    pub resync: Option<Phase>,
    pub resync_rss_mib: f64,
    pub template: Option<Phase>,
}

pub struct KhaibaoOptions {
    pub concurrency: usize,
    pub operator_concurrency: usize,
    pub resync: bool,
    pub template_change: bool,
    pub timeout: Duration,
    /// Where to record the cold phase with perf, and the phase's file prefix.
    pub perf: Option<(PathBuf, String)>,
}

async fn apply_platform(client: &Client, manifest: &Value) -> anyhow::Result<()> {
    let api: Api<Platform> = Api::all(client.clone());
    api.patch(
        PLATFORM,
        &PatchParams::apply(BENCH_MANAGER).force(),
        &Patch::Apply(manifest),
    )
    .await?;
    Ok(())
}

async fn tenant_reconciles(op: &Operator) -> f64 {
    op.reconciles()
        .await
        .ok()
        .and_then(|r| r.get("tenant").copied())
        .unwrap_or(0.0)
}

/// A fresh control plane and the operator (no leader election) with the platform
/// reconciled and the fleet's namespaces made: where every khaibao measurement starts, so the
/// clock never includes the platform's namespace or shared workload.
pub(crate) async fn platform_ready(
    fleet: &Fleet,
    operator_concurrency: usize,
) -> anyhow::Result<(ControlPlane, Client, Operator, Value)> {
    let cp = ControlPlane::start()?;
    let client = cp.client().await?;
    let opts = OperatorOptions {
        leader_election: false,
        extra_args: vec!["--concurrency".into(), operator_concurrency.to_string()],
        ..OperatorOptions::new("bench")
    };
    let op = Operator::start(&cp, opts)?;
    op.wait_ready(Duration::from_secs(60)).await?;
    let manifest = platform()?;
    apply_platform(&client, &manifest).await?;
    create_namespaces(&client, &fleet.namespaces).await?;
    khaibao_e2e::wait_until("platform reconciled", Duration::from_secs(60), async || {
        let p = Api::<Platform>::all(client.clone()).get(PLATFORM).await?;
        let observed = p.status.as_ref().and_then(|s| s.observed_generation);
        ensure!(
            observed.is_some() && observed == p.metadata.generation,
            "not yet"
        );
        Ok(())
    })
    .await?;
    Ok((cp, client, op, manifest))
}

/// Server-side applies one Tenant manifest as the bench's field manager. A loaded API server
/// may time a request out, so it is retried (counted in the API server's figures like any
/// other request).
pub(crate) async fn apply_tenant(client: &Client, t: &Value) -> anyhow::Result<Tenant> {
    let ns = t["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = t["metadata"]["name"].as_str().unwrap_or_default();
    let api = Api::<Tenant>::namespaced(client.clone(), ns);
    let params = PatchParams::apply(BENCH_MANAGER).force();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match api.patch(name, &params, &Patch::Apply(t)).await {
            Ok(t) => return Ok(t),
            Err(e) if attempt < 5 => {
                eprintln!("[bench] retrying tenant {ns}/{name} ({attempt}): {e}");
                tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("applying tenant {ns}/{name}")));
            }
        }
    }
}

/// Cold convergence from applying the Tenants until every one is Ready, then (optionally) a
/// full resync by an operator restart and a template change.
pub async fn khaibao(r: &Rendered, o: &KhaibaoOptions) -> anyhow::Result<KhaibaoRun> {
    let n = r.fleet.tenants.len();
    let (cp, client, mut op, manifest) = platform_ready(&r.fleet, o.operator_concurrency).await?;
    let tracker = ReadyTracker::start(client.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = op.pid();
    let m0 = quiesce(&client, QUIET, Duration::from_secs(30)).await?;
    let c0 = cpu_now(&cp, pid);
    let recording = record(&o.perf, &cp, pid);
    let start = Instant::now();
    futures::stream::iter(&r.fleet.tenants)
        .map(|t| apply_tenant(&client, t))
        .buffer_unordered(o.concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    let ready_at = tracker.wait(n, o.timeout).await?;
    let seconds = ready_at.duration_since(start).as_secs_f64();
    recording.stop();
    let (m1, c1) = (ApiRequests::scrape(&client).await?, cpu_now(&cp, pid));
    let stats = ProcStats::read(pid.context("operator pid")?)?;
    let per_tenant = r.objects.len() as f64 / n as f64;
    let timeline = timeline_since(&tracker, start, per_tenant);
    let requests = m1.since(&m0).workload();
    let mut run = KhaibaoRun {
        writes_per_tenant: (requests.writes() - n as f64) / n as f64,
        cold: Phase {
            seconds,
            requests,
            cpu: c1.since(c0),
            timeline,
        },
        peak_rss_mib: stats.hwm_kib as f64 / 1024.0,
        ..Default::default()
    };

    if o.resync {
        // A full resync: a new operator process reconciles every Tenant from its first list.
        quiesce(&client, QUIET, Duration::from_secs(60)).await?;
        op.terminate()?;
        let m0 = quiesce(&client, QUIET, Duration::from_secs(30)).await?;
        let c0 = cpu_now(&cp, None);
        let start = Instant::now();
        op.restart()?;
        let pid = op.pid();
        op.wait_ready(Duration::from_secs(120)).await?;
        khaibao_e2e::wait_until("every tenant reconciled again", o.timeout, async || {
            let done = tenant_reconciles(&op).await;
            ensure!(done >= n as f64, "{done} of {n} reconciled");
            Ok(())
        })
        .await?;
        let seconds = start.elapsed().as_secs_f64();
        // Anything still in flight would show as a write a moment later.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (m1, mut c1) = (ApiRequests::scrape(&client).await?, cpu_now(&cp, pid));
        c1.operator = pid
            .and_then(|p| ProcStats::read(p).ok())
            .map(|s| s.cpu_seconds)
            .unwrap_or(0.0);
        run.resync_rss_mib = pid
            .and_then(|p| ProcStats::read(p).ok())
            .map(|s| s.hwm_kib as f64 / 1024.0)
            .unwrap_or(0.0);
        run.resync = Some(Phase {
            seconds,
            requests: m1.since(&m0).workload(),
            cpu: c1.since(c0),
            timeline: Vec::new(),
        });
    }

    if o.template_change {
        let changed = changed_platform(&manifest);
        tracker.want_revision(Some(platform_revision(&changed)?));
        let pid = op.pid();
        let m0 = quiesce(&client, QUIET, Duration::from_secs(60)).await?;
        let c0 = cpu_now(&cp, pid);
        let start = Instant::now();
        apply_platform(&client, &changed).await?;
        let ready_at = tracker.wait(n, o.timeout).await?;
        let seconds = ready_at.duration_since(start).as_secs_f64();
        let (m1, c1) = (ApiRequests::scrape(&client).await?, cpu_now(&cp, pid));
        let timeline = timeline_since(&tracker, start, per_tenant);
        run.template = Some(Phase {
            seconds,
            requests: m1.since(&m0).workload(),
            cpu: c1.since(c0),
            timeline,
        });
    }
    drop(tracker);
    drop(op);
    Ok(run)
}

/// Objects Ready over time since `start`: (seconds, tenants Ready × objects per tenant).
fn timeline_since(tracker: &ReadyTracker, start: Instant, per_tenant: f64) -> Vec<(f64, usize)> {
    tracker
        .timeline()
        .into_iter()
        .filter(|(t, _)| *t >= start)
        .map(|(t, c)| {
            (
                t.duration_since(start).as_secs_f64(),
                (c as f64 * per_tenant) as usize,
            )
        })
        .collect()
}
