//! Which tenants declare which unit on which platform, fed by the tenant watch before any
//! trigger fires. Finding the tenant that declared a unit first is then a map lookup; scanning
//! every cached tenant on every reconcile cost O(n²) over a cold start of 11,000 tenants.

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::watcher::Event;

use crate::api::Tenant;

/// Platform, level, division and code: what two tenants must not share.
type UnitKey = (String, &'static str, String, String);
/// Creation time, then namespace/name: the first declaration wins, ties broken by name.
type Holder = (Option<Time>, String);

#[derive(Default)]
struct Inner {
    holders: HashMap<UnitKey, BTreeSet<Holder>>,
    unit_of: HashMap<String, (UnitKey, Holder)>,
    /// Tenants seen during a (re)list: only what the index keeps, not whole objects.
    relisting: Option<Vec<(String, UnitKey, Holder, bool)>>,
}

#[derive(Default)]
pub struct UnitIndex {
    inner: RwLock<Inner>,
}

fn key_of(t: &Tenant) -> String {
    format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any())
}

fn unit_key(t: &Tenant) -> UnitKey {
    (
        t.spec.platform.clone(),
        t.spec.unit.level.as_str(),
        t.spec.unit.division.clone().unwrap_or_else(|| "34".into()),
        t.spec.unit.code.clone(),
    )
}

impl Inner {
    fn remove(&mut self, key: &str) {
        if let Some((unit, holder)) = self.unit_of.remove(key)
            && let Some(set) = self.holders.get_mut(&unit)
        {
            set.remove(&holder);
            if set.is_empty() {
                self.holders.remove(&unit);
            }
        }
    }

    fn upsert(&mut self, t: &Tenant) {
        let key = key_of(t);
        let holder = (t.metadata.creation_timestamp.clone(), key.clone());
        self.insert(
            key,
            unit_key(t),
            holder,
            t.metadata.deletion_timestamp.is_some(),
        );
    }

    fn insert(&mut self, key: String, unit: UnitKey, holder: Holder, deleting: bool) {
        self.remove(&key);
        if deleting {
            return;
        }
        self.holders
            .entry(unit.clone())
            .or_default()
            .insert(holder.clone());
        self.unit_of.insert(key, (unit, holder));
    }
}

impl UnitIndex {
    pub fn apply(&self, event: &Event<Tenant>) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        match event {
            Event::Init => inner.relisting = Some(Vec::new()),
            Event::InitApply(t) => {
                let entry = (
                    key_of(t),
                    unit_key(t),
                    (t.metadata.creation_timestamp.clone(), key_of(t)),
                    t.metadata.deletion_timestamp.is_some(),
                );
                if let Some(list) = inner.relisting.as_mut() {
                    list.push(entry);
                }
            }
            Event::InitDone => {
                let list = inner.relisting.take().unwrap_or_default();
                inner.holders.clear();
                inner.unit_of.clear();
                for (key, unit, holder, deleting) in list {
                    inner.insert(key, unit, holder, deleting);
                }
            }
            Event::Apply(t) => inner.upsert(t),
            Event::Delete(t) => inner.remove(&key_of(t)),
        }
    }

    /// Every other tenant (`namespace/name`) declaring `t`'s unit on its platform: when `t`
    /// goes or moves to another unit, the next in line may take it.
    pub fn others_declaring(&self, t: &Tenant) -> Vec<String> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        let me = key_of(t);
        inner
            .holders
            .get(&unit_key(t))
            .map(|set| {
                set.iter()
                    .map(|(_, k)| k.clone())
                    .filter(|k| *k != me)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first tenant (`namespace/name`) declaring this unit of the 34-province division
    /// on `platform`.
    pub fn holder_of(&self, platform: &str, level: &'static str, code: &str) -> Option<String> {
        let inner = self.inner.read().ok()?;
        let key: UnitKey = (
            platform.to_string(),
            level,
            "34".to_string(),
            code.to_string(),
        );
        inner
            .holders
            .get(&key)?
            .iter()
            .next()
            .map(|(_, k)| k.clone())
    }

    /// The tenant (`namespace/name`) that declared `t`'s unit on its platform before `t`.
    pub fn declared_before(&self, t: &Tenant) -> Option<String> {
        let inner = self.inner.read().ok()?;
        let me = (t.metadata.creation_timestamp.clone(), key_of(t));
        inner
            .holders
            .get(&unit_key(t))?
            .iter()
            .next()
            .filter(|first| **first < me)
            .map(|(_, key)| key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{TenantSpec, UnitRef};

    fn tenant(ns: &str, name: &str, code: &str, created: i64) -> Tenant {
        let mut t = Tenant::new(
            name,
            TenantSpec {
                platform: "p".into(),
                unit: UnitRef {
                    code: code.into(),
                    name: "x".into(),
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        t.metadata.namespace = Some(ns.into());
        t.metadata.creation_timestamp = Some(Time(
            k8s_openapi::jiff::Timestamp::from_second(created).unwrap(),
        ));
        t
    }

    #[test]
    fn the_first_declaration_holds_the_unit_until_it_goes() {
        let idx = UnitIndex::default();
        let first = tenant("tinh-01", "ha-noi", "01", 10);
        let second = tenant("tinh-01", "ha-noi-2", "01", 20);
        let other = tenant("tinh-79", "hcm", "79", 5);
        idx.apply(&Event::Init);
        idx.apply(&Event::InitApply(second.clone()));
        idx.apply(&Event::InitApply(first.clone()));
        idx.apply(&Event::InitDone);
        idx.apply(&Event::Apply(other.clone()));
        assert_eq!(idx.declared_before(&first), None);
        assert_eq!(
            idx.declared_before(&second).as_deref(),
            Some("tinh-01/ha-noi")
        );
        assert_eq!(idx.declared_before(&other), None);
        assert_eq!(idx.others_declaring(&first), vec!["tinh-01/ha-noi-2"]);
        idx.apply(&Event::Delete(first.clone()));
        assert_eq!(idx.declared_before(&second), None);
        // The deleted tenant's event still finds who may now take the unit.
        assert_eq!(idx.others_declaring(&first), vec!["tinh-01/ha-noi-2"]);
        // Changing the unit moves the declaration.
        let mut moved = second.clone();
        moved.spec.unit.code = "79".into();
        idx.apply(&Event::Apply(moved.clone()));
        assert_eq!(idx.declared_before(&moved).as_deref(), Some("tinh-79/hcm"));
    }
}
