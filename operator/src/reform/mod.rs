//! Planning a change of administrative units (the 2025 reform, or any later one) as a migration:
//! the current Tenants and TenantSets in, successor declarations out, each carrying
//! `spec.predecessors`, with every value either merged into its successor or listed as a
//! conflict. Pure like the render pipeline: no I/O, no clock, no cluster, so a province can
//! review its plan in CI. The operator carries a plan out (adoption, then retirement).

mod merge;
mod naming;
mod output;
mod placement;
mod resolutions;
mod sources;
mod successors;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::api::{
    ANNOTATION_REFORM_PLAN, ANNOTATION_REFORM_RETIRES, Level, Predecessor, Tenant, TenantSet,
};
use crate::registry::{Division, units};
use placement::{Placement, place};
use sources::{Declarations, read_sources};
use successors::{Builder, new_hosts};

pub use merge::{LeafConflict, Sourced, leaves, set_pointer};
pub use output::{Summary, plan_json};

/// A declaration the plan reads: a Tenant written by hand, or a TenantSet.
#[derive(Clone, Debug)]
pub enum Source {
    Tenant(Tenant),
    Set(TenantSet),
}

/// What the plan is asked to do.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub from: Division,
    pub to: Division,
    /// Only tenants of this platform (all platforms when `None`).
    pub platform: Option<String>,
    /// `successor namespace/name → JSON pointer inside its values → value`.
    pub resolutions: BTreeMap<String, BTreeMap<String, Value>>,
    /// `--assign OLD=NEW`: where an old unit goes when the mapping does not say (or says
    /// otherwise); several NEW for a split.
    pub assignments: BTreeMap<String, Vec<String>>,
    /// `spec.transition.until` written on every successor.
    pub transition_until: Option<String>,
    /// Names of each platform's generated secrets, for the summary (empty when unknown).
    pub generated_secrets: BTreeMap<String, Vec<String>>,
}

/// One unit of the target division.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnitSummary {
    pub level: Level,
    pub code: String,
    pub name: String,
}

/// One successor tenant (made by hand, or by a successor TenantSet).
#[derive(Clone, Debug, PartialEq)]
pub struct Successor {
    /// `namespace/name`.
    pub tenant: String,
    /// The successor TenantSet that makes it, if any.
    pub tenant_set: Option<String>,
    pub platform: String,
    pub unit: UnitSummary,
    /// `namespace/name` of every tenant it replaces (itself too when it is updated in place).
    pub predecessors: Vec<String>,
    /// The same, as written into its `spec.predecessors` (code, division, partial).
    pub predecessor_refs: Vec<Predecessor>,
}

/// A leaf where predecessors of one successor differ.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflict {
    /// `namespace/name` of the successor Tenant, or of the successor TenantSet.
    pub successor: String,
    pub leaf: LeafConflict,
    /// The value a `--resolve` file chose.
    pub resolved: Option<Value>,
}

/// An old unit divided among several new ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub predecessor: String,
    pub successors: Vec<String>,
}

/// A tenant whose unit the official mapping does not place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmapped {
    pub tenant: String,
    pub level: Level,
    pub code: String,
    pub name: String,
    pub source: usize,
}

/// Something that stops the plan from being written as it is (exit 1), with where and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub reason: &'static str,
    /// Index into the sources when the problem is about one of them.
    pub source: Option<usize>,
    pub en: String,
    pub vi: String,
}

/// The whole plan.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Content hash of the successors: the id to approve (`khaibao approve reform ID`).
    pub id: String,
    pub from: Division,
    pub to: Division,
    pub successors: Vec<Successor>,
    pub conflicts: Vec<Conflict>,
    pub splits: Vec<Split>,
    pub unmapped: Vec<Unmapped>,
    pub problems: Vec<Problem>,
    /// What to apply, by target province code: Namespaces, Tenants, TenantSets.
    pub manifests: BTreeMap<String, Vec<Value>>,
    pub summary: Summary,
}

impl Plan {
    /// Complete: nothing left for a person to decide.
    pub fn is_complete(&self) -> bool {
        self.unmapped.is_empty()
            && self.problems.is_empty()
            && self.conflicts.iter().all(|c| c.resolved.is_some())
    }
}

/// A new unit and the old tenants (indices) it is made from.
type UnitGroup = (String, Vec<usize>);

