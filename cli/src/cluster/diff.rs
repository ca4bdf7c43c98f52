//! `khaibao diff`: what applying the given tenants would change in the cluster, per tenant and
//! object. Each desired object is server-side applied in dry-run mode as the operator would
//! apply it, and compared with the live object; objects the tenant owns but no longer renders
//! are listed as pruned. Generated secrets are compared by existence only, never by value.
//! Exit 1 when anything would change, like `kubectl diff`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use futures::{StreamExt, stream};
use khaibao::cluster::{Resolver, dry_run_apply};
use khaibao::pipeline::{ANNOTATION_OWNER, DesiredObject, LABEL_PLATFORM, RenderedTenant};
use khaibao::yaml::to_yaml_document;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use super::{ClusterArgs, explain, with_client};
use crate::Global;
use crate::commands::{INVALID, USAGE, invalid_reports, load};
use crate::fleet::render_fleet;
use crate::report::print_all;

/// Kinds listed to find objects a tenant owns but no longer renders.
const OWNED_KINDS: &[(&str, &str)] = &[
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
];

/// What applying would do to one object.
enum Change {
    Create(String),
    Update(String),
    Prune,
    CreateSecret,
}

/// `(kind, name, change)` for each object of a tenant that would change.
type Changes = Vec<(String, String, Change)>;

pub fn run(g: &Global, cluster: &ClusterArgs, paths: &[PathBuf]) -> u8 {
    let inputs = match load(g, paths) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let fleet = render_fleet(&inputs);
    let reports = invalid_reports(&inputs, &fleet);
    if !reports.is_empty() {
        print_all(&reports, g.lang());
        return INVALID;
    }
    let rendered: Vec<(String, &RenderedTenant)> = fleet
        .outcomes
        .iter()
        .filter_map(|o| {
            o.result
                .as_ref()
                .ok()
                .map(|r| (format!("{}/{}", r.namespace, r.name), r))
        })
        .collect();
    with_client(cluster, |client| async move {
        let resolver = Resolver::default();
        // Objects in the cluster, by owner, for every platform namespace involved.
        let mut live_by_owner: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        let namespaces: BTreeSet<(String, String)> = fleet
            .compiled
            .iter()
            .filter_map(|(name, c)| {
                c.as_ref()
                    .ok()
                    .map(|c| (name.clone(), c.platform.spec.namespace.clone()))
            })
            .collect();
        for (platform, ns) in &namespaces {
            for (av, kind) in OWNED_KINDS {
                let Ok(ar) = resolver.resolve(&client, av, kind).await else {
                    continue;
                };
                let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
                let lp = ListParams::default().labels(&format!("{LABEL_PLATFORM}={platform}"));
                match api.list_metadata(&lp).await {
                    Ok(list) => {
                        for o in list.items {
                            if let Some(owner) = o
                                .metadata
                                .annotations
                                .as_ref()
                                .and_then(|a| a.get(ANNOTATION_OWNER))
                            {
                                live_by_owner
                                    .entry(owner.clone())
                                    .or_default()
                                    .push((kind.to_string(), o.metadata.name.unwrap_or_default()));
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("error: cannot list {kind} in {ns}: {}", explain(&e));
                        return USAGE;
                    }
                }
            }
        }
        let per_tenant: Vec<(String, Result<Changes, String>)> = stream::iter(rendered.iter())
            .map(|(key, r)| {
                let (client, resolver) = (client.clone(), resolver.clone());
                let live = live_by_owner
                    .get(&format!("tenant/{key}"))
                    .cloned()
                    .unwrap_or_default();
                async move {
                    (
                        key.clone(),
                        tenant_changes(&client, &resolver, r, &live).await,
                    )
                }
            })
            .buffered(16)
            .collect()
            .await;
        let (mut changed, mut unchanged, mut errors) = (0, 0, 0);
        for (key, result) in per_tenant {
            match result {
                Err(e) => {
                    errors += 1;
                    eprintln!("error: tenant {key}: {e}");
                }
                Ok(changes) if changes.is_empty() => unchanged += 1,
                Ok(changes) => {
                    changed += 1;
                    println!("tenant {key}:");
                    for (kind, name, change) in changes {
                        match change {
                            Change::Create(yaml) => {
                                println!("  + {kind} {name} (new)");
                                for line in yaml.lines() {
                                    println!("    + {line}");
                                }
                            }
                            Change::Update(diff) => {
                                println!("  ~ {kind} {name}");
                                for line in diff.lines() {
                                    println!("    {line}");
                                }
                            }
                            Change::Prune => {
                                println!("  - {kind} {name} (no longer rendered: would be deleted)")
                            }
                            Change::CreateSecret => println!(
                                "  + {kind} {name} (generated secret: values are created in the cluster, never shown)"
                            ),
                        }
                    }
                }
            }
        }
        println!("{changed} tenant(s) would change, {unchanged} unchanged");
        if errors > 0 {
            USAGE
        } else if changed > 0 {
            INVALID
        } else {
            0
        }
    })
}

/// Live object without the fields the server manages.
fn comparable(mut v: Value) -> Value {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "managedFields",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
        ] {
            m.remove(k);
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}

async fn tenant_changes(
    client: &kube::Client,
    resolver: &Resolver,
    r: &RenderedTenant,
    live: &[(String, String)],
) -> Result<Changes, String> {
    let mut changes = Vec::new();
    for o in &r.objects {
        if let Some(c) = object_change(client, resolver, o).await? {
            changes.push((o.kind().to_string(), o.name().to_string(), c));
        }
    }
    for s in &r.generated_secrets {
        if !live.iter().any(|(k, n)| k == "Secret" && n == s.name()) {
            changes.push(("Secret".into(), s.name().to_string(), Change::CreateSecret));
        }
    }
    let desired: BTreeSet<(&str, &str)> = r
        .objects
        .iter()
        .chain(&r.generated_secrets)
        .map(|o| (o.kind(), o.name()))
        .collect();
    for (kind, name) in live {
        if !desired.contains(&(kind.as_str(), name.as_str())) {
            changes.push((kind.clone(), name.clone(), Change::Prune));
        }
    }
    Ok(changes)
}

async fn object_change(
    client: &kube::Client,
    resolver: &Resolver,
    o: &DesiredObject,
) -> Result<Option<Change>, String> {
    let ar = resolver
        .resolve(client, o.api_version(), o.kind())
        .await
        .map_err(|e| e.to_string())?;
    let ns = o.object["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let live = api.get_opt(o.name()).await.map_err(|e| explain(&e))?;
    let Some(live) = live else {
        return Ok(Some(Change::Create(to_yaml_document(&o.object))));
    };
    let after = dry_run_apply(client, resolver, &o.object)
        .await
        .map_err(|e| e.to_string())?;
    let before = comparable(serde_json::to_value(&live).unwrap_or_default());
    let after = comparable(serde_json::to_value(&after).unwrap_or_default());
    if before == after {
        return Ok(None);
    }
    let (b, a) = (to_yaml_document(&before), to_yaml_document(&after));
    let diff = similar::TextDiff::from_lines(b.as_str(), a.as_str())
        .unified_diff()
        .context_radius(2)
        .header("live", "desired")
        .to_string();
    Ok(Some(Change::Update(diff)))
}
