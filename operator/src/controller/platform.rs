//! The Platform controller: creates the platform's namespace, applies its shared workload,
//! prunes shared objects it no longer renders, and keeps a status that counts the tenants.
//! Deletion is refused (by finalizer) while tenants still use the platform.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{Instrument, info, info_span};

use super::runtime::{RetryBackoff, Shutdown, backoff_key, error_policy, record};
use super::watches::{OwnedEvents, Watches, next};
use super::writes::publish;
use super::{Context, Error, finalizers, revisions, rollouts};
use crate::api::{
    FailingTenant, Level, Platform, PlatformStatus, ProvinceCounts, RolloutStatus, Tenant,
};
use crate::cluster::{FIELD_MANAGER, apply_object_meta};
use crate::pipeline::ANNOTATION_OWNER;
use crate::status::{self, Progress, READY};

pub const FINALIZER: &str = "khaibao.dev/platform-in-use";

pub fn owner_key(name: &str) -> String {
    format!("platform/{name}")
}

pub async fn reconcile(platform: Arc<Platform>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = platform.name_any();
    let api: Api<Platform> = Api::all(ctx.client.clone());
    if !ctx.caches_ready() {
        return Err(Error::NotReady);
    }
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let old = super::writes::status_base::<Platform, _>(
        &ctx,
        "",
        &name,
        platform.status.clone().unwrap_or_default(),
    );
    let mut new = old.clone();
    new.observed_generation = platform.meta().generation;
    count_tenants(&ctx, &name, &mut new);
    super::reforms::update(&platform, &ctx, &old, &mut new).await;

    if platform.meta().deletion_timestamp.is_some() {
        return refuse_or_finish_deletion(&platform, &ctx, &api, old, new, &now).await;
    }
    if finalizers::ensure(&api, platform.as_ref(), FINALIZER).await? {
        ctx.metrics.write("patch");
        return Ok(Action::await_change());
    }
    ensure_namespace(&ctx, &platform.spec.namespace, &name).await?;
    let mut requeue = Duration::from_secs(300);
    match ctx.compiled(&platform) {
        Err(msg) => {
            if status::condition(&old.conditions, READY).is_none_or(|c| c.message != msg) {
                publish(
                    &ctx,
                    platform.as_ref(),
                    EventType::Warning,
                    "InvalidPlatform",
                    &msg,
                )
                .await;
            }
            status::set_stalled(
                &mut new.conditions,
                "InvalidPlatform",
                &msg,
                platform.meta().generation,
                &now,
            );
        }
        Ok(compiled) => match compiled.render_shared() {
            Err(problems) => {
                let msg = crate::diagnostics::summary(&problems, crate::diagnostics::Lang::En);
                status::set_stalled(
                    &mut new.conditions,
                    "SharedRenderFailed",
                    &msg,
                    platform.meta().generation,
                    &now,
                );
            }
            Ok(objects)
                if let Some(msg) = (!platform.spec.generated_secrets.is_empty()
                    || objects.iter().any(|o| o.kind() == "Secret"))
                .then(|| ctx.secrets_refused(&platform.spec.namespace))
                .flatten() =>
            {
                status::set_stalled(
                    &mut new.conditions,
                    "SecretNamespaceNotPermitted",
                    &msg,
                    platform.meta().generation,
                    &now,
                );
            }
            Ok(objects) => {
                revisions::ensure_snapshot(&ctx, &platform, &compiled).await?;
                let owner = owner_key(&name);
                let owned = ctx.index.objects_of(&owner);
                let mut applied = 0;
                for o in &objects {
                    // Shared objects are few: applied on every platform reconcile only when they
                    // are missing or their recorded revision differs, otherwise left alone.
                    let current = owned
                        .iter()
                        .any(|m| &*m.kind == o.kind() && &*m.name == o.name());
                    if !current
                        || old.shared_revision.as_deref() != Some(compiled.revision.as_str())
                    {
                        apply_object_meta(&ctx.client, &ctx.resolver, &o.object).await?;
                        ctx.metrics.write("apply");
                        applied += 1;
                    }
                }
                let keep: BTreeSet<(&str, &str)> =
                    objects.iter().map(|o| (o.kind(), o.name())).collect();
                for m in owned
                    .iter()
                    .filter(|m| !keep.contains(&(&*m.kind, &*m.name)))
                {
                    super::tenant::delete_object(&ctx, m).await?;
                }
                if applied > 0 {
                    info!(platform = %name, revision = %compiled.revision, applied, "applied shared objects");
                }
                new.shared_revision = Some(compiled.revision.clone());
                requeue = rollouts::advance(&platform, &ctx, &compiled.revision, &mut new, &now)
                    .await?
                    .unwrap_or(requeue);
                let total = new.tenants.get("total").copied().unwrap_or(0);
                let ready = new.tenants.get("ready").copied().unwrap_or(0);
                let mut msg = format!("{ready}/{total} tenants ready");
                if let Some(r) = new.rollout.as_ref().filter(|r| r.is_active()) {
                    msg.push_str(&format!(
                        "; rollout {} → {} {} (wave {}/{})",
                        r.from, r.to, r.phase, r.waves_started, r.waves
                    ));
                }
                status::set_condition(
                    &mut new.conditions,
                    READY,
                    true,
                    "Ready",
                    &msg,
                    platform.meta().generation,
                    &now,
                );
                let progress = match new.rollout.as_ref().map(|r| r.phase.as_str()) {
                    Some(RolloutStatus::PROGRESSING) => Progress::Working {
                        reason: "RollingOut",
                        message: &msg,
                    },
                    Some(RolloutStatus::HALTED) => Progress::Stuck {
                        reason: "RolloutHalted",
                        message: &msg,
                    },
                    _ => Progress::Settled,
                };
                let generation = platform.meta().generation;
                status::set_progress(&mut new.conditions, progress, generation, &now);
            }
        },
    }
    patch_status_if_changed(&api, &ctx, &name, &old, new).await?;
    Ok(Action::requeue(requeue))
}

