//! The secrets half of adoption: a successor's own generated Secrets come from the
//! predecessor of its unit code (byte for byte), and the `-adopted` Secrets collect the values
//! of every other predecessor (and of the tenant's own old code, when it moved in place)
//! before that predecessor is retired. Values are only ever copied between Secrets of the
//! platform namespace; they are never logged, evented or put in status.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use kube::runtime::reflector::ObjectRef;

use super::{Standing, key};
use crate::api::Predecessor;
use crate::api::Tenant;
use crate::controller::{Context, Error};
use crate::pipeline::{
    ANNOTATION_ADOPTED_SECRET, CompiledPlatform, DesiredObject, RenderedTenant, moved_code,
    object_name, resolve_predecessor,
};

/// Per successor, the predecessor codes whose values its `-adopted` Secrets are known to hold:
/// spares reading Secrets on every pass. Lost on restart, when one read finds the same.
#[derive(Default)]
pub struct AdoptedSecrets {
    complete: Mutex<HashMap<String, BTreeSet<String>>>,
}

impl AdoptedSecrets {
    pub(super) fn has(&self, successor: &str, code: &str) -> bool {
        self.complete
            .lock()
            .is_ok_and(|m| m.get(successor).is_some_and(|s| s.contains(code)))
    }

    pub(super) fn record(&self, successor: &str, codes: &[String]) {
        if let Ok(mut m) = self.complete.lock() {
            m.entry(successor.to_string())
                .or_default()
                .extend(codes.iter().cloned());
        }
    }
}

/// The live predecessors (`namespace/name`) whose generated secrets the successor holds: for
/// the one of the same unit code, the successor's own Secrets exist (created from its values
/// by [`own_secret_source`]); for the others, the `-adopted` Secrets hold all their values
/// (copied here, missing keys only).
pub(super) async fn adopt_secrets(
    ctx: &Context,
    tenant: &Tenant,
    platform: &CompiledPlatform,
    rendered: &RenderedTenant,
    standings: &[(&Predecessor, Standing)],
) -> Result<BTreeSet<String>, Error> {
    let me = key(tenant);
    let specs = &platform.platform.spec.generated_secrets;
    let mut adopted = BTreeSet::new();
    let owned = ctx.index.objects_of(&crate::controller::tenant::owner_key(
        &rendered.namespace,
        &rendered.name,
    ));
    let own_exist = rendered
        .generated_secrets
        .iter()
        .filter(|o| !is_adopted_placeholder(o))
        .all(|o| {
            owned
                .iter()
                .any(|m| &*m.kind == "Secret" && &*m.name == o.name())
        });
    // Codes to copy into the -adopted Secrets, with each predecessor's Secret stem.
    let mut sources: BTreeMap<String, (String, String)> = BTreeMap::new();
    // The tenant's own old Secrets when it moved in place to another code: copied like a
    // predecessor's, then deleted here (the prune leaves them, see `kept_for_adoption`).
    let mut own_old: Vec<(String, String)> = Vec::new();
    for (p, standing) in standings {
        if let Standing::InPlace = standing {
            if let Some(r) = rendered
                .predecessors
                .iter()
                .find(|r| moved_code(r, &rendered.unit.code))
                && !specs.is_empty()
            {
                own_old.push((r.code.clone(), r.stem()));
                if !ctx.adopted.has(&me, &r.code) {
                    sources.insert(r.code.clone(), (p.tenant.clone(), r.stem()));
                }
            }
            continue;
        }
        let Standing::Live(_) = standing else {
            continue;
        };
        if p.partial || specs.is_empty() {
            adopted.insert(p.tenant.clone());
            continue;
        }
        let Some(resolved) = resolve_predecessor(p) else {
            continue;
        };
        if resolved.code == rendered.unit.code {
            if own_exist {
                adopted.insert(p.tenant.clone());
            }
        } else if ctx.adopted.has(&me, &resolved.code) {
            adopted.insert(p.tenant.clone());
        } else {
            sources.insert(resolved.code.clone(), (p.tenant.clone(), resolved.stem()));
        }
    }
    // With nothing left to copy, an -adopted Secret still missing (deleted by hand after its
    // predecessors were retired) is created empty: desired, it would otherwise be re-applied for.
    let adopted_missing = rendered
        .generated_secrets
        .iter()
        .filter(|o| is_adopted_placeholder(o))
        .any(|o| {
            !owned
                .iter()
                .any(|m| &*m.kind == "Secret" && &*m.name == o.name())
        });
    if sources.is_empty() && !adopted_missing {
        delete_own_old_secrets(ctx, platform, &owned, &own_old).await?;
        return Ok(adopted);
    }
    // Each -adopted Secret must hold every predecessor's values before that one is retired.
    let mut complete: Option<BTreeSet<String>> = None;
    for placeholder in rendered
        .generated_secrets
        .iter()
        .filter(|o| is_adopted_placeholder(o))
    {
        let Some(spec) = placeholder
            .object
            .pointer(&format!(
                "/metadata/annotations/{}",
                ANNOTATION_ADOPTED_SECRET.replace('/', "~1")
            ))
            .and_then(|v| v.as_str())
            .and_then(|n| specs.iter().find(|s| s.name == n))
        else {
            continue;
        };
        let from: Vec<(String, String)> = sources
            .iter()
            .filter_map(|(code, (_, stem))| {
                Some((code.clone(), object_name(stem, &spec.name).ok()?))
            })
            .collect();
        let fill = crate::controller::secrets::fill_adopted(
            &ctx.client,
            &platform.platform.spec.namespace,
            placeholder,
            &from,
        )
        .await?;
        if fill.wrote {
            ctx.metrics.write("create");
        }
        let codes: BTreeSet<String> = fill.complete.into_iter().collect();
        complete = Some(match complete {
            None => codes,
            Some(c) => c.intersection(&codes).cloned().collect(),
        });
    }
    let complete: Vec<String> = complete.unwrap_or_default().into_iter().collect();
    ctx.adopted.record(&me, &complete);
    for (code, (tenant_key, _)) in &sources {
        if complete.contains(code) {
            adopted.insert(tenant_key.clone());
        }
    }
    own_old.retain(|(code, _)| ctx.adopted.has(&me, code));
    delete_own_old_secrets(ctx, platform, &owned, &own_old).await?;
    Ok(adopted)
}

