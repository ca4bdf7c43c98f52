//! Planning a change of administrative units (the 2025 reform, or any later one) as a migration:
//! the current Tenants and TenantSets in, successor declarations out, each carrying
//! `spec.predecessors`, with every value either merged into its successor or listed as a
//! conflict. Pure like the render pipeline: no I/O, no clock, no cluster, so a province can
//! review its plan in CI. The operator carries a plan out (adoption, then retirement).

mod merge;
mod naming;
mod output;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::api::{
    ANNOTATION_REFORM_PLAN, ANNOTATION_REFORM_RETIRES, API_VERSION, Level, Predecessor, Tenant,
    TenantSet, Transition,
};
use crate::pipeline::expand_tenant_set;
use crate::registry::{Division, units};

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

/// One tenant of the old division, from a hand-written Tenant or expanded from a set.
#[derive(Clone, Debug)]
struct Old {
    key: String,
    name: String,
    platform: String,
    level: Level,
    code: String,
    values: Value,
    suspend: bool,
    labels: BTreeMap<String, String>,
    source: usize,
    /// Index of the set (in `sets`) that made it.
    set: Option<usize>,
}

/// A predecessor TenantSet.
struct OldSet {
    key: String,
    namespace: String,
    name: String,
    /// The province its units belong to (the code a successor set may reuse).
    province: String,
    values: Value,
    source: usize,
}

/// Successors of one old unit: `(new code, partial)`.
fn successor_codes(from: Division, to: Division, level: Level, code: &str) -> Vec<(String, bool)> {
    if from == to {
        return vec![(code.to_string(), false)];
    }
    crate::registry::successors_of(level, code)
        .iter()
        .map(|s| (s.code.clone(), s.partial))
        .collect()
}

fn division_of(d: Option<&str>) -> Option<Division> {
    d.unwrap_or("34").parse().ok()
}

