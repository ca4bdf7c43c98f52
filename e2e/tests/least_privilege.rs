//! The operator runs as the chart's ServiceAccount, with exactly the chart's RBAC
//! (`helm template charts/khaibao`, [`ChartRbac`]): every request it makes is authorised as
//! `system:serviceaccount:khaibao-system:kb-operator` (impersonation by the harness's admin
//! certificate), and the whole life of a fleet works: the 63 provinces converge, a value
//! changes, a hand deletion is restored, a TenantSet grows and shrinks, tenants and the platform
//! are deleted, and the API server never answered the operator 403.
//!
//! `rbac_rule_removal_proof` (ignored by default; `e2e/rbac-proof.sh` runs it) removes one rule
//! (or one verb) of the chart's ClusterRole / Role at a time, runs the same scenario on a fresh
//! control plane and records which step breaks: the table in SECURITY.md.
//!
//! Slightly over 500 lines on purpose: the scenario and its ten named steps are what both tests
//! prove (the proof's table names the step that breaks), so they stay here; the chart's RBAC
//! itself (rendering, removing a rule, the operator as its ServiceAccount) is in
//! `khaibao_e2e::chart_rbac`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use khaibao::api::{Tenant, TenantSet};
use khaibao_e2e::chart_rbac::{
    ChartRbac, RELEASE_NAMESPACE, SERVICE_ACCOUNT, first_forbidden, removals,
};
use khaibao_e2e::events::events_with_reason;
use khaibao_e2e::{
    ControlPlane, OBJECTS_PER_TENANT, Operator, SHARED_OBJECTS, Scope, block_on,
    conditions_summary, platform_condition, tenant_ready, wait_until, with_cluster, workspace_root,
};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

/// The scenario's platform namespace (`Scope::new(_, "lp")`), the chart's only
/// `secretNamespaces` entry here.
const PLATFORM_NAMESPACE: &str = "e2e-lp";
/// The chart's RBAC of this scenario.
const CHART_RBAC: ChartRbac = ChartRbac {
    secret_namespace: PLATFORM_NAMESPACE,
};

