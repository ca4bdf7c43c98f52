//! The TenantSet controller: expands a set with the shared expansion function and keeps the
//! Tenants it made in line — creating and updating them (with an ownerReference, so deleting
//! the set deletes them), pruning the ones no longer selected, and never touching a Tenant it
//! did not make. Guards against mass mistakes: a selection that suddenly yields no unit keeps
//! the last good set, and a prune larger than a threshold waits for confirmation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{Instrument, info, info_span};

use super::runtime::{RetryBackoff, Shutdown, backoff_key, error_policy, object_key, record};
use super::watches::{Watches, next};
use super::writes::{patch_status_if_changed, publish};
use super::{Context, Error};
use crate::api::{Tenant, TenantSet};
use crate::cluster::FIELD_MANAGER;
use crate::pipeline::{LABEL_TENANT_SET, expand_tenant_set};
use crate::status::{self, CONFLICT, Progress, READY, STALLED};

/// Annotation confirming a large prune: its value must equal the number of tenants to delete.
pub const ANNOTATION_CONFIRM_PRUNE: &str = "khaibao.dev/confirm-prune";

/// Prunes up to this many tenants, or this share of the set, happen without confirmation.
const PRUNE_FREE_COUNT: usize = 5;
const PRUNE_FREE_PERCENT: usize = 10;

