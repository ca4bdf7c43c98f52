//! What wakes a tenant, and how many reconcile at once: its own watch (minus the echoes of our
//! status writes), the objects it owns, its platform's spec and rollout, its province, the
//! holders of its unit, its predecessors, and its reform plan's phase.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use kube::ResourceExt;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, predicates};
use tracing::{Instrument, info_span};

use crate::api::{Platform, Tenant};
use crate::controller::runtime::{
    RetryBackoff, Shutdown, backoff_key, error_policy, object_key, record,
};
use crate::controller::watches::{OwnedEvents, Watches, next};
use crate::controller::{Context, Error, echoes, reforms};
use crate::pipeline::ANNOTATION_OWNER;

/// The Tenant controller, reconciling `concurrency` tenants at once until `shutdown`.
pub(in crate::controller) fn controller(
    ctx: &Arc<Context>,
    watches: &mut Watches,
    owned: &mut [OwnedEvents],
    concurrency: u16,
    shutdown: &Shutdown,
) -> impl Future<Output = ()> + use<> {
    // The echo of our own status write wakes nobody: the tenant was just reconciled.
    let status_echoes = ctx.echoes.clone();
    let tenant_triggers = next(&mut watches.tenant_events).try_filter(move |t| {
        let key = echoes::key("Tenant", &t.namespace().unwrap_or_default(), &t.name_any());
        futures::future::ready(!status_echoes.is_echo(&key, t.resource_version().as_deref()))
    });
    let mut tenant_controller = Controller::for_stream(tenant_triggers, ctx.tenants.clone());
    // An owned object edited or deleted by hand wakes its owner, unless the event is the echo
    // of our own write.
    for kind in owned.iter_mut() {
        let (object_echoes, echo_kind) = (ctx.echoes.clone(), kind.ar.kind.clone());
        tenant_controller = tenant_controller.watches_stream_with(
            next(&mut kind.streams),
            move |o| {
                let m = &o.metadata;
                let key = echoes::key(
                    &echo_kind,
                    m.namespace.as_deref().unwrap_or_default(),
                    m.name.as_deref().unwrap_or_default(),
                );
                if object_echoes.is_echo(&key, m.resource_version.as_deref()) {
                    return None;
                }
                owner_tenant(m)
            },
            kind.ar.clone(),
        );
    }
    // A platform change re-renders its tenants; a province change re-renders its communes.
    // Only what changes a tenant's output wakes them all: the platform's spec, and the rollout
    // moving assignments. Count updates in the platform's status (every second while tenants
    // converge) would otherwise re-queue every tenant each time.
    let t_store = ctx.tenants.clone();
    tenant_controller = tenant_controller.watches_stream(
        next(&mut watches.platform_events)
            .predicate_filter(what_tenants_render, Default::default()),
        move |p: Platform| {
            let name = p.name_any();
            let deleting = p.metadata.deletion_timestamp.is_some();
            let status = p.status.clone().unwrap_or_default();
            // During a rollout only the wave that moved needs to render; the others would
            // render what they already have (11,000 renders per wave for nothing).
            t_store
                .state()
                .iter()
                .filter(|t| t.spec.platform == name)
                .filter(|t| {
                    let assigned =
                        crate::rollout::assigned_revision(&status, &object_key(t.as_ref()));
                    let current = t.status.as_ref().and_then(|s| s.target_revision.as_deref());
                    deleting || assigned.is_none() || assigned != current
                })
                .map(|t| ObjectRef::from_obj(t.as_ref()))
                .collect::<Vec<_>>()
        },
    );
    // A province's status changes nothing for its communes; its spec (values) does.
    let t_store = ctx.tenants.clone();
    tenant_controller = tenant_controller.watches_stream(
        next(&mut watches.tenant_events)
            .predicate_filter(predicates::generation, Default::default()),
        move |t: Tenant| super::children_of(&t, &t_store),
    );
    // A deleted tenant frees its unit for the next tenant that declared it, refused as a
    // duplicate until now (a tenant moved to another unit frees it at the next resync).
    let unit_holders = ctx.units.clone();
    tenant_controller =
        tenant_controller.watches_stream(next(&mut watches.tenant_events), move |t: Tenant| {
            unit_holders
                .others_declaring(&t)
                .into_iter()
                .filter_map(|k| {
                    let (ns, name) = k.split_once('/')?;
                    Some(ObjectRef::new(name).within(ns))
                })
                .collect::<Vec<_>>()
        });
    // A predecessor's change or deletion wakes the successors waiting for it.
    let waiting = ctx.predecessors.clone();
    tenant_controller =
        tenant_controller.watches_stream(next(&mut watches.tenant_events), move |t: Tenant| {
            waiting
                .successors_of(&object_key(&t))
                .into_iter()
                .filter_map(|k| {
                    let (ns, name) = k.split_once('/')?;
                    Some(ObjectRef::new(name).within(ns))
                })
                .collect::<Vec<_>>()
        });
    // A reform plan's phase moving on (approved, or every successor Ready) wakes its
    // successors: their retirements may proceed.
    let t_store = ctx.tenants.clone();
    tenant_controller = tenant_controller.watches_stream(
        next(&mut watches.platform_events).predicate_filter(reforms::phases, Default::default()),
        move |p: Platform| reforms::successors_to_wake(&p, &t_store),
    );
    tenant_controller
        .trigger_backoff(RetryBackoff::new())
        .with_config(controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown.requested())
        .run(reconcile_tenant, error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()))
}

async fn reconcile_tenant(t: Arc<Tenant>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = backoff_key(t.as_ref());
    let span = info_span!("reconcile", tenant = %object_key(t.as_ref()));
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(RECONCILE_TIMEOUT, super::reconcile(t, ctx.clone()))
        .instrument(span)
        .await
        .unwrap_or(Err(Error::Timeout(RECONCILE_TIMEOUT)));
    record(&ctx, "tenant", &key, started, &result);
    result
}

/// The longest a tenant's reconcile may take. A request that never returns (seen under an API
/// server shedding load: the `api_throttling` e2e, 3 reconciles in 150 tenants) would otherwise
/// hold the tenant for the client's five-minute read timeout — and with it every wake-up that
/// came meanwhile, a rollout's wave start included: the rollout waited minutes for one tenant. A reconcile is a few requests of milliseconds each; abandoned, it is retried
/// with the tenant's backoff, and what it wrote is idempotent.
const RECONCILE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A hash of what a platform's tenants render from: its spec and its rollout's assignments.
fn what_tenants_render(p: &Platform) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    p.metadata.generation.hash(&mut h);
    p.metadata.deletion_timestamp.is_some().hash(&mut h);
    if let Some(s) = &p.status {
        s.revision.hash(&mut h);
        if let Some(r) = &s.rollout {
            (&r.from, &r.to, r.waves_started, r.is_active()).hash(&mut h);
        }
    }
    Some(h.finish())
}

/// Maps an owned object (by its owner annotation) to the tenant to reconcile.
fn owner_tenant(meta: &kube::api::ObjectMeta) -> Option<ObjectRef<Tenant>> {
    let owner = meta.annotations.as_ref()?.get(ANNOTATION_OWNER)?;
    let rest = owner.strip_prefix("tenant/")?;
    let (ns, name) = rest.split_once('/')?;
    Some(ObjectRef::new(name).within(ns))
}
