//! Adoption on a real control plane, one successor at a time: a commune of the 34-province
//! division replacing two communes of the 63-province division (one of the same code, one of
//! another) becomes Ready first with their host names, adopts their API keys byte for byte, and
//! only then retires them; re-applying it writes nothing. The whole reform (plans, TenantSets,
//! the guard) is `reform.rs`.

use std::time::Duration;

use anyhow::{Context, ensure};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use khaibao::api::{Tenant, TenantSet};
use khaibao_e2e::{Scope, tenant_label, tenant_ready, wait_until, with_shared};
use kube::ResourceExt;
use kube::api::Api;
use serde_json::{Value, json};

fn commune(s: &Scope, name: &str, code: &str, unit: &str, division: &str) -> Value {
    commune_in(s, "01", name, code, unit, division)
}

fn commune_in(
    s: &Scope,
    province: &str,
    name: &str,
    code: &str,
    unit: &str,
    division: &str,
) -> Value {
    json!({
        "apiVersion": "khaibao.dev/v1alpha1", "kind": "Tenant",
        "metadata": {"name": name, "namespace": format!("{}-tinh-{province}", s.prefix)},
        "spec": {
            "platform": s.platform,
            "unit": {"level": "commune", "code": code, "name": unit, "provinceCode": province, "division": division},
        },
    })
}

fn condition<'a>(
    t: &'a Tenant,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    t.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

