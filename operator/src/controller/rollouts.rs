//! Rollouts, the operator's half: when a platform's content changes, its tenants move to the new
//! revision in the waves of a [`Plan`] fixed at the start. Only the Platform's status is
//! written — the plan and how many waves have started; each tenant derives the revision it
//! renders from that ([`crate::rollout::assigned_revision`]) and records it as
//! `status.targetRevision`. Everything else is recomputed from the tenants on every pass, so a
//! restarted operator continues the rollout exactly where it was.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::events::EventType;

use super::analysis::{self, Gate};
use super::writes::publish;
use super::{Context, Error, object_key, revisions};
use crate::api::{ANNOTATION_APPROVE_ROLLOUT, Platform, PlatformStatus, RolloutStatus, Tenant};
use crate::rollout::{Plan, Step, TenantState, all_at_once, next_step, progress};
use crate::status::{self, APPLIED, CONFLICT, READY, RECONCILING, RENDERED};

/// Wave timeout when the policy sets none.
const DEFAULT_WAVE_TIMEOUT: i64 = 600;
/// How often an active rollout is looked at even when no tenant changes (wave timeouts).
const POLL: Duration = Duration::from_secs(5);

/// Moves the platform's rollout forward, toward `live` (the revision of the platform as it is
/// now), in `new`. Returns when to look again while a rollout is active.
pub async fn advance(
    platform: &Platform,
    ctx: &Context,
    live: &str,
    new: &mut PlatformStatus,
    now: &Time,
) -> Result<Option<Duration>, Error> {
    let Some(stable) = new.revision.clone() else {
        // First sight of the platform: nothing to move tenants from.
        new.revision = Some(live.to_string());
        return Ok(None);
    };
    match new.rollout.clone().filter(RolloutStatus::is_active) {
        None if stable == live => return Ok(None),
        None => start(platform, ctx, &stable, live, new, now).await?,
        Some(r) if r.to == live => {}
        Some(r) if r.from == live => {
            cancel(platform, ctx, new, now).await;
            return Ok(None);
        }
        Some(r) => {
            let msg = format!(
                "the platform changed again (revision {live}) before the rollout to {} finished: \
                 a new rollout from {} starts; tenants already on {} return to {} until their wave",
                r.to, r.from, r.to, r.from
            );
            publish(ctx, platform, EventType::Normal, "RolloutSuperseded", &msg).await;
            start(platform, ctx, &r.from, live, new, now).await?;
        }
    }
    step(platform, ctx, new, now).await
}

fn tenants_of(ctx: &Context, platform: &str) -> Vec<Arc<Tenant>> {
    ctx.tenants
        .state()
        .into_iter()
        .filter(|t| t.spec.platform == platform && t.metadata.deletion_timestamp.is_none())
        .collect()
}

async fn start(
    platform: &Platform,
    ctx: &Context,
    from: &str,
    to: &str,
    new: &mut PlatformStatus,
    now: &Time,
) -> Result<(), Error> {
    let name = platform.name_any();
    let tenants = tenants_of(ctx, &name);
    let has_snapshot = revisions::snapshot_exists(ctx, &name, from).await?;
    if tenants.is_empty() || !has_snapshot {
        if !tenants.is_empty() {
            let msg = format!(
                "revision {from} has no snapshot (it predates rollouts or was deleted), so tenants \
                 cannot stay on it: all {} tenant(s) move to revision {to} at once",
                tenants.len()
            );
            publish(ctx, platform, EventType::Warning, "NoSnapshot", &msg).await;
        }
        new.previous_revision = Some(from.to_string());
        new.revision = Some(to.to_string());
        new.rollout = Some(RolloutStatus {
            from: from.to_string(),
            to: to.to_string(),
            phase: RolloutStatus::COMPLETE.into(),
            waves: 1,
            waves_started: 1,
            started_at: Some(now.clone()),
            finished_at: Some(now.clone()),
            total: tenants.len() as i64,
            message: Some("no tenant had to wait: moved at once".into()),
            ..Default::default()
        });
        return Ok(());
    }
    let policy = platform.spec.rollout.clone().unwrap_or_else(all_at_once);
    let keys: Vec<String> = tenants.iter().map(|t| object_key(t.as_ref())).collect();
    let plan = Plan::new(&keys, &policy);
    let waves = plan.waves();
    let msg = format!(
        "revision {from} → {to}: {} tenant(s) in {waves} wave(s){}",
        tenants.len(),
        if plan.canaries.is_empty() {
            String::new()
        } else {
            format!(", canaries first: {}", plan.canaries.join(", "))
        }
    );
    publish(ctx, platform, EventType::Normal, "RolloutStarted", &msg).await;
    let needs_approval = deletions(platform, ctx, from, to, &tenants, &plan).await?;
    new.rollout = Some(RolloutStatus {
        needs_approval,
        from: from.to_string(),
        to: to.to_string(),
        phase: RolloutStatus::PROGRESSING.into(),
        canaries: plan.canaries,
        wave_ends: plan.wave_ends,
        waves: i32::try_from(waves).unwrap_or(i32::MAX),
        waves_started: 0,
        started_at: Some(now.clone()),
        total: tenants.len() as i64,
        message: Some(msg),
        ..Default::default()
    });
    Ok(())
}

