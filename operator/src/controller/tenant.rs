//! The Tenant controller. A reconcile is a list of named steps:
//! load platform (+ parent) → render with the shared pipeline → skip if nothing changed or
//! drifted → server-side apply → prune what is no longer rendered → create generated secrets
//! once → write status only if it changed. Deletion removes the tenant's objects by owner and
//! then releases the finalizer. Killing the operator at any line is safe: every step recomputes
//! from the cluster.
//!
//! Over 500 lines: the reconcile's steps read in order in one file; what wakes a tenant is in
//! `tenant/wiring.rs`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, DynamicObject};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use super::context::{APPLIED_KEPT, Applied};
use super::owned_index::OwnedMeta;
use super::writes::{patch_status_if_changed, publish};
use super::{Context, Error, finalizers};
use crate::api::{Level, ObjectReference, Platform, Tenant, TenantStatus};
use crate::pipeline::{CompiledPlatform, RenderedTenant};
use crate::status::{self, APPLIED, CONFLICT, DEGRADED, Progress, READY, RENDERED};

mod wiring;

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
        // Why the platform cannot start, said on each of its tenants too.
        let stopped = match ctx.compiled(&platform) {
            Err(msg) => Some((RENDERED, "PlatformInvalid", msg)),
            Ok(_) if !platform.spec.generated_secrets.is_empty() => ctx
                .secrets_refused(&platform.spec.namespace)
                .map(|msg| (APPLIED, "SecretNamespaceNotPermitted", msg)),
            Ok(_) => None,
        };
        if let Some((condition, reason, msg)) = stopped {
            let status = Outcome::failed(condition, reason, msg).finish(
                &old,
                tenant.meta().generation,
                &now,
            );
            patch_status_if_changed(&api, &ctx, &name, &old, &status).await?;
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
                &now,
            );
            patch_status_if_changed(&api, &ctx, &name, &old, &status).await?;
        }
        return Ok(Action::requeue(Duration::from_secs(2)));
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
    // Restored: the same desired objects had been applied, and applying them again changed or
    // recreated something. A re-apply only because the index had not yet seen our own last
    // write is a no-op (same resourceVersion) and is not reported.
    let restored = recorded.as_ref().is_some_and(|recorded| {
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
            &ctx,
            tenant.as_ref(),
            EventType::Normal,
            "Restored",
            "objects changed or deleted by hand were restored",
        )
        .await;
    }
    if pruned > 0 {
        publish(
            &ctx,
            tenant.as_ref(),
            EventType::Normal,
            "Pruned",
            &format!("deleted {pruned} object(s) no longer rendered"),
        )
        .await;
    }
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

