//! The whole fleet of 63 provinces through one platform's life, on the control plane and
//! operator of this binary: Ready with labelled objects and a generated Secret each, a template
//! edit rolled out to every tenant, a removed template pruned everywhere after approval, and the
//! platform's deletion refused while tenants use it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use khaibao::api::{Platform, Tenant};
use khaibao_e2e::events::events_with_reason;
use khaibao_e2e::{
    OBJECTS_PER_TENANT, SHARED_OBJECTS, assert_no_secret_leaks, conditions_summary, khaibao,
    platform_condition, platform_revision, tenant_label, wait_until, with_shared,
};
use kube::api::{Api, DeleteParams};
use serde_json::json;

const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
const REVISION: &str = "khaibao.dev/revision";

fn tenant_template_names(manifest: &serde_json::Value) -> Vec<String> {
    manifest["spec"]["templates"]["tenant"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The whole fleet: 63 provinces become Ready with correctly labelled objects and a generated
/// Secret each; a template edit re-renders every tenant; a removed template is pruned
/// everywhere; deleting the platform is refused while tenants use it and completes once they
/// are gone.
#[test]
fn fleet_of_63_provinces() {
    with_shared(async |env| {
        let s = env.cp.scope("fleet").await?;
        let mut manifest = s.platform_manifest()?;
        let revision = platform_revision(&manifest)?;
        s.apply_platform(&manifest).await?;
        let tenants = s.provinces(&[])?;
        ensure!(
            tenants.len() == 63,
            "{} provinces in the example",
            tenants.len()
        );
        let started = Instant::now();
        s.create_tenants(&tenants).await?;
        let took = s.wait_ready(63, Duration::from_secs(120)).await?;
        eprintln!(
            "63 provinces Ready {:.1?} after creation ({:.1?} including creation)",
            took,
            started.elapsed()
        );

        // Every object present, labelled, and exactly as many as rendered.
        let objects = s.objects().await?;
        ensure!(
            objects.len() == 63 * OBJECTS_PER_TENANT + SHARED_OBJECTS,
            "{} objects in {}, expected {}",
            objects.len(),
            s.namespace,
            63 * OBJECTS_PER_TENANT + SHARED_OBJECTS
        );
        for t in &tenants {
            let ns = t["metadata"]["namespace"].as_str().unwrap_or_default();
            let name = t["metadata"]["name"].as_str().unwrap_or_default();
            let code = t["spec"]["unit"]["code"].as_str().unwrap_or_default();
            let label = tenant_label(ns, name);
            let mine: Vec<_> = objects
                .iter()
                .filter(|o| o.tenant() == Some(label.as_str()))
                .collect();
            let kinds: BTreeMap<&str, usize> = mine.iter().fold(BTreeMap::new(), |mut m, o| {
                *m.entry(o.kind.as_str()).or_default() += 1;
                m
            });
            ensure!(
                kinds == BTreeMap::from([("ConfigMap", 2), ("Ingress", 1), ("Secret", 1)]),
                "tenant {ns}/{name} has {kinds:?}"
            );
            for o in &mine {
                for (k, v) in [
                    (MANAGED_BY, "khaibao"),
                    ("khaibao.dev/platform", s.platform.as_str()),
                    ("khaibao.dev/unit-code", code),
                    (REVISION, revision.as_str()),
                ] {
                    ensure!(
                        o.label(k) == Some(v),
                        "{} {}: label {k}={:?}, expected {v:?}",
                        o.kind,
                        o.name,
                        o.label(k)
                    );
                }
            }
        }
        let secrets = s.generated_secrets().await?;
        ensure!(secrets.len() == 63, "{} generated secrets", secrets.len());
        for (name, data) in &secrets {
            let token = data
                .get("token")
                .with_context(|| format!("{name} has no token"))?;
            ensure!(
                token.len() == 40 && token.iter().all(u8::is_ascii_alphanumeric),
                "{name}: token of {} bytes",
                token.len()
            );
        }
        let distinct: BTreeSet<&Vec<u8>> =
            secrets.values().filter_map(|d| d.get("token")).collect();
        ensure!(
            distinct.len() == 63,
            "generated tokens are not all different"
        );

        // A template edit re-renders every tenant.
        let tenant_templates = manifest["spec"]["templates"]["tenant"]
            .as_array_mut()
            .context("no tenant templates")?;
        let config = tenant_templates
            .iter_mut()
            .find(|t| t["name"] == "config.yaml.hbs")
            .context("no config.yaml.hbs")?;
        let text = config["template"].as_str().unwrap_or_default().to_string();
        config["template"] = json!(format!("{}\n  e2eMarker: template-v2\n", text.trim_end()));
        let revision2 = platform_revision(&manifest)?;
        ensure!(
            revision2 != revision,
            "the template edit did not change the revision"
        );
        s.apply_platform(&manifest).await?;
        let took = wait_until(
            "every tenant re-rendered with the new template",
            Duration::from_secs(120),
            async || {
                let objects = s.objects().await?;
                // Generated Secrets are created once and never rewritten: they keep the
                // revision they were created at (their values must survive a rollout).
                let stale = objects
                    .iter()
                    .filter(|o| o.kind != "Secret")
                    .filter(|o| o.label(REVISION) != Some(revision2.as_str()))
                    .count();
                let marked = objects
                    .iter()
                    .filter(|o| o.name.ends_with("-portal-config"))
                    .filter(|o| o.data("e2eMarker") == Some("template-v2"))
                    .count();
                let tenants = s.tenants().await?;
                ensure!(
                    stale == 0 && marked == 63,
                    "{stale} objects still on an old revision, {marked}/63 ConfigMaps with the new key; {}",
                    conditions_summary(&tenants[0])
                );
                let tenants = s.tenants().await?;
                let behind: Vec<&Tenant> = tenants
                    .iter()
                    .filter(|t| {
                        t.status.as_ref().and_then(|s| s.revision.as_deref())
                            != Some(revision2.as_str())
                    })
                    .collect();
                ensure!(
                    behind.is_empty(),
                    "{} tenants report an old status.revision, e.g. {}",
                    behind.len(),
                    conditions_summary(behind[0])
                );
                Ok(())
            },
        )
        .await?;
        eprintln!("template edit rolled out to 63 tenants in {took:.1?}");
        s.wait_ready(63, Duration::from_secs(30)).await?;
        ensure!(
            s.generated_secrets().await? == secrets,
            "generated secret values changed during the rollout"
        );

        // A removed template: its objects are pruned everywhere.
        let tenant_templates = manifest["spec"]["templates"]["tenant"]
            .as_array_mut()
            .context("no tenant templates")?;
        tenant_templates.retain(|t| t["name"] != "services.yaml.hbs");
        ensure!(
            !tenant_template_names(&manifest).contains(&"services.yaml.hbs".to_string()),
            "services.yaml.hbs still listed"
        );
        s.apply_platform(&manifest).await?;
        // Deleting an object from all 63 tenants is past the blast-radius guard: the rollout
        // waits for approval with nothing deleted, then goes through once approved.
        let revision3 = platform_revision(&manifest)?;
        wait_until(
            "the rollout removing a template to wait for approval",
            Duration::from_secs(30),
            async || {
                let p = s.get_platform().await?.context("platform")?;
                let r = p.status.and_then(|st| st.rollout).context("no rollout")?;
                ensure!(
                    r.to == revision3 && r.phase == "AwaitingApproval",
                    "rollout to {} is {}",
                    r.to,
                    r.phase
                );
                ensure!(
                    r.message.as_deref().unwrap_or_default().contains(
                        "deletes 1 object(s) (ConfigMap) from every tenant: 63 of 189 objects"
                    ),
                    "held for another reason: {:?}",
                    r.message
                );
                Ok(())
            },
        )
        .await?;
        let left = s
            .objects()
            .await?
            .iter()
            .filter(|o| o.name.ends_with("-services"))
            .count();
        ensure!(
            left == 63,
            "{left}/63 -services ConfigMaps before the approval"
        );
        let kubeconfig = env.cp.kubeconfig.display().to_string();
        let out = khaibao(
            &env.cp,
            [
                "approve",
                "platform",
                &s.platform,
                "--kubeconfig",
                &kubeconfig,
            ],
            Duration::from_secs(60),
        )?;
        ensure!(out.code == Some(0), "khaibao approve: {}", out.stderr);
        let took = wait_until(
            "the services ConfigMaps pruned from every tenant",
            Duration::from_secs(120),
            async || {
                let objects = s.objects().await?;
                let left = objects
                    .iter()
                    .filter(|o| o.name.ends_with("-services"))
                    .count();
                ensure!(left == 0, "{left} -services ConfigMaps left");
                ensure!(
                    objects.len() == 63 * (OBJECTS_PER_TENANT - 1) + SHARED_OBJECTS,
                    "{} objects",
                    objects.len()
                );
                Ok(())
            },
        )
        .await?;
        eprintln!("removed template pruned from 63 tenants in {took:.1?}");
        s.wait_ready(63, Duration::from_secs(30)).await?;
        // Nobody touched an object by hand: no tenant may claim to have restored one.
        let restored = s.scope_tenant_events("Restored").await?;
        ensure!(
            restored.is_empty(),
            "{} false Restored events, e.g. {:?}",
            restored.len(),
            restored[0].regarding
        );
        let pruned = s.scope_tenant_events("Pruned").await?;
        ensure!(pruned.len() == 63, "{} Pruned events", pruned.len());

        // Deleting the platform while tenants use it is refused.
        let platforms: Api<Platform> = Api::all(s.client.clone());
        platforms
            .delete(&s.platform, &DeleteParams::default())
            .await?;
        wait_until(
            "the platform's deletion to be blocked",
            Duration::from_secs(30),
            async || {
                let p = s.get_platform().await?.context("the platform is gone")?;
                ensure!(p.metadata.deletion_timestamp.is_some(), "not being deleted");
                let ready = platform_condition(&p, "Ready").context("no Ready condition")?;
                ensure!(
                    ready.status == "False" && ready.reason == "DeletionBlocked",
                    "Ready={} ({}): {}",
                    ready.status,
                    ready.reason,
                    ready.message
                );
                ensure!(
                    ready.message.contains("63 tenant(s)")
                        && ready.message.contains(&format!("{}-tinh-01", s.prefix)),
                    "message does not name the tenant count and namespaces: {}",
                    ready.message
                );
                Ok(())
            },
        )
        .await?;
        wait_until(
            "a DeletionBlocked Event for the platform",
            Duration::from_secs(30),
            async || {
                let found = events_with_reason(&s.client, "DeletionBlocked", |r| {
                    r.name.as_deref() == Some(s.platform.as_str())
                })
                .await?
                .iter()
                .any(|e| {
                    e.note
                        .as_deref()
                        .is_some_and(|n| n.contains("63 tenant(s)"))
                });
                ensure!(found, "no such Event yet");
                Ok(())
            },
        )
        .await?;
        // Still there a little later, with its shared workload.
        tokio::time::sleep(Duration::from_secs(2)).await;
        ensure!(
            s.get_platform().await?.is_some(),
            "the platform was deleted"
        );
        ensure!(
            s.objects()
                .await?
                .iter()
                .filter(|o| o.tenant().is_none())
                .count()
                == SHARED_OBJECTS,
            "shared objects were removed while tenants exist"
        );

        // Once the tenants are gone, the deletion completes.
        let logs: Vec<_> = env.operator_log().into_iter().collect();
        assert_no_secret_leaks(&s.client, &secrets, &logs).await?;
        s.cleanup().await?;
        ensure!(
            s.objects().await?.is_empty(),
            "objects left after the platform was deleted: {:?}",
            s.objects()
                .await?
                .iter()
                .map(|o| &o.name)
                .collect::<Vec<_>>()
        );
        Ok(())
    });
}
