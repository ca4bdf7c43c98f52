//! The life of one tenant among others, on the control plane and operator of this binary: a
//! change of its values, hand edits and deletions of its objects, its deletion, and values that
//! break the schema. Each test has a platform and namespaces of its own, and checks that the
//! other tenants' objects are not rewritten.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, ensure};
use khaibao::api::Tenant;
use khaibao_e2e::{
    OBJECTS_PER_TENANT, conditions_summary, object_versions, tenant_condition, tenant_label,
    tenant_ready, wait_until, with_shared,
};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

/// Changing a tenant's values updates its ConfigMap, and only its own.
#[test]
fn tenant_values_change_updates_its_configmap() {
    with_shared(async |env| {
        let s = env.cp.scope("values").await?;
        s.install_platform_with_provinces(&["01", "79"], Duration::from_secs(60))
            .await?;
        let (ns, other_ns) = (s.province_namespace("01"), s.province_namespace("79"));
        // The status is written under khaibao's own field manager, not as "unknown".
        let t = s.tenant(&ns, "ha-noi").await?.context("no ha-noi")?;
        let managers: Vec<(String, Option<String>)> = t
            .metadata
            .managed_fields
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.manager.unwrap_or_default(), m.subresource))
            .collect();
        eprintln!("ha-noi field managers: {managers:?}");
        ensure!(
            managers
                .iter()
                .any(|(m, sub)| m == "khaibao" && sub.as_deref() == Some("status"))
                && !managers
                    .iter()
                    .any(|(m, sub)| m == "unknown" && sub.as_deref() == Some("status")),
            "status not written by field manager khaibao: {managers:?}"
        );
        let before = s.tenant_objects(&other_ns, "ho-chi-minh").await?;
        s.patch_tenant_spec(
            &ns,
            "ha-noi",
            json!({"values": {"branding": {"title": "Cổng E2E Hà Nội"}, "contact": {"hotline": "1900 1234"}}}),
        )
        .await?;
        let took = wait_until(
            "ha-noi's portal-config updated",
            Duration::from_secs(30),
            async || {
                let objs = s.tenant_objects(&ns, "ha-noi").await?;
                let cm = objs
                    .iter()
                    .find(|o| o.name.ends_with("-portal-config"))
                    .context("no portal-config")?;
                ensure!(
                    cm.data("title") == Some("Cổng E2E Hà Nội")
                        && cm.data("hotline") == Some("1900 1234"),
                    "title {:?}, hotline {:?}",
                    cm.data("title"),
                    cm.data("hotline")
                );
                Ok(())
            },
        )
        .await?;
        eprintln!("values change applied in {took:.1?}");
        s.wait_ready(2, Duration::from_secs(30)).await?;
        let after = s.tenant_objects(&other_ns, "ho-chi-minh").await?;
        ensure!(
            object_versions(&before) == object_versions(&after),
            "the other tenant's objects were rewritten"
        );
        s.cleanup().await
    });
}

