//! Talking to a cluster, shared by the CLI (`apply`, `diff`, `status`) and the operator:
//! resolving kinds to API resources and server-side applying rendered objects as `khaibao`.

mod resolver;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::Value;

pub use resolver::Resolver;

/// The field manager of everything khaibao writes.
pub const FIELD_MANAGER: &str = "khaibao";

/// Parameters of khaibao's merge and JSON patches (status, finalizers): named as khaibao's, so
/// `managedFields` says who wrote them instead of "unknown".
pub fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

/// Errors talking to the cluster, each naming the object concerned.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("unable to find the API of kind {kind} ({api_version}): {source}")]
    Discovery {
        api_version: String,
        kind: String,
        #[source]
        source: kube::Error,
    },
    #[error("unable to apply {kind} {namespace}/{name}: {source}")]
    Apply {
        kind: String,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("object is not a valid Kubernetes object: {0}")]
    Invalid(String),
}

impl ClusterError {
    /// Whether the cause is the API server being unreachable or overloaded (retry later).
    pub fn is_transient(&self) -> bool {
        let source = match self {
            ClusterError::Discovery { source, .. } | ClusterError::Apply { source, .. } => source,
            ClusterError::Invalid(_) => return false,
        };
        match source {
            kube::Error::Api(s) => s.code >= 500 || s.code == 429,
            _ => true,
        }
    }
}

/// Server-side applies `object` with field manager `khaibao`, forcing ownership of the fields
/// khaibao renders (the Kubernetes advice for controllers: the rendered state is the truth).
pub async fn apply_object(
    client: &Client,
    resolver: &Resolver,
    object: &Value,
    dry_run: bool,
) -> Result<DynamicObject, ClusterError> {
    let dyn_obj: DynamicObject =
        serde_json::from_value(object.clone()).map_err(|e| ClusterError::Invalid(e.to_string()))?;
    let types = dyn_obj
        .types
        .clone()
        .ok_or_else(|| ClusterError::Invalid("missing apiVersion/kind".into()))?;
    let ar = resolver
        .resolve(client, &types.api_version, &types.kind)
        .await?;
    let name = dyn_obj.name_any();
    let namespace = dyn_obj.namespace().unwrap_or_default();
    let api: Api<DynamicObject> = if namespace.is_empty() {
        Api::all_with(client.clone(), &ar)
    } else {
        Api::namespaced_with(client.clone(), &namespace, &ar)
    };
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    if dry_run {
        params = params.dry_run();
    }
    api.patch(&name, &params, &Patch::Apply(object))
        .await
        .map_err(|source| ClusterError::Apply {
            kind: types.kind.clone(),
            namespace,
            name,
            source,
        })
}
