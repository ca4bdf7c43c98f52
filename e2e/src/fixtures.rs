//! What tests put in the cluster: a copy of `platforms/dichvucong` under a name and namespace of
//! the test's own, and the 63 provinces of `examples/provinces-63` moved to namespaces of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use khaibao::api::{Platform, Tenant, TenantSet};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::{ControlPlane, wait_until, workspace_root};

/// The platform every test copies.
pub const PLATFORM_DIR: &str = "platforms/dichvucong";
/// The tenants tests create (namespaces in `00-namespaces.yaml`, one Tenant per file).
pub const PROVINCES_DIR: &str = "examples/provinces-63";
/// dichvucong renders 3 objects per tenant (ConfigMaps `-portal-config` and `-services`, Ingress
/// `-portal`) and generates one Secret (`-api-key`).
pub const OBJECTS_PER_TENANT: usize = 4;
/// Its shared workload: Deployment and Service `portal`.
pub const SHARED_OBJECTS: usize = 2;
const FIELD_MANAGER: &str = "khaibao-e2e";

/// True when condition `type_` of `conditions` is `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    khaibao::status::is_true(conditions, type_)
}

/// Condition `type_` of a tenant's status, if set.
pub fn tenant_condition<'a>(t: &'a Tenant, type_: &str) -> Option<&'a Condition> {
    t.status
        .as_ref()
        .and_then(|s| khaibao::status::condition(&s.conditions, type_))
}

/// Condition `type_` of a platform's status, if set.
pub fn platform_condition<'a>(p: &'a Platform, type_: &str) -> Option<&'a Condition> {
    p.status
        .as_ref()
        .and_then(|s| khaibao::status::condition(&s.conditions, type_))
}

/// Ready=True for the tenant's current generation.
pub fn tenant_ready(t: &Tenant) -> bool {
    let Some(status) = &t.status else {
        return false;
    };
    status.observed_generation == t.metadata.generation
        && tenant_condition(t, "Ready")
            .is_some_and(|c| c.status == "True" && c.observed_generation == t.metadata.generation)
}

/// Sorted `*.hbs` files of a folder.
fn template_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(".hbs"))
        .collect();
    files.sort();
    Ok(files)
}

/// The documents of a YAML file (e.g. an example), parsed as khaibao parses manifests.
pub fn read_manifests(path: &Path) -> anyhow::Result<Vec<Value>> {
    read_yaml(path)
}

fn read_yaml(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let docs = khaibao::yaml::parse_stream(&text, false)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message))?;
    Ok(docs
        .into_iter()
        .map(|d| d.value)
        .filter(|v| !v.is_null())
        .collect())
}

/// A platform folder read as `khaibao platform build` does (`platform.yaml` plus
/// `templates/{shared,tenant}/*.hbs`), renamed to `name` in namespace `namespace`.
pub fn platform_manifest(dir: &Path, name: &str, namespace: &str) -> anyhow::Result<Value> {
    let docs = read_yaml(&dir.join("platform.yaml"))?;
    let [platform] = docs.as_slice() else {
        bail!("{}/platform.yaml must hold one document", dir.display());
    };
    let mut platform = platform.clone();
    platform["metadata"] = json!({ "name": name });
    platform["spec"]["namespace"] = json!(namespace);
    for kind in ["shared", "tenant"] {
        let mut list = Vec::new();
        for path in template_files(&dir.join("templates").join(kind))? {
            list.push(json!({
                "name": path.file_name().unwrap_or_default().to_string_lossy(),
                "template": std::fs::read_to_string(&path)?,
            }));
        }
        platform["spec"]["templates"][kind] = Value::Array(list);
    }
    Ok(platform)
}

/// The platform revision the operator stamps on objects (`khaibao.dev/revision`), computed
/// with the same library function from the manifest.
pub fn platform_revision(manifest: &Value) -> anyhow::Result<String> {
    let platform: Platform = serde_json::from_value(manifest.clone())?;
    Ok(khaibao::pipeline::platform_revision(&platform))
}

/// One object the operator wrote into the platform namespace.
#[derive(Clone, Debug)]
pub struct Obj {
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    pub labels: BTreeMap<String, String>,
    pub raw: Value,
}

impl Obj {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// `data.<key>` of a ConfigMap.
    pub fn data(&self, key: &str) -> Option<&str> {
        self.raw.get("data")?.get(key)?.as_str()
    }

