//! The Platform controller: creates the platform's namespace, applies its shared workload,
//! prunes shared objects it no longer renders, and keeps a status that counts the tenants.
//! Deletion is refused (by finalizer) while tenants still use the platform.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::info;

use super::writes::publish;
use super::{Context, Error, finalizers};
use crate::api::{Level, Platform, PlatformStatus};
use crate::cluster::{FIELD_MANAGER, apply_object};
use crate::status::{self, READY};

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
    let old = platform.status.clone().unwrap_or_default();
    let mut new = old.clone();
    new.observed_generation = platform.meta().generation;
    new.tenants = count_tenants(&ctx, &name);

    if platform.meta().deletion_timestamp.is_some() {
        return refuse_or_finish_deletion(&platform, &ctx, &api, old, new, &now).await;
    }
    if finalizers::ensure(&api, platform.as_ref(), FINALIZER).await? {
        ctx.metrics.write("patch");
        return Ok(Action::await_change());
    }
    ensure_namespace(&ctx, &platform.spec.namespace, &name).await?;
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
            status::set_condition(
                &mut new.conditions,
                READY,
                false,
                "InvalidPlatform",
                &msg,
                platform.meta().generation,
                &now,
            );
        }
        Ok(compiled) => match compiled.render_shared() {
            Err(problems) => {
                let msg = crate::diagnostics::summary(&problems, crate::diagnostics::Lang::En);
                status::set_condition(
                    &mut new.conditions,
                    READY,
                    false,
                    "SharedRenderFailed",
                    &msg,
                    platform.meta().generation,
                    &now,
                );
            }
            Ok(objects) => {
                let owner = owner_key(&name);
                let owned = ctx.index.objects_of(&owner);
                let mut applied = 0;
                for o in &objects {
                    // Shared objects are few: applied on every platform reconcile only when they
                    // are missing or their recorded revision differs, otherwise left alone.
                    let current = owned
                        .iter()
                        .any(|m| m.kind == o.kind() && m.name == o.name());
                    if !current || old.revision.as_deref() != Some(compiled.revision.as_str()) {
                        apply_object(&ctx.client, &ctx.resolver, &o.object, false).await?;
                        ctx.metrics.write("apply");
                        applied += 1;
                    }
                }
                let keep: BTreeSet<(&str, &str)> =
                    objects.iter().map(|o| (o.kind(), o.name())).collect();
                for m in owned
                    .iter()
                    .filter(|m| !keep.contains(&(m.kind.as_str(), m.name.as_str())))
                {
                    super::tenant::delete_object(&ctx, m).await?;
                }
                if applied > 0 {
                    info!(platform = %name, revision = %compiled.revision, applied, "applied shared objects");
                }
                new.revision = Some(compiled.revision.clone());
                let total = new.tenants.get("total").copied().unwrap_or(0);
                let ready = new.tenants.get("ready").copied().unwrap_or(0);
                let msg = format!("{ready}/{total} tenants ready");
                status::set_condition(
                    &mut new.conditions,
                    READY,
                    true,
                    "Ready",
                    &msg,
                    platform.meta().generation,
                    &now,
                );
            }
        },
    }
    patch_status_if_changed(&api, &ctx, &name, &old, new).await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

/// Tenant counts by condition and level. Bounded: numbers only, never names.
fn count_tenants(ctx: &Context, platform: &str) -> BTreeMap<String, i64> {
    let mut counts: BTreeMap<String, i64> = ["total", "ready", "failed", "province", "commune"]
        .iter()
        .map(|k| (k.to_string(), 0))
        .collect();
    for t in ctx
        .tenants
        .state()
        .iter()
        .filter(|t| t.spec.platform == platform)
    {
        *counts.entry("total".into()).or_default() += 1;
        let level = match t.spec.unit.level {
            Level::Province => "province",
            Level::Commune => "commune",
        };
        *counts.entry(level.into()).or_default() += 1;
        let conds = t
            .status
            .as_ref()
            .map(|s| s.conditions.as_slice())
            .unwrap_or_default();
        if status::is_true(conds, READY) {
            *counts.entry("ready".into()).or_default() += 1;
            *counts.entry(format!("{level}Ready")).or_default() += 1;
        } else if status::condition(conds, READY).is_some() {
            *counts.entry("failed".into()).or_default() += 1;
        }
    }
    counts
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
    for condition in ["ready", "failed", "total"] {
        let label = super::metrics::ConditionLabel {
            platform: name.to_string(),
            condition,
        };
        ctx.metrics
            .tenants
            .get_or_create(&label)
            .set(new.tenants.get(condition).copied().unwrap_or(0));
    }
    super::writes::patch_status_if_changed(api, ctx, name, old, &new).await
}
