//! Kind → API resource, discovered once per kind and cached for the life of the process.

use std::collections::HashMap;
use std::sync::Arc;

use kube::Client;
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::pinned_kind;
use tokio::sync::RwLock;

use super::ClusterError;

#[derive(Clone, Default)]
pub struct Resolver {
    cache: Arc<RwLock<HashMap<(String, String), ApiResource>>>,
}

impl Resolver {
    pub async fn resolve(
        &self,
        client: &Client,
        api_version: &str,
        kind: &str,
    ) -> Result<ApiResource, ClusterError> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(ar) = self.cache.read().await.get(&key) {
            return Ok(ar.clone());
        }
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, _caps) =
            pinned_kind(client, &gvk)
                .await
                .map_err(|source| ClusterError::Discovery {
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                    source,
                })?;
        self.cache.write().await.insert(key, ar.clone());
        Ok(ar)
    }
}
