//! Two operator replicas with leader election and distinct identities: only the Lease holder
//! writes (the other's `khaibao_api_writes_total` stays at zero); after kill -9 of the leader the
//! other takes over within ~30 s and reconciles a tenant created after the kill.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use k8s_openapi::api::coordination::v1::Lease;
use khaibao_e2e::{
    OBJECTS_PER_TENANT, Operator, OperatorOptions, Scope, assert_no_secret_leaks, wait_until,
    with_cluster,
};
use kube::Api;

const LEASE_NAMESPACE: &str = "khaibao-system";
const LEASE_NAME: &str = "khaibao-operator";

async fn holder(leases: &Api<Lease>) -> anyhow::Result<Option<String>> {
    Ok(leases
        .get_opt(LEASE_NAME)
        .await?
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity))
}

#[test]
fn only_the_leader_writes_and_the_standby_takes_over() {
    with_cluster(async |cp| {
        let client = cp.client().await?;
        let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
        let mut a = Operator::start(cp, OperatorOptions::new("e2e-replica-a"))?;
        a.wait_ready(Duration::from_secs(60)).await?;
        ensure!(
            holder(&leases).await?.as_deref() == Some("e2e-replica-a"),
            "replica a is ready but does not hold the Lease"
        );
        let b = Operator::start(cp, OperatorOptions::new("e2e-replica-b"))?;
        // b serves /metrics while it waits for the Lease.
        wait_until(
            "replica b's /metrics",
            Duration::from_secs(30),
            async || b.metrics().await.map(|_| ()),
        )
        .await?;

        let s = Scope::new(client.clone(), "ha");
        s.apply_platform(&s.platform_manifest()?).await?;
        s.create_tenants(&s.provinces(&["01", "48", "79", "92"])?)
            .await?;
        s.wait_ready(4, Duration::from_secs(60)).await?;
        // A hand edit, so that the leader has to write again while both run.
        let cm = s
            .tenant_objects(&format!("{}-tinh-48", s.prefix), "da-nang")
            .await?
            .into_iter()
            .find(|o| o.name.ends_with("-portal-config"))
            .context("no portal-config")?;
        cp.kubectl(&[
            "-n",
            &s.namespace,
            "patch",
            "configmap",
            &cm.name,
            "--type=merge",
            "-p",
            r#"{"data":{"title":"x"}}"#,
        ])?;
        wait_until(
            "the hand edit restored",
            Duration::from_secs(15),
            async || {
                let objs = s
                    .tenant_objects(&format!("{}-tinh-48", s.prefix), "da-nang")
                    .await?;
                let now = objs.iter().find(|o| o.name == cm.name).context("gone")?;
                ensure!(now.data("title") != Some("x"), "not restored yet");
                Ok(())
            },
        )
        .await?;

        let a_writes = a.total_writes().await?;
        let b_writes = b.writes().await?;
        eprintln!("writes: leader a {a_writes}, standby b {b_writes:?}");
        ensure!(a_writes > 0.0, "the leader made no writes");
        ensure!(
            b_writes.values().sum::<f64>() == 0.0,
            "the standby wrote: {b_writes:?}"
        );
        ensure!(
            b.reconciles().await?.values().sum::<f64>() == 0.0,
            "the standby reconciled"
        );
        ensure!(
            holder(&leases).await?.as_deref() == Some("e2e-replica-a"),
            "the Lease moved"
        );

        // kill -9 the leader: b takes over and reconciles a tenant created after the kill.
        a.kill9()?;
        let killed = Instant::now();
        let mut late = s.provinces(&["31"])?;
        s.create_tenants(&late).await?;
        let took = wait_until(
            "replica b to hold the Lease",
            Duration::from_secs(45),
            async || {
                let h = holder(&leases).await?;
                ensure!(h.as_deref() == Some("e2e-replica-b"), "holder {h:?}");
                Ok(())
            },
        )
        .await?;
        eprintln!("replica b took the Lease {took:.1?} after the kill");
        ensure!(took <= Duration::from_secs(35), "takeover took {took:.1?}");
        s.wait_ready(5, Duration::from_secs(30)).await?;
        eprintln!(
            "the new tenant was Ready {:.1?} after the leader was killed",
            killed.elapsed()
        );
        let t = late.remove(0);
        let ns = t["metadata"]["namespace"].as_str().unwrap_or_default();
        ensure!(
            s.tenant_objects(ns, "hai-phong").await?.len() == OBJECTS_PER_TENANT,
            "the new tenant's objects are missing"
        );
        ensure!(
            b.total_writes().await? > 0.0,
            "the new leader made no writes"
        );

        let secrets = s.generated_secrets().await?;
        ensure!(secrets.len() == 5, "{} generated secrets", secrets.len());
        assert_no_secret_leaks(&client, &secrets, &[a.log_path(), b.log_path()]).await?;
        Ok(())
    });
}
