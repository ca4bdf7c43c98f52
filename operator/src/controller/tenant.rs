//! The Tenant controller. A reconcile is a list of named steps:
//! load platform (+ parent) → render with the shared pipeline → skip if nothing changed or
//! drifted → server-side apply → prune what is no longer rendered → create generated secrets
//! once → write status only if it changed. Deletion removes the tenant's objects by owner and
//! then releases the finalizer. Killing the operator at any line is safe: every step recomputes
//! from the cluster.
//!
//! The steps are in `tenant/`, named by what they hold: `inputs` (platform and parent),
//! `drift` (whether anything changed since the last apply), `apply` (the writes), `delete`
//! (pruning and deletion), `outcome` (the status); what wakes a tenant is in `wiring`.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use super::context::Applied;
use super::writes::{patch_status_if_changed, publish};
use super::{Context, Error, finalizers};
use crate::api::{Level, Tenant};
use crate::status::{APPLIED, CONFLICT, RENDERED};

mod apply;
mod delete;
mod drift;
mod inputs;
mod outcome;
mod wiring;

use apply::{apply_desired_objects, create_generated_secrets};
use delete::{delete_owned_objects, prune_stale_objects};
use drift::{recorded_objects, report_repairs, up_to_date};
pub(super) use inputs::load_parent;
use inputs::{load_platform, platform_exists, wait_for_revision};
use outcome::Outcome;

pub(super) use delete::delete_object;
pub(super) use wiring::controller;

pub const FINALIZER: &str = "khaibao.dev/tenant-objects";

/// Identity of a tenant in the owned-object index.
pub fn owner_key(namespace: &str, name: &str) -> String {
    format!("tenant/{namespace}/{name}")
}

