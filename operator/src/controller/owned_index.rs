//! An in-memory index of every object khaibao owns, fed by metadata-only watches (one per
//! watched kind, selected by `app.kubernetes.io/managed-by=khaibao`). It holds only what a
//! reconcile needs — kind, name, resourceVersion, whether it is a generated secret — keyed by
//! owner, so finding a tenant's objects never scans the cluster or 40,000 cached objects.

use std::collections::HashMap;
use std::sync::RwLock;

use kube::core::{DynamicObject, PartialObjectMeta};
use kube::runtime::watcher::Event;

use crate::pipeline::{ANNOTATION_GENERATED, ANNOTATION_OWNER};

/// What the index knows of one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedMeta {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub resource_version: String,
    pub generated_secret: bool,
}

type ObjectKey = (String, String, String); // kind, namespace, name

#[derive(Default)]
struct Inner {
    by_owner: HashMap<String, HashMap<ObjectKey, OwnedMeta>>,
    owner_of: HashMap<ObjectKey, String>,
    /// Objects seen during a (re)list, per kind, swapped in when the list completes.
    relisting: HashMap<String, Vec<(String, OwnedMeta)>>,
    synced_kinds: usize,
    synced: HashMap<String, bool>,
}

#[derive(Default)]
pub struct OwnedIndex {
    inner: RwLock<Inner>,
    kinds: usize,
}

fn owner_and_meta(
    api_version: &str,
    kind: &str,
    o: &PartialObjectMeta<DynamicObject>,
) -> Option<(String, OwnedMeta)> {
    let annotations = o.metadata.annotations.as_ref()?;
    let owner = annotations.get(ANNOTATION_OWNER)?.clone();
    Some((
        owner,
        OwnedMeta {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: o.metadata.namespace.clone().unwrap_or_default(),
            name: o.metadata.name.clone().unwrap_or_default(),
            resource_version: o.metadata.resource_version.clone().unwrap_or_default(),
            generated_secret: annotations
                .get(ANNOTATION_GENERATED)
                .is_some_and(|v| v == "true"),
        },
    ))
}

impl OwnedIndex {
    /// An index fed by `kinds` watches; it is ready once each has listed once.
    pub fn new(kinds: usize) -> Self {
        OwnedIndex {
            inner: RwLock::default(),
            kinds,
        }
    }

    /// True once every watched kind has completed its initial list.
    pub fn is_ready(&self) -> bool {
        self.inner
            .read()
            .map(|i| i.synced_kinds >= self.kinds)
            .unwrap_or(false)
    }

    /// The objects owned by `owner` (`tenant/<ns>/<name>` or `platform/<name>`).
    pub fn objects_of(&self, owner: &str) -> Vec<OwnedMeta> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        inner
            .by_owner
            .get(owner)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Number of indexed objects (for metrics).
    pub fn len(&self) -> usize {
        self.inner.read().map(|i| i.owner_of.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies one watch event of kind `kind`.
    pub fn apply(
        &self,
        api_version: &str,
        kind: &str,
        event: &Event<PartialObjectMeta<DynamicObject>>,
    ) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        match event {
            Event::Init => {
                inner.relisting.insert(kind.to_string(), Vec::new());
            }
            Event::InitApply(o) => {
                if let Some(entry) = owner_and_meta(api_version, kind, o) {
                    inner
                        .relisting
                        .entry(kind.to_string())
                        .or_default()
                        .push(entry);
                }
            }
            Event::InitDone => {
                let listed = inner.relisting.remove(kind).unwrap_or_default();
                let stale: Vec<ObjectKey> = inner
                    .owner_of
                    .keys()
                    .filter(|k| k.0 == kind)
                    .cloned()
                    .collect();
                for key in stale {
                    remove(&mut inner, &key);
                }
                for (owner, meta) in listed {
                    insert(&mut inner, owner, meta);
                }
                if !inner.synced.get(kind).copied().unwrap_or(false) {
                    inner.synced.insert(kind.to_string(), true);
                    inner.synced_kinds += 1;
                }
            }
            Event::Apply(o) => {
                let key = (
                    kind.to_string(),
                    o.metadata.namespace.clone().unwrap_or_default(),
                    o.metadata.name.clone().unwrap_or_default(),
                );
                remove(&mut inner, &key);
                if let Some((owner, meta)) = owner_and_meta(api_version, kind, o) {
                    insert(&mut inner, owner, meta);
                }
            }
            Event::Delete(o) => {
                let key = (
                    kind.to_string(),
                    o.metadata.namespace.clone().unwrap_or_default(),
                    o.metadata.name.clone().unwrap_or_default(),
                );
                remove(&mut inner, &key);
            }
        }
    }
}

fn insert(inner: &mut Inner, owner: String, meta: OwnedMeta) {
    let key = (meta.kind.clone(), meta.namespace.clone(), meta.name.clone());
    inner.owner_of.insert(key.clone(), owner.clone());
    inner.by_owner.entry(owner).or_default().insert(key, meta);
}

fn remove(inner: &mut Inner, key: &ObjectKey) {
    if let Some(owner) = inner.owner_of.remove(key)
        && let Some(m) = inner.by_owner.get_mut(&owner)
    {
        m.remove(key);
        if m.is_empty() {
            inner.by_owner.remove(&owner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    fn meta(name: &str, owner: &str, rv: &str) -> PartialObjectMeta<DynamicObject> {
        PartialObjectMeta {
            types: None,
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("dichvucong".into()),
                resource_version: Some(rv.into()),
                annotations: Some([(ANNOTATION_OWNER.to_string(), owner.to_string())].into()),
                ..Default::default()
            },
            _phantom: Default::default(),
        }
    }

    #[test]
    fn the_index_follows_list_and_watch_events() {
        let idx = OwnedIndex::new(1);
        assert!(!idx.is_ready());
        idx.apply("v1", "ConfigMap", &Event::Init);
        idx.apply(
            "v1",
            "ConfigMap",
            &Event::InitApply(meta("a", "tenant/tinh-01/ha-noi", "1")),
        );
        idx.apply("v1", "ConfigMap", &Event::InitDone);
        assert!(idx.is_ready());
        assert_eq!(idx.objects_of("tenant/tinh-01/ha-noi").len(), 1);
        idx.apply(
            "v1",
            "ConfigMap",
            &Event::Apply(meta("a", "tenant/tinh-01/ha-noi", "2")),
        );
        assert_eq!(
            idx.objects_of("tenant/tinh-01/ha-noi")[0].resource_version,
            "2"
        );
        idx.apply(
            "v1",
            "ConfigMap",
            &Event::Apply(meta("b", "tenant/tinh-01/ha-noi", "3")),
        );
        assert_eq!(idx.len(), 2);
        idx.apply(
            "v1",
            "ConfigMap",
            &Event::Delete(meta("a", "tenant/tinh-01/ha-noi", "2")),
        );
        assert_eq!(idx.objects_of("tenant/tinh-01/ha-noi").len(), 1);
        // A relist replaces what was known of the kind.
        idx.apply("v1", "ConfigMap", &Event::Init);
        idx.apply("v1", "ConfigMap", &Event::InitDone);
        assert!(idx.is_empty());
    }
}