/// The tenant's own generated Secrets under the old stem of an in-place move to another
/// code: no longer rendered, they are left by the prune until their values are in the
/// `-adopted` Secrets.
pub fn kept_for_adoption(platform: &CompiledPlatform, rendered: &RenderedTenant) -> Vec<String> {
    rendered
        .predecessors
        .iter()
        .filter(|r| moved_code(r, &rendered.unit.code))
        .flat_map(|r| {
            let stem = r.stem();
            platform
                .platform
                .spec
                .generated_secrets
                .iter()
                .filter_map(move |s| object_name(&stem, &s.name).ok())
        })
        .collect()
}

/// Deletes the old-stem Secrets of `own_old` (code, old stem) the tenant still owns: their
/// values are adopted.
async fn delete_own_old_secrets(
    ctx: &Context,
    platform: &CompiledPlatform,
    owned: &[crate::controller::owned_index::OwnedMeta],
    own_old: &[(String, String)],
) -> Result<(), Error> {
    let specs = &platform.platform.spec.generated_secrets;
    let names: BTreeSet<String> = own_old
        .iter()
        .flat_map(|(_, stem)| specs.iter().filter_map(|s| object_name(stem, &s.name).ok()))
        .collect();
    for m in owned
        .iter()
        .filter(|m| &*m.kind == "Secret" && names.contains(&*m.name))
    {
        crate::controller::tenant::delete_object(ctx, m).await?;
    }
    Ok(())
}

/// True for an `-adopted` placeholder: filled by adoption, never generated.
pub fn is_adopted_placeholder(o: &DesiredObject) -> bool {
    o.object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ANNOTATION_ADOPTED_SECRET))
        .is_some()
}

/// Where a successor's own generated Secret comes from.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// Fresh random values (no predecessor of the same code to adopt from).
    Generate,
    /// Byte for byte from this Secret of the predecessor of the same unit code.
    Predecessor { secret: String, live: bool },
    /// Not created by the generated-secret step (an `-adopted` Secret, filled by adoption).
    Adoption,
}

/// Where the Secret of `placeholder` comes from for `rendered`'s tenant: a live (or just
/// retired) predecessor of the same unit code, taken whole, gives its values.
pub fn own_secret_source(
    ctx: &Context,
    rendered: &RenderedTenant,
    placeholder: &DesiredObject,
    secret_name: &str,
) -> SecretSource {
    if is_adopted_placeholder(placeholder) {
        return SecretSource::Adoption;
    }
    let Some(p) = rendered
        .predecessors
        .iter()
        .find(|p| p.code == rendered.unit.code && !p.partial)
    else {
        return SecretSource::Generate;
    };
    let Ok(secret) = object_name(&p.stem(), secret_name) else {
        return SecretSource::Generate;
    };
    let live = p
        .tenant
        .split_once('/')
        .and_then(|(ns, n)| ctx.tenants.get(&ObjectRef::new(n).within(ns)))
        .is_some();
    SecretSource::Predecessor { secret, live }
}

/// The generated-secret step for one placeholder of a tenant: creates its Secret once, from
/// the predecessor of the same unit code when there is one (byte for byte, or by claiming the
/// very Secret when it has the same name), otherwise with fresh values. An `-adopted`
/// placeholder is filled by [`super::retire_predecessors`], never here. Returns whether a write was
/// made.
pub async fn create_own_secret(
    ctx: &Context,
    rendered: &RenderedTenant,
    placeholder: &DesiredObject,
    spec: &crate::api::GeneratedSecret,
    namespace: &str,
) -> Result<bool, kube::Error> {
    use crate::controller::secrets::{claim, create_from_predecessor, create_once};
    let client = &ctx.client;
    Ok(
        match own_secret_source(ctx, rendered, placeholder, &spec.name) {
            SecretSource::Adoption => false,
            SecretSource::Generate => create_once(client, namespace, placeholder, spec).await?,
            // The same name: the predecessor's Secret becomes this tenant's, values untouched.
            SecretSource::Predecessor { secret, live } if secret == placeholder.name() => {
                match claim(client, namespace, placeholder).await? {
                    true => true,
                    // Not there yet: the predecessor's reconcile creates it; claimed later.
                    false if live => false,
                    false => create_once(client, namespace, placeholder, spec).await?,
                }
            }
            SecretSource::Predecessor { secret, live } => {
                match create_from_predecessor(client, namespace, placeholder, &secret).await? {
                    Some(wrote) => wrote,
                    None if live => false,
                    // The predecessor and its Secret are gone: nothing left to adopt.
                    None => create_once(client, namespace, placeholder, spec).await?,
                }
            }
        },
    )
}
