//! Adding and removing a finalizer with JSON patches that test the current list first, so two
//! writers can never silently drop each other's finalizers.

use kube::api::{Api, Patch};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;

/// Adds `name` if missing. Returns whether a write was made.
pub async fn ensure<K>(api: &Api<K>, obj: &K, name: &str) -> Result<bool, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    if obj.finalizers().iter().any(|f| f == name) {
        return Ok(false);
    }
    let patch = if obj.meta().finalizers.is_none() {
        json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
               {"op": "add", "path": "/metadata/finalizers", "value": [name]}])
    } else {
        json!([{"op": "test", "path": "/metadata/finalizers", "value": obj.finalizers()},
               {"op": "add", "path": "/metadata/finalizers/-", "value": name}])
    };
    let patch: json_patch::Patch =
        serde_json::from_value(patch).map_err(kube::Error::SerdeError)?;
    match api
        .patch(
            &obj.name_any(),
            &crate::cluster::patch_params(),
            &Patch::<()>::Json(patch),
        )
        .await
    {
        Ok(_) => Ok(true),
        // The test failed: the cached copy is behind the stored object — typically our own
        // earlier patch whose response was lost in an API server outage, and whose watch
        // event has not arrived. Decide from the stored object instead of failing until the
        // cache catches up.
        Err(kube::Error::Api(s)) if s.code == 422 => {
            let stored = api.get(&obj.name_any()).await?;
            if stored.finalizers().iter().any(|f| f == name) {
                Ok(false)
            } else {
                Box::pin(ensure(api, &stored, name)).await
            }
        }
        Err(e) => Err(e),
    }
}

/// Removes `name` if present. Returns whether a write was made.
pub async fn remove<K>(api: &Api<K>, obj: &K, name: &str) -> Result<bool, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let Some(i) = obj.finalizers().iter().position(|f| f == name) else {
        return Ok(false);
    };
    let patch = json!([{"op": "test", "path": format!("/metadata/finalizers/{i}"), "value": name},
                       {"op": "remove", "path": format!("/metadata/finalizers/{i}")}]);
    let patch: json_patch::Patch =
        serde_json::from_value(patch).map_err(kube::Error::SerdeError)?;
    match api
        .patch(
            &obj.name_any(),
            &crate::cluster::patch_params(),
            &Patch::<()>::Json(patch),
        )
        .await
    {
        Ok(_) => Ok(true),
        // Already gone: the object was deleted once its last finalizer went away.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}
