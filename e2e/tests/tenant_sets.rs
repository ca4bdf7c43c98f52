//! TenantSets at the scale of a province, and the guards around them, on one shared control
//! plane and operator: every commune of Hà Nội from one declaration, inheritance of the
//! province's values, shrinking (free under the prune guard, held above it until confirmed), a
//! selection that suddenly yields nothing, Tenants the set did not make, two Tenants declaring
//! one unit, and the HTML report of such a fleet rendered by headless Chromium.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use khaibao::api::{Tenant, TenantSet};
use khaibao::pipeline::{LABEL_TENANT_SET, expand_tenant_set};
use khaibao_e2e::{
    OBJECTS_PER_TENANT, Obj, SHARED_OBJECTS, Scope, assert_no_secret_leaks, cli_binary,
    conditions_summary, read_manifests, target_dir, tenant_label, tenant_ready, wait_until,
    with_shared, workspace_root,
};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

/// Hà Nội has 126 communes (phường and xã) in the 34-province division.
const HA_NOI_COMMUNES: usize = 126;
const EXAMPLE: &str = "examples/communes-ha-noi/tenantset.yaml";
const CONFIRM_PRUNE: &str = "khaibao.dev/confirm-prune";

fn ready_condition(set: &TenantSet) -> Option<&Condition> {
    set.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
}

fn tenant_condition<'a>(t: &'a Tenant, type_: &str) -> Option<&'a Condition> {
    t.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// `desired/created/ready, Ready=… (Reason): message` of a set, for failure messages.
fn set_summary(set: &TenantSet) -> String {
    let st = set.status.clone().unwrap_or_default();
    let ready = ready_condition(set)
        .map(|c| format!("Ready={} ({}): {}", c.status, c.reason, c.message))
        .unwrap_or_else(|| "no Ready condition".into());
    format!(
        "desired {} created {} ready {} conflicts {} {:?}; {ready}",
        st.desired, st.created, st.ready, st.conflict_count, st.conflicts
    )
}

/// The names of the Tenants `set` stands for, from the same pure expansion the operator uses.
fn expected_names(set: &Value) -> anyhow::Result<BTreeSet<String>> {
    let set: TenantSet = serde_json::from_value(set.clone())?;
    let tenants = expand_tenant_set(&set)
        .map_err(|p| anyhow::anyhow!("the set does not expand: {:?}", p[0].message))?;
    Ok(tenants
        .iter()
        .filter_map(|t| t["metadata"]["name"].as_str().map(String::from))
        .collect())
}

/// The Tenants in `ns` carrying the label of set `name`.
async fn made_by(s: &Scope, ns: &str, name: &str) -> anyhow::Result<BTreeMap<String, Tenant>> {
    Ok(s.tenants()
        .await?
        .into_iter()
        .filter(|t| t.namespace().as_deref() == Some(ns))
        .filter(|t| t.labels().get(LABEL_TENANT_SET).map(String::as_str) == Some(name))
        .map(|t| (t.name_any(), t))
        .collect())
}

/// Waits until the set reports these counts and a Ready condition with this status and reason
/// for its current generation; returns the set.
async fn wait_set(
    s: &Scope,
    ns: &str,
    name: &str,
    (desired, created, ready): (i64, i64, i64),
    (status, reason): (&str, &str),
    timeout: Duration,
) -> anyhow::Result<TenantSet> {
    wait_until(
        &format!("tenantset {ns}/{name}: {desired}/{created}/{ready}, Ready={status} ({reason})"),
        timeout,
        async || {
            let set = s.tenant_set(ns, name).await?;
            let st = set.status.clone().unwrap_or_default();
            let c = ready_condition(&set);
            ensure!(
                st.observed_generation == set.metadata.generation
                    && (st.desired, st.created, st.ready) == (desired, created, ready)
                    && c.is_some_and(|c| c.status == status && c.reason == reason),
                "{}",
                set_summary(&set)
            );
            Ok(())
        },
    )
    .await?;
    s.tenant_set(ns, name).await
}

