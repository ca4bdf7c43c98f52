//! What every reconcile shares: the client, the caches and indexes the watches feed, and the
//! small in-memory records a reconcile keeps between runs (compiled platforms, the last apply,
//! failure counts). It holds state only; it never watches nor reconciles.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::{Client, Resource, ResourceExt};

use super::owned_index::OwnedIndex;
use super::watches::Watches;
use super::{Metrics, Settings, adoption, echoes, predecessor_index, unit_index};
use crate::api::{ObjectReference, Platform, Tenant};
use crate::cluster::Resolver;
use crate::pipeline::CompiledPlatform;

/// What a tenant's last apply wrote, kept in memory: its own status and the objects' watch
/// events may not be in the caches yet when the next reconcile runs.
#[derive(Clone, Debug)]
pub(crate) struct Applied {
    /// The rendered hash that was applied.
    pub hash: String,
    /// The objects with the resourceVersions the API server returned.
    pub objects: Vec<ObjectReference>,
    /// Generated secrets known to exist after that apply.
    pub secrets: Vec<String>,
    /// The owned index's sequence number just before the writes (see `owned_index`).
    pub seq: u64,
    /// When: past `APPLIED_KEPT` the status in the cache says the same, and the record goes.
    pub at: std::time::Instant,
}

/// How long a record of an apply is kept. Its watch events and status arrive well within
/// this; after that the tenant's status holds the same, and 10,000 records would only cost
/// memory.
pub(super) const APPLIED_KEPT: Duration = Duration::from_secs(60);

/// A platform compiled, or the message saying why it does not compile.
pub(super) type Compiled = Result<Arc<CompiledPlatform>, String>;

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub resolver: Resolver,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub index: Arc<OwnedIndex>,
    /// Our own writes, so that their watch events do not wake the tenant again.
    pub echoes: Arc<echoes::Echoes>,
    /// Which tenant declares which unit, for refusing duplicates.
    pub units: Arc<unit_index::UnitIndex>,
    /// Which successors list which predecessors (adoption and TenantSets read it).
    pub predecessors: Arc<predecessor_index::PredecessorIndex>,
    /// Predecessor values known to be in each successor's `-adopted` Secrets.
    pub adopted: adoption::AdoptedSecrets,
    pub tenants: Store<Tenant>,
    pub platforms: Store<Platform>,
    pub resync: Duration,
    /// The renderer epoch live platforms render at.
    pub renderer_epoch: u32,
    watched: HashSet<String>,
    secret_namespaces: Option<Vec<String>>,
    compiled: Mutex<HashMap<String, (String, Compiled)>>,
    /// PlatformRevision names known to exist, and compiled snapshots by name.
    snapshots: Mutex<(HashSet<String>, HashMap<String, Compiled>)>,
    applied: Mutex<HashMap<String, Applied>>,
    failures: Mutex<HashMap<String, u32>>,
    /// The status last written per object, and when (see `writes::patch_status_if_changed`).
    written_status: Mutex<HashMap<String, (std::time::Instant, String)>>,
}

impl Context {
    /// The context of one operator: `watches` are the Tenant and Platform watches already
    /// started, `index` the owned-object index the owned watches will feed.
    pub(super) fn new(
        client: Client,
        resolver: Resolver,
        settings: &Settings,
        index: Arc<OwnedIndex>,
        echoes: Arc<echoes::Echoes>,
        watches: &Watches,
    ) -> Context {
        Context {
            client: client.clone(),
            resolver,
            recorder: Recorder::new(
                client,
                Reporter {
                    controller: "khaibao".into(),
                    instance: Some(settings.identity.clone()),
                },
            ),
            metrics: Metrics::default(),
            index,
            echoes,
            units: watches.units.clone(),
            predecessors: watches.predecessors.clone(),
            adopted: adoption::AdoptedSecrets::default(),
            tenants: watches.tenants.clone(),
            platforms: watches.platforms.clone(),
            resync: settings.resync,
            renderer_epoch: settings.renderer_epoch,
            watched: settings
                .watch_kinds
                .iter()
                .map(|(_, k)| k.clone())
                .collect(),
            secret_namespaces: settings.secret_namespaces.clone(),
            compiled: Mutex::default(),
            snapshots: Mutex::default(),
            applied: Mutex::default(),
            failures: Mutex::default(),
            written_status: Mutex::default(),
        }
    }

    /// The platform compiled once per generation; `Err` holds the message users see.
    pub fn compiled(&self, platform: &Platform) -> Result<Arc<CompiledPlatform>, String> {
        let key = format!(
            "{}/{}",
            platform.meta().uid.clone().unwrap_or_default(),
            platform.meta().generation.unwrap_or_default()
        );
        let name = platform.name_any();
        if let Ok(cache) = self.compiled.lock()
            && let Some((k, result)) = cache.get(&name)
            && *k == key
        {
            return result.clone();
        }
        let result = CompiledPlatform::compile_at(platform, self.renderer_epoch)
            .map(Arc::new)
            .map_err(|problems| {
                crate::diagnostics::summary(&problems, crate::diagnostics::Lang::En)
            });
        if let Ok(mut cache) = self.compiled.lock() {
            cache.insert(name, (key, result.clone()));
        }
        result
    }

