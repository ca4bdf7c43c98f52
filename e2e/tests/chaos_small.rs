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
//! The fault injection, the recorder and the end checks are `khaibao_e2e::chaos`, shared with
//! the national run of `make chaos` (`chaos_national.rs`).

use std::time::{Duration, Instant};

use khaibao::registry::Division;
use khaibao_e2e::chaos::{Chaos, Converged, Fault, Reference, Rng, RolloutPhase, seed};
use khaibao_e2e::scale::{ReadyTracker, fleet};
use khaibao_e2e::{
    OBJECTS_PER_TENANT, Operator, OperatorOptions, SHARED_OBJECTS, Scope, platform_revision,
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

        let chaos = Chaos {
            cp,
            s: &s,
            tracker: &tracker,
            step: Duration::from_secs(120),
            max_down: Duration::from_secs(2),
        };
        let converged = Converged {
            tenants: TENANTS,
            reference,
            secrets: secrets_before,
        };
        let rollout = RolloutPhase {
            name: "small",
            on: "",
            template_line: "  e2eChaosMarker: v2",
            from: &rev1,
            plan: &plan,
        };
        // Every tenant Ready on the new revision, checked on the API server; exactly the
        // objects of before, on the new revision; every generated Secret with its value; the
        // recorded history of one rollout, which only the API server restart may break, once.
        chaos
            .rollout(&mut ops, &mut rng, &mut manifest, &converged, rollout)
            .await?;
        eprintln!("[chaos] {} operator starts", ops[0].starts);
        Ok(())
    });
}
