//! Helpers for scale measurements (the `khaibao-bench` driver and `tests/scale_guard.rs`):
//! fleets of real units, the API server's own request counters, /proc figures of a process,
//! and a watch that tracks how many Tenants are Ready over time.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use futures::StreamExt;
use khaibao::api::{API_VERSION, Tenant};
use khaibao::registry::{Division, units};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::fixtures::tenant_ready;

/// Tenant manifests of real units, in namespaces `tinh-<province code>`.
pub struct Fleet {
    pub division: Division,
    pub namespaces: Vec<String>,
    pub tenants: Vec<Value>,
}

/// Every province of `division` and its communes, in registry order, cut after `limit` tenants
/// (provinces first, so every commune's parent exists). `limit = None` takes every unit.
pub fn fleet(platform: &str, division: Division, limit: Option<usize>) -> Fleet {
    let reg = units(division);
    let mut tenants = Vec::new();
    let limit = limit.unwrap_or(usize::MAX);
    for p in &reg.provinces {
        if tenants.len() >= limit {
            break;
        }
        tenants.push(tenant(platform, division, &p.code, &p.slug, &p.name, None));
    }
    'outer: for p in &reg.provinces {
        for c in reg.communes_of(&p.code) {
            if tenants.len() >= limit {
                break 'outer;
            }
            let parent = Some((p.code.as_str(), p.slug.as_str()));
            tenants.push(tenant(
                platform, division, &c.code, &c.slug, &c.name, parent,
            ));
        }
    }
    let mut namespaces: Vec<String> = tenants
        .iter()
        .filter_map(|t| t["metadata"]["namespace"].as_str().map(String::from))
        .collect();
    namespaces.sort();
    namespaces.dedup();
    Fleet {
        division,
        namespaces,
        tenants,
    }
}

/// One Tenant as `khaibao generate tenants` writes it.
fn tenant(
    platform: &str,
    division: Division,
    code: &str,
    slug: &str,
    name: &str,
    parent: Option<(&str, &str)>,
) -> Value {
    let level = if parent.is_some() {
        "commune"
    } else {
        "province"
    };
    let province = parent.map(|(c, _)| c).unwrap_or(code);
    let mut unit =
        json!({"level": level, "code": code, "name": name, "division": division.as_str()});
    let mut spec = json!({"platform": platform});
    if let Some((pcode, pslug)) = parent {
        unit["provinceCode"] = json!(pcode);
        spec["parent"] = json!(pslug);
    }
    spec["unit"] = unit;
    json!({
        "apiVersion": API_VERSION, "kind": "Tenant",
        "metadata": {"name": slug, "namespace": format!("tinh-{province}"),
            "labels": {"khaibao.dev/unit-code": code, "khaibao.dev/level": level}},
        "spec": spec,
    })
}

/// `apiserver_request_total` summed by (verb, resource[/subresource]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApiRequests(pub BTreeMap<(String, String), f64>);

/// How core-group Events (written by the controller manager, not khaibao) are keyed.
pub const CORE_EVENTS: &str = "events(core)";

/// Kinds only the controller manager writes here.
const CONTROLLER_MANAGER_KINDS: &[&str] = &["pods", "replicasets", CORE_EVENTS];

/// Verbs that change state.
pub const WRITE_VERBS: &[&str] = &[
    "POST",
    "PUT",
    "PATCH",
    "APPLY",
    "DELETE",
    "DELETECOLLECTION",
];

impl ApiRequests {
    /// Reads the API server's own `/metrics`.
    pub async fn scrape(client: &Client) -> anyhow::Result<ApiRequests> {
        let req = http::Request::get("/metrics").body(Vec::new())?;
        let text = client
            .request_text(req)
            .await
            .context("GET /metrics of the API server")?;
        Ok(Self::parse(&text))
    }