struct Outcome {
    /// Names of the steps that passed, in order.
    passed: Vec<&'static str>,
    /// The step that failed and why.
    failed: Option<(&'static str, String)>,
    forbidden: Option<String>,
    took: Duration,
}

/// Runs `step` and records it; stops at the first failure.
macro_rules! step {
    ($outcome:expr, $name:expr, $body:expr) => {{
        let started = Instant::now();
        match $body {
            Ok(v) => {
                eprintln!(
                    "[least-privilege] ok   {} ({:.1?})",
                    $name,
                    started.elapsed()
                );
                $outcome.passed.push($name);
                v
            }
            Err(e) => {
                let e: anyhow::Error = e;
                eprintln!("[least-privilege] FAIL {}: {e:#}", $name);
                $outcome.failed = Some(($name, format!("{e:#}")));
                return Ok(());
            }
        }
    }};
}

const STEPS: [&str; 10] = [
    "operator becomes ready (Lease, caches of every watched kind)",
    "platform: its namespace and shared Deployment + Service",
    "provinces Ready with their ConfigMaps, Ingress and generated Secret",
    "a value change rewrites the tenant's ConfigMap",
    "a ConfigMap deleted by hand is restored, with a Restored event (twice: its series count)",
    "a TenantSet creates its tenants",
    "shrinking the TenantSet deletes the tenant it no longer selects",
    "deleting a tenant removes its objects and finalizer",
    "deleting the platform after its tenants (finalizer released)",
    "the API server never refused the operator (no 403 in its log)",
];

/// The fleet's life with the operator running as the chart's ServiceAccount.
async fn scenario(
    cp: &ControlPlane,
    provinces: &[&str],
    timeout: Duration,
    outcome: &mut Outcome,
) -> anyhow::Result<()> {
    let op = Operator::start(cp, CHART_RBAC.operator_options("sa"))?;
    let admin = cp.client().await?;
    let s = Scope::new(admin.clone(), "lp");
    let expected = if provinces.is_empty() {
        63
    } else {
        provinces.len()
    };
    let result = async {
        step!(outcome, STEPS[0], op.wait_ready(timeout).await);
        step!(
            outcome,
            STEPS[1],
            async {
                s.apply_platform(&s.platform_manifest()?).await?;
                wait_until("shared objects", timeout, async || {
                    let kinds: BTreeSet<String> =
                        s.objects().await?.into_iter().map(|o| o.kind).collect();
                    ensure!(
                        kinds.len() == SHARED_OBJECTS,
                        "shared kinds so far: {kinds:?}"
                    );
                    Ok(())
                })
                .await?;
                s.wait_platform_reconciled(timeout).await
            }
            .await
        );
        let ha_noi_ns = format!("{}-tinh-01", s.prefix);
        step!(
            outcome,
            STEPS[2],
            async {
                s.create_tenants(&s.provinces(provinces)?).await?;
                let took = s.wait_ready(expected, timeout).await?;
                eprintln!("[least-privilege] {expected} provinces Ready in {took:.1?}");
                let objects = s.objects().await?;
                ensure!(
                    objects.len() == expected * OBJECTS_PER_TENANT + SHARED_OBJECTS,
                    "{} objects, expected {}",
                    objects.len(),
                    expected * OBJECTS_PER_TENANT + SHARED_OBJECTS
                );
                ensure!(
                    s.generated_secrets().await?.len() == expected,
                    "generated Secrets missing"
                );
                Ok(())
            }
            .await
        );
        // Restored events about any object of ha-noi's namespace.
        let restored_events = async || {
            events_with_reason(&admin, "Restored", |r| {
                r.namespace.as_deref() == Some(ha_noi_ns.as_str())
            })
            .await
        };
        let portal_config = async || -> anyhow::Result<khaibao_e2e::Obj> {
            s.tenant_objects(&ha_noi_ns, "ha-noi")
                .await?
                .into_iter()
                .find(|o| o.name.ends_with("-portal-config"))
                .context("no portal-config")
        };
        step!(
            outcome,
            STEPS[3],
            async {
                s.patch_tenant_spec(
                    &ha_noi_ns,
                    "ha-noi",
                    json!({"values": {"branding": {"title": "Cổng quyền tối thiểu"}}}),
                )
                .await?;
                wait_until("ha-noi's portal-config updated", timeout, async || {
                    let cm = portal_config().await?;
                    ensure!(
                        cm.data("title") == Some("Cổng quyền tối thiểu"),
                        "title {:?}",
                        cm.data("title")
                    );
                    Ok(())
                })
                .await
                .map(drop)
            }
            .await
        );
        step!(
            outcome,
            STEPS[4],
            async {
                let cm = portal_config().await?;
                let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), &s.namespace);
                cms.delete(&cm.name, &DeleteParams::default()).await?;
                wait_until(
                    "the ConfigMap restored with an event",
                    timeout,
                    async || {
                        let now = portal_config().await?;
                        ensure!(now.uid != cm.uid, "not recreated yet");
                        let restored = !restored_events().await?.is_empty();
                        ensure!(restored, "no Restored event about ha-noi");
                        Ok(())
                    },
                )
                .await?;
                // The same restoration again: the event recorder patches the existing Event's
                // series instead of creating a new one (events: patch).
                let again = portal_config().await?;
                cms.delete(&again.name, &DeleteParams::default()).await?;
                wait_until("the Restored event counted twice", timeout, async || {
                    let now = portal_config().await?;
                    ensure!(now.uid != again.uid, "not recreated yet");
                    let counts: Vec<i32> = restored_events()
                        .await?
                        .into_iter()
                        .map(|e| e.series.map_or(1, |s| s.count))
                        .collect();
                    ensure!(
                        counts.iter().any(|c| *c >= 2),
                        "Restored events about ha-noi, by count: {counts:?}"
                    );
                    Ok(())
                })
                .await
                .map(drop)
            }
            .await
        );
        let sets: Api<TenantSet> = Api::namespaced(admin.clone(), &ha_noi_ns);
        let tenants: Api<Tenant> = Api::namespaced(admin.clone(), &ha_noi_ns);
        let set_tenants = async || -> anyhow::Result<Vec<Tenant>> {
            Ok(tenants
                .list(&ListParams::default().labels("khaibao.dev/tenant-set=phuong"))
                .await?
                .items)
        };
        step!(
            outcome,
            STEPS[5],
            async {
                let set: TenantSet = serde_json::from_value(json!({
                    "apiVersion": "khaibao.dev/v1alpha1", "kind": "TenantSet",
                    "metadata": {"name": "phuong", "namespace": ha_noi_ns},
                    // The provinces are declared in the 63-province division, so are their communes.
                "spec": {"platform": s.platform, "parent": "ha-noi", "division": "63",
                             "units": {"codes": ["00004", "00008"]},
                             "values": {"contact": {"email": "motcua.{{unit.slug}}@hanoi.gov.vn"}}},
                }))?;
                sets.create(&PostParams::default(), &set).await?;
                wait_until("the TenantSet's 2 tenants Ready", timeout, async || {
                    let made = set_tenants().await?;
                    ensure!(
                        made.len() == 2 && made.iter().all(tenant_ready),
                        "{} tenants: {:?}",
                        made.len(),
                        made.iter()
                            .map(|t| format!("{}: {}", t.name_any(), conditions_summary(t)))
                            .collect::<Vec<_>>()
                    );
                    Ok(())
                })
                .await
                .map(drop)
            }
            .await
        );
        step!(
            outcome,
            STEPS[6],
            async {
                sets.patch(
                    "phuong",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"units": {"codes": ["00004"]}}})),
                )
                .await?;
                wait_until("the TenantSet pruned to 1 tenant", timeout, async || {
                    let names: Vec<String> =
                        set_tenants().await?.iter().map(|t| t.name_any()).collect();
                    ensure!(
                        names == ["phuong-truc-bach"],
                        "tenants of the set: {names:?}"
                    );
                    Ok(())
                })
                .await
                .map(drop)
            }
            .await
        );
        step!(
            outcome,
            STEPS[7],
            async {
                let ns = format!("{}-tinh-79", s.prefix);
                let api: Api<Tenant> = Api::namespaced(admin.clone(), &ns);
                api.delete("ho-chi-minh", &DeleteParams::default()).await?;
                wait_until("ho-chi-minh and its objects gone", timeout, async || {
                    let left = s.tenant_objects(&ns, "ho-chi-minh").await?.len();
                    ensure!(left == 0, "{left} objects left");
                    ensure!(
                        api.get_opt("ho-chi-minh").await?.is_none(),
                        "the tenant is still there (finalizer)"
                    );
                    Ok(())
                })
                .await
                .map(drop)
            }
            .await
        );
        step!(
            outcome,
            STEPS[8],
            async {
                sets.delete("phuong", &DeleteParams::default()).await?;
                wait_until("the TenantSet gone", timeout, async || {
                    ensure!(sets.get_opt("phuong").await?.is_none(), "still there");
                    Ok(())
                })
                .await?;
                s.cleanup().await
            }
            .await
        );
        step!(
            outcome,
            STEPS[9],
            match first_forbidden(&op) {
                None => Ok(()),
                Some(line) => Err(anyhow::anyhow!("refused: {line}")),
            }
        );
        anyhow::Ok(())
    }
    .await;
    outcome.forbidden = first_forbidden(&op);
    result
}

