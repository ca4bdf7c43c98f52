//! Rollout planning, pure: given where every tenant of a platform is (which revision it is
//! assigned, whether it is Ready or failed there) and the platform's rollout policy, decide the
//! next step — which tenants move to the target revision now, or wait, or halt. The operator
//! records assignments on the Tenants, so the plan can be recomputed from the cluster at any
//! time and a restarted operator continues exactly where it was.

use crate::api::RolloutPolicy;

/// One tenant as the planner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantState {
    /// `namespace/name`: the order of waves after the canaries.
    pub key: String,
    /// Whether the tenant is assigned the target revision already.
    pub on_target: bool,
    /// Ready on the revision it is assigned.
    pub ready: bool,
    /// Failed on the target revision (render/apply error, or not Ready within the wave timeout).
    pub failed: bool,
}

/// What to do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Every tenant is on the target revision and none failed beyond the budget.
    Complete,
    /// Move these tenants to the target revision (the next wave).
    Move { wave: usize, tenants: Vec<String> },
    /// The current wave is not Ready yet.
    Wait { wave: usize, pending: usize },
    /// Failures passed `maxFailures`: nobody else moves until the policy or templates change.
    Halted { failures: usize, allowed: usize },
    /// `spec.rollout.paused` is set.
    Paused,
}

/// Progress numbers for status and `khaibao rollout status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub total: usize,
    pub on_target: usize,
    pub ready_on_target: usize,
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

/// Waves: the canaries (listed, or the first `canaryCount`), then batches in key order.
pub fn waves(states: &[TenantState], policy: &RolloutPolicy) -> Vec<Vec<String>> {
    let mut keys: Vec<&str> = states.iter().map(|s| s.key.as_str()).collect();
    keys.sort_unstable();
    let mut canaries: Vec<&str> = policy
        .canary
        .iter()
        .map(String::as_str)
        .filter(|c| keys.contains(c))
        .collect();
    if canaries.is_empty() {
        let n = usize::try_from(policy.canary_count.unwrap_or(1))
            .unwrap_or(1)
            .min(keys.len());
        canaries = keys[..n].to_vec();
    }
    let rest: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| !canaries.contains(k))
        .collect();
    let batch = quantity(policy.batch.as_deref(), keys.len(), 10).max(1);
    let mut out = Vec::new();
    if !canaries.is_empty() {
        out.push(canaries.iter().map(|s| s.to_string()).collect());
    }
    out.extend(
        rest.chunks(batch)
            .map(|c| c.iter().map(|s| s.to_string()).collect()),
    );
    out
}

pub fn progress(states: &[TenantState]) -> Progress {
    Progress {
        total: states.len(),
        on_target: states.iter().filter(|s| s.on_target).count(),
        ready_on_target: states.iter().filter(|s| s.on_target && s.ready).count(),
        failed: states.iter().filter(|s| s.on_target && s.failed).count(),
    }
}

/// The next step of a rollout.
pub fn next_step(states: &[TenantState], policy: &RolloutPolicy) -> Step {
    let p = progress(states);
    let allowed = quantity(policy.max_failures.as_deref(), p.total, 0);
    if p.failed > allowed {
        return Step::Halted {
            failures: p.failed,
            allowed,
        };
    }
    if policy.paused {
        return Step::Paused;
    }
    let on_target = |k: &str| states.iter().any(|s| s.key == k && s.on_target);
    let settled = |k: &str| {
        states
            .iter()
            .any(|s| s.key == k && s.on_target && (s.ready || s.failed))
    };
    for (i, wave) in waves(states, policy).into_iter().enumerate() {
        let moved = wave.iter().filter(|k| on_target(k)).count();
        if moved < wave.len() {
            let tenants = wave.into_iter().filter(|k| !on_target(k)).collect();
            return Step::Move { wave: i, tenants };
        }
        let pending = wave.iter().filter(|k| !settled(k)).count();
        if pending > 0 {
            return Step::Wait { wave: i, pending };
        }
    }
    Step::Complete
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(n: usize) -> Vec<TenantState> {
        (0..n)
            .map(|i| TenantState {
                key: format!("tinh-{i:02}/t"),
                on_target: false,
                ready: true,
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

    fn apply(states: &mut [TenantState], step: &Step, fail: &[&str]) {
        if let Step::Move { tenants, .. } = step {
            for s in states.iter_mut().filter(|s| tenants.contains(&s.key)) {
                s.on_target = true;
                s.failed = fail.contains(&s.key.as_str());
                s.ready = !s.failed;
            }
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
        let mut moves = Vec::new();
        loop {
            match next_step(&s, &p) {
                Step::Complete => break,
                step @ Step::Move { .. } => {
                    if let Step::Move { tenants, .. } = &step {
                        moves.push(tenants.len());
                    }
                    apply(&mut s, &step, &[]);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(moves, vec![1, 20, 20, 20, 2]);
    }

    #[test]
    fn a_failing_canary_halts_everything_else() {
        let mut s = states(63);
        let p = policy("10%", "0");
        let step = next_step(&s, &p);
        assert_eq!(
            step,
            Step::Move {
                wave: 0,
                tenants: vec!["tinh-00/t".into()]
            }
        );
        apply(&mut s, &step, &["tinh-00/t"]);
        assert_eq!(
            next_step(&s, &p),
            Step::Halted {
                failures: 1,
                allowed: 0
            }
        );
        assert_eq!(progress(&s).on_target, 1);
    }

    #[test]
    fn a_wave_waits_for_readiness_and_pause_stops() {
        let mut s = states(5);
        let p = policy("2", "1");
        let step = next_step(&s, &p);
        apply(&mut s, &step, &[]);
        s[0].ready = false;
        assert_eq!(
            next_step(&s, &p),
            Step::Wait {
                wave: 0,
                pending: 1
            }
        );
        s[0].ready = true;
        let paused = RolloutPolicy {
            paused: true,
            ..p.clone()
        };
        assert_eq!(next_step(&s, &paused), Step::Paused);
        assert!(matches!(next_step(&s, &p), Step::Move { wave: 1, .. }));
    }

    #[test]
    fn listed_canaries_go_first() {
        let s = states(10);
        let p = RolloutPolicy {
            canary: vec!["tinh-07/t".into()],
            batch: Some("5".into()),
            ..Default::default()
        };
        assert_eq!(waves(&s, &p)[0], vec!["tinh-07/t".to_string()]);
        assert_eq!(waves(&s, &p).len(), 3);
    }
}
