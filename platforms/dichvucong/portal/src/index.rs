//! Every tenant's objects and site, and which site answers which host. Updated one object at a
//! time from the watch (a change costs one tenant's rebuild, never the fleet's), replaced whole
//! after a relist so that objects deleted while the watch was down disappear too.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use crate::site::{Site, TenantObjects, normalise_host};

pub const TENANT_LABEL: &str = "khaibao.dev/tenant";

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Kind {
    ConfigMap,
    Secret,
}

/// A claim on a host name. Own hosts sort before aliases, so a unit's own name always wins over
/// a successor still answering it as an alias; between equals the first tenant (by label) wins,
/// so the answer does not depend on the order events came in.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Claim {
    alias: bool,
    tenant: String,
}

pub enum Route {
    Own(Arc<Site>),
    Alias(Arc<Site>),
    Unknown,
}

#[derive(Default)]
pub struct Index {
    objects: HashMap<String, TenantObjects>,
    /// Which tenant each object was filed under, so that a delete or a relabel finds it.
    filed: HashMap<(Kind, String), String>,
    sites: HashMap<String, Arc<Site>>,
    claims: HashMap<String, BTreeSet<Claim>>,
}

/// What one object holds for the index, or `None` if it carries no tenant label.
struct Entry {
    name: String,
    tenant: String,
}

fn entry(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<Entry> {
    Some(Entry {
        name: meta.name.clone()?,
        tenant: meta.labels.as_ref()?.get(TENANT_LABEL)?.clone(),
    })
}

fn config_map_data(cm: &ConfigMap) -> std::collections::BTreeMap<String, String> {
    cm.data.clone().unwrap_or_default()
}

fn secret_data(s: &Secret) -> std::collections::BTreeMap<String, Vec<u8>> {
    s.data
        .as_ref()
        .map(|d| d.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
        .unwrap_or_default()
}

impl Index {
    pub fn apply_config_map(&mut self, cm: &ConfigMap) {
        let Some(e) = entry(&cm.metadata) else {
            return self.remove_named(Kind::ConfigMap, cm.metadata.name.as_deref());
        };
        let moved = self.file(Kind::ConfigMap, &e);
        self.objects
            .entry(e.tenant.clone())
            .or_default()
            .config_maps
            .insert(e.name, config_map_data(cm));
        self.rebuild(moved.as_deref());
        self.rebuild(Some(&e.tenant));
    }

    pub fn apply_secret(&mut self, s: &Secret) {
        let Some(e) = entry(&s.metadata) else {
            return self.remove_named(Kind::Secret, s.metadata.name.as_deref());
        };
        let moved = self.file(Kind::Secret, &e);
        self.objects
            .entry(e.tenant.clone())
            .or_default()
            .secrets
            .insert(e.name, secret_data(s));
        self.rebuild(moved.as_deref());
        self.rebuild(Some(&e.tenant));
    }

    pub fn delete(&mut self, kind: Kind, name: Option<&str>) {
        self.remove_named(kind, name);
    }

    /// After a relist: every object of `kind` is exactly what `config_maps`/`secrets` holds.
    pub fn replace_config_maps(&mut self, all: &[ConfigMap]) {
        let touched = self.clear(Kind::ConfigMap);
        for cm in all {
            if let Some(e) = entry(&cm.metadata) {
                self.file(Kind::ConfigMap, &e);
                self.objects
                    .entry(e.tenant)
                    .or_default()
                    .config_maps
                    .insert(e.name, config_map_data(cm));
            }
        }
        self.rebuild_all(touched);
    }

    pub fn replace_secrets(&mut self, all: &[Secret]) {
        let touched = self.clear(Kind::Secret);
        for s in all {
            if let Some(e) = entry(&s.metadata) {
                self.file(Kind::Secret, &e);
                self.objects
                    .entry(e.tenant)
                    .or_default()
                    .secrets
                    .insert(e.name, secret_data(s));
            }
        }
        self.rebuild_all(touched);
    }

    pub fn route(&self, host: &str) -> Route {
        let host = normalise_host(host);
        let Some(first) = self.claims.get(&host).and_then(|c| c.first()) else {
            return Route::Unknown;
        };
        let Some(site) = self.sites.get(&first.tenant).cloned() else {
            return Route::Unknown;
        };
        if first.alias {
            Route::Alias(site)
        } else {
            Route::Own(site)
        }
    }

    pub fn site_count(&self) -> usize {
        self.sites.len()
    }

    pub fn broken_count(&self) -> usize {
        self.sites.values().filter(|s| s.content.is_err()).count()
    }

    /// Records where an object is filed; returns the tenant it was filed under before, if
    /// another one (its old site must be rebuilt without it).
    fn file(&mut self, kind: Kind, e: &Entry) -> Option<String> {
        let before = self
            .filed
            .insert((kind, e.name.clone()), e.tenant.clone())?;
        if before == e.tenant {
            return None;
        }
        if let Some(objs) = self.objects.get_mut(&before) {
            objs.forget(kind, &e.name);
        }
        Some(before)
    }

    fn remove_named(&mut self, kind: Kind, name: Option<&str>) {
        let Some(name) = name else { return };
        let Some(tenant) = self.filed.remove(&(kind, name.to_string())) else {
            return;
        };
        if let Some(objs) = self.objects.get_mut(&tenant) {
            objs.forget(kind, name);
        }
        self.rebuild(Some(&tenant));
    }

    /// Forgets every object of `kind`; returns the tenants that had one.
    fn clear(&mut self, kind: Kind) -> BTreeSet<String> {
        self.filed.retain(|(k, _), _| *k != kind);
        let mut touched = BTreeSet::new();
        for (tenant, objs) in &mut self.objects {
            let had = match kind {
                Kind::ConfigMap => !std::mem::take(&mut objs.config_maps).is_empty(),
                Kind::Secret => !std::mem::take(&mut objs.secrets).is_empty(),
            };
            if had {
                touched.insert(tenant.clone());
            }
        }
        touched
    }

    fn rebuild_all(&mut self, mut touched: BTreeSet<String>) {
        touched.extend(self.objects.keys().cloned());
        for tenant in touched {
            self.rebuild(Some(&tenant));
        }
    }

    fn rebuild(&mut self, tenant: Option<&str>) {
        let Some(tenant) = tenant else { return };
        if let Some(old) = self.sites.remove(tenant) {
            for (host, alias) in hosts_of(&old) {
                if let Some(c) = self.claims.get_mut(&host) {
                    c.remove(&Claim {
                        alias,
                        tenant: tenant.to_string(),
                    });
                    if c.is_empty() {
                        self.claims.remove(&host);
                    }
                }
            }
        }
        let objs = self.objects.get(tenant);
        if objs.is_none_or(TenantObjects::is_empty) {
            self.objects.remove(tenant);
            return;
        }
        let Some(site) = objs.and_then(|o| Site::from_objects(tenant, o)) else {
            return;
        };
        for (host, alias) in hosts_of(&site) {
            self.claims.entry(host).or_default().insert(Claim {
                alias,
                tenant: tenant.to_string(),
            });
        }
        self.sites.insert(tenant.to_string(), Arc::new(site));
    }
}

impl TenantObjects {
    fn forget(&mut self, kind: Kind, name: &str) {
        match kind {
            Kind::ConfigMap => {
                self.config_maps.remove(name);
            }
            Kind::Secret => {
                self.secrets.remove(name);
            }
        }
    }
}

fn hosts_of(site: &Site) -> impl Iterator<Item = (String, bool)> + '_ {
    std::iter::once((site.host.clone(), false))
        .chain(site.aliases.iter().map(|a| (a.clone(), true)))
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
