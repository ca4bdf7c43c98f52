//! `khaibao apply`: validate locally, then create or update Namespaces, Platforms and Tenants
//! with server-side apply. Invalid input never touches the cluster.

use std::path::PathBuf;

use futures::{StreamExt, stream};
use khaibao::api::{Platform, Tenant};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use super::{ClusterArgs, explain, with_client};
use crate::Global;
use crate::commands::{INVALID, invalid_reports, load};
use crate::fleet::render_fleet;
use crate::report::print_all;

/// Field manager of the CLI (the operator's is `khaibao`).
pub const CLI_MANAGER: &str = "khaibao-cli";

pub fn run(g: &Global, cluster: &ClusterArgs, paths: &[PathBuf], dry_run: bool) -> u8 {
    let inputs = match load(g, paths) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let fleet = render_fleet(&inputs);
    let reports = invalid_reports(&inputs, &fleet);
    if !reports.is_empty() {
        print_all(&reports, g.lang());
        eprintln!("nothing was applied: fix the problems above first");
        return INVALID;
    }
    // Only platforms named on the command line, or used by the tenants given, are applied: the
    // whole catalogue is read for validation, not pushed to the cluster.
    let used: std::collections::BTreeSet<&str> = inputs
        .tenants
        .iter()
        .map(|t| t.tenant.spec.platform.as_str())
        .collect();
    let platforms: Vec<Value> = inputs
        .platforms
        .iter()
        .filter(|(name, p)| {
            used.contains(name.as_str())
                || paths.iter().any(|path| {
                    p.dir.as_deref() == Some(path.as_path()) || inputs.path(p.at) == path
                })
        })
        .map(|(_, p)| manifest(&p.platform))
        .collect();
    let tenants: Vec<Value> = inputs
        .tenants
        .iter()
        .filter(|t| !t.from_set)
        .map(|t| manifest(&t.tenant))
        .chain(inputs.tenant_sets.iter().cloned())
        .collect();
    with_client(cluster, |client| async move {
        let mut failed = 0;
        let suffix = if dry_run { " (server dry run)" } else { "" };
        for (label, docs) in [("namespace", &inputs.namespaces), ("platform", &platforms)] {
            for doc in docs.iter() {
                match apply_doc(&client, doc, dry_run).await {
                    Ok(applied) => {
                        println!(
                            "{label} {} applied{suffix}",
                            doc["metadata"]["name"].as_str().unwrap_or_default()
                        );
                        if label == "platform" {
                            apply_admission_policy(&client, doc, &applied, dry_run, suffix).await;
                        }
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!(
                            "error: {label} {}: {e}",
                            doc["metadata"]["name"].as_str().unwrap_or_default()
                        );
                    }
                }
            }
        }
        let results: Vec<(String, String, Result<(), String>)> = stream::iter(tenants.iter())
            .map(|doc| {
                let client = client.clone();
                async move {
                    let key = format!(
                        "{}/{}",
                        doc["metadata"]["namespace"].as_str().unwrap_or("default"),
                        doc["metadata"]["name"].as_str().unwrap_or_default()
                    );
                    let label = doc["kind"].as_str().unwrap_or_default().to_lowercase();
                    (label, key, apply_doc(&client, doc, dry_run).await.map(drop))
                }
            })
            .buffered(16)
            .collect()
            .await;
        for (label, key, r) in results {
            match r {
                Ok(()) => println!("{label} {key} applied{suffix}"),
                Err(e) => {
                    failed += 1;
                    eprintln!("error: {label} {key}: {e}");
                }
            }
        }
        if failed > 0 {
            eprintln!("{failed} object(s) could not be applied");
            INVALID
        } else {
            0
        }
    })
}

/// The resource as declared: no status, no server-set metadata.
fn manifest<T: serde::Serialize>(resource: &T) -> Value {
    let mut v = serde_json::to_value(resource).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "managedFields",
        ] {
            m.remove(k);
        }
    }
    v
}

/// The platform's generated admission policy and binding (`khaibao platform admission`), owned
/// by the applied Platform so they go when it goes. A failure is a warning, not an error: the
/// operator checks every value anyway, the policy only refuses bad values earlier.
async fn apply_admission_policy(
    client: &kube::Client,
    doc: &Value,
    applied: &DynamicObject,
    dry_run: bool,
    suffix: &str,
) {
    let Ok(platform) = serde_json::from_value::<Platform>(doc.clone()) else {
        return;
    };
    let vp = khaibao::admission::values_policy(&platform);
    let owner = applied.metadata.uid.as_ref().map(|uid| {
        json!([{"apiVersion": "khaibao.dev/v1alpha1", "kind": "Platform",
                "name": applied.metadata.name, "uid": uid}])
    });
    for mut obj in vp.objects() {
        if let Some(owner) = &owner {
            obj["metadata"]["ownerReferences"] = owner.clone();
        }
        let kind = obj["kind"].as_str().unwrap_or_default().to_string();
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match apply_doc(client, &obj, dry_run).await {
            Ok(_) => println!("{kind} {name} applied{suffix}"),
            Err(e) => {
                eprintln!(
                    "warning: {kind} {name}: {e}\n  tenants with out-of-schema values will be reported by the operator (Rendered=False) instead of refused at apply time"
                );
                return;
            }
        }
    }
}

fn api_resource_of(doc: &Value) -> (ApiResource, bool) {
    let kind = doc["kind"].as_str().unwrap_or_default();
    match kind {
        "ValidatingAdmissionPolicy" | "ValidatingAdmissionPolicyBinding" => (
            ApiResource::from_gvk(&GroupVersionKind::gvk(
                "admissionregistration.k8s.io",
                "v1",
                kind,
            )),
            false,
        ),
        "Tenant" => (ApiResource::erase::<Tenant>(&()), true),
        "TenantSet" => (ApiResource::erase::<khaibao::api::TenantSet>(&()), true),
        "Platform" => (ApiResource::erase::<Platform>(&()), false),
        _ => (
            ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", "Namespace")),
            false,
        ),
    }
}

async fn apply_doc(
    client: &kube::Client,
    doc: &Value,
    dry_run: bool,
) -> Result<DynamicObject, String> {
    let (ar, namespaced) = api_resource_of(doc);
    let name = doc["metadata"]["name"].as_str().unwrap_or_default();
    let api: Api<DynamicObject> = if namespaced {
        Api::namespaced_with(
            client.clone(),
            doc["metadata"]["namespace"].as_str().unwrap_or("default"),
            &ar,
        )
    } else {
        Api::all_with(client.clone(), &ar)
    };
    let mut params = PatchParams::apply(CLI_MANAGER).force();
    if dry_run {
        params = params.dry_run();
    }
    api.patch(name, &params, &Patch::Apply(doc))
        .await
        .map_err(|e| explain(&e))
}