/// Objects edited or deleted by hand are restored within seconds.
#[test]
fn hand_edits_and_deletions_are_restored() {
    with_shared(async |env| {
        let s = env.cp.scope("drift").await?;
        s.install_platform_with_provinces(&["48"], Duration::from_secs(60))
            .await?;
        let ns = s.province_namespace("48");
        let objs = s.tenant_objects(&ns, "da-nang").await?;
        let cm = objs
            .iter()
            .find(|o| o.name.ends_with("-portal-config"))
            .context("no portal-config")?
            .clone();
        let title = cm.data("title").context("no title")?.to_string();
        let ingress = objs
            .iter()
            .find(|o| o.kind == "Ingress")
            .context("no Ingress")?
            .clone();
        let secret = objs
            .iter()
            .find(|o| o.kind == "Secret")
            .context("no Secret")?
            .clone();

        // Hand-edit: a changed value and a removed khaibao label.
        env.cp.kubectl(&[
            "-n",
            &s.namespace,
            "patch",
            "configmap",
            &cm.name,
            "--type=merge",
            "-p",
            r#"{"data":{"title":"sửa tay"},"metadata":{"labels":{"khaibao.dev/unit-code":"99"}}}"#,
        ])?;
        let took = wait_until(
            "the hand-edited ConfigMap restored",
            Duration::from_secs(15),
            async || {
                let objs = s.tenant_objects(&ns, "da-nang").await?;
                let now = objs
                    .iter()
                    .find(|o| o.name == cm.name)
                    .context("ConfigMap gone")?;
                ensure!(
                    now.data("title") == Some(title.as_str())
                        && now.label("khaibao.dev/unit-code") == Some("48"),
                    "title {:?}, unit-code {:?}",
                    now.data("title"),
                    now.label("khaibao.dev/unit-code")
                );
                Ok(())
            },
        )
        .await?;
        eprintln!("hand edit restored in {took:.1?}");

        // Hand-delete: the Ingress and the generated Secret come back.
        env.cp.kubectl(&[
            "-n",
            &s.namespace,
            "delete",
            "ingress",
            &ingress.name,
            "--wait=true",
        ])?;
        env.cp.kubectl(&[
            "-n",
            &s.namespace,
            "delete",
            "secret",
            &secret.name,
            "--wait=true",
        ])?;
        let took = wait_until(
            "the deleted Ingress and Secret restored",
            Duration::from_secs(15),
            async || {
                let objs = s.tenant_objects(&ns, "da-nang").await?;
                let ing = objs
                    .iter()
                    .find(|o| o.kind == "Ingress")
                    .context("no Ingress yet")?;
                ensure!(ing.uid != ingress.uid, "still the old Ingress");
                let sec = objs
                    .iter()
                    .find(|o| o.kind == "Secret")
                    .context("no Secret yet")?;
                ensure!(sec.uid != secret.uid, "still the old Secret");
                ensure!(objs.len() == OBJECTS_PER_TENANT, "{} objects", objs.len());
                Ok(())
            },
        )
        .await?;
        eprintln!("hand deletions restored in {took:.1?}");
        wait_until("a Restored event", Duration::from_secs(10), async || {
            ensure!(
                !s.scope_tenant_events("Restored").await?.is_empty(),
                "no Restored event for da-nang"
            );
            Ok(())
        })
        .await?;
        let secrets = s.generated_secrets().await?;
        ensure!(
            secrets
                .values()
                .all(|d| d.get("token").is_some_and(|t| t.len() == 40)),
            "the recreated secret has no 40-character token"
        );
        s.wait_ready(1, Duration::from_secs(30)).await?;
        s.cleanup().await
    });
}

/// Deleting a tenant removes its objects and releases its finalizer; others are untouched.
#[test]
fn deleting_a_tenant_removes_its_objects() {
    with_shared(async |env| {
        let s = env.cp.scope("delete").await?;
        s.install_platform_with_provinces(&["31", "92"], Duration::from_secs(60))
            .await?;
        let ns = s.province_namespace("31");
        let other_ns = s.province_namespace("92");
        let t = s.tenant(&ns, "hai-phong").await?.context("no tenant")?;
        ensure!(
            t.finalizers()
                .contains(&"khaibao.dev/tenant-objects".to_string()),
            "no finalizer on the tenant: {:?}",
            t.finalizers()
        );
        ensure!(
            s.tenant_objects(&ns, "hai-phong").await?.len() == OBJECTS_PER_TENANT,
            "objects missing before the deletion"
        );
        let before = s.tenant_objects(&other_ns, "can-tho").await?;
        let api: Api<Tenant> = Api::namespaced(s.client.clone(), &ns);
        api.delete("hai-phong", &DeleteParams::default()).await?;
        let took = wait_until(
            "hai-phong and its objects gone",
            Duration::from_secs(30),
            async || {
                let left = s.tenant_objects(&ns, "hai-phong").await?;
                ensure!(left.is_empty(), "{} objects left", left.len());
                ensure!(
                    s.tenant(&ns, "hai-phong").await?.is_none(),
                    "the tenant still exists (finalizer not released)"
                );
                Ok(())
            },
        )
        .await?;
        eprintln!("tenant deleted with its objects in {took:.1?}");
        let after = s.tenant_objects(&other_ns, "can-tho").await?;
        ensure!(
            before
                .iter()
                .map(|o| &o.resource_version)
                .collect::<Vec<_>>()
                == after
                    .iter()
                    .map(|o| &o.resource_version)
                    .collect::<Vec<_>>(),
            "the other tenant's objects changed"
        );
        s.wait_ready(1, Duration::from_secs(30)).await?;
        s.cleanup().await
    });
}

