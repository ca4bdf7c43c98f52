//! The reconcile step of adoption: the live predecessors' secrets adopted, the facts about each
//! gathered from the caches, and those the rule allows retired (their Tenant deleted). The only
//! part that deletes a Tenant, so its guards read in one place.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::info;

use super::{
    AWAITING_APPROVAL, Decision, Facts, PREDECESSORS_RETIRED, Progress, Standing, decide, key,
    record_progress, secrets, standing,
};
use crate::api::{Predecessor, Tenant, TenantStatus};
use crate::controller::writes::publish;
use crate::controller::{Context, Error};
use crate::pipeline::{CompiledPlatform, RenderedTenant, resolve_predecessor};
use crate::status::{self, READY};

/// How soon a successor looks again while a predecessor is on its way out or its secrets are
/// not there yet (neither wakes the successor by itself).
const RECHECK: Duration = Duration::from_secs(5);

/// The reconcile step: adopt the live predecessors' secrets, retire those the rule allows,
/// and record the progress in `status`. Returns when to look again.
pub async fn retire_predecessors(
    ctx: &Context,
    tenant: &Tenant,
    held: bool,
    platform: &CompiledPlatform,
    rendered: &RenderedTenant,
    status: &mut TenantStatus,
    now: &Time,
) -> Result<Option<Duration>, Error> {
    let generation = tenant.meta().generation;
    if tenant.spec.predecessors.is_empty() {
        record_progress(status, None, generation, now);
        return Ok(None);
    }
    let lookup = |ns: &str, name: &str| ctx.tenants.get(&ObjectRef::new(name).within(ns));
    let standings: Vec<(&Predecessor, Standing)> = tenant
        .spec
        .predecessors
        .iter()
        .map(|p| (p, standing(tenant, p, &lookup)))
        .collect();
    let ready = status::is_true(&status.conditions, READY);
    let adopted = secrets::adopt_secrets(ctx, tenant, platform, rendered, &standings).await?;
    let me = key(tenant);
    let mut progress = Progress::default();
    let mut blocked = Vec::new();
    let mut waiting = Vec::new();
    for (p, standing) in &standings {
        match standing {
            Standing::InPlace => {}
            Standing::Gone => progress.retired += 1,
            Standing::Deleting => {
                progress.pending += 1;
                waiting.push(("Retiring", format!("{} is being retired", p.tenant)));
            }
            Standing::OtherPlatform(other) => {
                progress.pending += 1;
                blocked.push((
                    "PredecessorOnOtherPlatform",
                    format!(
                        "predecessor {} is on platform {other:?}, not {:?}: it is not retired; move it or drop it from spec.predecessors",
                        p.tenant, tenant.spec.platform
                    ),
                ));
            }
            Standing::OtherUnit(declared) => {
                progress.pending += 1;
                blocked.push((
                    "PredecessorOtherUnit",
                    format!(
                        "predecessor {} declares {declared}, not {} {} of the {}-province division: it is not retired; fix the entry",
                        p.tenant,
                        p.level.as_str(),
                        p.code,
                        p.division.as_deref().unwrap_or("63")
                    ),
                ));
            }
            Standing::Cycle => {
                progress.pending += 1;
                blocked.push((
                    "PredecessorCycle",
                    format!(
                        "predecessor {} lists this tenant as its own predecessor: neither is retired; drop one of the two entries",
                        p.tenant
                    ),
                ));
            }
            Standing::Live(t) => {
                progress.pending += 1;
                let others_ready = ctx
                    .predecessors
                    .successors_of(&p.tenant)
                    .iter()
                    .filter(|s| **s != me && **s != p.tenant)
                    .all(|s| {
                        // Ready for its current generation: a Ready left from before an
                        // in-place update does not count.
                        s.split_once('/')
                            .and_then(|(ns, n)| lookup(ns, n))
                            .is_some_and(|t| {
                                t.status.as_ref().is_some_and(|st| {
                                    st.observed_generation == t.metadata.generation
                                        && status::is_true(&st.conditions, READY)
                                })
                            })
                    });
                let live_children = crate::controller::tenant::children_of(t, &ctx.tenants)
                    .iter()
                    .filter_map(|r| ctx.tenants.get(r))
                    .filter(|c| c.metadata.deletion_timestamp.is_none())
                    .count();
                let facts = Facts {
                    ready,
                    held,
                    secrets_adopted: adopted.contains(&p.tenant),
                    partial: p.partial,
                    others_ready,
                    live_children,
                    host_taker_pending: host_taker_pending(ctx, tenant, p, &lookup),
                };
                match decide(&p.tenant, &facts) {
                    Decision::Retire => retire(ctx, tenant, t).await?,
                    Decision::Wait { reason, message } => waiting.push((reason, message)),
                }
            }
        }
    }
    // Waiting for approval, or for the successor taking a divided predecessor whole, is ended
    // by an event that wakes this tenant (the plan's phase, the predecessor's deletion).
    progress.blocked_only = waiting
        .iter()
        .all(|(r, _)| *r == AWAITING_APPROVAL || *r == "RetiredByOtherSuccessor");
    // Problems only the user can fix come first: they are what the condition must say, and
    // they are told once, when the condition starts saying it.
    if let Some((reason, msg)) = blocked.first()
        && status::condition(&status.conditions, PREDECESSORS_RETIRED)
            .is_none_or(|c| c.reason != *reason)
    {
        publish(ctx, tenant, EventType::Warning, reason, msg).await;
    }
    progress.waiting = blocked.into_iter().chain(waiting).collect();
    record_progress(status, Some(&progress), generation, now);
    Ok((progress.pending > 0 && !progress.blocked_only && ready && !held).then_some(RECHECK))
}

/// For a `hostTaken` predecessor: the tenant declaring the new unit that answers at its host
/// name, while that tenant is not Ready at its current generation. `None` when there is no
/// such unit or no tenant declares it on the platform (nobody will serve the name).
fn host_taker_pending(
    ctx: &Context,
    successor: &Tenant,
    p: &Predecessor,
    lookup: &dyn Fn(&str, &str) -> Option<Arc<Tenant>>,
) -> Option<String> {
    if !p.host_taken {
        return None;
    }
    let (level, code) = crate::pipeline::host_taker(&resolve_predecessor(p)?)?;
    let taker = ctx
        .units
        .holder_of(&successor.spec.platform, level.as_str(), &code)?;
    let ready = taker
        .split_once('/')
        .and_then(|(ns, n)| lookup(ns, n))
        .is_some_and(|t| {
            t.status.as_ref().is_some_and(|st| {
                st.observed_generation == t.metadata.generation
                    && status::is_true(&st.conditions, READY)
            })
        });
    (!ready).then_some(taker)
}

/// Deletes the predecessor Tenant: its finalizer deletes its objects. The successor's Ingress
/// already answers its host names.
async fn retire(ctx: &Context, successor: &Tenant, predecessor: &Tenant) -> Result<(), Error> {
    let (ns, name) = (
        predecessor.namespace().unwrap_or_default(),
        predecessor.name_any(),
    );
    let api: Api<Tenant> = Api::namespaced(ctx.client.clone(), &ns);
    match api.delete(&name, &DeleteParams::background()).await {
        Ok(_) => ctx.metrics.write("delete"),
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let msg = format!(
        "retired predecessor {ns}/{name}: this tenant serves its host names and holds its secrets; its objects are being deleted"
    );
    info!(successor = %key(successor), predecessor = %format!("{ns}/{name}"), "retired predecessor");
    publish(
        ctx,
        successor,
        EventType::Normal,
        "PredecessorRetired",
        &msg,
    )
    .await;
    Ok(())
}