    /// `<namespace>.<name>` of the owning tenant (the `khaibao.dev/tenant` label).
    pub fn tenant(&self) -> Option<&str> {
        self.label("khaibao.dev/tenant")
    }
}

/// `Kind/name` → resourceVersion of objects: equal before and after means none was rewritten.
pub fn object_versions(objs: &[Obj]) -> BTreeMap<String, String> {
    objs.iter()
        .map(|o| (format!("{}/{}", o.kind, o.name), o.resource_version.clone()))
        .collect()
}

/// `data.<key>` of each tenant's `-portal-config` ConfigMap, by tenant label.
pub fn portal_config_values(objects: &[Obj], key: &str) -> BTreeMap<String, String> {
    objects
        .iter()
        .filter(|o| o.kind == "ConfigMap" && o.name.ends_with("-portal-config"))
        .filter_map(|o| Some((o.tenant()?.to_string(), o.data(key)?.to_string())))
        .collect()
}

/// A Secret's data as bytes by key (what the secret checks compare and search for).
pub fn secret_data(secret: Secret) -> BTreeMap<String, Vec<u8>> {
    secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

/// The `khaibao.dev/tenant` label value of a tenant.
pub fn tenant_label(namespace: &str, name: &str) -> String {
    format!("{namespace}.{name}")
}

impl ControlPlane {
    /// A [`Scope`] of this control plane, as its admin.
    pub async fn scope(&self, id: &str) -> anyhow::Result<Scope> {
        Ok(Scope::new(self.client().await?, id))
    }
}

/// A test's own platform (`e2e-<id>`, namespace `e2e-<id>`) and tenant namespaces
/// (`<id>-tinh-XX`).
pub struct Scope {
    pub client: Client,
    pub platform: String,
    pub namespace: String,
    pub prefix: String,
    namespaces: Mutex<BTreeSet<String>>,
}

impl Scope {
    pub fn new(client: Client, id: &str) -> Scope {
        Scope {
            client,
            platform: format!("e2e-{id}"),
            namespace: format!("e2e-{id}"),
            prefix: id.to_string(),
            namespaces: Mutex::default(),
        }
    }

    /// `platforms/dichvucong` as this scope's platform.
    pub fn platform_manifest(&self) -> anyhow::Result<Value> {
        platform_manifest(
            &workspace_root().join(PLATFORM_DIR),
            &self.platform,
            &self.namespace,
        )
    }

    /// Server-side applies the platform (as field manager `khaibao-e2e`).
    pub async fn apply_platform(&self, manifest: &Value) -> anyhow::Result<()> {
        let api: Api<Platform> = Api::all(self.client.clone());
        api.patch(
            &self.platform,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(manifest),
        )
        .await
        .with_context(|| format!("applying platform {}", self.platform))?;
        Ok(())
    }

    pub async fn get_platform(&self) -> anyhow::Result<Option<Platform>> {
        let api: Api<Platform> = Api::all(self.client.clone());
        Ok(api.get_opt(&self.platform).await?)
    }

    /// Applies this scope's platform and declares the provinces `codes` (every province when
    /// empty); waits until all of them are Ready.
    pub async fn install_platform_with_provinces(
        &self,
        codes: &[&str],
        timeout: Duration,
    ) -> anyhow::Result<()> {
        self.apply_platform(&self.platform_manifest()?).await?;
        let tenants = self.provinces(codes)?;
        self.create_tenants(&tenants).await?;
        self.wait_ready(tenants.len(), timeout).await?;
        Ok(())
    }

    /// Waits until the operator has reconciled the platform's current generation.
    pub async fn wait_platform_reconciled(&self, timeout: Duration) -> anyhow::Result<()> {
        wait_until(
            &format!("platform {} reconciled", self.platform),
            timeout,
            async || {
                let p = self.get_platform().await?.context("platform missing")?;
                let observed = p.status.as_ref().and_then(|s| s.observed_generation);
                ensure!(
                    observed.is_some() && observed == p.metadata.generation,
                    "observedGeneration {observed:?}, generation {:?}",
                    p.metadata.generation
                );
                Ok(())
            },
        )
        .await?;
        Ok(())
    }

    fn rename_namespace(&self, ns: &str) -> String {
        format!("{}-{ns}", self.prefix)
    }

    /// This scope's namespace of province `code`: `<prefix>-tinh-<code>`.
    pub fn province_namespace(&self, code: &str) -> String {
        self.rename_namespace(&format!("tinh-{code}"))
    }

    /// Tenant manifests of the provinces with these unit codes (every province when empty),
    /// moved to this scope's namespaces and platform. Namespaces are created by
    /// [`Scope::create_tenants`].
    pub fn provinces(&self, codes: &[&str]) -> anyhow::Result<Vec<Value>> {
        let dir = workspace_root().join(PROVINCES_DIR);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        let mut tenants = Vec::new();
        for file in files {
            for mut doc in read_yaml(&file)? {
                if doc["kind"] != "Tenant" {
                    continue;
                }
                let code = doc["spec"]["unit"]["code"].as_str().unwrap_or_default();
                if !codes.is_empty() && !codes.contains(&code) {
                    continue;
                }
                let ns = doc["metadata"]["namespace"]
                    .as_str()
                    .context("tenant without namespace")?;
                doc["metadata"]["namespace"] = json!(self.rename_namespace(ns));
                doc["spec"]["platform"] = json!(self.platform);
                tenants.push(doc);
            }
        }
        if !codes.is_empty() {
            ensure!(
                tenants.len() == codes.len(),
                "found {} of the provinces {codes:?}",
                tenants.len()
            );
        }
        Ok(tenants)
    }

    /// Creates the tenants' namespaces, then the tenants (server-side apply, 16 at once).
    pub async fn create_tenants(&self, tenants: &[Value]) -> anyhow::Result<()> {
        let namespaces: BTreeSet<String> = tenants
            .iter()
            .filter_map(|t| t["metadata"]["namespace"].as_str().map(String::from))
            .collect();
        let ns_api: Api<Namespace> = Api::all(self.client.clone());
        let params = PatchParams::apply(FIELD_MANAGER).force();
        futures::stream::iter(namespaces.iter())
            .map(|ns| {
                let (api, params) = (&ns_api, &params);
                async move {
                    let body =
                        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                    api.patch(ns, params, &Patch::Apply(&body))
                        .await
                        .with_context(|| format!("creating namespace {ns}"))
                }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await?;
        if let Ok(mut known) = self.namespaces.lock() {
            known.extend(namespaces);
        }
        futures::stream::iter(tenants)
            .map(|t| self.apply_tenant(t))
            .buffer_unordered(16)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }

    /// Server-side applies one tenant manifest (its namespace must exist).
    pub async fn apply_tenant(&self, t: &Value) -> anyhow::Result<()> {
        let ns = t["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = t["metadata"]["name"].as_str().unwrap_or_default();
        let api: Api<Tenant> = Api::namespaced(self.client.clone(), ns);
        api.patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(t),
        )
        .await
        .with_context(|| format!("applying tenant {ns}/{name}"))?;
        Ok(())
    }

    /// Moves a manifest of `examples/` into this scope: namespace `<prefix>-<namespace>` and,
    /// for Tenants and TenantSets, this scope's platform.
    pub fn scoped(&self, mut doc: Value) -> Value {
        if let Some(ns) = doc["metadata"]["namespace"].as_str() {
            doc["metadata"]["namespace"] = json!(self.rename_namespace(ns));
        }
        if doc["spec"].get("platform").is_some() {
            doc["spec"]["platform"] = json!(self.platform);
        }
        doc
    }

    /// Server-side applies a TenantSet (as field manager `khaibao-e2e`; its namespace must
    /// exist, e.g. made by [`Scope::create_tenants`]).
    pub async fn apply_tenant_set(&self, set: &Value) -> anyhow::Result<()> {
        let ns = set["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = set["metadata"]["name"].as_str().unwrap_or_default();
        let api: Api<TenantSet> = Api::namespaced(self.client.clone(), ns);
        api.patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(set),
        )
        .await
        .with_context(|| format!("applying tenantset {ns}/{name}"))?;
        Ok(())
    }

    pub async fn tenant_set(&self, namespace: &str, name: &str) -> anyhow::Result<TenantSet> {
        let api: Api<TenantSet> = Api::namespaced(self.client.clone(), namespace);
        api.get(name)
            .await
            .with_context(|| format!("reading tenantset {namespace}/{name}"))
    }

    /// Every Tenant of this scope's platform.
    pub async fn tenants(&self) -> anyhow::Result<Vec<Tenant>> {
        let api: Api<Tenant> = Api::all(self.client.clone());
        Ok(api
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|t| t.spec.platform == self.platform)
            .collect())
    }

    pub async fn tenant(&self, namespace: &str, name: &str) -> anyhow::Result<Option<Tenant>> {
        let api: Api<Tenant> = Api::namespaced(self.client.clone(), namespace);
        Ok(api.get_opt(name).await?)
    }

    /// Merge-patches `spec` of a tenant (as a user would with `kubectl patch --type merge`).
    pub async fn patch_tenant_spec(
        &self,
        namespace: &str,
        name: &str,
        spec: Value,
    ) -> anyhow::Result<()> {
        let api: Api<Tenant> = Api::namespaced(self.client.clone(), namespace);
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": spec })),
        )
        .await
        .with_context(|| format!("patching tenant {namespace}/{name}"))?;
        Ok(())
    }

    /// Waits until exactly `expected` tenants of the platform exist and all are Ready for their
    /// current generation.
    pub async fn wait_ready(&self, expected: usize, timeout: Duration) -> anyhow::Result<Duration> {
        wait_until(
            &format!("{expected} Ready tenants of {}", self.platform),
            timeout,
            async || {
                let tenants = self.tenants().await?;
                let not_ready: Vec<&Tenant> = tenants.iter().filter(|t| !tenant_ready(t)).collect();
                ensure!(
                    tenants.len() == expected && not_ready.is_empty(),
                    "{} tenants, {} not Ready{}",
                    tenants.len(),
                    not_ready.len(),
                    not_ready
                        .first()
                        .map(|t| format!(
                            ", e.g. {}/{}: {}",
                            t.namespace().unwrap_or_default(),
                            t.name_any(),
                            conditions_summary(t)
                        ))
                        .unwrap_or_default()
                );
                Ok(())
            },
        )
        .await
    }

    /// Every object labelled `khaibao.dev/platform=<platform>` in the platform namespace, of
    /// every kind dichvucong may produce.
    pub async fn objects(&self) -> anyhow::Result<Vec<Obj>> {
        let selector = format!("khaibao.dev/platform={}", self.platform);
        let kinds = [
            ApiResource::erase::<ConfigMap>(&()),
            ApiResource::erase::<Secret>(&()),
            ApiResource::erase::<Service>(&()),
            ApiResource::erase::<Ingress>(&()),
            ApiResource::erase::<NetworkPolicy>(&()),
            ApiResource::erase::<Deployment>(&()),
        ];
        let mut out = Vec::new();
        for ar in kinds {
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), &self.namespace, &ar);
            for o in api.list(&ListParams::default().labels(&selector)).await? {
                out.push(Obj {
                    kind: ar.kind.clone(),
                    name: o.name_any(),
                    uid: o.uid().unwrap_or_default(),
                    resource_version: o.resource_version().unwrap_or_default(),
                    labels: o.labels().clone(),
                    raw: o.data,
                });
            }
        }
        Ok(out)
    }

    /// Objects of one tenant (by its `khaibao.dev/tenant` label).
    pub async fn tenant_objects(&self, namespace: &str, name: &str) -> anyhow::Result<Vec<Obj>> {
        let label = tenant_label(namespace, name);
        Ok(self
            .objects()
            .await?
            .into_iter()
            .filter(|o| o.tenant() == Some(label.as_str()))
            .collect())
    }

    /// The generated Secrets of this platform: name → key → value.
    pub async fn generated_secrets(
        &self,
    ) -> anyhow::Result<BTreeMap<String, BTreeMap<String, Vec<u8>>>> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let selector = format!("khaibao.dev/platform={}", self.platform);
        Ok(api
            .list(&ListParams::default().labels(&selector))
            .await?
            .items
            .into_iter()
            .filter(|s| {
                s.annotations()
                    .get("khaibao.dev/generated-secret")
                    .is_some_and(|v| v == "true")
            })
            .map(|s| (s.name_any(), secret_data(s)))
            .collect())
    }

    /// Deletes the TenantSets, the tenants (the operator removes their objects and
    /// finalizers), then the platform, then the namespaces.
    pub async fn cleanup(&self) -> anyhow::Result<()> {
        // TenantSets first, or they would make their tenants again.
        let known: Vec<String> = self
            .namespaces
            .lock()
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default();
        for ns in &known {
            let api: Api<TenantSet> = Api::namespaced(self.client.clone(), ns);
            for set in api.list(&ListParams::default()).await?.items {
                let _ = api.delete(&set.name_any(), &DeleteParams::default()).await;
            }
        }
        for t in self.tenants().await? {
            let api: Api<Tenant> =
                Api::namespaced(self.client.clone(), &t.namespace().unwrap_or_default());
            let _ = api.delete(&t.name_any(), &DeleteParams::default()).await;
        }
        wait_until(
            &format!("tenants of {} deleted", self.platform),
            Duration::from_secs(90),
            async || {
                let n = self.tenants().await?.len();
                ensure!(n == 0, "{n} tenants left");
                Ok(())
            },
        )
        .await?;
        let api: Api<Platform> = Api::all(self.client.clone());
        let _ = api.delete(&self.platform, &DeleteParams::default()).await;
        wait_until(
            &format!("platform {} deleted", self.platform),
            Duration::from_secs(60),
            async || {
                ensure!(self.get_platform().await?.is_none(), "still there");
                Ok(())
            },
        )
        .await?;
        let ns_api: Api<Namespace> = Api::all(self.client.clone());
        let mut namespaces: Vec<String> = self
            .namespaces
            .lock()
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default();
        namespaces.push(self.namespace.clone());
        for ns in namespaces {
            let _ = ns_api.delete(&ns, &DeleteParams::background()).await;
        }
        Ok(())
    }
}

