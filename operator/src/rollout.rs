//! Rollout planning, pure. A rollout moves a platform's tenants from one revision to another in
//! waves: the canaries, then batches. The waves are fixed when the rollout starts as a [`Plan`]:
//! the canary keys and the last key of every batch, so the wave of a tenant is a function of its
//! `namespace/name` alone — tenants created or deleted during the rollout never shift another
//! tenant into a different wave, and nothing per tenant has to be written to assign it. The
//! operator keeps the plan and the number of waves started in the Platform's status; everything
//! else is recomputed from the tenants, so a restarted operator continues where it was.

use crate::api::{PlatformStatus, RolloutPolicy, RolloutStatus};

/// At most this many waves: the plan lives in a status, which must stay small at any scale.
/// A batch size that would need more waves is enlarged.
pub const MAX_WAVES: usize = 200;
/// At most this many canaries are listed in a status.
pub const MAX_CANARIES: usize = 50;

/// The waves of one rollout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Wave 0 when not empty.
    pub canaries: Vec<String>,
    /// The last key of each batch wave, ascending. A key after the last end falls in the last
    /// wave (a tenant created after the plan was made).
    pub wave_ends: Vec<String>,
}

impl Plan {
    /// Plans waves over `keys` (any order): the canaries (listed, or the first `canaryCount`),
    /// then batches of `batch` (a count or a percentage) in key order.
    pub fn new(keys: &[String], policy: &RolloutPolicy) -> Plan {
        let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut canaries: Vec<&str> = policy
            .canary
            .iter()
            .map(String::as_str)
            .filter(|c| keys.binary_search(c).is_ok())
            .collect();
        if canaries.is_empty() {
            let n = usize::try_from(policy.canary_count.unwrap_or(1))
                .unwrap_or(1)
                .min(keys.len());
            canaries = keys[..n].to_vec();
        }
        canaries.truncate(MAX_CANARIES);
        canaries.sort_unstable();
        let rest: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| canaries.binary_search(k).is_err())
            .collect();
        let mut batch = quantity(policy.batch.as_deref(), keys.len(), 10).max(1);
        batch = batch.max(rest.len().div_ceil(MAX_WAVES));
        Plan {
            canaries: canaries.iter().map(|s| s.to_string()).collect(),
            wave_ends: rest
                .chunks(batch)
                .filter_map(|c| c.last())
                .map(|s| s.to_string())
                .collect(),
        }
    }

    /// Waves in all.
    pub fn waves(&self) -> usize {
        usize::from(!self.canaries.is_empty()) + self.wave_ends.len().max(1)
    }

    /// The wave `key` is in.
    pub fn wave_of(&self, key: &str) -> usize {
        wave_of(&self.canaries, &self.wave_ends, key)
    }

    /// The plan a rollout status records.
    pub fn of(rollout: &RolloutStatus) -> Plan {
        Plan {
            canaries: rollout.canaries.clone(),
            wave_ends: rollout.wave_ends.clone(),
        }
    }
}

fn wave_of(canaries: &[String], wave_ends: &[String], key: &str) -> usize {
    if canaries.iter().any(|c| c == key) {
        return 0;
    }
    let i = wave_ends.partition_point(|end| end.as_str() < key);
    usize::from(!canaries.is_empty()) + i.min(wave_ends.len().saturating_sub(1))
}

/// The revision the tenant `key` (`namespace/name`) renders, from its platform's status: during
/// a rollout `to` once its wave has started and `from` before; otherwise the platform's
/// revision. `None` until the platform has been reconciled once.
pub fn assigned_revision<'a>(status: &'a PlatformStatus, key: &str) -> Option<&'a str> {
    match &status.rollout {
        Some(r) if r.is_active() => {
            let started = usize::try_from(r.waves_started).unwrap_or(0);
            Some(if wave_of(&r.canaries, &r.wave_ends, key) < started {
                r.to.as_str()
            } else {
                r.from.as_str()
            })
        }
        _ => status.revision.as_deref(),
    }
}

/// One tenant as the planner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantState {
    /// `namespace/name`.
    pub key: String,
    /// Ready on the target revision.
    pub ready: bool,
    /// Failed on the target revision (render/apply error, conflict, or not Ready within the
    /// wave timeout).
    pub failed: bool,
}

/// What to do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Every wave has moved and settled.
    Complete,
    /// Start wave `wave` (0-based): its tenants move to the target revision.
    Move { wave: usize, tenants: usize },
    /// Tenants of the started waves are not Ready yet.
    Wait { wave: usize, pending: usize },
    /// Failures passed `maxFailures`: nobody else moves until the platform changes.
    Halted { failures: usize, allowed: usize },
    /// `spec.rollout.paused` is set.
    Paused,
}

/// Progress numbers for status and `khaibao rollout status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub total: usize,
    pub on_target: usize,
    pub ready: usize,
    pub failed: usize,
}

