//! The retirement rule: what a successor must know of one live predecessor (`Facts`) and what
//! that allows (`decide`), plus whether the reform plan is held for approval. Pure, apart from
//! the step that gathers the facts, so that the order of the checks reads and is tested alone.

use kube::ResourceExt;

use super::AWAITING_APPROVAL;
use crate::api::{ANNOTATION_REFORM_PLAN, Platform, Tenant};

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
