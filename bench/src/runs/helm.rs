//! The Helm peer, and the parallel command runner it shares with the offline comparison.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::ensure;
use khaibao_e2e::ControlPlane;
use khaibao_e2e::scale::{ApiRequests, quiesce};

use super::{Phase, QUIET, bucket, cpu_now, create_namespaces};
use crate::fleet::{PLATFORM_NAMESPACE, Rendered};

/// The Helm peer: one release per tenant (`helm upgrade --install`, `parallel` at a time) of a
/// chart that renders the same objects, on a fresh control plane.
pub async fn helm(r: &Rendered, chart: &Path, parallel: usize) -> anyhow::Result<Phase> {
    let cp = ControlPlane::start()?;
    let client = cp.client().await?;
    let mut namespaces = r.fleet.namespaces.clone();
    namespaces.push(PLATFORM_NAMESPACE.into());
    create_namespaces(&client, &namespaces).await?;
    let values_dir = cp.state_dir.join("helm-values");
    std::fs::create_dir_all(&values_dir)?;
    let mut jobs = Vec::new();
    for (release, values) in &r.helm_values {
        let file = values_dir.join(format!("{release}.json"));
        std::fs::write(&file, serde_json::to_vec(values)?)?;
        jobs.push((release.clone(), file));
    }
    let helm = cp.bin_dir.join("helm");
    let m0 = quiesce(&client, QUIET, Duration::from_secs(30)).await?;
    let c0 = cpu_now(&cp, None);
    let start = Instant::now();
    let done = run_parallel(&jobs, parallel, |(release, file)| {
        let mut c = Command::new(&helm);
        c.args(["upgrade", "--install", release])
            .arg(chart)
            .args(["--namespace", PLATFORM_NAMESPACE, "-f"])
            .arg(file)
            .env("KUBECONFIG", &cp.kubeconfig)
            .env("HELM_CACHE_HOME", cp.state_dir.join("helm-cache"))
            .env("HELM_CONFIG_HOME", cp.state_dir.join("helm-config"))
            .env("HELM_DATA_HOME", cp.state_dir.join("helm-data"));
        c
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let (m1, c1) = (ApiRequests::scrape(&client).await?, cpu_now(&cp, None));
    // Each release makes the tenant's 4 objects.
    let done: Vec<Instant> = done.into_iter().flat_map(|d| [d; 4]).collect();
    Ok(Phase {
        seconds,
        requests: m1.since(&m0).workload(),
        cpu: c1.since(c0),
        timeline: bucket(start, done, 1.0),
    })
}

/// Runs one command per job, `parallel` at a time; fails on the first failing command.
/// Returns the completion time of each.
pub fn run_parallel<J: Sync>(
    jobs: &[J],
    parallel: usize,
    command: impl Fn(&J) -> Command + Sync,
) -> anyhow::Result<Vec<Instant>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(jobs.len()));
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..parallel.max(1))
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(job) = jobs.get(i) else {
                            return Ok(());
                        };
                        let out = command(job)
                            .stdin(Stdio::null())
                            .stdout(Stdio::null())
                            .stderr(Stdio::piped())
                            .output()?;
                        ensure!(
                            out.status.success(),
                            "{:?} failed: {}",
                            command(job).get_args().collect::<Vec<_>>(),
                            String::from_utf8_lossy(&out.stderr).trim()
                        );
                        // Never poisoned: nothing panics while it is held (a push or a clone).
                        done.lock().expect("lock").push(Instant::now());
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| anyhow::anyhow!("worker panicked"))??;
        }
        anyhow::Ok(())
    })?;
    // Never poisoned: nothing panics while it is held (a push or a clone).
    Ok(done.into_inner().expect("lock"))
}

/// The chart of the Helm peer.
pub fn helm_chart() -> PathBuf {
    khaibao_e2e::workspace_root().join("bench/peers/helm/dichvucong")
}
