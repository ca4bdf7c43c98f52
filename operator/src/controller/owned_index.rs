//! An in-memory index of every object khaibao owns, fed by metadata-only watches (one per
//! watched kind, selected by `app.kubernetes.io/managed-by=khaibao`). It holds only what a
//! reconcile needs — kind, name, resourceVersion, whether it is a generated secret — keyed by
//! owner, so finding a tenant's objects never scans the cluster or 40,000 cached objects.
//!
//! Every change the index takes in gets the next number of a sequence, kept on the object (and
//! per owner for deletions). A reconcile that has just written objects notes the sequence before
//! writing: anything the index shows with a lower number is older than those writes (their own
//! watch events are still on the way), anything higher came after them (a hand edit).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use kube::core::{DynamicObject, PartialObjectMeta};
use kube::runtime::watcher::Event;

use crate::pipeline::{ANNOTATION_GENERATED, ANNOTATION_OWNER};

/// What the index knows of one object. The strings are shared: the few kinds, API versions and
/// namespaces once for all 40,000 objects, each name once for the object and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedMeta {
    pub api_version: Arc<str>,
    pub kind: Arc<str>,
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    pub resource_version: String,
    pub generated_secret: bool,
    /// The index's sequence number when this version of the object was taken in.
    pub seen: u64,
}

type ObjectKey = (Arc<str>, Arc<str>, Arc<str>); // kind, namespace, name

#[derive(Default)]
struct Inner {
    /// A tenant has a handful of objects: a list is smaller than a map and as fast.
    by_owner: HashMap<Arc<str>, Vec<OwnedMeta>>,
    owner_of: HashMap<ObjectKey, Arc<str>>,
    /// Kinds, API versions and namespaces, each stored once.
    interned: HashSet<Arc<str>>,
    /// Objects seen during a (re)list, per watch (a kind, or a kind in one namespace), swapped
    /// in when the list completes.
    relisting: HashMap<String, Vec<(Arc<str>, OwnedMeta)>>,
    synced_kinds: usize,
    synced: HashMap<String, bool>,
    /// The sequence number of the last change taken in.
    seq: u64,
    /// Per owner, the sequence number of the last deletion of one of its objects.
    deleted: HashMap<Arc<str>, u64>,
}

impl Inner {
    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(i) = self.interned.get(s) {
            return i.clone();
        }
        let i: Arc<str> = Arc::from(s);
        self.interned.insert(i.clone());
        i
    }

    /// The index's copy of an owner's name, if it has one.
    fn owner(&self, owner: &str) -> Arc<str> {
        self.by_owner
            .get_key_value(owner)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| Arc::from(owner))
    }

    fn key(&mut self, kind: &str, o: &PartialObjectMeta<DynamicObject>) -> ObjectKey {
        let namespace = o.metadata.namespace.as_deref().unwrap_or_default();
        (
            self.intern(kind),
            self.intern(namespace),
            Arc::from(o.metadata.name.as_deref().unwrap_or_default()),
        )
    }
}

#[derive(Default)]
pub struct OwnedIndex {
    inner: RwLock<Inner>,
    kinds: usize,
}

fn owner_and_meta(
    inner: &mut Inner,
    api_version: &str,
    kind: &str,
    o: &PartialObjectMeta<DynamicObject>,
) -> Option<(Arc<str>, OwnedMeta)> {
    let annotations = o.metadata.annotations.as_ref()?;
    let owner = inner.owner(annotations.get(ANNOTATION_OWNER)?);
    let (kind, namespace, name) = inner.key(kind, o);
    Some((
        owner,
        OwnedMeta {
            api_version: inner.intern(api_version),
            kind,
            namespace,
            name,
            resource_version: o.metadata.resource_version.clone().unwrap_or_default(),
            generated_secret: annotations
                .get(ANNOTATION_GENERATED)
                .is_some_and(|v| v == "true"),
            seen: 0,
        },
    ))
}

impl OwnedIndex {
    /// An index fed by `watches` watches (one per kind, or per kind and namespace); it is
    /// ready once each has listed once.
    pub fn new(watches: usize) -> Self {
        OwnedIndex {
            inner: RwLock::default(),
            kinds: watches,
        }
    }

