//! The planner offline: `khaibao reform plan` over every tenant file, timed.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, ensure};
use serde_json::Value;

use super::tenant_files::count_tenant_files;

/// The planner offline: `khaibao reform plan` over every tenant file, one warm-up and `runs`
/// runs under `/usr/bin/time`.
#[derive(Clone, Debug, Default)]
pub struct PlannerOffline {
    pub tenants: usize,
    /// (wall seconds, peak RSS KiB) of each timed run.
    pub runs: Vec<(f64, u64)>,
    pub exit_code: i32,
    pub summary: Value,
    pub command: String,
}

pub fn planner_offline(
    bin: &Path,
    all: &Path,
    work: &Path,
    runs: usize,
) -> anyhow::Result<PlannerOffline> {
    let out = work.join("offline-plan");
    let time_file = work.join("offline-plan.time");
    let json_file = work.join("offline-plan.json");
    let mut result = PlannerOffline {
        tenants: count_tenant_files(all)?,
        command: format!(
            "/usr/bin/time -f \"%e s %M KiB\" khaibao reform plan --from 63 --to 34 -o json --out OUT DIR  (DIR: the {} files of `khaibao generate tenants --division 63`, provinces and communes)",
            count_tenant_files(all)? + 1
        ),
        ..Default::default()
    };
    for i in 0..=runs {
        let _ = std::fs::remove_dir_all(&out);
        let status = Command::new("/usr/bin/time")
            .args(["-f", "%e %M", "-o"])
            .arg(&time_file)
            .arg(bin)
            .args([
                "reform", "plan", "--from", "63", "--to", "34", "-o", "json", "--out",
            ])
            .arg(&out)
            .arg(all)
            .current_dir(khaibao_e2e::workspace_root())
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&json_file)?)
            .stderr(Stdio::null())
            .status()
            .context("cannot run /usr/bin/time")?;
        let code = status.code().unwrap_or(-1);
        // Exit 1: the 28 communes the official mapping does not place are listed as unmapped;
        // everything is planned all the same.
        ensure!(code <= 1, "khaibao reform plan exited {code}");
        result.exit_code = code;
        let text = std::fs::read_to_string(&time_file)?;
        let last = text.lines().last().unwrap_or_default();
        let mut it = last.split_whitespace();
        let wall: f64 = it
            .next()
            .and_then(|s| s.parse().ok())
            .context("time output")?;
        let kib: u64 = it
            .next()
            .and_then(|s| s.parse().ok())
            .context("time output")?;
        eprintln!(
            "[bench] reform plan offline run {i}: {wall:.2} s, {} MiB, exit {code}",
            kib / 1024
        );
        if i > 0 {
            result.runs.push((wall, kib));
        }
    }
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&json_file)?)?;
    result.summary = plan["summary"].clone();
    let _ = std::fs::remove_dir_all(&out);
    Ok(result)
}