/// Events with `reason` about TenantSet `ns/name`.
async fn set_events(s: &Scope, ns: &str, name: &str, reason: &str) -> anyhow::Result<Vec<Event>> {
    let events: Api<Event> = Api::all(s.client.clone());
    Ok(events
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| {
                r.kind.as_deref() == Some("TenantSet")
                    && r.namespace.as_deref() == Some(ns)
                    && r.name.as_deref() == Some(name)
            })
        })
        .collect())
}

/// Events with `reason` about Tenant `ns/name`.
async fn tenant_events(
    s: &Scope,
    ns: &str,
    name: &str,
    reason: &str,
) -> anyhow::Result<Vec<Event>> {
    let events: Api<Event> = Api::all(s.client.clone());
    Ok(events
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| {
                r.kind.as_deref() == Some("Tenant")
                    && r.namespace.as_deref() == Some(ns)
                    && r.name.as_deref() == Some(name)
            })
        })
        .collect())
}

/// name → resourceVersion of objects.
fn versions(objs: &[Obj]) -> BTreeMap<String, String> {
    objs.iter()
        .map(|o| (format!("{}/{}", o.kind, o.name), o.resource_version.clone()))
        .collect()
}

/// `data.<key>` of each commune's `-portal-config`, by tenant label.
fn portal_config(objects: &[Obj], key: &str) -> BTreeMap<String, String> {
    objects
        .iter()
        .filter(|o| o.kind == "ConfigMap" && o.name.ends_with("-portal-config"))
        .filter_map(|o| Some((o.tenant()?.to_string(), o.data(key)?.to_string())))
        .collect()
}

/// The province Tenant and the TenantSet of `examples/communes-ha-noi`, moved into the scope.
fn ha_noi_example(s: &Scope) -> anyhow::Result<(Value, Value)> {
    let docs = read_manifests(&workspace_root().join(EXAMPLE))?;
    let find = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .cloned()
            .map(|d| s.scoped(d))
            .with_context(|| format!("no {kind} in {EXAMPLE}"))
    };
    Ok((find("Tenant")?, find("TenantSet")?))
}

async fn annotate_set(
    s: &Scope,
    ns: &str,
    name: &str,
    key: &str,
    value: &str,
) -> anyhow::Result<()> {
    let api: Api<TenantSet> = Api::namespaced(s.client.clone(), ns);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
    )
    .await
    .with_context(|| format!("annotating tenantset {ns}/{name}"))?;
    Ok(())
}

