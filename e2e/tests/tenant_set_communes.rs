//! Every commune of Hà Nội from one TenantSet (`examples/communes-ha-noi`), and the guards
//! around shrinking it, on the control plane and operator of this binary: (a) all 126 communes
//! Ready, labelled and owned; (e) a change of the province's values reaches every commune; (b) a
//! shrink of the free share goes through, a larger one is held (condition, event, nothing
//! deleted) until confirmed with the exact count, then exactly those tenants and their objects
//! go; (c) a selection that yields no unit keeps the tenants; deleting the set deletes its
//! tenants.
//!
//! Slightly over 500 lines on purpose: it is one test, one step function per behaviour, because
//! each step starts from the fleet the step before left (rebuilding 126 communes for each step
//! would multiply its time), and the steps' checks belong with the steps.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use khaibao::api::TenantSet;
use khaibao_e2e::tenant_sets::{
    CONFIRM_PRUNE, HA_NOI_COMMUNES, expand, expected_names, manifest_name, set_ready_condition,
    set_ready_message, set_summary,
};
use khaibao_e2e::{
    OBJECTS_PER_TENANT, Obj, SHARED_OBJECTS, Scope, assert_no_secret_leaks, object_versions,
    portal_config_values, tenant_label, wait_until, with_shared,
};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};
use serde_json::{Value, json};

/// The set under test: where it lives and what it declares now.
struct Communes<'a> {
    s: &'a Scope,
    ns: String,
    name: String,
    set: Value,
}

impl Communes<'_> {
    /// Applies the set as it is declared now.
    async fn apply(&self) -> anyhow::Result<()> {
        self.s.apply_tenant_set(&self.set).await
    }

    async fn wait(
        &self,
        counts: (i64, i64, i64),
        ready: (&str, &str),
        timeout: Duration,
    ) -> anyhow::Result<TenantSet> {
        self.s
            .wait_tenant_set(&self.ns, &self.name, counts, ready, timeout)
            .await
    }

    async fn made(&self) -> anyhow::Result<BTreeSet<String>> {
        self.s.names_made_by(&self.ns, &self.name).await
    }

    async fn events(
        &self,
        reason: &str,
    ) -> anyhow::Result<Vec<k8s_openapi::api::events::v1::Event>> {
        self.s.tenant_set_events(&self.ns, &self.name, reason).await
    }

    /// Waits until the set's tenants are exactly `names`, each (and the province) with its
    /// objects and nothing more.
    async fn wait_tenants_exactly(
        &self,
        what: &str,
        names: &BTreeSet<String>,
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        wait_until(what, timeout, async || {
            let made = self.made().await?;
            ensure!(made == *names, "{} tenants of the set", made.len());
            let objects = self.s.objects().await?;
            ensure!(
                objects.len() == (names.len() + 1) * OBJECTS_PER_TENANT + SHARED_OBJECTS,
                "{} objects",
                objects.len()
            );
            Ok(())
        })
        .await
    }
}

#[test]
fn every_commune_of_ha_noi_from_one_set() {
    with_shared(async |env| {
        let s = env.cp.scope("tset").await?;
        s.apply_platform(&s.platform_manifest()?).await?;
        let (province, set) = s.ha_noi_example()?;
        let mut c = Communes {
            ns: s.province_namespace("01"),
            name: manifest_name(&set)?,
            s: &s,
            set,
        };
        all_communes_ready_labelled_and_owned(&c, &province).await?;
        the_province_values_reach_every_commune(&c).await?;
        let after_exclude = a_shrink_of_the_free_share_goes_through(&mut c).await?;
        let phuong = a_larger_shrink_is_held_until_confirmed(&mut c, &after_exclude).await?;
        a_selection_of_no_unit_keeps_the_tenants(&mut c, &phuong).await?;

        // No generated secret value in the operator's log, Events or any status.
        let secrets = s.generated_secrets().await?;
        ensure!(
            secrets.len() == phuong.len() + 1,
            "{} generated secrets",
            secrets.len()
        );
        let logs: Vec<_> = env.operator_log().into_iter().collect();
        assert_no_secret_leaks(&s.client, &secrets, &logs).await?;

        deleting_the_set_deletes_its_tenants(&c, phuong.len()).await?;
        s.cleanup().await
    });
}

