//! kill -9 of the operator while it creates the 63 provinces: after a restart it converges with
//! no duplicate and no lost object. Then a restart with `--resync-seconds 5` on the converged
//! fleet makes no write at all, and no generated secret value ever reached a log or an Event.
//! This cluster runs without the chart's finalizer policy: the operator adds its finalizer
//! to each tenant itself, and a kill between that write and the objects' loses nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use khaibao_e2e::{
    OBJECTS_PER_TENANT, Operator, OperatorOptions, SHARED_OBJECTS, Scope, assert_no_secret_leaks,
    platform_revision, wait_until, with_cluster,
};
use kube::ResourceExt;
use serde_json::json;

const EXPECTED: usize = 63 * OBJECTS_PER_TENANT + SHARED_OBJECTS;

#[test]
fn kill_9_while_creating_63_provinces_then_resync_without_writes() {
    with_cluster(async |cp| {
        cp.kubectl(&[
            "delete",
            "mutatingadmissionpolicybinding",
            "khaibao-tenant-finalizer",
        ])?;
        // One reconcile at a time, so that the kill lands in the middle: at the default
        // concurrency the 63 provinces converge faster than the test can look.
        let slow = OperatorOptions {
            extra_args: vec!["--concurrency".into(), "1".into()],
            ..OperatorOptions::new("e2e-crash")
        };
        let mut op = Operator::start(cp, slow)?;
        op.wait_ready(Duration::from_secs(60)).await?;
        let s = Scope::new(cp.client().await?, "crash");
        let manifest = s.platform_manifest()?;
        let revision = platform_revision(&manifest)?;
        s.apply_platform(&manifest).await?;
        s.wait_platform_reconciled(Duration::from_secs(30)).await?;

        // Create the 63 provinces and kill -9 the operator once about a third of their
        // objects exist.
        let tenants = s.provinces(&[])?;
        s.create_tenants(&tenants).await?;
        let mut at_kill = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            at_kill = s.objects().await?.len();
            if at_kill >= EXPECTED / 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        op.kill9()?;
        let ready_at_kill = s
            .tenants()
            .await?
            .iter()
            .filter(|t| khaibao_e2e::tenant_ready(t))
            .count();
        eprintln!(
            "killed the operator with {at_kill}/{EXPECTED} objects and {ready_at_kill}/63 tenants Ready"
        );
        ensure!(
            at_kill < EXPECTED && ready_at_kill < 63,
            "the fleet converged before the kill; nothing was interrupted"
        );

        op.restart_with(OperatorOptions::new("e2e-crash"))?;
        let took = s.wait_ready(63, Duration::from_secs(120)).await?;
        eprintln!("converged {took:.1?} after the restart");
        // Let anything still in flight land, then count exactly.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let objects = s.objects().await?;
        ensure!(
            objects.len() == EXPECTED,
            "{} objects, expected exactly {EXPECTED}",
            objects.len()
        );
        let names: BTreeSet<(&str, &str)> = objects
            .iter()
            .map(|o| (o.kind.as_str(), o.name.as_str()))
            .collect();
        ensure!(names.len() == objects.len(), "duplicate objects");
        let mut per_tenant: BTreeMap<&str, usize> = BTreeMap::new();
        for o in &objects {
            if let Some(t) = o.tenant() {
                *per_tenant.entry(t).or_default() += 1;
            }
            ensure!(
                o.label("khaibao.dev/revision") == Some(revision.as_str()),
                "{} {} has revision {:?}",
                o.kind,
                o.name,
                o.label("khaibao.dev/revision")
            );
        }
        ensure!(
            per_tenant.len() == 63,
            "{} tenants own objects",
            per_tenant.len()
        );
        ensure!(
            per_tenant.values().all(|n| *n == OBJECTS_PER_TENANT),
            "objects per tenant: {per_tenant:?}"
        );
        let secrets = s.generated_secrets().await?;
        ensure!(secrets.len() == 63, "{} generated secrets", secrets.len());
        let without_finalizer: Vec<String> = s
            .tenants()
            .await?
            .iter()
            .filter(|t| {
                !t.finalizers()
                    .iter()
                    .any(|f| f == "khaibao.dev/tenant-objects")
            })
            .map(|t| t.name_any())
            .collect();
        ensure!(
            without_finalizer.is_empty(),
            "the operator did not add its finalizer to {without_finalizer:?}"
        );

        // A tenant that was invalid for a while and is fixed again must settle too.
        let ns = format!("{}-tinh-01", s.prefix);
        s.patch_tenant_spec(&ns, "ha-noi", json!({"values": {"rateLimitPerMinute": 1}}))
            .await?;
        wait_until("ha-noi Ready=False", Duration::from_secs(30), async || {
            let t = s.tenant(&ns, "ha-noi").await?.context("gone")?;
            ensure!(
                t.status
                    .as_ref()
                    .and_then(|s| s.last_error.as_ref())
                    .is_some(),
                "{}",
                khaibao_e2e::conditions_summary(&t)
            );
            Ok(())
        })
        .await?;
        s.patch_tenant_spec(&ns, "ha-noi", json!({"values": null}))
            .await?;
        s.wait_ready(63, Duration::from_secs(30)).await?;
        // The platform's roll-up follows its tenants a moment later; stopping before it is
        // written would leave the next process a status to bring up to date.
        wait_until(
            "platform counts 63 Ready",
            Duration::from_secs(30),
            async || {
                let p = kube::Api::<khaibao::api::Platform>::all(s.client.clone())
                    .get(&s.platform)
                    .await?;
                let status = p.status.unwrap_or_default();
                ensure!(
                    status.tenants.get("ready") == Some(&63) && status.failing.is_empty(),
                    "tenants {:?}, failing {}",
                    status.tenants,
                    status.failing.len()
                );
                Ok(())
            },
        )
        .await?;

        // Converged means the operator has stopped writing too: a status it still had queued
        // (the roll-up, a tenant's last condition) would otherwise be left to the next process.
        op.wait_idle(Duration::from_secs(30)).await?;

        let statuses_before = statuses(&s).await?;

        // A restart on a converged fleet, resyncing every 5 s: reads only, not one write.
        let stopping = Instant::now();
        ensure!(
            op.terminate()?,
            "the operator did not exit cleanly within 15 s of SIGTERM:\n{}",
            khaibao_e2e::tail(&op.log(), 20)
        );
        eprintln!("SIGTERM: the operator exited in {:.1?}", stopping.elapsed());
        op.restart_with(OperatorOptions::new("e2e-crash").resync_seconds(5))?;
        op.wait_ready(Duration::from_secs(60)).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let reconciles_before = op.reconciles().await?;
        let writes_before = op.writes().await?;
        tokio::time::sleep(Duration::from_secs(12)).await;
        let reconciles_after = op.reconciles().await?;
        let writes_after = op.writes().await?;
        let tenant_reconciles = reconciles_after.get("tenant").copied().unwrap_or(0.0)
            - reconciles_before.get("tenant").copied().unwrap_or(0.0);
        eprintln!(
            "{tenant_reconciles} tenant reconciles in 12 s of resync; writes {writes_before:?} -> {writes_after:?}"
        );
        ensure!(
            tenant_reconciles >= 63.0,
            "only {tenant_reconciles} tenant reconciles in 12 s with --resync-seconds 5"
        );
        if writes_after.values().sum::<f64>() != 0.0 {
            let after = statuses(&s).await?;
            let changed: Vec<String> = after
                .iter()
                .filter(|(k, v)| statuses_before.get(*k) != Some(*v))
                .map(|(k, v)| {
                    format!(
                        "{k}: {} -> {v}",
                        statuses_before.get(k).cloned().unwrap_or_default()
                    )
                })
                .collect();
            anyhow::bail!(
                "an up-to-date fleet was written to: restart and resyncs made {writes_after:?}; statuses changed: {changed:#?}"
            );
        }
        ensure!(
            s.generated_secrets().await? == secrets,
            "generated secret values changed across restarts"
        );

        assert_no_secret_leaks(&s.client, &secrets, &[op.log_path()]).await?;
        Ok(())
    });
}

/// The status of every Tenant and of the Platform of the scope, as JSON text by object.
async fn statuses(s: &khaibao_e2e::Scope) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out: BTreeMap<String, String> = s
        .tenants()
        .await?
        .iter()
        .map(|t| {
            let key = format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any());
            (key, serde_json::to_string(&t.status).unwrap_or_default())
        })
        .collect();
    if let Some(p) = s.get_platform().await? {
        out.insert(
            format!("platform/{}", s.platform),
            serde_json::to_string(&p.status).unwrap_or_default(),
        );
    }
    Ok(out)
}
