//! Rollouts on the real control plane: a template change moves tenants in waves (canary first,
//! then batches), pause holds every tenant on its revision, resume continues, undo rolls back;
//! a template that breaks the canary halts the rollout with every other tenant untouched.

use std::time::Duration;

use anyhow::{Context, ensure};
use khaibao::api::{RolloutStatus, Tenant};
use khaibao_e2e::rollouts::{
    edit_config_template, khaibao_stdout, record_rollouts, rollout, wait_phase,
};
use khaibao_e2e::{
    OBJECTS_PER_TENANT, Scope, conditions_summary, events_text, platform_revision, with_shared,
};
use serde_json::json;

const REVISION: &str = "khaibao.dev/revision";

fn revision_of(t: &Tenant) -> Option<&str> {
    t.status.as_ref().and_then(|s| s.revision.as_deref())
}

/// The revision label on every non-secret object, by value.
async fn object_revisions(s: &Scope) -> anyhow::Result<std::collections::BTreeMap<String, usize>> {
    let mut by = std::collections::BTreeMap::new();
    for o in s.objects().await? {
        if o.kind == "Secret" || o.tenant().is_none() {
            continue;
        }
        *by.entry(o.label(REVISION).unwrap_or("-").to_string())
            .or_default() += 1;
    }
    Ok(by)
}

