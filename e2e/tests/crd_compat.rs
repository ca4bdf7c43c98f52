//! CRD changes stay compatible. The previous release's CRDs (`e2e/fixtures/crd-compat/`, the
//! CRDs of 2026-11-23, before the reform's fields) and objects written against them: every
//! property of every old schema still exists in the current CRDs with the same type (no field
//! removed or renamed), and on a real API server, objects created under the old CRDs keep
//! every spec and status field after the CRDs are upgraded, read back both raw and through the
//! current Rust types, with `v1alpha1` still the only stored version; the current operator then
//! serves them.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, ensure};
use khaibao::api::{Platform, Tenant, TenantSet};
use khaibao_e2e::{
    ControlPlane, Operator, OperatorOptions, read_manifests, wait_until, with_cluster,
    workspace_root,
};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

const OLD_CRDS: &str = "e2e/fixtures/crd-compat/crds-2026-11-23.yaml";
const OLD_OBJECTS: &str = "e2e/fixtures/crd-compat/objects-2026-11-23.yaml";
const CURRENT_CRDS: &str = "charts/khaibao/crds/khaibao.dev.yaml";

fn read_docs(path: &str) -> anyhow::Result<Vec<Value>> {
    // Absolute paths stay as they are (`join` replaces).
    read_manifests(&workspace_root().join(path))
}

/// Every property path of a schema with its type (`spec.rollout.batch` → `string`).
fn properties(schema: &Value, prefix: &str, out: &mut BTreeMap<String, String>) {
    if let Some(items) = schema.get("items") {
        properties(items, &format!("{prefix}[]"), out);
    }
    for (k, s) in schema["properties"].as_object().into_iter().flatten() {
        let path = format!("{prefix}.{k}");
        let ty = s["type"].as_str().unwrap_or("any").to_string();
        out.insert(path.clone(), ty);
        properties(s, &path, out);
    }
}

/// Per CRD, per served version: its property paths and types.
fn schemas(path: &str) -> anyhow::Result<BTreeMap<String, BTreeMap<String, String>>> {
    let mut out = BTreeMap::new();
    for crd in read_docs(path)? {
        let name = crd["metadata"]["name"].as_str().unwrap_or_default();
        for v in crd["spec"]["versions"].as_array().into_iter().flatten() {
            let mut props = BTreeMap::new();
            properties(&v["schema"]["openAPIV3Schema"], "", &mut props);
            out.insert(
                format!("{name}/{}", v["name"].as_str().unwrap_or_default()),
                props,
            );
        }
    }
    Ok(out)
}

#[test]
fn every_field_of_the_previous_crds_is_still_there_with_its_type() {
    let old = schemas(OLD_CRDS).unwrap();
    let new = schemas(CURRENT_CRDS).unwrap();
    assert_eq!(old.len(), 4, "{:?}", old.keys());
    let mut problems = Vec::new();
    for (version, props) in &old {
        let Some(now) = new.get(version) else {
            problems.push(format!("{version} is no longer served"));
            continue;
        };
        for (path, ty) in props {
            match now.get(path) {
                None => problems.push(format!("{version}: {path} was removed")),
                Some(t) if t != ty => {
                    problems.push(format!("{version}: {path} was {ty}, is now {t}"))
                }
                Some(_) => {}
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every leaf of `old` is in `new` with the same value; a leaf missing from `new` counts only
/// when it was not a default (`false`, empty, null), which typed serialization may omit.
fn missing_leaves(old: &Value, new: &Value, at: &str, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let here = format!("{at}/{k}");
                match b.get(k) {
                    Some(w) => missing_leaves(v, w, &here, out),
                    None if is_default(v) => {}
                    None => out.push(format!("{here} dropped (was {v})")),
                }
            }
        }
        (a, b) if a == b => {}
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                missing_leaves(v, w, &format!("{at}/{i}"), out);
            }
        }
        (a, b) => out.push(format!("{at}: {a} became {b}")),
    }
}

