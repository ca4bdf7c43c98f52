//! Generated secrets: random values created once, in the cluster only, or adopted from the
//! predecessors a successor replaces (copied byte for byte, never regenerated). They are never
//! overwritten (a create that finds the Secret already there leaves it alone, an adoption only
//! adds missing keys), never logged, and never put in events, status or errors.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use rand::RngExt;
use rand::distr::Alphanumeric;

use crate::api::{GeneratedSecret, KeyEncoding};
use crate::cluster::FIELD_MANAGER;
use crate::pipeline::DesiredObject;

fn random_value(length: usize, encoding: KeyEncoding) -> String {
    let mut rng = rand::rng();
    match encoding {
        KeyEncoding::Alphanumeric => (&mut rng)
            .sample_iter(Alphanumeric)
            .take(length)
            .map(char::from)
            .collect(),
        KeyEncoding::Hex => (0..length)
            .map(|_| format!("{:x}", rng.random_range(0..16u8)))
            .collect(),
    }
}

/// Builds the Secret from its placeholder (labels, annotations, name) with fresh random data.
fn secret_from(placeholder: &DesiredObject, spec: &GeneratedSecret) -> Option<Secret> {
    let meta: ObjectMeta =
        serde_json::from_value(placeholder.object.get("metadata")?.clone()).ok()?;
    let data: BTreeMap<String, ByteString> = spec
        .keys
        .iter()
        .map(|k| {
            let value = random_value(
                k.length.unwrap_or(32).clamp(8, 4096) as usize,
                k.encoding.unwrap_or_default(),
            );
            (k.key.clone(), ByteString(value.into_bytes()))
        })
        .collect();
    Some(Secret {
        metadata: meta,
        data: Some(data),
        type_: Some("Opaque".into()),
        ..Default::default()
    })
}

