//! The watches every controller reads, each made once and fanned out: one watch per kind feeds
//! its cache (and the unit, predecessor and owned-object indexes) first and only then every
//! trigger that reads it. A trigger from a separate watch could arrive before the cache has
//! the change: a tenant woken by its platform's next rollout wave would render the previous
//! assignment. Which consumer takes which stream is each controller's own wiring; nothing here
//! writes to the cluster.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Resource};
use tracing::warn;

use super::owned_index::OwnedIndex;
use super::predecessor_index::PredecessorIndex;
use super::runtime::RetryBackoff;
use super::unit_index::UnitIndex;
use crate::api::{Platform, Tenant};
use crate::cluster::{ClusterError, Resolver};
use crate::pipeline::{LABEL_MANAGED_BY, MANAGER};

/// One stream per consumer of a watch, each taken once with [`next`].
pub(super) type Streams<T> = Vec<futures::stream::BoxStream<'static, Result<T, watcher::Error>>>;

pub(super) type PartialMeta = kube::core::PartialObjectMeta<DynamicObject>;

/// The Tenant and Platform watches with their caches and the indexes fed from them.
pub(super) struct Watches {
    pub tenants: Store<Tenant>,
    pub platforms: Store<Platform>,
    /// Which tenant declares which unit.
    pub units: Arc<UnitIndex>,
    /// Which successors list which predecessors.
    pub predecessors: Arc<PredecessorIndex>,
    /// Tenant events: the Tenant controller itself and three of its triggers, the Platform
    /// controller and the TenantSet controller each take one.
    pub tenant_events: Streams<Tenant>,
    /// Platform events: the Platform controller and two Tenant triggers each take one.
    pub platform_events: Streams<Platform>,
}

/// One kind of owned object, watched metadata-only: one stream for the Tenant controller and
/// one for the Platform controller.
pub(super) struct OwnedEvents {
    pub ar: ApiResource,
    pub streams: Streams<PartialMeta>,
}

