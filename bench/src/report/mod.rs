//! The results: a Markdown section (printed and written into BENCHMARKS.md), CSVs, and PNG
//! plots drawn by gnuplot when it is installed.

mod benchmarks_md;
mod online_section;
mod plots;
mod reform_section;
mod results;
mod scale_section;

use std::collections::BTreeMap;
use std::process::Command;

use crate::runs::Phase;

pub use self::benchmarks_md::{replace_marked, replace_section};
pub use self::online_section::online_markdown;
pub use self::reform_section::reform_markdown;
pub use self::results::{Results, SizeResult};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn spread(v: &[f64]) -> String {
    if v.len() < 2 {
        return format!("{:.1} s (1 run)", v.first().copied().unwrap_or(0.0));
    }
    let min = v.iter().copied().fold(f64::MAX, f64::min);
    let max = v.iter().copied().fold(0.0, f64::max);
    format!(
        "{:.1} s ({:.1}–{:.1}, {} runs)",
        median(v.to_vec()),
        min,
        max,
        v.len()
    )
}

fn verbs(p: &Phase) -> String {
    let by: BTreeMap<String, f64> = p.requests.by_verb();
    by.iter()
        .map(|(k, v)| format!("{k} {v:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.lines().next().unwrap_or_default().trim().to_string()
        })
        .unwrap_or_default()
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .map(|k| k / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores ({model}), {mem_gib:.0} GiB")
}