/// Creates the generated Secret if it does not exist yet. Returns whether a write was made.
pub async fn create_once(
    client: &kube::Client,
    namespace: &str,
    placeholder: &DesiredObject,
    spec: &GeneratedSecret,
) -> Result<bool, kube::Error> {
    let Some(secret) = secret_from(placeholder, spec) else {
        return Ok(false);
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    match api.create(&params, &secret).await {
        Ok(_) => Ok(true),
        // Already there (created earlier, or by a previous operator instance): never overwrite.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// One Secret by name, with its data. Read with a list selecting that one name: the operator's
/// ClusterRole grants `list` on Secrets already (its watches need it) and no `get`, which
/// would be a second cluster-wide read grant for the same values.
async fn read_secret(api: &Api<Secret>, name: &str) -> Result<Option<Secret>, kube::Error> {
    let params = kube::api::ListParams::default().fields(&format!("metadata.name={name}"));
    Ok(api.list(&params).await?.items.into_iter().next())
}

/// Creates the successor's generated Secret from its placeholder with the data of the
/// predecessor's Secret `source`, byte for byte. `Ok(None)` when `source` does not exist (yet);
/// otherwise whether a write was made (false: the successor's Secret already existed).
pub async fn create_from_predecessor(
    client: &kube::Client,
    namespace: &str,
    placeholder: &DesiredObject,
    source: &str,
) -> Result<Option<bool>, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let Some(from) = read_secret(&api, source).await? else {
        return Ok(None);
    };
    let Some(meta) = placeholder
        .object
        .get("metadata")
        .and_then(|m| serde_json::from_value::<ObjectMeta>(m.clone()).ok())
    else {
        return Ok(Some(false));
    };
    let secret = Secret {
        metadata: meta,
        data: from.data,
        type_: from.type_.or_else(|| Some("Opaque".into())),
        ..Default::default()
    };
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    match api.create(&params, &secret).await {
        Ok(_) => Ok(Some(true)),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Some(false)),
        Err(e) => Err(e),
    }
}

/// Makes the existing Secret of `placeholder`'s name (a predecessor's, rendered with the same
/// name) this tenant's: its labels and owner annotation are set from the placeholder, its data
/// left exactly as they are, so the predecessor's retirement no longer deletes it. Returns
/// whether a write was made (false: no such Secret, it is generated or adopted as usual).
pub async fn claim(
    client: &kube::Client,
    namespace: &str,
    placeholder: &DesiredObject,
) -> Result<bool, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let meta = &placeholder.object["metadata"];
    let patch = serde_json::json!({"metadata": {
        "labels": meta["labels"], "annotations": meta["annotations"],
    }});
    match api
        .patch(
            placeholder.name(),
            &crate::cluster::patch_params(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// What filling an `-adopted` Secret found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AdoptedFill {
    /// Predecessor codes whose every value is now in the `-adopted` Secret.
    pub complete: Vec<String>,
    /// Whether a write was made.
    pub wrote: bool,
}

/// The keys of `sources` (predecessor code → its Secret's data) that `target` lacks, renamed
/// `<code>.<key>`, and the codes whose every key `target` then holds. A key already in
/// `target` is never replaced: what was adopted once stays as it was.
pub fn missing_adopted_keys(
    target: &BTreeMap<String, ByteString>,
    sources: &BTreeMap<String, Option<BTreeMap<String, ByteString>>>,
) -> (BTreeMap<String, ByteString>, Vec<String>) {
    let mut missing = BTreeMap::new();
    let mut complete = Vec::new();
    for (code, data) in sources {
        let Some(data) = data else { continue };
        for (key, value) in data {
            let adopted = crate::pipeline::adopted_key(code, key);
            if !target.contains_key(&adopted) {
                missing.insert(adopted, value.clone());
            }
        }
        complete.push(code.clone());
    }
    (missing, complete)
}

/// Copies into the successor's `-adopted` Secret (created from `placeholder` when missing) the
/// values of each predecessor's Secret in `sources` (code → Secret name) that it lacks. A
/// predecessor whose Secret does not exist yet is left for a later pass.
pub async fn fill_adopted(
    client: &kube::Client,
    namespace: &str,
    placeholder: &DesiredObject,
    sources: &[(String, String)],
) -> Result<AdoptedFill, kube::Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut found = BTreeMap::new();
    for (code, name) in sources {
        let data = read_secret(&api, name)
            .await?
            .map(|s| s.data.unwrap_or_default());
        found.insert(code.clone(), data);
    }
    let current = read_secret(&api, placeholder.name()).await?;
    let target = current
        .as_ref()
        .and_then(|s| s.data.clone())
        .unwrap_or_default();
    let (missing, complete) = missing_adopted_keys(&target, &found);
    if missing.is_empty() && current.is_some() {
        return Ok(AdoptedFill {
            complete,
            wrote: false,
        });
    }
    let Some(current) = current else {
        let Some(meta) = placeholder
            .object
            .get("metadata")
            .and_then(|m| serde_json::from_value::<ObjectMeta>(m.clone()).ok())
        else {
            return Ok(AdoptedFill::default());
        };
        let secret = Secret {
            metadata: meta,
            data: Some(missing),
            type_: Some("Opaque".into()),
            ..Default::default()
        };
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        return match api.create(&params, &secret).await {
            Ok(_) => Ok(AdoptedFill {
                complete,
                wrote: true,
            }),
            // Created meanwhile (another pass): the next pass adds what is missing.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(AdoptedFill::default()),
            Err(e) => Err(e),
        };
    };
    // Only the missing keys, and only on the version read: a concurrent change makes this
    // fail (409) instead of replacing a key, and the next pass reads again.
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": current.metadata.resource_version},
        "data": missing,
    });
    match api
        .patch(
            placeholder.name(),
            &crate::cluster::patch_params(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(AdoptedFill {
            complete,
            wrote: true,
        }),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(AdoptedFill::default()),
        Err(e) => Err(e),
    }
}

/// The generated-secret spec whose placeholder is `placeholder` (matched by name suffix).
pub fn spec_for<'a>(
    specs: &'a [GeneratedSecret],
    placeholder: &DesiredObject,
) -> Option<&'a GeneratedSecret> {
    let name = placeholder.name();
    specs
        .iter()
        .find(|s| name.ends_with(&format!("-{}", s.name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adoption_adds_missing_keys_only_and_waits_for_absent_sources() {
        let b = |s: &str| ByteString(s.as_bytes().to_vec());
        let target: BTreeMap<String, ByteString> = [("35.token".to_string(), b("kept"))].into();
        let sources: BTreeMap<String, Option<BTreeMap<String, ByteString>>> = [
            (
                "35".to_string(),
                Some([("token".to_string(), b("other"))].into()),
            ),
            (
                "36".to_string(),
                Some([("token".to_string(), b("\u{0}raw\u{ff}"))].into()),
            ),
            ("38".to_string(), None),
        ]
        .into();
        let (missing, complete) = missing_adopted_keys(&target, &sources);
        // 35's key is already there and is not replaced; 36's is copied byte for byte.
        assert_eq!(missing.len(), 1);
        assert_eq!(missing["36.token"], b("\u{0}raw\u{ff}"));
        // 38's Secret does not exist yet: not complete, tried again later.
        assert_eq!(complete, vec!["35".to_string(), "36".to_string()]);
    }

    #[test]
    fn random_values_have_the_asked_shape() {
        let a = random_value(40, KeyEncoding::Alphanumeric);
        assert_eq!(a.len(), 40);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        let h = random_value(32, KeyEncoding::Hex);
        assert!(h.len() == 32 && h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(random_value(32, KeyEncoding::Hex), h);
    }
}
