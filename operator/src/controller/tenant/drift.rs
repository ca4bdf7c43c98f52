//! Whether a tenant's objects are still as its last apply left them (nothing changed, deleted or
//! stale since), which spares a resync every write, and the events when an apply repaired them.
//! Apart from the reconcile because telling our own writes on their way from somebody else's
//! change is the subtle part, and is tested on its own.

use std::collections::HashSet;

use kube::runtime::events::EventType;

use crate::api::{ObjectReference, Tenant, TenantStatus};
use crate::controller::Context;
use crate::controller::context::APPLIED_KEPT;
use crate::controller::owned_index::OwnedMeta;
use crate::controller::writes::publish;
use crate::pipeline::RenderedTenant;

/// The last apply of exactly the desired objects a reconcile has just rendered.
pub(super) struct Recorded {
    /// The objects with the resourceVersions written.
    pub(super) objects: Vec<ObjectReference>,
    /// For an apply made by this process, with none of the tenant's objects deleted since: the
    /// index's sequence number before its writes and the generated secrets that existed. What
    /// the index still shows older than that number is our own writes on their way, not drift.
    pub(super) in_flight: Option<(u64, Vec<String>)>,
}

/// The last apply of exactly these desired objects, if they were applied before. What was
/// applied is remembered in memory (the status written after an apply may not be in the cache
/// yet) and in status (after a restart).
pub(super) fn recorded_objects(
    ctx: &Context,
    owner: &str,
    old: &TenantStatus,
    rendered: &RenderedTenant,
) -> Option<Recorded> {
    match ctx.applied(owner) {
        Some(a) if a.hash == rendered.hash && a.at.elapsed() < APPLIED_KEPT => Some(Recorded {
            in_flight: (!ctx.index.deleted_since(owner, a.seq)).then_some((a.seq, a.secrets)),
            objects: a.objects,
        }),
        _ if old.applied_hash.as_deref() == Some(rendered.hash.as_str()) => Some(Recorded {
            objects: old.objects.clone(),
            in_flight: None,
        }),
        _ => None,
    }
}

/// True when there is nothing to write: the recorded objects are still as applied (nobody
/// changed or deleted them since), the generated secrets exist and nothing stale is left.
pub(super) fn up_to_date(
    recorded: &Recorded,
    rendered: &RenderedTenant,
    owned: &[OwnedMeta],
) -> bool {
    let desired: HashSet<(&str, &str)> = rendered
        .objects
        .iter()
        .map(|o| (o.kind(), o.name()))
        .collect();
    let secrets: HashSet<(&str, &str)> = rendered
        .generated_secrets
        .iter()
        .map(|o| (o.kind(), o.name()))
        .collect();
    let all_present = rendered.objects.iter().all(|o| {
        let rv = recorded
            .objects
            .iter()
            .find(|r| r.kind == o.kind() && r.name == o.name())
            .and_then(|r| r.resource_version.as_deref());
        let seen = owned
            .iter()
            .find(|m| &*m.kind == o.kind() && &*m.name == o.name());
        still_as_written(rv, seen, recorded.in_flight.as_ref().map(|(seq, _)| *seq))
    });
    let secrets_present = secrets.iter().all(|(k, n)| {
        owned.iter().any(|m| &*m.kind == *k && &*m.name == *n)
            || recorded
                .in_flight
                .as_ref()
                .is_some_and(|(_, known)| known.iter().any(|s| s == n))
    });
    let nothing_stale = owned.iter().all(|m| {
        desired.contains(&(&*m.kind, &*m.name)) || secrets.contains(&(&*m.kind, &*m.name))
    });
    all_present && secrets_present && nothing_stale
}

/// Whether an object we wrote with resourceVersion `written` is still as we wrote it, given what
/// the index shows of it (`seen`) and, for a write of this process with nothing deleted since,
/// the index's sequence number before the write.
fn still_as_written(written: Option<&str>, seen: Option<&OwnedMeta>, before: Option<u64>) -> bool {
    match (seen, before) {
        (Some(m), _) if written == Some(m.resource_version.as_str()) => true,
        // Not in the index yet, or only as it was before our write: its event is on the way.
        (m, Some(seq)) => written.is_some() && m.is_none_or(|m| m.seen <= seq),
        _ => false,
    }
}

/// Events for what an apply repaired: objects changed or deleted by hand since the recorded
/// apply, and objects no longer rendered.
pub(super) async fn report_repairs(
    ctx: &Context,
    tenant: &Tenant,
    recorded: Option<&Recorded>,
    objects: &[ObjectReference],
    created: usize,
    pruned: usize,
) {
    // Restored: the same desired objects had been applied, and applying them again changed or
    // recreated something. A re-apply only because the index had not yet seen our own last
    // write is a no-op (same resourceVersion) and is not reported.
    let restored = recorded.is_some_and(|recorded| {
        created > 0
            || objects.iter().any(|o| {
                recorded
                    .objects
                    .iter()
                    .find(|r| r.kind == o.kind && r.name == o.name)
                    .map(|r| &r.resource_version)
                    != Some(&o.resource_version)
            })
    });
    if restored {
        publish(
            ctx,
            tenant,
            EventType::Normal,
            "Restored",
            "objects changed or deleted by hand were restored",
        )
        .await;
    }
    if pruned > 0 {
        publish(
            ctx,
            tenant,
            EventType::Normal,
            "Pruned",
            &format!("deleted {pruned} object(s) no longer rendered"),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(rv: &str, seen: u64) -> OwnedMeta {
        OwnedMeta {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "dichvucong".into(),
            name: "ha-noi-config".into(),
            resource_version: rv.into(),
            generated_secret: false,
            seen,
        }
    }

    #[test]
    fn our_own_writes_on_their_way_are_not_drift_but_later_changes_are() {
        // The index shows exactly what we wrote.
        assert!(still_as_written(Some("7"), Some(&seen("7", 3)), None));
        // After a restart (no record of the sequence) a different version is drift.
        assert!(!still_as_written(Some("7"), Some(&seen("5", 3)), None));
        assert!(!still_as_written(Some("7"), None, None));
        // Our write began at sequence 4: the index still holds an older version, or nothing.
        assert!(still_as_written(Some("7"), Some(&seen("5", 3)), Some(4)));
        assert!(still_as_written(Some("7"), None, Some(4)));
        // A version the index took in after our write began is somebody else's change.
        assert!(!still_as_written(Some("7"), Some(&seen("9", 5)), Some(4)));
        // Nothing recorded as written: never up to date.
        assert!(!still_as_written(None, None, Some(4)));
    }
}
