//! Adoption, the operator's half of a reform: a successor Tenant (`spec.predecessors`) becomes
//! Ready first — its Ingress already answering the predecessors' host names — and adopts their
//! generated secrets; only then is each predecessor retired (its Tenant deleted, its finalizer
//! deleting its objects). Everything is recomputed from the caches on every pass, so re-applying
//! the same successors changes nothing and a killed operator resumes where it was. It must never
//! delete a predecessor before the successor serves its host names and holds its secrets, nor
//! one on another platform or in a cycle.
//!
//! The secrets it adopts are in [`secrets`]. Over 500 lines with its tests (~190): the
//! retirement rules and the step that carries them out are one concern, read together.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::info;

use super::writes::publish;
use super::{Context, Error};
use crate::api::{ANNOTATION_REFORM_PLAN, Platform, Predecessor, Tenant, TenantStatus};
use crate::pipeline::{CompiledPlatform, RenderedTenant, is_in_place, resolve_predecessor};
use crate::status::{self, READY};

mod secrets;

pub use secrets::{AdoptedSecrets, create_own_secret, kept_for_adoption};

/// Condition on a successor: True once every predecessor is retired.
pub const PREDECESSORS_RETIRED: &str = "PredecessorsRetired";
/// Phases of a plan in `Platform.status.reforms[]`.
pub const ADOPTING: &str = "Adopting";
pub const AWAITING_APPROVAL: &str = "AwaitingApproval";
pub const RETIRING: &str = "Retiring";
pub const COMPLETE: &str = "Complete";

/// How soon a successor looks again while a predecessor is on its way out or its secrets are
/// not there yet (neither wakes the successor by itself).
const RECHECK: Duration = Duration::from_secs(5);

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

/// What to do with one live predecessor, or why not yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Retire,
    Wait {
        reason: &'static str,
        message: String,
    },
}

/// What the successor knows when deciding about one live predecessor.
pub struct Facts {
    /// The successor is Ready at its target revision: its objects (the Ingress with the
    /// predecessor's host names) are applied.
    pub ready: bool,
    /// The plan's retirements are held by the blast-radius guard.
    pub held: bool,
    /// The predecessor's generated secrets are in the successor's Secrets.
    pub secrets_adopted: bool,
    /// The successor takes only part of the predecessor: the successor listing it whole
    /// retires it.
    pub partial: bool,
    /// Every other successor listing the predecessor (the parts of a divided unit) is Ready.
    pub others_ready: bool,
    /// Live communes still inherit from the predecessor (a province): retiring it first would
    /// leave them without their parent's values until their own successors take over.
    pub live_children: usize,
    /// The tenant of the new unit that answers at the predecessor's host name now
    /// (`hostTaken`), while it is not Ready yet: retiring first would leave the name unserved.
    pub host_taker_pending: Option<String>,
}

/// The rule, in order: Ready first, then the plan's approval, the secrets, the other parts.
pub fn decide(predecessor: &str, f: &Facts) -> Decision {
    let wait = |reason, message: String| Decision::Wait { reason, message };
    if !f.ready {
        wait(
            "AwaitingReady",
            format!("{predecessor} is retired once this tenant is Ready"),
        )
    } else if f.held {
        wait(
            AWAITING_APPROVAL,
            format!(
                "retiring {predecessor} waits for the reform plan's approval (khaibao approve reform)"
            ),
        )
    } else if f.partial {
        wait(
            "RetiredByOtherSuccessor",
            format!("{predecessor} is retired by the successor that takes it whole"),
        )
    } else if !f.secrets_adopted {
        wait(
            "AdoptingSecrets",
            format!(
                "waiting for {predecessor}'s generated secrets, to adopt them before it is retired"
            ),
        )
    } else if !f.others_ready {
        wait(
            "AwaitingOtherSuccessors",
            format!("{predecessor} is retired once every successor of its parts is Ready"),
        )
    } else if let Some(taker) = &f.host_taker_pending {
        wait(
            "AwaitingHostTaker",
            format!(
                "{predecessor}'s host name belongs to {taker} now; {predecessor} is retired once {taker} is Ready"
            ),
        )
    } else if f.live_children > 0 {
        wait(
            "AwaitingChildren",
            format!(
                "{predecessor} is retired once the {} commune(s) inheriting from it are retired or re-parented",
                f.live_children
            ),
        )
    } else {
        Decision::Retire
    }
}

