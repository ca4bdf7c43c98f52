//! The vocabulary of the chaos runs: `tests/chaos_small.rs` (500 tenants, in `make test`) and
//! `tests/chaos_national.rs` (the whole pre-reform country, `make chaos`). A seeded fault plan
//! of progress points, a recorder of every Platform status write, and the end checks: the
//! objects of before, the generated Secrets of before, one rollout that never went backwards.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, ensure};
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use khaibao::api::{RolloutStatus, Tenant};
use kube::api::{ListParams, WatchEvent};
use kube::{Api, ResourceExt};

use crate::rollouts::{platform_watch, rollout};
use crate::scale::ReadyTracker;
use crate::{Obj, Operator, Scope, tail, tenant_label};

mod runner;

pub use runner::{Chaos, Converged, RolloutPhase, describe, since_last};

const REVISION: &str = "khaibao.dev/revision";

/// xorshift64*: enough to spread fault moments, and reproducible from the printed seed without
/// a dependency the e2e crate does not have.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // xorshift never leaves 0.
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `lo..hi` for picking moments.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }

    /// `n` distinct progress points in `lo..hi`, ascending. Distinct, so that every fault hits
    /// the system in a state the previous one did not leave it in at the same count.
    pub fn points(&mut self, n: usize, lo: u64, hi: u64) -> Vec<u64> {
        let mut out = BTreeSet::new();
        while out.len() < n.min((hi - lo) as usize) {
            out.insert(self.range(lo, hi));
        }
        out.into_iter().collect()
    }
}

