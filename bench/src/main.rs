//! `khaibao-bench` (`make bench`): on the local control plane, with the real units, measures
//! side by side a raw server-side-apply baseline, khaibao's cold convergence, a full resync and
//! a template change, at ~1,000, ~3,300 and ~10,100 tenants; the Helm peer at ~1,000; and
//! `khaibao test` against `helm template` offline; the reform of a fleet; and time to online
//! (declaration → first correct page of the dichvucong portal). Prints a table, writes CSVs and
//! plots under `docs/bench/`, and the results sections of `BENCHMARKS.md`.

mod fleet;
mod offline;
mod online;
mod parts;
mod profile;
mod reform;
mod report;
mod runs;

use std::path::PathBuf;

use clap::Parser;

use crate::parts::{run, run_online, run_reform};

/// The sizes time to online runs at by default; a section missing one says so.
const ONLINE_SIZES: &str = "1k,10.1k";

#[derive(Parser, Debug)]
#[command(about = "The khaibao scale benchmark (see BENCHMARKS.md)")]
struct Args {
    /// Sizes to run, of 1k, 3.3k, 10.1k.
    #[arg(long, value_delimiter = ',', default_value = "1k,3.3k,10.1k")]
    sizes: Vec<String>,
    /// Runs per size when a run takes under a minute (otherwise one).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Concurrencies the baseline tries (once each, at the first size); the best is used.
    #[arg(long, value_delimiter = ',', default_value = "8,16,32,64")]
    baseline_concurrency: Vec<usize>,
    /// The operator's `--concurrency`.
    #[arg(long, default_value_t = 32)]
    operator_concurrency: usize,
    /// How many Tenants the bench applies at once.
    #[arg(long, default_value_t = 32)]
    tenant_concurrency: usize,
    /// Skip the Helm peer (1k).
    #[arg(long)]
    no_helm: bool,
    /// `helm upgrade --install` processes at once.
    #[arg(long, default_value_t = 4)]
    helm_parallel: usize,
    /// Skip the offline comparison.
    #[arg(long)]
    no_offline: bool,
    /// `helm template` sample size for the offline comparison.
    #[arg(long, default_value_t = 300)]
    helm_template_sample: usize,
    /// The `khaibao` CLI (offline comparison).
    #[arg(long)]
    khaibao_cli: Option<PathBuf>,
    /// Where CSVs, results.json and the plots go.
    #[arg(long, default_value = "docs/bench")]
    out: PathBuf,
    /// The file whose `<!-- bench:begin -->`…`<!-- bench:end -->` section is rewritten.
    #[arg(long, default_value = "BENCHMARKS.md")]
    benchmarks_md: PathBuf,
    /// Skip the template change (cold convergence and resync only).
    #[arg(long)]
    no_template_change: bool,
    /// Skip the declared floor (the baseline plus each Tenant and one status write, no operator).
    #[arg(long)]
    no_floor: bool,
    /// Skip the kro peer.
    #[arg(long)]
    no_kro: bool,
    /// Sizes at which kro runs.
    #[arg(long, value_delimiter = ',', default_value = "1k,10.1k")]
    kro_sizes: Vec<String>,
    /// How long kro may take to make every instance ACTIVE before its run is reported as
    /// unfinished (with how many were ACTIVE by then).
    #[arg(long, default_value_t = 3600)]
    kro_timeout_seconds: u64,
    /// Record the API server and the operator with `perf record` over each timed phase, into
    /// this folder (`perf report -i DIR/<phase>-<size>-<process>.data`).
    #[arg(long)]
    perf_dir: Option<PathBuf>,
    /// Sizes at which a converged 63-division fleet is moved to the 34-province division
    /// (`khaibao reform plan`, `khaibao apply`, `khaibao approve reform`), of 1k (whole merged
    /// provinces, 1,010 tenants) and 10.1k (every unit, 10,114 tenants).
    #[arg(long, value_delimiter = ',', default_value = "1k,10.1k")]
    reform_sizes: Vec<String>,
    /// Skip the reform (the move and the planner offline).
    #[arg(long)]
    no_reform: bool,
    /// Run only the reform (no cold convergence, peers or offline `khaibao test`): the
    /// main section of BENCHMARKS.md is left as it is.
    #[arg(long)]
    only_reform: bool,
    /// How long one move may take before it is reported as unfinished (with what is stuck).
    #[arg(long, default_value_t = 1800)]
    reform_timeout_seconds: u64,
    /// Timed runs of the planner offline over all 10,114 tenant files (after a warm-up).
    #[arg(long, default_value_t = 3)]
    reform_plan_runs: usize,
    /// Sizes at which time to online (declaration → first correct page of the dichvucong
    /// portal) is measured, of 1k, 3.3k, 10.1k.
    #[arg(long, value_delimiter = ',', default_value = ONLINE_SIZES)]
    online_sizes: Vec<String>,
    /// Skip time to online.
    #[arg(long)]
    no_online: bool,
    /// Run only time to online (no cold convergence, peers, offline `khaibao test` or reform):
    /// the other sections of BENCHMARKS.md are left as they are.
    #[arg(long)]
    only_online: bool,
    /// Single tenants declared one at a time on each converged fleet.
    #[arg(long, default_value_t = 20)]
    online_singles: usize,
    /// How long the fleet, or one single tenant, may take to be online before the size is
    /// reported as unfinished (with what is not online).
    #[arg(long, default_value_t = 1800)]
    online_timeout_seconds: u64,
}

fn release_bin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| khaibao_e2e::workspace_root().join("target"));
    target.join("release").join(name)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if std::env::var_os("KHAIBAO_OPERATOR_BIN").is_none() {
        // SAFETY: no other thread runs yet.
        unsafe { std::env::set_var("KHAIBAO_OPERATOR_BIN", release_bin("khaibao-operator")) };
    }
    khaibao_e2e::operator_binary()?;
    let online = !args.no_online && (args.only_online || !args.only_reform);
    if online {
        let portal = match std::env::var_os("KHAIBAO_PORTAL_BIN") {
            Some(p) => PathBuf::from(p),
            None => {
                let p = release_bin("dichvucong-portal");
                // SAFETY: no other thread runs yet.
                unsafe { std::env::set_var("KHAIBAO_PORTAL_BIN", &p) };
                p
            }
        };
        anyhow::ensure!(
            portal.is_file(),
            "{} does not exist: time to online runs the portal's release binary; build it with `cargo build --release -p dichvucong-portal` (or point KHAIBAO_PORTAL_BIN at one), or pass --no-online",
            portal.display()
        );
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        if !args.only_reform && !args.only_online {
            run(&args).await?;
        }
        if !args.no_reform && (args.only_reform || !args.only_online) {
            run_reform(&args).await?;
        }
        if online {
            run_online(&args).await?;
        }
        Ok(())
    })
}
