//! The kro peer: kro's controller as a local process, one instance per tenant.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use futures::{StreamExt, TryStreamExt};
use khaibao_e2e::ControlPlane;
use khaibao_e2e::scale::{ApiRequests, ProcStats, quiesce};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::json;

use super::{BENCH_MANAGER, Phase, QUIET, cpu_now, create_namespaces};
use crate::fleet::{PLATFORM_NAMESPACE, Rendered};

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
