//! The operator runtime: Platform and Tenant controllers, the owned-object index, leader
//! election, metrics and health. Everything a tenant becomes is still decided by the pure
//! pipeline; this module only reads the cluster, calls it, and writes the result.

mod adoption;
mod echoes;
mod error;
mod finalizers;
mod http;
mod leader;
mod metrics;
mod owned_index;
mod platform;
mod predecessor_index;
mod reforms;
mod revisions;
mod rollouts;
mod secrets;
mod set_succession;
mod tenant;
mod tenant_set;
mod unit_index;
mod writes;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};
use kube::{Client, Resource, ResourceExt};
use tracing::{Instrument, info, info_span, warn};

pub use error::Error;
pub use metrics::Metrics;
pub use owned_index::{OwnedIndex, OwnedMeta};

use crate::api::{ObjectReference, Platform, Tenant, TenantSet};
use crate::cluster::Resolver;
use crate::pipeline::{ANNOTATION_OWNER, CompiledPlatform, LABEL_MANAGED_BY, MANAGER};

/// How the operator runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Tenants reconciled at once.
    pub concurrency: u16,
    /// Kinds tenant and shared objects may have, watched metadata-only (`v1/ConfigMap`, ...).
    pub watch_kinds: Vec<(String, String)>,
    /// How often an up-to-date tenant is checked again (costs reads only).
    pub resync: Duration,
    pub metrics_addr: SocketAddr,
    pub lease_namespace: String,
    pub lease_name: String,
    pub identity: String,
    /// Run without leader election (a single replica).
    pub no_leader_election: bool,
}

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
const APPLIED_KEPT: Duration = Duration::from_secs(60);

/// A platform compiled, or the message saying why it does not compile.
type Compiled = Result<Arc<CompiledPlatform>, String>;

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
    watched: HashSet<String>,
    compiled: Mutex<HashMap<String, (String, Compiled)>>,
    /// PlatformRevision names known to exist, and compiled snapshots by name.
    snapshots: Mutex<(HashSet<String>, HashMap<String, Compiled>)>,
    applied: Mutex<HashMap<String, Applied>>,
    failures: Mutex<HashMap<String, u32>>,
    /// The status last written per object, and when (see `writes::patch_status_if_changed`).
    written_status: Mutex<HashMap<String, (std::time::Instant, String)>>,
}

impl Context {
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
        let result = CompiledPlatform::compile(platform)
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