/// How many failing tenants a status lists.
const FAILING_LISTED: usize = 10;

/// Tenant counts by condition, level and province, and the tenants failing longest. Bounded:
/// numbers, at most one entry per province, and at most ten names.
fn count_tenants(ctx: &Context, platform: &str, status: &mut PlatformStatus) {
    let mut counts: BTreeMap<String, i64> = ["total", "ready", "failed", "province", "commune"]
        .iter()
        .map(|k| (k.to_string(), 0))
        .collect();
    let mut provinces: BTreeMap<String, ProvinceCounts> = BTreeMap::new();
    let mut failing: Vec<FailingTenant> = Vec::new();
    for t in ctx
        .tenants
        .state()
        .iter()
        .filter(|t| t.spec.platform == platform)
    {
        *counts.entry("total".into()).or_default() += 1;
        let level = t.spec.unit.level.as_str();
        *counts.entry(level.into()).or_default() += 1;
        let province = provinces.entry(province_of(t)).or_default();
        province.total += 1;
        let conds = t
            .status
            .as_ref()
            .map(|s| s.conditions.as_slice())
            .unwrap_or_default();
        if status::is_true(conds, READY) {
            *counts.entry("ready".into()).or_default() += 1;
            *counts.entry(format!("{level}Ready")).or_default() += 1;
            province.ready += 1;
        } else if let Some(c) = status::condition(conds, READY) {
            *counts.entry("failed".into()).or_default() += 1;
            province.failed += 1;
            failing.push(FailingTenant {
                tenant: super::object_key(t.as_ref()),
                reason: c.reason.clone(),
                message: c.message.chars().take(300).collect(),
                since: Some(c.last_transition_time.clone()),
            });
        }
    }
    failing.sort_by(|a, b| a.since.cmp(&b.since).then_with(|| a.tenant.cmp(&b.tenant)));
    failing.truncate(FAILING_LISTED);
    status.tenants = counts;
    status.provinces = provinces;
    status.failing = failing;
}

/// The province code a tenant counts in: its own for a province, its province's for a commune.
fn province_of(t: &Tenant) -> String {
    let unit = &t.spec.unit;
    if unit.level == Level::Province {
        return unit.code.clone();
    }
    if let Some(code) = &unit.province_code {
        return code.clone();
    }
    let division = unit
        .division
        .as_deref()
        .and_then(|d| d.parse().ok())
        .unwrap_or_default();
    crate::registry::units(division)
        .commune(&unit.code)
        .map(|c| c.province_code.clone())
        .unwrap_or_else(|| "unknown".into())
}

