//! TenantSets across a reform: a successor set takes over in place the Tenants of the sets it
//! replaces that keep their name, and deletes each replaced set once nothing of it is left. It
//! must never delete a set that still owns a Tenant (that would delete the Tenant), nor one
//! whose tenants no Ready successor replaces.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::info;

use super::writes::publish;
use super::{Context, Error};
use crate::api::{Tenant, TenantSet};
use crate::pipeline::{LABEL_TENANT_SET, expand_tenant_set};
use crate::status::{self, READY};

/// True when the manifest's Tenant lists itself (`key`) as a predecessor: a successor that
/// keeps the name of the tenant it replaces, which this set takes over.
pub fn lists_itself(manifest: &serde_json::Value, key: &str) -> bool {
    manifest["spec"]["predecessors"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["tenant"].as_str() == Some(key)))
}

/// True when a Ready successor lists `key` (`namespace/name`) as its predecessor.
fn replaced_by_ready_successor(ctx: &Context, key: &str) -> bool {
    ctx.predecessors.successors_of(key).iter().any(|s| {
        s.split_once('/')
            .and_then(|(ns, n)| {
                ctx.tenants
                    .get(&kube::runtime::reflector::ObjectRef::new(n).within(ns))
            })
            .and_then(|t| t.status.clone())
            .is_some_and(|st| status::is_true(&st.conditions, READY))
    })
}

/// Takes over a Tenant made by another set (or by hand) that this set's Tenant replaces in
/// place: the ownerReference moves to this set (tested against the list read, so a concurrent
/// change fails instead of being overwritten), so deleting the old set no longer deletes it.
/// The apply that follows updates its spec and labels.
pub async fn adopt_tenant(
    api: &Api<Tenant>,
    existing: &Tenant,
    owner: &OwnerReference,
) -> Result<(), Error> {
    let current = existing.meta().owner_references.clone();
    let patch = json!([
        {"op": "test", "path": "/metadata/ownerReferences", "value": current},
        {"op": "add", "path": "/metadata/ownerReferences", "value": [owner]},
    ]);
    let patch: json_patch::Patch =
        serde_json::from_value(patch).map_err(kube::Error::SerdeError)?;
    api.patch(
        &existing.name_any(),
        &crate::cluster::patch_params(),
        &Patch::<()>::Json(patch),
    )
    .await?;
    Ok(())
}

/// Deletes each TenantSet this one replaces (`spec.predecessors`) once it owns no Tenant any
/// more and every Tenant it stands for is listed by a Ready successor — every one retired into
/// a successor or adopted in place. Never earlier: deleting a set deletes the Tenants it still
/// owns. The second condition keeps a set from deleting another province's: only successors
/// that rendered (which refuses predecessors of another province) are Ready.
pub async fn delete_replaced_sets(ctx: &Context, set: &TenantSet) -> Result<(), Error> {
    let me = (set.namespace().unwrap_or_default(), set.name_any());
    for key in &set.spec.predecessors {
        let Some((pns, pname)) = key.split_once('/') else {
            continue;
        };
        if (pns, pname) == (me.0.as_str(), me.1.as_str()) {
            continue;
        }
        let owns_some = ctx.tenants.state().iter().any(|t| {
            t.namespace().as_deref() == Some(pns)
                && (t.labels().get(LABEL_TENANT_SET).map(String::as_str) == Some(pname)
                    || t.owner_references()
                        .iter()
                        .any(|o| o.kind == "TenantSet" && o.name == pname))
        });
        if owns_some {
            continue;
        }
        let api: Api<TenantSet> = Api::namespaced(ctx.client.clone(), pns);
        // Read with a name-selected list: the operator's role lists TenantSets, it never gets.
        let params = kube::api::ListParams::default().fields(&format!("metadata.name={pname}"));
        let Some(replaced) = api.list(&params).await?.items.into_iter().next() else {
            continue;
        };
        let replaced_everywhere = expand_tenant_set(&replaced).is_ok_and(|tenants| {
            tenants.iter().all(|t| {
                let key = format!(
                    "{pns}/{}",
                    t["metadata"]["name"].as_str().unwrap_or_default()
                );
                replaced_by_ready_successor(ctx, &key)
            })
        });
        if !replaced_everywhere {
            continue;
        }
        match api.delete(pname, &DeleteParams::background()).await {
            Ok(_) => {
                ctx.metrics.write("delete");
                let msg = format!(
                    "deleted the replaced TenantSet {key}: every tenant it made is retired or adopted"
                );
                info!(tenantset = %format!("{}/{}", me.0, me.1), replaced = %key, "deleted a replaced TenantSet");
                publish(ctx, set, EventType::Normal, "PredecessorSetDeleted", &msg).await;
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn a_manifest_listing_its_own_tenant_adopts_it_in_place() {
        let m = json!({"spec": {"predecessors": [
            {"tenant": "tinh-01/phuong-a", "level": "commune", "code": "00001"},
            {"tenant": "tinh-01/phuong-b", "level": "commune", "code": "00004"},
        ]}});
        assert!(super::lists_itself(&m, "tinh-01/phuong-b"));
        assert!(!super::lists_itself(&m, "tinh-01/phuong-c"));
        assert!(!super::lists_itself(
            &json!({"spec": {}}),
            "tinh-01/phuong-a"
        ));
    }
}
