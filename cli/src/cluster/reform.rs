//! `khaibao reform plan --cluster`: the live Tenants and TenantSets as plan sources. Tenants a
//! set made are left out: the set is what gets re-expressed.

use k8s_openapi::api::rbac::v1::RoleBinding;
use khaibao::api::{Tenant, TenantSet};
use khaibao::pipeline::LABEL_TENANT_SET;
use khaibao::reform::Source;
use kube::api::{Api, ListParams};

use super::{ClusterArgs, block_on, explain};

/// A province grant found in the cluster: group `group` manages tenants in `namespace`.
pub struct Grant {
    pub namespace: String,
    pub group: String,
}

/// The grants, or why they could not be read.
pub type Grants = Result<Vec<Grant>, String>;

/// The live declarations, and the province grants (`khaibao province grant`) where they can be
/// read (a user without `list rolebindings` gets the plan without them, and a note).
pub fn read_sources(cluster: &ClusterArgs) -> Result<(Vec<Source>, Grants), String> {
    block_on(async {
        let client = cluster.client().await?;
        let tenants: Api<Tenant> = Api::all(client.clone());
        let sets: Api<TenantSet> = Api::all(client);
        let mut out = Vec::new();
        let lp = ListParams::default();
        for t in tenants.list(&lp).await.map_err(|e| explain(&e))? {
            let made_by_set = t
                .metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(LABEL_TENANT_SET));
            if !made_by_set {
                out.push(Source::Tenant(strip(t)));
            }
        }
        for s in sets.list(&lp).await.map_err(|e| explain(&e))? {
            out.push(Source::Set(s));
        }
        let bindings: Api<RoleBinding> = Api::all(cluster.client().await?);
        let grants = match bindings.list(&lp).await {
            Ok(list) => Ok(list
                .into_iter()
                .filter(|b| b.role_ref.name == "khaibao-province-admin")
                .flat_map(|b| {
                    let ns = b.metadata.namespace.clone().unwrap_or_default();
                    b.subjects
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|s| s.kind == "Group")
                        .map(move |s| Grant {
                            namespace: ns.clone(),
                            group: s.name,
                        })
                })
                .collect()),
            Err(e) => Err(explain(&e)),
        };
        Ok((out, grants))
    })
}

/// What the cluster added (status, managed fields) is not part of a declaration.
fn strip(mut t: Tenant) -> Tenant {
    t.status = None;
    t.metadata.managed_fields = None;
    t.metadata.resource_version = None;
    t.metadata.uid = None;
    t
}