/// (a) Every commune of province 01 from the one set: all Ready, labelled, owned by the set,
/// inheriting the province `ha-noi`, with the set's own values in their ConfigMaps.
async fn all_communes_ready_labelled_and_owned(
    c: &Communes<'_>,
    province: &Value,
) -> anyhow::Result<()> {
    let (s, ns, name) = (c.s, &c.ns, &c.name);
    let all = expected_names(&c.set)?;
    ensure!(
        all.len() == HA_NOI_COMMUNES,
        "the set expands to {} communes",
        all.len()
    );
    s.create_tenants(std::slice::from_ref(province)).await?;
    s.wait_ready(1, Duration::from_secs(60)).await?;
    c.apply().await?;
    let n = HA_NOI_COMMUNES as i64;
    let started = Instant::now();
    let took = s
        .wait_ready(HA_NOI_COMMUNES + 1, Duration::from_secs(240))
        .await?;
    let st = c
        .wait((n, n, n), ("True", "Reconciled"), Duration::from_secs(30))
        .await?;
    eprintln!(
        "{HA_NOI_COMMUNES} communes Ready {took:.1?} after the set was applied; set status after {:.1?}",
        started.elapsed()
    );
    let msg = set_ready_message(&st);
    ensure!(msg == "126/126 tenants ready", "Ready message {msg:?}");
    let status = st.status.clone().unwrap_or_default();
    ensure!(
        status.conflict_count == 0 && status.conflicts.is_empty() && status.last_error.is_none(),
        "{}",
        set_summary(&st)
    );

    // Labelled, owned by the set (so deleting the set deletes them), inheriting ha-noi.
    let made = s.tenants_made_by(ns, name).await?;
    ensure!(
        made.keys().cloned().collect::<BTreeSet<_>>() == all,
        "tenants made differ from the expansion: {} made",
        made.len()
    );
    let uid = st.metadata.uid.clone().context("set without uid")?;
    for (tname, t) in &made {
        let owners = t.owner_references();
        ensure!(
            owners.len() == 1
                && owners[0].kind == "TenantSet"
                && owners[0].api_version == "khaibao.dev/v1alpha1"
                && owners[0].name == *name
                && owners[0].uid == uid
                && owners[0].controller == Some(true),
            "{tname}: ownerReferences {owners:?}"
        );
        ensure!(
            t.spec.parent.as_deref() == Some("ha-noi")
                && t.spec.unit.province_code.as_deref() == Some("01")
                && t.spec.unit.level == khaibao::api::Level::Commune,
            "{tname}: parent {:?}, unit {:?}",
            t.spec.parent,
            t.spec.unit
        );
    }
    let objects = s.objects().await?;
    ensure!(
        objects.len() == (HA_NOI_COMMUNES + 1) * OBJECTS_PER_TENANT + SHARED_OBJECTS,
        "{} objects",
        objects.len()
    );
    let first = made.get("phuong-ba-dinh").context("no phuong-ba-dinh")?;
    ensure!(
        first.spec.unit.code == "00004",
        "unit {:?}",
        first.spec.unit
    );
    let ba_dinh = s.tenant_objects(ns, "phuong-ba-dinh").await?;
    let cm = ba_dinh
        .iter()
        .find(|o| o.name.ends_with("-portal-config"))
        .context("no portal-config for phuong-ba-dinh")?;
    for (key, want) in [
        ("title", "Cổng dịch vụ công Phường Ba Đình"),
        ("email", "motcua.phuong-ba-dinh@hanoi.gov.vn"),
        ("primaryColor", "#00529c"),
        ("unitCode", "00004"),
        ("provinceCode", "01"),
    ] {
        ensure!(
            cm.data(key) == Some(want),
            "{key} = {:?}, expected {want:?}",
            cm.data(key)
        );
    }
    Ok(())
}

/// (e) A change of the province's values reaches every commune's ConfigMap; the set's own
/// values stay.
async fn the_province_values_reach_every_commune(c: &Communes<'_>) -> anyhow::Result<()> {
    let (s, ns) = (c.s, &c.ns);
    s.patch_tenant_spec(
        ns,
        "ha-noi",
        json!({"values": {"branding": {"primaryColor": "#b71c1c"}}}),
    )
    .await?;
    let took = wait_until(
        "the new primaryColor in every commune's portal-config",
        Duration::from_secs(120),
        async || {
            let colours = portal_config_values(&s.objects().await?, "primaryColor");
            let old = colours.values().filter(|c| *c != "#b71c1c").count();
            ensure!(
                colours.len() == HA_NOI_COMMUNES + 1 && old == 0,
                "{old} of {} portal-configs still have another colour",
                colours.len()
            );
            Ok(())
        },
    )
    .await?;
    eprintln!("province value change reached {HA_NOI_COMMUNES} communes in {took:.1?}");
    s.wait_ready(HA_NOI_COMMUNES + 1, Duration::from_secs(60))
        .await?;
    let titles = portal_config_values(&s.objects().await?, "title");
    ensure!(
        titles
            .get(&tenant_label(ns, "phuong-ba-dinh"))
            .map(String::as_str)
            == Some("Cổng dịch vụ công Phường Ba Đình"),
        "the set's own values were lost: {:?}",
        titles.get(&tenant_label(ns, "phuong-ba-dinh"))
    );
    Ok(())
}