fn new_outcome() -> Outcome {
    Outcome {
        passed: Vec::new(),
        failed: None,
        forbidden: None,
        took: Duration::ZERO,
    }
}

/// The 63 provinces and the rest of the fleet's life with the operator as the chart's
/// ServiceAccount and nothing more.
#[test]
fn operator_runs_as_the_charts_service_account() {
    with_cluster(async |cp| {
        CHART_RBAC.install(cp, None)?;
        // The identity really is restricted (asked of the API server's authorizer). Secrets
        // only in the platform namespace the chart's secretNamespaces lists. (RBAC cannot limit
        // a list to metadata: there the operator could read Secret values, although it only
        // ever watches their metadata; SECURITY.md.)
        let sa = format!("system:serviceaccount:{RELEASE_NAMESPACE}:{SERVICE_ACCOUNT}");
        for (verb, resource, namespace, allowed) in [
            ("create", "clusterrolebindings", None, false),
            ("create", "validatingadmissionpolicies", None, false),
            ("create", "pods", None, false),
            ("get", "secrets", None, false),
            ("update", "platforms.khaibao.dev", None, false),
            ("list", "secrets", None, false),
            ("list", "secrets", Some("kube-system"), false),
            ("list", "secrets", Some(PLATFORM_NAMESPACE), true),
            ("create", "secrets", Some(PLATFORM_NAMESPACE), true),
            ("patch", "tenants.khaibao.dev/status", None, true),
        ] {
            let mut args = vec!["auth", "can-i", verb, resource, "--as", &sa];
            match namespace {
                Some(ns) => args.extend(["-n", ns]),
                None => args.push("-A"),
            }
            let answer = cp.kubectl(&args).unwrap_or_else(|e| e.to_string());
            ensure!(
                answer.trim_end().ends_with("yes") == allowed,
                "can-i {verb} {resource} in {namespace:?} as {sa}: {answer}"
            );
        }
        // And for real: the ServiceAccount is refused a Secret of kube-system.
        let as_sa = cp
            .client_as(
                &sa,
                &[
                    "system:serviceaccounts",
                    "system:serviceaccounts:khaibao-system",
                    "system:authenticated",
                ],
            )
            .await?;
        let kube_system: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(as_sa, "kube-system");
        match kube_system.list(&ListParams::default()).await {
            Err(kube::Error::Api(e)) if e.code == 403 => {}
            other => bail!("listing kube-system's Secrets as the operator: {other:?}, not 403"),
        }
        let mut outcome = new_outcome();
        let started = Instant::now();
        scenario(cp, &[], Duration::from_secs(240), &mut outcome).await?;
        outcome.took = started.elapsed();
        if let Some((step, why)) = &outcome.failed {
            bail!("as the chart's ServiceAccount, step '{step}' failed: {why}");
        }
        eprintln!("[least-privilege] whole scenario in {:.1?}", outcome.took);
        a_platform_outside_secret_namespaces_says_so(cp).await
    });
}