/// `"10%"` of `total` (rounded up, at least 1) or a plain count; `default` when unset or invalid.
pub fn quantity(spec: Option<&str>, total: usize, default: usize) -> usize {
    let Some(s) = spec.map(str::trim) else {
        return default;
    };
    if let Some(p) = s.strip_suffix('%') {
        return match p.trim().parse::<usize>() {
            Ok(p) => (total * p).div_ceil(100).max(1),
            Err(_) => default,
        };
    }
    s.parse().unwrap_or(default)
}

/// The policy used when a platform declares none: one wave, nothing halts it — what applying
/// the change everywhere at once would do, still reported as a rollout.
pub fn all_at_once() -> RolloutPolicy {
    RolloutPolicy {
        canary_count: Some(0),
        batch: Some("100%".into()),
        max_failures: Some("100%".into()),
        ..Default::default()
    }
}

/// Progress of the tenants: those in the first `started` waves are on the target.
pub fn progress(plan: &Plan, started: usize, states: &[TenantState]) -> Progress {
    let moved = || states.iter().filter(|s| plan.wave_of(&s.key) < started);
    Progress {
        total: states.len(),
        on_target: moved().count(),
        ready: moved().filter(|s| s.ready).count(),
        failed: moved().filter(|s| s.failed).count(),
    }
}

