//! Which live successor Tenants list which predecessors (`spec.predecessors`), fed by the Tenant
//! watch before any trigger fires. It answers "is this tenant being retired (or adopted in
//! place) by a successor?" (a TenantSet must then neither re-create nor prune it) and "which
//! successors wait for this tenant?" (a predecessor's change or deletion wakes them) without
//! scanning every cached tenant. Recomputed from the watch after every relist.

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

use kube::ResourceExt;
use kube::runtime::watcher::Event;

use crate::api::Tenant;

#[derive(Default)]
struct Inner {
    /// Predecessor `namespace/name` → successors (`namespace/name`) listing it.
    successors: HashMap<String, BTreeSet<String>>,
    /// Successor → the predecessors it lists.
    listed_by: HashMap<String, Vec<String>>,
    /// Successors seen during a (re)list, with what they list.
    relisting: Option<Vec<(String, Vec<String>)>>,
}

#[derive(Default)]
pub struct PredecessorIndex {
    inner: RwLock<Inner>,
}

fn key_of(t: &Tenant) -> String {
    format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any())
}

/// What `t` lists, or nothing once it is being deleted: a successor on its way out retires
/// nobody and protects nobody from its TenantSet.
fn listed(t: &Tenant) -> Vec<String> {
    if t.metadata.deletion_timestamp.is_some() {
        return Vec::new();
    }
    t.spec
        .predecessors
        .iter()
        .map(|p| p.tenant.clone())
        .collect()
}

impl Inner {
    fn remove(&mut self, successor: &str) {
        for p in self.listed_by.remove(successor).unwrap_or_default() {
            if let Some(set) = self.successors.get_mut(&p) {
                set.remove(successor);
                if set.is_empty() {
                    self.successors.remove(&p);
                }
            }
        }
    }

    fn insert(&mut self, successor: String, predecessors: Vec<String>) {
        self.remove(&successor);
        if predecessors.is_empty() {
            return;
        }
        for p in &predecessors {
            self.successors
                .entry(p.clone())
                .or_default()
                .insert(successor.clone());
        }
        self.listed_by.insert(successor, predecessors);
    }
}

impl PredecessorIndex {
    pub fn apply(&self, event: &Event<Tenant>) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        match event {
            Event::Init => inner.relisting = Some(Vec::new()),
            Event::InitApply(t) => {
                let entry = (key_of(t), listed(t));
                if let Some(list) = inner.relisting.as_mut() {
                    list.push(entry);
                }
            }
            Event::InitDone => {
                let list = inner.relisting.take().unwrap_or_default();
                inner.successors.clear();
                inner.listed_by.clear();
                for (successor, predecessors) in list {
                    inner.insert(successor, predecessors);
                }
            }
            Event::Apply(t) => inner.insert(key_of(t), listed(t)),
            Event::Delete(t) => inner.remove(&key_of(t)),
        }
    }

    /// The live successors (`namespace/name`) listing `predecessor` (`namespace/name`), the
    /// tenant itself included when it is a successor in place.
    pub fn successors_of(&self, predecessor: &str) -> Vec<String> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        inner
            .successors
            .get(predecessor)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// True when a live successor other than the tenant itself lists `predecessor`: it is
    /// retired by that successor, and a TenantSet must neither re-create nor prune it.
    pub fn retired_by_another(&self, predecessor: &str) -> bool {
        self.successors_of(predecessor)
            .iter()
            .any(|s| s != predecessor)
    }

    /// True when some live successor lists `predecessor`, itself (in place) included.
    pub fn is_listed(&self, predecessor: &str) -> bool {
        self.inner
            .read()
            .is_ok_and(|i| i.successors.contains_key(predecessor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(ns: &str, name: &str, predecessors: &[&str]) -> Tenant {
        super::super::test_tenants::successor(ns, name, "p", predecessors)
    }

    #[test]
    fn successors_are_found_by_predecessor_and_forgotten_when_they_go() {
        let idx = PredecessorIndex::default();
        let nb = tenant(
            "tinh-37",
            "ninh-binh",
            &["tinh-35/ha-nam", "tinh-36/nam-dinh", "tinh-37/ninh-binh"],
        );
        let plain = tenant("tinh-01", "ha-noi", &[]);
        idx.apply(&Event::Init);
        idx.apply(&Event::InitApply(nb.clone()));
        idx.apply(&Event::InitApply(plain.clone()));
        idx.apply(&Event::InitDone);
        assert_eq!(
            idx.successors_of("tinh-35/ha-nam"),
            vec!["tinh-37/ninh-binh"]
        );
        assert!(idx.retired_by_another("tinh-36/nam-dinh"));
        // In place: listed, but not retired by another.
        assert!(idx.is_listed("tinh-37/ninh-binh"));
        assert!(!idx.retired_by_another("tinh-37/ninh-binh"));
        assert!(!idx.is_listed("tinh-01/ha-noi"));
        // A successor dropping a predecessor, then being deleted.
        let fewer = tenant("tinh-37", "ninh-binh", &["tinh-35/ha-nam"]);
        idx.apply(&Event::Apply(fewer.clone()));
        assert!(!idx.is_listed("tinh-36/nam-dinh"));
        let mut deleting = fewer.clone();
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::from_second(1).unwrap(),
            ));
        idx.apply(&Event::Apply(deleting));
        assert!(!idx.is_listed("tinh-35/ha-nam"));
        idx.apply(&Event::Apply(fewer.clone()));
        idx.apply(&Event::Delete(fewer));
        assert!(idx.successors_of("tinh-35/ha-nam").is_empty());
    }
}
