//! Generated secrets: random values created once, in the cluster only. They are never
//! overwritten (a create that finds the Secret already there leaves it alone), never logged,
//! and never put in events, status or errors.

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
    fn random_values_have_the_asked_shape() {
        let a = random_value(40, KeyEncoding::Alphanumeric);
        assert_eq!(a.len(), 40);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        let h = random_value(32, KeyEncoding::Hex);
        assert!(h.len() == 32 && h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(random_value(32, KeyEncoding::Hex), h);
    }
}
