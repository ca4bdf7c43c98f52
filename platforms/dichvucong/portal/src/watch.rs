//! Keeps the index in step with the platform namespace: one watch on the tenants' ConfigMaps and
//! one on their Secrets, both by label, so a new or changed unit is served without a restart.
//! A relist (start, or after the watch was lost) is buffered and swapped in whole.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};

use crate::index::Kind;
use crate::server::App;

enum Change {
    ConfigMap(Event<ConfigMap>),
    Secret(Event<Secret>),
}

/// Buffers of a relist in progress, per kind.
#[derive(Default)]
struct Relists {
    config_maps: Option<Vec<ConfigMap>>,
    secrets: Option<Vec<Secret>>,
}

pub async fn run(client: Client, namespace: String, selector: String, app: Arc<App>) {
    let config = watcher::Config::default().labels(&selector);
    let config_maps = watcher::watcher(
        Api::<ConfigMap>::namespaced(client.clone(), &namespace),
        config.clone(),
    )
    .default_backoff()
    .map(|e| e.map(Change::ConfigMap));
    let secrets = watcher::watcher(Api::<Secret>::namespaced(client, &namespace), config)
        .default_backoff()
        .map(|e| e.map(Change::Secret));
    let mut changes = std::pin::pin!(stream::select(config_maps, secrets));
    let mut relists = Relists::default();
    while let Some(change) = changes.next().await {
        match change {
            Ok(change) => apply(&app, &mut relists, change),
            // The watcher retries with backoff; say why meanwhile (RBAC, connection).
            Err(e) => tracing::warn!(error = %e, "watching the tenants' ConfigMaps and Secrets"),
        }
    }
}

fn apply(app: &App, relists: &mut Relists, change: Change) {
    let mut changed = true;
    {
        let mut ix = app.index.write().unwrap_or_else(|e| e.into_inner());
        match change {
            Change::ConfigMap(Event::Apply(cm)) => ix.apply_config_map(&cm),
            Change::ConfigMap(Event::Delete(cm)) => {
                ix.delete(Kind::ConfigMap, cm.metadata.name.as_deref())
            }
            Change::ConfigMap(Event::Init) => {
                relists.config_maps = Some(Vec::new());
                changed = false;
            }
            Change::ConfigMap(Event::InitApply(cm)) => {
                relists.config_maps.get_or_insert_default().push(cm);
                changed = false;
            }
            Change::ConfigMap(Event::InitDone) => {
                ix.replace_config_maps(&relists.config_maps.take().unwrap_or_default());
                app.config_maps_synced.store(true, Ordering::Release);
            }
            Change::Secret(Event::Apply(s)) => ix.apply_secret(&s),
            Change::Secret(Event::Delete(s)) => ix.delete(Kind::Secret, s.metadata.name.as_deref()),
            Change::Secret(Event::Init) => {
                relists.secrets = Some(Vec::new());
                changed = false;
            }
            Change::Secret(Event::InitApply(s)) => {
                relists.secrets.get_or_insert_default().push(s);
                changed = false;
            }
            Change::Secret(Event::InitDone) => {
                ix.replace_secrets(&relists.secrets.take().unwrap_or_default());
                app.secrets_synced.store(true, Ordering::Release);
            }
        }
    }
    if changed {
        app.index_changed();
    }
}