/// `KHAIBAO_CHAOS_SEED`, else one from the clock (printed by the caller, so any run replays).
pub fn seed() -> anyhow::Result<u64> {
    match std::env::var("KHAIBAO_CHAOS_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .with_context(|| format!("KHAIBAO_CHAOS_SEED={s:?} is not a u64")),
        Err(_) => Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// kill -9 of the (only) operator, restarted after a pause.
    KillOperator,
    /// kill -9 of the replica that holds the Lease, restarted as the standby.
    KillLeader,
    /// kill -9 of the API server, started again after a pause.
    RestartApiServer,
    /// kill -9 of etcd, started again on its data after a pause.
    RestartEtcd,
}

impl Fault {
    /// Whether the fault breaks the API server's watches (and so may cost the recorder a gap).
    pub fn breaks_watches(self) -> bool {
        matches!(self, Fault::RestartApiServer | Fault::RestartEtcd)
    }
}

/// Every rollout the Platform's status carried, one entry per write seen, in write order; and
/// the places where the watch had to start over.
#[derive(Clone, Default)]
pub struct Record {
    pub rollouts: Vec<(String, RolloutStatus)>,
    pub gaps: Vec<Gap>,
}

/// A watch resume the API server refused (410 Gone). A restarted API server's watch cache
/// begins at etcd's revision when it starts, so a resume from the last platform write before
/// the restart is refused although etcd still has that history. The watch then starts over
/// from a list; `missed` tells whether the platform was written in between (its
/// resourceVersion moved), i.e. whether some writes were not seen one by one.
#[derive(Clone, Debug)]
pub struct Gap {
    pub last_seen: String,
    pub listed: String,
    pub missed: bool,
}

/// The recorder of one rollout: stops watching when dropped.
pub struct Recorder {
    pub record: Arc<Mutex<Record>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Recorder {
    /// What was recorded so far.
    pub fn snapshot(&self) -> anyhow::Result<Record> {
        let rec = self
            .record
            .lock()
            .map_err(|_| anyhow::anyhow!("record lock"))?;
        Ok(rec.clone())
    }
}

/// Watches the platform from its current resourceVersion and records the rollout of every
/// status write. A watch that breaks (an API server or etcd restart breaks it) is resumed from
/// the last resourceVersion seen, so no write in between is missed; when the resume is
/// refused, the watch starts over from a list and the gap is recorded.
pub async fn record_rollouts(s: &Scope) -> anyhow::Result<Recorder> {
    let (api, params, mut rv) = platform_watch(s).await?;
    let selector = format!("metadata.name={}", s.platform);
    let record: Arc<Mutex<Record>> = Default::default();
    let sink = record.clone();
    let task = tokio::spawn(async move {
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
    Ok(Recorder { record, task })
}

/// Per tenant label (`-` for the shared objects) and kind, how many objects.
pub fn census(objects: &[Obj]) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for o in objects {
        let owner = o.tenant().unwrap_or("-").to_string();
        *out.entry((owner, o.kind.clone())).or_default() += 1;
    }
    out
}

pub fn per_kind(objects: &[Obj]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for o in objects {
        *out.entry(o.kind.clone()).or_default() += 1;
    }
    out
}

/// The entries of two maps that differ, at most `max` of them, for failure messages.
pub fn diff<K: Ord + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
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

/// The objects a converged platform has, as counts: what every later picture must equal.
pub struct Reference {
    pub census: BTreeMap<(String, String), usize>,
    pub kinds: BTreeMap<String, usize>,
    pub total: usize,
}

impl Reference {
    /// Takes the picture; fails unless there are `expected` objects.
    pub async fn take(s: &Scope, expected: usize) -> anyhow::Result<Reference> {
        let objects = s.objects().await?;
        ensure!(
            objects.len() == expected,
            "{} objects, expected {expected}: by kind {:?}",
            objects.len(),
            per_kind(&objects)
        );
        Ok(Reference {
            census: census(&objects),
            kinds: per_kind(&objects),
            total: objects.len(),
        })
    }

    /// Exactly the objects of the reference: same count per tenant and kind, no duplicate, no
    /// orphan of a tenant that does not exist, every rendered object labelled `revision`.
    pub async fn ensure_same(
        &self,
        s: &Scope,
        tenants: &[Tenant],
        revision: &str,
    ) -> anyhow::Result<()> {
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
            "{} objects of tenants that do not exist, e.g. {:?}",
            orphans.len(),
            orphans.iter().take(10).collect::<Vec<_>>()
        );
        let kinds = per_kind(&after);
        ensure!(
            kinds == self.kinds,
            "objects per kind changed: {}",
            diff(&self.kinds, &kinds, 10)
        );
        let census_after = census(&after);
        ensure!(
            census_after == self.census,
            "objects per tenant and kind changed: {}",
            diff(&self.census, &census_after, 10)
        );
        let stale: Vec<String> = after
            .iter()
            .filter(|o| o.kind != "Secret" && o.tenant().is_some())
            .filter(|o| o.label(REVISION) != Some(revision))
            .map(|o| format!("{} {} at {:?}", o.kind, o.name, o.label(REVISION)))
            .collect();
        ensure!(
            stale.is_empty(),
            "{} tenant objects not on {revision}, e.g. {:?}",
            stale.len(),
            stale.iter().take(5).collect::<Vec<_>>()
        );
        Ok(())
    }
}

/// Generated Secrets: name → key → value.
pub type Secrets = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// Every Secret of `before` is in `after` with the same bytes. Compared as bytes; the failure
/// names the Secrets, never their values.
pub fn ensure_secrets_kept(before: &Secrets, after: &Secrets, when: &str) -> anyhow::Result<()> {
    let changed: Vec<&String> = before
        .iter()
        .filter(|(name, value)| after.get(*name) != Some(value))
        .map(|(name, _)| name)
        .collect();
    ensure!(
        changed.is_empty(),
        "{} of the {} generated secrets that existed {when} are missing or changed in value: {:?}",
        changed.len(),
        before.len(),
        changed.iter().take(10).collect::<Vec<_>>()
    );
    Ok(())
}

/// What [`ensure_rollout_history`] saw.
pub struct History {
    pub writes: usize,
    pub gaps: Vec<Gap>,
}

/// The recorded history of the rollout `from → to`, which completed as `done`: one rollout,
/// never restarted, never backwards, no wave before the earlier waves were Ready, every wave
/// start seen. At most `allowed_gaps` watch restarts (one per API server or etcd fault); a
/// gap that missed writes only weakens the write-to-write checks (each compares a write with
/// an earlier one, so none can fail wrongly), but may hide a wave start, which is then not
/// required.
pub fn ensure_rollout_history(
    recorder: &Recorder,
    from: &str,
    to: &str,
    done: &RolloutStatus,
    allowed_gaps: usize,
) -> anyhow::Result<History> {
    let Record {
        rollouts: writes,
        gaps,
    } = recorder.snapshot()?;
    ensure!(
        gaps.len() <= allowed_gaps,
        "the status watch started over {} times ({allowed_gaps} API server or etcd faults): {gaps:?}",
        gaps.len()
    );
    let ours: Vec<&(String, RolloutStatus)> = writes.iter().filter(|(_, r)| r.to == to).collect();
    ensure!(
        !ours.is_empty(),
        "no status write of the rollout to {to} was seen"
    );
    let first = &ours[0].1;
    ensure!(
        first.from == from && first.started_at.is_some(),
        "the rollout to {to} was first written as {first:?}"
    );
    let mut waves_seen = BTreeSet::from([0, first.waves_started]);
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
        // `onTarget` is the size of the waves started so far, so at the write that starts the
        // next wave, the tenants of the earlier ones (the previous write's `onTarget`) must all
        // be Ready or failed. Checked on the new write's counts: the operator decides from its
        // cache, which may already know of tenants that became Ready after the previous status
        // was written, and the tenants just moved cannot be Ready on the new revision in the
        // very write that moves them.
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
    let missed_writes = gaps.iter().any(|g| g.missed);
    let unseen: Vec<i32> = (1..=done.waves)
        .filter(|w| !waves_seen.contains(w))
        .collect();
    ensure!(
        unseen.is_empty() || missed_writes,
        "the starts of waves {unseen:?} of {} were not recorded, and the status watch missed no write",
        done.waves
    );
    let phases: BTreeSet<&str> = ours.iter().map(|(_, r)| r.phase.as_str()).collect();
    ensure!(
        phases
            .iter()
            .all(|p| *p == RolloutStatus::PROGRESSING || *p == RolloutStatus::COMPLETE),
        "the rollout went through phases {phases:?}"
    );
    Ok(History {
        writes: ours.len(),
        gaps,
    })
}

/// Waits until `tracker` counts `at` Tenants (Ready on the revision it wants). With
/// `rollout_to`, the Platform's rollout to that revision must still be Progressing: a fault
/// after it completed would not interrupt it. Fails at once when an operator exited.
async fn wait_point(
    s: &Scope,
    tracker: &ReadyTracker,
    rollout_to: Option<&str>,
    at: u64,
    operators: &mut [Operator],
    timeout: Duration,
) -> anyhow::Result<usize> {
    let deadline = Instant::now() + timeout;
    loop {
        let ready = tracker.ready();
        if ready as u64 >= at {
            if let Some(to) = rollout_to {
                // The API server may be restarting: the next poll asks again.
                if let Ok((_, r)) = rollout(s).await
                    && r.to == to
                {
                    ensure!(
                        r.phase != RolloutStatus::COMPLETE,
                        "the rollout to {to} completed before the fault at {at} Ready; it was not interrupted"
                    );
                    ensure!(
                        r.phase == RolloutStatus::PROGRESSING,
                        "the rollout to {to} is {} before the fault at {at} Ready: {}",
                        r.phase,
                        r.message.unwrap_or_default()
                    );
                    return Ok(ready);
                }
            } else {
                return Ok(ready);
            }
        }
        // An operator that exited would only show up as a timeout much later.
        ensure_running(operators, &format!("before the fault at {at} Ready"))?;
        ensure!(
            Instant::now() < deadline,
            "{ready} Tenants Ready, not {at}, after {timeout:?}; operator log:\n{}",
            operators
                .first()
                .map(|op| tail(&op.log(), 30))
                .unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fails, with the tail of its log, when one of `operators` has exited; `when` says at which
/// point of the run ("after its last restart").
fn ensure_running(operators: &mut [Operator], when: &str) -> anyhow::Result<()> {
    for op in operators.iter_mut() {
        ensure!(
            op.is_running(),
            "operator {} exited {when}:\n{}",
            op.identity(),
            tail(&op.log(), 30)
        );
    }
    Ok(())
}

/// The identity holding the operator's Lease (`khaibao-system/khaibao-operator`), if any.
async fn lease_holder(s: &Scope) -> anyhow::Result<Option<String>> {
    let leases: Api<Lease> = Api::namespaced(s.client.clone(), "khaibao-system");
    Ok(leases
        .get_opt("khaibao-operator")
        .await?
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity))
}
