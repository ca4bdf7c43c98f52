//! The plan as data: the summary the table shows and the one JSON object `-o json` prints
//! (scripts rely on its shape: keep the documented keys stable, add new ones only).

use serde_json::{Value, json};

use super::{Conflict, Plan, Request, Split, Successor, Unmapped};
use crate::api::Level;

/// Counts the table shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub provinces_from: usize,
    pub provinces_to: usize,
    pub communes_from: usize,
    pub communes_to: usize,
    pub conflicts: usize,
    pub conflicts_resolved: usize,
    pub splits: usize,
    pub unmapped: usize,
    /// Predecessors whose generated secrets a successor reusing their code adopts.
    pub secrets_adopted: usize,
    /// Other predecessors' generated secrets, copied and kept valid for the transition.
    pub secrets_kept: usize,
    /// Predecessors' host names the successors keep serving (every predecessor not updated in
    /// place whose host no unit of the new division has taken).
    pub hosts_carried: usize,
    /// Predecessors' host names that a unit of the new division answers at now.
    pub hosts_taken: usize,
}

pub(super) fn summarise(
    successors: &[Successor],
    conflicts: &[Conflict],
    splits: &[Split],
    unmapped: &[Unmapped],
    request: &Request,
    old_levels: impl Iterator<Item = Level>,
) -> Summary {
    let (mut provinces_from, mut communes_from) = (0, 0);
    for l in old_levels {
        match l {
            Level::Province => provinces_from += 1,
            Level::Commune => communes_from += 1,
        }
    }
    let mut s = Summary {
        provinces_from,
        communes_from,
        provinces_to: successors
            .iter()
            .filter(|x| x.unit.level == Level::Province)
            .count(),
        communes_to: successors
            .iter()
            .filter(|x| x.unit.level == Level::Commune)
            .count(),
        conflicts: conflicts.len(),
        conflicts_resolved: conflicts.iter().filter(|c| c.resolved.is_some()).count(),
        splits: splits.len(),
        unmapped: unmapped.len(),
        ..Default::default()
    };
    for succ in successors {
        let secrets = request
            .generated_secrets
            .get(&succ.platform)
            .map_or(0, Vec::len);
        for p in succ.predecessor_refs.iter().filter(|p| !p.partial) {
            if p.tenant == succ.tenant {
                // Updated in place: same host, same Secret.
                s.secrets_adopted += secrets;
                continue;
            }
            if p.host_taken {
                s.hosts_taken += 1;
            } else {
                s.hosts_carried += 1;
            }
            if p.code == succ.unit.code {
                s.secrets_adopted += secrets;
            } else {
                s.secrets_kept += secrets;
            }
        }
    }
    s
}

fn sourced(s: &super::Sourced) -> Value {
    json!({"value": s.value, "from": s.from})
}

/// The plan as one JSON object (`-o json`, `-o yaml`, and `reform-plan.json` in `--out DIR`).
/// `at` turns a (source index, JSON pointer) into `file:line` when the source is a file.
pub fn plan_json(plan: &Plan, at: &dyn Fn(usize, &str) -> Option<String>) -> Value {
    let with_at = |s: &super::Sourced| {
        let mut v = sourced(s);
        if let Some(place) = at(s.source, &s.pointer) {
            v["at"] = json!(place);
        }
        v
    };
    json!({
        "id": plan.id,
        "from": plan.from.as_str(),
        "to": plan.to.as_str(),
        "complete": plan.is_complete(),
        "successors": plan.successors.iter().map(|s| {
            let mut v = json!({
                "tenant": s.tenant,
                "platform": s.platform,
                "unit": {"level": s.unit.level.as_str(), "code": s.unit.code, "name": s.unit.name},
                "predecessors": s.predecessors,
            });
            if let Some(set) = &s.tenant_set {
                v["tenantSet"] = json!(set);
            }
            v
        }).collect::<Vec<_>>(),
        "conflicts": plan.conflicts.iter().map(|c| {
            let mut v = json!({
                "successor": c.successor,
                "path": c.leaf.path,
                "kept": with_at(&c.leaf.kept),
                "dropped": c.leaf.dropped.iter().map(with_at).collect::<Vec<_>>(),
            });
            if let Some(r) = &c.resolved {
                v["resolved"] = r.clone();
            }
            v
        }).collect::<Vec<_>>(),
        "splits": plan.splits.iter().map(|s| json!({"predecessor": s.predecessor, "successors": s.successors})).collect::<Vec<_>>(),
        "unmapped": plan.unmapped.iter().map(|u| {
            let mut v = json!({"tenant": u.tenant, "level": u.level.as_str(), "code": u.code, "name": u.name});
            if let Some(place) = at(u.source, "/spec/unit/code") {
                v["at"] = json!(place);
            }
            v
        }).collect::<Vec<_>>(),
        "problems": plan.problems.iter().map(|p| json!({"reason": p.reason, "message": p.en})).collect::<Vec<_>>(),
        "summary": {
            "provinces": {"from": plan.summary.provinces_from, "to": plan.summary.provinces_to},
            "communes": {"from": plan.summary.communes_from, "to": plan.summary.communes_to},
            "conflicts": plan.summary.conflicts,
            "conflictsResolved": plan.summary.conflicts_resolved,
            "splits": plan.summary.splits,
            "unmapped": plan.summary.unmapped,
            "secretsAdopted": plan.summary.secrets_adopted,
            "secretsKeptForTransition": plan.summary.secrets_kept,
            "hostNamesCarried": plan.summary.hosts_carried,
            "hostNamesTaken": plan.summary.hosts_taken,
        },
    })
}
