//! Leader election through a coordination.k8s.io Lease: only the holder reconciles. A standby
//! waits for the Lease; the leader exits if it ever loses it, so two replicas never write at once.

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::RetryBackoff;
use crate::cluster::unreachable;
use crate::controller::Settings;

/// Seconds a Lease stays valid without renewal; a dead leader is replaced after about this long.
const LEASE_SECONDS: u64 = 15;
const GRACE_SECONDS: u64 = 5;

pub struct Leadership {
    state: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

/// Waits until this replica holds the Lease.
pub async fn acquire(client: &Client, settings: &Settings) -> anyhow::Result<Leadership> {
    let mut waits = RetryBackoff::new();
    let manager = loop {
        let built = LeaseManagerBuilder::new(client.clone(), &settings.lease_name)
            .with_namespace(&settings.lease_namespace)
            .with_identity(&settings.identity)
            .with_duration(LEASE_SECONDS)
            .with_grace(GRACE_SECONDS)
            .build()
            .await;
        match built {
            Ok(m) => break m,
            // A replica started while the API server restarts waits for it, as discovery does.
            Err(LeaseManagerError::KubeError(e)) if unreachable(&e) => {
                let wait = waits.next().unwrap_or(RetryBackoff::MAX);
                warn!(error = %e, retry_in = ?wait, "cannot reach the Lease; retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let (mut state, task) = manager.watch().await;
    info!(lease = %settings.lease_name, namespace = %settings.lease_namespace, identity = %settings.identity, "waiting to become leader");
    while !*state.borrow_and_update() {
        state.changed().await?;
    }
    info!(identity = %settings.identity, "became leader");
    Ok(Leadership { state, task })
}

impl Leadership {
    /// Resolves when the Lease is lost.
    pub async fn lost(&mut self) {
        loop {
            if !*self.state.borrow_and_update() {
                return;
            }
            if self.state.changed().await.is_err() {
                return;
            }
        }
    }

    /// Gives the Lease up so a standby takes over at once.
    pub async fn release(self) {
        drop(self.state);
        let _ = self.task.await;
    }
}
