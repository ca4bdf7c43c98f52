//! One measurement each: the raw baseline, khaibao (cold, resync, template change) and Helm.
//! Every measurement gets a fresh control plane of its own, started the same way.

mod baseline;
mod floor;
mod helm;
mod khaibao_run;
mod kro;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use khaibao_e2e::ControlPlane;
use khaibao_e2e::scale::{ApiRequests, ProcStats};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use crate::fleet::{PLATFORM_NAMESPACE, Rendered};
use crate::profile::Recording;

pub use self::baseline::baseline;
pub use self::floor::declared_floor;
pub use self::helm::{helm, helm_chart, run_parallel};
pub use self::khaibao_run::{KhaibaoOptions, KhaibaoRun, khaibao};
pub(crate) use self::khaibao_run::{apply_tenant, platform_ready};
pub use self::kro::kro;

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

/// A fresh control plane with the fleet's namespaces and the platform's shared objects, as the
/// raw baseline and the declared floor both start (not timed).
async fn plane_with_shared(r: &Rendered) -> anyhow::Result<(ControlPlane, Client)> {
    let cp = ControlPlane::start()?;
    let client = cp.client().await?;
    let mut namespaces = r.fleet.namespaces.clone();
    namespaces.push(PLATFORM_NAMESPACE.into());
    create_namespaces(&client, &namespaces).await?;
    apply_all(&client, &r.shared, 4, "khaibao-raw").await?;
    Ok((cp, client))
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
