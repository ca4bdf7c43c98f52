//! Adoption, the operator's half of a reform: a successor Tenant (`spec.predecessors`) becomes
//! Ready first — its Ingress already answering the predecessors' host names — and adopts their
//! generated secrets; only then is each predecessor retired (its Tenant deleted, its finalizer
//! deleting its objects). Everything is recomputed from the caches on every pass, so re-applying
//! the same successors changes nothing and a killed operator resumes where it was. It must never
//! delete a predecessor before the successor serves its host names and holds its secrets, nor
//! one on another platform or in a cycle.
//!
//! Its parts are named by what they hold: `standing` (where a predecessor stands), `rule`
//! (whether it may be retired now), `retirement` (the reconcile step that carries the rule
//! out), `progress` (what the successor's status says of it) and `secrets` (the secrets it
//! adopts).

use kube::runtime::reflector::ObjectRef;

use super::Context;
use crate::api::Tenant;

mod progress;
mod retirement;
mod rule;
mod secrets;
mod standing;
#[cfg(test)]
mod tests;

pub use progress::{Progress, record_progress};
pub use retirement::retire_predecessors;
pub use rule::{Decision, Facts, decide, plan_held};
pub use secrets::{AdoptedSecrets, create_own_secret, kept_for_adoption};
pub use standing::{Standing, standing};

/// Condition on a successor: True once every predecessor is retired.
pub const PREDECESSORS_RETIRED: &str = "PredecessorsRetired";
/// Phases of a plan in `Platform.status.reforms[]`.
pub const ADOPTING: &str = "Adopting";
pub const AWAITING_APPROVAL: &str = "AwaitingApproval";
pub const RETIRING: &str = "Retiring";
pub const COMPLETE: &str = "Complete";

/// The tenant key (`namespace/name`) of a cached Tenant.
pub(super) fn key(t: &Tenant) -> String {
    super::object_key(t)
}

/// The successor (`namespace/name`) that renders this tenant's very object names (the same
/// unit, slug and code, under another namespace or name), if one lists it: such a predecessor
/// stops applying, or the two would take the objects from each other on every write until it
/// is retired. Its objects stay as they are until the successor's apply takes them over.
pub fn replaced_by_same_names(ctx: &Context, tenant: &Tenant) -> Option<String> {
    let me = key(tenant);
    let successors = ctx.predecessors.successors_of(&me);
    if successors.iter().all(|s| *s == me) {
        return None;
    }
    let stem_of = |t: &Tenant| {
        crate::registry::resolve_unit(&t.spec.unit)
            .ok()
            .map(|u| crate::pipeline::tenant_stem(&u.slug, &u.code))
    };
    let mine = stem_of(tenant)?;
    successors.into_iter().filter(|s| *s != me).find(|s| {
        s.split_once('/')
            .and_then(|(ns, n)| ctx.tenants.get(&ObjectRef::new(n).within(ns)))
            .is_some_and(|t| {
                t.spec.platform == tenant.spec.platform && stem_of(&t).as_deref() == Some(&mine)
            })
    })
}
