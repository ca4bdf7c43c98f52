//! One measurement each: the raw baseline, khaibao (cold, resync, template change) and Helm.
//! Every measurement gets a fresh control plane of its own, started the same way.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use khaibao::api::{Platform, Tenant};
use khaibao_e2e::scale::{ApiRequests, Fleet, ProcStats, ReadyTracker, quiesce};
use khaibao_e2e::{ControlPlane, Operator, OperatorOptions, platform_revision};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use crate::fleet::{PLATFORM, PLATFORM_NAMESPACE, Rendered, changed_platform, platform};
use crate::profile::Recording;

const BENCH_MANAGER: &str = "khaibao-bench";
/// No workload write for this long counts as quiet.
const QUIET: Duration = Duration::from_secs(2);

/// CPU seconds of the control plane's processes and of ours, over one phase.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    pub apiserver: f64,
    pub etcd: f64,
    pub operator: f64,
    pub bench: f64,
}

fn cp_pid(cp: &ControlPlane, component: &str) -> Option<u32> {
    std::fs::read_to_string(cp.state_dir.join("pids").join(format!("{component}.pid")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub(crate) fn cpu_now(cp: &ControlPlane, operator: Option<u32>) -> Cpu {
    let secs = |pid: Option<u32>| {
        pid.and_then(|p| ProcStats::read(p).ok())
            .map(|s| s.cpu_seconds)
            .unwrap_or(0.0)
    };
    Cpu {
        apiserver: secs(cp_pid(cp, "kube-apiserver")),
        etcd: secs(cp_pid(cp, "etcd")),
        operator: secs(operator),
        bench: secs(Some(std::process::id())),
    }
}

impl Cpu {
    pub(crate) fn since(self, b: Cpu) -> Cpu {
        Cpu {
            apiserver: self.apiserver - b.apiserver,
            etcd: self.etcd - b.etcd,
            operator: self.operator - b.operator,
            bench: self.bench - b.bench,
        }
    }
}

/// The result of one phase.
#[derive(Clone, Debug, Default)]
pub struct Phase {
    pub seconds: f64,
    pub requests: ApiRequests,
    pub cpu: Cpu,
    /// (seconds since start, objects done) samples.
    pub timeline: Vec<(f64, usize)>,
}

pub fn api_resource(kind: &str) -> anyhow::Result<ApiResource> {
    Ok(match kind {
        "ConfigMap" => ApiResource::erase::<ConfigMap>(&()),
        "Secret" => ApiResource::erase::<Secret>(&()),
        "Service" => ApiResource::erase::<Service>(&()),
        "Ingress" => ApiResource::erase::<Ingress>(&()),
        "NetworkPolicy" => ApiResource::erase::<NetworkPolicy>(&()),
        "Deployment" => ApiResource::erase::<Deployment>(&()),
        other => anyhow::bail!("no API resource known for kind {other}"),
    })
}

/// Starts perf on the API server, etcd and the operator when `--perf-dir` asked for it.
fn record(perf: &Option<(PathBuf, String)>, cp: &ControlPlane, operator: Option<u32>) -> Recording {
    let Some((dir, phase)) = perf else {
        return Recording::default();
    };
    Recording::start(
        dir,
        phase,
        &[
            ("apiserver", cp_pid(cp, "kube-apiserver")),
            ("etcd", cp_pid(cp, "etcd")),
            ("operator", operator),
        ],
    )
}

/// Server-side applies `objects` with `concurrency` requests in flight; returns the completion
/// time of each.
async fn apply_all(
    client: &Client,
    objects: &[Value],
    concurrency: usize,
    manager: &str,
) -> anyhow::Result<Vec<Instant>> {
    let params = PatchParams::apply(manager).force();
    let done = Arc::new(Mutex::new(Vec::with_capacity(objects.len())));
    futures::stream::iter(objects)
        .map(|o| {
            let (params, done) = (&params, done.clone());
            async move {
                let ar = api_resource(o["kind"].as_str().unwrap_or_default())?;
                let name = o["metadata"]["name"].as_str().unwrap_or_default();
                let api: Api<DynamicObject> = match o["metadata"]["namespace"].as_str() {
                    Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                    None => Api::all_with(client.clone(), &ar),
                };
                // A loaded API server may time a request out: retry it (counted in the
                // API server's figures like any other request).
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match api.patch(name, params, &Patch::Apply(o)).await {
                        Ok(_) => break,
                        Err(e) if attempt < 5 => {
                            eprintln!("[bench] retrying {} {name} ({attempt}): {e}", ar.kind);
                            tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
                        }
                        Err(e) => {
                            return Err(anyhow::Error::new(e)
                                .context(format!("applying {} {name}", ar.kind)));
                        }
                    }
                }
                // Never poisoned: nothing panics while it is held (a push or a clone).
                done.lock().expect("lock").push(Instant::now());
                anyhow::Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    // Never poisoned: nothing panics while it is held (a push or a clone).
    let done = done.lock().expect("lock").clone();
    Ok(done)
}

async fn create_namespaces(client: &Client, names: &[String]) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let params = PatchParams::apply(BENCH_MANAGER).force();
    futures::stream::iter(names)
        .map(|ns| {
            let (api, params) = (&api, &params);
            async move {
                let body =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                api.patch(ns, params, &Patch::Apply(&body)).await
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// (seconds, count) every `step` seconds from completion instants.
fn bucket(start: Instant, mut done: Vec<Instant>, step: f64) -> Vec<(f64, usize)> {
    done.sort();
    let end = done
        .last()
        .map(|d| d.duration_since(start).as_secs_f64())
        .unwrap_or(0.0);
    let mut out = vec![(0.0, 0)];
    let mut t = step;
    let mut i = 0;
    while t < end + step {
        while i < done.len() && done[i].duration_since(start).as_secs_f64() <= t {
            i += 1;
        }
        out.push((t.min(end), i));
        t += step;
    }
    out
}

/// The raw baseline: every rendered object server-side applied directly, `concurrency` at a
/// time, on a fresh control plane (namespaces and the shared objects made first, not timed).
pub async fn baseline(
    r: &Rendered,
    concurrency: usize,
    perf: Option<(PathBuf, String)>,
) -> anyhow::Result<Phase> {
    let cp = ControlPlane::start()?;
    let client = cp.client().await?;
    let mut namespaces = r.fleet.namespaces.clone();
    namespaces.push(PLATFORM_NAMESPACE.into());
    create_namespaces(&client, &namespaces).await?;
    apply_all(&client, &r.shared, 4, "khaibao-raw").await?;
    let m0 = quiesce(&client, QUIET, Duration::from_secs(30)).await?;
    let c0 = cpu_now(&cp, None);
    let recording = record(&perf, &cp, None);
    let start = Instant::now();
    let done = apply_all(&client, &r.objects, concurrency, "khaibao-raw").await?;
    let seconds = start.elapsed().as_secs_f64();
    recording.stop();
    let (m1, c1) = (ApiRequests::scrape(&client).await?, cpu_now(&cp, None));
    Ok(Phase {
        seconds,
        requests: m1.since(&m0).workload(),
        cpu: c1.since(c0),
        timeline: bucket(start, done, 0.5),
    })
}

/// The floor of any controller that keeps one declaration per tenant and reports on it: the
/// baseline's writes plus, per tenant, the Tenant itself and one status write. Made by the
/// bench alone (no operator), on a fresh control plane installed like khaibao's: per tenant,
/// apply the Tenant, apply its objects at once, write a status shaped like khaibao's (four
/// conditions, the objects with their resourceVersions); `concurrency` tenants in flight.
pub async fn declared_floor(
    r: &Rendered,
    concurrency: usize,
    perf: Option<(PathBuf, String)>,
) -> anyhow::Result<Phase> {
    let cp = ControlPlane::start()?;
    let client = cp.client().await?;
    let mut namespaces = r.fleet.namespaces.clone();
    namespaces.push(PLATFORM_NAMESPACE.into());
    create_namespaces(&client, &namespaces).await?;
    apply_all(&client, &r.shared, 4, "khaibao-raw").await?;
    let mut by_owner: std::collections::HashMap<String, Vec<Value>> = Default::default();
    for o in &r.objects {
        let owner = o["metadata"]["annotations"][khaibao::pipeline::ANNOTATION_OWNER]
            .as_str()
            .context("a rendered object without its owner annotation")?;
        by_owner
            .entry(owner.to_string())
            .or_default()
            .push(o.clone());
    }
    let m0 = quiesce(&client, QUIET, Duration::from_secs(30)).await?;
    let c0 = cpu_now(&cp, None);
    let recording = record(&perf, &cp, None);
    let start = Instant::now();
    let done = Arc::new(Mutex::new(Vec::with_capacity(r.objects.len())));
    let params = PatchParams::apply("khaibao-raw").force();
    futures::stream::iter(&r.fleet.tenants)
        .map(|t| {
            let (client, params, done, by_owner) = (&client, &params, done.clone(), &by_owner);
            async move {
                let ns = t["metadata"]["namespace"].as_str().unwrap_or_default();
                let name = t["metadata"]["name"].as_str().unwrap_or_default();
                let api = Api::<Tenant>::namespaced(client.clone(), ns);
                api.patch(name, params, &Patch::Apply(t))
                    .await
                    .with_context(|| format!("applying tenant {ns}/{name}"))?;
                let objects = by_owner
                    .get(&format!("tenant/{ns}/{name}"))
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let applied = apply_all(client, objects, objects.len().max(1), "khaibao-raw")
                    .await?;
                let refs: Vec<Value> = objects
                    .iter()
                    .map(|o| {
                        json!({"apiVersion": o["apiVersion"], "kind": o["kind"],
                               "name": o["metadata"]["name"], "resourceVersion": "1"})
                    })
                    .collect();
                let now = k8s_openapi::jiff::Timestamp::now().to_string();
                let condition = |type_: &str, status: &str, reason: &str, message: &str| {
                    json!({"type": type_, "status": status, "reason": reason, "message": message,
                           "lastTransitionTime": now, "observedGeneration": 1})
                };
                let status = json!({"status": {
                    "observedGeneration": 1,
                    "conditions": [
                        condition("Rendered", "True", "Rendered", ""),
                        condition("Applied", "True", "Applied", &format!("{} object(s) applied", refs.len())),
                        condition("Degraded", "False", "AsDeclared", ""),
                        condition("Ready", "True", "Ready", "revision floor"),
                    ],
                    "revision": "floor", "targetRevision": "floor",
                    "appliedHash": "0".repeat(64), "objects": refs,
                    "endpoint": format!("https://{name}.example.vn"),
                }});
                api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
                    .await
                    .with_context(|| format!("status of tenant {ns}/{name}"))?;
                // Never poisoned: nothing panics while it is held (a push or a clone).
                done.lock().expect("lock").extend(applied);
                anyhow::Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    let seconds = start.elapsed().as_secs_f64();
    recording.stop();
    let (m1, c1) = (ApiRequests::scrape(&client).await?, cpu_now(&cp, None));
    // Never poisoned: nothing panics while it is held (a push or a clone).
    let done = done.lock().expect("lock").clone();
    Ok(Phase {
        seconds,
        requests: m1.since(&m0).workload(),
        cpu: c1.since(c0),
        timeline: bucket(start, done, 0.5),
    })
}

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

/// The Helm peer: one release per tenant (`helm upgrade --install`, `parallel` at a time) of a
/// chart that renders the same objects, on a fresh control plane.
pub async fn helm(r: &Rendered, chart: &Path, parallel: usize) -> anyhow::Result<Phase> {
    let cp = ControlPlane::start()?;
    let client = cp.client().await?;
    let mut namespaces = r.fleet.namespaces.clone();
    namespaces.push(PLATFORM_NAMESPACE.into());
    create_namespaces(&client, &namespaces).await?;
    let values_dir = cp.state_dir.join("helm-values");
    std::fs::create_dir_all(&values_dir)?;
    let mut jobs = Vec::new();
    for (release, values) in &r.helm_values {
        let file = values_dir.join(format!("{release}.json"));
        std::fs::write(&file, serde_json::to_vec(values)?)?;
        jobs.push((release.clone(), file));
    }
    let helm = cp.bin_dir.join("helm");
    let m0 = quiesce(&client, QUIET, Duration::from_secs(30)).await?;
    let c0 = cpu_now(&cp, None);
    let start = Instant::now();
    let done = run_parallel(&jobs, parallel, |(release, file)| {
        let mut c = Command::new(&helm);
        c.args(["upgrade", "--install", release])
            .arg(chart)
            .args(["--namespace", PLATFORM_NAMESPACE, "-f"])
            .arg(file)
            .env("KUBECONFIG", &cp.kubeconfig)
            .env("HELM_CACHE_HOME", cp.state_dir.join("helm-cache"))
            .env("HELM_CONFIG_HOME", cp.state_dir.join("helm-config"))
            .env("HELM_DATA_HOME", cp.state_dir.join("helm-data"));
        c
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let (m1, c1) = (ApiRequests::scrape(&client).await?, cpu_now(&cp, None));
    // Each release makes the tenant's 4 objects.
    let done: Vec<Instant> = done.into_iter().flat_map(|d| [d; 4]).collect();
    Ok(Phase {
        seconds,
        requests: m1.since(&m0).workload(),
        cpu: c1.since(c0),
        timeline: bucket(start, done, 1.0),
    })
}

/// Runs one command per job, `parallel` at a time; fails on the first failing command.
/// Returns the completion time of each.
pub fn run_parallel<J: Sync>(
    jobs: &[J],
    parallel: usize,
    command: impl Fn(&J) -> Command + Sync,
) -> anyhow::Result<Vec<Instant>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(jobs.len()));
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..parallel.max(1))
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(job) = jobs.get(i) else {
                            return Ok(());
                        };
                        let out = command(job)
                            .stdin(Stdio::null())
                            .stdout(Stdio::null())
                            .stderr(Stdio::piped())
                            .output()?;
                        ensure!(
                            out.status.success(),
                            "{:?} failed: {}",
                            command(job).get_args().collect::<Vec<_>>(),
                            String::from_utf8_lossy(&out.stderr).trim()
                        );
                        // Never poisoned: nothing panics while it is held (a push or a clone).
                        done.lock().expect("lock").push(Instant::now());
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| anyhow::anyhow!("worker panicked"))??;
        }
        anyhow::Ok(())
    })?;
    // Never poisoned: nothing panics while it is held (a push or a clone).
    Ok(done.into_inner().expect("lock"))
}

/// The chart of the Helm peer.
pub fn helm_chart() -> PathBuf {
    khaibao_e2e::workspace_root().join("bench/peers/helm/dichvucong")
}

/// The kro peer: kro's controller as a local process, the ResourceGraphDefinition of
/// `bench/peers/kro/dichvucong-rgd.yaml`, one instance per tenant; from the first instance
/// applied until every instance is `ACTIVE` (polled every second).
pub async fn kro(
    r: &Rendered,
    kro_bin: &Path,
    concurrency: usize,
    timeout: Duration,
) -> anyhow::Result<(Phase, f64)> {
    let n = r.kro_specs.len();
    let cp = ControlPlane::start()?;
    let client = cp.client().await?;
    let crds = kro_bin.parent().context("kro dir")?.join("crds");
    cp.kubectl(&["apply", "--server-side", "-f", &crds.to_string_lossy()])?;
    cp.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd",
        "--all",
    ])?;
    let log = std::fs::File::create(cp.state_dir.join("kro.log"))?;
    let mut child = Command::new(kro_bin)
        .args([
            "--metrics-bind-address",
            "127.0.0.1:0",
            "--health-probe-bind-address",
            "127.0.0.1:0",
            // kro logs at debug level by default (zap development mode); info, as khaibao.
            "--zap-log-level=info",
        ])
        .env("KUBECONFIG", &cp.kubeconfig)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start kro")?;
    let result = async {
        let mut namespaces = r.fleet.namespaces.clone();
        namespaces.push(PLATFORM_NAMESPACE.into());
        create_namespaces(&client, &namespaces).await?;
        let rgd = khaibao_e2e::workspace_root().join("bench/peers/kro/dichvucong-rgd.yaml");
        cp.kubectl(&["apply", "--server-side", "-f", &rgd.to_string_lossy()])?;
        cp.kubectl(&[
            "wait",
            "--for=jsonpath={.status.state}=Active",
            "--timeout=120s",
            "resourcegraphdefinition/dichvucongtenants.kro.run",
        ])?;
        cp.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/dichvucongtenants.kro.run",
        ])?;
        let ar = ApiResource {
            group: "kro.run".into(),
            version: "v1alpha1".into(),
            api_version: "kro.run/v1alpha1".into(),
            kind: "DichVuCongTenant".into(),
            plural: "dichvucongtenants".into(),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), PLATFORM_NAMESPACE, &ar);
        let pid = Some(child.id());
        let m0 = quiesce(&client, QUIET, Duration::from_secs(30)).await?;
        let c0 = cpu_now(&cp, pid);
        let start = Instant::now();
        let params = PatchParams::apply(BENCH_MANAGER).force();
        futures::stream::iter(&r.kro_specs)
            .map(|(name, spec)| {
                let (api, params) = (&api, &params);
                async move {
                    let body = json!({"apiVersion": "kro.run/v1alpha1", "kind": "DichVuCongTenant",
                        "metadata": {"name": name, "namespace": PLATFORM_NAMESPACE}, "spec": spec});
                    api.patch(name, params, &Patch::Apply(&body)).await
                }
            })
            .buffer_unordered(concurrency)
            .try_collect::<Vec<_>>()
            .await?;
        let mut timeline = vec![(0.0, 0)];
        loop {
            let active = api
                .list(&Default::default())
                .await?
                .items
                .iter()
                .filter(|o| o.data["status"]["state"] == "ACTIVE")
                .count();
            let t = start.elapsed();
            timeline.push((t.as_secs_f64(), active * 4));
            if active >= n {
                break;
            }
            ensure!(
                t < timeout,
                "kro: {active} of {n} instances ACTIVE after {t:?}"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let seconds = start.elapsed().as_secs_f64();
        let (m1, c1) = (ApiRequests::scrape(&client).await?, cpu_now(&cp, pid));
        let rss = ProcStats::read(child.id())?.hwm_kib as f64 / 1024.0;
        anyhow::Ok((
            Phase {
                seconds,
                requests: m1.since(&m0).workload(),
                cpu: c1.since(c0),
                timeline,
            },
            rss,
        ))
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    if result.is_err() {
        cp.mark_failed();
    }
    result
}