    fn recently_written_status(&self, key: &str, within: Duration) -> Option<serde_json::Value> {
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
    fn remember_written_status(&self, key: String, status: &serde_json::Value, within: Duration) {
        if let Ok(mut m) = self.written_status.lock() {
            if m.len() > 256 {
                m.retain(|_, (at, _)| at.elapsed() < within);
            }
            m.insert(key, (std::time::Instant::now(), status.to_string()));
        }
    }

    fn snapshot_known(&self, name: &str) -> bool {
        self.snapshots.lock().is_ok_and(|s| s.0.contains(name))
    }

    fn remember_snapshot(&self, name: &str) {
        if let Ok(mut s) = self.snapshots.lock() {
            s.0.insert(name.to_string());
        }
    }

    fn forget_snapshot(&self, name: &str) {
        if let Ok(mut s) = self.snapshots.lock() {
            s.0.remove(name);
            s.1.remove(name);
        }
    }

    fn cached_snapshot(&self, name: &str) -> Option<Compiled> {
        self.snapshots.lock().ok()?.1.get(name).cloned()
    }

    /// Snapshots never change, so a compiled one stays valid; the cache is only bounded.
    fn cache_snapshot(&self, name: &str, compiled: Compiled, limit: usize) {
        if let Ok(mut s) = self.snapshots.lock() {
            if s.1.len() >= limit {
                s.1.clear();
            }
            s.1.insert(name.to_string(), compiled);
        }
    }

    fn applied(&self, owner: &str) -> Option<Applied> {
        self.applied.lock().ok()?.get(owner).cloned()
    }

    fn remember_applied(&self, owner: &str, applied: Applied) {
        if let Ok(mut m) = self.applied.lock() {
            if m.len() > 256 {
                m.retain(|_, a| a.at.elapsed() < APPLIED_KEPT);
            }
            m.insert(owner.to_string(), applied);
        }
    }

    fn forget_applied(&self, owner: &str) {
        if let Ok(mut m) = self.applied.lock() {
            m.remove(owner);
        }
    }

    /// Exponential backoff per object: 2 s, 4 s, ... up to 5 minutes.
    fn backoff(&self, key: &str) -> Duration {
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

    fn succeeded(&self, key: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(key);
        }
    }
}

/// The JSON merge patch (RFC 7386) that turns `old` into `new`. Serializing `new` alone is not
/// enough: fields it no longer has (a cleared `lastError`, a tenant count that went away) would
/// stay in the cluster, the stored status would never equal the computed one, and every
/// reconcile would write it again.
pub(crate) fn merge_patch(old: &serde_json::Value, new: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = serde_json::Map::new();
            for (k, v) in n {
                match o.get(k) {
                    Some(ov) if ov == v => {}
                    Some(ov) => {
                        patch.insert(k.clone(), merge_patch(ov, v));
                    }
                    None => {
                        patch.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in o.keys().filter(|k| !n.contains_key(*k)) {
                patch.insert(k.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        _ => new.clone(),
    }
}

fn object_key<K: Resource>(o: &K) -> String {
    format!(
        "{}/{}",
        o.meta().namespace.clone().unwrap_or_default(),
        o.meta().name.clone().unwrap_or_default()
    )
}

async fn reconcile_tenant(t: Arc<Tenant>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = backoff_key(t.as_ref());
    let span = info_span!("reconcile", tenant = %object_key(t.as_ref()));
    let started = std::time::Instant::now();
    let result = tenant::reconcile(t, ctx.clone()).instrument(span).await;
    record(&ctx, "tenant", &key, started, &result);
    result
}

async fn reconcile_platform(p: Arc<Platform>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = backoff_key(p.as_ref());
    let span = info_span!("reconcile", platform = %p.name_any());
    let started = std::time::Instant::now();
    let result = platform::reconcile(p, ctx.clone()).instrument(span).await;
    record(&ctx, "platform", &key, started, &result);
    result
}

fn record(
    ctx: &Context,
    controller: &'static str,
    key: &str,
    started: std::time::Instant,
    result: &Result<Action, Error>,
) {
    let label = metrics::ControllerLabel { controller };
    ctx.metrics.reconciles.get_or_create(&label).inc();
    ctx.metrics
        .duration
        .get_or_create(&label)
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok(_) => ctx.succeeded(key),
        Err(e) => {
            ctx.metrics
                .failures
                .get_or_create(&metrics::ErrorLabels {
                    controller,
                    error: e.metric_label(),
                })
                .inc();
        }
    }
}

async fn reconcile_tenant_set(s: Arc<TenantSet>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = backoff_key(s.as_ref());
    let span = info_span!("reconcile", tenantset = %object_key(s.as_ref()));
    let started = std::time::Instant::now();
    let result = tenant_set::reconcile(s, ctx.clone()).instrument(span).await;
    record(&ctx, "tenantset", &key, started, &result);
    result
}

/// The key of an object's failure count: kind, namespace and name, so a Tenant and a TenantSet
/// of the same name never share a backoff.
fn backoff_key<K: Resource<DynamicType = ()>>(o: &K) -> String {
    format!("{}/{}", K::kind(&()), object_key(o))
}

/// One error policy for every controller: a short fixed wait while caches fill, otherwise the
/// object's exponential backoff.
fn error_policy<K: Resource<DynamicType = ()>>(o: Arc<K>, e: &Error, ctx: Arc<Context>) -> Action {
    if matches!(e, Error::NotReady) {
        return Action::requeue(Duration::from_secs(1));
    }
    let key = backoff_key(o.as_ref());
    warn!(object = %key, error = %e, "reconcile failed; retrying with backoff");
    Action::requeue(ctx.backoff(&key))
}

/// Drops what no reconcile reads before an object is cached: managedFields and kubectl's
/// last-applied copy of the whole object, more than half of a cached Tenant's size.
fn slim<K: Resource>(o: &mut K) {
    let meta = o.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// A hash of what a platform's tenants render from: its spec and its rollout's assignments.
fn what_tenants_render(p: &Platform) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    p.metadata.generation.hash(&mut h);
    p.metadata.deletion_timestamp.is_some().hash(&mut h);
    if let Some(s) = &p.status {
        s.revision.hash(&mut h);
        if let Some(r) = &s.rollout {
            (&r.from, &r.to, r.waves_started, r.is_active()).hash(&mut h);
        }
    }
    Some(h.finish())
}

/// Maps an owned object (by its owner annotation) to the tenant to reconcile.
fn owner_tenant(meta: &kube::api::ObjectMeta) -> Option<ObjectRef<Tenant>> {
    let owner = meta.annotations.as_ref()?.get(ANNOTATION_OWNER)?;
    let rest = owner.strip_prefix("tenant/")?;
    let (ns, name) = rest.split_once('/')?;
    Some(ObjectRef::new(name).within(ns))
}

fn owner_platform(meta: &kube::api::ObjectMeta) -> Option<ObjectRef<Platform>> {
    let owner = meta.annotations.as_ref()?.get(ANNOTATION_OWNER)?;
    Some(ObjectRef::new(owner.strip_prefix("platform/")?))
}

/// How long a Platform waits for its tenants' changes to settle before it counts them (and
/// decides whether a rollout wave is done). Every wave of a rollout waits this long at least
/// once: at a second, eleven waves of 100 tenants spent more time waiting than rendering.
const PLATFORM_DEBOUNCE: Duration = Duration::from_millis(250);

/// Runs the operator until SIGTERM/SIGINT (graceful) or until leadership is lost (error).
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let client = Client::try_default().await?;
    let resolver = Resolver::default();
    let mut kinds = Vec::new();
    for (api_version, kind) in &settings.watch_kinds {
        kinds.push(resolver.resolve(&client, api_version, kind).await?);
    }
    let index = Arc::new(OwnedIndex::new(kinds.len()));
    let metrics_ctx_index = index.clone();
    let echoes = Arc::new(echoes::Echoes::default());

    let tenants_api: Api<Tenant> = Api::all(client.clone());
    let platforms_api: Api<Platform> = Api::all(client.clone());
    // One watch per kind feeds its cache first and only then every trigger that reads it: a
    // trigger from a separate watch can arrive before the cache has the change, and a tenant
    // woken by its platform's next rollout wave would render the previous assignment.
    let (tenants, tenant_writer) = reflector::store::<Tenant>();
    let units = Arc::new(unit_index::UnitIndex::default());
    let units_feed = units.clone();
    let predecessors = Arc::new(predecessor_index::PredecessorIndex::default());
    let predecessors_feed = predecessors.clone();
    let mut tenant_events = fan_out(
        "Tenant",
        reflector(
            tenant_writer,
            watcher(
                tenants_api.clone(),
                watcher::Config::default().any_semantic(),
            )
            .modify(slim),
        )
        .map_ok(move |event| {
            units_feed.apply(&event);
            predecessors_feed.apply(&event);
            event
        })
        .backoff(RetryBackoff::new())
        .touched_objects(),
        vec![for_trigger; 6],
    );
    let (platforms, platform_writer) = reflector::store::<Platform>();
    let mut platform_events = fan_out(
        "Platform",
        reflector(
            platform_writer,
            watcher(
                platforms_api.clone(),
                watcher::Config::default().any_semantic(),
            )
            .modify(slim),
        )
        .backoff(RetryBackoff::new())
        .touched_objects(),
        vec![Platform::clone, Platform::clone, Platform::clone],
    );
    // The echo of our own status write wakes nobody: the tenant was just reconciled.
    let status_echoes = echoes.clone();
    let tenant_triggers = next(&mut tenant_events).try_filter(move |t| {
        let key = echoes::key("Tenant", &t.namespace().unwrap_or_default(), &t.name_any());
        futures::future::ready(!status_echoes.is_echo(&key, t.resource_version().as_deref()))
    });
    let mut tenant_controller = Controller::for_stream(tenant_triggers, tenants.clone());
    let mut platform_controller =
        Controller::for_stream(next(&mut platform_events), platforms.clone());

    let ctx = Arc::new(Context {
        client: client.clone(),
        resolver,
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "khaibao".into(),
                instance: Some(settings.identity.clone()),
            },
        ),
        metrics: Metrics::default(),
        index: metrics_ctx_index,
        echoes: echoes.clone(),
        units,
        predecessors: predecessors.clone(),
        adopted: adoption::AdoptedSecrets::default(),
        tenants: tenants.clone(),
        platforms: platforms.clone(),
        resync: settings.resync,
        watched: settings
            .watch_kinds
            .iter()
            .map(|(_, k)| k.clone())
            .collect(),
        compiled: Mutex::default(),
        snapshots: Mutex::default(),
        applied: Mutex::default(),
        failures: Mutex::default(),
        written_status: Mutex::default(),
    });

    let http_ctx = ctx.clone();
    tokio::spawn(async move {
        if let Err(e) = http::serve(settings.metrics_addr, http_ctx).await {
            warn!(error = %e, "health/metrics server stopped");
        }
    });

    // Only the leader reconciles; a standby keeps serving health and waits for the Lease.
    let mut leadership = if settings.no_leader_election {
        None
    } else {
        Some(leader::acquire(&client, &settings).await?)
    };

    // Owned objects: metadata only, selected by label, indexed by owner, and triggering the
    // owner's reconcile when edited or deleted by hand.
    let selector = format!("{LABEL_MANAGED_BY}={MANAGER}");
    for ar in kinds {
        // An Api of PartialObjectMeta makes metadata-only list/watch requests.
        let api: Api<PartialMeta> = Api::all_with(client.clone(), &ar);
        let (av, kind) = (ar.api_version.clone(), ar.kind.clone());
        let idx = index.clone();
        let stream = watcher(
            api,
            watcher::Config::default().labels(&selector).any_semantic(),
        )
        .backoff(RetryBackoff::new())
        .map_ok(move |event| {
            idx.apply(&av, &kind, &event);
            event
        })
        .touched_objects();
        let mut streams = fan_out(
            "owned object",
            stream,
            vec![PartialMeta::clone, PartialMeta::clone],
        );
        let (object_echoes, echo_kind) = (echoes.clone(), ar.kind.clone());
        tenant_controller = tenant_controller.watches_stream_with(
            next(&mut streams),
            move |o| {
                let m = &o.metadata;
                let key = echoes::key(
                    &echo_kind,
                    m.namespace.as_deref().unwrap_or_default(),
                    m.name.as_deref().unwrap_or_default(),
                );
                if object_echoes.is_echo(&key, m.resource_version.as_deref()) {
                    return None;
                }
                owner_tenant(m)
            },
            ar.clone(),
        );
        platform_controller = platform_controller.watches_stream_with(
            next(&mut streams),
            |o| owner_platform(&o.metadata),
            ar,
        );
    }
    // A platform change re-renders its tenants; a province change re-renders its communes.
    // Only what changes a tenant's output wakes them all: the platform's spec, and the rollout
    // moving assignments. Count updates in the platform's status (every second while tenants
    // converge) would otherwise re-queue every tenant each time.
    let t_store = tenants.clone();
    tenant_controller = tenant_controller.watches_stream(
        next(&mut platform_events).predicate_filter(what_tenants_render, Default::default()),
        move |p: Platform| {
            let name = p.name_any();
            let deleting = p.metadata.deletion_timestamp.is_some();
            let status = p.status.clone().unwrap_or_default();
            // During a rollout only the wave that moved needs to render; the others would
            // render what they already have (11,000 renders per wave for nothing).
            t_store
                .state()
                .iter()
                .filter(|t| t.spec.platform == name)
                .filter(|t| {
                    let assigned =
                        crate::rollout::assigned_revision(&status, &object_key(t.as_ref()));
                    let current = t.status.as_ref().and_then(|s| s.target_revision.as_deref());
                    deleting || assigned.is_none() || assigned != current
                })
                .map(|t| ObjectRef::from_obj(t.as_ref()))
                .collect::<Vec<_>>()
        },
    );
    // A province's status changes nothing for its communes; its spec (values) does.
    let t_store = tenants.clone();
    tenant_controller = tenant_controller.watches_stream(
        next(&mut tenant_events).predicate_filter(predicates::generation, Default::default()),
        move |t: Tenant| tenant::children_of(&t, &t_store),
    );
    // A deleted tenant frees its unit for the next tenant that declared it, refused as a
    // duplicate until now (a tenant moved to another unit frees it at the next resync).
    let unit_holders = ctx.units.clone();
    tenant_controller =
        tenant_controller.watches_stream(next(&mut tenant_events), move |t: Tenant| {
            unit_holders
                .others_declaring(&t)
                .into_iter()
                .filter_map(|k| {
                    let (ns, name) = k.split_once('/')?;
                    Some(ObjectRef::new(name).within(ns))
                })
                .collect::<Vec<_>>()
        });
    // A predecessor's change or deletion wakes the successors waiting for it.
    let waiting = predecessors.clone();
    tenant_controller =
        tenant_controller.watches_stream(next(&mut tenant_events), move |t: Tenant| {
            waiting
                .successors_of(&object_key(&t))
                .into_iter()
                .filter_map(|k| {
                    let (ns, name) = k.split_once('/')?;
                    Some(ObjectRef::new(name).within(ns))
                })
                .collect::<Vec<_>>()
        });
    // A reform plan's phase moving on (approved, or every successor Ready) wakes its
    // successors: their retirements may proceed.
    let t_store = tenants.clone();
    tenant_controller = tenant_controller.watches_stream(
        next(&mut platform_events).predicate_filter(reforms::phases, Default::default()),
        move |p: Platform| reforms::successors_to_wake(&p, &t_store),
    );
    // Tenant changes update their platform's counts and rollout (debounced below).
    platform_controller = platform_controller
        .watches_stream(next(&mut tenant_events), |t: Tenant| {
            Some(ObjectRef::new(&t.spec.platform))
        });

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let signal = async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => info!("SIGTERM: finishing in-flight reconciles"),
            _ = tokio::signal::ctrl_c() => info!("SIGINT: finishing in-flight reconciles"),
        }
        let _ = shutdown_tx.send(true);
    };
    tokio::spawn(signal);
    let wait_shutdown = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };

    let tenant_run = tenant_controller
        .trigger_backoff(RetryBackoff::new())
        .with_config(controller::Config::default().concurrency(settings.concurrency))
        .graceful_shutdown_on(wait_shutdown(shutdown_rx.clone()))
        .run(reconcile_tenant, error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()));
    let platform_run = platform_controller
        .trigger_backoff(RetryBackoff::new())
        .with_config(
            controller::Config::default()
                .concurrency(2)
                .debounce(PLATFORM_DEBOUNCE),
        )
        .graceful_shutdown_on(wait_shutdown(shutdown_rx.clone()))
        .run(reconcile_platform, error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()));
    // TenantSets own their Tenants through ownerReferences: a Tenant change wakes its set.
    let tenant_set_run = Controller::new(
        Api::<TenantSet>::all(client.clone()),
        watcher::Config::default().any_semantic(),
    )
    // From the one Tenant watch above: a second watch of every Tenant would have the API
    // server send each of the fleet's writes twice.
    .owns_stream(next(&mut tenant_events))
    .trigger_backoff(RetryBackoff::new())
    .with_config(
        controller::Config::default()
            .concurrency(2)
            .debounce(Duration::from_secs(1)),
    )
    .graceful_shutdown_on(wait_shutdown(shutdown_rx.clone()))
    .run(reconcile_tenant_set, error_policy, ctx.clone())
    .for_each(|_| futures::future::ready(()));
    info!(concurrency = settings.concurrency, "controllers started");

    let lost = async {
        match leadership.as_mut() {
            Some(l) => l.lost().await,
            None => futures::future::pending().await,
        }
    };
    tokio::select! {
        _ = futures::future::join3(tenant_run, platform_run, tenant_set_run) => {
            if let Some(l) = leadership { l.release().await; }
            info!("stopped");
            Ok(())
        }
        _ = lost => {
            anyhow::bail!("lost the leader Lease; exiting so that only one replica writes")
        }
    }
}