pub async fn reconcile(tenant: Arc<Tenant>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = tenant.namespace().unwrap_or_default();
    let name = tenant.name_any();
    let api: Api<Tenant> = Api::namespaced(ctx.client.clone(), &ns);
    if !ctx.caches_ready() {
        return Err(Error::NotReady);
    }
    if tenant.meta().deletion_timestamp.is_some() {
        return delete_owned_objects(&tenant, &ctx, &api).await;
    }
    if finalizers::ensure(&api, tenant.as_ref(), FINALIZER).await? {
        // Carry on in this reconcile: the finalizer is stored, and waiting for its watch event
        // to come back would cost every new tenant one more trip through the queue.
        ctx.metrics.write("patch");
    }
    if tenant.spec.suspend {
        return Ok(Action::await_change());
    }
    if let Some(successor) = super::adoption::replaced_by_same_names(&ctx, &tenant) {
        info!(tenant = %super::object_key(tenant.as_ref()), %successor, "replaced by a successor with the same object names; no longer applied");
        return Ok(Action::await_change());
    }
    let owner = owner_key(&ns, &name);
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let old = super::writes::status_base::<Tenant, _>(
        &ctx,
        &ns,
        &name,
        tenant.status.clone().unwrap_or_default(),
    );

    let platform = match load_platform(&tenant, &ctx) {
        Ok(p) => p,
        // Created a moment ago and not in the cache yet (a fleet applied right after its
        // platform): not worth a false PlatformNotFound in the status.
        Err(_) if platform_exists(&ctx, &tenant.spec.platform).await? => {
            return Ok(Action::requeue(Duration::from_secs(1)));
        }
        Err(status) => {
            let status = status.finish(&old, tenant.meta().generation, &now);
            patch_status_if_changed(&api, &ctx, &name, &old, &status).await?;
            return Ok(Action::requeue(Duration::from_secs(60)));
        }
    };
    // The platform's rollout decides which revision this tenant renders; until the Platform
    // controller has reconciled once (namespace, shared objects, revision) there is none.
    let Some(target) = platform
        .status
        .as_ref()
        .and_then(|s| crate::rollout::assigned_revision(s, &super::object_key(tenant.as_ref())))
        .map(str::to_string)
    else {
        return wait_for_revision(&api, &ctx, &tenant, &platform, &name, &old, &now).await;
    };
    let finish = |outcome: Outcome| {
        let mut s = outcome.finish(&old, tenant.meta().generation, &now);
        s.target_revision = Some(target.clone());
        s
    };
    let held = super::adoption::plan_held(&platform, &tenant);
    let platform = match super::revisions::compiled_at(&ctx, &platform, &target).await? {
        Ok(p) => p,
        Err(msg) => {
            let status = finish(Outcome::failed(RENDERED, "PlatformInvalid", msg));
            patch_status_if_changed(&api, &ctx, &name, &old, &status).await?;
            return Ok(Action::requeue(Duration::from_secs(60)));
        }
    };
    let parent = load_parent(&tenant, &ctx);
    if let Some(holder) = ctx
        .units
        .declared_before(&tenant)
        .filter(|h| !tenant.spec.predecessors.iter().any(|p| p.tenant == *h))
    {
        let msg = format!(
            "unit {} ({}) is already declared on platform {} by tenant {holder}; nothing was applied",
            tenant.spec.unit.code, tenant.spec.unit.name, tenant.spec.platform
        );
        publish(&ctx, tenant.as_ref(), EventType::Warning, "Conflict", &msg).await;
        let status = finish(Outcome::failed(CONFLICT, "DuplicateUnit", msg));
        patch_status_if_changed(&api, &ctx, &name, &old, &status).await?;
        return Ok(Action::requeue(ctx.resync));
    }
    let rendered = match platform.render_tenant(&tenant, parent.as_deref()) {
        Ok(r) => r,
        Err(problems) => {
            // Same words as `khaibao validate`; the previously applied objects stay untouched.
            let msg = crate::diagnostics::summary(&problems, crate::diagnostics::Lang::En);
            if old.last_error.as_deref() != Some(msg.as_str()) {
                publish(
                    &ctx,
                    tenant.as_ref(),
                    EventType::Warning,
                    "RenderFailed",
                    &msg,
                )
                .await;
            }
            let status = finish(Outcome::failed(
                RENDERED,
                problems.first().map(|d| d.reason).unwrap_or("RenderFailed"),
                msg,
            ));
            patch_status_if_changed(&api, &ctx, &name, &old, &status).await?;
            return Ok(Action::await_change());
        }
    };
    let owned = ctx.index.objects_of(&owner);
    let recorded = recorded_objects(&ctx, &owner, &old, &rendered);
    if let Some(recorded) = &recorded
        && up_to_date(recorded, &rendered, &owned)
    {
        let mut status = finish(Outcome::applied(&rendered, recorded.objects.clone()));
        let again = super::adoption::retire_predecessors(
            &ctx,
            &tenant,
            held,
            &platform,
            &rendered,
            &mut status,
            &now,
        )
        .await?;
        patch_status_if_changed(&api, &ctx, &name, &old, &status).await?;
        return Ok(Action::requeue(again.unwrap_or(ctx.resync)));
    }
    // Noted before writing: whatever the index takes in after this is newer than our writes.
    let seq = ctx.index.seq();
    let known_secrets = recorded
        .as_ref()
        .and_then(|r| r.in_flight.as_ref())
        .map(|(_, s)| s.as_slice())
        .unwrap_or_default();
    // The generated secrets do not depend on the other objects: created in the same round
    // trip.
    let (applied, created) = futures::join!(
        apply_desired_objects(&ctx, &platform, &rendered),
        create_generated_secrets(&ctx, &platform, &rendered, &owned, known_secrets)
    );
    let objects = match applied {
        Ok(o) => o,
        Err(e) => {
            let msg = e.to_string();
            warn!(tenant = %owner, error = %msg, "apply failed");
            let outcome = if e.is_transient() {
                Outcome::retrying(APPLIED, "ApplyFailed", msg)
            } else {
                Outcome::failed(APPLIED, "ApplyFailed", msg)
            };
            let status = finish(outcome);
            patch_status_if_changed(&api, &ctx, &name, &old, &status).await?;
            return Err(e);
        }
    };
    let created = created?;
    let pruned = prune_stale_objects(&ctx, &platform, &rendered, &owned).await?;
    ctx.remember_applied(
        &owner,
        Applied {
            hash: rendered.hash.clone(),
            objects: objects.clone(),
            secrets: rendered
                .generated_secrets
                .iter()
                .map(|o| o.name().to_string())
                .collect(),
            seq,
            at: std::time::Instant::now(),
        },
    );
    report_repairs(&ctx, &tenant, recorded.as_ref(), &objects, created, pruned).await;
    info!(tenant = %owner, revision = %rendered.revision, objects = objects.len(), pruned, "applied");
    let mut status = finish(Outcome::applied(&rendered, objects));
    let again = super::adoption::retire_predecessors(
        &ctx,
        &tenant,
        held,
        &platform,
        &rendered,
        &mut status,
        &now,
    )
    .await?;
    patch_status_if_changed(&api, &ctx, &name, &old, &status).await?;
    Ok(Action::requeue(again.unwrap_or(ctx.resync)))
}

/// Communes whose parent is `tenant` (they re-render when their province changes).
pub fn children_of(
    tenant: &Tenant,
    ctx_tenants: &kube::runtime::reflector::Store<Tenant>,
) -> Vec<kube::runtime::reflector::ObjectRef<Tenant>> {
    if tenant.spec.unit.level != Level::Province {
        return Vec::new();
    }
    let ns = tenant.namespace();
    let name = tenant.name_any();
    ctx_tenants
        .state()
        .iter()
        .filter(|t| t.namespace() == ns && t.spec.parent.as_deref() == Some(name.as_str()))
        .map(|t| kube::runtime::reflector::ObjectRef::from_obj(t.as_ref()))
        .collect()
}