/// The kinds tenant and shared objects may have, resolved by discovery.
pub(super) async fn owned_kinds(
    client: &Client,
    resolver: &Resolver,
    watch_kinds: &[(String, String)],
) -> Result<Vec<ApiResource>, ClusterError> {
    let mut kinds = Vec::new();
    for (api_version, kind) in watch_kinds {
        let mut waits = RetryBackoff::new();
        let ar = loop {
            match resolver.resolve(client, api_version, kind).await {
                Ok(ar) => break ar,
                // A kind the cluster does not serve is a setting to fix: waiting will not
                // bring it. An unreachable API server comes back: a replica started during its
                // restart waits for it instead of exiting into a crash-loop backoff that would
                // keep every tenant waiting for minutes (the chaos e2e's restart during startup).
                Err(e) if e.is_unreachable() => {
                    let wait = waits.next().unwrap_or(RetryBackoff::MAX);
                    warn!(error = %e, retry_in = ?wait, "API discovery failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        };
        kinds.push(ar);
    }
    Ok(kinds)
}

/// Starts the Tenant and Platform watches.
pub(super) fn start(client: &Client) -> Watches {
    let tenants_api: Api<Tenant> = Api::all(client.clone());
    let platforms_api: Api<Platform> = Api::all(client.clone());
    let (tenants, tenant_writer) = reflector::store::<Tenant>();
    let units = Arc::new(UnitIndex::default());
    let units_feed = units.clone();
    let predecessors = Arc::new(PredecessorIndex::default());
    let predecessors_feed = predecessors.clone();
    let tenant_events = fan_out(
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
        .backoff(RetryBackoff::new()),
        vec![for_trigger; 6],
    );
    let (platforms, platform_writer) = reflector::store::<Platform>();
    let platform_events = fan_out(
        "Platform",
        reflector(
            platform_writer,
            watcher(
                platforms_api.clone(),
                watcher::Config::default().any_semantic(),
            )
            .modify(slim),
        )
        .backoff(RetryBackoff::new()),
        vec![Platform::clone, Platform::clone, Platform::clone],
    );
    Watches {
        tenants,
        platforms,
        units,
        predecessors,
        tenant_events,
        platform_events,
    }
}

/// Where one kind is watched: cluster-wide (`None`), or, for Secrets when the operator may
/// touch them only in some namespaces (`--secret-namespaces`), in each of those. A kind with no
/// scope (Secrets, and no namespace allowed) is not watched at all.
pub(super) fn scopes(
    ar: &ApiResource,
    secret_namespaces: Option<&[String]>,
) -> Vec<Option<String>> {
    match secret_namespaces {
        Some(list) if is_secret(ar) => list.iter().cloned().map(Some).collect(),
        _ => vec![None],
    }
}

/// The core v1 Secret kind.
pub(super) fn is_secret(ar: &ApiResource) -> bool {
    ar.group.is_empty() && ar.kind == "Secret"
}

/// How many watches [`owned_objects`] starts: what the owned index waits for.
pub(super) fn watch_count(kinds: &[ApiResource], secret_namespaces: Option<&[String]>) -> usize {
    kinds
        .iter()
        .map(|ar| scopes(ar, secret_namespaces).len())
        .sum()
}

/// Starts the owned-object watches: metadata only, selected by label, indexed by owner (and,
/// through their streams, triggering the owner's reconcile when edited or deleted by hand).
pub(super) fn owned_objects(
    client: &Client,
    kinds: Vec<ApiResource>,
    secret_namespaces: Option<&[String]>,
    index: &Arc<OwnedIndex>,
) -> Vec<OwnedEvents> {
    let selector = format!("{LABEL_MANAGED_BY}={MANAGER}");
    let mut owned = Vec::new();
    for ar in kinds {
        let per_scope: Vec<_> = scopes(&ar, secret_namespaces)
            .into_iter()
            .map(|scope| {
                // An Api of PartialObjectMeta makes metadata-only list/watch requests.
                let api: Api<PartialMeta> = match &scope {
                    Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                    None => Api::all_with(client.clone(), &ar),
                };
                let (av, kind) = (ar.api_version.clone(), ar.kind.clone());
                let idx = index.clone();
                watcher(
                    api,
                    watcher::Config::default().labels(&selector).any_semantic(),
                )
                .backoff(RetryBackoff::new())
                .map_ok(move |event| {
                    idx.apply_in(&av, &kind, scope.as_deref(), &event);
                    event
                })
                .boxed()
            })
            .collect();
        if per_scope.is_empty() {
            continue;
        }
        let stream = futures::stream::select_all(per_scope);
        let streams = fan_out(
            "owned object",
            stream,
            vec![PartialMeta::clone, PartialMeta::clone],
        );
        owned.push(OwnedEvents { ar, streams });
    }
    owned
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

/// The next stream of a [`fan_out`].
pub(super) fn next<T>(streams: &mut Vec<T>) -> T {
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

/// Hands every object of the watch events of `stream` to one consumer (a controller or a
/// trigger) per `copies` entry, in order, each getting the copy its function makes (a trigger
/// needs less than a cache: no status, so an initial list of 11,000 tenants is not queued four
/// times whole).
///
/// The objects of a (re-)list go out only once the list is complete. The reflector's cache takes
/// a re-list in whole at its end (`InitDone`, kube-runtime's `Store::apply_watcher_event`); a
/// reconcile woken by an object of an unfinished list would read the old object from the cache
/// — after an expired watch, a Platform's previous wave — find nothing to do and sleep until
/// the next resync.
///
/// Watch errors stop here: the watcher already retries with its own backoff, and a
/// controller's trigger stream pauses *all* of its triggers after every error it sees
/// (exponentially, up to a minute). Forwarded, the errors queued during an API server outage
/// kept the Tenant controller paused for many minutes after the API server was back.
fn fan_out<S, T>(kind: &'static str, stream: S, copies: Vec<fn(&T) -> T>) -> Streams<T>
where
    S: futures::Stream<Item = Result<watcher::Event<T>, watcher::Error>> + Send + 'static,
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
        let mut listing = Vec::new();
        let send = |o: &T| senders.iter().all(|(tx, copy)| tx.send(copy(o)).is_ok());
        while let Some(item) = stream.next().await {
            let sent = match item {
                Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o)) => send(&o),
                Ok(watcher::Event::Init) => {
                    listing.clear();
                    true
                }
                Ok(watcher::Event::InitApply(o)) => {
                    listing.push(o);
                    true
                }
                Ok(watcher::Event::InitDone) => listing.drain(..).all(|o| send(&o)),
                Err(e) => {
                    warn!(%kind, error = %e, "watch failed; retrying");
                    true
                }
            };
            if !sent {
                break;
            }
        }
    });
    receivers
        .into_iter()
        .map(|rx| tokio_stream_from(rx).map(Ok).boxed())
        .collect()
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use kube::runtime::watcher::{Error, Event};

    use super::{fan_out, next};

    #[test]
    fn a_relist_reaches_consumers_only_once_it_is_complete() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<Event<u32>, Error>>();
            let mut streams = fan_out(
                "test",
                super::tokio_stream_from(rx),
                vec![u32::clone, u32::clone],
            );
            let mut first = next(&mut streams);
            let send = |e: Event<u32>| tx.send(Ok(e)).unwrap();
            send(Event::Apply(1));
            send(Event::Init);
            send(Event::InitApply(2));
            send(Event::InitApply(3));
            assert_eq!(first.next().await.unwrap().unwrap(), 1);
            let early = tokio::time::timeout(std::time::Duration::from_millis(50), first.next());
            assert!(
                early.await.is_err(),
                "an object of an unfinished list went out"
            );
            send(Event::InitDone);
            send(Event::Delete(4));
            let rest: Vec<u32> = first.take(3).map(|r| r.unwrap()).collect().await;
            assert_eq!(rest, [2, 3, 4]);
            let second: Vec<u32> = next(&mut streams)
                .take(4)
                .map(|r| r.unwrap())
                .collect()
                .await;
            assert_eq!(second, [1, 2, 3, 4]);
        });
    }
}
