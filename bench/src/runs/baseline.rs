//! The raw baseline: the rendered objects server-side applied by the bench itself.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use khaibao_e2e::scale::{ApiRequests, quiesce};

use super::{Phase, QUIET, apply_all, bucket, cpu_now, plane_with_shared, record};
use crate::fleet::Rendered;

/// The raw baseline: every rendered object server-side applied directly, `concurrency` at a
/// time, on a fresh control plane (namespaces and the shared objects made first, not timed).
pub async fn baseline(
    r: &Rendered,
    concurrency: usize,
    perf: Option<(PathBuf, String)>,
) -> anyhow::Result<Phase> {
    let (cp, client) = plane_with_shared(r).await?;
    let m0 = quiesce(&client, QUIET, Duration::from_secs(30)).await?;
    let c0 = cpu_now(&cp, None);
    let recording = record(&perf, &cp, None);
    let start = Instant::now();
    let done = apply_all(&client, &r.objects, concurrency, "khaibao-raw").await?;
    let seconds = start.elapsed().as_secs_f64();
    recording.stop();
    let (m1, c1) = (ApiRequests::scrape(&client).await?, cpu_now(&cp, None));
    Ok(Phase {
        seconds,
        requests: m1.since(&m0).workload(),
        cpu: c1.since(c0),
        timeline: bucket(start, done, 0.5),
    })
}
