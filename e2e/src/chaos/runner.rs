//! Running a fault plan: each fault at its progress point, then the checks every converged
//! rollout must pass. Shared by the small chaos run of `make test` and the national one of
//! `make chaos`, so both inject and check the same way.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use khaibao::api::RolloutStatus;
use serde_json::Value;

use super::{
    Fault, Recorder, Reference, Rng, Secrets, ensure_rollout_history, ensure_running,
    ensure_secrets_kept, lease_holder, record_rollouts, wait_point,
};
use crate::rollouts::{edit_config_template, wait_phase};
use crate::scale::ReadyTracker;
use crate::{ControlPlane, Operator, Scope, platform_revision, tail, wait_until};

/// Where faults are injected and how patient the run is.
pub struct Chaos<'a> {
    pub cp: &'a ControlPlane,
    pub s: &'a Scope,
    pub tracker: &'a ReadyTracker,
    /// How long one step (reaching the next fault's point, or converging) may take.
    pub step: Duration,
    /// A killed component comes back after a pause drawn from zero to this, so that restarts
    /// do not always land at the same distance from the fault.
    pub max_down: Duration,
}

/// What a converged fleet is, and what it must still be after every rollout.
pub struct Converged {
    pub tenants: usize,
    pub reference: Reference,
    pub secrets: Secrets,
}

/// A template change rolled out under a fault plan.
pub struct RolloutPhase<'a> {
    /// The phase's name in the log ("B").
    pub name: &'a str,
    /// What the phase runs on, for the summary (" on two replicas"), or "".
    pub on: &'a str,
    /// The line added to the config template: the change that is rolled out.
    pub template_line: &'a str,
    /// The revision the rollout starts from.
    pub from: &'a str,
    pub plan: &'a [(u64, Fault)],
}