#[test]
fn a_successor_is_ready_first_adopts_the_secrets_then_retires_its_predecessors() {
    with_shared(async |env| {
        let s = Scope::new(env.cp.client().await?, "adopt");
        s.apply_platform(&s.platform_manifest()?).await?;
        let ns = format!("{}-tinh-01", s.prefix);
        // Phường Trúc Bạch (00004) and Phường Quán Thánh (00013) became Phường Ba Đình (00004).
        let truc_bach = commune(&s, "phuong-truc-bach", "00004", "Phường Trúc Bạch", "63");
        let quan_thanh = commune(&s, "phuong-quan-thanh", "00013", "Phường Quán Thánh", "63");
        s.create_tenants(&[truc_bach, quan_thanh]).await?;
        s.wait_ready(2, Duration::from_secs(60)).await?;
        let secrets: Api<Secret> = Api::namespaced(s.client.clone(), &s.namespace);
        let data = async |name: &str| -> anyhow::Result<_> {
            Ok(secrets
                .get(name)
                .await
                .with_context(|| format!("secret {name}"))?
                .data
                .unwrap_or_default())
        };
        let old_same = data("phuong-truc-bach-00004-api-key").await?;
        let old_other = data("phuong-quan-thanh-00013-api-key").await?;

        let mut ba_dinh = commune(&s, "phuong-ba-dinh", "00004", "Phường Ba Đình", "34");
        ba_dinh["spec"]["predecessors"] = json!([
            {"tenant": format!("{ns}/phuong-truc-bach"), "level": "commune", "code": "00004"},
            {"tenant": format!("{ns}/phuong-quan-thanh"), "level": "commune", "code": "00013"},
        ]);
        ba_dinh["spec"]["transition"] = json!({"until": "2026-12-31"});
        s.apply_tenant(&ba_dinh).await?;

        let tenants: Api<Tenant> = Api::namespaced(s.client.clone(), &ns);
        wait_until(
            "both predecessors retired",
            Duration::from_secs(90),
            async || {
                let t = tenants.get("phuong-ba-dinh").await?;
                let st = t.status.clone().unwrap_or_default();
                let c = condition(&t, "PredecessorsRetired");
                ensure!(
                    tenant_ready(&t)
                        && st.predecessors_retired == Some(2)
                        && st.predecessors_pending == Some(0)
                        && c.is_some_and(|c| c.status == "True"),
                    "retired {:?} pending {:?}, {:?}",
                    st.predecessors_retired,
                    st.predecessors_pending,
                    c.map(|c| (&c.reason, &c.message))
                );
                for old in ["phuong-truc-bach", "phuong-quan-thanh"] {
                    ensure!(tenants.get_opt(old).await?.is_none(), "{old} still there");
                }
                Ok(())
            },
        )
        .await?;

        // Secrets adopted byte for byte: the same code's as the successor's own, the other's
        // under `<code>.<key>`.
        ensure!(
            data("phuong-ba-dinh-00004-api-key").await? == old_same,
            "the successor's api-key is not Trúc Bạch's"
        );
        let adopted = data("phuong-ba-dinh-00004-api-key-adopted").await?;
        ensure!(
            adopted.get("00013.token") == old_other.get("token") && adopted.len() == 1,
            "the adopted Secret holds {:?}",
            adopted.keys().collect::<Vec<_>>()
        );

        // The successor answers the old host names; nothing of the predecessors is left.
        let objects = s.objects().await?;
        let ingress = objects
            .iter()
            .find(|o| o.kind == "Ingress" && o.name == "phuong-ba-dinh-00004-portal")
            .context("the successor's Ingress")?;
        let hosts: Vec<&str> = ingress.raw["spec"]["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["host"].as_str())
            .collect();
        for prefix in [
            "phuong-ba-dinh.ha-noi.",
            "phuong-truc-bach.ha-noi.",
            "phuong-quan-thanh.ha-noi.",
        ] {
            ensure!(
                hosts.iter().any(|h| h.starts_with(prefix)),
                "no host {prefix}* in {hosts:?}: {}",
                ingress.raw
            );
        }
        for old in ["phuong-truc-bach", "phuong-quan-thanh"] {
            let label = tenant_label(&ns, old);
            let left: Vec<&str> = objects
                .iter()
                .filter(|o| o.tenant() == Some(label.as_str()))
                .map(|o| o.name.as_str())
                .collect();
            ensure!(left.is_empty(), "{old} left {left:?}");
        }

        // Retired only after the successor was Ready.
        let successor = tenants.get("phuong-ba-dinh").await?;
        let ready_since = condition(&successor, "Ready")
            .map(|c| c.last_transition_time.0)
            .context("Ready condition")?;
        let events: Api<Event> = Api::namespaced(s.client.clone(), &ns);
        let retired: Vec<Event> = events
            .list(&Default::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("PredecessorRetired"))
            .collect();
        // The recorder folds events of one reason about one object into a series.
        let told: i32 = retired
            .iter()
            .map(|e| e.series.as_ref().map_or(1, |s| s.count))
            .sum();
        ensure!(told == 2, "{told} PredecessorRetired events");
        for e in &retired {
            let at = e
                .event_time
                .as_ref()
                .map(|t| t.0)
                .context("event without time")?;
            // Second resolution on the condition's time: compare whole seconds.
            ensure!(
                at.as_second() >= ready_since.as_second(),
                "retired at {at} before Ready at {ready_since}"
            );
        }

        // Applying the same successor again changes nothing.
        let before = successor.resource_version();
        s.apply_tenant(&ba_dinh).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = tenants.get("phuong-ba-dinh").await?;
        ensure!(
            after.resource_version() == before,
            "re-applying the successor changed it: {before:?} → {:?}",
            after.resource_version()
        );
        Ok(())
    });
}

/// A commune kept whole whose province merged: Xã Lũng Cú (00715) of Hà Giang (02) is Xã Lũng
/// Cú (00715) of Tuyên Quang (08), so the successor in namespace tinh-08 renders the very object
/// names of its predecessor in tinh-02. The predecessor stands down, the successor takes the
/// objects and the Secret over (values untouched), and the retirement deletes none of them.
#[test]
fn a_successor_with_the_same_object_names_takes_them_over() {
    with_shared(async |env| {
        let s = Scope::new(env.cp.client().await?, "adopt-same");
        s.apply_platform(&s.platform_manifest()?).await?;
        let old = commune_in(&s, "02", "xa-lung-cu", "00715", "Xã Lũng Cú", "63");
        s.create_tenants(&[old]).await?;
        s.wait_ready(1, Duration::from_secs(60)).await?;
        let secrets: Api<Secret> = Api::namespaced(s.client.clone(), &s.namespace);
        let secret = "xa-lung-cu-00715-api-key";
        let before = secrets.get(secret).await?.data.unwrap_or_default();

        let old_ns = format!("{}-tinh-02", s.prefix);
        let mut new = commune_in(&s, "08", "xa-lung-cu", "00715", "Xã Lũng Cú", "34");
        new["spec"]["predecessors"] = json!([
            {"tenant": format!("{old_ns}/xa-lung-cu"), "level": "commune", "code": "00715"},
        ]);
        s.create_tenants(&[new]).await?;
        let new_ns = format!("{}-tinh-08", s.prefix);
        let olds: Api<Tenant> = Api::namespaced(s.client.clone(), &old_ns);
        let news: Api<Tenant> = Api::namespaced(s.client.clone(), &new_ns);
        wait_until(
            "the predecessor retired",
            Duration::from_secs(90),
            async || {
                let t = news.get("xa-lung-cu").await?;
                let st = t.status.clone().unwrap_or_default();
                ensure!(
                    tenant_ready(&t) && st.predecessors_retired == Some(1),
                    "{:?}",
                    condition(&t, "PredecessorsRetired").map(|c| (&c.reason, &c.message))
                );
                ensure!(olds.get_opt("xa-lung-cu").await?.is_none(), "still there");
                Ok(())
            },
        )
        .await?;
        // Settled: the predecessor's finalizer has run; what is left is the successor's.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let s_secret = secrets.get(secret).await?;
        ensure!(
            s_secret.data.clone().unwrap_or_default() == before,
            "the Secret's values changed"
        );
        let label = tenant_label(&new_ns, "xa-lung-cu");
        ensure!(
            s_secret.labels().get("khaibao.dev/tenant") == Some(&label),
            "the Secret is not the successor's: {:?}",
            s_secret.labels()
        );
        let objects = s.objects().await?;
        let mine: Vec<&str> = objects
            .iter()
            .filter(|o| o.tenant() == Some(label.as_str()))
            .map(|o| o.name.as_str())
            .collect();
        ensure!(
            mine.len() == khaibao_e2e::OBJECTS_PER_TENANT,
            "the successor has {mine:?}"
        );
        let ingress = objects
            .iter()
            .find(|o| o.kind == "Ingress" && o.name == "xa-lung-cu-00715-portal")
            .context("the Ingress")?;
        let hosts: Vec<&str> = ingress.raw["spec"]["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["host"].as_str())
            .collect();
        ensure!(
            hosts
                .iter()
                .any(|h| h.starts_with("xa-lung-cu.tuyen-quang."))
                && hosts.iter().any(|h| h.starts_with("xa-lung-cu.ha-giang.")),
            "hosts {hosts:?}"
        );
        Ok(())
    });
}

/// TenantSets: a 34-division set replacing a 63-division set retires the tenants it replaces,
/// adopts in place the one that keeps its name (Phường Phú Thượng, 00091, the same in both), the
/// old set re-creates none of them, and is deleted once it owns no tenant — without taking the
/// adopted tenant with it.
#[test]
fn a_successor_set_retires_adopts_and_deletes_the_set_it_replaces() {
    with_shared(async |env| {
        let s = Scope::new(env.cp.client().await?, "adopt-set");
        s.apply_platform(&s.platform_manifest()?).await?;
        let ns = format!("{}-tinh-01", s.prefix);
        let old_set = json!({
            "apiVersion": "khaibao.dev/v1alpha1", "kind": "TenantSet",
            "metadata": {"name": "ha-noi-63", "namespace": ns},
            "spec": {"platform": s.platform, "division": "63",
                     "units": {"codes": ["00001", "00004", "00091"]}},
        });
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(s.client.clone());
        namespaces
            .patch(
                &ns,
                &kube::api::PatchParams::apply("khaibao-e2e").force(),
                &kube::api::Patch::Apply(
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                ),
            )
            .await?;
        s.apply_tenant_set(&old_set).await?;
        s.wait_ready(3, Duration::from_secs(60)).await?;
        let secrets: Api<Secret> = Api::namespaced(s.client.clone(), &s.namespace);
        let truc_bach = secrets
            .get("phuong-truc-bach-00004-api-key")
            .await?
            .data
            .unwrap_or_default();
        let phu_thuong = secrets
            .get("phuong-phu-thuong-00091-api-key")
            .await?
            .data
            .unwrap_or_default();
        let pred = |name: &str, code: &str| json!({"tenant": format!("{ns}/{name}"), "level": "commune", "code": code});
        let new_set = json!({
            "apiVersion": "khaibao.dev/v1alpha1", "kind": "TenantSet",
            "metadata": {"name": "ha-noi-34", "namespace": ns},
            "spec": {"platform": s.platform, "division": "34",
                     "units": {"codes": ["00004", "00091"]},
                     "predecessors": [format!("{ns}/ha-noi-63")],
                     "unitPredecessors": {
                         "00004": [pred("phuong-truc-bach", "00004"), pred("phuong-phuc-xa", "00001")],
                         "00091": [pred("phuong-phu-thuong", "00091")],
                     }},
        });
        s.apply_tenant_set(&new_set).await?;
        let tenants: Api<Tenant> = Api::namespaced(s.client.clone(), &ns);
        let sets: Api<TenantSet> = Api::namespaced(s.client.clone(), &ns);
        wait_until(
            "the old set retired and deleted",
            Duration::from_secs(120),
            async || {
                let names: Vec<String> = tenants
                    .list(&Default::default())
                    .await?
                    .items
                    .iter()
                    .map(|t| t.name_any())
                    .collect();
                ensure!(
                    names == ["phuong-ba-dinh", "phuong-phu-thuong"],
                    "tenants {names:?}"
                );
                ensure!(
                    sets.get_opt("ha-noi-63").await?.is_none(),
                    "ha-noi-63 still there"
                );
                for t in tenants.list(&Default::default()).await?.items {
                    ensure!(tenant_ready(&t), "{} not Ready", t.name_any());
                }
                Ok(())
            },
        )
        .await?;
        let adopted = tenants.get("phuong-phu-thuong").await?;
        let owners: Vec<&str> = adopted
            .owner_references()
            .iter()
            .map(|o| o.name.as_str())
            .collect();
        ensure!(
            owners == ["ha-noi-34"],
            "phuong-phu-thuong owned by {owners:?}"
        );
        ensure!(
            adopted.spec.unit.division.as_deref() == Some("34"),
            "phuong-phu-thuong was not updated"
        );
        ensure!(
            secrets
                .get("phuong-ba-dinh-00004-api-key")
                .await?
                .data
                .unwrap_or_default()
                == truc_bach,
            "Ba Đình's key is not Trúc Bạch's"
        );
        ensure!(
            secrets
                .get("phuong-phu-thuong-00091-api-key")
                .await?
                .data
                .unwrap_or_default()
                == phu_thuong,
            "Phú Thượng's key changed"
        );
        // Some time later nothing came back.
        tokio::time::sleep(Duration::from_secs(3)).await;
        ensure!(
            tenants.get_opt("phuong-truc-bach").await?.is_none()
                && tenants.get_opt("phuong-phuc-xa").await?.is_none(),
            "a retired tenant came back"
        );
        Ok(())
    });
}

/// The blast-radius guard, once per plan: a plan retiring 6 of 7 tenants waits, with every
/// successor Ready and every predecessor still there, until `khaibao approve reform`.
#[test]
fn a_large_plan_retires_nothing_until_approved() {
    with_shared(async |env| {
        let s = Scope::new(env.cp.client().await?, "adopt-guard");
        s.apply_platform(&s.platform_manifest()?).await?;
        let olds = [
            ("phuong-phuc-xa", "00001", "Phường Phúc Xá"),
            ("phuong-truc-bach", "00004", "Phường Trúc Bạch"),
            ("phuong-vinh-phuc", "00006", "Phường Vĩnh Phúc"),
            ("phuong-cong-vi", "00007", "Phường Cống Vị"),
            ("phuong-lieu-giai", "00008", "Phường Liễu Giai"),
            ("phuong-quan-thanh", "00013", "Phường Quán Thánh"),
        ];
        let tenants: Vec<Value> = olds
            .iter()
            .map(|(n, c, u)| commune(&s, n, c, u, "63"))
            .collect();
        s.create_tenants(&tenants).await?;
        s.wait_ready(olds.len(), Duration::from_secs(60)).await?;
        let ns = format!("{}-tinh-01", s.prefix);
        let mut ba_dinh = commune(&s, "phuong-ba-dinh", "00004", "Phường Ba Đình", "34");
        ba_dinh["metadata"]["annotations"] = json!({"khaibao.dev/reform-plan": "plan-guard"});
        ba_dinh["spec"]["predecessors"] = Value::Array(
            olds.iter()
                .map(|(n, c, _)| json!({"tenant": format!("{ns}/{n}"), "level": "commune", "code": c}))
                .collect(),
        );
        s.apply_tenant(&ba_dinh).await?;
        let api: Api<Tenant> = Api::namespaced(s.client.clone(), &ns);
        let reform = async || -> anyhow::Result<khaibao::api::ReformStatus> {
            s.get_platform()
                .await?
                .and_then(|p| p.status)
                .and_then(|st| st.reforms.into_iter().find(|r| r.plan == "plan-guard"))
                .context("no status.reforms entry for plan-guard")
        };
        wait_until("the plan held", Duration::from_secs(60), async || {
            let r = reform().await?;
            let t = api.get("phuong-ba-dinh").await?;
            let c = condition(&t, "PredecessorsRetired");
            ensure!(
                r.phase == "AwaitingApproval"
                    && r.successors_ready == 1
                    && c.is_some_and(|c| c.reason == "AwaitingApproval"),
                "{r:?}, {:?}",
                c.map(|c| (&c.reason, &c.message))
            );
            Ok(())
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        for (n, _, _) in &olds {
            ensure!(
                api.get_opt(n).await?.is_some(),
                "{n} retired before approval"
            );
        }
        let out = std::process::Command::new(khaibao_e2e::cli_binary()?)
            .args(["approve", "reform", "plan-guard", "--platform", &s.platform])
            .arg("--kubeconfig")
            .arg(&env.cp.kubeconfig)
            .output()?;
        ensure!(
            out.status.success(),
            "khaibao approve reform: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_until("the plan complete", Duration::from_secs(90), async || {
            let r = reform().await?;
            ensure!(
                r.phase == "Complete" && r.predecessors_retired == 6,
                "{r:?}"
            );
            Ok(())
        })
        .await?;
        for (n, _, _) in &olds {
            ensure!(api.get_opt(n).await?.is_none(), "{n} still there");
        }
        Ok(())
    });
}
