//! Declarations that collide, on the control plane and operator of this binary: (d) Tenants a
//! TenantSet did not make are never overwritten by it, and (f) of two Tenants declaring one unit
//! only the first is applied, until it is deleted.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use khaibao::api::Tenant;
use khaibao::pipeline::LABEL_TENANT_SET;
use khaibao_e2e::tenant_sets::{manifest_name, set_ready_message};
use khaibao_e2e::{
    OBJECTS_PER_TENANT, conditions_summary, object_versions, tenant_condition, tenant_ready,
    wait_until, with_shared,
};
use kube::ResourceExt;
use serde_json::json;

/// (d) One Tenant with the name the set would give, one declaring a unit the set would make
/// under another name: both are left exactly as they were, and both conflicts are in the set's
/// status; the set's tenant for the taken unit is refused naming the hand-made one.
#[test]
fn tenants_the_set_did_not_make_are_never_overwritten() {
    with_shared(async |env| {
        let s = env.cp.scope("handmade").await?;
        s.apply_platform(&s.platform_manifest()?).await?;
        let (province, mut set) = s.ha_noi_example()?;
        let ns = s.province_namespace("01");
        let name = manifest_name(&set)?;
        let reg = khaibao::registry::units(khaibao::registry::Division::D34);
        let communes: Vec<_> = reg.communes_of("01").take(3).collect();
        let [c1, c2, c3] = communes.as_slice() else {
            bail!("Hà Nội has fewer than 3 communes");
        };
        let hand_made = |tname: &str, c: &khaibao::registry::Commune| {
            json!({
                "apiVersion": "khaibao.dev/v1alpha1", "kind": "Tenant",
                "metadata": {"name": tname, "namespace": ns},
                "spec": {
                    "platform": s.platform, "parent": "ha-noi",
                    "unit": {"level": "commune", "code": c.code, "name": c.name, "provinceCode": "01"},
                    "values": {"branding": {"title": format!("Tự khai báo {}", c.name)}},
                },
            })
        };
        // Same name as the set would give c1; same unit as the set's tenant for c2.
        let own_name = format!("{}-tu-khai", c2.slug);
        s.create_tenants(&[province, hand_made(&c1.slug, c1), hand_made(&own_name, c2)])
            .await?;
        s.wait_ready(3, Duration::from_secs(60)).await?;
        let snapshot = async |tname: &str| -> anyhow::Result<(Tenant, BTreeMap<String, String>)> {
            let t = s
                .tenant(&ns, tname)
                .await?
                .with_context(|| format!("{tname} gone"))?;
            Ok((t, object_versions(&s.tenant_objects(&ns, tname).await?)))
        };
        let before = [snapshot(&c1.slug).await?, snapshot(&own_name).await?];

        set["spec"]["units"] = json!({"codes": [c1.code, c2.code, c3.code]});
        s.apply_tenant_set(&set).await?;
        let st = s
            .wait_tenant_set(
                &ns,
                &name,
                (3, 2, 1),
                ("False", "Conflict"),
                Duration::from_secs(60),
            )
            .await?;
        let status = st.status.clone().unwrap_or_default();
        let name_conflict = format!(
            "{}: a Tenant of that name already exists and was not made by this set; it is left as it is",
            c1.slug
        );
        let unit_conflict = format!(
            "{}: unit {} ({}) is already declared on platform {} by tenant {ns}/{own_name}; nothing was applied",
            c2.slug, c2.code, c2.name, s.platform
        );
        ensure!(
            status.conflict_count == 2
                && status.conflicts.contains(&name_conflict)
                && status.conflicts.contains(&unit_conflict),
            "conflicts {:?}",
            status.conflicts
        );
        let msg = set_ready_message(&st);
        ensure!(
            msg.starts_with("2 tenant(s) could not be made or applied"),
            "Ready message {msg:?}"
        );

        // The set's tenant for c2 is refused by the Tenant controller, naming the hand-made one.
        let dup = s
            .tenant(&ns, &c2.slug)
            .await?
            .context("the set did not make c2")?;
        let conflict = tenant_condition(&dup, "Conflict").context("no Conflict condition")?;
        ensure!(
            conflict.status == "True"
                && conflict.reason == "DuplicateUnit"
                && conflict.message == unit_conflict[c2.slug.len() + 2..],
            "{}",
            conditions_summary(&dup)
        );
        ensure!(
            s.tenant_objects(&ns, &c2.slug).await?.is_empty(),
            "objects applied for a duplicate unit"
        );
        ensure!(
            tenant_ready(&s.tenant(&ns, &c3.slug).await?.context("no c3")?),
            "the set's third tenant is not Ready"
        );

        // The hand-made tenants are exactly as before: spec, labels, owners and objects.
        tokio::time::sleep(Duration::from_secs(3)).await;
        for (old, old_objects) in &before {
            let tname = old.name_any();
            let (now, objects) = snapshot(&tname).await?;
            ensure!(
                serde_json::to_value(&now.spec)? == serde_json::to_value(&old.spec)?
                    && now.labels().get(LABEL_TENANT_SET).is_none()
                    && now.owner_references().is_empty()
                    && tenant_ready(&now),
                "{tname} was changed: labels {:?}, owners {:?}, {}",
                now.labels(),
                now.owner_references(),
                conditions_summary(&now)
            );
            ensure!(
                now.metadata.generation == old.metadata.generation,
                "{tname}: generation {:?} -> {:?}",
                old.metadata.generation,
                now.metadata.generation
            );
            ensure!(&objects == old_objects, "{tname}'s objects were rewritten");
        }
        s.cleanup().await
    });
}

