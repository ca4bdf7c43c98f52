//! What a reconcile reads before it renders: the tenant's platform and parent from the caches,
//! and what the tenant says while its platform has no revision for it yet. Apart from the
//! reconcile so that its first steps read as names.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::outcome::Outcome;
use crate::api::{Platform, Tenant, TenantStatus};
use crate::controller::writes::patch_status_if_changed;
use crate::controller::{Context, Error};
use crate::status::{self, APPLIED, Progress, RENDERED};

/// The tenant's platform, from the cache.
pub(super) fn load_platform(tenant: &Tenant, ctx: &Context) -> Result<Arc<Platform>, Outcome> {
    ctx.platforms
        .get(&kube::runtime::reflector::ObjectRef::new(
            &tenant.spec.platform,
        ))
        .ok_or_else(|| {
            Outcome::failed(
                RENDERED,
                "PlatformNotFound",
                format!(
                    "platform {:?} does not exist; create it or fix spec.platform",
                    tenant.spec.platform
                ),
            )
        })
}

/// Whether the platform exists in the API server (one read, only when the cache lacks it).
pub(super) async fn platform_exists(ctx: &Context, name: &str) -> Result<bool, Error> {
    let api: Api<Platform> = Api::all(ctx.client.clone());
    Ok(api.get_metadata_opt(name).await?.is_some())
}

/// The parent tenant, from the cache (same namespace).
pub(in crate::controller) fn load_parent(tenant: &Tenant, ctx: &Context) -> Option<Arc<Tenant>> {
    let parent = tenant.spec.parent.as_ref()?;
    let ns = tenant.namespace().unwrap_or_default();
    ctx.tenants
        .get(&kube::runtime::reflector::ObjectRef::new(parent).within(&ns))
}

/// No revision assigned to the tenant yet: says why the platform cannot start, or, on a tenant
/// with no status at all, that it waits for the platform.
pub(super) async fn wait_for_revision(
    api: &Api<Tenant>,
    ctx: &Context,
    tenant: &Tenant,
    platform: &Platform,
    name: &str,
    old: &TenantStatus,
    now: &Time,
) -> Result<Action, Error> {
    // Why the platform cannot start, said on each of its tenants too.
    let stopped = match ctx.compiled(platform) {
        Err(msg) => Some((RENDERED, "PlatformInvalid", msg)),
        Ok(_) if !platform.spec.generated_secrets.is_empty() => ctx
            .secrets_refused(&platform.spec.namespace)
            .map(|msg| (APPLIED, "SecretNamespaceNotPermitted", msg)),
        Ok(_) => None,
    };
    if let Some((condition, reason, msg)) = stopped {
        let status =
            Outcome::failed(condition, reason, msg).finish(old, tenant.meta().generation, now);
        patch_status_if_changed(api, ctx, name, old, &status).await?;
    } else if old.conditions.is_empty() {
        // With no status at all kstatus (Flux) would call the tenant Current.
        let mut status = old.clone();
        let waiting = Progress::Working {
            reason: "WaitingForPlatform",
            message: "the platform has not published a revision yet",
        };
        status::set_progress(
            &mut status.conditions,
            waiting,
            tenant.meta().generation,
            now,
        );
        patch_status_if_changed(api, ctx, name, old, &status).await?;
    }
    Ok(Action::requeue(Duration::from_secs(2)))
}
