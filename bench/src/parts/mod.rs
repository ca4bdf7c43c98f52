//! The benchmark's three parts as the command line chose them: the main section (cold
//! convergence, the peers and the offline comparison), the reform and time to online; each
//! writes its section of BENCHMARKS.md.

mod online;
mod reform;
mod scale;

pub(crate) use self::online::run_online;
pub(crate) use self::reform::run_reform;
pub(crate) use self::scale::run;

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(", ")
}

fn args_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        "khaibao-bench".into()
    } else {
        format!("khaibao-bench {}", args.join(" "))
    }
}