/// (a) every commune of province 01 from one TenantSet, all Ready, labelled and owned; (e) a
/// change of the province's values reaches every commune; (b) a shrink at the prune guard goes
/// through, a larger one is held (condition, event, nothing deleted) until confirmed with the
/// exact count, then exactly those tenants and their objects go; (c) a selection that yields no
/// unit keeps the tenants; deleting the set deletes its tenants.
#[test]
fn every_commune_of_ha_noi_from_one_set() {
    with_shared(async |env| {
        let s = Scope::new(env.cp.client().await?, "tset");
        s.apply_platform(&s.platform_manifest()?).await?;
        let (province, mut set) = ha_noi_example(&s)?;
        let ns = format!("{}-tinh-01", s.prefix);
        let name = set["metadata"]["name"]
            .as_str()
            .context("set name")?
            .to_string();
        let all = expected_names(&set)?;
        ensure!(
            all.len() == HA_NOI_COMMUNES,
            "the set expands to {} communes",
            all.len()
        );

        s.create_tenants(std::slice::from_ref(&province)).await?;
        s.wait_ready(1, Duration::from_secs(60)).await?;
        s.apply_tenant_set(&set).await?;
        let n = HA_NOI_COMMUNES as i64;
        let started = Instant::now();
        let took = s
            .wait_ready(HA_NOI_COMMUNES + 1, Duration::from_secs(240))
            .await?;
        let st = wait_set(
            &s,
            &ns,
            &name,
            (n, n, n),
            ("True", "Reconciled"),
            Duration::from_secs(30),
        )
        .await?;
        eprintln!(
            "{HA_NOI_COMMUNES} communes Ready {took:.1?} after the set was applied; set status after {:.1?}",
            started.elapsed()
        );
        let msg = ready_condition(&st)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        ensure!(msg == "126/126 tenants ready", "Ready message {msg:?}");
        let status = st.status.clone().unwrap_or_default();
        ensure!(
            status.conflict_count == 0
                && status.conflicts.is_empty()
                && status.last_error.is_none(),
            "{}",
            set_summary(&st)
        );

        // Labelled, owned by the set (so deleting the set deletes them), inheriting ha-noi.
        let made = made_by(&s, &ns, &name).await?;
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
                    && owners[0].name == name
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
        let ba_dinh = s.tenant_objects(&ns, "phuong-ba-dinh").await?;
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

        // (e) The province's values reach its communes.
        s.patch_tenant_spec(
            &ns,
            "ha-noi",
            json!({"values": {"branding": {"primaryColor": "#b71c1c"}}}),
        )
        .await?;
        let took = wait_until(
            "the new primaryColor in every commune's portal-config",
            Duration::from_secs(120),
            async || {
                let colours = portal_config(&s.objects().await?, "primaryColor");
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
        let titles = portal_config(&s.objects().await?, "title");
        ensure!(
            titles
                .get(&tenant_label(&ns, "phuong-ba-dinh"))
                .map(String::as_str)
                == Some("Cổng dịch vụ công Phường Ba Đình"),
            "the set's own values were lost: {:?}",
            titles.get(&tenant_label(&ns, "phuong-ba-dinh"))
        );

        // (b) A shrink of exactly the free share (max(5, 10 % of 126) = 12) needs no confirmation.
        let excluded: Vec<String> = {
            let set_typed: TenantSet = serde_json::from_value(set.clone())?;
            expand_tenant_set(&set_typed)
                .map_err(|_| anyhow::anyhow!("expansion"))?
                .iter()
                .take(12)
                .filter_map(|t| t["spec"]["unit"]["code"].as_str().map(String::from))
                .collect()
        };
        set["spec"]["units"]["exclude"] = json!(excluded);
        let after_exclude = expected_names(&set)?;
        ensure!(
            after_exclude.len() == HA_NOI_COMMUNES - 12,
            "{}",
            after_exclude.len()
        );
        s.apply_tenant_set(&set).await?;
        let n = after_exclude.len() as i64;
        let took = wait_until(
            "12 excluded communes pruned",
            Duration::from_secs(90),
            async || {
                let made = made_by(&s, &ns, &name).await?;
                ensure!(
                    made.keys().cloned().collect::<BTreeSet<_>>() == after_exclude,
                    "{} tenants of the set",
                    made.len()
                );
                let objects = s.objects().await?;
                ensure!(
                    objects.len()
                        == (after_exclude.len() + 1) * OBJECTS_PER_TENANT + SHARED_OBJECTS,
                    "{} objects",
                    objects.len()
                );
                Ok(())
            },
        )
        .await?;
        eprintln!("a shrink of 12 went through without confirmation in {took:.1?}");
        wait_set(
            &s,
            &ns,
            &name,
            (n, n, n),
            ("True", "Reconciled"),
            Duration::from_secs(30),
        )
        .await?;
        ensure!(
            set_events(&s, &ns, &name, "PruneHeld").await?.is_empty(),
            "a prune of 12 of 126 was held"
        );

        // (b) Keeping only the phường would delete every xã: more than max(5, 10 % of 114) = 11.
        set["spec"]["units"]["types"] = json!(["phường"]);
        let phuong = expected_names(&set)?;
        let to_delete: BTreeSet<String> = after_exclude.difference(&phuong).cloned().collect();
        ensure!(
            to_delete.len() > 11 && !phuong.is_empty(),
            "{} to delete, {} phường",
            to_delete.len(),
            phuong.len()
        );
        let before_prune = s.objects().await?;
        s.apply_tenant_set(&set).await?;
        let d = to_delete.len();
        // The tenants to delete no longer count as desired or created, and are still there.
        let p = phuong.len() as i64;
        let held = wait_set(
            &s,
            &ns,
            &name,
            (p, p, p),
            ("False", "PruneHeld"),
            Duration::from_secs(30),
        )
        .await?;
        let msg = ready_condition(&held)
            .map(|c| c.message.clone())
            .unwrap_or_default();
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
            let events = set_events(&s, &ns, &name, "PruneHeld").await?;
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
        annotate_set(&s, &ns, &name, CONFIRM_PRUNE, &(d - 1).to_string()).await?;
        tokio::time::sleep(Duration::from_secs(4)).await;
        let made = made_by(&s, &ns, &name).await?;
        ensure!(
            made.len() == after_exclude.len()
                && made
                    .values()
                    .all(|t| t.metadata.deletion_timestamp.is_none()),
            "tenants were deleted while the prune was held: {} left",
            made.len()
        );
        ensure!(
            versions(&s.objects().await?) == versions(&before_prune),
            "objects changed while the prune was held"
        );
        let still = s.tenant_set(&ns, &name).await?;
        ensure!(
            ready_condition(&still).is_some_and(|c| c.reason == "PruneHeld"),
            "a wrong count released the prune: {}",
            set_summary(&still)
        );
        // The exact count confirms it: exactly the xã go, with their objects; the phường stay
        // untouched.
        annotate_set(&s, &ns, &name, CONFIRM_PRUNE, &d.to_string()).await?;
        let took = wait_until(
            &format!("the {d} xã and their objects deleted"),
            Duration::from_secs(120),
            async || {
                let made = made_by(&s, &ns, &name).await?;
                ensure!(
                    made.keys().cloned().collect::<BTreeSet<_>>() == phuong,
                    "{} tenants of the set",
                    made.len()
                );
                let objects = s.objects().await?;
                ensure!(
                    objects.len() == (phuong.len() + 1) * OBJECTS_PER_TENANT + SHARED_OBJECTS,
                    "{} objects",
                    objects.len()
                );
                Ok(())
            },
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
        let held_events = set_events(&s, &ns, &name, "PruneHeld").await?;
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
        let kept_before: BTreeMap<String, String> = versions(&before_prune)
            .into_iter()
            .filter(|(k, _)| {
                objects
                    .iter()
                    .any(|o| format!("{}/{}", o.kind, o.name) == *k)
            })
            .collect();
        ensure!(
            kept_before == versions(&objects),
            "objects of the tenants that stay were rewritten by the prune"
        );
        wait_set(
            &s,
            &ns,
            &name,
            (p, p, p),
            ("True", "Reconciled"),
            Duration::from_secs(30),
        )
        .await?;

        // (c) A selection that suddenly yields no unit (Hà Nội has no đặc khu) keeps the set.
        set["spec"]["units"]["types"] = json!(["đặc khu"]);
        ensure!(expected_names(&set)?.is_empty(), "Hà Nội has a đặc khu?");
        s.apply_tenant_set(&set).await?;
        let empty = wait_set(
            &s,
            &ns,
            &name,
            (p, p, p),
            ("False", "EmptySelection"),
            Duration::from_secs(30),
        )
        .await?;
        let msg = ready_condition(&empty)
            .map(|c| c.message.clone())
            .unwrap_or_default();
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
                let events = set_events(&s, &ns, &name, "EmptySelection").await?;
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
            made_by(&s, &ns, &name)
                .await?
                .keys()
                .cloned()
                .collect::<BTreeSet<_>>()
                == phuong,
            "tenants were deleted on an empty selection"
        );
        ensure!(
            versions(&s.objects().await?) == versions(&before_empty),
            "objects changed on an empty selection"
        );
        s.wait_ready(phuong.len() + 1, Duration::from_secs(30))
            .await?;

        // No generated secret value in the operator's log, Events or any status.
        let secrets = s.generated_secrets().await?;
        ensure!(
            secrets.len() == phuong.len() + 1,
            "{} generated secrets",
            secrets.len()
        );
        let logs: Vec<_> = env.operator_log().into_iter().collect();
        assert_no_secret_leaks(&s.client, &secrets, &logs).await?;

        // Deleting the set deletes its tenants (garbage collection by ownerReference); the
        // province, which the set did not make, stays.
        let api: Api<TenantSet> = Api::namespaced(s.client.clone(), &ns);
        api.delete(&name, &DeleteParams::default()).await?;
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
        eprintln!(
            "deleting the set removed {} tenants in {took:.1?}",
            phuong.len()
        );
        s.cleanup().await
    });
}

/// (d) Tenants the set did not make are never overwritten: one with the name the set would
/// give, one declaring a unit the set would make under another name; both conflicts are in
/// the set's status. (f) Two Tenants declaring one unit: the second gets Conflict naming the
/// first, nothing of the first is touched, nothing is applied for the second.
#[test]
fn tenants_the_set_did_not_make_are_never_overwritten() {
    with_shared(async |env| {
        let s = Scope::new(env.cp.client().await?, "handmade");
        s.apply_platform(&s.platform_manifest()?).await?;
        let (province, mut set) = ha_noi_example(&s)?;
        let ns = format!("{}-tinh-01", s.prefix);
        let name = set["metadata"]["name"]
            .as_str()
            .context("set name")?
            .to_string();
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
            Ok((t, versions(&s.tenant_objects(&ns, tname).await?)))
        };
        let before = [snapshot(&c1.slug).await?, snapshot(&own_name).await?];

        set["spec"]["units"] = json!({"codes": [c1.code, c2.code, c3.code]});
        s.apply_tenant_set(&set).await?;
        let st = wait_set(
            &s,
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
        let msg = ready_condition(&st)
            .map(|c| c.message.clone())
            .unwrap_or_default();
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

        // (f) Two Tenants declaring one unit, neither made by a set.
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
        let first_objects = versions(&s.tenant_objects(&ns79, "ho-chi-minh").await?);
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
            let events = tenant_events(&s, &ns79, "tp-ho-chi-minh", "Conflict").await?;
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
            versions(&s.tenant_objects(&ns79, "ho-chi-minh").await?) == first_objects,
            "the first tenant's objects were touched"
        );
        let t = s.tenant(&ns79, "ho-chi-minh").await?.context("gone")?;
        ensure!(tenant_ready(&t), "{}", conditions_summary(&t));

        // The first declaration deleted: the unit passes to the second, which becomes Ready
        // with objects of its own and no Conflict left.
        let api: kube::Api<khaibao::api::Tenant> = kube::Api::namespaced(s.client.clone(), &ns79);
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

/// Where test artifacts go (kept for CI): `KHAIBAO_ARTIFACTS_DIR`, else `<target>/artifacts`.
fn artifacts_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os("KHAIBAO_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("artifacts"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Chromium: `KHAIBAO_CHROMIUM`, else `chromium` or `chromium-browser` on PATH. Missing is a
/// failure, never a skip: the report is only tested when a browser renders it.
fn chromium() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("KHAIBAO_CHROMIUM") {
        let p = PathBuf::from(p);
        ensure!(
            p.is_file(),
            "KHAIBAO_CHROMIUM={} does not exist",
            p.display()
        );
        return Ok(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            if dir.join(name).is_file() {
                return Ok(dir.join(name));
            }
        }
    }
    bail!(
        "chromium is not installed, and the HTML report test needs it to render the page: run \
         scripts/ensure-tools.sh (apt-get install chromium) or set KHAIBAO_CHROMIUM"
    )
}

/// Runs headless Chromium on `page` with `args`; returns its stdout.
fn run_chromium(page: &Path, profile: &Path, args: &[String]) -> anyhow::Result<String> {
    let mut cmd = Command::new(chromium()?);
    cmd.args([
        "--headless",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args);
    // Chromium refuses to start as root with its sandbox (CI and this machine run as root);
    // the page is our own self-contained file, without scripts.
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        cmd.arg("--no-sandbox");
    }
    let out = cmd
        .arg(format!("file://{}", page.display()))
        .output()
        .context("cannot run chromium")?;
    ensure!(
        out.status.success(),
        "chromium failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// True when `px` is within a few levels of `rgb` on every channel (colour management may
/// shift a level or two).
fn near(px: &[u8], rgb: [u8; 3]) -> bool {
    px.iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 6)
}

/// `khaibao report --html` on a fleet with Ready and failing tenants, rendered by headless
/// Chromium: the DOM has one row per province with the right figures, and the screenshot
/// (kept in `<target>/artifacts/report.png`) shows the green and red bars.
#[test]
fn html_report_renders_in_headless_chromium() {
    let browser = chromium();
    if let Err(e) = browser {
        panic!("{e:#}");
    }
    with_shared(async |env| {
        let s = Scope::new(env.cp.client().await?, "report");
        s.apply_platform(&s.platform_manifest()?).await?;
        // Four Ready provinces, one invalid (schema), and three Ready communes of Hà Nội (the
        // province of the 34-province division, as its communes).
        let (ha_noi, mut set) = ha_noi_example(&s)?;
        let mut tenants = s.provinces(&["31", "48", "79", "92"])?;
        tenants.push(ha_noi);
        let bad = tenants
            .iter_mut()
            .find(|t| t["spec"]["unit"]["code"] == "92")
            .context("no 92")?;
        bad["spec"]["values"] = json!({"rateLimitPerMinute": 5});
        s.create_tenants(&tenants).await?;
        let reg = khaibao::registry::units(khaibao::registry::Division::D34);
        let codes: Vec<&str> = reg
            .communes_of("01")
            .take(3)
            .map(|c| c.code.as_str())
            .collect();
        set["spec"]["units"] = json!({"codes": codes});
        s.apply_tenant_set(&set).await?;
        wait_until(
            "7 Ready tenants and can-tho failing",
            Duration::from_secs(90),
            async || {
                let tenants = s.tenants().await?;
                let ready = tenants.iter().filter(|t| tenant_ready(t)).count();
                let can_tho = tenants
                    .iter()
                    .find(|t| t.name_any() == "can-tho")
                    .context("no can-tho")?;
                let failing = tenant_condition(can_tho, "Ready")
                    .is_some_and(|c| c.status == "False" && c.reason == "SchemaViolation");
                ensure!(
                    tenants.len() == 8 && ready == 7 && failing,
                    "{} tenants, {ready} Ready; can-tho: {}",
                    tenants.len(),
                    conditions_summary(can_tho)
                );
                Ok(())
            },
        )
        .await?;
        s.wait_platform_reconciled(Duration::from_secs(30)).await?;

        let dir = artifacts_dir()?;
        let html = dir.join("report.html");
        let _ = std::fs::remove_file(&html);
        let out = Command::new(cli_binary()?)
            .arg("report")
            .arg("--html")
            .arg(&html)
            .args(["--platform", &s.platform])
            .arg("--kubeconfig")
            .arg(&env.cp.kubeconfig)
            .output()?;
        ensure!(
            out.status.success(),
            "khaibao report failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            String::from_utf8_lossy(&out.stdout).trim() == format!("wrote {}", html.display()),
            "stdout {:?}",
            String::from_utf8_lossy(&out.stdout)
        );

        // The DOM after Chromium parsed and laid out the page.
        let profile = tempdir(&env.cp.state_dir, "chromium-profile")?;
        let started = Instant::now();
        let dom = run_chromium(&html, &profile, &["--dump-dom".into()])?;
        eprintln!("chromium --dump-dom took {:.1?}", started.elapsed());
        for want in [
            "<h1>National status</h1>",
            "7/8 tenants Ready · 87%",
            // code, province, province Ready, communes Ready/total, failing, on revision/tenants
            "<tr id=\"p01\"><td>01</td><td>Thành phố Hà Nội</td><td>✓</td><td>3/3</td><td class=\"\">0</td><td>4/4</td></tr>",
            "<tr id=\"p31\"><td>31</td><td>Thành phố Hải Phòng</td><td>✓</td><td>0/0</td><td class=\"\">0</td><td>1/1</td></tr>",
            "<tr id=\"p92\"><td>92</td><td>Thành phố Cần Thơ</td><td>✗</td><td>0/0</td><td class=\"bad\">1</td><td>0/1</td></tr>",
            "<b>report-tinh-92/can-tho</b>",
        ] {
            ensure!(dom.contains(want), "the rendered DOM lacks {want:?}");
        }
        let rows = dom.matches("<tr id=\"p").count();
        ensure!(rows == 5, "{rows} province rows, expected 5");
        ensure!(
            dom.matches("<rect ").count() == 10,
            "{} bars",
            dom.matches("<rect ").count()
        );

        // The screenshot: right size, not blank, green bars and the red track of Cần Thơ.
        let png_path = dir.join("report.png");
        let _ = std::fs::remove_file(&png_path);
        let (w, h) = (1280u32, 900u32);
        run_chromium(
            &html,
            &profile,
            &[
                format!("--screenshot={}", png_path.display()),
                format!("--window-size={w},{h}"),
            ],
        )?;
        let decoder = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(&png_path)
                .with_context(|| format!("no screenshot at {}", png_path.display()))?,
        ));
        let mut reader = decoder.read_info()?;
        let mut buf = vec![0; reader.output_buffer_size().context("png too large")?];
        let info = reader.next_frame(&mut buf)?;
        ensure!(
            (info.width, info.height) == (w, h),
            "screenshot is {}x{}",
            info.width,
            info.height
        );
        let channels = info.color_type.samples();
        ensure!(
            channels >= 3,
            "screenshot colour type {:?}",
            info.color_type
        );
        let pixels: Vec<&[u8]> = buf[..info.buffer_size()]
            .chunks(channels)
            .map(|p| &p[..3])
            .collect();
        let white = pixels.iter().filter(|p| near(p, [255, 255, 255])).count();
        let green = pixels
            .iter()
            .filter(|p| near(p, [0x2e, 0x7d, 0x32]))
            .count();
        let red_track = pixels
            .iter()
            .filter(|p| near(p, [0xff, 0xcd, 0xd2]))
            .count();
        let distinct: BTreeSet<[u8; 3]> = pixels.iter().map(|p| [p[0], p[1], p[2]]).collect();
        eprintln!(
            "screenshot {w}x{h}: {} colours, {:.1}% white, {green} green and {red_track} light-red pixels; kept in {}",
            distinct.len(),
            white as f64 * 100.0 / pixels.len() as f64,
            png_path.display()
        );
        ensure!(white < pixels.len() * 99 / 100, "the screenshot is blank");
        ensure!(
            distinct.len() > 20,
            "only {} colours: no text rendered",
            distinct.len()
        );
        // Four full green bars of 14x120 px; Cần Thơ's bar is empty, its track light red.
        ensure!(
            green >= 4 * 14 * 110,
            "{green} green pixels: the Ready bars are missing"
        );
        ensure!(
            red_track >= 14 * 110,
            "{red_track} light-red pixels: the failing province is not marked"
        );
        s.cleanup().await
    });
}

/// A fresh folder in the state dir.
fn tempdir(state_dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = state_dir.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
