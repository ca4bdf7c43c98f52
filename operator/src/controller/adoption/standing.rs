//! Where a predecessor stands, seen from its successor: the successor itself, gone, being
//! deleted, or live, and the entries that must never be retired (another platform, another
//! unit, a cycle). Apart because everything else about adoption starts from it.

use std::sync::Arc;

use kube::ResourceExt;

use crate::api::{Predecessor, Tenant};
use crate::pipeline::is_in_place;

/// Where a predecessor stands, seen from its successor.
#[derive(Clone, Debug)]
pub enum Standing {
    /// The successor itself, updated in place: listed, never retired.
    InPlace,
    /// No such Tenant (retired, or never there): counts as retired.
    Gone,
    /// Being deleted: its objects are going.
    Deleting,
    /// On another platform: never retired by this successor.
    OtherPlatform(String),
    /// Lists the successor as its own predecessor: retiring either would be a guess.
    Cycle,
    /// Declares another unit than the entry says: the entry is wrong (or names a tenant it
    /// should not), and nothing of that tenant is adopted or retired.
    OtherUnit(String),
    Live(Arc<Tenant>),
}

/// Where `p` stands for `successor`, from `lookup` (namespace, name → cached Tenant).
pub fn standing(
    successor: &Tenant,
    p: &Predecessor,
    lookup: &dyn Fn(&str, &str) -> Option<Arc<Tenant>>,
) -> Standing {
    let ns = successor.namespace().unwrap_or_default();
    let name = successor.name_any();
    if is_in_place(p, &ns, &name) {
        return Standing::InPlace;
    }
    let Some((pns, pname)) = p.tenant.split_once('/') else {
        return Standing::Gone;
    };
    let Some(t) = lookup(pns, pname) else {
        return Standing::Gone;
    };
    if t.metadata.deletion_timestamp.is_some() {
        return Standing::Deleting;
    }
    // The old unit's Tenant was itself re-declared as a successor kept in place (a split unit
    // whose code lives on, or a name a new unit took): it is not this successor's to retire,
    // and as the old unit it is gone.
    if t.spec
        .predecessors
        .iter()
        .any(|q| is_in_place(q, pns, pname))
    {
        return Standing::Gone;
    }
    if t.spec.platform != successor.spec.platform {
        return Standing::OtherPlatform(t.spec.platform.clone());
    }
    let division = |d: &Option<String>, default: &str| d.clone().unwrap_or_else(|| default.into());
    let unit = &t.spec.unit;
    if unit.code != p.code
        || unit.level != p.level
        || division(&unit.division, "34") != division(&p.division, "63")
    {
        return Standing::OtherUnit(format!(
            "{} {} of the {}-province division",
            unit.level.as_str(),
            unit.code,
            division(&unit.division, "34")
        ));
    }
    let me = format!("{ns}/{name}");
    if t.spec.predecessors.iter().any(|q| q.tenant == me) {
        return Standing::Cycle;
    }
    Standing::Live(t)
}