/// The plan of `tenant` is held by the blast-radius guard, as the Platform controller last
/// decided it (`status.reforms[]`, recomputed on each of its passes). A plan it has not
/// counted yet is held too: nothing is retired on a guess. A successor without a plan (written
/// by hand) answers for itself only and is not held.
pub fn plan_held(platform: &Platform, tenant: &Tenant) -> bool {
    let Some(plan) = tenant.annotations().get(ANNOTATION_REFORM_PLAN) else {
        return false;
    };
    platform
        .status
        .as_ref()
        .and_then(|s| s.reforms.iter().find(|r| &r.plan == plan))
        .is_none_or(|r| r.phase == AWAITING_APPROVAL)
}

/// How a successor's predecessors stand after one pass.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub retired: i64,
    pub pending: i64,
    /// Why predecessors are still there, the most pressing first.
    pub waiting: Vec<(&'static str, String)>,
    /// Only approval or a user's fix can move them (no need to look again soon).
    pub blocked_only: bool,
}

/// Records `progress` in the successor's status: counts and the `PredecessorsRetired`
/// condition. A tenant without predecessors carries none of it.
pub fn record_progress(
    s: &mut TenantStatus,
    progress: Option<&Progress>,
    generation: Option<i64>,
    now: &Time,
) {
    let Some(p) = progress else {
        s.predecessors_retired = None;
        s.predecessors_pending = None;
        status::clear_condition(&mut s.conditions, PREDECESSORS_RETIRED);
        return;
    };
    s.predecessors_retired = Some(p.retired);
    s.predecessors_pending = Some(p.pending);
    let c = &mut s.conditions;
    match p.waiting.first() {
        None => status::set_condition(
            c,
            PREDECESSORS_RETIRED,
            true,
            "Retired",
            &format!("{} predecessor(s) retired", p.retired),
            generation,
            now,
        ),
        Some((reason, message)) => {
            let more = if p.waiting.len() > 1 {
                format!(" (and {} more waiting)", p.waiting.len() - 1)
            } else {
                String::new()
            };
            status::set_condition(
                c,
                PREDECESSORS_RETIRED,
                false,
                reason,
                &format!("{message}{more}"),
                generation,
                now,
            )
        }
    }
}

/// The tenant key (`namespace/name`) of a cached Tenant.
pub(super) fn key(t: &Tenant) -> String {
    super::object_key(t)
}