/// The next step of a rollout whose first `started` waves have moved.
pub fn next_step(
    plan: &Plan,
    started: usize,
    states: &[TenantState],
    policy: &RolloutPolicy,
) -> Step {
    let p = progress(plan, started, states);
    let allowed = quantity(policy.max_failures.as_deref(), p.total, 0);
    if p.failed > allowed {
        return Step::Halted {
            failures: p.failed,
            allowed,
        };
    }
    let pending = p.on_target - p.ready - p.failed;
    if started >= plan.waves() && pending == 0 {
        return Step::Complete;
    }
    if policy.paused {
        return Step::Paused;
    }
    if pending > 0 {
        return Step::Wait {
            wave: started.saturating_sub(1),
            pending,
        };
    }
    let tenants = states
        .iter()
        .filter(|s| plan.wave_of(&s.key) == started)
        .count();
    Step::Move {
        wave: started,
        tenants,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("tinh-{i:02}/t")).collect()
    }

    fn states(n: usize) -> Vec<TenantState> {
        keys(n)
            .into_iter()
            .map(|key| TenantState {
                key,
                ready: false,
                failed: false,
            })
            .collect()
    }

    fn policy(batch: &str, max_failures: &str) -> RolloutPolicy {
        RolloutPolicy {
            canary_count: Some(1),
            batch: Some(batch.into()),
            max_failures: Some(max_failures.into()),
            ..Default::default()
        }
    }

    /// What the operator does between two steps: the moved tenants render and become Ready
    /// (or fail, for the keys in `fail`).
    fn settle(plan: &Plan, started: usize, states: &mut [TenantState], fail: &[&str]) {
        for s in states.iter_mut().filter(|s| plan.wave_of(&s.key) < started) {
            s.failed = fail.contains(&s.key.as_str());
            s.ready = !s.failed;
        }
    }

    #[test]
    fn quantities() {
        assert_eq!(quantity(Some("10%"), 63, 1), 7);
        assert_eq!(quantity(Some("5"), 63, 1), 5);
        assert_eq!(quantity(Some("1%"), 3, 1), 1);
        assert_eq!(quantity(None, 63, 4), 4);
        assert_eq!(quantity(Some("x"), 63, 4), 4);
    }

    #[test]
    fn canary_then_batches_until_complete() {
        let mut s = states(63);
        let p = policy("20", "0");
        let plan = Plan::new(&keys(63), &p);
        assert_eq!(plan.waves(), 5);
        let mut started = 0;
        let mut moves = Vec::new();
        loop {
            match next_step(&plan, started, &s, &p) {
                Step::Complete => break,
                Step::Move { wave, tenants } => {
                    assert_eq!(wave, started);
                    moves.push(tenants);
                    started += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
            settle(&plan, started, &mut s, &[]);
        }
        assert_eq!(moves, vec![1, 20, 20, 20, 2]);
    }

    #[test]
    fn a_wave_waits_for_readiness() {
        let s = states(10);
        let p = policy("5", "0");
        let plan = Plan::new(&keys(10), &p);
        assert_eq!(
            next_step(&plan, 1, &s, &p),
            Step::Wait {
                wave: 0,
                pending: 1
            }
        );
    }

    #[test]
    fn a_failing_canary_halts_everything_else() {
        let mut s = states(63);
        let p = policy("10%", "0");
        let plan = Plan::new(&keys(63), &p);
        assert_eq!(
            next_step(&plan, 0, &s, &p),
            Step::Move {
                wave: 0,
                tenants: 1
            }
        );
        settle(&plan, 1, &mut s, &["tinh-00/t"]);
        assert_eq!(
            next_step(&plan, 1, &s, &p),
            Step::Halted {
                failures: 1,
                allowed: 0
            }
        );
        assert_eq!(progress(&plan, 1, &s).on_target, 1);
    }

    #[test]
    fn failures_within_the_budget_do_not_halt() {
        let mut s = states(20);
        let p = policy("50%", "10%");
        let plan = Plan::new(&keys(20), &p);
        settle(&plan, 2, &mut s, &["tinh-05/t", "tinh-06/t"]);
        assert!(matches!(
            next_step(&plan, 2, &s, &p),
            Step::Move { wave: 2, .. }
        ));
        settle(&plan, 2, &mut s, &["tinh-05/t", "tinh-06/t", "tinh-07/t"]);
        assert_eq!(
            next_step(&plan, 2, &s, &p),
            Step::Halted {
                failures: 3,
                allowed: 2
            }
        );
    }

    #[test]
    fn pause_stops_new_waves_but_not_completion() {
        let mut s = states(5);
        let p = RolloutPolicy {
            paused: true,
            ..policy("2", "1")
        };
        let plan = Plan::new(&keys(5), &p);
        settle(&plan, 1, &mut s, &[]);
        assert_eq!(next_step(&plan, 1, &s, &p), Step::Paused);
        settle(&plan, 3, &mut s, &[]);
        assert_eq!(next_step(&plan, 3, &s, &p), Step::Complete);
    }

    #[test]
    fn listed_canaries_go_first() {
        let p = RolloutPolicy {
            canary: vec!["tinh-07/t".into(), "nowhere/x".into()],
            batch: Some("5".into()),
            ..Default::default()
        };
        let plan = Plan::new(&keys(10), &p);
        assert_eq!(plan.canaries, vec!["tinh-07/t".to_string()]);
        assert_eq!(plan.waves(), 3);
        assert_eq!(plan.wave_of("tinh-07/t"), 0);
        assert_eq!(plan.wave_of("tinh-00/t"), 1);
        assert_eq!(plan.wave_of("tinh-09/t"), 2);
    }

    #[test]
    fn tenants_created_later_never_shift_others() {
        let p = policy("3", "0");
        let plan = Plan::new(&keys(10), &p);
        let before: Vec<usize> = keys(10).iter().map(|k| plan.wave_of(k)).collect();
        // New keys fall into the wave whose range holds them; old keys keep theirs.
        assert_eq!(plan.wave_of("tinh-04/a"), plan.wave_of("tinh-04/t"));
        assert_eq!(plan.wave_of("zzz/late"), plan.waves() - 1);
        let after: Vec<usize> = keys(10).iter().map(|k| plan.wave_of(k)).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn the_plan_stays_small_at_any_scale() {
        let many: Vec<String> = (0..11_000).map(|i| format!("ns/t{i:05}")).collect();
        let plan = Plan::new(&many, &policy("1", "0"));
        assert!(plan.waves() <= MAX_WAVES + 1, "{}", plan.waves());
        let all = Plan::new(&many, &all_at_once());
        assert_eq!(all.waves(), 1);
        assert!(all.canaries.is_empty());
    }

    #[test]
    fn a_tenant_renders_the_revision_of_its_wave() {
        let p = policy("5", "0");
        let plan = Plan::new(&keys(10), &p);
        let mut status = PlatformStatus {
            revision: Some("old".into()),
            rollout: Some(RolloutStatus {
                from: "old".into(),
                to: "new".into(),
                phase: RolloutStatus::PROGRESSING.into(),
                canaries: plan.canaries.clone(),
                wave_ends: plan.wave_ends.clone(),
                waves: 3,
                waves_started: 1,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(assigned_revision(&status, "tinh-00/t"), Some("new"));
        assert_eq!(assigned_revision(&status, "tinh-01/t"), Some("old"));
        if let Some(r) = status.rollout.as_mut() {
            r.phase = RolloutStatus::COMPLETE.into();
        }
        status.revision = Some("new".into());
        assert_eq!(assigned_revision(&status, "tinh-01/t"), Some("new"));
        assert_eq!(assigned_revision(&PlatformStatus::default(), "a/b"), None);
    }

    #[test]
    fn no_tenants_is_one_empty_wave() {
        let plan = Plan::new(&[], &policy("10%", "0"));
        assert_eq!(plan.waves(), 1);
        assert_eq!(
            next_step(&plan, 0, &[], &policy("10%", "0")),
            Step::Move {
                wave: 0,
                tenants: 0
            }
        );
        assert_eq!(
            next_step(&plan, 1, &[], &policy("10%", "0")),
            Step::Complete
        );
    }
}