/// The next stream of a [`fan_out`].
fn next<T>(streams: &mut Vec<T>) -> T {
    assert!(!streams.is_empty(), "fan_out made one stream per consumer");
    streams.remove(0)
}

/// A Tenant as a trigger needs it: who it is (the controller looks the tenant up in the cache
/// by name), its generation and owners, and what it declares — not its values nor its status.
/// A restarted operator lists 10,000 tenants at once and every trigger gets its own copy of
/// each; full copies were most of its peak memory.
fn for_trigger(t: &Tenant) -> Tenant {
    let m = &t.metadata;
    Tenant {
        metadata: kube::api::ObjectMeta {
            name: m.name.clone(),
            namespace: m.namespace.clone(),
            uid: m.uid.clone(),
            resource_version: m.resource_version.clone(),
            generation: m.generation,
            deletion_timestamp: m.deletion_timestamp.clone(),
            owner_references: m.owner_references.clone(),
            ..Default::default()
        },
        spec: crate::api::TenantSpec {
            platform: t.spec.platform.clone(),
            unit: t.spec.unit.clone(),
            parent: t.spec.parent.clone(),
            values: None,
            suspend: t.spec.suspend,
            predecessors: t.spec.predecessors.clone(),
            transition: None,
        },
        status: None,
    }
}