/// The reconcile step: adopt the live predecessors' secrets, retire those the rule allows,
/// and record the progress in `status`. Returns when to look again.
pub async fn retire_predecessors(
    ctx: &Context,
    tenant: &Tenant,
    held: bool,
    platform: &CompiledPlatform,
    rendered: &RenderedTenant,
    status: &mut TenantStatus,
    now: &Time,
) -> Result<Option<Duration>, Error> {
    let generation = tenant.meta().generation;
    if tenant.spec.predecessors.is_empty() {
        record_progress(status, None, generation, now);
        return Ok(None);
    }
    let lookup = |ns: &str, name: &str| ctx.tenants.get(&ObjectRef::new(name).within(ns));
    let standings: Vec<(&Predecessor, Standing)> = tenant
        .spec
        .predecessors
        .iter()
        .map(|p| (p, standing(tenant, p, &lookup)))
        .collect();
    let ready = status::is_true(&status.conditions, READY);
    let adopted = secrets::adopt_secrets(ctx, tenant, platform, rendered, &standings).await?;
    let me = key(tenant);
    let mut progress = Progress::default();
    let mut blocked = Vec::new();
    let mut waiting = Vec::new();
    for (p, standing) in &standings {
        match standing {
            Standing::InPlace => {}
            Standing::Gone => progress.retired += 1,
            Standing::Deleting => {
                progress.pending += 1;
                waiting.push(("Retiring", format!("{} is being retired", p.tenant)));
            }
            Standing::OtherPlatform(other) => {
                progress.pending += 1;
                blocked.push((
                    "PredecessorOnOtherPlatform",
                    format!(
                        "predecessor {} is on platform {other:?}, not {:?}: it is not retired; move it or drop it from spec.predecessors",
                        p.tenant, tenant.spec.platform
                    ),
                ));
            }
            Standing::OtherUnit(declared) => {
                progress.pending += 1;
                blocked.push((
                    "PredecessorOtherUnit",
                    format!(
                        "predecessor {} declares {declared}, not {} {} of the {}-province division: it is not retired; fix the entry",
                        p.tenant,
                        p.level.as_str(),
                        p.code,
                        p.division.as_deref().unwrap_or("63")
                    ),
                ));
            }
            Standing::Cycle => {
                progress.pending += 1;
                blocked.push((
                    "PredecessorCycle",
                    format!(
                        "predecessor {} lists this tenant as its own predecessor: neither is retired; drop one of the two entries",
                        p.tenant
                    ),
                ));
            }
            Standing::Live(t) => {
                progress.pending += 1;
                let others_ready = ctx
                    .predecessors
                    .successors_of(&p.tenant)
                    .iter()
                    .filter(|s| **s != me && **s != p.tenant)
                    .all(|s| {
                        // Ready for its current generation: a Ready left from before an
                        // in-place update does not count.
                        s.split_once('/')
                            .and_then(|(ns, n)| lookup(ns, n))
                            .is_some_and(|t| {
                                t.status.as_ref().is_some_and(|st| {
                                    st.observed_generation == t.metadata.generation
                                        && status::is_true(&st.conditions, READY)
                                })
                            })
                    });
                let live_children = super::tenant::children_of(t, &ctx.tenants)
                    .iter()
                    .filter_map(|r| ctx.tenants.get(r))
                    .filter(|c| c.metadata.deletion_timestamp.is_none())
                    .count();
                let facts = Facts {
                    ready,
                    held,
                    secrets_adopted: adopted.contains(&p.tenant),
                    partial: p.partial,
                    others_ready,
                    live_children,
                    host_taker_pending: host_taker_pending(ctx, tenant, p, &lookup),
                };
                match decide(&p.tenant, &facts) {
                    Decision::Retire => retire(ctx, tenant, t).await?,
                    Decision::Wait { reason, message } => waiting.push((reason, message)),
                }
            }
        }
    }
    // Waiting for approval, or for the successor taking a divided predecessor whole, is ended
    // by an event that wakes this tenant (the plan's phase, the predecessor's deletion).
    progress.blocked_only = waiting
        .iter()
        .all(|(r, _)| *r == AWAITING_APPROVAL || *r == "RetiredByOtherSuccessor");
    // Problems only the user can fix come first: they are what the condition must say, and
    // they are told once, when the condition starts saying it.
    if let Some((reason, msg)) = blocked.first()
        && status::condition(&status.conditions, PREDECESSORS_RETIRED)
            .is_none_or(|c| c.reason != *reason)
    {
        publish(ctx, tenant, EventType::Warning, reason, msg).await;
    }
    progress.waiting = blocked.into_iter().chain(waiting).collect();
    record_progress(status, Some(&progress), generation, now);
    Ok((progress.pending > 0 && !progress.blocked_only && ready && !held).then_some(RECHECK))
}

/// For a `hostTaken` predecessor: the tenant declaring the new unit that answers at its host
/// name, while that tenant is not Ready at its current generation. `None` when there is no
/// such unit or no tenant declares it on the platform (nobody will serve the name).
fn host_taker_pending(
    ctx: &Context,
    successor: &Tenant,
    p: &Predecessor,
    lookup: &dyn Fn(&str, &str) -> Option<Arc<Tenant>>,
) -> Option<String> {
    if !p.host_taken {
        return None;
    }
    let (level, code) = crate::pipeline::host_taker(&resolve_predecessor(p)?)?;
    let taker = ctx
        .units
        .holder_of(&successor.spec.platform, level.as_str(), &code)?;
    let ready = taker
        .split_once('/')
        .and_then(|(ns, n)| lookup(ns, n))
        .is_some_and(|t| {
            t.status.as_ref().is_some_and(|st| {
                st.observed_generation == t.metadata.generation
                    && status::is_true(&st.conditions, READY)
            })
        });
    (!ready).then_some(taker)
}

