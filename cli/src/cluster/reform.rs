//! `khaibao reform plan --cluster`: the live Tenants and TenantSets as plan sources. Tenants a
//! set made are left out: the set is what gets re-expressed.

use khaibao::api::{Tenant, TenantSet};
use khaibao::pipeline::LABEL_TENANT_SET;
use khaibao::reform::Source;
use kube::api::{Api, ListParams};

use super::{ClusterArgs, block_on, explain};

pub fn read_sources(cluster: &ClusterArgs) -> Result<Vec<Source>, String> {
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
        Ok(out)
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
