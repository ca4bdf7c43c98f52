//! The administrative reform of a converged fleet on the local control plane (issue 13): a
//! fleet of standalone Tenants of the 63-province division (one per province, one per commune,
//! as `khaibao generate tenants` writes them) is applied with `khaibao apply` and converged;
//! then the real planner (`khaibao reform plan --from 63 --to 34 --out DIR`, the communes the
//! official mapping does not place assigned with `--assign`), `khaibao apply DIR` and
//! `khaibao approve reform ID --platform dichvucong` move it to the 34-province division. The
//! clock runs from `khaibao apply DIR` until every successor is Ready (as a successor, for its
//! generation) and every predecessor Tenant is gone. Also measured: the API server's requests
//! over the move, the longest time any old host name was carried by no Ingress (the e2e
//! harness's tracker, `khaibao_e2e::timeline`), the operator's peak RSS over the move and CPU.
//! And offline: the planner over all 10,114 tenant files.

mod cli;
mod diagnose;
mod move_run;
mod plan;
mod planner_offline;
mod tenant_files;

use std::time::Duration;

use khaibao::registry::{Division, merged_into, units};
use khaibao_e2e::scale::ApiRequests;
use khaibao_e2e::timeline::HostGap;
use serde_json::Value;

use crate::runs::Cpu;

pub use self::move_run::run;
pub use self::planner_offline::{PlannerOffline, planner_offline};
pub use self::tenant_files::generate_all;

/// No workload write for this long counts as quiet.
const QUIET: Duration = Duration::from_secs(2);

/// One size of the reform benchmark: the old provinces of the fleet (whole merge groups, so
/// every successor province has all its predecessors), or every province.
#[derive(Clone, Debug)]
pub struct ReformSize {
    pub label: &'static str,
    /// The 34-division provinces whose predecessors make the fleet; `None`: all 63 provinces.
    pub new_provinces: Option<&'static [&'static str]>,
}

/// ~1,000: 02 Hà Giang + 08 Tuyên Quang → 08, 17 Hoà Bình + 25 Phú Thọ + 26 Vĩnh Phúc → 25,
/// 56 Khánh Hoà + 58 Ninh Thuận → 56 (7 provinces, 1,003 communes: 1,010 tenants; a 2-, a 3-
/// and a 2-province merge, one unmapped commune); ~10,100: the whole 63-province division.
pub fn reform_sizes() -> Vec<ReformSize> {
    vec![
        ReformSize {
            label: "1k",
            new_provinces: Some(&["08", "25", "56"]),
        },
        ReformSize {
            label: "10.1k",
            new_provinces: None,
        },
    ]
}

impl ReformSize {
    /// The 63-division province codes of the fleet.
    pub fn old_provinces(&self) -> Vec<String> {
        units(Division::D63)
            .provinces
            .iter()
            .filter(|p| {
                self.new_provinces.is_none_or(|new| {
                    merged_into(&p.code).is_some_and(|n| new.contains(&n.code.as_str()))
                })
            })
            .map(|p| p.code.clone())
            .collect()
    }
}

/// What one move measured.
#[derive(Clone, Debug, Default)]
pub struct ReformRun {
    pub label: String,
    pub tenants: usize,
    pub old_provinces: usize,
    pub new_provinces: usize,
    pub successors: usize,
    /// Successors that keep a predecessor's namespace and name (updated, not retired).
    pub in_place: usize,
    pub retired: usize,
    pub assigned: Vec<String>,
    pub plan_id: String,
    pub plan_summary: Value,
    pub plan_seconds: f64,
    /// `khaibao apply FLEET` until every Tenant is Ready (not part of the move).
    pub cold_seconds: f64,
    pub cold_rss_mib: f64,
    /// Since `khaibao apply DIR` started.
    pub apply_seconds: f64,
    pub approved_at: f64,
    pub successors_ready_at: f64,
    pub predecessors_gone_at: f64,
    pub seconds: f64,
    pub complete_at: Option<f64>,
    pub requests: ApiRequests,
    pub cpu: Cpu,
    pub peak_rss_mib: f64,
    pub hosts_tracked: usize,
    pub ingress_events: usize,
    pub gaps: Vec<HostGap>,
    pub longest_gap: Duration,
    /// (seconds, successors Ready as successors, predecessors gone).
    pub timeline: Vec<(f64, usize, usize)>,
    pub error: Option<String>,
    /// Why the platform's `status.reforms[]` never showed the plan Complete.
    pub not_complete: Option<String>,
    /// Predecessors `namespace/name` listed by a successor other than the Tenant of that name,
    /// which is itself a successor (a new unit that took an old unit's name).
    pub reused: Vec<String>,
    /// Successors deleted during the move before they were ever Ready as successors.
    pub lost: Vec<String>,
}

pub struct ReformOptions {
    pub operator_concurrency: usize,
    pub timeout: Duration,
}
