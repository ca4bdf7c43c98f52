//! Time to online: how long after a Tenant is declared the platform's own workload, the
//! dichvucong portal (`platforms/dichvucong/portal`), serves that unit's page. "Ready" is the
//! operator's word for its own work; a citizen sees the page, so the clock stops at the first
//! correct answer of the real portal process: `200` at the unit's host, naming the unit (its
//! name and `data-unit-code`), never a 404 or another unit's page.
//!
//! Per size, on a fresh control plane with the release operator and the release portal (run
//! as its ServiceAccount by `khaibao_e2e::portal::Portal`):
//!
//! - **Cold convergence:** every Tenant of the fleet is applied (the bench's usual
//!   concurrency); per tenant, the clock runs from its own create call returning to its first
//!   correct page.
//! - **Single declarations on the converged fleet:** N communes spread over the fleet are, one
//!   at a time, deleted (until the Tenant, its objects and its page are gone and the API server
//!   is quiet) and declared again under a fresh name; the clock runs from the create call
//!   returning to the first correct page (one host, polled every 5 ms). Delete-and-redeclare
//!   rather than "a commune the fleet lacks" because the 10.1k fleet is every unit of the
//!   registry: there is no commune left to add, and one method keeps the sizes comparable. The
//!   fleet stays at its size (one tenant short while a single is deleted); the unit's objects
//!   are made anew, under the same names (names come from the unit, not the Tenant).
//!
//! Polling 10,000 hosts every 20 ms would cost more CPU than the convergence it measures on a
//! 2-core machine, so a host is polled at the e2e harness's 20 ms only once the bench's own
//! watch (the portal's label selector, on the platform namespace) has seen its page ConfigMap:
//! the portal cannot serve a page before that ConfigMap exists. The other hosts are swept
//! slowly as a safety net; a page found by the sweep, before the bench's watch saw its
//! ConfigMap, is counted and reported, so a lagging watch would show instead of hiding.

mod cold;
mod pages;
mod singles;

use std::time::Duration;

use khaibao_e2e::portal::Portal;
use khaibao_e2e::scale::{ProcStats, ReadyTracker};
use serde_json::Value;

use self::cold::cold;
use self::singles::singles;
use crate::fleet::{PLATFORM, PLATFORM_NAMESPACE, Size, render};
use crate::runs::{Cpu, platform_ready};

/// No workload write for this long counts as quiet.
const QUIET: Duration = Duration::from_secs(2);

pub struct OnlineOptions {
    pub operator_concurrency: usize,
    /// Tenants applied at once during cold convergence.
    pub tenant_concurrency: usize,
    pub singles: usize,
    /// How long the fleet, or one single, may take to be online.
    pub timeout: Duration,
}

/// What one size measured.
#[derive(Clone, Debug, Default)]
pub struct OnlineRun {
    pub label: String,
    pub tenants: usize,
    pub cold: Option<ColdOnline>,
    pub singles: Vec<SingleOnline>,
    /// VmHWM at the end of cold convergence and at the end of the run (the whole run's peak).
    pub portal_rss_cold_mib: f64,
    pub portal_rss_mib: f64,
    pub operator_rss_cold_mib: f64,
    pub operator_rss_mib: f64,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct ColdOnline {
    /// Per tenant: seconds from its create call returning to its first correct page.
    pub online: Vec<f64>,
    /// Since the first create call: when the last one returned, the last page was first
    /// correct, and the watch first saw every Tenant Ready.
    pub applied_at: f64,
    pub last_online_at: f64,
    pub all_ready_at: f64,
    pub polls: u64,
    pub poll_errors: u64,
    /// Pages found by the sweep, before the bench's watch had seen their ConfigMap.
    pub by_sweep: usize,
    /// Pages correct at the first poll after their ConfigMap was seen.
    pub at_first_poll: usize,
    /// Seconds between the poll that found a page and the poll of that host before it (for
    /// the pages found at a later poll): how coarse the figures are.
    pub gaps: Vec<f64>,
    pub cpu: Cpu,
    pub portal_cpu: f64,
}

#[derive(Clone, Debug, Default)]
pub struct SingleOnline {
    /// `namespace/name` deleted, and declared again as `namespace/name-redeclared`.
    pub tenant: String,
    pub online: f64,
    /// Seconds between the poll that found the page and the one before it.
    pub gap: Option<f64>,
    /// From the create call returning until the bench's watch saw the Tenant Ready.
    pub ready: Option<f64>,
}

/// Nearest-rank percentile (`p` in 0..=1) of `v`; 0 for none.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return 0.0;
    }
    let rank = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

fn hwm_mib(pid: Option<u32>) -> f64 {
    pid.and_then(|p| ProcStats::read(p).ok())
        .map_or(0.0, |s| s.hwm_kib as f64 / 1024.0)
}

/// The `namespace` and `name` of a Tenant manifest.
fn key(t: &Value) -> (String, String) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (s(&t["metadata"]["namespace"]), s(&t["metadata"]["name"]))
}

/// One size: cold convergence, then the singles, on a fresh control plane.
pub async fn run(size: &Size, o: &OnlineOptions) -> anyhow::Result<OnlineRun> {
    let rendered = render(size)?;
    let n = rendered.fleet.tenants.len();
    let mut r = OnlineRun {
        label: size.label.into(),
        tenants: n,
        ..Default::default()
    };
    let (cp, client, op, _) = platform_ready(&rendered.fleet, o.operator_concurrency).await?;
    let portal = match Portal::start(&cp, "bench", PLATFORM_NAMESPACE, PLATFORM).await {
        Ok(p) => p,
        Err(e) => {
            // Keeps the state dir: the portal's log is there.
            cp.mark_failed();
            return Err(e.context(format!("starting the portal at {}", size.label)));
        }
    };
    let (op_pid, portal_pid) = (op.pid(), portal.pid());
    let tracker = ReadyTracker::start(client.clone());
    let measured = async {
        let cold = cold(&rendered, &cp, op_pid, &client, &portal, &tracker, o).await?;
        r.portal_rss_cold_mib = hwm_mib(portal_pid);
        r.operator_rss_cold_mib = hwm_mib(op_pid);
        eprintln!(
            "[bench]   online, cold: p50 {:.3} s, p99 {:.3} s, max {:.3} s, last at {:.1} s (every Tenant Ready at {:.1} s); {} polls, {} by the sweep; peak RSS portal {:.0} MiB, operator {:.0} MiB",
            percentile(&cold.online, 0.5),
            percentile(&cold.online, 0.99),
            percentile(&cold.online, 1.0),
            cold.last_online_at,
            cold.all_ready_at,
            cold.polls,
            cold.by_sweep,
            r.portal_rss_cold_mib,
            r.operator_rss_cold_mib,
        );
        r.cold = Some(cold);
        singles(&rendered, &client, &portal, &tracker, o, &mut r.singles).await
    }
    .await;
    r.portal_rss_mib = hwm_mib(portal_pid);
    r.operator_rss_mib = hwm_mib(op_pid);
    if let Err(e) = measured {
        let log = portal.log();
        let lines: Vec<&str> = log.lines().collect();
        r.error = Some(format!(
            "{e:#}\nthe portal's last log lines:\n{}",
            lines[lines.len().saturating_sub(10)..].join("\n")
        ));
        eprintln!("[bench] online at {} failed: {e:#}", size.label);
        cp.mark_failed();
    }
    drop(tracker);
    drop(portal);
    drop(op);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), 2.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        // With 20 samples p99 is the largest.
        let twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&twenty, 0.99), 20.0);
    }
}
