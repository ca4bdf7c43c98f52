//! A reconcile's outcome turned into the tenant's status: the conditions (Rendered, Applied,
//! Conflict, Degraded, Ready and kstatus' Reconciling/Stalled), the revision, the objects and the
//! endpoint. Apart from the reconcile because every step that stops early ends here.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::{ObjectReference, TenantStatus};
use crate::pipeline::RenderedTenant;
use crate::status::{self, APPLIED, CONFLICT, DEGRADED, Progress, READY, RENDERED};

/// The outcome of one reconcile, turned into a status.
pub(super) struct Outcome {
    failed: Option<(&'static str, String, String)>, // condition, reason, message
    /// The failure goes away by retrying (API server trouble): `Reconciling`, not `Stalled`.
    transient: bool,
    rendered: Option<(String, String, Vec<ObjectReference>, Option<String>)>, // revision, hash, objects, endpoint
}

impl Outcome {
    pub(super) fn failed(condition: &'static str, reason: &str, message: String) -> Self {
        Outcome {
            failed: Some((condition, reason.to_string(), message)),
            transient: false,
            rendered: None,
        }
    }

    /// A failure the operator retries on its own.
    pub(super) fn retrying(condition: &'static str, reason: &str, message: String) -> Self {
        Outcome {
            transient: true,
            ..Outcome::failed(condition, reason, message)
        }
    }

    pub(super) fn applied(r: &RenderedTenant, objects: Vec<ObjectReference>) -> Self {
        Outcome {
            failed: None,
            transient: false,
            rendered: Some((r.revision.clone(), r.hash.clone(), objects, endpoint(r))),
        }
    }

    pub(super) fn finish(
        self,
        old: &TenantStatus,
        generation: Option<i64>,
        now: &Time,
    ) -> TenantStatus {
        let mut s = old.clone();
        s.observed_generation = generation;
        let c = &mut s.conditions;
        match self.failed {
            Some((condition, reason, message)) => {
                let had_objects = !old.objects.is_empty();
                if condition == CONFLICT {
                    status::set_condition(c, CONFLICT, true, &reason, &message, generation, now);
                    status::set_condition(c, RENDERED, false, &reason, &message, generation, now);
                } else {
                    status::clear_condition(c, CONFLICT);
                    if condition == RENDERED {
                        status::set_condition(
                            c, RENDERED, false, &reason, &message, generation, now,
                        );
                    } else {
                        status::set_condition(c, RENDERED, true, "Rendered", "", generation, now);
                        status::set_condition(
                            c, APPLIED, false, &reason, &message, generation, now,
                        );
                    }
                }
                let degraded_msg = if had_objects {
                    "the previously applied objects are kept until the problem is fixed"
                } else {
                    "nothing has been applied yet"
                };
                status::set_condition(c, DEGRADED, true, &reason, degraded_msg, generation, now);
                status::set_condition(c, READY, false, &reason, &message, generation, now);
                let progress = if self.transient {
                    Progress::Working {
                        reason: &reason,
                        message: &message,
                    }
                } else {
                    Progress::Stuck {
                        reason: &reason,
                        message: &message,
                    }
                };
                status::set_progress(c, progress, generation, now);
                s.last_error = Some(message);
            }
            None => {
                let (revision, hash, objects, endpoint) = self.rendered.unwrap_or_default();
                status::clear_condition(c, CONFLICT);
                status::set_condition(c, RENDERED, true, "Rendered", "", generation, now);
                let msg = format!("{} object(s) applied", objects.len());
                status::set_condition(c, APPLIED, true, "Applied", &msg, generation, now);
                status::set_condition(c, DEGRADED, false, "AsDeclared", "", generation, now);
                status::set_condition(
                    c,
                    READY,
                    true,
                    "Ready",
                    &format!("revision {revision}"),
                    generation,
                    now,
                );
                status::set_progress(c, Progress::Settled, generation, now);
                s.revision = Some(revision);
                s.applied_hash = Some(hash);
                if !objects.is_empty() {
                    s.objects = objects;
                }
                s.endpoint = endpoint;
                s.last_error = None;
            }
        }
        s
    }
}

/// The tenant's public URL, from its first Ingress rule.
fn endpoint(r: &RenderedTenant) -> Option<String> {
    let ing = r.objects.iter().find(|o| o.kind() == "Ingress")?;
    let host = ing.object.pointer("/spec/rules/0/host")?.as_str()?;
    let tls = ing
        .object
        .pointer("/spec/tls")
        .and_then(|t| t.as_array())
        .is_some_and(|t| !t.is_empty());
    Some(format!("{}://{host}", if tls { "https" } else { "http" }))
}