/// The platform went back to the revision the rollout started from (`khaibao rollout undo`
/// before it completed): the tenants already moved return at once — they are on the revision
/// being abandoned, and waves exist to protect tenants on a good revision, not a bad one.
async fn cancel(platform: &Platform, ctx: &Context, new: &mut PlatformStatus, now: &Time) {
    let Some(r) = new.rollout.as_mut() else {
        return;
    };
    let msg = format!(
        "the platform is back at revision {}: the rollout to {} is cancelled and the {} tenant(s) \
         it had moved return at once",
        r.from, r.to, r.on_target
    );
    r.phase = RolloutStatus::CANCELLED.into();
    r.finished_at = Some(now.clone());
    r.message = Some(msg.clone());
    publish(ctx, platform, EventType::Normal, "RolloutCancelled", &msg).await;
}

/// Objects one revision deletes from a tenant the other renders, times the tenants: when that
/// is more than max(5, 10 %) of the tenants' objects, the reason the rollout waits for
/// approval. A template removed by mistake would otherwise prune its objects from every
/// tenant, wave after wave, without any failure to halt it. Judged on the first tenant of the
/// plan (every tenant renders the same templates).
async fn deletions(
    platform: &Platform,
    ctx: &Context,
    from: &str,
    to: &str,
    tenants: &[Arc<Tenant>],
    plan: &Plan,
) -> Result<Option<String>, Error> {
    let first = plan
        .canaries
        .first()
        .and_then(|k| tenants.iter().find(|t| object_key(t.as_ref()) == *k));
    let Some(sample) = first.or(tenants.first()) else {
        return Ok(None);
    };
    let (Ok(old), Ok(new)) = (
        revisions::compiled_at(ctx, platform, from).await?,
        revisions::compiled_at(ctx, platform, to).await?,
    ) else {
        return Ok(None);
    };
    let parent = sample.spec.parent.as_ref().and_then(|p| {
        ctx.tenants.get(
            &kube::runtime::reflector::ObjectRef::new(p)
                .within(&sample.namespace().unwrap_or_default()),
        )
    });
    let (Ok(before), Ok(after)) = (
        old.render_tenant(sample, parent.as_deref()),
        new.render_tenant(sample, parent.as_deref()),
    ) else {
        return Ok(None);
    };
    let kept: std::collections::HashSet<(&str, &str)> =
        after.objects.iter().map(|o| (o.kind(), o.name())).collect();
    let gone: Vec<&str> = before
        .objects
        .iter()
        .filter(|o| !kept.contains(&(o.kind(), o.name())))
        .map(|o| o.kind())
        .collect();
    let per_tenant = gone.len();
    let mut kinds = gone;
    kinds.sort_unstable();
    kinds.dedup();
    let deleted = per_tenant * tenants.len();
    let all = before.objects.len() * tenants.len();
    if deleted > (all / 10).max(5) {
        return Ok(Some(format!(
            "revision {to} deletes {per_tenant} object(s) ({}) from every tenant: {deleted} of {all} objects",
            kinds.join(", ")
        )));
    }
    Ok(None)
}

/// A tenant as the planner sees it, on revision `to`.
fn state(t: &Tenant, to: &str, timed_out: bool) -> TenantState {
    let st = t.status.clone().unwrap_or_default();
    let on_to = st.target_revision.as_deref() == Some(to);
    let c = &st.conditions;
    let ready = on_to
        && st.revision.as_deref() == Some(to)
        && st.observed_generation == t.metadata.generation
        && status::is_true(c, READY);
    // A failure the operator retries on its own (the API server away, or answering 429 or
    // 5xx: `Reconciling`) is a tenant not Ready yet, not a failed one: a burst of throttling
    // must not halt a rollout. If it lasts, the wave timeout counts it.
    let retrying = status::is_true(c, RECONCILING);
    let broken = !retrying
        && ([RENDERED, APPLIED]
            .iter()
            .any(|k| status::condition(c, k).is_some_and(|c| c.status == "False"))
            || status::is_true(c, CONFLICT));
    TenantState {
        key: object_key(t),
        ready,
        failed: !ready && ((on_to && broken) || timed_out),
    }
}

