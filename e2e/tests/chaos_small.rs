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
//! Over 500 lines: the fault plan, the recorder of every Platform status write and the end checks
//! belong to this one scenario and read in that order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, ensure};
use futures::StreamExt;
use khaibao::api::RolloutStatus;
use khaibao::registry::Division;
use khaibao_e2e::rollouts::{edit_config_template, platform_watch, rollout, wait_phase};
use khaibao_e2e::scale::fleet;
use khaibao_e2e::{
    OBJECTS_PER_TENANT, Obj, Operator, OperatorOptions, SHARED_OBJECTS, Scope, platform_revision,
    tail, tenant_label, tenant_ready_on, with_cluster,
};
use kube::ResourceExt;
use kube::api::{ListParams, WatchEvent};
use serde_json::json;

const TENANTS: usize = 500;
const EXPECTED: usize = TENANTS * OBJECTS_PER_TENANT + SHARED_OBJECTS;
const KILLS: usize = 3;
/// The latest progress point a fault may be drawn at: 80 % of the tenants, so that the 100
/// after it (well over a second of the last wave, longer on a slower machine) leave the poll
/// time to see the point before the rollout completes.
const LAST_POINT: u64 = TENANTS as u64 * 80 / 100;
const REVISION: &str = "khaibao.dev/revision";

/// xorshift64*: enough to spread fault moments, and reproducible from the printed seed without
/// a dependency the e2e crate does not have.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // xorshift never leaves 0.
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `lo..hi` for picking moments.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

