//! The deletes of the Tenant controller: objects a tenant no longer renders (pruning), and all
//! of them when the tenant is deleted, before its finalizer is released. `delete_object` is
//! shared with the Platform controller and adoption, which delete owned objects the same way.

use std::collections::HashSet;

use kube::ResourceExt;
use kube::api::{Api, DeleteParams, DynamicObject};
use kube::runtime::controller::Action;
use tracing::info;

use super::{FINALIZER, owner_key};
use crate::api::Tenant;
use crate::controller::owned_index::OwnedMeta;
use crate::controller::{Context, Error, adoption, finalizers};
use crate::pipeline::{CompiledPlatform, RenderedTenant};

/// Deletes objects this tenant owns that it no longer renders. Returns how many.
pub(super) async fn prune_stale_objects(
    ctx: &Context,
    platform: &CompiledPlatform,
    rendered: &RenderedTenant,
    owned: &[OwnedMeta],
) -> Result<usize, Error> {
    // Old Secrets of an in-place move to another code: adoption deletes them once copied.
    let adopting = adoption::kept_for_adoption(platform, rendered);
    let keep: HashSet<(&str, &str)> = rendered
        .objects
        .iter()
        .chain(&rendered.generated_secrets)
        .map(|o| (o.kind(), o.name()))
        .chain(adopting.iter().map(|n| ("Secret", n.as_str())))
        .collect();
    let mut pruned = 0;
    for m in owned
        .iter()
        .filter(|m| !keep.contains(&(&*m.kind, &*m.name)))
    {
        delete_object(ctx, m).await?;
        pruned += 1;
    }
    Ok(pruned)
}

pub(in crate::controller) async fn delete_object(
    ctx: &Context,
    m: &OwnedMeta,
) -> Result<(), Error> {
    let ar = ctx
        .resolver
        .resolve(&ctx.client, &m.api_version, &m.kind)
        .await?;
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &m.namespace, &ar);
    match api.delete(&m.name, &DeleteParams::background()).await {
        Ok(_) => {
            ctx.metrics.write("delete");
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Deletion: remove everything the tenant owns, then release the finalizer. Works when the
/// platform or the objects are already gone.
pub(super) async fn delete_owned_objects(
    tenant: &Tenant,
    ctx: &Context,
    api: &Api<Tenant>,
) -> Result<Action, Error> {
    let owner = owner_key(&tenant.namespace().unwrap_or_default(), &tenant.name_any());
    for m in ctx.index.objects_of(&owner) {
        delete_object(ctx, &m).await?;
    }
    ctx.forget_applied(&owner);
    if finalizers::remove(api, tenant, FINALIZER).await? {
        ctx.metrics.write("patch");
    }
    info!(tenant = %owner, "deleted its objects and released the finalizer");
    Ok(Action::await_change())
}
