//! The small chaos run of `make test`: 500 tenants converge, a template change rolls out in
//! waves (one canary, then batches of 25 %), and during the rollout the operator is killed -9
//! three times and the API server is restarted once, at moments drawn from a seeded RNG. In the
//! end every tenant is Ready on the new revision with exactly the objects it had before, every
//! generated Secret keeps its value, and the recorded Platform statuses show one rollout that
//! never went backwards and never started a wave before the earlier ones were Ready.
//!
//! The seed is printed; `KHAIBAO_CHAOS_SEED=<seed>` replays the same fault moments (the moments
//! are progress points of the rollout, not times, so a replay hits the same phase of it).
//!
//! The recorder, the end checks and the fault vocabulary are `khaibao_e2e::chaos`, shared with
//! the national run of `make chaos` (`chaos_national.rs`).

use std::time::{Duration, Instant};

use anyhow::Context;

use khaibao::api::RolloutStatus;
use khaibao::registry::Division;
use khaibao_e2e::chaos::{
    Fault, Reference, Rng, ensure_rollout_history, ensure_secrets_kept, record_rollouts, seed,
    wait_point,
};
use khaibao_e2e::rollouts::{edit_config_template, wait_phase};
use khaibao_e2e::scale::{ReadyTracker, fleet};
use khaibao_e2e::{
    OBJECTS_PER_TENANT, Operator, OperatorOptions, SHARED_OBJECTS, Scope, platform_revision, tail,
    with_cluster,
};
use serde_json::json;

const TENANTS: usize = 500;
const EXPECTED: usize = TENANTS * OBJECTS_PER_TENANT + SHARED_OBJECTS;
const KILLS: usize = 3;
/// The latest progress point a fault may be drawn at: 80 % of the tenants, so that the 100
/// after it (well over a second of the last wave, longer on a slower machine) leave the
/// tracker time to see the point before the rollout completes.
const LAST_POINT: u64 = TENANTS as u64 * 80 / 100;