    /// True once every cache a reconcile reads has completed its initial list: the owned-object
    /// index, the Tenants and the Platforms. Before that a missing platform or tenant only means
    /// "not listed yet" (a false PlatformNotFound, or a platform deleted while tenants still use
    /// it because none were seen).
    pub fn caches_ready(&self) -> bool {
        use futures::FutureExt;
        self.index.is_ready()
            && self.tenants.wait_until_ready().now_or_never().is_some()
            && self.platforms.wait_until_ready().now_or_never().is_some()
    }

    pub fn watches_kind(&self, kind: &str) -> bool {
        self.watched.contains(kind)
    }

    /// Why Secrets in `namespace` are out of the operator's reach (`--secret-namespaces`), if
    /// they are: said before anything is written, instead of a 403 halfway through.
    pub fn secrets_refused(&self, namespace: &str) -> Option<String> {
        let allowed = self.secret_namespaces.as_ref()?;
        if allowed.iter().any(|n| n == namespace) {
            return None;
        }
        let list = if allowed.is_empty() {
            "no namespace".to_string()
        } else {
            format!("namespace(s) {}", allowed.join(", "))
        };
        Some(format!(
            "the operator may read and write Secrets only in {list} (--secret-namespaces, the chart's secretNamespaces), and this platform keeps Secrets in namespace {namespace:?}: add {namespace:?} to secretNamespaces and upgrade the chart"
        ))
    }

    pub(super) fn recently_written_status(
        &self,
        key: &str,
        within: Duration,
    ) -> Option<serde_json::Value> {
        let m = self.written_status.lock().ok()?;
        let (at, status) = m.get(key)?;
        if at.elapsed() >= within {
            return None;
        }
        serde_json::from_str(status).ok()
    }

    /// Remembers a written status (as compact JSON: at cold start every tenant has one here).
    /// Entries past the trust window are dropped on the way, so the map holds only the objects
    /// written in the last half minute.
    pub(super) fn remember_written_status(
        &self,
        key: String,
        status: &serde_json::Value,
        within: Duration,
    ) {
        if let Ok(mut m) = self.written_status.lock() {
            if m.len() > 256 {
                m.retain(|_, (at, _)| at.elapsed() < within);
            }
            m.insert(key, (std::time::Instant::now(), status.to_string()));
        }
    }

    pub(super) fn snapshot_known(&self, name: &str) -> bool {
        self.snapshots.lock().is_ok_and(|s| s.0.contains(name))
    }

    pub(super) fn remember_snapshot(&self, name: &str) {
        if let Ok(mut s) = self.snapshots.lock() {
            s.0.insert(name.to_string());
        }
    }

    pub(super) fn forget_snapshot(&self, name: &str) {
        if let Ok(mut s) = self.snapshots.lock() {
            s.0.remove(name);
            s.1.remove(name);
        }
    }

    pub(super) fn cached_snapshot(&self, name: &str) -> Option<Compiled> {
        self.snapshots.lock().ok()?.1.get(name).cloned()
    }

    /// Snapshots never change, so a compiled one stays valid; the cache is only bounded.
    pub(super) fn cache_snapshot(&self, name: &str, compiled: Compiled, limit: usize) {
        if let Ok(mut s) = self.snapshots.lock() {
            if s.1.len() >= limit {
                s.1.clear();
            }
            s.1.insert(name.to_string(), compiled);
        }
    }

    pub(super) fn applied(&self, owner: &str) -> Option<Applied> {
        self.applied.lock().ok()?.get(owner).cloned()
    }

    pub(super) fn remember_applied(&self, owner: &str, applied: Applied) {
        if let Ok(mut m) = self.applied.lock() {
            if m.len() > 256 {
                m.retain(|_, a| a.at.elapsed() < APPLIED_KEPT);
            }
            m.insert(owner.to_string(), applied);
        }
    }

    pub(super) fn forget_applied(&self, owner: &str) {
        if let Ok(mut m) = self.applied.lock() {
            m.remove(owner);
        }
    }

    /// Exponential backoff per object: 2 s, 4 s, ... up to 5 minutes.
    pub(super) fn backoff(&self, key: &str) -> Duration {
        let n = self
            .failures
            .lock()
            .map(|mut f| {
                let n = f.entry(key.to_string()).or_default();
                *n = (*n + 1).min(8);
                *n
            })
            .unwrap_or(1);
        Duration::from_secs((2u64 << n.saturating_sub(1)).min(300))
    }

    pub(super) fn succeeded(&self, key: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(key);
        }
    }
}
