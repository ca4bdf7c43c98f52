//! An operator upgrade is a rollout too. On a converged fleet of all 3,355 tenants of the
//! current division (34 provinces, 3,321 communes):
//!
//! 1. the operator that converged it — an earlier build (`make upgrade-from`), or else this
//!    build at renderer epoch 1, the output of every release before renderer epochs existed,
//!    pinned byte for byte by `pipeline::epochs_tests` — is replaced by this build pinned at
//!    that epoch: not one write, counted on the API server;
//! 2. it is replaced by this build at its newest epoch, whose output differs (two recommended
//!    labels), with the platform's rollout paused: the upgrade shows as a paused rollout to a
//!    new revision and no tenant object is written (the platform's few shared objects follow
//!    its revision at once, as on any template change);
//! 3. resumed, the new output moves through the platform's waves — the canary, then batches
//!    of 25 % — each wave started only once the earlier ones were Ready, never all at once,
//!    and in the end every object carries the new labels and every generated Secret its value.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use khaibao::api::{Platform, RolloutStatus};
use khaibao::pipeline::{RENDERER_EPOCH, platform_revision_at};
use khaibao::registry::Division;
use khaibao_e2e::rollouts::{record_rollouts, rollout, wait_phase};
use khaibao_e2e::scale::{ApiRequests, fleet};
use khaibao_e2e::{Operator, OperatorOptions, Scope, tail, wait_until, with_cluster};
use serde_json::json;

const TENANTS: usize = 34 + 3_321;
const PART_OF: &str = "app.kubernetes.io/part-of";

/// This build at its newest renderer epoch, one replica.
fn newest() -> OperatorOptions {
    let mut opts = OperatorOptions::new("e2e-upgrade");
    opts.leader_election = false;
    opts
}

/// This build pinned at renderer `epoch`.
fn pinned(epoch: u32) -> OperatorOptions {
    let mut opts = newest();
    opts.extra_args = vec!["--renderer-epoch".into(), epoch.to_string()];
    opts
}

/// The resourceVersion of every object of the platform, by kind and name.
async fn versions(s: &Scope) -> anyhow::Result<BTreeMap<(String, String), String>> {
    Ok(s.objects()
        .await?
        .into_iter()
        .map(|o| ((o.kind, o.name), o.resource_version))
        .collect())
}