fn is_default(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// A status as the 2026-11-23 operator wrote it.
fn old_tenant_status() -> Value {
    json!({"status": {
        "observedGeneration": 1,
        "revision": "abc1234567",
        "targetRevision": "abc1234567",
        "appliedHash": "0123456789abcdef",
        "endpoint": "ha-noi.dichvucong.gov.vn",
        "lastError": "an earlier problem",
        "objects": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "ha-noi-01-portal", "resourceVersion": "42"}],
        "conditions": [{"type": "Ready", "status": "True", "reason": "Applied", "message": "1 object(s) applied",
                        "lastTransitionTime": "2026-11-23T10:00:00Z", "observedGeneration": 1}],
    }})
}

fn old_platform_status() -> Value {
    json!({"status": {
        "observedGeneration": 1,
        "revision": "abc1234567",
        "previousRevision": "0000000000",
        "sharedRevision": "abc1234567",
        "tenants": {"total": 2, "ready": 2},
        "conditions": [{"type": "Ready", "status": "True", "reason": "Reconciled", "message": "2/2 tenants ready",
                        "lastTransitionTime": "2026-11-23T10:00:00Z", "observedGeneration": 1}],
    }})
}

async fn read_raw(
    cp: &ControlPlane,
    ar: &ApiResource,
    namespace: Option<&str>,
    name: &str,
) -> anyhow::Result<Value> {
    let client = cp.client().await?;
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client, ns, ar),
        None => Api::all_with(client, ar),
    };
    Ok(serde_json::to_value(api.get(name).await?)?)
}

