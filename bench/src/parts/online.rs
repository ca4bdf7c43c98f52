//! The time-to-online part.

use std::time::Duration;

use super::{args_line, loadavg};
use crate::fleet::{self, sizes};
use crate::{Args, ONLINE_SIZES, online, report};

/// Time to online, one size after another; the section is rewritten after each, so a long
/// run leaves what it measured so far.
pub(crate) async fn run_online(args: &Args) -> anyhow::Result<()> {
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