/// A tenant whose values break the schema is reported (Rendered=False naming the value), keeps
/// the objects it had, and does not affect other tenants; fixing it makes it Ready again.
#[test]
fn invalid_tenant_is_reported_and_keeps_its_objects() {
    with_shared(async |env| {
        let s = env.cp.scope("invalid").await?;
        s.install_platform_with_provinces(&["01", "46", "79"], Duration::from_secs(60))
            .await?;
        let ns = s.province_namespace("46");
        let before = s.tenant_objects(&ns, "hue").await?;
        ensure!(
            before.len() == OBJECTS_PER_TENANT,
            "{} objects",
            before.len()
        );
        let others_before: BTreeMap<String, String> = s
            .objects()
            .await?
            .into_iter()
            .filter(|o| o.tenant() != Some(tenant_label(&ns, "hue").as_str()))
            .map(|o| (o.name, o.resource_version))
            .collect();

        // A previously valid tenant becomes invalid.
        s.patch_tenant_spec(
            &ns,
            "hue",
            json!({"values": {"branding": {"primaryColor": "tím-mộng-mơ"}}}),
        )
        .await?;
        wait_until("hue Rendered=False", Duration::from_secs(30), async || {
            let t = s.tenant(&ns, "hue").await?.context("gone")?;
            let rendered = tenant_condition(&t, "Rendered").context("no Rendered condition")?;
            ensure!(
                rendered.status == "False"
                    && t.status.as_ref().and_then(|s| s.observed_generation)
                        == t.metadata.generation,
                "{}",
                conditions_summary(&t)
            );
            ensure!(
                rendered.message.contains("primaryColor"),
                "the message does not name the value: {}",
                rendered.message
            );
            let ready = tenant_condition(&t, "Ready").context("no Ready")?;
            ensure!(ready.status == "False", "Ready is {}", ready.status);
            Ok(())
        })
        .await?;
        // A brand-new tenant that was never valid: reported, nothing applied.
        let mut bad = s.provinces(&["92"])?.remove(0);
        bad["spec"]["values"] = json!({"rateLimitPerMinute": 5});
        s.create_tenants(&[bad]).await?;
        let bad_ns = s.province_namespace("92");
        wait_until(
            "can-tho Rendered=False",
            Duration::from_secs(30),
            async || {
                let t = s.tenant(&bad_ns, "can-tho").await?.context("gone")?;
                let rendered = tenant_condition(&t, "Rendered").context("no Rendered condition")?;
                ensure!(rendered.status == "False", "{}", conditions_summary(&t));
                ensure!(
                    rendered.message.contains("rateLimitPerMinute"),
                    "the message does not name the value: {}",
                    rendered.message
                );
                Ok(())
            },
        )
        .await?;
        // Give the operator time to (wrongly) touch anything, then compare.
        tokio::time::sleep(Duration::from_secs(3)).await;
        ensure!(
            s.tenant_objects(&bad_ns, "can-tho").await?.is_empty(),
            "objects were applied for a tenant that never rendered"
        );
        let kept = s.tenant_objects(&ns, "hue").await?;
        ensure!(
            object_versions(&kept) == object_versions(&before),
            "the invalid tenant's previously applied objects changed: {:?} -> {:?}",
            object_versions(&before),
            object_versions(&kept)
        );
        let others_after: BTreeMap<String, String> = s
            .objects()
            .await?
            .into_iter()
            .filter(|o| o.tenant() != Some(tenant_label(&ns, "hue").as_str()))
            .map(|o| (o.name, o.resource_version))
            .collect();
        ensure!(
            others_after == others_before,
            "other tenants' objects changed"
        );
        for (code, name) in [("01", "ha-noi"), ("79", "ho-chi-minh")] {
            let t = s
                .tenant(&s.province_namespace(code), name)
                .await?
                .context("gone")?;
            ensure!(tenant_ready(&t), "{name}: {}", conditions_summary(&t));
        }

        // Fixing the values makes it Ready again.
        let api: Api<Tenant> = Api::namespaced(s.client.clone(), &ns);
        api.patch(
            "hue",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"values": null}})),
        )
        .await?;
        let api: Api<Tenant> = Api::namespaced(s.client.clone(), &bad_ns);
        api.patch(
            "can-tho",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"values": {"rateLimitPerMinute": 50}}})),
        )
        .await?;
        s.wait_ready(4, Duration::from_secs(30)).await?;
        ensure!(
            s.tenant_objects(&bad_ns, "can-tho").await?.len() == OBJECTS_PER_TENANT,
            "the fixed tenant's objects were not applied"
        );
        for (tns, name) in [(&ns, "hue"), (&bad_ns, "can-tho")] {
            let t = s.tenant(tns, name).await?.context("gone")?;
            let status = t.status.unwrap_or_default();
            ensure!(
                status.last_error.is_none(),
                "{name} is Ready but status.lastError still says {:?}",
                status.last_error
            );
            ensure!(
                status.objects.len() == OBJECTS_PER_TENANT - 1,
                "{name}: status.objects {:?}",
                status.objects
            );
        }
        s.cleanup().await
    });
}