#[test]
fn a_template_change_moves_in_waves_and_pause_resume_undo_steer_it() {
    with_shared(async |env| {
        let s = Scope::new(env.cp.client().await?, "waves");
        let mut manifest = s.platform_manifest()?;
        manifest["spec"]["rollout"] =
            json!({"canaryCount": 1, "batch": "5", "maxFailures": "0", "waveTimeoutSeconds": 120});
        let rev1 = platform_revision(&manifest)?;
        s.apply_platform(&manifest).await?;
        let codes = [
            "01", "02", "04", "06", "08", "10", "11", "12", "14", "15", "17", "19", "20", "22",
            "24", "25",
        ];
        let tenants = s.provinces(&codes)?;
        s.create_tenants(&tenants).await?;
        s.wait_ready(16, Duration::from_secs(90)).await?;

        // Paused before the change: the rollout starts but moves nobody, and nothing is
        // re-rendered — every object keeps revision 1.
        let out = khaibao_stdout(&env.cp, &["rollout", "pause", &s.platform])?;
        ensure!(out.contains("paused"), "pause said: {out}");
        edit_config_template(&mut manifest, "  e2eMarker: waves-v2")?;
        let rev2 = platform_revision(&manifest)?;
        s.apply_platform(&manifest).await?;
        let r = wait_phase(&s, &rev2, RolloutStatus::PAUSED, Duration::from_secs(30)).await?;
        ensure!(
            r.from == rev1 && r.waves_started == 0 && r.waves == 4,
            "paused rollout {r:?}"
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        let revs = object_revisions(&s).await?;
        ensure!(
            revs == [(rev1.clone(), 16 * (OBJECTS_PER_TENANT - 1))].into(),
            "objects re-rendered while paused: {revs:?}"
        );
        let status = khaibao_stdout(&env.cp, &["rollout", "status", &s.platform])?;
        ensure!(
            status.contains(&format!("{rev1} → {rev2}  Paused")) && status.contains("0/4"),
            "rollout status while paused:\n{status}"
        );

        // Resumed: the canary, then three batches of five, each after the previous is Ready.
        // Every status the operator writes is watched, so each wave start is seen.
        let seen = record_rollouts(&s).await?;
        khaibao_stdout(&env.cp, &["rollout", "resume", &s.platform])?;
        let r = wait_phase(&s, &rev2, RolloutStatus::COMPLETE, Duration::from_secs(120)).await?;
        let seen = seen.lock().map(|v| v.clone()).unwrap_or_default();
        let sizes = [1, 5, 5, 5];
        let mut starts = Vec::new();
        for r in seen.iter().filter(|r| r.to == rev2) {
            let started = usize::try_from(r.waves_started)?;
            let moved: usize = sizes[..started].iter().sum();
            let before: usize = sizes[..started.saturating_sub(1)].iter().sum();
            ensure!(
                r.on_target as usize == moved && r.ready as usize >= before,
                "wave {started} started with {} moved and {} Ready (expected {moved} moved and the {before} of earlier waves Ready): {r:?}",
                r.on_target,
                r.ready
            );
            if starts.last() != Some(&started) {
                starts.push(started);
            }
        }
        ensure!(
            starts.ends_with(&[1, 2, 3, 4]),
            "waves started in the order {starts:?}"
        );
        ensure!(
            r.waves_started == 4 && r.ready == 16 && r.failed == 0,
            "completed rollout {r:?}"
        );
        let p = s.get_platform().await?.context("platform")?;
        let st = p.status.clone().unwrap_or_default();
        ensure!(
            st.revision.as_deref() == Some(rev2.as_str())
                && st.previous_revision.as_deref() == Some(rev1.as_str()),
            "platform status after the rollout: revision {:?}, previous {:?}",
            st.revision,
            st.previous_revision
        );
        let events = events_text(&s.client).await?;
        ensure!(
            events.contains(&format!("wave 1/4: 1 tenant(s) move to revision {rev2}"))
                && events.contains(&format!("16 tenant(s) on revision {rev2}")),
            "no WaveStarted/RolloutComplete events for revision {rev2}"
        );
        let provinces = st.provinces.clone();
        ensure!(
            provinces.len() == 16 && provinces.values().all(|c| c.total == 1 && c.ready == 1),
            "platform status by province: {provinces:?}"
        );
        for t in s.tenants().await? {
            ensure!(
                revision_of(&t) == Some(rev2.as_str()),
                "{}",
                conditions_summary(&t)
            );
        }
        let revs = object_revisions(&s).await?;
        ensure!(
            revs == [(rev2.clone(), 16 * (OBJECTS_PER_TENANT - 1))].into(),
            "objects after the rollout: {revs:?}"
        );

        // Undo: the platform's spec is the snapshot of revision 1 again, and the tenants go back
        // in waves.
        let out = khaibao_stdout(&env.cp, &["rollout", "undo", &s.platform])?;
        ensure!(
            out.contains(&format!("back to revision {rev1}")),
            "undo said: {out}"
        );
        let r = wait_phase(&s, &rev1, RolloutStatus::COMPLETE, Duration::from_secs(120)).await?;
        ensure!(r.from == rev2 && r.waves_started == 4, "undo rollout {r:?}");
        let revs = object_revisions(&s).await?;
        ensure!(
            revs == [(rev1.clone(), 16 * (OBJECTS_PER_TENANT - 1))].into(),
            "objects after undo: {revs:?}"
        );
        let p = s.get_platform().await?.context("platform")?;
        ensure!(
            platform_revision(&serde_json::to_value(&p)?)? == rev1,
            "the platform's spec is not revision 1's content after undo"
        );
        s.cleanup().await
    });
}

#[test]
fn a_broken_template_halts_after_the_canary_and_undo_brings_it_back() {
    with_shared(async |env| {
        let s = Scope::new(env.cp.client().await?, "halt");
        let mut manifest = s.platform_manifest()?;
        manifest["spec"]["rollout"] = json!({"canaryCount": 1, "batch": "50%", "maxFailures": "0", "waveTimeoutSeconds": 120});
        let rev1 = platform_revision(&manifest)?;
        s.apply_platform(&manifest).await?;
        let tenants = s.provinces(&["01", "02", "04", "06", "08", "10", "11", "12"])?;
        s.create_tenants(&tenants).await?;
        s.wait_ready(8, Duration::from_secs(90)).await?;
        let before = s.objects().await?;

        // A key the API server refuses ("bad key!" is not a valid ConfigMap key): the template
        // compiles and renders, and every apply of it fails.
        edit_config_template(&mut manifest, "  \"bad key!\": broken")?;
        let rev2 = platform_revision(&manifest)?;
        s.apply_platform(&manifest).await?;
        let r = wait_phase(&s, &rev2, RolloutStatus::HALTED, Duration::from_secs(60)).await?;
        ensure!(
            r.waves_started == 1 && r.on_target == 1 && r.failed == 1,
            "halted rollout {r:?}"
        );
        let message = r.message.clone().unwrap_or_default();
        ensure!(
            message.contains("halted: 1 tenant(s) failed")
                && message.contains(&format!(
                    "7 tenant(s) not yet moved stay on revision {rev1}"
                )),
            "halt message: {message}"
        );
        // Give a wrongly continuing rollout time to show itself.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let (_, r) = rollout(&s).await?;
        ensure!(r.waves_started == 1, "waves kept starting: {r:?}");
        let mut untouched = 0;
        for t in s.tenants().await? {
            let target = t
                .status
                .as_ref()
                .and_then(|s| s.target_revision.clone())
                .unwrap_or_default();
            if target == rev2 {
                ensure!(
                    !khaibao_e2e::tenant_ready(&t),
                    "the canary is Ready on a broken revision: {}",
                    conditions_summary(&t)
                );
            } else {
                ensure!(
                    target == rev1
                        && revision_of(&t) == Some(rev1.as_str())
                        && khaibao_e2e::tenant_ready(&t),
                    "a tenant not reached is not Ready on revision 1: {}",
                    conditions_summary(&t)
                );
                untouched += 1;
            }
        }
        ensure!(untouched == 7, "{untouched} tenants untouched, expected 7");
        let after = s.objects().await?;
        let canary = r.canaries.first().cloned().unwrap_or_default();
        let canary_label = canary.replace('/', ".");
        // Tenant objects only: the shared workload follows the platform at once.
        for o in before
            .iter()
            .filter(|o| o.tenant().is_some() && o.tenant() != Some(canary_label.as_str()))
        {
            let now = after
                .iter()
                .find(|a| a.kind == o.kind && a.name == o.name)
                .with_context(|| {
                    format!("{} {} deleted during a halted rollout", o.kind, o.name)
                })?;
            ensure!(
                now.resource_version == o.resource_version,
                "{} {} was rewritten during a halted rollout",
                o.kind,
                o.name
            );
        }
        let events = events_text(&s.client).await?;
        ensure!(events.contains("RolloutHalted"), "no RolloutHalted event");
        let status = khaibao_stdout(&env.cp, &["rollout", "status", &s.platform])?;
        ensure!(
            status.contains("Halted") && status.contains(&canary),
            "rollout status of a halted rollout:\n{status}"
        );

        // Undo of an unfinished rollout: the canary returns to revision 1 at once.
        let out = khaibao_stdout(&env.cp, &["rollout", "undo", &s.platform])?;
        ensure!(out.contains("return at once"), "undo said: {out}");
        wait_phase(&s, &rev2, RolloutStatus::CANCELLED, Duration::from_secs(30)).await?;
        s.wait_ready(8, Duration::from_secs(60)).await?;
        for t in s.tenants().await? {
            ensure!(
                revision_of(&t) == Some(rev1.as_str()),
                "after undo: {}",
                conditions_summary(&t)
            );
        }
        s.cleanup().await
    });
}