    pub fn parse(text: &str) -> ApiRequests {
        let mut out = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once("} ") else {
                continue;
            };
            let label = |k: &str| {
                labels
                    .split_once(&format!("{k}=\""))
                    .and_then(|(_, r)| r.split('"').next())
                    .unwrap_or_default()
                    .to_string()
            };
            let (verb, mut resource, sub) =
                (label("verb"), label("resource"), label("subresource"));
            // Core-group Events are the controllers' (the controller manager records with
            // them); khaibao's are events.k8s.io. Kept apart so that `workload` can tell.
            if resource == "events" && label("group").is_empty() {
                resource = CORE_EVENTS.to_string();
            }
            if !sub.is_empty() {
                resource = format!("{resource}/{sub}");
            }
            let v: f64 = value.trim().parse().unwrap_or(0.0);
            *out.entry((verb, resource)).or_insert(0.0) += v;
        }
        ApiRequests(out)
    }

    /// `self - before`, entries that did not change dropped.
    pub fn since(&self, before: &ApiRequests) -> ApiRequests {
        ApiRequests(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v - before.0.get(k).copied().unwrap_or(0.0)))
                .filter(|(_, v)| *v > 0.0)
                .collect(),
        )
    }

    /// Requests whose resource passes `keep`.
    pub fn filter(&self, keep: impl Fn(&str, &str) -> bool) -> ApiRequests {
        ApiRequests(
            self.0
                .iter()
                .filter(|((verb, res), _)| keep(verb, res))
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        )
    }

    /// Requests the project's workload causes: everything but the API server's own lease
    /// heartbeats (`leases`) and the controller manager's housekeeping of its own kinds (the
    /// pods and ReplicaSets of the shared Deployments, which khaibao never writes, and the
    /// core Events it records about them: a Deployment whose pods cannot be created yet, e.g.
    /// before the platform's ServiceAccount exists, is retried by the ReplicaSet controller
    /// whenever it likes).
    pub fn workload(&self) -> ApiRequests {
        self.filter(|_, res| {
            !res.starts_with("leases")
                && !CONTROLLER_MANAGER_KINDS
                    .iter()
                    .any(|k| res == *k || res.starts_with(&format!("{k}/")))
        })
    }

    pub fn by_verb(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for ((verb, _), v) in &self.0 {
            *out.entry(verb.clone()).or_insert(0.0) += v;
        }
        out
    }

    pub fn writes(&self) -> f64 {
        self.0
            .iter()
            .filter(|((verb, _), _)| WRITE_VERBS.contains(&verb.as_str()))
            .map(|(_, v)| v)
            .fold(0.0, |a, b| a + b)
    }

    pub fn reads(&self) -> f64 {
        self.0
            .iter()
            .filter(|((verb, _), _)| !WRITE_VERBS.contains(&verb.as_str()))
            .map(|(_, v)| v)
            .fold(0.0, |a, b| a + b)
    }

    /// `PATCH tenants/status 10100, APPLY configmaps 20200, ...`, largest first.
    pub fn describe(&self) -> String {
        let mut rows: Vec<_> = self.0.iter().collect();
        rows.sort_by(|a, b| b.1.total_cmp(a.1));
        rows.iter()
            .map(|((verb, res), v)| format!("{verb} {res} {v:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Waits until the API server sees no workload write for `quiet` (the controller manager's
/// ConfigMaps and ServiceAccounts of new namespaces, a last status patch) or `timeout` passes.
/// Returns the requests counted when it stopped.
pub async fn quiesce(
    client: &Client,
    quiet: Duration,
    timeout: Duration,
) -> anyhow::Result<ApiRequests> {
    let start = Instant::now();
    let mut last = ApiRequests::scrape(client).await?;
    loop {
        tokio::time::sleep(quiet).await;
        let now = ApiRequests::scrape(client).await?;
        if now.since(&last).workload().writes() == 0.0 || start.elapsed() >= timeout {
            return Ok(now);
        }
        last = now;
    }
}

/// Figures of one process from /proc.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcStats {
    /// Peak resident set size (VmHWM), KiB.
    pub hwm_kib: u64,
    /// Resident set size now (VmRSS), KiB.
    pub rss_kib: u64,
    /// User + system CPU time, seconds.
    pub cpu_seconds: f64,
}

impl ProcStats {
    pub fn read(pid: u32) -> anyhow::Result<ProcStats> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("process {pid} is gone"))?;
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let fields: Vec<&str> = stat
            .rsplit_once(") ")
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default();
        // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command.
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
            .sum();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        Ok(ProcStats {
            hwm_kib: kib("VmHWM:"),
            rss_kib: kib("VmRSS:"),
            cpu_seconds: ticks / hz,
        })
    }
}

/// The [`ReadyTracker`]'s watch retry: every 200 ms, however many times in a row.
struct ConstantRetry;

impl Iterator for ConstantRetry {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::from_millis(200))
    }
}

impl kube::runtime::utils::Backoff for ConstantRetry {
    fn reset(&mut self) {}
}