/// (b) A shrink of exactly the free share (max(5, 10 % of 126) = 12) needs no confirmation.
/// Returns the tenants left.
async fn a_shrink_of_the_free_share_goes_through(
    c: &mut Communes<'_>,
) -> anyhow::Result<BTreeSet<String>> {
    let excluded: Vec<String> = expand(&c.set)?
        .iter()
        .take(12)
        .filter_map(|t| t["spec"]["unit"]["code"].as_str().map(String::from))
        .collect();
    c.set["spec"]["units"]["exclude"] = json!(excluded);
    let after_exclude = expected_names(&c.set)?;
    ensure!(
        after_exclude.len() == HA_NOI_COMMUNES - 12,
        "{}",
        after_exclude.len()
    );
    c.apply().await?;
    let n = after_exclude.len() as i64;
    let took = c
        .wait_tenants_exactly(
            "12 excluded communes pruned",
            &after_exclude,
            Duration::from_secs(90),
        )
        .await?;
    eprintln!("a shrink of 12 went through without confirmation in {took:.1?}");
    c.wait((n, n, n), ("True", "Reconciled"), Duration::from_secs(30))
        .await?;
    ensure!(
        c.events("PruneHeld").await?.is_empty(),
        "a prune of 12 of 126 was held"
    );
    Ok(after_exclude)
}

/// (b) Keeping only the phường would delete every xã: more than max(5, 10 % of 114) = 11. The
/// prune is held (condition, one event, nothing deleted or rewritten), a confirmation with
/// another count does not release it, the exact count does: exactly the xã go, with their
/// objects. Returns the phường left.
async fn a_larger_shrink_is_held_until_confirmed(
    c: &mut Communes<'_>,
    after_exclude: &BTreeSet<String>,
) -> anyhow::Result<BTreeSet<String>> {
    let (s, ns, name) = (c.s, c.ns.clone(), c.name.clone());
    let n = after_exclude.len() as i64;
    c.set["spec"]["units"]["types"] = json!(["phường"]);
    let phuong = expected_names(&c.set)?;
    let to_delete: BTreeSet<String> = after_exclude.difference(&phuong).cloned().collect();
    ensure!(
        to_delete.len() > 11 && !phuong.is_empty(),
        "{} to delete, {} phường",
        to_delete.len(),
        phuong.len()
    );
    let before_prune = s.objects().await?;
    c.apply().await?;
    let d = to_delete.len();
    // The tenants to delete no longer count as desired or created, and are still there.
    let p = phuong.len() as i64;
    let held = c
        .wait((p, p, p), ("False", "PruneHeld"), Duration::from_secs(30))
        .await?;
    let msg = set_ready_message(&held);
    let command =
        format!("kubectl -n {ns} annotate tenantset {name} {CONFIRM_PRUNE}={d} --overwrite");
    ensure!(
        msg == format!("this change would delete {d} of {n} tenants; confirm with: {command}"),
        "PruneHeld message: {msg}"
    );
    ensure!(
        held.status.as_ref().and_then(|s| s.last_error.as_deref()) == Some(msg.as_str()),
        "lastError {:?}",
        held.status.as_ref().map(|s| &s.last_error)
    );
    wait_until("a PruneHeld event", Duration::from_secs(15), async || {
        let events = c.events("PruneHeld").await?;
        ensure!(events.len() == 1, "{} PruneHeld events", events.len());
        ensure!(
            events[0].note.as_deref() == Some(msg.as_str())
                && events[0].type_.as_deref() == Some("Warning"),
            "event {:?} {:?}",
            events[0].type_,
            events[0].note
        );
        Ok(())
    })
    .await?;
    // A confirmation with another count does not release it.
    s.annotate_tenant_set(&ns, &name, CONFIRM_PRUNE, &(d - 1).to_string())
        .await?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let made = s.tenants_made_by(&ns, &name).await?;
    ensure!(
        made.len() == after_exclude.len()
            && made
                .values()
                .all(|t| t.metadata.deletion_timestamp.is_none()),
        "tenants were deleted while the prune was held: {} left",
        made.len()
    );
    ensure!(
        object_versions(&s.objects().await?) == object_versions(&before_prune),
        "objects changed while the prune was held"
    );
    let still = s.tenant_set(&ns, &name).await?;
    ensure!(
        set_ready_condition(&still).is_some_and(|c| c.reason == "PruneHeld"),
        "a wrong count released the prune: {}",
        set_summary(&still)
    );
    // The exact count confirms it: exactly the xã go, with their objects; the phường stay
    // untouched.
    s.annotate_tenant_set(&ns, &name, CONFIRM_PRUNE, &d.to_string())
        .await?;
    let took = c
        .wait_tenants_exactly(
            &format!("the {d} xã and their objects deleted"),
            &phuong,
            Duration::from_secs(120),
        )
        .await?;
    eprintln!("confirmed prune of {d} tenants done in {took:.1?}");
    // The confirmation is used up, and the tenants still terminating were not held again.
    let after = s.tenant_set(&ns, &name).await?;
    ensure!(
        !after.annotations().contains_key(CONFIRM_PRUNE),
        "the confirmation is still there: {:?}",
        after.annotations()
    );
    let held_events = c.events("PruneHeld").await?;
    ensure!(
        held_events.len() == 1,
        "{} PruneHeld events: {:?}",
        held_events.len(),
        held_events.iter().map(|e| &e.note).collect::<Vec<_>>()
    );
    let objects = s.objects().await?;
    let left_of_deleted: Vec<&Obj> = objects
        .iter()
        .filter(|o| {
            to_delete
                .iter()
                .any(|t| o.tenant() == Some(tenant_label(&ns, t).as_str()))
        })
        .collect();
    ensure!(
        left_of_deleted.is_empty(),
        "{} objects of deleted tenants left",
        left_of_deleted.len()
    );
    let kept_before: BTreeMap<String, String> = object_versions(&before_prune)
        .into_iter()
        .filter(|(k, _)| {
            objects
                .iter()
                .any(|o| format!("{}/{}", o.kind, o.name) == *k)
        })
        .collect();
    ensure!(
        kept_before == object_versions(&objects),
        "objects of the tenants that stay were rewritten by the prune"
    );
    c.wait((p, p, p), ("True", "Reconciled"), Duration::from_secs(30))
        .await?;
    Ok(phuong)
}

