//! The operator: the Platform, Tenant and TenantSet controllers assembled over shared watches,
//! with leader election, metrics and health. Everything a tenant becomes is still decided by the
//! pure pipeline; the controllers only read the cluster, call it, and write the result. Each
//! controller wires its own triggers (`controller()` in its module); this file only puts them
//! together, in the order that matters: caches first, leadership, then reconciles.

mod adoption;
mod analysis;
mod context;
mod echoes;
mod error;
mod finalizers;
mod metrics;
mod owned_index;
mod platform;
mod predecessor_index;
mod reforms;
mod revisions;
mod rollouts;
mod runtime;
mod secrets;
mod set_succession;
mod tenant;
mod tenant_set;
#[cfg(test)]
mod test_tenants;
mod unit_index;
mod watches;
mod writes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tracing::info;

pub use context::Context;
pub use error::Error;
pub use metrics::Metrics;
pub use owned_index::{OwnedIndex, OwnedMeta};

use crate::cluster::Resolver;
// The controllers' modules name an object's key `super::object_key`.
use runtime::object_key;

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
    /// The only namespaces where the operator reads and writes Secrets (the chart's
    /// `secretNamespaces`, each with its own Role); `None`: everywhere (a ClusterRole).
    pub secret_namespaces: Option<Vec<String>>,
    /// The renderer epoch live platforms render at (`pipeline::RENDERER_EPOCH` unless pinned
    /// lower for an upgrade).
    pub renderer_epoch: u32,
}

/// Runs the operator until SIGTERM/SIGINT (graceful) or until leadership is lost (error).
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let client = Client::try_default().await?;
    let resolver = Resolver::default();
    let kinds = watches::owned_kinds(&client, &resolver, &settings.watch_kinds).await?;
    let secret_namespaces = settings.secret_namespaces.as_deref();
    let index = Arc::new(OwnedIndex::new(watches::watch_count(
        &kinds,
        secret_namespaces,
    )));
    let echoes = Arc::new(echoes::Echoes::default());
    // The Tenant and Platform watches start now, before leader election; the owned-object
    // watches once this replica leads.
    let mut watches = watches::start(&client);
    let ctx = Arc::new(Context::new(
        client.clone(),
        resolver,
        &settings,
        index.clone(),
        echoes,
        &watches,
    ));
    runtime::serve_health(settings.metrics_addr, ctx.clone());
    let leadership = runtime::lead(&client, &settings).await?;

    let mut owned = watches::owned_objects(&client, kinds, secret_namespaces, &index);
    let shutdown = runtime::Shutdown::on_signal()?;
    let tenants = tenant::controller(
        &ctx,
        &mut watches,
        &mut owned,
        settings.concurrency,
        &shutdown,
    );
    let platforms = platform::controller(&ctx, &mut watches, &mut owned, &shutdown);
    let tenant_sets = tenant_set::controller(&ctx, &mut watches, &shutdown);
    info!(concurrency = settings.concurrency, "controllers started");
    runtime::run_while_leading(
        futures::future::join3(tenants, platforms, tenant_sets),
        leadership,
    )
    .await
}