/// The tenant's platform, from the cache.
fn load_platform(tenant: &Tenant, ctx: &Context) -> Result<Arc<Platform>, Outcome> {
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
async fn platform_exists(ctx: &Context, name: &str) -> Result<bool, Error> {
    let api: Api<Platform> = Api::all(ctx.client.clone());
    Ok(api.get_metadata_opt(name).await?.is_some())
}

/// The parent tenant, from the cache (same namespace).
fn load_parent(tenant: &Tenant, ctx: &Context) -> Option<Arc<Tenant>> {
    let parent = tenant.spec.parent.as_ref()?;
    let ns = tenant.namespace().unwrap_or_default();
    ctx.tenants
        .get(&kube::runtime::reflector::ObjectRef::new(parent).within(&ns))
}

/// The last apply of exactly the desired objects a reconcile has just rendered.
struct Recorded {
    /// The objects with the resourceVersions written.
    objects: Vec<ObjectReference>,
    /// For an apply made by this process, with none of the tenant's objects deleted since: the
    /// index's sequence number before its writes and the generated secrets that existed. What
    /// the index still shows older than that number is our own writes on their way, not drift.
    in_flight: Option<(u64, Vec<String>)>,
}

/// The last apply of exactly these desired objects, if they were applied before. What was
/// applied is remembered in memory (the status written after an apply may not be in the cache
/// yet) and in status (after a restart).
fn recorded_objects(
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
fn up_to_date(recorded: &Recorded, rendered: &RenderedTenant, owned: &[OwnedMeta]) -> bool {
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

/// Server-side applies every desired object; returns them with the resourceVersions written.
async fn apply_desired_objects(
    ctx: &Context,
    platform: &CompiledPlatform,
    rendered: &RenderedTenant,
) -> Result<Vec<ObjectReference>, Error> {
    let has_secrets = !rendered.generated_secrets.is_empty()
        || rendered.objects.iter().any(|o| o.kind() == "Secret");
    if has_secrets && let Some(msg) = ctx.secrets_refused(&platform.platform.spec.namespace) {
        return Err(Error::Cluster(crate::cluster::ClusterError::Invalid(msg)));
    }
    if let Some(o) = rendered
        .objects
        .iter()
        .find(|o| !ctx.watches_kind(o.kind()))
    {
        return Err(Error::Cluster(crate::cluster::ClusterError::Invalid(
            format!(
                "kind {} is not watched by the operator (see --watch-kinds); it could neither be restored nor pruned",
                o.kind()
            ),
        )));
    }
    // A tenant's objects do not depend on each other: applied at once, a tenant costs one
    // round trip to the API server instead of one per object.
    let applies = rendered.objects.iter().map(|o| async move {
        let stored =
            crate::cluster::apply_object_meta(&ctx.client, &ctx.resolver, &o.object).await?;
        ctx.metrics.write("apply");
        ctx.echoes.wrote(
            super::echoes::key(
                o.kind(),
                stored.namespace.as_deref().unwrap_or_default(),
                o.name(),
            ),
            stored.resource_version.as_deref(),
        );
        Ok::<_, Error>(ObjectReference {
            api_version: o.api_version().to_string(),
            kind: o.kind().to_string(),
            name: o.name().to_string(),
            resource_version: stored.resource_version,
        })
    });
    futures::future::try_join_all(applies).await
}

/// Deletes objects this tenant owns that it no longer renders. Returns how many.
async fn prune_stale_objects(
    ctx: &Context,
    platform: &CompiledPlatform,
    rendered: &RenderedTenant,
    owned: &[OwnedMeta],
) -> Result<usize, Error> {
    // Old Secrets of an in-place move to another code: adoption deletes them once copied.
    let adopting = super::adoption::kept_for_adoption(platform, rendered);
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

pub(super) async fn delete_object(ctx: &Context, m: &OwnedMeta) -> Result<(), Error> {
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

/// Creates the generated secrets that do not exist yet (neither in the index nor `known` to
/// this process). Returns how many were created.
async fn create_generated_secrets(
    ctx: &Context,
    platform: &CompiledPlatform,
    rendered: &RenderedTenant,
    owned: &[OwnedMeta],
    known: &[String],
) -> Result<usize, Error> {
    let mut created = 0;
    let namespace = &platform.platform.spec.namespace;
    if ctx.secrets_refused(namespace).is_some() {
        // The apply step says why.
        return Ok(0);
    }
    for placeholder in &rendered.generated_secrets {
        if known.iter().any(|n| n == placeholder.name())
            || owned
                .iter()
                .any(|m| &*m.kind == "Secret" && &*m.name == placeholder.name())
        {
            continue;
        }
        let Some(spec) =
            super::secrets::spec_for(&platform.platform.spec.generated_secrets, placeholder)
        else {
            continue;
        };
        // A successor adopts its predecessor's values instead of generating new ones.
        let wrote =
            super::adoption::create_own_secret(ctx, rendered, placeholder, spec, namespace).await?;
        if wrote {
            ctx.metrics.write("create");
            created += 1;
        }
    }
    Ok(created)
}

/// Deletion: remove everything the tenant owns, then release the finalizer. Works when the
/// platform or the objects are already gone.
async fn delete_owned_objects(
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

/// The outcome of one reconcile, turned into a status.
struct Outcome {
    failed: Option<(&'static str, String, String)>, // condition, reason, message
    /// The failure goes away by retrying (API server trouble): `Reconciling`, not `Stalled`.
    transient: bool,
    rendered: Option<(String, String, Vec<ObjectReference>, Option<String>)>, // revision, hash, objects, endpoint
}

impl Outcome {
    fn failed(condition: &'static str, reason: &str, message: String) -> Self {
        Outcome {
            failed: Some((condition, reason.to_string(), message)),
            transient: false,
            rendered: None,
        }
    }

    /// A failure the operator retries on its own.
    fn retrying(condition: &'static str, reason: &str, message: String) -> Self {
        Outcome {
            transient: true,
            ..Outcome::failed(condition, reason, message)
        }
    }

    fn applied(r: &RenderedTenant, objects: Vec<ObjectReference>) -> Self {
        Outcome {
            failed: None,
            transient: false,
            rendered: Some((r.revision.clone(), r.hash.clone(), objects, endpoint(r))),
        }
    }

    fn finish(self, old: &TenantStatus, generation: Option<i64>, now: &Time) -> TenantStatus {
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
