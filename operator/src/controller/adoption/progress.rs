//! How a successor's predecessors stand after a pass, and how that is written in its status
//! (counts and the `PredecessorsRetired` condition). Apart from the step because it is the
//! only part that writes status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::PREDECESSORS_RETIRED;
use crate::api::TenantStatus;
use crate::status;

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
