//! The writes of a reconcile: every desired object server-side applied at once, and the
//! generated secrets created once (never overwritten). Apart from the reconcile so that it
//! names the step; the two run joined, in one round trip, as neither depends on the other.

use crate::api::ObjectReference;
use crate::controller::owned_index::OwnedMeta;
use crate::controller::{Context, Error, adoption, echoes, secrets};
use crate::pipeline::{CompiledPlatform, RenderedTenant};

/// Server-side applies every desired object; returns them with the resourceVersions written.
pub(super) async fn apply_desired_objects(
    ctx: &Context,
    platform: &CompiledPlatform,
    rendered: &RenderedTenant,
) -> Result<Vec<ObjectReference>, Error> {
    let has_secrets = !rendered.generated_secrets.is_empty()
        || rendered.objects.iter().any(|o| o.kind() == "Secret");
    if has_secrets && let Some(msg) = ctx.secrets_refused(&platform.platform.spec.namespace) {
        return Err(Error::Cluster(crate::cluster::ClusterError::Invalid(msg)));
    }
    if let Some(o) = rendered
        .objects
        .iter()
        .find(|o| !ctx.watches_kind(o.kind()))
    {
        return Err(Error::Cluster(crate::cluster::ClusterError::Invalid(
            format!(
                "kind {} is not watched by the operator (see --watch-kinds); it could neither be restored nor pruned",
                o.kind()
            ),
        )));
    }
    // A tenant's objects do not depend on each other: applied at once, a tenant costs one
    // round trip to the API server instead of one per object.
    let applies = rendered.objects.iter().map(|o| async move {
        let stored =
            crate::cluster::apply_object_meta(&ctx.client, &ctx.resolver, &o.object).await?;
        ctx.metrics.write("apply");
        ctx.echoes.wrote(
            echoes::key(
                o.kind(),
                stored.namespace.as_deref().unwrap_or_default(),
                o.name(),
            ),
            stored.resource_version.as_deref(),
        );
        Ok::<_, Error>(ObjectReference {
            api_version: o.api_version().to_string(),
            kind: o.kind().to_string(),
            name: o.name().to_string(),
            resource_version: stored.resource_version,
        })
    });
    futures::future::try_join_all(applies).await
}

/// Creates the generated secrets that do not exist yet (neither in the index nor `known` to
/// this process). Returns how many were created.
pub(super) async fn create_generated_secrets(
    ctx: &Context,
    platform: &CompiledPlatform,
    rendered: &RenderedTenant,
    owned: &[OwnedMeta],
    known: &[String],
) -> Result<usize, Error> {
    let mut created = 0;
    let namespace = &platform.platform.spec.namespace;
    if ctx.secrets_refused(namespace).is_some() {
        // The apply step says why.
        return Ok(0);
    }
    for placeholder in &rendered.generated_secrets {
        if known.iter().any(|n| n == placeholder.name())
            || owned
                .iter()
                .any(|m| &*m.kind == "Secret" && &*m.name == placeholder.name())
        {
            continue;
        }
        let Some(spec) = secrets::spec_for(&platform.platform.spec.generated_secrets, placeholder)
        else {
            continue;
        };
        // A successor adopts its predecessor's values instead of generating new ones.
        let wrote =
            adoption::create_own_secret(ctx, rendered, placeholder, spec, namespace).await?;
        if wrote {
            ctx.metrics.write("create");
            created += 1;
        }
    }
    Ok(created)
}
