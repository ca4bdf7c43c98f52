//! An API server that sheds load: restarted with `--max-requests-inflight=2
//! --max-mutating-requests-inflight=1` and without priority and fairness, it answers 429 to
//! whatever comes beyond that, in bursts, as an overloaded production API server does. A
//! template change rolling through 150 tenants in waves, while other clients keep the API
//! server's one mutating slot busy, must still complete — the 429s are
//! retried, and a tenant that met one is "not Ready yet", never a failure that halts the
//! rollout — with every object, Secret and revision as it should be, checked afterwards on an
//! API server back to normal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use khaibao::api::RolloutStatus;
use khaibao::registry::Division;
use khaibao_e2e::chart_rbac::ChartRbac;
use khaibao_e2e::rollouts::{edit_config_template, wait_phase};
use khaibao_e2e::scale::fleet;
use khaibao_e2e::{
    OBJECTS_PER_TENANT, Operator, SHARED_OBJECTS, Scope, platform_revision, tail, with_cluster,
};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

const TENANTS: usize = 150;
const THROTTLED: &[&str] = &[
    "--enable-priority-and-fairness=false",
    "--max-requests-inflight=2",
    "--max-mutating-requests-inflight=1",
];

/// Clients writing besides the operator while the API server is throttled.
const LOAD_CLIENTS: usize = 4;
/// Who they are: not the admin, whose group passes the in-flight limits.
const NOISE_USER: &str = "e2e-noise";
/// The chart's RBAC, with Secrets in the scenario's platform namespace.
const CHART_RBAC: ChartRbac = ChartRbac {
    secret_namespace: "e2e-throttled",
};

/// Lets [`NOISE_USER`] write ConfigMaps in `default`.
async fn allow_noise(admin: &kube::Client) -> anyhow::Result<()> {
    let params = PatchParams::apply("e2e-throttling").force();
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "e2e-noise", "namespace": "default"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                   "verbs": ["get", "create", "patch", "update"]}]});
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "e2e-noise", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "e2e-noise"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": NOISE_USER}]});
    Api::<Role>::namespaced(admin.clone(), "default")
        .patch("e2e-noise", &params, &Patch::Apply(&role))
        .await?;
    Api::<RoleBinding>::namespaced(admin.clone(), "default")
        .patch("e2e-noise", &params, &Patch::Apply(&binding))
        .await?;
    Ok(())
}

/// Patches a ConfigMap of its own in a loop until `stop`; returns the writes that got through.
async fn noise(client: kube::Client, i: usize, stop: Arc<AtomicBool>) -> usize {
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let name = format!("noise-{i}");
    let params = PatchParams::apply("e2e-noise").force();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name}, "data": {"n": n.to_string()}});
        match api.patch(&name, &params, &Patch::Apply(&cm)).await {
            Ok(_) => n += 1,
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    n
}

/// `apiserver_request_total` answered 429, summed over verbs and resources.
fn throttled(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{") && l.contains("code=\"429\""))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

#[test]
fn a_rollout_through_bursts_of_429_completes_with_nothing_lost() {
    with_cluster(async |cp| {
        // Requests of group system:masters (the admin certificate) pass the in-flight limits,
        // so the operator runs as the chart's ServiceAccount, as in production.
        CHART_RBAC.install(cp, None)?;
        let mut opts = CHART_RBAC.operator_options("throttled");
        opts.leader_election = false;
        let op = Operator::start(cp, opts)?;
        op.wait_ready(Duration::from_secs(60)).await?;
        let s = Scope::new(cp.client().await?, "throttled");
        let mut manifest = s.platform_manifest()?;
        manifest["spec"]["rollout"] = json!({"canaryCount": 1, "batch": "50%", "maxFailures": "0"});
        s.apply_platform(&manifest).await?;
        s.wait_platform_reconciled(Duration::from_secs(30)).await?;
        allow_noise(&s.client).await?;
        let f = fleet(&s.platform, Division::D34, Some(TENANTS));
        s.create_tenants(&f.tenants).await?;
        s.wait_ready(TENANTS, Duration::from_secs(180)).await?;
        let secrets_before = s.generated_secrets().await?;
        let objects_before = s.objects().await?.len();
        ensure!(
            objects_before == TENANTS * OBJECTS_PER_TENANT + SHARED_OBJECTS,
            "{objects_before} objects before"
        );

        // The change goes in while the API server still serves everyone; then it sheds load.
        edit_config_template(&mut manifest, "  e2eThrottled: v2")?;
        let rev2 = platform_revision(&manifest)?;
        s.apply_platform(&manifest).await?;
        cp.restart_apiserver_with(THROTTLED)?;
        // Other clients keep the one mutating slot busy, as the rest of a shared cluster
        // would: the operator's writes meet 429s in bursts instead of by chance.
        let stop = Arc::new(AtomicBool::new(false));
        let noisy = cp.client_as(NOISE_USER, &["system:authenticated"]).await?;
        let load: Vec<_> = (0..LOAD_CLIENTS)
            .map(|i| tokio::spawn(noise(noisy.clone(), i, stop.clone())))
            .collect();
        let started = Instant::now();
        // Polls that meet a 429 just poll again. 76 s here; the limit leaves a slower machine
        // room and stays at the client's 5-minute read timeout and under the 600 s resync, so
        // a tenant held by a request that never returns, or moved only by its resync, fails.
        let done = wait_phase(&s, &rev2, RolloutStatus::COMPLETE, Duration::from_secs(300))
            .await
            .with_context(|| format!("operator log:\n{}", tail(&op.log(), 30)))?;
        let took = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        let mut noise_writes = 0;
        for l in load {
            noise_writes += l.await.unwrap_or(0);
        }
        let metrics = s
            .client
            .request_text(http::Request::get("/metrics").body(Vec::new())?)
            .await
            .context("GET /metrics of the throttled API server")?;
        let answered_429 = throttled(&metrics);
        eprintln!(
            "[throttled] rollout of {TENANTS} tenants complete in {took:.1?}; the API server answered 429 {answered_429} times ({noise_writes} writes of the other clients got through)"
        );
        ensure!(
            answered_429 >= 100.0,
            "the API server answered 429 only {answered_429} times: the test hardly throttled anything"
        );
        ensure!(
            done.failed == 0 && done.ready == TENANTS as i64,
            "completed rollout {done:?}"
        );
        let failures: Vec<String> = op
            .metrics()
            .await?
            .lines()
            .filter(|l| l.starts_with("khaibao_reconcile_errors_total"))
            .map(str::to_string)
            .collect();
        eprintln!("[throttled] the operator's failed reconciles: {failures:?}");
        ensure!(
            !failures.is_empty(),
            "the operator met no error: its requests were never throttled"
        );

        // Back to a normal API server for the checks.
        cp.restart_apiserver()?;
        s.ensure_ready_on(TENANTS, &rev2).await?;
        let after = s.objects().await?;
        ensure!(
            after.len() == objects_before,
            "{} objects after, {objects_before} before",
            after.len()
        );
        let stale = after
            .iter()
            .filter(|o| o.kind != "Secret" && o.tenant().is_some())
            .filter(|o| o.label("khaibao.dev/revision") != Some(rev2.as_str()))
            .count();
        ensure!(stale == 0, "{stale} tenant objects not on {rev2}");
        ensure!(
            s.generated_secrets().await? == secrets_before,
            "generated Secret values changed under throttling"
        );
        Ok(())
    });
}
