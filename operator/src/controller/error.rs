use crate::cluster::ClusterError;

/// Why a reconcile failed. User mistakes (bad values, bad templates) are not errors here: they
/// become conditions and events, and the reconcile succeeds.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("platform {name} is still used by {count} tenant(s)")]
    PlatformInUse { name: String, count: usize },
    #[error("the caches (owned objects, tenants, platforms) are not synced yet")]
    NotReady,
    #[error("the reconcile took longer than {0:?} and was abandoned; it is retried")]
    Timeout(std::time::Duration),
}

impl Error {
    /// Whether retrying alone may fix it (API server down, overloaded or a cache not yet
    /// synced), as against a refusal that needs a change to what was declared.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Kube(kube::Error::Api(s)) => s.code >= 500 || s.code == 429,
            Error::Kube(_) | Error::NotReady | Error::Timeout(_) => true,
            Error::Cluster(c) => c.is_transient(),
            Error::PlatformInUse { .. } => false,
        }
    }

    /// A short stable label for the `khaibao_reconcile_errors_total` metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Cluster(ClusterError::Discovery { .. }) => "discovery",
            Error::Cluster(ClusterError::Apply { .. }) => "apply",
            Error::Cluster(ClusterError::Invalid(_)) => "invalid",
            Error::PlatformInUse { .. } => "platform_in_use",
            Error::NotReady => "not_ready",
            Error::Timeout(_) => "timeout",
        }
    }
}
