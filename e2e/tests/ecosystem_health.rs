//! Health as the ecosystem reads it, from the live objects of this binary's control plane and
//! operator: the real kstatus library (sigs.k8s.io/cli-utils, what Flux's health checks call),
//! the chart's Argo CD health script run by gopher-lua (the interpreter Argo CD embeds), and
//! `kubectl wait --for=condition=Ready` for Tenant, TenantSet and Platform.

use std::time::Duration;

use anyhow::{Context, ensure};
use khaibao_e2e::peers::{Verdict, argocd_health, kstatus, kstatus_of};
use khaibao_e2e::tenant_sets::{HA_NOI_COMMUNES, manifest_name};
use khaibao_e2e::{ControlPlane, conditions_summary, tenant_condition, wait_until, with_shared};
use serde_json::{Value, json};

/// The chart's script, as `argocd.healthChecks` ships it.
fn health_script() -> std::path::PathBuf {
    khaibao_e2e::workspace_root().join("charts/khaibao/argocd/health.lua")
}

/// A live object as JSON, the way Argo CD hands it to the script.
fn live_json(
    cp: &ControlPlane,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
) -> anyhow::Result<Value> {
    let mut args = vec!["get", resource, name, "-o", "json"];
    if let Some(ns) = namespace {
        args.extend(["-n", ns]);
    }
    let out = cp.kubectl(&args)?;
    serde_json::from_str(&out).with_context(|| format!("kubectl get {resource} {name}: {out}"))
}

fn expect(v: &Verdict, status: &str, what: &str) -> anyhow::Result<()> {
    ensure!(
        v.status == status,
        "{what}: expected {status}, got {} ({})",
        v.status,
        v.message
    );
    Ok(())
}

#[test]
fn the_three_kinds_report_health_as_kstatus_argo_cd_and_kubectl_read_it() {
    with_shared(async |env| {
        let s = env.cp.scope("health").await?;
        let kubeconfig = env.cp.kubeconfig.clone();
        let script = health_script();
        s.install_platform_with_provinces(&["46", "79"], Duration::from_secs(60))
            .await?;

        // A set of 126 communes is not Ready the moment the operator first reports on it: the
        // first status it writes (its generation observed, 0 of 126 ready) is in progress.
        let (province, set) = s.ha_noi_example()?;
        let ns = s.province_namespace("01");
        let set_name = manifest_name(&set)?;
        s.create_tenants(std::slice::from_ref(&province)).await?;
        s.wait_ready(3, Duration::from_secs(60)).await?;
        s.apply_tenant_set(&set).await?;
        let mut first = Value::Null;
        wait_until(
            "the set's first status",
            Duration::from_secs(60),
            async || {
                let o = live_json(&env.cp, "tenantsets.khaibao.dev", Some(&ns), &set_name)?;
                ensure!(
                    o["status"]["observedGeneration"] == o["metadata"]["generation"],
                    "not observed yet"
                );
                first = o;
                Ok(())
            },
        )
        .await?;
        let ready = first["status"]["ready"].as_i64().unwrap_or(0);
        ensure!(
            ready < HA_NOI_COMMUNES as i64,
            "all {ready} communes ready at the first status: nothing in progress to check"
        );
        expect(
            &kstatus_of(&first)?,
            "InProgress",
            "kstatus, set filling up",
        )?;
        expect(
            &argocd_health(&script, &first)?,
            "Progressing",
            "Argo CD, set filling up",
        )?;

        // Converged: kubectl wait returns for each kind, kstatus says Current, Argo CD Healthy.
        let n = HA_NOI_COMMUNES as i64;
        s.wait_tenant_set(
            &ns,
            &set_name,
            (n, n, n),
            ("True", "Reconciled"),
            Duration::from_secs(240),
        )
        .await?;
        let province_name = manifest_name(&province)?;
        let live: [(&str, Option<&str>, &str); 3] = [
            ("tenants.khaibao.dev", Some(&ns), &province_name),
            ("tenantsets.khaibao.dev", Some(&ns), &set_name),
            ("platforms.khaibao.dev", None, &s.platform),
        ];
        for (resource, namespace, name) in live {
            let mut args = vec![
                "wait",
                "--for=condition=Ready",
                "--timeout=60s",
                resource,
                name,
            ];
            if let Some(ns) = namespace {
                args.extend(["-n", ns]);
            }
            env.cp
                .kubectl(&args)
                .with_context(|| format!("kubectl wait {resource} {name}"))?;
            let what = format!("{resource} {name}");
            expect(
                &kstatus(&kubeconfig, resource, namespace, name)?,
                "Current",
                &what,
            )?;
            let obj = live_json(&env.cp, resource, namespace, name)?;
            expect(&argocd_health(&script, &obj)?, "Healthy", &what)?;
        }

        // Values outside the schema: the tenant cannot go on without a change, so kstatus
        // calls it Failed and Argo CD Degraded, with the operator's message naming the value.
        let hue_ns = s.province_namespace("46");
        s.patch_tenant_spec(
            &hue_ns,
            "hue",
            json!({"values": {"branding": {"primaryColor": "tím-mộng-mơ"}}}),
        )
        .await?;
        wait_until("hue Stalled", Duration::from_secs(30), async || {
            let t = s.tenant(&hue_ns, "hue").await?.context("gone")?;
            let stalled = tenant_condition(&t, "Stalled").context("no Stalled")?;
            ensure!(stalled.status == "True", "{}", conditions_summary(&t));
            ensure!(
                tenant_condition(&t, "Reconciling").is_none(),
                "Reconciling and Stalled both set: {}",
                conditions_summary(&t)
            );
            Ok(())
        })
        .await?;
        let failed = kstatus(&kubeconfig, "tenants.khaibao.dev", Some(&hue_ns), "hue")?;
        expect(&failed, "Failed", "kstatus, values outside the schema")?;
        ensure!(
            failed.message.contains("primaryColor"),
            "kstatus message does not name the value: {}",
            failed.message
        );
        let hue = live_json(&env.cp, "tenants.khaibao.dev", Some(&hue_ns), "hue")?;
        let argo = argocd_health(&script, &hue)?;
        expect(&argo, "Degraded", "Argo CD, values outside the schema")?;
        ensure!(
            argo.message.contains("primaryColor"),
            "Argo CD message does not name the value: {}",
            argo.message
        );

        // Fixed, it is Current again: the conditions clear, nothing is left Stalled.
        s.patch_tenant_spec(
            &hue_ns,
            "hue",
            json!({"values": {"branding": {"primaryColor": "#00529c"}}}),
        )
        .await?;
        wait_until("hue Current again", Duration::from_secs(30), async || {
            let v = kstatus(&kubeconfig, "tenants.khaibao.dev", Some(&hue_ns), "hue")?;
            expect(&v, "Current", "kstatus, hue fixed")
        })
        .await?;
        s.cleanup().await
    });
}