pub async fn reconcile(set: Arc<TenantSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = set.namespace().unwrap_or_default();
    let name = set.name_any();
    // Before the Tenant cache is filled, a hand-made Tenant looks absent and would be
    // overwritten, and every tenant the set made looks missing.
    if !ctx.caches_ready() {
        return Err(Error::NotReady);
    }
    let sets: Api<TenantSet> = Api::namespaced(ctx.client.clone(), &ns);
    let tenants: Api<Tenant> = Api::namespaced(ctx.client.clone(), &ns);
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let generation = set.meta().generation;
    let old = set.status.clone().unwrap_or_default();
    let mut new = old.clone();
    new.observed_generation = generation;

    let owned: BTreeMap<String, Arc<Tenant>> = ctx
        .tenants
        .state()
        .into_iter()
        .filter(|t| {
            t.namespace().as_deref() == Some(ns.as_str())
                && t.labels().get(LABEL_TENANT_SET) == Some(&name)
        })
        .map(|t| (t.name_any(), t))
        .collect();

    let desired = match expand_tenant_set(&set) {
        Ok(d) => d,
        Err(problems) => {
            let msg = crate::diagnostics::summary(&problems, crate::diagnostics::Lang::En);
            status::set_stalled(
                &mut new.conditions,
                "InvalidTenantSet",
                &msg,
                generation,
                &now,
            );
            new.last_error = Some(msg);
            patch_status_if_changed(&sets, &ctx, &name, &old, &new).await?;
            return Ok(Action::await_change());
        }
    };
    if desired.is_empty() && !owned.is_empty() {
        let msg = format!(
            "the selection now yields no unit; keeping the {} tenants made before (fix spec.units, or delete the set)",
            owned.len()
        );
        if status::condition(&old.conditions, READY).is_none_or(|c| c.reason != "EmptySelection") {
            publish(
                &ctx,
                set.as_ref(),
                EventType::Warning,
                "EmptySelection",
                &msg,
            )
            .await;
        }
        status::set_stalled(
            &mut new.conditions,
            "EmptySelection",
            &msg,
            generation,
            &now,
        );
        patch_status_if_changed(&sets, &ctx, &name, &old, &new).await?;
        return Ok(Action::await_change());
    }

    let owner_ref = OwnerReference {
        api_version: "khaibao.dev/v1alpha1".into(),
        kind: "TenantSet".into(),
        name: name.clone(),
        uid: set.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    };
    let mut conflicts = Vec::new();
    let mut wanted = BTreeSet::new();
    // Units whose Tenant a successor retires, or has adopted in place: no longer this set's.
    let mut retired = BTreeSet::new();
    for manifest in &desired {
        let tname = manifest["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let key = format!("{ns}/{tname}");
        let adopts_in_place = super::set_succession::lists_itself(manifest, &key);
        if !adopts_in_place && ctx.predecessors.retired_by_another(&key) {
            // Re-created, it would fight the successor retiring it.
            retired.insert(tname);
            continue;
        }
        wanted.insert(tname.clone());
        let mut adopt = None;
        if let Some(existing) = ctx
            .tenants
            .get(&kube::runtime::reflector::ObjectRef::new(&tname).within(&ns))
            && existing.labels().get(LABEL_TENANT_SET) != Some(&name)
        {
            if adopts_in_place {
                adopt = Some(existing);
            } else if ctx.predecessors.is_listed(&key) {
                // Adopted in place by a successor (another set): not a conflict.
                wanted.remove(&tname);
                retired.insert(tname);
                continue;
            } else {
                conflicts.push(format!("{tname}: a Tenant of that name already exists and was not made by this set; it is left as it is"));
                continue;
            }
        }
        if let Some(existing) = adopt {
            super::set_succession::adopt_tenant(&tenants, &existing, &owner_ref).await?;
            ctx.metrics.write("patch");
            info!(tenantset = %format!("{ns}/{name}"), tenant = %tname, "adopted the tenant in place");
        }
        let current = owned.get(&tname);
        if current
            .is_some_and(|t| serde_json::to_value(&t.spec).ok().as_ref() == Some(&manifest["spec"]))
        {
            continue;
        }
        let mut m = manifest.clone();
        m["metadata"]["ownerReferences"] = json!([owner_ref]);
        match tenants
            .patch(
                &tname,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&m),
            )
            .await
        {
            Ok(_) => ctx.metrics.write("apply"),
            // Refused by admission (e.g. a unit of another province) or invalid: report, go on.
            Err(kube::Error::Api(s)) if s.code == 403 || s.code == 422 || s.code == 400 => {
                conflicts.push(format!("{tname}: {}", s.message));
            }
            Err(e) => return Err(e.into()),
        }
    }

    // Tenants the set made that the Tenant controller refused, because another tenant declared
    // the same unit on the platform first: the set's declaration did not take effect for them.
    for (tname, t) in owned.iter().filter(|(n, _)| wanted.contains(*n)) {
        if let Some(c) = t
            .status
            .as_ref()
            .and_then(|s| status::condition(&s.conditions, CONFLICT))
            .filter(|c| c.status == "True")
        {
            conflicts.push(format!("{tname}: {}", c.message));
        }
    }

    // Tenants already being deleted (their objects are being removed) are on their way out:
    // counted again, the rest of a confirmed prune would be held as a new one.
    // Nor are the ones a successor retires: their deletion is the successor's, once it serves
    // their host names; pruned by the set they would go too early.
    let live: Vec<&String> = owned
        .iter()
        .filter(|(_, t)| t.meta().deletion_timestamp.is_none())
        .filter(|(n, _)| !ctx.predecessors.is_listed(&format!("{ns}/{n}")))
        .map(|(n, _)| n)
        .collect();
    let stale: Vec<&String> = live
        .iter()
        .copied()
        .filter(|n| !wanted.contains(*n))
        .collect();
    let free = PRUNE_FREE_COUNT.max(live.len() * PRUNE_FREE_PERCENT / 100);
    let confirmed = set
        .annotations()
        .get(ANNOTATION_CONFIRM_PRUNE)
        .map(String::as_str)
        == Some(stale.len().to_string().as_str());
    let mut held = None;
    if stale.len() > free && !confirmed {
        let msg = format!(
            "this change would delete {} of {} tenants; confirm with: kubectl -n {ns} annotate tenantset {name} {ANNOTATION_CONFIRM_PRUNE}={} --overwrite",
            stale.len(),
            live.len(),
            stale.len()
        );
        if status::condition(&old.conditions, READY).is_none_or(|c| c.reason != "PruneHeld") {
            publish(&ctx, set.as_ref(), EventType::Warning, "PruneHeld", &msg).await;
        }
        held = Some(msg);
    } else {
        for n in &stale {
            match tenants.delete(n, &DeleteParams::background()).await {
                Ok(_) => ctx.metrics.write("delete"),
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !stale.is_empty() {
            info!(tenantset = %format!("{ns}/{name}"), pruned = stale.len(), "pruned tenants no longer selected");
        }
        if confirmed && stale.len() > free {
            // One confirmation, one prune: a later change that deletes as many asks again.
            let patch = json!({"metadata": {"annotations": {ANNOTATION_CONFIRM_PRUNE: null}}});
            sets.patch(
                &name,
                &crate::cluster::patch_params(),
                &Patch::Merge(&patch),
            )
            .await?;
            ctx.metrics.write("patch");
        }
    }

    super::set_succession::delete_replaced_sets(&ctx, &set).await?;
    new.desired = (desired.len() - retired.len()) as i64;
    new.created = owned.keys().filter(|n| wanted.contains(*n)).count() as i64;
    new.ready = owned
        .values()
        .filter(|t| {
            wanted.contains(&t.name_any())
                && t.status
                    .as_ref()
                    .is_some_and(|s| status::is_true(&s.conditions, READY))
        })
        .count() as i64;
    let stalled = owned
        .values()
        .filter(|t| {
            wanted.contains(&t.name_any())
                && t.status
                    .as_ref()
                    .is_some_and(|s| status::is_true(&s.conditions, STALLED))
        })
        .count();
    new.conflict_count = conflicts.len() as i64;
    new.conflicts = conflicts.iter().take(10).cloned().collect();
    new.last_error = held.clone();
    new.pending_prune = held.as_ref().map(|_| stale.len() as i64);
    match held {
        Some(msg) => {
            status::set_stalled(&mut new.conditions, "PruneHeld", &msg, generation, &now);
        }
        None if !conflicts.is_empty() => {
            let msg = format!(
                "{} tenant(s) could not be made or applied, first {}",
                conflicts.len(),
                conflicts[0]
            );
            status::set_stalled(&mut new.conditions, "Conflict", &msg, generation, &now);
        }
        None => {
            let mut msg = format!("{}/{} tenants ready", new.ready, new.desired);
            if !retired.is_empty() {
                msg.push_str(&format!(
                    "; {} retired into (or adopted by) successors",
                    retired.len()
                ));
            }
            status::set_condition(
                &mut new.conditions,
                READY,
                new.ready == new.desired,
                "Reconciled",
                &msg,
                generation,
                &now,
            );
            // Members that cannot go on hold the set too; waiting for the others is progress.
            let progress = if new.ready == new.desired {
                Progress::Settled
            } else if stalled > 0 && new.ready as usize + stalled >= new.desired as usize {
                Progress::Stuck {
                    reason: "TenantsStalled",
                    message: &msg,
                }
            } else {
                Progress::Working {
                    reason: "WaitingForTenants",
                    message: &msg,
                }
            };
            status::set_progress(&mut new.conditions, progress, generation, &now);
        }
    }
    patch_status_if_changed(&sets, &ctx, &name, &old, &new).await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

/// The TenantSet controller, two sets at a time. TenantSets own their Tenants through
/// ownerReferences: a Tenant change wakes its set (debounced by a second).
pub(super) fn controller(
    ctx: &Arc<Context>,
    watches: &mut Watches,
    shutdown: &Shutdown,
) -> impl Future<Output = ()> + use<> {
    Controller::new(
        Api::<TenantSet>::all(ctx.client.clone()),
        watcher::Config::default().any_semantic(),
    )
    // From the one Tenant watch: a second watch of every Tenant would have the API server send
    // each of the fleet's writes twice.
    .owns_stream(next(&mut watches.tenant_events))
    .trigger_backoff(RetryBackoff::new())
    .with_config(
        controller::Config::default()
            .concurrency(2)
            .debounce(Duration::from_secs(1)),
    )
    .graceful_shutdown_on(shutdown.requested())
    .run(reconcile_tenant_set, error_policy, ctx.clone())
    .for_each(|_| futures::future::ready(()))
}

async fn reconcile_tenant_set(s: Arc<TenantSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = backoff_key(s.as_ref());
    let span = info_span!("reconcile", tenantset = %object_key(s.as_ref()));
    let started = std::time::Instant::now();
    let result = reconcile(s, ctx.clone()).instrument(span).await;
    record(&ctx, "tenantset", &key, started, &result);
    result
}
