//! The reform part.

use std::time::Duration;

use super::{args_line, loadavg};
use crate::{Args, reform, release_bin, report};

/// The reform part: the planner offline over every tenant file, then one move per size.
pub(crate) async fn run_reform(args: &Args) -> anyhow::Result<()> {
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