fn seed() -> anyhow::Result<u64> {
    match std::env::var("KHAIBAO_CHAOS_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .with_context(|| format!("KHAIBAO_CHAOS_SEED={s:?} is not a u64")),
        Err(_) => Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    KillOperator,
    RestartApiServer,
}

/// Every rollout the Platform's status carried, one entry per write seen, in write order; and
/// the places where the watch had to start over.
#[derive(Default)]
struct Record {
    rollouts: Vec<(String, RolloutStatus)>,
    gaps: Vec<Gap>,
}

/// A watch resume the API server refused (410 Gone). A restarted API server's watch cache
/// begins at etcd's revision when it starts, so a resume from the last platform write before
/// the restart is refused although etcd still has that history. The watch then starts over
/// from a list; `missed` tells whether the platform was written in between (its
/// resourceVersion moved), i.e. whether some writes were not seen one by one.
#[derive(Clone, Debug)]
struct Gap {
    last_seen: String,
    listed: String,
    missed: bool,
}

/// Watches the platform from its current resourceVersion and records the rollout of every
/// status write. A watch that breaks (the API server restart breaks it) is resumed from the
/// last resourceVersion seen, so no write in between is missed; when the resume is refused,
/// the watch starts over from a list and the gap is recorded.
async fn record_rollouts(s: &Scope) -> anyhow::Result<Arc<Mutex<Record>>> {
    let (api, params, mut rv) = platform_watch(s).await?;
    let selector = format!("metadata.name={}", s.platform);
    let record: Arc<Mutex<Record>> = Default::default();
    let sink = record.clone();
    tokio::spawn(async move {
        // The resourceVersion to watch from when it is not the last platform write's.
        let mut from: Option<String> = None;
        loop {
            let start = from.clone().unwrap_or_else(|| rv.clone());
            let mut stream = match api.watch(&params, &start).await {
                Ok(stream) => stream.boxed(),
                Err(_) => {
                    // The API server is down: try again shortly.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(WatchEvent::Modified(p)) | Ok(WatchEvent::Added(p)) => {
                        if let Some(v) = p.resource_version() {
                            rv = v;
                        }
                        from = None;
                        if let Some(r) = p.status.and_then(|st| st.rollout)
                            && let Ok(mut rec) = sink.lock()
                        {
                            rec.rollouts.push((rv.clone(), r));
                        }
                    }
                    Ok(WatchEvent::Bookmark(b)) => from = Some(b.metadata.resource_version),
                    Ok(WatchEvent::Deleted(_)) => {}
                    Ok(WatchEvent::Error(e)) if e.code == 410 => {
                        let Ok(list) = api.list(&ListParams::default().fields(&selector)).await
                        else {
                            break;
                        };
                        let Some(p) = list.items.into_iter().next() else {
                            break;
                        };
                        let listed = p.resource_version().unwrap_or_default();
                        if let Ok(mut rec) = sink.lock() {
                            rec.gaps.push(Gap {
                                last_seen: rv.clone(),
                                listed: listed.clone(),
                                missed: listed != rv,
                            });
                            if listed != rv
                                && let Some(r) = p.status.and_then(|st| st.rollout)
                            {
                                rec.rollouts.push((listed.clone(), r));
                            }
                        }
                        rv = listed;
                        from = list.metadata.resource_version;
                        break;
                    }
                    // A broken connection or another error: resume.
                    Ok(WatchEvent::Error(_)) | Err(_) => break,
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Ok(record)
}

/// Per tenant label (`-` for the shared objects) and kind, how many objects.
fn census(objects: &[Obj]) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for o in objects {
        let owner = o.tenant().unwrap_or("-").to_string();
        *out.entry((owner, o.kind.clone())).or_default() += 1;
    }
    out
}

fn per_kind(objects: &[Obj]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for o in objects {
        *out.entry(o.kind.clone()).or_default() += 1;
    }
    out
}

/// The entries of two maps that differ, at most `max` of them, for failure messages.
fn diff<K: Ord + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
    before: &BTreeMap<K, V>,
    after: &BTreeMap<K, V>,
    max: usize,
) -> String {
    let keys: BTreeSet<&K> = before.keys().chain(after.keys()).collect();
    let rows: Vec<String> = keys
        .into_iter()
        .filter(|k| before.get(k) != after.get(k))
        .map(|k| format!("{k:?}: {:?} -> {:?}", before.get(k), after.get(k)))
        .collect();
    let more = rows.len().saturating_sub(max);
    let mut text = rows.into_iter().take(max).collect::<Vec<_>>().join("; ");
    if more > 0 {
        text.push_str(&format!("; and {more} more"));
    }
    text
}

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
        let mut op = Operator::start(cp, opts)?;
        op.wait_ready(Duration::from_secs(60)).await?;
        let s = Scope::new(cp.client().await?, "chaos");
        let mut manifest = s.platform_manifest()?;
        manifest["spec"]["rollout"] = json!({"canaryCount": 1, "batch": "25%", "maxFailures": "0"});
        let rev1 = platform_revision(&manifest)?;
        s.apply_platform(&manifest).await?;
        s.wait_platform_reconciled(Duration::from_secs(30)).await?;

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
        let before = s.objects().await?;
        ensure!(
            before.len() == EXPECTED,
            "{} objects before the rollout, expected {EXPECTED}: by kind {:?}",
            before.len(),
            per_kind(&before)
        );
        let census_before = census(&before);
        let kinds_before = per_kind(&before);
        let secrets_before = s.generated_secrets().await?;
        ensure!(
            secrets_before.len() == TENANTS,
            "{} generated secrets before the rollout, expected {TENANTS}",
            secrets_before.len()
        );

        // Fault moments as progress points: how many tenants are Ready on the new revision when
        // the fault fires. Drawn over the whole rollout but before its last tenants, so that
        // every fault interrupts it; the API server restart is one of the two middle ones.
        let mut points: Vec<u64> = (0..=KILLS).map(|_| rng.range(1, LAST_POINT)).collect();
        points.sort();
        let mut faults = vec![Fault::KillOperator; KILLS + 1];
        faults[rng.range(1, 3) as usize] = Fault::RestartApiServer;
        let plan: Vec<(u64, Fault)> = points.into_iter().zip(faults).collect();
        eprintln!("[chaos] faults at (tenants Ready on the new revision, fault): {plan:?}");

        let record = record_rollouts(&s).await?;
        edit_config_template(&mut manifest, "  e2eChaosMarker: v2")?;
        let rev2 = platform_revision(&manifest)?;
        s.apply_platform(&manifest).await?;
        eprintln!("[chaos] rollout {rev1} -> {rev2} applied");
        let rollout_started = Instant::now();

        let mut last_fault = Instant::now();
        for (i, (at, fault)) in plan.iter().enumerate() {
            // Progress counted on the tenants themselves: the Platform's status is written
            // about once per wave, so its count jumps from one wave's end to the next and a
            // moment inside the last wave would only be seen as "Complete" (half of all seeds
            // failed that way). A request that fails just polls again.
            let deadline = Instant::now() + Duration::from_secs(120);
            let ready = loop {
                if let Ok((_, r)) = rollout(&s).await
                    && r.to == rev2
                {
                    ensure!(
                        r.phase != RolloutStatus::COMPLETE,
                        "the rollout completed before fault {} ({fault:?} at {at} Ready); it was not interrupted",
                        i + 1
                    );
                    ensure!(
                        r.phase == RolloutStatus::PROGRESSING,
                        "the rollout is {} before fault {}: {}",
                        r.phase,
                        i + 1,
                        r.message.unwrap_or_default()
                    );
                    if let Ok(tenants) = s.tenants().await {
                        let on_new =
                            tenants.iter().filter(|t| tenant_ready_on(t, &rev2)).count() as u64;
                        if on_new >= *at {
                            break on_new;
                        }
                    }
                }
                // An operator that exited would only show up as a timeout two minutes later.
                ensure!(
                    op.is_running(),
                    "the operator exited before fault {}:\n{}",
                    i + 1,
                    tail(&op.log(), 30)
                );
                ensure!(
                    Instant::now() < deadline,
                    "the rollout did not reach {at} Ready tenants for fault {} within 120 s; operator log:\n{}",
                    i + 1,
                    tail(&op.log(), 30)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            // A random pause before coming back, so that restarts do not always land at the
            // same distance from the fault.
            let down = Duration::from_millis(rng.range(0, 2000));
            match fault {
                Fault::KillOperator => {
                    op.kill9()?;
                    tokio::time::sleep(down).await;
                    op.restart()?;
                    eprintln!(
                        "[chaos] fault {}: kill -9 of the operator at {ready} Ready, back after {down:.1?} ({:.1?} into the rollout)",
                        i + 1,
                        rollout_started.elapsed()
                    );
                }
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
            }
            last_fault = Instant::now();
        }

        let done = wait_phase(&s, &rev2, RolloutStatus::COMPLETE, Duration::from_secs(120))
            .await
            .with_context(|| format!("operator log:\n{}", tail(&op.log(), 30)))?;
        s.wait_ready(TENANTS, Duration::from_secs(60)).await?;
        eprintln!(
            "[chaos] converged {:.1?} after the last fault ({:.1?} for the whole rollout)",
            last_fault.elapsed(),
            rollout_started.elapsed()
        );
        ensure!(
            op.is_running(),
            "the operator exited after its last restart:\n{}",
            tail(&op.log(), 30)
        );
        ensure!(
            done.ready == TENANTS as i64 && done.failed == 0 && done.total == TENANTS as i64,
            "completed rollout: {done:?}"
        );

        // Every tenant Ready on the new revision, checked on the API server.
        s.ensure_ready_on(TENANTS, &rev2).await?;
        let tenants = s.tenants().await?;

        // Exactly the objects of before: same count per tenant and kind, no duplicate, no
        // orphan, every rendered object on the new revision.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = s.objects().await?;
        let names: BTreeSet<(&str, &str)> = after
            .iter()
            .map(|o| (o.kind.as_str(), o.name.as_str()))
            .collect();
        ensure!(
            names.len() == after.len(),
            "{} objects but {} distinct kind/name pairs: duplicates",
            after.len(),
            names.len()
        );
        let alive: BTreeSet<String> = tenants
            .iter()
            .map(|t| tenant_label(&t.namespace().unwrap_or_default(), &t.name_any()))
            .collect();
        let orphans: Vec<String> = after
            .iter()
            .filter(|o| o.tenant().is_some_and(|t| !alive.contains(t)))
            .map(|o| format!("{} {} of {:?}", o.kind, o.name, o.tenant()))
            .collect();
        ensure!(
            orphans.is_empty(),
            "objects of tenants that do not exist: {orphans:?}"
        );
        ensure!(
            per_kind(&after) == kinds_before,
            "objects per kind changed: {}",
            diff(&kinds_before, &per_kind(&after), 10)
        );
        let census_after = census(&after);
        ensure!(
            census_after == census_before,
            "objects per tenant and kind changed: {}",
            diff(&census_before, &census_after, 10)
        );
        let stale: Vec<String> = after
            .iter()
            .filter(|o| o.kind != "Secret" && o.tenant().is_some())
            .filter(|o| o.label(REVISION) != Some(rev2.as_str()))
            .map(|o| format!("{} {} at {:?}", o.kind, o.name, o.label(REVISION)))
            .collect();
        ensure!(
            stale.is_empty(),
            "{} tenant objects not on {rev2}, e.g. {:?}",
            stale.len(),
            stale.iter().take(5).collect::<Vec<_>>()
        );
        // Compared as bytes; the failure names the Secrets, never their values.
        let secrets_after = s.generated_secrets().await?;
        let changed: Vec<&String> = secrets_before
            .keys()
            .chain(secrets_after.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|k| secrets_before.get(*k) != secrets_after.get(*k))
            .collect();
        ensure!(
            changed.is_empty(),
            "{} generated secrets are missing, new or changed in value: {:?}",
            changed.len(),
            changed.iter().take(10).collect::<Vec<_>>()
        );

        // The recorded history of the rollout: one rollout, never restarted, never backwards,
        // no wave before the earlier waves were Ready.
        let (writes, gaps) = {
            let rec = record.lock().map_err(|_| anyhow::anyhow!("record lock"))?;
            (rec.rollouts.clone(), rec.gaps.clone())
        };
        // Only the API server restart may break the history, once. Writes missed across it
        // only weaken the checks below (each compares a write with an earlier one), they
        // cannot make them fail wrongly; so the gap is allowed and reported.
        ensure!(
            gaps.len() <= 1,
            "the status watch started over more than once (one API server restart): {gaps:?}"
        );
        for g in &gaps {
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
        let ours: Vec<&(String, RolloutStatus)> =
            writes.iter().filter(|(_, r)| r.to == rev2).collect();
        ensure!(
            !ours.is_empty(),
            "no status write of the rollout to {rev2} was seen"
        );
        let first = &ours[0].1;
        ensure!(
            first.from == rev1 && first.started_at.is_some(),
            "the rollout to {rev2} was first written as {first:?}"
        );
        let mut waves_seen = BTreeSet::new();
        for pair in ours.windows(2) {
            let ((_, prev), (rv, r)) = (&pair[0], &pair[1]);
            ensure!(
                r.from == first.from && r.started_at == first.started_at,
                "the rollout restarted at resourceVersion {rv}: from {} started {:?}, first written from {} started {:?}",
                r.from,
                r.started_at,
                first.from,
                first.started_at
            );
            ensure!(
                r.waves_started >= prev.waves_started,
                "wavesStarted went back from {} to {} at resourceVersion {rv}",
                prev.waves_started,
                r.waves_started
            );
            // `onTarget` is the size of the waves started so far, so at the write that starts
            // the next wave, the tenants of the earlier ones (the previous write's `onTarget`)
            // must all be Ready or failed. Checked on the new write's counts: the operator
            // decides from its cache, which may already know of tenants that became Ready
            // after the previous status was written, and the tenants just moved cannot be
            // Ready on the new revision in the very write that moves them.
            if r.waves_started > prev.waves_started {
                waves_seen.insert(r.waves_started);
                ensure!(
                    r.ready + r.failed >= prev.on_target,
                    "wave {} started at resourceVersion {rv} with {} Ready and {} failed of the {} tenants of earlier waves: {r:?}",
                    r.waves_started,
                    r.ready,
                    r.failed,
                    prev.on_target
                );
            }
        }
        waves_seen.insert(first.waves_started);
        let all: BTreeSet<i32> = (1..=done.waves).collect();
        ensure!(
            all.is_subset(&waves_seen.iter().copied().chain([0]).collect()),
            "not every wave start was recorded: saw {waves_seen:?} of {} waves",
            done.waves
        );
        let phases: BTreeSet<&str> = ours.iter().map(|(_, r)| r.phase.as_str()).collect();
        ensure!(
            phases
                .iter()
                .all(|p| *p == RolloutStatus::PROGRESSING || *p == RolloutStatus::COMPLETE),
            "the rollout went through phases {phases:?}"
        );
        eprintln!(
            "[chaos] {} status writes of the rollout recorded, {} waves, {} operator starts",
            ours.len(),
            done.waves,
            op.starts
        );
        Ok(())
    });
}