/// (f) Two Tenants declaring one unit, neither made by a set: the second gets Conflict naming
/// the first (condition, lastError, Event), nothing of the first is touched, nothing is applied
/// for the second; once the first is deleted, the second takes the unit.
#[test]
fn the_second_tenant_declaring_a_unit_waits_for_the_first() {
    with_shared(async |env| {
        let s = env.cp.scope("duplicate").await?;
        s.apply_platform(&s.platform_manifest()?).await?;
        let first = s.provinces(&["79"])?.remove(0);
        s.create_tenants(std::slice::from_ref(&first)).await?;
        let ns79 = first["metadata"]["namespace"]
            .as_str()
            .context("ns")?
            .to_string();
        wait_until("ho-chi-minh Ready", Duration::from_secs(60), async || {
            let t = s.tenant(&ns79, "ho-chi-minh").await?.context("gone")?;
            ensure!(tenant_ready(&t), "{}", conditions_summary(&t));
            Ok(())
        })
        .await?;
        let first_objects = object_versions(&s.tenant_objects(&ns79, "ho-chi-minh").await?);
        ensure!(
            first_objects.len() == OBJECTS_PER_TENANT,
            "{first_objects:?}"
        );
        let mut second = first.clone();
        second["metadata"]["name"] = json!("tp-ho-chi-minh");
        second["spec"]["values"] = json!({"branding": {"title": "Bản sao"}});
        s.create_tenants(&[second]).await?;
        let expected = format!(
            "unit 79 ({}) is already declared on platform {} by tenant {ns79}/ho-chi-minh; nothing was applied",
            first["spec"]["unit"]["name"].as_str().unwrap_or_default(),
            s.platform
        );
        wait_until(
            "tp-ho-chi-minh in Conflict",
            Duration::from_secs(30),
            async || {
                let t = s.tenant(&ns79, "tp-ho-chi-minh").await?.context("gone")?;
                let c = tenant_condition(&t, "Conflict").context("no Conflict condition yet")?;
                let ready = tenant_condition(&t, "Ready").context("no Ready")?;
                ensure!(
                    c.status == "True"
                        && c.reason == "DuplicateUnit"
                        && c.message == expected
                        && ready.status == "False"
                        && ready.reason == "DuplicateUnit",
                    "{}",
                    conditions_summary(&t)
                );
                ensure!(
                    t.status.as_ref().and_then(|s| s.last_error.as_deref())
                        == Some(expected.as_str()),
                    "lastError"
                );
                Ok(())
            },
        )
        .await?;
        wait_until("a Conflict event", Duration::from_secs(15), async || {
            let events = s.tenant_events(&ns79, "tp-ho-chi-minh", "Conflict").await?;
            ensure!(
                events
                    .iter()
                    .any(|e| e.note.as_deref() == Some(expected.as_str())),
                "{} Conflict events",
                events.len()
            );
            Ok(())
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        ensure!(
            s.tenant_objects(&ns79, "tp-ho-chi-minh").await?.is_empty(),
            "objects applied for the duplicate"
        );
        ensure!(
            object_versions(&s.tenant_objects(&ns79, "ho-chi-minh").await?) == first_objects,
            "the first tenant's objects were touched"
        );
        let t = s.tenant(&ns79, "ho-chi-minh").await?.context("gone")?;
        ensure!(tenant_ready(&t), "{}", conditions_summary(&t));

        // The first declaration deleted: the unit passes to the second, which becomes Ready
        // with objects of its own and no Conflict left.
        let api: kube::Api<Tenant> = kube::Api::namespaced(s.client.clone(), &ns79);
        api.delete("ho-chi-minh", &Default::default()).await?;
        wait_until(
            "the second declaration to take the freed unit",
            Duration::from_secs(60),
            async || {
                let t = s.tenant(&ns79, "tp-ho-chi-minh").await?.context("gone")?;
                ensure!(
                    tenant_ready(&t) && tenant_condition(&t, "Conflict").is_none(),
                    "{}",
                    conditions_summary(&t)
                );
                let objects = s.tenant_objects(&ns79, "tp-ho-chi-minh").await?;
                ensure!(
                    objects.len() == OBJECTS_PER_TENANT,
                    "{} objects",
                    objects.len()
                );
                Ok(())
            },
        )
        .await?;
        s.cleanup().await
    });
}
