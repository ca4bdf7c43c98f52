//! Status conditions, computed without a clock: callers pass `now`. A condition keeps its
//! `lastTransitionTime` while its status does not change, so writing the same state twice
//! produces an identical status and the operator can skip the write.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub const READY: &str = "Ready";
pub const RENDERED: &str = "Rendered";
pub const APPLIED: &str = "Applied";
pub const DEGRADED: &str = "Degraded";
pub const CONFLICT: &str = "Conflict";
/// kstatus' abnormal-true conditions (sigs.k8s.io/cli-utils, read by Flux, kpt and our Argo CD
/// health script): work in progress, or stuck until someone changes something.
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

/// Where an object's reconciliation stands, for the kstatus conditions.
pub enum Progress<'a> {
    /// Converged (Ready), or at rest: neither condition is set.
    Settled,
    /// Work under way or retried: `Reconciling=True`.
    Working { reason: &'a str, message: &'a str },
    /// Cannot go on without a change to a spec or template: `Stalled=True`.
    Stuck { reason: &'a str, message: &'a str },
}

/// Sets `Reconciling`/`Stalled` from `progress`. Both are removed rather than set `False` when
/// settled: kstatus reads absent as false, and 10,000 tenants carry two conditions fewer.
pub fn set_progress(
    conditions: &mut Vec<Condition>,
    progress: Progress<'_>,
    generation: Option<i64>,
    now: &Time,
) {
    match progress {
        Progress::Settled => {
            clear_condition(conditions, RECONCILING);
            clear_condition(conditions, STALLED);
        }
        Progress::Working { reason, message } => {
            clear_condition(conditions, STALLED);
            set_condition(
                conditions,
                RECONCILING,
                true,
                reason,
                message,
                generation,
                now,
            );
        }
        Progress::Stuck { reason, message } => {
            clear_condition(conditions, RECONCILING);
            set_condition(conditions, STALLED, true, reason, message, generation, now);
        }
    }
}

/// Sets (or adds) condition `type_`, keeping its transition time when the status is unchanged.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) {
    let status = if status { "True" } else { "False" };
    let transition = conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    let new = Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        observed_generation: generation,
        last_transition_time: transition,
    };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => *c = new,
        None => conditions.push(new),
    }
}

/// Removes condition `type_` if present.
pub fn clear_condition(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

/// The condition of `type_`, if set.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when condition `type_` is set and `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    condition(conditions, type_).is_some_and(|c| c.status == "True")
}

/// `Ready=False` and `Stalled=True` with the same reason and message: nothing moves until
/// someone changes the object or the cluster's set-up.
pub fn set_stalled(
    conditions: &mut Vec<Condition>,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) {
    set_condition(conditions, READY, false, reason, message, generation, now);
    set_progress(
        conditions,
        Progress::Stuck { reason, message },
        generation,
        now,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn progress_never_leaves_reconciling_and_stalled_both_true() {
        let mut c = Vec::new();
        let working = Progress::Working {
            reason: "Applying",
            message: "",
        };
        set_progress(&mut c, working, Some(1), &at(1));
        assert!(is_true(&c, RECONCILING) && condition(&c, STALLED).is_none());
        let stuck = Progress::Stuck {
            reason: "RenderFailed",
            message: "bad template",
        };
        set_progress(&mut c, stuck, Some(1), &at(2));
        assert!(is_true(&c, STALLED) && condition(&c, RECONCILING).is_none());
        assert_eq!(condition(&c, STALLED).unwrap().message, "bad template");
        set_progress(&mut c, Progress::Settled, Some(2), &at(3));
        assert!(c.is_empty());
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let mut c = Vec::new();
        set_condition(&mut c, READY, false, "Rendering", "", Some(1), &at(10));
        set_condition(&mut c, READY, false, "Applying", "x", Some(1), &at(20));
        assert_eq!(c[0].last_transition_time, at(10));
        assert_eq!(c[0].reason, "Applying");
        set_condition(&mut c, READY, true, "Ready", "", Some(2), &at(30));
        assert_eq!(c[0].last_transition_time, at(30));
        assert!(is_true(&c, READY));
        assert_eq!(c.len(), 1);
        clear_condition(&mut c, READY);
        assert!(c.is_empty());
    }
}