/// Plans the move of `sources` from `request.from` to `request.to`.
pub fn plan(sources: &[Source], request: &Request) -> Plan {
    let mut problems = Vec::new();
    let Declarations {
        olds,
        sets,
        current,
    } = read_sources(sources, request, &mut problems);

    // Where each old tenant goes.
    let target = units(request.to);
    let Placement {
        groups,
        partial_of,
        unmapped,
        splits,
    } = place(&olds, request, &mut problems);

    let mut b = Builder {
        request,
        olds: &olds,
        sets: &sets,
        successors: Vec::new(),
        conflicts: Vec::new(),
        manifests: BTreeMap::new(),
        problems,
        keys: BTreeMap::new(),
        partial_of,
        new_hosts: new_hosts(request.to),
        old_keys: Default::default(),
    };
    let old_keys: std::collections::HashMap<String, usize> = olds
        .iter()
        .enumerate()
        .map(|(i, o)| (o.key.clone(), i))
        .collect();
    b.old_keys = old_keys.clone();
    // Provinces first: communes point at their province's successor as parent.
    let mut province_successor: BTreeMap<(String, String), String> = BTreeMap::new();
    for ((platform, level, code), members) in &groups {
        if *level == Level::Province {
            let name = b.successor_tenant(platform, Level::Province, code, members, None);
            province_successor.insert((platform.clone(), code.clone()), name);
        }
    }
    // Communes whose predecessors were all made by sets go to one successor set per
    // (platform, province); any hand-written predecessor makes a hand-written successor.
    let mut set_groups: BTreeMap<(String, String), Vec<UnitGroup>> = BTreeMap::new();
    for ((platform, level, code), members) in &groups {
        if *level != Level::Commune {
            continue;
        }
        let Some(c) = target.commune(code) else {
            continue;
        };
        let parent = province_successor
            .get(&(platform.clone(), c.province_code.clone()))
            .cloned();
        // A set names its tenant by the unit's slug; where that name is an old tenant of
        // another unit (retired into another successor), the set could not make it until that
        // one is gone: such a unit gets a successor of its own under another name.
        let set_name_taken = old_keys
            .get(&format!("tinh-{}/{}", c.province_code, c.slug))
            .is_some_and(|o| !members.contains(o));
        if !set_name_taken && members.iter().all(|&m| olds[m].set.is_some()) {
            set_groups
                .entry((platform.clone(), c.province_code.clone()))
                .or_default()
                .push((code.clone(), members.clone()));
        } else {
            b.successor_tenant(platform, Level::Commune, code, members, parent);
        }
    }
    for ((platform, province), unit_groups) in &set_groups {
        let parent = province_successor
            .get(&(platform.clone(), province.clone()))
            .cloned();
        b.successor_set(platform, province, unit_groups, parent);
    }
    b.check_against_current(&current);
    b.apply_resolutions();

    let splits: Vec<Split> = splits
        .into_iter()
        .map(|(i, codes)| Split {
            predecessor: olds[i].key.clone(),
            successors: codes
                .iter()
                .filter_map(|c| {
                    b.keys
                        .get(&(olds[i].platform.clone(), olds[i].level, c.clone()))
                })
                .cloned()
                .collect(),
        })
        .collect();
    let Builder {
        mut successors,
        conflicts,
        mut manifests,
        problems,
        ..
    } = b;
    successors.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    for (province, docs) in manifests.iter_mut() {
        docs.insert(0, namespace_manifest(province));
    }
    let id = plan_id(&manifests);
    // Every predecessor not kept in place (same namespace/name) is retired by the plan.
    let kept: BTreeSet<&str> = successors.iter().map(|x| x.tenant.as_str()).collect();
    let retires = successors
        .iter()
        .flat_map(|x| x.predecessors.iter())
        .filter(|p| !kept.contains(p.as_str()))
        .collect::<BTreeSet<_>>()
        .len();
    for docs in manifests.values_mut() {
        for d in docs.iter_mut().filter(|d| d["kind"] != "Namespace") {
            d["metadata"]["annotations"][ANNOTATION_REFORM_PLAN] = json!(id);
            d["metadata"]["annotations"][ANNOTATION_REFORM_RETIRES] = json!(retires.to_string());
        }
    }
    let summary = output::summarise(
        &successors,
        &conflicts,
        &splits,
        &unmapped,
        request,
        olds.iter().map(|o| o.level),
    );
    Plan {
        id,
        from: request.from,
        to: request.to,
        successors,
        conflicts,
        splits,
        unmapped,
        problems,
        manifests,
        summary,
    }
}

/// `namespace/name` of a manifest the plan wrote.
pub fn manifest_key(d: &Value) -> String {
    format!(
        "{}/{}",
        d["metadata"]["namespace"].as_str().unwrap_or_default(),
        d["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// The namespace of a target province, labelled as the province admission policy expects.
fn namespace_manifest(province: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": format!("tinh-{province}"), "labels": {"khaibao.dev/province-code": province}},
    })
}

fn plan_id(manifests: &BTreeMap<String, Vec<Value>>) -> String {
    let text = serde_json::to_string(manifests).unwrap_or_default();
    crate::pipeline::short_hash(text.as_bytes(), 12)
}