async fn step(
    platform: &Platform,
    ctx: &Context,
    new: &mut PlatformStatus,
    now: &Time,
) -> Result<Option<Duration>, Error> {
    let name = platform.name_any();
    let Some(r) = new.rollout.as_mut().filter(|r| r.is_active()) else {
        return Ok(None);
    };
    let policy = platform.spec.rollout.clone().unwrap_or_else(all_at_once);
    let plan = Plan::of(r);
    let to = r.to.clone();
    let tenants = tenants_of(ctx, &name);
    let timeout = i64::from(policy.wave_timeout_seconds.unwrap_or(0));
    let timeout = if timeout > 0 {
        timeout
    } else {
        DEFAULT_WAVE_TIMEOUT
    };
    let elapsed = |since: &Option<Time>| {
        since
            .as_ref()
            .map(|t| now.0.as_second() - t.0.as_second())
            .unwrap_or(0)
    };
    let states = |started: usize, timed_out: bool| -> Vec<TenantState> {
        tenants
            .iter()
            .map(|t| {
                let moved = plan.wave_of(&object_key(t.as_ref())) < started;
                state(t, &to, timed_out && moved)
            })
            .collect()
    };
    if let Some(reason) = &r.needs_approval {
        let approved = platform
            .annotations()
            .get(ANNOTATION_APPROVE_ROLLOUT)
            .is_some_and(|v| *v == r.to);
        if !approved && r.waves_started == 0 {
            let msg = format!(
                "{reason}; nothing moves until approved: `khaibao approve platform {name}` \
                 (or kubectl annotate platform {name} {ANNOTATION_APPROVE_ROLLOUT}={} --overwrite)",
                r.to
            );
            if r.phase != RolloutStatus::AWAITING_APPROVAL {
                publish(ctx, platform, EventType::Warning, "RolloutHeld", &msg).await;
            }
            r.phase = RolloutStatus::AWAITING_APPROVAL.into();
            r.message = Some(msg);
            return Ok(None);
        }
    }
    let mut started = usize::try_from(r.waves_started).unwrap_or(0);
    let mut current = states(started, elapsed(&r.wave_started_at) > timeout);
    let mut step = next_step(&plan, started, &current, &policy);
    // Before the next wave (or completion), what the last wave's tenants serve must pass the
    // analysis: until then the rollout holds where it is.
    let held = match policy.analysis.as_ref() {
        Some(analysis) if started > 0 && matches!(step, Step::Move { .. } | Step::Complete) => {
            let wave_tenants: Vec<Arc<Tenant>> = tenants
                .iter()
                .zip(&current)
                .filter(|(t, s)| s.ready && plan.wave_of(&object_key(t.as_ref())) == started - 1)
                .map(|(t, _)| t.clone())
                .collect();
            if wave_tenants.is_empty() || analysis.metrics.is_empty() && analysis.http.is_empty() {
                None
            } else {
                match analysis::gate(platform, ctx, analysis, r, started, &wave_tenants, now)
                    .await?
                {
                    Gate::Passed => None,
                    held => Some(held),
                }
            }
        }
        _ => None,
    };
    while let Step::Move { wave, tenants: n } = step
        && held.is_none()
    {
        started = wave + 1;
        r.waves_started = i32::try_from(started).unwrap_or(i32::MAX);
        r.wave_started_at = Some(now.clone());
        if n > 0 {
            let msg = format!(
                "wave {}/{}: {n} tenant(s) move to revision {}",
                started, r.waves, r.to
            );
            publish(ctx, platform, EventType::Normal, "WaveStarted", &msg).await;
            r.message = Some(msg);
            current = states(started, false);
            break;
        }
        current = states(started, false);
        step = next_step(&plan, started, &current, &policy);
    }
    let p = progress(&plan, started, &current);
    r.total = p.total as i64;
    r.on_target = p.on_target as i64;
    r.ready = p.ready as i64;
    r.failed = p.failed as i64;
    let was = r.phase.clone();
    match held {
        Some(Gate::Waiting { message, after }) => {
            r.phase = RolloutStatus::PROGRESSING.into();
            r.message = Some(message);
            return Ok(Some(after.clamp(Duration::from_secs(1), POLL)));
        }
        Some(Gate::Failed { message }) => {
            halt(platform, ctx, r, &was, message, p.total - p.on_target).await;
            return Ok(Some(POLL));
        }
        Some(Gate::Passed) | None => {}
    }
    let requeue = match step {
        Step::Move { .. } => {
            r.phase = RolloutStatus::PROGRESSING.into();
            Some(POLL)
        }
        Step::Wait { wave, pending } => {
            r.phase = RolloutStatus::PROGRESSING.into();
            r.message = Some(format!(
                "wave {}/{}: waiting for {pending} tenant(s) to be Ready on revision {} (timeout {timeout} s)",
                wave + 1,
                r.waves,
                r.to
            ));
            Some(POLL)
        }
        Step::Paused => {
            r.phase = RolloutStatus::PAUSED.into();
            r.message = Some(format!(
                "paused after wave {started}/{}: `khaibao rollout resume {name}` (or spec.rollout.paused: false) continues",
                r.waves
            ));
            None
        }
        Step::Halted { failures, allowed } => {
            let first = current
                .iter()
                .filter(|s| s.failed)
                .map(|s| s.key.clone())
                .next()
                .unwrap_or_default();
            let why = tenants
                .iter()
                .find(|t| object_key(t.as_ref()) == first)
                .and_then(|t| t.status.as_ref()?.last_error.clone())
                .unwrap_or_else(|| "not Ready within the wave timeout".into());
            let why = format!(
                "{failures} tenant(s) failed on revision {} (maxFailures allows {allowed}); first: {first}: {why}",
                r.to
            );
            halt(platform, ctx, r, &was, why, p.total - p.on_target).await;
            Some(POLL)
        }
        Step::Complete => {
            let seconds = elapsed(&r.started_at);
            let msg = format!(
                "{} tenant(s) on revision {} in {seconds} s ({} wave(s)); {} failed",
                p.total, r.to, r.waves, p.failed
            );
            r.phase = RolloutStatus::COMPLETE.into();
            r.finished_at = Some(now.clone());
            r.message = Some(msg.clone());
            let (from, to) = (r.from.clone(), r.to.clone());
            new.previous_revision = Some(from);
            new.revision = Some(to);
            publish(ctx, platform, EventType::Normal, "RolloutComplete", &msg).await;
            revisions::prune_snapshots(ctx, &name, new).await?;
            None
        }
    };
    Ok(requeue)
}

