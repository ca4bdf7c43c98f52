//! The chores every controller shares and none decides anything with: the health and metrics
//! server, leader election, shutdown on a signal, the retry backoffs, and the bookkeeping
//! around a reconcile (its metrics, its error policy). Nothing here reads or writes a tenant.

mod http;
mod leader;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Client, Resource};
use tracing::{info, warn};

use super::{Context, Error, Settings, metrics};

/// Serves `/healthz`, `/readyz` and `/metrics` in the background, leader or not.
pub(super) fn serve_health(addr: SocketAddr, ctx: Arc<Context>) {
    tokio::spawn(async move {
        if let Err(e) = http::serve(addr, ctx).await {
            warn!(error = %e, "health/metrics server stopped");
        }
    });
}

/// Only the leader reconciles; a standby keeps serving health and waits for the Lease here.
/// `None` when leader election is off (a single replica).
pub(super) async fn lead(
    client: &Client,
    settings: &Settings,
) -> anyhow::Result<Option<leader::Leadership>> {
    Ok(if settings.no_leader_election {
        None
    } else {
        Some(leader::acquire(client, settings).await?)
    })
}

/// Runs `controllers` until they stop (after a shutdown signal: the Lease is then released) or
/// until leadership is lost (an error: only one replica may write).
pub(super) async fn run_while_leading(
    controllers: impl Future,
    mut leadership: Option<leader::Leadership>,
) -> anyhow::Result<()> {
    let lost = async {
        match leadership.as_mut() {
            Some(l) => l.lost().await,
            None => futures::future::pending().await,
        }
    };
    tokio::select! {
        _ = controllers => {
            if let Some(l) = leadership { l.release().await; }
            info!("stopped");
            Ok(())
        }
        _ = lost => {
            anyhow::bail!("lost the leader Lease; exiting so that only one replica writes")
        }
    }
}

/// SIGTERM or SIGINT, seen by every controller: each finishes its in-flight reconciles.
#[derive(Clone)]
pub(super) struct Shutdown(tokio::sync::watch::Receiver<bool>);

impl Shutdown {
    /// Starts listening for SIGTERM and SIGINT. Fails when the handler cannot be installed: an
    /// operator that cannot hear SIGTERM would be killed mid-write instead of finishing.
    pub(super) fn on_signal() -> anyhow::Result<Shutdown> {
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| anyhow::anyhow!("cannot listen for SIGTERM: {e}"))?;
        let signal = async move {
            tokio::select! {
                _ = term.recv() => info!("SIGTERM: finishing in-flight reconciles"),
                _ = tokio::signal::ctrl_c() => info!("SIGINT: finishing in-flight reconciles"),
            }
            let _ = shutdown_tx.send(true);
        };
        tokio::spawn(signal);
        Ok(Shutdown(shutdown_rx))
    }

    /// Resolves once a signal came (for `Controller::graceful_shutdown_on`).
    pub(super) fn requested(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.clone();
        async move {
            let _ = rx.wait_for(|v| *v).await;
        }
    }
}

/// An object's `namespace/name`, as tenants are keyed in logs, indexes and rollouts.
pub(super) fn object_key<K: Resource>(o: &K) -> String {
    format!(
        "{}/{}",
        o.meta().namespace.clone().unwrap_or_default(),
        o.meta().name.clone().unwrap_or_default()
    )
}

/// Counts a reconcile and its duration, and its failure by kind; a success resets the object's
/// backoff.
pub(super) fn record(
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

/// The key of an object's failure count: kind, namespace and name, so a Tenant and a TenantSet
/// of the same name never share a backoff.
pub(super) fn backoff_key<K: Resource<DynamicType = ()>>(o: &K) -> String {
    format!("{}/{}", K::kind(&()), object_key(o))
}

/// One error policy for every controller: a short fixed wait while caches fill, otherwise the
/// object's exponential backoff.
pub(super) fn error_policy<K: Resource<DynamicType = ()>>(
    o: Arc<K>,
    e: &Error,
    ctx: Arc<Context>,
) -> Action {
    if matches!(e, Error::NotReady) {
        return Action::requeue(Duration::from_secs(1));
    }
    let key = backoff_key(o.as_ref());
    warn!(object = %key, error = %e, "reconcile failed; retrying with backoff");
    Action::requeue(ctx.backoff(&key))
}

/// How long a watch, or a controller's trigger stream, pauses after an error: 0.5 s, doubling up
/// to 5 s, back to 0.5 s after the next event. kube's default (client-go's) grows to 30 s plus up
/// to as much jitter and resets only after two quiet minutes: after a 20 s API server outage the
/// Tenant watch slept for up to a minute after the API server was back, so a tenant created then
/// waited that long for its first reconcile (the failing `apiserver_outage` e2e run). A handful
/// of watches retrying every 5 s is no load for an API server that is coming back.
pub(super) struct RetryBackoff {
    next: Duration,
}

impl RetryBackoff {
    const MIN: Duration = Duration::from_millis(500);
    pub(super) const MAX: Duration = Duration::from_secs(5);

    pub(super) fn new() -> Self {
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

#[cfg(test)]
mod tests {
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