#[test]
fn chaos_500_tenants_rollout_with_kills_and_an_apiserver_restart() {
    with_cluster(async |cp| {
        let seed = seed()?;
        eprintln!("[chaos] seed {seed} (replay with KHAIBAO_CHAOS_SEED={seed})");
        let mut rng = Rng::new(seed);

        // No leader election: with one replica it only adds a lease wait after every kill -9
        // (the dead holder's lease must expire), which would spend the time budget on waiting
        // instead of on the rollout. Leader handover has its own test.
        let mut opts = OperatorOptions::new("e2e-chaos");
        opts.leader_election = false;
        let mut ops = vec![Operator::start(cp, opts)?];
        ops[0].wait_ready(Duration::from_secs(60)).await?;
        let s = Scope::new(cp.client().await?, "chaos");
        let mut manifest = s.platform_manifest()?;
        manifest["spec"]["rollout"] = json!({"canaryCount": 1, "batch": "25%", "maxFailures": "0"});
        let rev1 = platform_revision(&manifest)?;
        s.apply_platform(&manifest).await?;
        s.wait_platform_reconciled(Duration::from_secs(30)).await?;
        let tracker = ReadyTracker::start(s.client.clone());

        // 63 provinces and the first 437 communes: communes after their provinces.
        let f = fleet(&s.platform, Division::D63, Some(TENANTS));
        let started = Instant::now();
        s.create_tenants(&f.tenants).await?;
        s.wait_ready(TENANTS, Duration::from_secs(120)).await?;
        eprintln!(
            "[chaos] {TENANTS} tenants Ready in {:.1?}",
            started.elapsed()
        );
        // Let the last applies land, then take the reference picture.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let reference = Reference::take(&s, EXPECTED).await?;
        let secrets_before = s.generated_secrets().await?;
        anyhow::ensure!(
            secrets_before.len() == TENANTS,
            "{} generated secrets before the rollout, expected {TENANTS}",
            secrets_before.len()
        );

        // Fault moments as progress points: how many tenants are Ready on the new revision when
        // the fault fires. Drawn over the whole rollout but before its last tenants, so that
        // every fault interrupts it; the API server restart is one of the two middle ones.
        // Counted on the tenants themselves: the Platform's status is written about once per
        // wave, so its count jumps from one wave's end to the next and a moment inside the last
        // wave would only be seen as "Complete".
        let points = rng.points(KILLS + 1, 1, LAST_POINT);
        let mut faults = vec![Fault::KillOperator; KILLS + 1];
        faults[rng.range(1, 3) as usize] = Fault::RestartApiServer;
        let plan: Vec<(u64, Fault)> = points.into_iter().zip(faults).collect();
        eprintln!("[chaos] faults at (tenants Ready on the new revision, fault): {plan:?}");

        let recorder = record_rollouts(&s).await?;
        edit_config_template(&mut manifest, "  e2eChaosMarker: v2")?;
        let rev2 = platform_revision(&manifest)?;
        tracker.want_revision(Some(rev2.clone()));
        s.apply_platform(&manifest).await?;
        eprintln!("[chaos] rollout {rev1} -> {rev2} applied");
        let rollout_started = Instant::now();

        let mut last_fault = Instant::now();
        for (i, (at, fault)) in plan.iter().enumerate() {
            let ready = wait_point(
                &s,
                &tracker,
                Some(&rev2),
                *at,
                &mut ops,
                Duration::from_secs(120),
            )
            .await
            .map_err(|e| e.context(format!("fault {} ({fault:?} at {at})", i + 1)))?;
            // A random pause before coming back, so that restarts do not always land at the
            // same distance from the fault.
            let down = Duration::from_millis(rng.range(0, 2000));
            match fault {
                Fault::RestartApiServer => {
                    cp.kill_apiserver()?;
                    tokio::time::sleep(down).await;
                    cp.restart_apiserver()?;
                    eprintln!(
                        "[chaos] fault {}: API server restarted at {ready} Ready, down {down:.1?} plus its start ({:.1?} into the rollout)",
                        i + 1,
                        rollout_started.elapsed()
                    );
                }
                _ => {
                    ops[0].kill9()?;
                    tokio::time::sleep(down).await;
                    ops[0].restart()?;
                    eprintln!(
                        "[chaos] fault {}: kill -9 of the operator at {ready} Ready, back after {down:.1?} ({:.1?} into the rollout)",
                        i + 1,
                        rollout_started.elapsed()
                    );
                }
            }
            last_fault = Instant::now();
        }

        let done = wait_phase(&s, &rev2, RolloutStatus::COMPLETE, Duration::from_secs(120))
            .await
            .with_context(|| format!("operator log:\n{}", tail(&ops[0].log(), 30)))?;
        s.wait_ready(TENANTS, Duration::from_secs(60)).await?;
        eprintln!(
            "[chaos] converged {:.1?} after the last fault ({:.1?} for the whole rollout)",
            last_fault.elapsed(),
            rollout_started.elapsed()
        );
        anyhow::ensure!(
            ops[0].is_running(),
            "the operator exited after its last restart:\n{}",
            tail(&ops[0].log(), 30)
        );
        anyhow::ensure!(
            done.ready == TENANTS as i64 && done.failed == 0 && done.total == TENANTS as i64,
            "completed rollout: {done:?}"
        );

        // Every tenant Ready on the new revision, checked on the API server; exactly the
        // objects of before, on the new revision; every generated Secret with its value.
        s.ensure_ready_on(TENANTS, &rev2).await?;
        let tenants = s.tenants().await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        reference.ensure_same(&s, &tenants, &rev2).await?;
        let secrets_after = s.generated_secrets().await?;
        ensure_secrets_kept(&secrets_before, &secrets_after, "before the rollout")?;
        anyhow::ensure!(
            secrets_after.len() == secrets_before.len(),
            "{} generated secrets after the rollout, {} before",
            secrets_after.len(),
            secrets_before.len()
        );

        // The recorded history of the rollout: only the API server restart may break it, once.
        let history = ensure_rollout_history(&recorder, &rev1, &rev2, &done, 1)?;
        for g in &history.gaps {
            eprintln!(
                "[chaos] status watch started over after the API server restart: last write seen {}, listed {} ({})",
                g.last_seen,
                g.listed,
                if g.missed {
                    "writes in between not seen one by one"
                } else {
                    "no write missed"
                }
            );
        }
        eprintln!(
            "[chaos] {} status writes of the rollout recorded, {} waves, {} operator starts",
            history.writes, done.waves, ops[0].starts
        );
        Ok(())
    });
}
