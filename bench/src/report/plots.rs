//! The CSVs under `docs/bench/` and the PNG plots gnuplot draws from them.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use super::{Results, median};
use crate::runs::Phase;

impl Results {
    /// CSVs for the plots.
    pub fn write(&self, out: &Path) -> anyhow::Result<()> {
        let mut growth = String::from("tenants,baseline_s,khaibao_s,helm_s,floor_s\n");
        for s in &self.sizes {
            let bt: Vec<f64> = s.baseline.iter().map(|p| p.seconds).collect();
            let kt: Vec<f64> = s.khaibao.iter().map(|r| r.cold.seconds).collect();
            let _ = writeln!(
                growth,
                "{},{:.2},{:.2},{},{}",
                s.tenants,
                median(bt),
                median(kt),
                s.helm
                    .as_ref()
                    .map_or("".into(), |(_, h)| format!("{:.2}", h.seconds)),
                if s.floor.is_empty() {
                    String::new()
                } else {
                    format!("{:.2}", median(s.floor.iter().map(|p| p.seconds).collect()))
                }
            );
            let mut series: Vec<(&str, &[(f64, usize)])> = Vec::new();
            if let Some(b) = s.median_baseline() {
                series.push(("baseline", &b.timeline));
            }
            let mut floors: Vec<&Phase> = s.floor.iter().collect();
            floors.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
            if let Some(f) = floors.get(floors.len() / 2) {
                series.push(("floor", &f.timeline));
            }
            if let Some(k) = s.median_khaibao() {
                series.push(("khaibao", &k.cold.timeline));
                if let Some(t) = &k.template {
                    series.push(("template", &t.timeline));
                }
            }
            if let Some((_, h)) = &s.helm {
                series.push(("helm", &h.timeline));
            }
            if let Some((k, _)) = &s.kro {
                series.push(("kro", &k.timeline));
            }
            for (name, points) in series {
                let mut csv = String::from("seconds,objects\n");
                for (t, n) in points {
                    let _ = writeln!(csv, "{t:.2},{n}");
                }
                std::fs::write(out.join(format!("{name}-{}.csv", s.label)), csv)?;
            }
        }
        std::fs::write(out.join("growth.csv"), growth).context("writing growth.csv")?;
        Ok(())
    }

    /// Draws `throughput.png`, `rate.png` and `growth.png` with `bench/plot.gp` (gnuplot), if installed.
    pub fn plot(&self, out: &Path) {
        let script = khaibao_e2e::workspace_root().join("bench/plot.gp");
        let labels: Vec<&str> = self.sizes.iter().map(|s| s.label.as_str()).collect();
        let status = Command::new("gnuplot")
            .arg("-e")
            .arg(format!(
                "dir='{}'; sizes='{}'",
                out.display(),
                labels.join(" ")
            ))
            .arg(&script)
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("[bench] no plots: gnuplot is missing or failed ({status:?})");
        }
    }
}