/// `Ready=False (Reason): message; Rendered=...` for failure messages.
pub fn conditions_summary(t: &Tenant) -> String {
    let Some(status) = &t.status else {
        return "no status".into();
    };
    status
        .conditions
        .iter()
        .map(|c| format!("{}={} ({}): {}", c.type_, c.status, c.reason, c.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every Event in the cluster (core/v1 and events.k8s.io/v1) as one JSON text, to grep.
pub async fn events_text(client: &Client) -> anyhow::Result<String> {
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::all(client.clone());
    let new: Api<k8s_openapi::api::events::v1::Event> = Api::all(client.clone());
    let a = core.list(&ListParams::default()).await?;
    let b = new.list(&ListParams::default()).await?;
    Ok(format!(
        "{}\n{}",
        serde_json::to_string(&a.items)?,
        serde_json::to_string(&b.items)?
    ))
}

/// Fails if any generated secret value appears in an operator log, an Event, or the status of
/// a Tenant or Platform. Never prints the values themselves.
pub async fn assert_no_secret_leaks(
    client: &Client,
    secrets: &BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    logs: &[PathBuf],
) -> anyhow::Result<()> {
    assert_no_secret_leaks_in(client, secrets, logs, Vec::new()).await
}

/// [`assert_no_secret_leaks`], also over TenantSets and `more` (place, text): the operator's
/// metrics, CLI output, error messages. Each value is looked for as it is and base64-encoded
/// (as a serialized Secret would carry it).
pub async fn assert_no_secret_leaks_in(
    client: &Client,
    secrets: &BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    logs: &[PathBuf],
    more: Vec<(String, String)>,
) -> anyhow::Result<()> {
    ensure!(!secrets.is_empty(), "no generated secrets to look for");
    let mut haystacks: Vec<(String, String)> = more;
    for log in logs {
        let text = std::fs::read_to_string(log)
            .with_context(|| format!("cannot read {}", log.display()))?;
        ensure!(!text.is_empty(), "{} is empty", log.display());
        haystacks.push((log.display().to_string(), text));
    }
    haystacks.push(("Events".into(), events_text(client).await?));
    let tenants: Api<Tenant> = Api::all(client.clone());
    let platforms: Api<Platform> = Api::all(client.clone());
    let sets: Api<khaibao::api::TenantSet> = Api::all(client.clone());
    haystacks.push((
        "Tenants".into(),
        serde_json::to_string(&tenants.list(&ListParams::default()).await?.items)?,
    ));
    haystacks.push((
        "Platforms".into(),
        serde_json::to_string(&platforms.list(&ListParams::default()).await?.items)?,
    ));
    haystacks.push((
        "TenantSets".into(),
        serde_json::to_string(&sets.list(&ListParams::default()).await?.items)?,
    ));
    let mut leaks = Vec::new();
    for (secret, data) in secrets {
        for (key, value) in data {
            let value = String::from_utf8_lossy(value);
            ensure!(
                value.len() >= 8,
                "generated value {secret}/{key} is too short to search for"
            );
            let encoded = k8s_openapi::ByteString(value.as_bytes().to_vec());
            let encoded = serde_json::to_value(&encoded)?;
            let encoded = encoded.as_str().unwrap_or_default().to_string();
            for (place, text) in &haystacks {
                if text.contains(value.as_ref()) || text.contains(&encoded) {
                    leaks.push(format!("{secret}/{key} appears in {place}"));
                }
            }
        }
    }
    ensure!(
        leaks.is_empty(),
        "generated secret values leaked: {}",
        leaks.join(", ")
    );
    Ok(())
}