/// Hands every object of `stream` to one consumer (a controller or a trigger) per `copies`
/// entry, in order, each getting the copy its function makes (a trigger needs less than a
/// cache: no status, so an initial list of 11,000 tenants is not queued four times whole). Watch
/// errors stop here: the watcher already retries with its own backoff, and a controller's
/// trigger stream pauses *all* of its triggers after every error it sees (exponentially, up to
/// a minute). Forwarded, the errors queued during an API server outage kept the Tenant
/// controller paused for many minutes after the API server was back.
fn fan_out<S, T>(
    kind: &'static str,
    stream: S,
    copies: Vec<fn(&T) -> T>,
) -> Vec<futures::stream::BoxStream<'static, Result<T, watcher::Error>>>
where
    S: futures::Stream<Item = Result<T, watcher::Error>> + Send + 'static,
    T: Clone + Send + 'static,
{
    let (senders, receivers): (Vec<_>, Vec<_>) = copies
        .into_iter()
        .map(|copy| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<T>();
            ((tx, copy), rx)
        })
        .unzip();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(o) => {
                    if senders.iter().any(|(tx, copy)| tx.send(copy(&o)).is_err()) {
                        break;
                    }
                }
                Err(e) => warn!(%kind, error = %e, "watch failed; retrying"),
            }
        }
    });
    receivers
        .into_iter()
        .map(|rx| tokio_stream_from(rx).map(Ok).boxed())
        .collect()
}

