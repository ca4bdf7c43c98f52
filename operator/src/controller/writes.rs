//! The writes every controller shares: a Kubernetes event, and a status patch made only when
//! the status changed (as a merge patch from the stored status, so removed fields are cleared).

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::warn;

use super::{Context, Error};

/// Publishes an event about `obj` (note truncated to what the API accepts).
pub async fn publish<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: "Reconcile".into(),
        secondary: None,
    };
    match ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
        Ok(()) => ctx.metrics.write("event"),
        Err(e) => warn!(object = %obj.name_any(), error = %e, "could not publish event"),
    }
}

/// Writes `new` as the status of `name` when it differs from `old`, the stored one.
pub async fn patch_status_if_changed<K, S>(
    api: &Api<K>,
    ctx: &Context,
    name: &str,
    old: &S,
    new: &S,
) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    S: Serialize + PartialEq,
{
    if old == new {
        return Ok(());
    }
    let old = serde_json::to_value(old).map_err(kube::Error::SerdeError)?;
    let new = serde_json::to_value(new).map_err(kube::Error::SerdeError)?;
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": super::merge_patch(&old, &new)})),
    )
    .await?;
    ctx.metrics.write("patch_status");
    Ok(())
}
