//! `khaibao-bench` (`make bench`): on the local control plane, with the real units, measures
//! side by side a raw server-side-apply baseline, khaibao's cold convergence, a full resync and
//! a template change, at ~1,000, ~3,300 and ~10,100 tenants; the Helm peer at ~1,000; and
//! `khaibao test` against `helm template` offline; the reform of a fleet; and time to online
//! (declaration → first correct page of the dichvucong portal). Prints a table, writes CSVs and
//! plots under `docs/bench/`, and the results sections of `BENCHMARKS.md`.

mod fleet;
mod offline;
mod online;
mod profile;
mod reform;
mod report;
mod runs;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use crate::fleet::{render, sizes};
use crate::runs::{KhaibaoOptions, baseline, declared_floor, helm, helm_chart, khaibao};

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

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The reform part: the planner offline over every tenant file, then one move per size.
async fn run_reform(args: &Args) -> anyhow::Result<()> {
    let root = khaibao_e2e::workspace_root();
    let load_before = loadavg();
    let cli = args
        .khaibao_cli
        .clone()
        .unwrap_or_else(|| release_bin("khaibao"));
    let work = std::env::temp_dir().join(format!("khaibao-bench-reform.{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let all = work.join("tenants-63");
    reform::generate_all(&cli, &all)?;
    let offline = reform::planner_offline(&cli, &all, &work, args.reform_plan_runs)?;
    let mut runs = Vec::new();
    for size in reform::reform_sizes()
        .into_iter()
        .filter(|s| args.reform_sizes.iter().any(|a| a == s.label))
    {
        let r = reform::run(
            &size,
            &cli,
            &all,
            &work,
            &reform::ReformOptions {
                operator_concurrency: args.operator_concurrency,
                timeout: Duration::from_secs(args.reform_timeout_seconds),
            },
        )
        .await?;
        let failed = r.error.is_some();
        runs.push(r);
        let table = report::reform_markdown(
            &args_line(),
            Some(&offline),
            &runs,
            &load_before,
            &loadavg(),
        );
        report::replace_marked(
            &root.join(&args.benchmarks_md),
            "bench-reform",
            "Reform of a fleet (`make bench`, issue 13)",
            &table,
        )?;
        if failed {
            eprintln!(
                "[bench] reform at {} did not complete; the larger sizes are skipped",
                size.label
            );
            break;
        }
    }
    let table = report::reform_markdown(
        &args_line(),
        Some(&offline),
        &runs,
        &load_before,
        &loadavg(),
    );
    println!("{table}");
    report::replace_marked(
        &root.join(&args.benchmarks_md),
        "bench-reform",
        "Reform of a fleet (`make bench`, issue 13)",
        &table,
    )?;
    if runs.iter().all(|r| r.error.is_none()) {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        eprintln!("[bench] reform files kept in {}", work.display());
    }
    Ok(())
}

/// Time to online, one size after another; the section is rewritten after each, so a long
/// run leaves what it measured so far.
async fn run_online(args: &Args) -> anyhow::Result<()> {
    let path = khaibao_e2e::workspace_root().join(&args.benchmarks_md);
    let load_before = loadavg();
    let chosen: Vec<fleet::Size> = sizes()
        .into_iter()
        .filter(|s| args.online_sizes.iter().any(|a| a == s.label))
        .collect();
    anyhow::ensure!(
        !chosen.is_empty(),
        "no known size in --online-sizes {:?} (of 1k, 3.3k, 10.1k)",
        args.online_sizes
    );
    let options = online::OnlineOptions {
        operator_concurrency: args.operator_concurrency,
        tenant_concurrency: args.tenant_concurrency,
        singles: args.online_singles,
        timeout: Duration::from_secs(args.online_timeout_seconds),
    };
    let section = |runs: &[online::OnlineRun]| {
        let not_run: Vec<String> = ONLINE_SIZES
            .split(',')
            .filter(|s| !runs.iter().any(|r| r.label == *s))
            .map(String::from)
            .collect();
        report::online_markdown(
            &args_line(),
            runs,
            &options,
            &not_run,
            &load_before,
            &loadavg(),
        )
    };
    let mut runs = Vec::new();
    for size in &chosen {
        eprintln!("[bench] time to online at {}", size.label);
        let r = online::run(size, &options).await?;
        let failed = r.error.is_some();
        runs.push(r);
        report::replace_marked(&path, "online", "Time to online", &section(&runs))?;
        if failed {
            eprintln!(
                "[bench] time to online at {} did not complete; the larger sizes are skipped",
                size.label
            );
            break;
        }
    }
    println!("{}", section(&runs));
    Ok(())
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let root = khaibao_e2e::workspace_root();
    let out = root.join(&args.out);
    std::fs::create_dir_all(&out)?;
    let mut results = report::Results::new(&args_line());
    let chosen: Vec<fleet::Size> = sizes()
        .into_iter()
        .filter(|s| args.sizes.iter().any(|a| a == s.label))
        .collect();
    anyhow::ensure!(!chosen.is_empty(), "no known size in {:?}", args.sizes);
    let mut best_concurrency = None;
    let kro_bin = if args.no_kro {
        None
    } else {
        match build_kro() {
            Ok(bin) => Some(bin),
            Err(e) => {
                eprintln!("[bench] kro cannot run: {e:#}");
                results.kro_note = Some(format!(
                    "kro could not be built here (`bench/peers/kro/build-kro.sh`): `{e:#}`"
                ));
                None
            }
        }
    };
    for size in &chosen {
        let rendered = render(size)?;
        let n = rendered.fleet.tenants.len();
        eprintln!(
            "[bench] {}: {n} tenants, {} objects",
            size.label,
            rendered.objects.len()
        );
        let mut row = report::SizeResult::new(size.label, n, rendered.objects.len());
        // The best baseline concurrency, found once.
        let conc = match best_concurrency {
            Some(c) => c,
            None => {
                let mut best = (f64::MAX, 0);
                for &c in &args.baseline_concurrency {
                    let p = baseline(&rendered, c, None).await?;
                    eprintln!("[bench]   baseline concurrency {c}: {:.1} s", p.seconds);
                    row.concurrency_search.push((c, p.seconds));
                    if p.seconds < best.0 {
                        best = (p.seconds, c);
                    }
                }
                best_concurrency = Some(best.1);
                best.1
            }
        };
        row.baseline_concurrency = conc;
        let perf_dir = args.perf_dir.as_ref().map(|d| root.join(d));
        let perf = |phase: &str| {
            perf_dir
                .as_ref()
                .map(|d| (d.clone(), format!("{phase}-{}", size.label)))
        };
        let mut runs = args.runs.max(1);
        let mut i = 0;
        while i < runs {
            let b = baseline(&rendered, conc, perf("baseline")).await?;
            eprintln!("[bench]   baseline run {}: {:.1} s", i + 1, b.seconds);
            if !args.no_floor {
                let f = declared_floor(&rendered, args.operator_concurrency, perf("floor")).await?;
                eprintln!("[bench]   declared floor run {}: {:.1} s", i + 1, f.seconds);
                row.floor.push(f);
                row.floor_concurrency = args.operator_concurrency;
            }
            let k = khaibao(
                &rendered,
                &KhaibaoOptions {
                    concurrency: args.tenant_concurrency,
                    operator_concurrency: args.operator_concurrency,
                    resync: true,
                    template_change: !args.no_template_change,
                    timeout: Duration::from_secs(1800),
                    perf: perf("khaibao"),
                },
            )
            .await?;
            eprintln!(
                "[bench]   khaibao run {}: cold {:.1} s, {:.2} writes/tenant, peak RSS {:.0} MiB, resync {:.1} s ({} writes, peak RSS {:.0} MiB), template change {:.1} s",
                i + 1,
                k.cold.seconds,
                k.writes_per_tenant,
                k.peak_rss_mib,
                k.resync.as_ref().map_or(0.0, |r| r.seconds),
                k.resync.as_ref().map_or(0.0, |r| r.requests.writes()),
                k.resync_rss_mib,
                k.template.as_ref().map_or(0.0, |r| r.seconds),
            );
            if i == 0 && k.cold.seconds.max(b.seconds) > 60.0 {
                runs = 1;
            }
            row.baseline.push(b);
            row.khaibao.push(k);
            i += 1;
        }
        if size.label == "1k" && !args.no_helm {
            let h = helm(&rendered, &helm_chart(), args.helm_parallel).await?;
            eprintln!("[bench]   helm: {:.1} s", h.seconds);
            row.helm = Some((args.helm_parallel, h));
        }
        if let Some(bin) = kro_bin
            .as_ref()
            .filter(|_| args.kro_sizes.iter().any(|k| k == size.label))
        {
            match runs::kro(
                &rendered,
                bin,
                args.tenant_concurrency,
                Duration::from_secs(args.kro_timeout_seconds),
            )
            .await
            {
                Ok((p, rss)) => {
                    eprintln!("[bench]   kro: {:.1} s", p.seconds);
                    row.kro = Some((p, rss));
                }
                Err(e) => {
                    eprintln!("[bench]   kro failed: {e:#}");
                    row.kro_error = Some(format!("{e:#}"));
                }
            }
        }
        results.sizes.push(row);
        results.write(&out)?;
    }
    if !args.no_offline {
        let cli = args
            .khaibao_cli
            .clone()
            .unwrap_or_else(|| release_bin("khaibao"));
        let all = render(&sizes()[2])?;
        let helm_bin = PathBuf::from(
            std::process::Command::new(root.join("e2e/build-controlplane.sh"))
                .output()
                .context("e2e/build-controlplane.sh")
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .to_string()
                })?,
        )
        .join("helm");
        let work =
            std::env::temp_dir().join(format!("khaibao-bench-offline.{}", std::process::id()));
        let o = offline::run(&cli, &helm_bin, &all, &work, args.helm_template_sample, 2)?;
        let _ = std::fs::remove_dir_all(&work);
        eprintln!(
            "[bench] offline: khaibao test {:.2} s, helm template {:.0} s (extrapolated)",
            o.khaibao_median, o.helm_extrapolated
        );
        results.offline = Some(o);
    }
    results.write(&out)?;
    let table = results.markdown();
    println!("{table}");
    results.plot(&out);
    report::replace_section(&root.join(&args.benchmarks_md), &table)?;
    Ok(())
}

fn args_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        "khaibao-bench".into()
    } else {
        format!("khaibao-bench {}", args.join(" "))
    }
}

/// Builds kro (cached) with `bench/peers/kro/build-kro.sh`; its last stdout line is the binary.
fn build_kro() -> anyhow::Result<PathBuf> {
    let out = std::process::Command::new(
        khaibao_e2e::workspace_root().join("bench/peers/kro/build-kro.sh"),
    )
    .output()
    .context("cannot run bench/peers/kro/build-kro.sh")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        out.status.success(),
        "{}",
        stderr
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("; ")
    );
    let bin = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    Ok(PathBuf::from(bin))
}