    /// True once every watch has completed its initial list.
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
        inner.by_owner.get(owner).cloned().unwrap_or_default()
    }

    /// The sequence number of the last change taken in (see the module docs).
    pub fn seq(&self) -> u64 {
        self.inner.read().map(|i| i.seq).unwrap_or(0)
    }

    /// True if one of `owner`'s objects was deleted (or found gone by a relist) after `seq`.
    pub fn deleted_since(&self, owner: &str, seq: u64) -> bool {
        self.inner
            .read()
            .map(|i| i.deleted.get(owner).is_some_and(|d| *d > seq))
            .unwrap_or(true)
    }

    /// Number of indexed objects (for metrics).
    pub fn len(&self) -> usize {
        self.inner.read().map(|i| i.owner_of.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies one event of the cluster-wide watch of kind `kind`.
    pub fn apply(
        &self,
        api_version: &str,
        kind: &str,
        event: &Event<PartialObjectMeta<DynamicObject>>,
    ) {
        self.apply_in(api_version, kind, None, event);
    }

    /// Applies one event of the watch of kind `kind` in `namespace` only (`None`: all
    /// namespaces). A relist replaces what that watch sees and nothing else: the Secrets of one
    /// platform namespace relisting must not drop those of another.
    pub fn apply_in(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        event: &Event<PartialObjectMeta<DynamicObject>>,
    ) {
        let Ok(mut guard) = self.inner.write() else {
            return;
        };
        let inner = &mut *guard;
        let watch = match namespace {
            Some(ns) => format!("{kind}/{ns}"),
            None => kind.to_string(),
        };
        match event {
            Event::Init => {
                inner.relisting.insert(watch, Vec::new());
            }
            Event::InitApply(o) => {
                if let Some(entry) = owner_and_meta(inner, api_version, kind, o) {
                    inner.relisting.entry(watch).or_default().push(entry);
                }
            }
            Event::InitDone => {
                inner.seq += 1;
                let listed = inner.relisting.remove(&watch).unwrap_or_default();
                let stale: Vec<ObjectKey> = inner
                    .owner_of
                    .keys()
                    .filter(|k| &*k.0 == kind && namespace.is_none_or(|ns| &*k.1 == ns))
                    .cloned()
                    .collect();
                let listed_keys: HashSet<(&str, &str)> = listed
                    .iter()
                    .map(|(_, m)| (&*m.namespace, &*m.name))
                    .collect();
                let gone: Vec<Arc<str>> = stale
                    .iter()
                    .filter(|k| !listed_keys.contains(&(&*k.1, &*k.2)))
                    .filter_map(|k| inner.owner_of.get(k).cloned())
                    .collect();
                let seq = inner.seq;
                for owner in gone {
                    inner.deleted.insert(owner, seq);
                }
                for key in stale {
                    remove(inner, &key);
                }
                for (owner, meta) in listed {
                    insert(inner, owner, meta);
                }
                if !inner.synced.get(&watch).copied().unwrap_or(false) {
                    inner.synced.insert(watch, true);
                    inner.synced_kinds += 1;
                }
            }
            Event::Apply(o) => {
                inner.seq += 1;
                let key = inner.key(kind, o);
                remove(inner, &key);
                if let Some((owner, meta)) = owner_and_meta(inner, api_version, kind, o) {
                    insert(inner, owner, meta);
                }
            }
            Event::Delete(o) => {
                inner.seq += 1;
                let key = inner.key(kind, o);
                if let Some(owner) = inner.owner_of.get(&key).cloned() {
                    let seq = inner.seq;
                    inner.deleted.insert(owner, seq);
                }
                remove(inner, &key);
            }
        }
    }
}

fn insert(inner: &mut Inner, owner: Arc<str>, mut meta: OwnedMeta) {
    meta.seen = inner.seq;
    let key = (meta.kind.clone(), meta.namespace.clone(), meta.name.clone());
    inner.owner_of.insert(key, owner.clone());
    let objects = inner.by_owner.entry(owner).or_default();
    objects
        .retain(|m| !(m.kind == meta.kind && m.namespace == meta.namespace && m.name == meta.name));
    objects.push(meta);
}

fn remove(inner: &mut Inner, key: &ObjectKey) {
    if let Some(owner) = inner.owner_of.remove(key)
        && let Some(objects) = inner.by_owner.get_mut(&owner)
    {
        objects.retain(|m| !(m.kind == key.0 && m.namespace == key.1 && m.name == key.2));
        if objects.is_empty() {
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
    fn a_relist_of_one_namespace_keeps_the_objects_of_the_others() {
        let idx = OwnedIndex::new(2);
        let in_ns = |name: &str, ns: &str| {
            let mut m = meta(name, &format!("tenant/tinh-01/{name}"), "1");
            m.metadata.namespace = Some(ns.into());
            m
        };
        for ns in ["dichvucong", "vanban"] {
            idx.apply_in("v1", "Secret", Some(ns), &Event::Init);
            idx.apply_in("v1", "Secret", Some(ns), &Event::InitApply(in_ns(ns, ns)));
            assert!(!idx.is_ready() || ns == "vanban");
            idx.apply_in("v1", "Secret", Some(ns), &Event::InitDone);
        }
        assert!(idx.is_ready());
        // dichvucong relists and its Secret is gone: vanban's stays.
        idx.apply_in("v1", "Secret", Some("dichvucong"), &Event::Init);
        idx.apply_in("v1", "Secret", Some("dichvucong"), &Event::InitDone);
        assert!(idx.objects_of("tenant/tinh-01/dichvucong").is_empty());
        assert_eq!(idx.objects_of("tenant/tinh-01/vanban").len(), 1);
        assert_eq!(idx.len(), 1);
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

    #[test]
    fn every_change_is_numbered_and_deletions_are_remembered_per_owner() {
        let owner = "tenant/tinh-01/ha-noi";
        let idx = OwnedIndex::new(1);
        idx.apply("v1", "ConfigMap", &Event::Init);
        idx.apply("v1", "ConfigMap", &Event::InitApply(meta("a", owner, "1")));
        idx.apply("v1", "ConfigMap", &Event::InitApply(meta("b", owner, "1")));
        idx.apply("v1", "ConfigMap", &Event::InitDone);
        let before = idx.seq();
        assert!(idx.objects_of(owner).iter().all(|m| m.seen <= before));
        assert!(!idx.deleted_since(owner, before));
        idx.apply("v1", "ConfigMap", &Event::Apply(meta("a", owner, "2")));
        let a = idx.objects_of(owner).into_iter().find(|m| &*m.name == "a");
        assert!(a.is_some_and(|m| m.seen > before));
        idx.apply("v1", "ConfigMap", &Event::Delete(meta("b", owner, "1")));
        assert!(idx.deleted_since(owner, before));
        assert!(!idx.deleted_since(owner, idx.seq()));
        assert!(!idx.deleted_since("tenant/tinh-79/ho-chi-minh", before));
        // An object a relist no longer finds was deleted while the watch was away.
        let before = idx.seq();
        idx.apply("v1", "ConfigMap", &Event::Init);
        idx.apply("v1", "ConfigMap", &Event::InitDone);
        assert!(idx.deleted_since(owner, before));
    }
}