#[test]
fn objects_of_the_previous_crds_survive_the_upgrade_whole() {
    with_cluster(async |cp| {
        let path = |p: &str| workspace_root().join(p).display().to_string();
        let (old_crds, current_crds, old_objects) =
            (path(OLD_CRDS), path(CURRENT_CRDS), path(OLD_OBJECTS));
        // The harness installed the current CRDs: back to the previous release's.
        cp.kubectl(&["delete", "-f", &current_crds, "--wait=true"])?;
        cp.kubectl(&["apply", "-f", &old_crds])?;
        cp.kubectl(&[
            "wait",
            "--for=condition=Established",
            "-f",
            &old_crds,
            "--timeout=60s",
        ])?;
        cp.kubectl(&["create", "namespace", "tinh-01"])?;
        // Established is not yet served everywhere ("There can be a delay"): retried.
        wait_until(
            "the objects applied under the old CRDs",
            Duration::from_secs(30),
            async || {
                cp.kubectl(&["apply", "--server-side", "-f", &old_objects])
                    .map(|_| ())
            },
        )
        .await?;
        let client = cp.client().await?;
        let params = PatchParams::default();
        let tenant_ar = ApiResource::erase::<Tenant>(&());
        let platform_ar = ApiResource::erase::<Platform>(&());
        let set_ar = ApiResource::erase::<TenantSet>(&());
        Api::<DynamicObject>::namespaced_with(client.clone(), "tinh-01", &tenant_ar)
            .patch_status("ha-noi", &params, &Patch::Merge(old_tenant_status()))
            .await?;
        Api::<DynamicObject>::all_with(client.clone(), &platform_ar)
            .patch_status("compat", &params, &Patch::Merge(old_platform_status()))
            .await?;
        let objects: [(&ApiResource, Option<&str>, &str); 4] = [
            (&platform_ar, None, "compat"),
            (&tenant_ar, Some("tinh-01"), "ha-noi"),
            (&tenant_ar, Some("tinh-01"), "phuong-ba-dinh"),
            (&set_ar, Some("tinh-01"), "xa-phuong"),
        ];
        let mut before = Vec::new();
        for (ar, ns, name) in objects {
            before.push(read_raw(cp, ar, ns, name).await?);
        }
        // The fixture uses the old fields only: the old CRDs kept all of it.
        let fixture = read_docs(OLD_OBJECTS)?;
        for (doc, seen) in fixture.iter().zip(&before) {
            let mut lost = Vec::new();
            missing_leaves(&doc["spec"], &seen["spec"], "/spec", &mut lost);
            ensure!(
                lost.is_empty(),
                "the old CRDs pruned fixture fields: {lost:?}"
            );
        }

        // The upgrade: the current CRDs applied over the old ones.
        cp.kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &current_crds,
        ])?;
        cp.kubectl(&[
            "wait",
            "--for=condition=Established",
            "-f",
            &current_crds,
            "--timeout=60s",
        ])?;
        for crd in read_docs(CURRENT_CRDS)? {
            let name = crd["metadata"]["name"].as_str().unwrap_or_default();
            let live: Value =
                serde_json::from_str(&cp.kubectl(&["get", "crd", name, "-o", "json"])?)?;
            ensure!(
                live["status"]["storedVersions"] == json!(["v1alpha1"]),
                "{name}: stored versions {}",
                live["status"]["storedVersions"]
            );
        }
        let mut problems = Vec::new();
        for ((ar, ns, name), old) in objects.iter().zip(&before) {
            let raw = read_raw(cp, ar, *ns, name).await?;
            let typed = match ar.kind.as_str() {
                "Tenant" => serde_json::to_value(
                    Api::<Tenant>::namespaced(client.clone(), ns.unwrap_or_default())
                        .get(name)
                        .await?,
                )?,
                "TenantSet" => serde_json::to_value(
                    Api::<TenantSet>::namespaced(client.clone(), ns.unwrap_or_default())
                        .get(name)
                        .await?,
                )?,
                _ => serde_json::to_value(Api::<Platform>::all(client.clone()).get(name).await?)?,
            };
            for part in ["spec", "status"] {
                let mut lost = Vec::new();
                missing_leaves(&old[part], &raw[part], &format!("/{part}"), &mut lost);
                for l in lost {
                    problems.push(format!("{} {name} (API server): {l}", ar.kind));
                }
                let mut lost = Vec::new();
                missing_leaves(&old[part], &typed[part], &format!("/{part}"), &mut lost);
                for l in lost {
                    problems.push(format!("{} {name} (Rust types): {l}", ar.kind));
                }
            }
        }
        ensure!(
            problems.is_empty(),
            "after the CRD upgrade:\n{}",
            problems.join("\n")
        );

        // And the current operator serves what the old CRDs stored. The made-up revision of
        // the status written above has no snapshot: cleared, as for a platform seen first.
        let started = std::time::Instant::now();
        Api::<DynamicObject>::all_with(client.clone(), &platform_ar)
            .patch_status("compat", &params, &Patch::Merge(json!({"status": null})))
            .await?;
        let op = Operator::start(cp, OperatorOptions::new("crd-compat"))?;
        op.wait_ready(Duration::from_secs(60)).await?;
        let tenants: Api<Tenant> = Api::namespaced(client.clone(), "tinh-01");
        wait_until(
            "the old Tenants Ready under the new operator",
            Duration::from_secs(120),
            async || {
                for name in ["ha-noi", "phuong-ba-dinh"] {
                    let t = tenants.get(name).await?;
                    ensure!(
                        khaibao_e2e::tenant_ready(&t),
                        "{name}: {}",
                        khaibao_e2e::conditions_summary(&t)
                    );
                }
                Ok(())
            },
        )
        .await
        .context("the current operator on objects of the previous CRDs")?;
        eprintln!(
            "[crd-compat] old Tenants Ready under the new operator in {:.1?}",
            started.elapsed()
        );
        drop(op);
        Ok(())
    });
}

#[test]
fn a_dropped_or_changed_field_is_seen_and_an_omitted_default_is_not() {
    let old = json!({"a": {"b": 1, "c": false, "d": []}, "e": "x"});
    let mut out = Vec::new();
    missing_leaves(&old, &json!({"a": {"b": 1}, "e": "x"}), "", &mut out);
    assert!(out.is_empty(), "{out:?}");
    missing_leaves(&old, &json!({"a": {"b": 2, "c": false}}), "", &mut out);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[0].starts_with("/a/b: 1 became 2") && out[1].starts_with("/e dropped"));
}