/// How long a watch, or a controller's trigger stream, pauses after an error: 0.5 s, doubling up
/// to 5 s, back to 0.5 s after the next event. kube's default (client-go's) grows to 30 s plus up
/// to as much jitter and resets only after two quiet minutes: after a 20 s API server outage the
/// Tenant watch slept for up to a minute after the API server was back, so a tenant created then
/// waited that long for its first reconcile (the failing `apiserver_outage` e2e run). A handful
/// of watches retrying every 5 s is no load for an API server that is coming back.
struct RetryBackoff {
    next: Duration,
}

impl RetryBackoff {
    const MIN: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(5);

    fn new() -> Self {
        RetryBackoff { next: Self::MIN }
    }
}

impl Iterator for RetryBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let current = self.next;
        self.next = (current * 2).min(Self::MAX);
        Some(current)
    }
}

impl kube::runtime::utils::Backoff for RetryBackoff {
    fn reset(&mut self) {
        self.next = Self::MIN;
    }
}

type PartialMeta = kube::core::PartialObjectMeta<DynamicObject>;

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn a_status_patch_removes_what_the_new_status_no_longer_has() {
        let old = json!({"revision": "a", "lastError": "boom", "tenants": {"ready": 1, "provinceReady": 1},
                         "conditions": [{"type": "Ready", "status": "False"}]});
        let new = json!({"revision": "a", "tenants": {"ready": 0},
                         "conditions": [{"type": "Ready", "status": "True"}]});
        assert_eq!(
            super::merge_patch(&old, &new),
            json!({"lastError": null, "tenants": {"ready": 0, "provinceReady": null},
                   "conditions": [{"type": "Ready", "status": "True"}]})
        );
        assert_eq!(super::merge_patch(&new, &new), json!({}));
    }

    #[test]
    fn watches_retry_within_five_seconds_and_start_over_after_an_event() {
        use kube::runtime::utils::Backoff;
        use std::time::Duration;
        let mut b = super::RetryBackoff::new();
        let waits: Vec<Duration> = b.by_ref().take(7).collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 5000, 5000, 5000]);
        b.reset();
        assert_eq!(b.next(), Some(Duration::from_millis(500)));
    }
}
