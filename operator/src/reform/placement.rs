//! Where each old tenant goes: the official mapping of its unit, or `--assign`, checked
//! against the target division. Splits and the units no mapping places are found here, before
//! any successor is named, so that a successor is only ever written for a unit that exists.

use std::collections::BTreeMap;

use super::sources::Old;
use super::{Problem, Request, Unmapped};
use crate::api::Level;
use crate::registry::{Division, units};

/// The old tenants grouped by the new unit each goes to.
pub(super) struct Placement {
    /// (platform, level, new code) → old tenants (indices into `olds`).
    pub(super) groups: BTreeMap<(String, Level, String), Vec<usize>>,
    /// (old tenant, new code) → whether that successor took only part of the old unit.
    pub(super) partial_of: BTreeMap<(usize, String), bool>,
    pub(super) unmapped: Vec<Unmapped>,
    /// An old tenant (index into `olds`) and the new codes it is divided among.
    pub(super) splits: Vec<(usize, Vec<String>)>,
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

/// Places every old tenant; an assignment to a unit the target division lacks is a problem.
pub(super) fn place(olds: &[Old], request: &Request, problems: &mut Vec<Problem>) -> Placement {
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
    Placement {
        groups,
        partial_of,
        unmapped,
        splits,
    }
}

fn old_name(old: &crate::registry::DivisionUnits, level: Level, code: &str) -> String {
    match level {
        Level::Province => old.province(code).map(|p| p.name.clone()),
        Level::Commune => old.commune(code).map(|c| c.name.clone()),
    }
    .unwrap_or_default()
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
