//! PlatformRevision snapshots: one immutable, cluster-scoped object per distinct platform
//! content, owned by the Platform (so the garbage collector removes them with it). Tenants a
//! rollout has not reached render against the snapshot of the revision they are on, and the
//! compiled snapshots are cached by name: they never change.

use std::collections::BTreeSet;
use std::sync::Arc;

use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{Resource, ResourceExt};
use tracing::info;

use super::{Context, Error};
use crate::api::{Platform, PlatformRevision, PlatformRevisionSpec, PlatformStatus};
use crate::pipeline::CompiledPlatform;

/// Label selecting a platform's snapshots.
pub const LABEL_PLATFORM: &str = "khaibao.dev/platform";
/// Snapshots kept beyond the ones the status refers to.
const KEEP_NEWEST: usize = 5;
/// Compiled snapshots kept in memory.
const CACHE_LIMIT: usize = 16;

/// Creates the snapshot of `compiled` (the platform as it is now) unless it exists.
pub async fn ensure_snapshot(
    ctx: &Context,
    platform: &Platform,
    compiled: &CompiledPlatform,
) -> Result<(), Error> {
    let name = PlatformRevision::name_for(&platform.name_any(), &compiled.revision);
    if ctx.snapshot_known(&name) {
        return Ok(());
    }
    let api: Api<PlatformRevision> = Api::all(ctx.client.clone());
    if api.get_metadata_opt(&name).await?.is_none() {
        let mut content = platform.spec.clone();
        content.rollout = None;
        let snapshot = PlatformRevision {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([(LABEL_PLATFORM.to_string(), platform.name_any())].into()),
                // No blockOwnerDeletion: that would need `update` on platforms/finalizers,
                // and nothing has to wait for a snapshot to go.
                owner_references: platform.controller_owner_ref(&()).map(|mut r| {
                    r.block_owner_deletion = None;
                    vec![r]
                }),
                ..Default::default()
            },
            spec: PlatformRevisionSpec {
                platform: platform.name_any(),
                revision: compiled.revision.clone(),
                content,
                renderer: Some(compiled.epoch),
            },
        };
        match api.create(&PostParams::default(), &snapshot).await {
            Ok(_) => {
                ctx.metrics.write("create");
                info!(platform = %platform.name_any(), revision = %compiled.revision, "snapshot created");
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    ctx.remember_snapshot(&name);
    Ok(())
}

/// Whether the snapshot of `revision` exists.
pub async fn snapshot_exists(ctx: &Context, platform: &str, revision: &str) -> Result<bool, Error> {
    let name = PlatformRevision::name_for(platform, revision);
    if ctx.snapshot_known(&name) {
        return Ok(true);
    }
    let api: Api<PlatformRevision> = Api::all(ctx.client.clone());
    let found = api.get_metadata_opt(&name).await?.is_some();
    if found {
        ctx.remember_snapshot(&name);
    }
    Ok(found)
}

/// The platform compiled at `revision`: the live platform when it is at that revision, else its
/// snapshot. The inner `Err` is the message a tenant's status shows.
pub async fn compiled_at(
    ctx: &Context,
    platform: &Platform,
    revision: &str,
) -> Result<Result<Arc<CompiledPlatform>, String>, Error> {
    if let Ok(live) = ctx.compiled(platform)
        && live.revision == revision
    {
        return Ok(Ok(live));
    }
    let name = PlatformRevision::name_for(&platform.name_any(), revision);
    if let Some(c) = ctx.cached_snapshot(&name) {
        return Ok(c);
    }
    let api: Api<PlatformRevision> = Api::all(ctx.client.clone());
    let Some(snapshot) = api.get_opt(&name).await? else {
        return Ok(Err(format!(
            "the snapshot of platform {} at revision {revision} (PlatformRevision {name}) is missing; \
             the platform's next rollout moves this tenant off it",
            platform.name_any()
        )));
    };
    let at_revision = Platform {
        metadata: platform.metadata.clone(),
        spec: snapshot.spec.content,
        status: None,
    };
    // At the epoch it was made with: a tenant the rollout has not reached renders what an older
    // operator rendered for it, so an upgrade alone rewrites nothing.
    let epoch = snapshot.spec.renderer.unwrap_or(1);
    let compiled = CompiledPlatform::compile_at(&at_revision, epoch)
        .map(Arc::new)
        .map_err(|problems| crate::diagnostics::summary(&problems, crate::diagnostics::Lang::En))
        .and_then(|c| {
            if c.revision == revision {
                Ok(c)
            } else {
                Err(format!(
                    "PlatformRevision {name} was edited: its content is revision {}, not {revision}",
                    c.revision
                ))
            }
        });
    ctx.cache_snapshot(&name, compiled.clone(), CACHE_LIMIT);
    Ok(compiled)
}

/// Deletes the platform's snapshots that no status refers to, keeping the newest few.
pub async fn prune_snapshots(
    ctx: &Context,
    platform: &str,
    status: &PlatformStatus,
) -> Result<(), Error> {
    let api: Api<PlatformRevision> = Api::all(ctx.client.clone());
    let mut all = api
        .list_metadata(&ListParams::default().labels(&format!("{LABEL_PLATFORM}={platform}")))
        .await?
        .items;
    let mut keep: BTreeSet<String> = [&status.revision, &status.previous_revision]
        .into_iter()
        .flatten()
        .chain(status.rollout.iter().flat_map(|r| [&r.from, &r.to]))
        .map(|rev| PlatformRevision::name_for(platform, rev))
        .collect();
    all.sort_by(|a, b| {
        b.metadata
            .creation_timestamp
            .cmp(&a.metadata.creation_timestamp)
    });
    keep.extend(all.iter().take(KEEP_NEWEST).map(|m| m.name_any()));
    for m in all.iter().filter(|m| !keep.contains(&m.name_any())) {
        match api.delete(&m.name_any(), &DeleteParams::background()).await {
            Ok(_) => ctx.metrics.write("delete"),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
        ctx.forget_snapshot(&m.name_any());
    }
    Ok(())
}
