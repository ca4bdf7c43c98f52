//! The declarations a plan starts from: every Tenant and TenantSet of the old division read
//! into the tenants it stands for (a set expanded here, once), and those already in the target
//! division kept aside. Separate from the plan so that the rest only sees old tenants.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Problem, Request, Source};
use crate::api::{Level, Tenant};
use crate::pipeline::expand_tenant_set;
use crate::registry::Division;

/// One tenant of the old division, from a hand-written Tenant or expanded from a set.
#[derive(Clone, Debug)]
pub(super) struct Old {
    pub(super) key: String,
    pub(super) name: String,
    pub(super) platform: String,
    pub(super) level: Level,
    pub(super) code: String,
    pub(super) values: Value,
    pub(super) suspend: bool,
    pub(super) labels: BTreeMap<String, String>,
    pub(super) source: usize,
    /// Index of the set (in `sets`) that made it.
    pub(super) set: Option<usize>,
}

/// A predecessor TenantSet.
pub(super) struct OldSet {
    pub(super) key: String,
    pub(super) namespace: String,
    pub(super) name: String,
    /// The province its units belong to (the code a successor set may reuse).
    pub(super) province: String,
    pub(super) values: Value,
    pub(super) source: usize,
}

/// What the sources hold for the plan.
pub(super) struct Declarations {
    pub(super) olds: Vec<Old>,
    pub(super) sets: Vec<OldSet>,
    /// Declarations already in the target division, by key: a successor that exists already.
    pub(super) current: BTreeMap<String, (usize, Value)>,
}

fn division_of(d: Option<&str>) -> Option<Division> {
    d.unwrap_or("34").parse().ok()
}

/// Reads the old tenants and sets of `request.platform` out of `sources`; a set that does not
/// expand is a problem.
pub(super) fn read_sources(
    sources: &[Source],
    request: &Request,
    problems: &mut Vec<Problem>,
) -> Declarations {
    let on_platform = |p: &str| request.platform.as_deref().is_none_or(|want| want == p);
    let mut olds: Vec<Old> = Vec::new();
    let mut sets: Vec<OldSet> = Vec::new();
    // Declarations already in the target division, by key: a successor that exists already.
    let mut current: BTreeMap<String, (usize, Value)> = BTreeMap::new();
    for (i, s) in sources.iter().enumerate() {
        match s {
            Source::Tenant(t) => {
                if !on_platform(&t.spec.platform) {
                    continue;
                }
                let division = division_of(t.spec.unit.division.as_deref());
                let key = key_of(&t.metadata.namespace, &t.metadata.name);
                if division == Some(request.to) && request.from != request.to {
                    current.insert(key, (i, tenant_spec_json(t)));
                    continue;
                }
                if division != Some(request.from) {
                    continue;
                }
                olds.push(Old {
                    name: t.metadata.name.clone().unwrap_or_default(),
                    key,
                    platform: t.spec.platform.clone(),
                    level: t.spec.unit.level,
                    code: t.spec.unit.code.clone(),
                    values: t.spec.values.clone().unwrap_or(Value::Null),
                    suspend: t.spec.suspend,
                    labels: t.metadata.labels.clone().unwrap_or_default(),
                    source: i,
                    set: None,
                });
            }
            Source::Set(set) => {
                if !on_platform(&set.spec.platform) {
                    continue;
                }
                let division = division_of(set.spec.division.as_deref());
                let key = key_of(&set.metadata.namespace, &set.metadata.name);
                if division == Some(request.to) && request.from != request.to {
                    current.insert(key, (i, json!(set.spec)));
                    continue;
                }
                if division != Some(request.from) {
                    continue;
                }
                let expanded = match expand_tenant_set(set) {
                    Ok(e) => e,
                    Err(d) => {
                        problems.push(Problem {
                            reason: "InvalidTenantSet",
                            source: Some(i),
                            en: format!("TenantSet {key} does not expand: {}", d[0].message.en),
                            vi: format!("TenantSet {key} không mở rộng được: {}", d[0].message.vi),
                        });
                        continue;
                    }
                };
                let set_index = sets.len();
                let mut province = String::new();
                for m in expanded {
                    let Ok(t) = serde_json::from_value::<Tenant>(m) else {
                        continue;
                    };
                    if province.is_empty() {
                        province = t
                            .spec
                            .unit
                            .province_code
                            .clone()
                            .unwrap_or_else(|| t.spec.unit.code.clone());
                    }
                    olds.push(Old {
                        key: key_of(&t.metadata.namespace, &t.metadata.name),
                        name: t.metadata.name.clone().unwrap_or_default(),
                        platform: t.spec.platform.clone(),
                        level: t.spec.unit.level,
                        code: t.spec.unit.code.clone(),
                        values: t.spec.values.clone().unwrap_or(Value::Null),
                        suspend: t.spec.suspend,
                        labels: BTreeMap::new(),
                        source: i,
                        set: Some(set_index),
                    });
                }
                sets.push(OldSet {
                    namespace: set
                        .metadata
                        .namespace
                        .clone()
                        .unwrap_or_else(|| "default".into()),
                    name: set.metadata.name.clone().unwrap_or_default(),
                    key,
                    province: set.spec.units.communes_of.clone().unwrap_or(province),
                    values: set.spec.values.clone().unwrap_or(Value::Null),
                    source: i,
                });
            }
        }
    }
    Declarations {
        olds,
        sets,
        current,
    }
}

fn key_of(ns: &Option<String>, name: &Option<String>) -> String {
    format!(
        "{}/{}",
        ns.as_deref().unwrap_or("default"),
        name.as_deref().unwrap_or_default()
    )
}

fn tenant_spec_json(t: &Tenant) -> Value {
    json!(t.spec)
}
