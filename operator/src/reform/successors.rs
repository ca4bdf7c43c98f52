//! Writing the successors: one Tenant per new unit made by hand, or one TenantSet per province
//! whose communes were all made by sets, each with its merged values, `spec.predecessors` and
//! a name no other successor or surviving old tenant holds. Apart from `plan`, which only
//! decides the order (provinces first, so that communes can name their parent).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::sources::{Old, OldSet};
use super::{Conflict, Problem, Request, Successor, UnitGroup, UnitSummary, merge, naming};
use crate::api::{API_VERSION, Level, Predecessor, Transition};
use crate::registry::{Division, units};

/// Builds successors one by one, remembering the names already given.
pub(super) struct Builder<'a> {
    pub(super) request: &'a Request,
    pub(super) olds: &'a [Old],
    pub(super) sets: &'a [OldSet],
    pub(super) successors: Vec<Successor>,
    pub(super) conflicts: Vec<Conflict>,
    pub(super) manifests: BTreeMap<String, Vec<Value>>,
    pub(super) problems: Vec<Problem>,
    /// (platform, level, new code) → successor tenant key.
    pub(super) keys: BTreeMap<(String, Level, String), String>,
    pub(super) partial_of: BTreeMap<(usize, String), bool>,
    /// Old tenant key → index in `olds`.
    pub(super) old_keys: std::collections::HashMap<String, usize>,
    /// Host-name keys of every unit of the target division (see `host_key`).
    pub(super) new_hosts: std::collections::HashSet<(Level, String, String)>,
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
    pub(super) fn successor_tenant(
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
    pub(super) fn successor_set(
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

pub(super) fn new_hosts(division: Division) -> std::collections::HashSet<(Level, String, String)> {
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

fn old_slug(from: Division, level: Level, code: &str) -> String {
    let u = units(from);
    match level {
        Level::Province => u.province(code).map(|p| p.slug.clone()),
        Level::Commune => u.commune(code).map(|c| c.slug.clone()),
    }
    .unwrap_or_default()
}