impl Chaos<'_> {
    /// Runs one fault. Returns a line for the log.
    pub async fn inject(
        &self,
        ops: &mut [Operator],
        fault: Fault,
        down: Duration,
    ) -> anyhow::Result<String> {
        match fault {
            Fault::KillOperator => {
                ops[0].kill9()?;
                tokio::time::sleep(down).await;
                ops[0].restart()?;
                Ok(format!("kill -9 of the operator, back after {down:.1?}"))
            }
            Fault::KillLeader => self.kill_leader(ops, down).await,
            Fault::RestartApiServer => {
                self.cp.kill_apiserver()?;
                tokio::time::sleep(down).await;
                self.cp.restart_apiserver()?;
                Ok(format!(
                    "API server killed -9, down {down:.1?} plus its start"
                ))
            }
            Fault::RestartEtcd => {
                self.cp.kill_etcd()?;
                tokio::time::sleep(down).await;
                self.cp.restart_etcd()?;
                Ok(format!("etcd killed -9, down {down:.1?} plus its start"))
            }
        }
    }

    async fn kill_leader(&self, ops: &mut [Operator], down: Duration) -> anyhow::Result<String> {
        let holder = lease_holder(self.s)
            .await?
            .context("no replica holds the Lease")?;
        let i = ops
            .iter()
            .position(|op| op.identity() == holder)
            .with_context(|| format!("the Lease is held by {holder}, not by a replica"))?;
        let killed = Instant::now();
        ops[i].kill9()?;
        // The standby takes the Lease once the dead holder's has expired. Only then does the
        // killed replica come back: started at once under the same identity it would find the
        // Lease its own and simply lead on, as a container restarted in place does.
        wait_until(
            "the standby to take the Lease",
            Duration::from_secs(120),
            async || {
                let now = lease_holder(self.s).await?;
                ensure!(
                    now.is_some() && now.as_deref() != Some(holder.as_str()),
                    "the Lease is held by {now:?}"
                );
                Ok(())
            },
        )
        .await?;
        let takeover = killed.elapsed();
        let new = lease_holder(self.s).await?.unwrap_or_default();
        tokio::time::sleep(down).await;
        ops[i].restart()?;
        Ok(format!(
            "kill -9 of the leader {holder}; {new} leads {takeover:.1?} after the kill, {holder} back as the standby after {down:.1?} more"
        ))
    }

    /// Runs `plan` against a rollout to `to` (or the cold start when `None`), each fault at its
    /// progress point. With `secrets`, the generated Secrets are read after every fault and
    /// added to it; one already seen with another value now fails the run. Returns when the
    /// last fault was injected.
    pub async fn run_plan(
        &self,
        ops: &mut [Operator],
        rng: &mut Rng,
        phase: &str,
        to: Option<&str>,
        plan: &[(u64, Fault)],
        mut secrets: Option<&mut Secrets>,
    ) -> anyhow::Result<Instant> {
        let started = Instant::now();
        let mut last = Instant::now();
        for (i, (at, fault)) in plan.iter().enumerate() {
            let ready = wait_point(self.s, self.tracker, to, *at, ops, self.step)
                .await
                .with_context(|| format!("phase {phase}, fault {} ({fault:?} at {at})", i + 1))?;
            let down = Duration::from_millis(rng.range(0, self.max_down.as_millis() as u64));
            let what = self
                .inject(ops, *fault, down)
                .await
                .with_context(|| format!("phase {phase}, fault {} ({fault:?})", i + 1))?;
            last = Instant::now();
            let mut line = format!(
                "[chaos] {phase} fault {}/{}: at {ready} Ready, {what} ({:.1?} into the phase)",
                i + 1,
                plan.len(),
                started.elapsed()
            );
            if let Some(seen) = secrets.as_deref_mut() {
                let now = self.s.generated_secrets().await?;
                ensure_secrets_kept(seen, &now, &format!("at fault {} of {phase}", i + 1))?;
                line.push_str(&format!("; {} generated secrets, none changed", now.len()));
                seen.extend(now);
            }
            eprintln!("{line}");
        }
        Ok(last)
    }

    /// Adds the phase's line to the config template, applies the Platform and injects the plan
    /// while the rollout runs; checks the converged fleet against `fleet` and returns the new
    /// revision with the phase's summary line.
    pub async fn rollout(
        &self,
        ops: &mut [Operator],
        rng: &mut Rng,
        manifest: &mut Value,
        fleet: &Converged,
        phase: RolloutPhase<'_>,
    ) -> anyhow::Result<(String, String)> {
        let RolloutPhase {
            name,
            on,
            template_line,
            from,
            plan,
        } = phase;
        eprintln!("[chaos] {name} faults at (tenants Ready on the new revision, fault): {plan:?}");
        let recorder = record_rollouts(self.s).await?;
        edit_config_template(manifest, template_line)?;
        let rev = platform_revision(manifest)?;
        self.tracker.want_revision(Some(rev.clone()));
        self.s.apply_platform(manifest).await?;
        let started = Instant::now();
        let last_fault = self
            .run_plan(ops, rng, name, Some(&rev), plan, None)
            .await?;
        // Only an API server or etcd restart may break the status watch, once each.
        let allowed_gaps = plan.iter().filter(|(_, f)| f.breaks_watches()).count();
        let checks = self
            .converge_rollout(ops, fleet, &recorder, from, &rev, allowed_gaps)
            .await?;
        let line = format!(
            "{name} rollout {from} -> {rev}{on} under {}: Complete {:.1?} after the apply{}; {checks}",
            describe(plan),
            started.elapsed(),
            since_last(plan, last_fault)
        );
        eprintln!("[chaos] {line}");
        Ok((rev, line))
    }

    /// Waits until the rollout to `to` is Complete with every tenant Ready on it, and checks the
    /// end state: the objects of the reference on `to`, the Secrets of before, the history.
    async fn converge_rollout(
        &self,
        ops: &mut [Operator],
        fleet: &Converged,
        recorder: &Recorder,
        from: &str,
        to: &str,
        allowed_gaps: usize,
    ) -> anyhow::Result<String> {
        let s = self.s;
        let tenants = fleet.tenants;
        let done = wait_phase(s, to, RolloutStatus::COMPLETE, self.step)
            .await
            .with_context(|| format!("operator log:\n{}", tail(&ops[0].log(), 30)))?;
        s.wait_ready(tenants, self.step).await?;
        ensure_running(ops, "after its last restart")?;
        ensure!(
            done.ready == tenants as i64 && done.failed == 0 && done.total == tenants as i64,
            "completed rollout: {done:?}"
        );
        s.ensure_ready_on(tenants, to).await?;
        let all = s.tenants().await?;
        // Let the last applies land before the picture.
        tokio::time::sleep(Duration::from_secs(2)).await;
        fleet.reference.ensure_same(s, &all, to).await?;
        let now = s.generated_secrets().await?;
        ensure_secrets_kept(&fleet.secrets, &now, "before the rollout")?;
        ensure!(
            now.len() == fleet.secrets.len(),
            "{} generated secrets after the rollout, {} before",
            now.len(),
            fleet.secrets.len()
        );
        let history = ensure_rollout_history(recorder, from, to, &done, allowed_gaps)?;
        let missed = history.gaps.iter().filter(|g| g.missed).count();
        Ok(format!(
            "{} waves, {} status writes recorded, {} watch restarts ({missed} with writes not seen one by one)",
            done.waves,
            history.writes,
            history.gaps.len()
        ))
    }
}

/// How a plan reads in the summary: "3 KillLeader", "10 KillOperator, 2 RestartApiServer".
pub fn describe(plan: &[(u64, Fault)]) -> String {
    if plan.is_empty() {
        return "no fault".into();
    }
    let mut counts: Vec<(Fault, usize)> = Vec::new();
    for (_, f) in plan {
        match counts.iter_mut().find(|(g, _)| g == f) {
            Some((_, n)) => *n += 1,
            None => counts.push((*f, 1)),
        }
    }
    counts
        .iter()
        .map(|(f, n)| format!("{n} {f:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "{:.1?} after the last fault", or nothing for a run without faults.
pub fn since_last(plan: &[(u64, Fault)], last: Instant) -> String {
    if plan.is_empty() {
        String::new()
    } else {
        format!(", {:.1?} after the last fault", last.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_described_by_kind_in_order_of_first_appearance() {
        let plan = [
            (3, Fault::KillOperator),
            (5, Fault::RestartApiServer),
            (9, Fault::KillOperator),
        ];
        assert_eq!(describe(&plan), "2 KillOperator, 1 RestartApiServer");
        assert_eq!(describe(&[]), "no fault");
        assert_eq!(since_last(&[], Instant::now()), "");
    }
}