/// Halts the rollout for `why` (a wave's failures or its failed analysis), with the event once.
async fn halt(
    platform: &Platform,
    ctx: &Context,
    r: &mut RolloutStatus,
    was: &str,
    why: String,
    not_moved: usize,
) {
    let msg = format!(
        "halted: {why}. The {not_moved} tenant(s) not yet moved stay on revision {}. Fix the \
         platform (a new revision starts a new rollout) or run `khaibao rollout undo {}`",
        r.from,
        platform.name_any()
    );
    r.phase = RolloutStatus::HALTED.into();
    if was != RolloutStatus::HALTED {
        publish(ctx, platform, EventType::Warning, "RolloutHalted", &msg).await;
    }
    r.message = Some(msg);
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::state;
    use crate::api::{Tenant, TenantSpec, TenantStatus};
    use crate::status::{self, APPLIED, Progress, READY, RENDERED};

    fn failing_apply(transient: bool) -> Tenant {
        let now = Time(k8s_openapi::jiff::Timestamp::now());
        let mut st = TenantStatus {
            target_revision: Some("r2".into()),
            revision: Some("r1".into()),
            ..Default::default()
        };
        let c = &mut st.conditions;
        let msg = "unable to apply ConfigMap: 429 Too Many Requests";
        status::set_condition(c, RENDERED, true, "Rendered", "", Some(1), &now);
        status::set_condition(c, APPLIED, false, "ApplyFailed", msg, Some(1), &now);
        status::set_condition(c, READY, false, "ApplyFailed", msg, Some(1), &now);
        let progress = if transient {
            Progress::Working {
                reason: "ApplyFailed",
                message: msg,
            }
        } else {
            Progress::Stuck {
                reason: "ApplyFailed",
                message: msg,
            }
        };
        status::set_progress(c, progress, Some(1), &now);
        let mut t = Tenant::new("ha-noi", TenantSpec::default());
        t.metadata.namespace = Some("tinh-01".into());
        t.metadata.generation = Some(1);
        t.status = Some(st);
        t
    }

    #[test]
    fn a_retried_apply_failure_is_not_ready_yet_a_refused_one_has_failed() {
        let retried = state(&failing_apply(true), "r2", false);
        assert!(!retried.ready && !retried.failed, "{retried:?}");
        let refused = state(&failing_apply(false), "r2", false);
        assert!(!refused.ready && refused.failed, "{refused:?}");
        // Past the wave timeout even a retried one counts.
        assert!(state(&failing_apply(true), "r2", true).failed);
    }
}
