//! Offline: `khaibao test` over every tenant of the 63-province division against
//! `helm template` per tenant (measured on a sample, extrapolated).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, ensure};

use crate::fleet::Rendered;
use crate::runs::{helm_chart, run_parallel};

#[derive(Clone, Debug, Default)]
pub struct Offline {
    pub tenants: usize,
    pub khaibao_median: f64,
    pub khaibao_runs: usize,
    pub helm_sample: usize,
    pub helm_parallel: usize,
    pub helm_sample_seconds: f64,
    /// The sample's time scaled to `tenants`.
    pub helm_extrapolated: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

pub fn run(
    khaibao: &Path,
    helm: &Path,
    all: &Rendered,
    work: &Path,
    sample: usize,
    parallel: usize,
) -> anyhow::Result<Offline> {
    let root = khaibao_e2e::workspace_root();
    let dir = work.join("tenants");
    let _ = std::fs::remove_dir_all(&dir);
    for level in ["province", "commune"] {
        let out = Command::new(khaibao)
            .args([
                "generate",
                "tenants",
                "--platform",
                "dichvucong",
                "--division",
                "63",
            ])
            .args(["--level", level, "--out"])
            .arg(&dir)
            .current_dir(&root)
            .output()
            .with_context(|| format!("cannot run {}", khaibao.display()))?;
        ensure!(
            out.status.success(),
            "khaibao generate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // `khaibao test` over every file: one warm-up, then 5 runs.
    let mut times = Vec::new();
    for i in 0..6 {
        let start = Instant::now();
        let out = Command::new(khaibao)
            .arg("test")
            .arg(&dir)
            .current_dir(&root)
            .output()?;
        let t = start.elapsed().as_secs_f64();
        ensure!(
            out.status.success(),
            "khaibao test failed: {}",
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap_or_default()
        );
        if i > 0 {
            times.push(t);
        }
    }
    // `helm template` per tenant, on a sample spread over the fleet.
    let values_dir = work.join("helm-values");
    std::fs::create_dir_all(&values_dir)?;
    let step = (all.helm_values.len() / sample.max(1)).max(1);
    let mut jobs = Vec::new();
    for (release, values) in all.helm_values.iter().step_by(step).take(sample) {
        let file = values_dir.join(format!("{release}.json"));
        std::fs::write(&file, serde_json::to_vec(values)?)?;
        jobs.push((release.clone(), file));
    }
    let chart = helm_chart();
    let start = Instant::now();
    run_parallel(&jobs, parallel, |(release, file)| {
        let mut c = Command::new(helm);
        c.args(["template", release])
            .arg(&chart)
            .arg("-f")
            .arg(file);
        c
    })?;
    let helm_sample_seconds = start.elapsed().as_secs_f64();
    let tenants = all.helm_values.len();
    Ok(Offline {
        tenants,
        khaibao_median: median(times.clone()),
        khaibao_runs: times.len(),
        helm_sample: jobs.len(),
        helm_parallel: parallel,
        helm_sample_seconds,
        helm_extrapolated: helm_sample_seconds * tenants as f64 / jobs.len().max(1) as f64,
    })
}