async fn refuse_or_finish_deletion(
    platform: &Platform,
    ctx: &Context,
    api: &Api<Platform>,
    old: PlatformStatus,
    mut new: PlatformStatus,
    now: &Time,
) -> Result<Action, Error> {
    let name = platform.name_any();
    let users: Vec<Arc<crate::api::Tenant>> = ctx
        .tenants
        .state()
        .into_iter()
        .filter(|t| t.spec.platform == name)
        .collect();
    if !users.is_empty() {
        let namespaces: BTreeSet<String> = users.iter().filter_map(|t| t.namespace()).collect();
        let shown: Vec<&str> = namespaces.iter().take(10).map(String::as_str).collect();
        let more = if namespaces.len() > 10 {
            format!(" and {} more", namespaces.len() - 10)
        } else {
            String::new()
        };
        let msg = format!(
            "deletion is waiting: {} tenant(s) in namespace(s) {}{more} still use this platform; delete them (or move them to another platform) first",
            users.len(),
            shown.join(", ")
        );
        if status::condition(&old.conditions, READY).is_none_or(|c| c.message != msg) {
            publish(ctx, platform, EventType::Warning, "DeletionBlocked", &msg).await;
        }
        status::set_condition(
            &mut new.conditions,
            READY,
            false,
            "DeletionBlocked",
            &msg,
            platform.meta().generation,
            now,
        );
        patch_status_if_changed(api, ctx, &name, &old, new).await?;
        return Ok(Action::requeue(Duration::from_secs(10)));
    }
    for m in ctx.index.objects_of(&owner_key(&name)) {
        super::tenant::delete_object(ctx, &m).await?;
    }
    if finalizers::remove(api, platform, FINALIZER).await? {
        ctx.metrics.write("patch");
    }
    ctx.metrics.forget_platform(&name);
    info!(platform = %name, "no tenants left; shared objects deleted and finalizer released");
    Ok(Action::await_change())
}

async fn ensure_namespace(ctx: &Context, namespace: &str, platform: &str) -> Result<(), Error> {
    let ns_api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(ctx.client.clone());
    if ns_api.get_metadata_opt(namespace).await?.is_some() {
        return Ok(());
    }
    let ns = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {"app.kubernetes.io/managed-by": "khaibao", "khaibao.dev/platform": platform}},
    });
    ns_api
        .patch(
            namespace,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&ns),
        )
        .await?;
    ctx.metrics.write("apply");
    Ok(())
}

async fn patch_status_if_changed(
    api: &Api<Platform>,
    ctx: &Context,
    name: &str,
    old: &PlatformStatus,
    new: PlatformStatus,
) -> Result<(), Error> {
    for condition in super::metrics::TENANT_CONDITIONS {
        let label = super::metrics::ConditionLabel {
            platform: name.to_string(),
            condition,
        };
        ctx.metrics
            .tenants
            .get_or_create(&label)
            .set(new.tenants.get(condition).copied().unwrap_or(0));
    }
    let phase = new.rollout.as_ref().map(|r| r.phase.as_str());
    ctx.metrics.set_rollout_phase(name, phase);
    ctx.metrics
        .set_provinces(name, &old.provinces, &new.provinces);
    super::writes::patch_status_if_changed(api, ctx, name, old, &new).await
}

/// The Platform controller: woken by its platform, its shared objects, and its tenants'
/// changes (debounced, so that a wave of tenants is counted once), two platforms at a time.
pub(super) fn controller(
    ctx: &Arc<Context>,
    watches: &mut Watches,
    owned: &mut [OwnedEvents],
    shutdown: &Shutdown,
) -> impl Future<Output = ()> + use<> {
    let mut platform_controller =
        Controller::for_stream(next(&mut watches.platform_events), ctx.platforms.clone());
    // A shared object edited or deleted by hand wakes its platform.
    for kind in owned.iter_mut() {
        platform_controller = platform_controller.watches_stream_with(
            next(&mut kind.streams),
            |o| owner_platform(&o.metadata),
            kind.ar.clone(),
        );
    }
    // Tenant changes update their platform's counts and rollout (debounced below).
    platform_controller = platform_controller
        .watches_stream(next(&mut watches.tenant_events), |t: Tenant| {
            Some(ObjectRef::new(&t.spec.platform))
        });
    platform_controller
        .trigger_backoff(RetryBackoff::new())
        .with_config(
            controller::Config::default()
                .concurrency(2)
                .debounce(PLATFORM_DEBOUNCE),
        )
        .graceful_shutdown_on(shutdown.requested())
        .run(reconcile_platform, error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()))
}

async fn reconcile_platform(p: Arc<Platform>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = backoff_key(p.as_ref());
    let span = info_span!("reconcile", platform = %p.name_any());
    let started = std::time::Instant::now();
    let result = reconcile(p, ctx.clone()).instrument(span).await;
    record(&ctx, "platform", &key, started, &result);
    result
}

/// Maps a shared object (by its owner annotation) to the platform to reconcile.
fn owner_platform(meta: &kube::api::ObjectMeta) -> Option<ObjectRef<Platform>> {
    let owner = meta.annotations.as_ref()?.get(ANNOTATION_OWNER)?;
    Some(ObjectRef::new(owner.strip_prefix("platform/")?))
}

/// How long a Platform waits for its tenants' changes to settle before it counts them (and
/// decides whether a rollout wave is done). Every wave of a rollout waits this long at least
/// once: at a second, eleven waves of 100 tenants spent more time waiting than rendering.
const PLATFORM_DEBOUNCE: Duration = Duration::from_millis(250);
