//! The data of a run: the platform (`platforms/dichvucong`), a fleet of real units, and every
//! object the library's pure pipeline renders for them (what the raw baseline applies).

use std::collections::HashMap;

use anyhow::Context;
use khaibao::api::{Platform, Tenant};
use khaibao::pipeline::CompiledPlatform;
use khaibao::registry::Division;
use khaibao_e2e::scale::{Fleet, fleet};
use khaibao_e2e::{PLATFORM_DIR, platform_manifest, workspace_root};
use serde_json::{Value, json};

pub const PLATFORM: &str = "dichvucong";
pub const PLATFORM_NAMESPACE: &str = "dichvucong";

/// One size of the growth curve.
#[derive(Clone, Debug)]
pub struct Size {
    pub label: &'static str,
    pub division: Division,
    pub limit: Option<usize>,
}

/// ~1,000 (63 provinces and the first communes), ~3,300 (the 34-province division) and
/// ~10,100 (the 63-province division).
pub fn sizes() -> Vec<Size> {
    vec![
        Size {
            label: "1k",
            division: Division::D63,
            limit: Some(1_000),
        },
        Size {
            label: "3.3k",
            division: Division::D34,
            limit: None,
        },
        Size {
            label: "10.1k",
            division: Division::D63,
            limit: None,
        },
    ]
}

pub fn platform() -> anyhow::Result<Value> {
    platform_manifest(
        &workspace_root().join(PLATFORM_DIR),
        PLATFORM,
        PLATFORM_NAMESPACE,
    )
}

/// The template change of the benchmark: one more key in every tenant's portal ConfigMap.
pub fn changed_platform(manifest: &Value) -> Value {
    let mut m = manifest.clone();
    if let Some(list) = m["spec"]["templates"]["tenant"].as_array_mut() {
        for t in list {
            if t["name"] == "config.yaml.hbs"
                && let Some(text) = t["template"].as_str()
            {
                t["template"] = json!(format!("{text}  benchTemplateChange: \"1\"\n"));
            }
        }
    }
    m
}

pub struct Rendered {
    pub fleet: Fleet,
    /// Shared objects, then every tenant's objects (generated Secrets with stand-in values).
    pub shared: Vec<Value>,
    pub objects: Vec<Value>,
    /// Per tenant: (release name, Helm values).
    pub helm_values: Vec<(String, Value)>,
    /// Per tenant: the spec of its kro instance (`bench/peers/kro/dichvucong-rgd.yaml`).
    pub kro_specs: Vec<(String, Value)>,
    /// Per tenant, in fleet order: what its portal page must show.
    pub pages: Vec<PageKey>,
}

/// What tells a tenant's own page from a 404 or another unit's page: the host it is served at
/// and the unit it names, as its rendered `portal-config` ConfigMap gives them to the portal.
#[derive(Clone, Debug)]
pub struct PageKey {
    pub host: String,
    pub unit_code: String,
    pub unit_name: String,
}

/// Renders every tenant of `size` with the library's pipeline, as the operator would.
pub fn render(size: &Size) -> anyhow::Result<Rendered> {
    let manifest = platform()?;
    let platform: Platform = serde_json::from_value(manifest)?;
    let compiled = CompiledPlatform::compile(&platform)
        .map_err(|d| anyhow::anyhow!("platform does not compile: {d:?}"))?;
    let fleet = fleet(PLATFORM, size.division, size.limit);
    let tenants: Vec<Tenant> = fleet
        .tenants
        .iter()
        .map(|t| serde_json::from_value(t.clone()))
        .collect::<Result<_, _>>()?;
    let by_key: HashMap<(String, String), &Tenant> = tenants
        .iter()
        .map(|t| {
            (
                (
                    t.metadata.namespace.clone().unwrap_or_default(),
                    t.metadata.name.clone().unwrap_or_default(),
                ),
                t,
            )
        })
        .collect();
    let shared = compiled
        .render_shared()
        .map_err(|d| anyhow::anyhow!("shared templates: {d:?}"))?
        .into_iter()
        .map(|o| o.object)
        .collect();
    let mut objects = Vec::with_capacity(tenants.len() * 4);
    let mut helm_values = Vec::with_capacity(tenants.len());
    let mut kro_specs = Vec::with_capacity(tenants.len());
    let mut pages = Vec::with_capacity(tenants.len());
    for t in &tenants {
        let ns = t.metadata.namespace.clone().unwrap_or_default();
        let parent = t
            .spec
            .parent
            .as_ref()
            .and_then(|p| by_key.get(&(ns.clone(), p.clone())).copied());
        let r = compiled
            .render_tenant(t, parent)
            .map_err(|d| anyhow::anyhow!("{ns}/{:?}: {d:?}", t.metadata.name))?;
        objects.extend(r.objects.iter().map(|o| o.object.clone()));
        for s in &r.generated_secrets {
            let mut secret = s.object.clone();
            secret["data"] = json!({ "token": stand_in_token(&r.unit.code) });
            secret.as_object_mut().map(|o| o.remove("stringData"));
            objects.push(secret);
        }
        let first = r.objects.first().context("tenant renders nothing")?;
        let find = |suffix: &str| {
            r.objects
                .iter()
                .map(|o| &o.object)
                .find(|o| {
                    o["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.ends_with(suffix))
                })
                .cloned()
                .unwrap_or_default()
        };
        let (config, services, ingress) =
            (find("-portal-config"), find("-services"), find("-portal"));
        let text = |key: &str| config["data"][key].as_str().unwrap_or_default().to_string();
        let page = PageKey {
            host: text("host"),
            unit_code: text("unitCode"),
            unit_name: text("unitName"),
        };
        anyhow::ensure!(
            !page.host.is_empty() && !page.unit_name.is_empty(),
            "{ns}/{:?}: its portal-config ConfigMap has no host or unitName",
            t.metadata.name
        );
        pages.push(page);
        let stem = first.object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches("-portal-config")
            .to_string();
        kro_specs.push((
            format!("t-{}", r.unit.code),
            json!({
                "stem": stem,
                "targetNamespace": PLATFORM_NAMESPACE,
                "labels": first.object["metadata"]["labels"],
                "config": config["data"],
                "services": services["data"],
                "rateLimit": ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/limit-rpm"],
                "ingressClassName": ingress["spec"]["ingressClassName"],
                "host": ingress["spec"]["rules"][0]["host"],
                "token": stand_in_token(&r.unit.code),
            }),
        ));
        helm_values.push((
            format!("t-{}", r.unit.code),
            json!({
                "namespace": PLATFORM_NAMESPACE,
                "stem": stem,
                "labels": first.object["metadata"]["labels"],
                "unit": {
                    "code": r.unit.code, "name": r.unit.name, "level": r.unit.level.as_str(),
                    "type": r.unit.division_type, "slug": r.unit.slug,
                    "provinceCode": r.unit.province_code, "provinceName": r.unit.province_name,
                    "provinceSlug": r.unit.province_slug,
                },
                "values": r.values.value,
            }),
        ));
    }
    Ok(Rendered {
        fleet,
        shared,
        objects,
        helm_values,
        kro_specs,
        pages,
    })
}

/// A 40-character base64 stand-in for a generated value (its content does not matter here).
fn stand_in_token(code: &str) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x: u64 = code.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    (0..40)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            B64[(x % 64) as usize] as char
        })
        .collect()
}