/// Plans the move of `sources` from `request.from` to `request.to`.
pub fn plan(sources: &[Source], request: &Request) -> Plan {
    let mut problems = Vec::new();
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

    // Where each old tenant goes.
    let target = units(request.to);
    let old_units = units(request.from);
    let mut unmapped = Vec::new();
    let mut splits = Vec::new();
    // (platform, level, new code) → old tenants (indices into `olds`).
    let mut groups: BTreeMap<(String, Level, String), Vec<usize>> = BTreeMap::new();
    // (old tenant, new code) → whether that successor took only part of the old unit.
    let mut partial_of: BTreeMap<(usize, String), bool> = BTreeMap::new();
    for (i, o) in olds.iter().enumerate() {
        let codes: Vec<(String, bool)> = match request.assignments.get(&o.code) {
            // The first code assigned takes the unit's host name and secrets.
            Some(assigned) => assigned
                .iter()
                .enumerate()
                .map(|(n, c)| (c.clone(), n > 0))
                .collect(),
            None => successor_codes(request.from, request.to, o.level, &o.code),
        };
        if codes.is_empty() {
            unmapped.push(Unmapped {
                tenant: o.key.clone(),
                level: o.level,
                code: o.code.clone(),
                name: old_name(old_units, o.level, &o.code),
                source: o.source,
            });
            continue;
        }
        let mut ok: Vec<(String, bool)> = Vec::new();
        for (c, partial) in codes {
            let exists = match o.level {
                Level::Province => target.province(&c).is_some(),
                Level::Commune => target.commune(&c).is_some(),
            };
            if exists {
                ok.push((c, partial));
            } else {
                problems.push(Problem {
                    reason: "UnknownSuccessor",
                    source: Some(o.source),
                    en: format!(
                        "{} ({} {}) is assigned to {c}, which is no {} of the {}-province division; check --assign",
                        o.key, o.level.as_str(), o.code, o.level.as_str(), request.to
                    ),
                    vi: format!(
                        "{} ({} {}) được gán vào {c}, không phải đơn vị nào trong danh mục {} tỉnh; kiểm tra --assign",
                        o.key, o.level.as_str(), o.code, request.to
                    ),
                });
            }
        }
        if ok.is_empty() {
            continue;
        }
        let primary = primary_successor(&o.code, &ok);
        for (n, (c, _)) in ok.iter().enumerate() {
            groups
                .entry((o.platform.clone(), o.level, c.clone()))
                .or_default()
                .push(i);
            partial_of.insert((i, c.clone()), ok.len() > 1 && n != primary);
        }
        if ok.len() > 1 {
            splits.push((i, ok.into_iter().map(|(c, _)| c).collect::<Vec<_>>()));
        }
    }

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

fn old_name(old: &crate::registry::DivisionUnits, level: Level, code: &str) -> String {
    match level {
        Level::Province => old.province(code).map(|p| p.name.clone()),
        Level::Commune => old.commune(code).map(|c| c.name.clone()),
    }
    .unwrap_or_default()
}

fn key_of(ns: &Option<String>, name: &Option<String>) -> String {
    format!(
        "{}/{}",
        ns.as_deref().unwrap_or("default"),
        name.as_deref().unwrap_or_default()
    )
}

/// `namespace/name` of a manifest the plan wrote.
pub fn manifest_key(d: &Value) -> String {
    format!(
        "{}/{}",
        d["metadata"]["namespace"].as_str().unwrap_or_default(),
        d["metadata"]["name"].as_str().unwrap_or_default()
    )
}

fn tenant_spec_json(t: &Tenant) -> Value {
    json!(t.spec)
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

/// Builds successors one by one, remembering the names already given.
struct Builder<'a> {
    request: &'a Request,
    olds: &'a [Old],
    sets: &'a [OldSet],
    successors: Vec<Successor>,
    conflicts: Vec<Conflict>,
    manifests: BTreeMap<String, Vec<Value>>,
    problems: Vec<Problem>,
    /// (platform, level, new code) → successor tenant key.
    keys: BTreeMap<(String, Level, String), String>,
    partial_of: BTreeMap<(usize, String), bool>,
    /// Old tenant key → index in `olds`.
    old_keys: std::collections::HashMap<String, usize>,
    /// Host-name keys of every unit of the target division (see `host_key`).
    new_hosts: std::collections::HashSet<(Level, String, String)>,
}

impl Builder<'_> {
    /// Merges the contributions for successor `key`, recording its conflicts.
    fn merge_for(&mut self, key: &str, contributions: &[merge::Contribution<'_>]) -> Value {
        let (values, leaf_conflicts) = merge::merge(contributions);
        self.conflicts
            .extend(leaf_conflicts.into_iter().map(|leaf| Conflict {
                successor: key.to_string(),
                leaf,
                resolved: None,
            }));
        values
    }

    /// The old tenants of one new unit, winner first: the one whose code the new unit reuses,
    /// then by code.
    fn ranked(&self, code: &str, members: &[usize]) -> Vec<usize> {
        let mut m = members.to_vec();
        m.sort_by(|&a, &b| {
            let (a, b) = (&self.olds[a], &self.olds[b]);
            (a.code != code, &a.code, &a.key).cmp(&(b.code != code, &b.code, &b.key))
        });
        m.dedup();
        m
    }

    fn predecessors(&self, code: &str, ranked: &[usize]) -> Vec<Predecessor> {
        ranked
            .iter()
            .map(|&i| {
                let o = &self.olds[i];
                Predecessor {
                    tenant: o.key.clone(),
                    level: o.level,
                    code: o.code.clone(),
                    division: Some(self.request.from.as_str().into()),
                    partial: self
                        .partial_of
                        .get(&(i, code.to_string()))
                        .copied()
                        .unwrap_or(false),
                    host_taken: self.new_hosts.contains(&host_key(
                        self.request.from,
                        o.level,
                        &o.code,
                    )),
                }
            })
            .collect()
    }

    fn transition(&self) -> Option<Transition> {
        self.request.transition_until.as_ref().map(|u| Transition {
            until: Some(u.clone()),
        })
    }

    /// A hand-written successor Tenant; returns its name.
    fn successor_tenant(
        &mut self,
        platform: &str,
        level: Level,
        code: &str,
        members: &[usize],
        parent: Option<String>,
    ) -> String {
        let target = units(self.request.to);
        let (name_official, slug, province) = match level {
            Level::Province => {
                // `plan` groups only codes its `exists` check found in `units(request.to)`.
                let p = target
                    .province(code)
                    .expect("grouped codes exist in the target");
                (p.name.clone(), p.slug.clone(), p.code.clone())
            }
            Level::Commune => {
                // `plan` passes commune groups only after `target.commune(code)` found the code.
                let c = target
                    .commune(code)
                    .expect("grouped codes exist in the target");
                (c.name.clone(), c.slug.clone(), c.province_code.clone())
            }
        };
        let ranked = self.ranked(code, members);
        let winner = &self.olds[ranked[0]];
        let namespace = format!("tinh-{province}");
        let old_slug = old_slug(self.request.from, winner.level, &winner.code);
        let mut name = naming::successor_name(&winner.name, &old_slug, &slug);
        // Never the name of an old tenant of another unit: that one is retired into another
        // successor, and taking its name would take over (and prune) what it still serves.
        let taken = |n: &str| {
            self.old_keys
                .get(&format!("{namespace}/{n}"))
                .is_some_and(|o| !ranked.contains(o))
        };
        if taken(&name) {
            name = naming::with_suffix(&name, code);
        }
        let key = format!("{namespace}/{name}");
        let contributions: Vec<merge::Contribution<'_>> = ranked
            .iter()
            .map(|&i| {
                let o = &self.olds[i];
                merge::Contribution {
                    from: &o.key,
                    source: o.source,
                    base: "/spec/values",
                    values: &o.values,
                }
            })
            .collect();
        let values = self.merge_for(&key, &contributions);
        let mut labels: BTreeMap<String, String> = winner
            .labels
            .iter()
            .filter(|(k, _)| !k.starts_with("khaibao.dev/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.insert("khaibao.dev/level".into(), level.as_str().into());
        labels.insert("khaibao.dev/unit-code".into(), code.into());
        let mut unit = json!({"level": level.as_str(), "code": code, "name": name_official, "division": self.request.to.as_str()});
        if level == Level::Commune {
            unit["provinceCode"] = json!(province);
        }
        let mut spec = json!({"platform": platform, "unit": unit});
        if let Some(p) = parent.filter(|_| level == Level::Commune) {
            spec["parent"] = json!(p);
        }
        if values.as_object().is_some_and(|m| !m.is_empty()) {
            spec["values"] = values;
        }
        if winner.suspend {
            spec["suspend"] = json!(true);
        }
        let refs = self.predecessors(code, &ranked);
        spec["predecessors"] = json!(refs);
        if let Some(t) = self.transition() {
            spec["transition"] = json!(t);
        }
        let manifest = json!({
            "apiVersion": API_VERSION, "kind": "Tenant",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": spec,
        });
        self.record(
            platform,
            level,
            code,
            &key,
            name_official,
            refs,
            &province,
            manifest,
        );
        name
    }

    /// One successor TenantSet for the communes of `province` whose predecessors all came from
    /// sets; its values merge the predecessor sets' values (templates, as written).
    fn successor_set(
        &mut self,
        platform: &str,
        province: &str,
        unit_groups: &[UnitGroup],
        parent: Option<String>,
    ) {
        let target = units(self.request.to);
        let Some(p) = target.province(province) else {
            return;
        };
        // The predecessor sets, winner first: the one of the province whose code is reused.
        let mut set_ids: Vec<usize> = unit_groups
            .iter()
            .flat_map(|(_, m)| m.iter().filter_map(|&i| self.olds[i].set))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        set_ids.sort_by(|&a, &b| {
            let (a, b) = (&self.sets[a], &self.sets[b]);
            (a.province != province, &a.province, &a.key).cmp(&(
                b.province != province,
                &b.province,
                &b.key,
            ))
        });
        let winner = &self.sets[set_ids[0]];
        let namespace = format!("tinh-{province}");
        let old_province_slug = old_slug(self.request.from, Level::Province, &winner.province);
        let mut name = naming::successor_name(&winner.name, &old_province_slug, &p.slug);
        // A successor set never takes the name of a set it replaces: that set keeps its
        // tenants until each is retired into a successor.
        if set_ids
            .iter()
            .any(|&s| self.sets[s].namespace == namespace && self.sets[s].name == name)
        {
            name = naming::with_suffix(&name, self.request.to.as_str());
        }
        let key = format!("{namespace}/{name}");
        let contributions: Vec<merge::Contribution<'_>> = set_ids
            .iter()
            .map(|&s| merge::Contribution {
                from: &self.sets[s].key,
                source: self.sets[s].source,
                base: "/spec/values",
                values: &self.sets[s].values,
            })
            .collect();
        let values = self.merge_for(&key, &contributions);
        let wanted: BTreeSet<&str> = unit_groups.iter().map(|(c, _)| c.as_str()).collect();
        let all: Vec<&str> = target
            .communes_of(province)
            .map(|c| c.code.as_str())
            .collect();
        let excluded: Vec<&str> = all
            .iter()
            .copied()
            .filter(|c| !wanted.contains(c))
            .collect();
        let units_sel = if excluded.len() <= wanted.len() {
            let mut u = json!({"communesOf": province});
            if !excluded.is_empty() {
                u["exclude"] = json!(excluded);
            }
            u
        } else {
            json!({"codes": wanted})
        };
        let mut unit_predecessors = BTreeMap::new();
        for (code, members) in unit_groups {
            let ranked = self.ranked(code, members);
            unit_predecessors.insert(code.clone(), self.predecessors(code, &ranked));
        }
        let mut spec = json!({
            "platform": platform, "division": self.request.to.as_str(), "units": units_sel,
            "predecessors": set_ids.iter().map(|&s| self.sets[s].key.clone()).collect::<Vec<_>>(),
            "unitPredecessors": unit_predecessors,
        });
        if let Some(p) = parent {
            spec["parent"] = json!(p);
        }
        if values.as_object().is_some_and(|m| !m.is_empty()) {
            spec["values"] = values;
        }
        if let Some(t) = self.transition() {
            spec["transition"] = json!(t);
        }
        let manifest = json!({
            "apiVersion": API_VERSION, "kind": "TenantSet",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        });
        self.manifests
            .entry(province.to_string())
            .or_default()
            .push(manifest);
        for (code, members) in unit_groups {
            let Some(c) = target.commune(code) else {
                continue;
            };
            let ranked = self.ranked(code, members);
            let tenant_key = format!("{namespace}/{}", c.slug);
            self.successors.push(Successor {
                tenant: tenant_key.clone(),
                tenant_set: Some(key.clone()),
                platform: platform.to_string(),
                unit: UnitSummary {
                    level: Level::Commune,
                    code: code.clone(),
                    name: c.name.clone(),
                },
                predecessors: ranked.iter().map(|&i| self.olds[i].key.clone()).collect(),
                predecessor_refs: self.predecessors(code, &ranked),
            });
            self.claim(platform, Level::Commune, code, &tenant_key);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        platform: &str,
        level: Level,
        code: &str,
        key: &str,
        name: String,
        refs: Vec<Predecessor>,
        province: &str,
        manifest: Value,
    ) {
        self.successors.push(Successor {
            tenant: key.to_string(),
            tenant_set: None,
            platform: platform.to_string(),
            unit: UnitSummary {
                level,
                code: code.to_string(),
                name,
            },
            predecessors: refs.iter().map(|p| p.tenant.clone()).collect(),
            predecessor_refs: refs,
        });
        self.manifests
            .entry(province.to_string())
            .or_default()
            .push(manifest);
        self.claim(platform, level, code, key);
    }

    /// Two successors must not share a namespace/name.
    fn claim(&mut self, platform: &str, level: Level, code: &str, key: &str) {
        if let Some(((other_platform, _, other_code), _)) =
            self.keys.iter().find(|(_, k)| k.as_str() == key)
        {
            self.problems.push(Problem {
                reason: "SuccessorNameCollision",
                source: None,
                en: format!(
                    "successors of {} {code} ({platform}) and {other_code} ({other_platform}) would both be {key}; rename one of their predecessors",
                    level.as_str()
                ),
                vi: format!(
                    "đơn vị kế thừa của {code} ({platform}) và {other_code} ({other_platform}) đều sẽ là {key}; đổi tên một đơn vị tiền nhiệm"
                ),
            });
        }
        self.keys.insert(
            (platform.to_string(), level, code.to_string()),
            key.to_string(),
        );
    }

    /// A successor that already exists in the target division must be exactly what the plan
    /// writes (a plan run again over its own output), never something else.
    fn check_against_current(&mut self, current: &BTreeMap<String, (usize, Value)>) {
        for docs in self.manifests.values() {
            for d in docs {
                let key = manifest_key(d);
                let Some((source, existing)) = current.get(&key) else {
                    continue;
                };
                if *existing != d["spec"] {
                    self.problems.push(Problem {
                        reason: "SuccessorExists",
                        source: Some(*source),
                        en: format!(
                            "{key} already exists in the {}-province division with other values than the plan's successor; merge it into the plan by hand or delete it",
                            self.request.to
                        ),
                        vi: format!(
                            "{key} đã có trong danh mục {} tỉnh với giá trị khác đơn vị kế thừa của kế hoạch; gộp thủ công hoặc xoá nó",
                            self.request.to
                        ),
                    });
                }
            }
        }
    }

    /// Applies `--resolve`: the chosen value goes into the successor's values; the conflicts
    /// at that leaf are settled.
    fn apply_resolutions(&mut self) {
        let known: BTreeSet<String> = self
            .manifests
            .values()
            .flatten()
            .filter(|d| d["kind"] != "Namespace")
            .map(manifest_key)
            .collect();
        for (successor, paths) in &self.request.resolutions {
            if !known.contains(successor) {
                self.problems.push(Problem {
                    reason: "UnknownResolution",
                    source: None,
                    en: format!(
                        "the resolve file names {successor}, which is no successor of this plan; successors are namespace/name as in the plan's table"
                    ),
                    vi: format!(
                        "tệp giải quyết nêu {successor}, không phải đơn vị kế thừa nào của kế hoạch; dùng namespace/tên như trong bảng kế hoạch"
                    ),
                });
                continue;
            }
            for docs in self.manifests.values_mut() {
                for d in docs.iter_mut() {
                    let key = manifest_key(d);
                    if key != *successor {
                        continue;
                    }
                    for (path, value) in paths {
                        if !path.is_empty() && !path.starts_with('/') {
                            self.problems.push(Problem {
                                reason: "InvalidResolution",
                                source: None,
                                en: format!("resolution {path:?} for {successor} is not a JSON pointer; write it as in the conflict list, e.g. /contact/hotline"),
                                vi: format!("giải quyết {path:?} cho {successor} không phải JSON pointer; viết như trong danh sách xung đột, ví dụ /contact/hotline"),
                            });
                            continue;
                        }
                        let values = &mut d["spec"]["values"];
                        if values.is_null() {
                            *values = json!({});
                        }
                        set_pointer(values, path, value.clone());
                    }
                }
            }
            for c in self
                .conflicts
                .iter_mut()
                .filter(|c| c.successor == *successor)
            {
                if let Some(v) = paths.get(&c.leaf.path) {
                    c.resolved = Some(v.clone());
                }
            }
        }
    }
}

/// What a unit's host name is made of on platforms that name hosts after units (as
/// `dichvucong` does: `<slug>.<domain>`, `<slug>.<province slug>.<domain>`).
fn host_key(division: Division, level: Level, code: &str) -> (Level, String, String) {
    let u = units(division);
    match level {
        Level::Province => (
            level,
            u.province(code).map(|p| p.slug.clone()).unwrap_or_default(),
            String::new(),
        ),
        Level::Commune => {
            let c = u.commune(code);
            let province_slug = c
                .and_then(|c| u.province(&c.province_code))
                .map(|p| p.slug.clone())
                .unwrap_or_default();
            (
                level,
                c.map(|c| c.slug.clone()).unwrap_or_default(),
                province_slug,
            )
        }
    }
}

fn new_hosts(division: Division) -> std::collections::HashSet<(Level, String, String)> {
    let u = units(division);
    u.provinces
        .iter()
        .map(|p| host_key(division, Level::Province, &p.code))
        .chain(
            u.communes
                .iter()
                .map(|c| host_key(division, Level::Commune, &c.code)),
        )
        .collect()
}

/// Which of an old unit's successors takes its host name and secrets: the one reusing its
/// code, then the one the source does not mark partial ("the remaining part"), then the first.
fn primary_successor(old_code: &str, successors: &[(String, bool)]) -> usize {
    // The unit that keeps the old code keeps the old tenant (often in place, same name):
    // another successor taking it whole would retire a tenant that lives on.
    if let Some(i) = successors.iter().position(|(c, _)| c == old_code) {
        return i;
    }
    successors
        .iter()
        .position(|(_, partial)| !partial)
        .unwrap_or(0)
}

fn old_slug(from: Division, level: Level, code: &str) -> String {
    let u = units(from);
    match level {
        Level::Province => u.province(code).map(|p| p.slug.clone()),
        Level::Commune => u.commune(code).map(|c| c.slug.clone()),
    }
    .unwrap_or_default()
}
