//! What happened over time, from watches started before a change and kept over all of it:
//! which Ingresses carried each host name at every moment (a host name left with no Ingress,
//! even between two events, is a gap), and when each Tenant first became Ready as a successor
//! and began to be deleted. A watch that loses continuity (410 Gone, a broken stream) fails the
//! record instead of guessing: a gap it did not see cannot be ruled out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::serde::de::DeserializeOwned;
use khaibao::api::Tenant;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::{Client, Resource, ResourceExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::fixtures::tenant_ready;

/// How long the server keeps one watch request open; the recorder then resumes from the last
/// resource version it saw (the client's read timeout is 30 s).
const WATCH_SECONDS: u32 = 20;

/// A watch kept running in the background, folding every event into `S`.
pub struct Recorder<S> {
    state: Arc<Mutex<S>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
    what: String,
}

impl<S: Send + 'static> Recorder<S> {
    /// Lists `api` (giving `state` the objects as they are), then follows every change from
    /// that list's resource version on.
    async fn start<K>(
        what: &str,
        api: Api<K>,
        mut state: S,
        fold: fn(&mut S, Event<'_, K>),
    ) -> anyhow::Result<Recorder<S>>
    where
        K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
    {
        let list = api
            .list(&ListParams::default())
            .await
            .with_context(|| format!("listing {what}"))?;
        let now = Instant::now();
        for o in &list.items {
            fold(&mut state, Event::Present(o, now));
        }
        let version = list.metadata.resource_version.unwrap_or_default();
        let state = Arc::new(Mutex::new(state));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(follow(api, version, state.clone(), stopped, fold));
        Ok(Recorder {
            state,
            stop,
            task,
            what: what.to_string(),
        })
    }

    /// Stops the watch; fails if it had lost continuity. Returns the record.
    pub async fn finish(self) -> anyhow::Result<S> {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.context(format!("the watch of {} broke", self.what))),
            Err(e) => bail!("the watch of {} panicked: {e}", self.what),
        }
        let state = Arc::try_unwrap(self.state)
            .map_err(|_| anyhow::anyhow!("the record of {} is still shared", self.what))?;
        Ok(state.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reads the record so far.
    pub fn read<T>(&self, f: impl FnOnce(&S) -> T) -> T {
        let guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }
}

/// One change seen by a recorder, with when it was seen.
pub enum Event<'a, K> {
    /// In the initial list.
    Present(&'a K, Instant),
    Changed(&'a K, Instant),
    Deleted(&'a K, Instant),
}

async fn follow<K, S>(
    api: Api<K>,
    mut version: String,
    state: Arc<Mutex<S>>,
    mut stopped: watch::Receiver<bool>,
    fold: fn(&mut S, Event<'_, K>),
) -> anyhow::Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    loop {
        if *stopped.borrow() {
            return Ok(());
        }
        let params = WatchParams::default().timeout(WATCH_SECONDS);
        let stream = api
            .watch(&params, &version)
            .await
            .with_context(|| format!("watching from resource version {version}"))?;
        let mut stream = std::pin::pin!(stream);
        loop {
            let event = tokio::select! {
                _ = stopped.changed() => return Ok(()),
                e = stream.next() => e,
            };
            let now = Instant::now();
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            match event {
                // The server ended this request (its timeout): resume where it stopped.
                None => break,
                Some(Err(e)) => bail!("the watch stream failed after {version}: {e}"),
                Some(Ok(WatchEvent::Error(status))) => {
                    bail!("the watch lost continuity after {version}: {status:?}")
                }
                Some(Ok(WatchEvent::Bookmark(b))) => version = b.metadata.resource_version,
                Some(Ok(WatchEvent::Added(o) | WatchEvent::Modified(o))) => {
                    version = o.resource_version().unwrap_or(version);
                    fold(&mut s, Event::Changed(&o, now));
                }
                Some(Ok(WatchEvent::Deleted(o))) => {
                    version = o.resource_version().unwrap_or(version);
                    fold(&mut s, Event::Deleted(&o, now));
                }
            }
        }
    }
}

/// A host name that no Ingress carried for a while.
#[derive(Clone, Debug)]
pub struct HostGap {
    pub host: String,
    pub lasted: Duration,
    /// The event that took the last Ingress carrying it away.
    pub cause: String,
}

/// Which Ingresses carry each tracked host name, and every gap so far.
#[derive(Debug, Default)]
pub struct HostCoverage {
    tracked: BTreeSet<String>,
    /// Ingress name → the hosts of its rules.
    carriers: BTreeMap<String, BTreeSet<String>>,
    uncovered: BTreeMap<String, (Instant, String)>,
    pub gaps: Vec<HostGap>,
    pub events: usize,
}

impl HostCoverage {
    /// Ingresses carrying `host` now.
    pub fn carriers_of(&self, host: &str) -> Vec<&str> {
        self.carriers
            .iter()
            .filter(|(_, hosts)| hosts.contains(host))
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// Tracked hosts no Ingress carries now.
    pub fn uncovered_now(&self) -> Vec<&str> {
        self.uncovered.keys().map(String::as_str).collect()
    }

    /// The longest gap, finished or still open at `now` (zero when there was none).
    pub fn longest_gap(&self, now: Instant) -> Duration {
        let open = self.uncovered.values().map(|(since, _)| now - *since);
        self.gaps
            .iter()
            .map(|g| g.lasted)
            .chain(open)
            .max()
            .unwrap_or_default()
    }

    /// Fails with the gaps (finished or open at `now`), printing what was watched.
    pub fn no_gap(&self, now: Instant) -> anyhow::Result<()> {
        let longest = self.longest_gap(now);
        eprintln!(
            "[reform] host names: {} tracked, {} Ingress events watched, {} gaps, {} open, longest {longest:?}",
            self.tracked.len(),
            self.events,
            self.gaps.len(),
            self.uncovered.len()
        );
        let open: Vec<String> = self
            .uncovered
            .iter()
            .map(|(host, (since, cause))| format!("{host} since {:?} ago ({cause})", now - *since))
            .collect();
        anyhow::ensure!(
            self.gaps.is_empty() && open.is_empty(),
            "host names served by no Ingress: {:?}; still uncovered: {open:?}",
            self.gaps.iter().take(10).collect::<Vec<_>>()
        );
        Ok(())
    }

    fn covered(&self, host: &str) -> bool {
        self.carriers.values().any(|h| h.contains(host))
    }

    fn fold(&mut self, event: Event<'_, Ingress>) {
        let (ingress, hosts, at, what) = match event {
            Event::Present(i, at) => (i, ingress_hosts(i), at, "present"),
            Event::Changed(i, at) => (i, ingress_hosts(i), at, "changed"),
            Event::Deleted(i, at) => (i, BTreeSet::new(), at, "deleted"),
        };
        self.events += 1;
        let name = ingress.name_any();
        let before = self.carriers.remove(&name).unwrap_or_default();
        if !hosts.is_empty() {
            self.carriers.insert(name.clone(), hosts.clone());
        }
        for host in hosts.difference(&before) {
            if let Some((since, cause)) = self.uncovered.remove(host) {
                self.gaps.push(HostGap {
                    host: host.clone(),
                    lasted: at - since,
                    cause,
                });
            }
        }
        for host in before.difference(&hosts) {
            if self.tracked.contains(host) && !self.covered(host) {
                self.uncovered
                    .insert(host.clone(), (at, format!("Ingress {name} {what}")));
            }
        }
    }
}

/// The hosts of an Ingress's rules.
pub fn ingress_hosts(i: &Ingress) -> BTreeSet<String> {
    i.spec
        .iter()
        .flat_map(|s| s.rules.iter().flatten())
        .filter_map(|r| r.host.clone())
        .collect()
}

/// Follows the Ingresses of `namespace`, tracking `hosts` (each must be carried when it starts).
pub async fn watch_hosts(
    client: &Client,
    namespace: &str,
    hosts: BTreeSet<String>,
) -> anyhow::Result<Recorder<HostCoverage>> {
    let state = HostCoverage {
        tracked: hosts,
        ..Default::default()
    };
    let api: Api<Ingress> = Api::namespaced(client.clone(), namespace);
    let recorder = Recorder::start(
        &format!("Ingresses in {namespace}"),
        api,
        state,
        HostCoverage::fold,
    )
    .await?;
    let missing: Vec<String> = recorder.read(|c| {
        c.tracked
            .iter()
            .filter(|h| !c.covered(h))
            .cloned()
            .collect()
    });
    anyhow::ensure!(
        missing.is_empty(),
        "{} tracked host names have no Ingress before the change, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    Ok(recorder)
}

/// When each Tenant (`namespace/name`) was first Ready as a successor (listing predecessors),
/// first seen being deleted, and gone.
#[derive(Debug, Default)]
pub struct TenantLifecycle {
    pub ready_as_successor: BTreeMap<String, Instant>,
    pub deleting: BTreeMap<String, Instant>,
    pub gone: BTreeMap<String, Instant>,
}

impl TenantLifecycle {
    fn fold(&mut self, event: Event<'_, Tenant>) {
        let (t, at, deleted) = match event {
            Event::Present(t, at) | Event::Changed(t, at) => (t, at, false),
            Event::Deleted(t, at) => (t, at, true),
        };
        let key = format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any());
        if deleted {
            self.gone.entry(key.clone()).or_insert(at);
        }
        if deleted || t.metadata.deletion_timestamp.is_some() {
            self.deleting.entry(key).or_insert(at);
        } else if !t.spec.predecessors.is_empty() && tenant_ready(t) {
            self.ready_as_successor.entry(key).or_insert(at);
        }
    }
}

/// Follows every Tenant of the cluster.
pub async fn watch_tenants(client: &Client) -> anyhow::Result<Recorder<TenantLifecycle>> {
    let api: Api<Tenant> = Api::all(client.clone());
    Recorder::start(
        "Tenants",
        api,
        TenantLifecycle::default(),
        TenantLifecycle::fold,
    )
    .await
}