/// How many Tenants are Ready (for their generation, and on `revision` when one is asked for),
/// kept up to date by a watch on every Tenant, with the times the count changed.
#[derive(Clone)]
pub struct ReadyTracker {
    inner: Arc<Mutex<TrackerState>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

#[derive(Default)]
struct TrackerState {
    /// namespace/name -> (Ready, revision)
    tenants: HashMap<String, (bool, Option<String>)>,
    /// (when, Ready tenants on the wanted revision), appended on change.
    timeline: Vec<(Instant, usize)>,
    wanted: Option<String>,
}

impl TrackerState {
    fn count(&self) -> usize {
        self.tenants
            .values()
            .filter(|(ready, rev)| *ready && (self.wanted.is_none() || *rev == self.wanted))
            .count()
    }
}

impl ReadyTracker {
    /// Starts watching every Tenant.
    pub fn start(client: Client) -> ReadyTracker {
        let inner = Arc::new(Mutex::new(TrackerState::default()));
        let state = inner.clone();
        let api: Api<Tenant> = Api::all(client);
        let task = tokio::spawn(async move {
            // A short constant retry, not the default exponential one: the tracker is how the
            // chaos runs decide when a fault fires, and after an API server restart the default
            // backoff (0.8 s doubling per refused reconnect) left it seconds behind the fleet,
            // long enough for a whole wave to complete unseen. The API server is local, so
            // retrying it five times a second costs nothing.
            let mut events = watcher(api, watcher::Config::default())
                .backoff(ConstantRetry)
                .boxed();
            while let Some(ev) = events.next().await {
                let Ok(ev) = ev else { continue };
                // Never poisoned: nothing panics while the tracker lock is held.
                let mut s = state.lock().expect("tracker lock");
                let before = s.count();
                match ev {
                    watcher::Event::Apply(t) | watcher::Event::InitApply(t) => {
                        let key = format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any());
                        let rev = t.status.as_ref().and_then(|s| s.revision.clone());
                        s.tenants.insert(key, (tenant_ready(&t), rev));
                    }
                    watcher::Event::Delete(t) => {
                        let key = format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any());
                        s.tenants.remove(&key);
                    }
                    watcher::Event::Init | watcher::Event::InitDone => {}
                }
                let after = s.count();
                if after != before {
                    s.timeline.push((Instant::now(), after));
                }
            }
        });
        ReadyTracker {
            inner,
            task: Arc::new(task),
        }
    }

    /// From now on count only Tenants whose status shows `revision`; clears the timeline.
    pub fn want_revision(&self, revision: Option<String>) {
        // Never poisoned: nothing panics while the tracker lock is held.
        let mut s = self.inner.lock().expect("tracker lock");
        s.wanted = revision;
        s.timeline.clear();
    }

    pub fn ready(&self) -> usize {
        // Never poisoned: nothing panics while the tracker lock is held.
        self.inner.lock().expect("tracker lock").count()
    }

    /// (when, count) since the last [`ReadyTracker::want_revision`].
    pub fn timeline(&self) -> Vec<(Instant, usize)> {
        // Never poisoned: nothing panics while the tracker lock is held.
        self.inner.lock().expect("tracker lock").timeline.clone()
    }

    /// Waits until `expected` Tenants are Ready; returns when that was first seen.
    pub async fn wait(&self, expected: usize, timeout: Duration) -> anyhow::Result<Instant> {
        let start = Instant::now();
        loop {
            let n = self.ready();
            if n >= expected {
                // Never poisoned: nothing panics while the tracker lock is held.
                let s = self.inner.lock().expect("tracker lock");
                let when = s
                    .timeline
                    .iter()
                    .find(|(_, c)| *c >= expected)
                    .map(|(t, _)| *t)
                    .unwrap_or_else(Instant::now);
                return Ok(when);
            }
            ensure!(
                start.elapsed() < timeout,
                "timed out after {timeout:?}: {n} of {expected} Tenants Ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ReadyTracker {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_counters_are_summed_by_verb_and_resource() {
        let text = "# HELP apiserver_request_total x\n\
            apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"configmaps\",scope=\"resource\",subresource=\"\",verb=\"APPLY\",version=\"v1\"} 3\n\
            apiserver_request_total{code=\"201\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"configmaps\",scope=\"resource\",subresource=\"\",verb=\"APPLY\",version=\"v1\"} 2\n\
            apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"khaibao.dev\",resource=\"tenants\",scope=\"resource\",subresource=\"status\",verb=\"PATCH\",version=\"v1alpha1\"} 7\n\
            apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"leases\",scope=\"resource\",subresource=\"\",verb=\"PUT\",version=\"v1\"} 9\n\
            apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"cluster\",subresource=\"\",verb=\"LIST\",version=\"v1\"} 1\n\
            apiserver_request_total{code=\"201\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"resource\",subresource=\"\",verb=\"POST\",version=\"v1\"} 4\n\
            apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"events\",scope=\"resource\",subresource=\"\",verb=\"PATCH\",version=\"v1\"} 2\n\
            apiserver_request_total{code=\"201\",component=\"apiserver\",dry_run=\"\",group=\"events.k8s.io\",resource=\"events\",scope=\"resource\",subresource=\"\",verb=\"POST\",version=\"v1\"} 1\n";
        let r = ApiRequests::parse(text);
        assert_eq!(r.0[&("APPLY".into(), "configmaps".into())], 5.0);
        assert_eq!(r.0[&("PATCH".into(), "tenants/status".into())], 7.0);
        // The controller manager's pods and core Events are not the workload; khaibao's
        // events.k8s.io Event is.
        assert_eq!(r.workload().writes(), 13.0);
        assert_eq!(r.0[&("PATCH".into(), CORE_EVENTS.into())], 2.0);
        assert_eq!(r.reads(), 1.0);
        let empty = ApiRequests::default();
        assert_eq!(r.since(&empty), r);
        assert_eq!(r.since(&r).0.len(), 0);
    }

    #[test]
    fn fleets_put_provinces_first() {
        let f = fleet("p", Division::D63, Some(100));
        assert_eq!(f.tenants.len(), 100);
        assert_eq!(f.tenants[0]["spec"]["unit"]["level"], "province");
        assert_eq!(f.tenants[99]["spec"]["unit"]["level"], "commune");
        assert_eq!(fleet("p", Division::D63, None).tenants.len(), 10_114);
    }
}