/// (c) A selection that suddenly yields no unit (Hà Nội has no đặc khu) keeps the set's
/// tenants and their objects, and says so.
async fn a_selection_of_no_unit_keeps_the_tenants(
    c: &mut Communes<'_>,
    phuong: &BTreeSet<String>,
) -> anyhow::Result<()> {
    let s = c.s;
    let p = phuong.len() as i64;
    c.set["spec"]["units"]["types"] = json!(["đặc khu"]);
    ensure!(expected_names(&c.set)?.is_empty(), "Hà Nội has a đặc khu?");
    c.apply().await?;
    let empty = c
        .wait(
            (p, p, p),
            ("False", "EmptySelection"),
            Duration::from_secs(30),
        )
        .await?;
    let msg = set_ready_message(&empty);
    ensure!(
        msg == format!(
            "the selection now yields no unit; keeping the {p} tenants made before (fix spec.units, or delete the set)"
        ),
        "EmptySelection message: {msg}"
    );
    wait_until(
        "an EmptySelection event",
        Duration::from_secs(15),
        async || {
            let events = c.events("EmptySelection").await?;
            ensure!(
                events.len() == 1 && events[0].note.as_deref() == Some(msg.as_str()),
                "{} events",
                events.len()
            );
            Ok(())
        },
    )
    .await?;
    let before_empty = s.objects().await?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    ensure!(
        c.made().await? == *phuong,
        "tenants were deleted on an empty selection"
    );
    ensure!(
        object_versions(&s.objects().await?) == object_versions(&before_empty),
        "objects changed on an empty selection"
    );
    s.wait_ready(phuong.len() + 1, Duration::from_secs(30))
        .await?;
    Ok(())
}

/// Deleting the set deletes its tenants (garbage collection by ownerReference); the province,
/// which the set did not make, stays.
async fn deleting_the_set_deletes_its_tenants(
    c: &Communes<'_>,
    tenants_of_the_set: usize,
) -> anyhow::Result<()> {
    let s = c.s;
    let api: Api<TenantSet> = Api::namespaced(s.client.clone(), &c.ns);
    api.delete(&c.name, &DeleteParams::default()).await?;
    let took = wait_until(
        "the set's tenants deleted with it",
        Duration::from_secs(120),
        async || {
            let tenants = s.tenants().await?;
            ensure!(
                tenants.len() == 1 && tenants[0].name_any() == "ha-noi",
                "{} tenants left",
                tenants.len()
            );
            let objects = s.objects().await?;
            ensure!(
                objects.len() == OBJECTS_PER_TENANT + SHARED_OBJECTS,
                "{} objects left",
                objects.len()
            );
            Ok(())
        },
    )
    .await?;
    eprintln!("deleting the set removed {tenants_of_the_set} tenants in {took:.1?}");
    Ok(())
}