/// A platform whose namespace the chart's secretNamespaces does not list: the Platform and its
/// tenant say what to change, and the operator never got a 403 trying.
async fn a_platform_outside_secret_namespaces_says_so(cp: &ControlPlane) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(120);
    // The scenario's cleanup deleted its platform namespace, and with it the chart's Secrets
    // Role there (a race: this operator got 403 when the Role went first). Wait until it is
    // gone and install the chart's RBAC again, which recreates both.
    let namespaces: Api<Namespace> = Api::all(cp.client().await?);
    wait_until(
        &format!("namespace {PLATFORM_NAMESPACE} deleted"),
        timeout,
        async || {
            let left = namespaces.get_opt(PLATFORM_NAMESPACE).await?;
            ensure!(left.is_none(), "still there");
            Ok(())
        },
    )
    .await?;
    CHART_RBAC.install(cp, None)?;
    let op = Operator::start(cp, CHART_RBAC.operator_options("sa-other"))?;
    op.wait_ready(timeout).await?;
    let s = Scope::new(cp.client().await?, "lp-other");
    s.apply_platform(&s.platform_manifest()?).await?;
    s.create_tenants(&s.provinces(&["01"])?).await?;
    let ns = format!("{}-tinh-01", s.prefix);
    wait_until(
        "the platform and tenant name secretNamespaces",
        timeout,
        async || {
            let p = s.get_platform().await?.context("platform missing")?;
            let ready = platform_condition(&p, "Ready").context("no Ready condition")?;
            ensure!(
                ready.status == "False"
                    && ready.reason == "SecretNamespaceNotPermitted"
                    && ready
                        .message
                        .contains("add \"e2e-lp-other\" to secretNamespaces"),
                "platform Ready: {} {}: {}",
                ready.status,
                ready.reason,
                ready.message
            );
            let t = s.tenant(&ns, "ha-noi").await?.context("no tenant")?;
            let summary = conditions_summary(&t);
            ensure!(
                !tenant_ready(&t) && summary.contains("secretNamespaces"),
                "tenant: {summary}"
            );
            Ok(())
        },
    )
    .await?;
    ensure!(
        first_forbidden(&op).is_none(),
        "the operator was refused: {:?}",
        first_forbidden(&op)
    );
    Ok(())
}

