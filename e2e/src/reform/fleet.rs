//! What the fleet holds at one moment, read back from the cluster: each tenant's values,
//! generated Secrets and host names, the objects carrying a tenant's label, resource versions,
//! and the platform's progress of a plan.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use khaibao::api::{Platform, ReformStatus, Tenant, TenantSet};
use khaibao::pipeline::tenant_label_value;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::{Client, ResourceExt};
use serde_json::Value;

use super::{API_KEY, TENANT_LABEL};
use crate::timeline::ingress_hosts;

/// What one tenant had in the cluster at one moment.
#[derive(Clone, Debug, Default)]
pub struct TenantRecord {
    pub label: String,
    pub unit_code: String,
    pub values: Value,
    /// `<stem>-api-key`: its name and data.
    pub api_key: Option<(String, BTreeMap<String, Vec<u8>>)>,
    /// `<stem>-api-key-adopted`: its name and data.
    pub adopted: Option<(String, BTreeMap<String, Vec<u8>>)>,
    /// The hosts of its Ingress rules.
    pub hosts: BTreeSet<String>,
}

/// Every Tenant of `platform` by `namespace/name`, with its generated Secrets and host names
/// (objects found by the `khaibao.dev/tenant` label in `namespace`).
pub async fn record_fleet(
    client: &Client,
    platform: &str,
    namespace: &str,
) -> anyhow::Result<BTreeMap<String, TenantRecord>> {
    let tenants: Api<Tenant> = Api::all(client.clone());
    let mut by_label: BTreeMap<String, String> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for t in tenants.list(&ListParams::default()).await? {
        if t.spec.platform != platform {
            continue;
        }
        let (ns, name) = (t.namespace().unwrap_or_default(), t.name_any());
        let label = tenant_label_value(&ns, &name);
        by_label.insert(label.clone(), format!("{ns}/{name}"));
        out.insert(
            format!("{ns}/{name}"),
            TenantRecord {
                label,
                unit_code: t.spec.unit.code.clone(),
                values: t.spec.values.clone().unwrap_or(Value::Null),
                ..Default::default()
            },
        );
    }
    let labelled = ListParams::default().labels(TENANT_LABEL);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for s in secrets.list(&labelled).await? {
        let Some(record) = s
            .labels()
            .get(TENANT_LABEL)
            .and_then(|l| by_label.get(l))
            .and_then(|k| out.get_mut(k))
        else {
            continue;
        };
        let name = s.name_any();
        let data = crate::secret_data(s);
        if name.ends_with(&format!("-{API_KEY}-adopted")) {
            record.adopted = Some((name, data));
        } else if name.ends_with(&format!("-{API_KEY}")) {
            record.api_key = Some((name, data));
        }
    }
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), namespace);
    for i in ingresses.list(&labelled).await? {
        if let Some(record) = i
            .labels()
            .get(TENANT_LABEL)
            .and_then(|l| by_label.get(l))
            .and_then(|k| out.get_mut(k))
        {
            record.hosts.extend(ingress_hosts(&i));
        }
    }
    Ok(out)
}

/// Every object in `namespace` carrying the `khaibao.dev/tenant` label: `(kind name, label)`.
pub async fn tenant_labelled_objects(
    client: &Client,
    namespace: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let kinds = [
        ApiResource::erase::<ConfigMap>(&()),
        ApiResource::erase::<Secret>(&()),
        ApiResource::erase::<Service>(&()),
        ApiResource::erase::<Ingress>(&()),
        ApiResource::erase::<NetworkPolicy>(&()),
    ];
    let mut out = Vec::new();
    for ar in kinds {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
        for o in api
            .list(&ListParams::default().labels(TENANT_LABEL))
            .await?
        {
            let label = o.labels().get(TENANT_LABEL).cloned().unwrap_or_default();
            out.push((format!("{} {}", ar.kind, o.name_any()), label));
        }
    }
    Ok(out)
}

/// The resource version of every Tenant, TenantSet and tenant object of the platform:
/// `Kind namespace/name` → version. Equal maps mean nothing was written in between.
pub async fn resource_versions(
    client: &Client,
    namespace: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let tenants: Api<Tenant> = Api::all(client.clone());
    for t in tenants.list(&ListParams::default()).await? {
        let key = format!(
            "Tenant {}/{}",
            t.namespace().unwrap_or_default(),
            t.name_any()
        );
        out.insert(key, t.resource_version().unwrap_or_default());
    }
    let sets: Api<TenantSet> = Api::all(client.clone());
    for s in sets.list(&ListParams::default()).await? {
        let key = format!(
            "TenantSet {}/{}",
            s.namespace().unwrap_or_default(),
            s.name_any()
        );
        out.insert(key, s.resource_version().unwrap_or_default());
    }
    let kinds = [
        ApiResource::erase::<ConfigMap>(&()),
        ApiResource::erase::<Secret>(&()),
        ApiResource::erase::<Ingress>(&()),
    ];
    for ar in kinds {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
        for o in api
            .list(&ListParams::default().labels(TENANT_LABEL))
            .await?
        {
            out.insert(
                format!("{} {}", ar.kind, o.name_any()),
                o.resource_version().unwrap_or_default(),
            );
        }
    }
    Ok(out)
}

/// The platform's progress of reform plan `id` (`status.reforms[]`).
pub async fn reform_status(
    client: &Client,
    platform: &str,
    id: &str,
) -> anyhow::Result<Option<ReformStatus>> {
    let api: Api<Platform> = Api::all(client.clone());
    let p = api.get(platform).await?;
    Ok(p.status
        .into_iter()
        .flat_map(|s| s.reforms)
        .find(|r| r.plan == id))
}

/// Tenants and TenantSets of `keys` (`namespace/name`) that still exist.
pub async fn still_there(client: &Client, keys: &BTreeSet<String>) -> anyhow::Result<Vec<String>> {
    let tenants: Api<Tenant> = Api::all(client.clone());
    let sets: Api<TenantSet> = Api::all(client.clone());
    let mut out = Vec::new();
    for t in tenants.list(&ListParams::default()).await? {
        let key = format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any());
        if keys.contains(&key) {
            out.push(format!("Tenant {key}"));
        }
    }
    for s in sets.list(&ListParams::default()).await? {
        let key = format!("{}/{}", s.namespace().unwrap_or_default(), s.name_any());
        if keys.contains(&key) {
            out.push(format!("TenantSet {key}"));
        }
    }
    Ok(out)
}