#[test]
fn an_operator_upgrade_rewrites_nothing_and_a_new_output_moves_in_waves() {
    with_cluster(async |cp| {
        // The operator before the upgrade: a real earlier build when given (`make
        // upgrade-from`), else this build pinned at epoch 1, the earlier builds' output.
        let previous = match std::env::var_os("KHAIBAO_PREVIOUS_OPERATOR_BIN") {
            Some(bin) => {
                eprintln!("[upgrade] before the upgrade: {}", bin.to_string_lossy());
                OperatorOptions {
                    bin: Some(bin.into()),
                    ..newest()
                }
            }
            None => pinned(1),
        };
        let mut op = Operator::start(cp, previous)?;
        op.wait_ready(Duration::from_secs(60)).await?;
        let s = Scope::new(cp.client().await?, "upgrade");
        let mut manifest = s.platform_manifest()?;
        manifest["spec"]["rollout"] = json!({"canaryCount": 1, "batch": "25%", "maxFailures": "0"});
        let platform: Platform = serde_json::from_value(manifest.clone())?;
        let (old, new) = (
            platform_revision_at(&platform, 1),
            platform_revision_at(&platform, RENDERER_EPOCH),
        );
        ensure!(
            old != new,
            "epochs 1 and {RENDERER_EPOCH} share revision {old}"
        );
        s.apply_platform(&manifest).await?;
        s.wait_platform_reconciled(Duration::from_secs(30)).await?;
        let f = fleet(&s.platform, Division::D34, None);
        ensure!(
            f.tenants.len() == TENANTS,
            "{} tenants in the fleet",
            f.tenants.len()
        );
        let started = Instant::now();
        s.create_tenants(&f.tenants).await?;
        s.wait_ready(TENANTS, Duration::from_secs(900)).await?;
        eprintln!(
            "[upgrade] {TENANTS} tenants Ready at epoch 1 in {:.1?}",
            started.elapsed()
        );
        op.wait_idle(Duration::from_secs(60)).await?;
        let versions_before = versions(&s).await?;
        let shared_names: Vec<String> = s
            .objects()
            .await?
            .into_iter()
            .filter(|o| o.tenant().is_none())
            .map(|o| o.name)
            .collect();
        ensure!(
            !shared_names.is_empty(),
            "the platform has no shared objects"
        );
        let secrets_before = s.generated_secrets().await?;
        ensure!(
            secrets_before.len() == TENANTS,
            "{} generated Secrets",
            secrets_before.len()
        );
        let p = s.get_platform().await?.context("platform gone")?;
        ensure!(
            p.status.as_ref().and_then(|st| st.revision.as_deref()) == Some(old.as_str()),
            "platform at {:?}, expected epoch 1's revision {old}",
            p.status.and_then(|st| st.revision)
        );

        // 1. The same output from the new build: not one write from its first pass (every
        // tenant looked at, resyncs every 5 s), counted by the API server.
        ensure!(
            op.terminate()?,
            "the epoch-1 operator did not stop on SIGTERM"
        );
        let api_before = ApiRequests::scrape(&s.client).await?;
        op.restart_with(pinned(1).resync_seconds(5))?;
        op.wait_ready(Duration::from_secs(60)).await?;
        wait_until(
            "the restarted operator through every tenant",
            Duration::from_secs(300),
            async || {
                let n = op.reconciles().await?.get("tenant").copied().unwrap_or(0.0);
                ensure!(n >= TENANTS as f64, "{n} tenant reconciles");
                Ok(())
            },
        )
        .await?;
        tokio::time::sleep(Duration::from_secs(6)).await;
        let writes = ApiRequests::scrape(&s.client)
            .await?
            .since(&api_before)
            .workload()
            .filter(|verb, _| khaibao_e2e::scale::WRITE_VERBS.contains(&verb));
        ensure!(
            writes.writes() == 0.0,
            "the new build at the old epoch wrote to a converged fleet: {}",
            writes.describe()
        );
        ensure!(
            versions(&s).await? == versions_before,
            "objects changed across the upgrade"
        );
        eprintln!("[upgrade] same output: 0 writes by the API server's count");

        // 2. A new output, with the rollout paused: a paused rollout to the new revision, and
        // no tenant object written.
        manifest["spec"]["rollout"]["paused"] = json!(true);
        s.apply_platform(&manifest).await?;
        op.wait_idle(Duration::from_secs(60)).await?;
        ensure!(
            op.terminate()?,
            "the pinned operator did not stop on SIGTERM"
        );
        op.restart_with(newest())?;
        op.wait_ready(Duration::from_secs(60)).await?;
        let r = wait_phase(&s, &new, RolloutStatus::PAUSED, Duration::from_secs(120))
            .await
            .with_context(|| format!("operator log:\n{}", tail(&op.log(), 30)))?;
        ensure!(
            r.from == old && r.waves_started == 0 && r.waves > 2,
            "paused upgrade rollout {r:?}"
        );
        op.wait_idle(Duration::from_secs(60)).await?;
        // The platform's own shared objects follow its revision at once, as on any template
        // change; the tenants' objects wait for their waves.
        let versions_paused = versions(&s).await?;
        let written: Vec<&(String, String)> = versions_paused
            .iter()
            .filter(|(k, v)| versions_before.get(*k) != Some(*v))
            .map(|(k, _)| k)
            .collect();
        ensure!(
            versions_paused.len() == versions_before.len()
                && written.iter().all(|(_, name)| shared_names.contains(name)),
            "tenant objects written while the upgrade's rollout is paused: {} objects, {} written, e.g. {:?}",
            versions_paused.len(),
            written.len(),
            written.iter().take(5).collect::<Vec<_>>()
        );
        eprintln!("[upgrade] new output, paused: rollout {old} -> {new} holds every tenant");

        // 3. Resumed: the waves, each after the earlier ones are Ready.
        let seen = record_rollouts(&s).await?;
        manifest["spec"]["rollout"]["paused"] = json!(false);
        s.apply_platform(&manifest).await?;
        let moving = Instant::now();
        let done = wait_phase(&s, &new, RolloutStatus::COMPLETE, Duration::from_secs(900))
            .await
            .with_context(|| format!("operator log:\n{}", tail(&op.log(), 30)))?;
        eprintln!(
            "[upgrade] {TENANTS} tenants moved to epoch {RENDERER_EPOCH} in {:.1?}",
            moving.elapsed()
        );
        ensure!(
            done.ready == TENANTS as i64 && done.failed == 0,
            "completed {done:?}"
        );
        let seen = seen.lock().map(|v| v.clone()).unwrap_or_default();
        // A wave starts only once every tenant moved by the earlier waves is Ready.
        let (mut started, mut moved) = (0, 0);
        for r in seen.iter().filter(|r| r.to == new) {
            ensure!(
                r.waves_started >= started,
                "the rollout went back from wave {started} to {}",
                r.waves_started
            );
            if r.waves_started > started && started > 0 {
                ensure!(
                    r.ready >= moved,
                    "wave {} started with {} Ready, fewer than the {moved} tenants of the waves before",
                    r.waves_started,
                    r.ready
                );
            }
            if r.waves_started > started {
                started = r.waves_started;
            }
            moved = moved.max(r.on_target);
        }
        ensure!(
            seen.iter()
                .any(|r| r.to == new && r.waves_started == 1 && r.on_target == 1),
            "no status showed the canary alone on the new output: {:?}",
            seen.iter()
                .map(|r| (r.waves_started, r.on_target))
                .collect::<Vec<_>>()
        );

        let after = s.objects().await?;
        let unlabelled: Vec<String> = after
            .iter()
            .filter(|o| o.kind != "Secret" && o.label(PART_OF) != Some(s.platform.as_str()))
            .map(|o| format!("{} {}", o.kind, o.name))
            .collect();
        ensure!(
            unlabelled.is_empty(),
            "{} objects without the epoch-{RENDERER_EPOCH} labels, e.g. {:?}",
            unlabelled.len(),
            unlabelled.iter().take(3).collect::<Vec<_>>()
        );
        ensure!(
            after.len() == versions_before.len(),
            "{} objects after, {} before",
            after.len(),
            versions_before.len()
        );
        ensure!(
            s.generated_secrets().await? == secrets_before,
            "generated Secret values changed in the upgrade"
        );
        let (_, r) = rollout(&s).await?;
        eprintln!("[upgrade] done: {r:?}");
        Ok(())
    });
}