/// For each rule of the chart's ClusterRole and Role (and, with
/// `KHAIBAO_E2E_RBAC_PROOF=verbs`, each verb of each rule): a fresh control plane, the chart's
/// RBAC minus that rule, the scenario with 5 provinces. Writes the table to
/// `$KHAIBAO_E2E_RBAC_PROOF_OUT` (default `e2e/.run/rbac-proof.md`) and fails if removing some
/// rule broke nothing (that rule would be unnecessary). `KHAIBAO_E2E_RBAC_PROOF_ONLY=TEXT` keeps
/// the removals whose description contains TEXT (e.g. `events.k8s.io`).
#[test]
#[ignore = "long: one control plane per rule; run by e2e/rbac-proof.sh"]
fn rbac_rule_removal_proof() {
    let per_verb = std::env::var("KHAIBAO_E2E_RBAC_PROOF").is_ok_and(|v| v == "verbs");
    let timeout = Duration::from_secs(
        std::env::var("KHAIBAO_E2E_RBAC_PROOF_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(40),
    );
    let provinces = ["01", "31", "48", "79", "92"];
    // The rules, read from the chart once.
    let rules = block_on(async {
        let cp = ControlPlane::start()?;
        CHART_RBAC.install(&cp, None)?;
        CHART_RBAC.applied_rules(&cp)
    })
    .expect("the chart's rules");
    let removals = removals(&rules, per_verb);
    let mut table = String::from(
        "| removed | first behaviour that breaks | first request refused (403) |\n|---|---|---|\n",
    );
    let mut harmless = Vec::new();
    let only = std::env::var("KHAIBAO_E2E_RBAC_PROOF_ONLY").unwrap_or_default();
    for (removal, rule) in &removals {
        let what = match &removal.verb {
            Some(v) => format!("`{v}` of {} rule {} ({rule})", removal.kind, removal.index),
            None => format!("{} rule {}: `{rule}`", removal.kind, removal.index),
        };
        if !what.contains(&only) {
            continue;
        }
        eprintln!("[rbac-proof] removing {what}");
        let mut outcome = new_outcome();
        let started = Instant::now();
        let run = block_on(async {
            let cp = ControlPlane::start()?;
            CHART_RBAC.install(&cp, Some(removal))?;
            scenario(&cp, &provinces, timeout, &mut outcome).await
        });
        outcome.took = started.elapsed();
        let broke = match (&run, &outcome.failed) {
            (Err(e), _) => format!("harness error: {e:#}"),
            (Ok(()), Some((step, _))) => step.to_string(),
            (Ok(()), None) => {
                harmless.push(what.clone());
                "**nothing** (unnecessary)".into()
            }
        };
        let _ = writeln!(
            table,
            "| {what} | {broke} | {} |",
            outcome
                .forbidden
                .as_deref()
                .map(|f| format!("`{f}`"))
                .unwrap_or_else(|| "—".into())
        );
        eprintln!("[rbac-proof] {what}: {broke} ({:.0?})", outcome.took);
    }
    let out = std::env::var("KHAIBAO_E2E_RBAC_PROOF_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("e2e/.run/rbac-proof.md"));
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&out, &table).expect("write the proof table");
    eprintln!("{table}\n[rbac-proof] table written to {}", out.display());
    assert!(harmless.is_empty(), "rules nothing needs: {harmless:?}");
}
