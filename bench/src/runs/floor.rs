//! The declared floor: the baseline plus each Tenant and one status write, made by the bench
//! with no operator.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use khaibao::api::Tenant;
use khaibao_e2e::scale::{ApiRequests, quiesce};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::{Phase, QUIET, apply_all, bucket, cpu_now, plane_with_shared, record};
use crate::fleet::Rendered;

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
    let (cp, client) = plane_with_shared(r).await?;
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
