//! Talking to a cluster, shared by the CLI (`apply`, `diff`, `status`) and the operator:
//! resolving kinds to API resources and server-side applying rendered objects as `khaibao`.

mod resolver;

use kube::Client;
use kube::api::{Api, DynamicObject, ObjectMeta, Patch, PatchParams};
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

    /// Whether the API server could not be reached or answered that it cannot serve now, as
    /// against an answer (such as "no such kind") that waiting will not change.
    pub fn is_unreachable(&self) -> bool {
        match self {
            ClusterError::Discovery { source, .. } | ClusterError::Apply { source, .. } => {
                unreachable(source)
            }
            ClusterError::Invalid(_) => false,
        }
    }
}

/// Whether a request failed because the API server was away or could not serve it now: the
/// errors worth waiting out at startup.
pub fn unreachable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code >= 500 || s.code == 429,
        kube::Error::Service(_) | kube::Error::HyperError(_) => true,
        _ => false,
    }
}

/// What [`apply_object_meta`] would store, without storing it (a server-side dry run, for
/// `khaibao diff`): the whole object, to compare with what the cluster has.
pub async fn dry_run_apply(
    client: &Client,
    resolver: &Resolver,
    object: &Value,
) -> Result<DynamicObject, ClusterError> {
    let target = Target::of(client, resolver, object).await?;
    let params = PatchParams::apply(FIELD_MANAGER).force().dry_run();
    let result = target
        .api
        .patch(&target.name, &params, &Patch::Apply(object))
        .await;
    result.map_err(|source| target.error(source))
}

/// Server-side applies `object` with field manager `khaibao`, forcing ownership of the fields
/// khaibao renders (the Kubernetes advice for controllers: the rendered state is the truth).
/// The operator needs back only the stored object's metadata (its resourceVersion): the API
/// server answers with PartialObjectMetadata, so neither side encodes or decodes the object's
/// data for nothing (10,000 tenants are 40,000 applies at cold start).
pub async fn apply_object_meta(
    client: &Client,
    resolver: &Resolver,
    object: &Value,
) -> Result<ObjectMeta, ClusterError> {
    let target = Target::of(client, resolver, object).await?;
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let result = target
        .api
        .patch_metadata(&target.name, &params, &Patch::Apply(object))
        .await;
    result
        .map(|partial| partial.metadata)
        .map_err(|source| target.error(source))
}

/// Where a rendered object goes: its API, read from the object without copying it.
struct Target {
    api: Api<DynamicObject>,
    kind: String,
    namespace: String,
    name: String,
}

impl Target {
    async fn of(
        client: &Client,
        resolver: &Resolver,
        object: &Value,
    ) -> Result<Target, ClusterError> {
        let field = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        let (Some(api_version), Some(kind)) =
            (field(&object["apiVersion"]), field(&object["kind"]))
        else {
            return Err(ClusterError::Invalid("missing apiVersion/kind".into()));
        };
        let Some(name) = field(&object["metadata"]["name"]) else {
            return Err(ClusterError::Invalid(format!(
                "{kind} without metadata.name"
            )));
        };
        let namespace = field(&object["metadata"]["namespace"]).unwrap_or_default();
        let ar = resolver.resolve(client, &api_version, &kind).await?;
        let api = if namespace.is_empty() {
            Api::all_with(client.clone(), &ar)
        } else {
            Api::namespaced_with(client.clone(), &namespace, &ar)
        };
        Ok(Target {
            api,
            kind,
            namespace,
            name,
        })
    }

    fn error(self, source: kube::Error) -> ClusterError {
        ClusterError::Apply {
            kind: self.kind,
            namespace: self.namespace,
            name: self.name,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ClusterError;
    use kube::core::Status;

    fn discovery(source: kube::Error) -> ClusterError {
        ClusterError::Discovery {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            source,
        }
    }

    #[test]
    fn an_api_server_away_or_overloaded_is_unreachable_an_unknown_kind_is_not() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        assert!(discovery(kube::Error::Service(Box::new(refused))).is_unreachable());
        for code in [500, 503, 429] {
            let status = Status::failure("busy", "ServiceUnavailable").with_code(code);
            assert!(discovery(kube::Error::Api(status.boxed())).is_unreachable());
        }
        let missing = kube::Error::Discovery(kube::error::DiscoveryError::MissingKind(
            "Frobnicator".into(),
        ));
        assert!(!discovery(missing).is_unreachable());
        let not_found = Status::failure("no such group", "NotFound").with_code(404);
        assert!(!discovery(kube::Error::Api(not_found.boxed())).is_unreachable());
        assert!(!ClusterError::Invalid("no kind".into()).is_unreachable());
    }
}