/// Deletes the predecessor Tenant: its finalizer deletes its objects. The successor's Ingress
/// already answers its host names.
async fn retire(ctx: &Context, successor: &Tenant, predecessor: &Tenant) -> Result<(), Error> {
    let (ns, name) = (
        predecessor.namespace().unwrap_or_default(),
        predecessor.name_any(),
    );
    let api: Api<Tenant> = Api::namespaced(ctx.client.clone(), &ns);
    match api.delete(&name, &DeleteParams::background()).await {
        Ok(_) => ctx.metrics.write("delete"),
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let msg = format!(
        "retired predecessor {ns}/{name}: this tenant serves its host names and holds its secrets; its objects are being deleted"
    );
    info!(successor = %key(successor), predecessor = %format!("{ns}/{name}"), "retired predecessor");
    publish(
        ctx,
        successor,
        EventType::Normal,
        "PredecessorRetired",
        &msg,
    )
    .await;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ReformStatus;

    fn tenant(ns: &str, name: &str, platform: &str, predecessors: &[&str]) -> Arc<Tenant> {
        Arc::new(super::super::test_tenants::successor(
            ns,
            name,
            platform,
            predecessors,
        ))
    }

    #[test]
    fn a_predecessor_re_declared_in_place_as_a_successor_is_gone_not_retired() {
        // Old xã Bát Tràng was split: its code lives on in place (same namespace/name) and a
        // part went to Long Biên, which must never delete the Tenant that lives on.
        let long_bien = tenant(
            "tinh-01",
            "phuong-long-bien",
            "dvc",
            &["tinh-01/xa-bat-trang"],
        );
        let kept = tenant("tinh-01", "xa-bat-trang", "dvc", &["tinh-01/xa-bat-trang"]);
        let lookup = |_: &str, _: &str| Some(kept.clone());
        let p = &long_bien.spec.predecessors[0];
        assert!(matches!(standing(&long_bien, p, &lookup), Standing::Gone));
        assert!(matches!(
            standing(&kept, &kept.spec.predecessors[0], &lookup),
            Standing::InPlace
        ));
    }

    #[test]
    fn a_predecessor_stands_in_place_gone_elsewhere_in_a_cycle_or_live() {
        let successor = tenant(
            "tinh-37",
            "ninh-binh",
            "dvc",
            &[
                "tinh-37/ninh-binh",
                "tinh-35/ha-nam",
                "tinh-36/nam-dinh",
                "tinh-99/gone",
                "tinh-38/loop",
                "tinh-79/ho-chi-minh",
            ],
        );
        let unit = |t: Arc<Tenant>, division: Option<&str>| {
            let mut t = (*t).clone();
            t.spec.unit.code = "35".into();
            t.spec.unit.division = division.map(Into::into);
            Arc::new(t)
        };
        let cache = [
            unit(tenant("tinh-35", "ha-nam", "dvc", &[]), Some("63")),
            unit(tenant("tinh-36", "nam-dinh", "vanban", &[]), Some("63")),
            unit(
                tenant("tinh-38", "loop", "dvc", &["tinh-37/ninh-binh"]),
                Some("63"),
            ),
            unit(tenant("tinh-79", "ho-chi-minh", "dvc", &[]), None),
        ];
        let lookup = |ns: &str, n: &str| {
            cache
                .iter()
                .find(|t| t.namespace().as_deref() == Some(ns) && t.name_any() == n)
                .cloned()
        };
        let s: Vec<Standing> = successor
            .spec
            .predecessors
            .iter()
            .map(|p| standing(&successor, p, &lookup))
            .collect();
        assert!(matches!(s[0], Standing::InPlace));
        assert!(matches!(s[1], Standing::Live(_)));
        assert!(matches!(&s[2], Standing::OtherPlatform(p) if p == "vanban"));
        assert!(matches!(s[3], Standing::Gone));
        assert!(matches!(s[4], Standing::Cycle));
        // Listed as unit 35 of the 63 division, the tenant declares 35 of the 34 (its default).
        assert!(matches!(&s[5], Standing::OtherUnit(d) if d.contains("34-province")));
    }

    #[test]
    fn retirement_waits_for_ready_approval_secrets_and_the_other_parts() {
        let all = || Facts {
            ready: true,
            held: false,
            secrets_adopted: true,
            partial: false,
            others_ready: true,
            live_children: 0,
            host_taker_pending: None,
        };
        assert_eq!(decide("a/b", &all()), Decision::Retire);
        let reason = |f: Facts| match decide("a/b", &f) {
            Decision::Wait { reason, .. } => reason,
            Decision::Retire => "Retire",
        };
        assert_eq!(
            reason(Facts {
                ready: false,
                ..all()
            }),
            "AwaitingReady"
        );
        assert_eq!(
            reason(Facts {
                held: true,
                ..all()
            }),
            AWAITING_APPROVAL
        );
        assert_eq!(
            reason(Facts {
                secrets_adopted: false,
                ..all()
            }),
            "AdoptingSecrets"
        );
        assert_eq!(
            reason(Facts {
                partial: true,
                ..all()
            }),
            "RetiredByOtherSuccessor"
        );
        assert_eq!(
            reason(Facts {
                others_ready: false,
                ..all()
            }),
            "AwaitingOtherSuccessors"
        );
        // A province goes after the communes that inherit from it.
        assert_eq!(
            reason(Facts {
                live_children: 3,
                ..all()
            }),
            "AwaitingChildren"
        );
        // A name another new unit took is served by that unit before its old holder goes.
        assert_eq!(
            reason(Facts {
                host_taker_pending: Some("tinh-79/xa-long-hoa-25792".into()),
                ..all()
            }),
            "AwaitingHostTaker"
        );
    }

    #[test]
    fn a_plan_not_counted_yet_or_awaiting_approval_is_held() {
        let mut t = (*tenant("tinh-37", "ninh-binh", "dvc", &[])).clone();
        let mut p = Platform::new("dvc", Default::default());
        // No plan annotation: a hand-written successor answers for itself.
        assert!(!plan_held(&p, &t));
        t.metadata.annotations =
            Some([(ANNOTATION_REFORM_PLAN.to_string(), "plan-1".to_string())].into());
        assert!(plan_held(&p, &t));
        let reform = |phase: &str| ReformStatus {
            plan: "plan-1".into(),
            phase: phase.into(),
            ..Default::default()
        };
        p.status = Some(crate::api::PlatformStatus {
            reforms: vec![reform(AWAITING_APPROVAL)],
            ..Default::default()
        });
        assert!(plan_held(&p, &t));
        p.status.as_mut().unwrap().reforms = vec![reform(RETIRING)];
        assert!(!plan_held(&p, &t));
    }

    #[test]
    fn progress_is_recorded_as_counts_and_one_condition() {
        let now = Time(k8s_openapi::jiff::Timestamp::from_second(10).unwrap());
        let mut s = TenantStatus::default();
        let waiting = Progress {
            retired: 1,
            pending: 2,
            waiting: vec![
                ("PredecessorCycle", "x".into()),
                ("AwaitingReady", "y".into()),
            ],
            blocked_only: false,
        };
        record_progress(&mut s, Some(&waiting), Some(1), &now);
        assert_eq!(
            (s.predecessors_retired, s.predecessors_pending),
            (Some(1), Some(2))
        );
        let c = status::condition(&s.conditions, PREDECESSORS_RETIRED).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "PredecessorCycle")
        );
        assert!(c.message.contains("1 more"));
        record_progress(
            &mut s,
            Some(&Progress {
                retired: 3,
                ..Default::default()
            }),
            Some(1),
            &now,
        );
        assert!(status::is_true(&s.conditions, PREDECESSORS_RETIRED));
        record_progress(&mut s, None, Some(1), &now);
        assert!(s.conditions.is_empty() && s.predecessors_pending.is_none());
    }
}
