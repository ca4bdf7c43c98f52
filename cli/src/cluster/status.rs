//! `khaibao status`: one screen a provincial IT officer can read. Per platform: revision and
//! tenants by condition and level; then every tenant that is not Ready, with its reason.

use khaibao::api::{Platform, Tenant};
use khaibao::diagnostics::Lang;
use khaibao::status::{READY, condition};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde_json::json;

use super::{ClusterArgs, block_on, explain};
use crate::commands::USAGE;
use crate::{Global, StatusFormat};

pub fn run(g: &Global, cluster: &ClusterArgs, platform: Option<&str>, format: StatusFormat) -> u8 {
    let lang = g.lang();
    block_on(async {
        let client = match cluster.client().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return USAGE;
            }
        };
        let platforms: Api<Platform> = Api::all(client.clone());
        let tenants: Api<Tenant> = Api::all(client.clone());
        let (platforms, tenants) = match (
            platforms.list(&ListParams::default()).await,
            tenants.list(&ListParams::default()).await,
        ) {
            (Ok(p), Ok(t)) => (p.items, t.items),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("error: {}", explain(&e));
                return USAGE;
            }
        };
        let platforms: Vec<Platform> = platforms
            .into_iter()
            .filter(|p| platform.is_none_or(|n| p.name_any() == n))
            .collect();
        if let Some(n) = platform
            && platforms.is_empty()
        {
            eprintln!("error: no platform named {n:?} in the cluster");
            return USAGE;
        }
        let mut summary = Vec::new();
        for p in &platforms {
            let name = p.name_any();
            let mine: Vec<&Tenant> = tenants.iter().filter(|t| t.spec.platform == name).collect();
            let ready = mine.iter().filter(|t| is_ready(t)).count();
            let by_level = |level: khaibao::api::Level| {
                mine.iter().filter(|t| t.spec.unit.level == level).count()
            };
            let failing: Vec<serde_json::Value> = mine
                .iter()
                .filter(|t| !is_ready(t))
                .map(|t| {
                    let c = t.status.as_ref().and_then(|s| condition(&s.conditions, READY));
                    json!({
                        "tenant": format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any()),
                        "unit": format!("{} {}", t.spec.unit.code, t.spec.unit.name),
                        "reason": c.map(|c| c.reason.clone()).unwrap_or_else(|| "Pending".into()),
                        "message": c.map(|c| c.message.clone()).unwrap_or_else(|| "not reconciled yet".into()),
                    })
                })
                .collect();
            summary.push(json!({
                "platform": name,
                "displayName": p.spec.display_name,
                "revision": p.status.as_ref().and_then(|s| s.revision.clone()),
                "tenants": mine.len(), "ready": ready, "notReady": mine.len() - ready,
                "provinces": by_level(khaibao::api::Level::Province), "communes": by_level(khaibao::api::Level::Commune),
                "notReadyTenants": failing,
            }));
        }
        match format {
            StatusFormat::Json => println!(
                "{}",
                serde_json::to_string_pretty(&summary).unwrap_or_default()
            ),
            StatusFormat::Yaml => print!("{}", khaibao::yaml::to_yaml_document(&json!(summary))),
            StatusFormat::Table => print_table(&summary, lang),
        }
        0
    })
}

fn is_ready(t: &Tenant) -> bool {
    t.status
        .as_ref()
        .is_some_and(|s| khaibao::status::is_true(&s.conditions, READY))
}

fn print_table(summary: &[serde_json::Value], lang: Lang) {
    let vi = lang == Lang::Vi;
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    t.set_header(if vi {
        vec![
            "NỀN TẢNG",
            "PHIÊN BẢN",
            "ĐƠN VỊ",
            "SẴN SÀNG",
            "CHƯA SẴN SÀNG",
            "TỈNH",
            "XÃ/PHƯỜNG",
        ]
    } else {
        vec![
            "PLATFORM",
            "REVISION",
            "TENANTS",
            "READY",
            "NOT READY",
            "PROVINCES",
            "COMMUNES",
        ]
    });
    for s in summary {
        t.add_row(vec![
            format!(
                "{} ({})",
                s["platform"].as_str().unwrap_or_default(),
                s["displayName"].as_str().unwrap_or_default()
            ),
            s["revision"].as_str().unwrap_or("-").to_string(),
            s["tenants"].to_string(),
            s["ready"].to_string(),
            s["notReady"].to_string(),
            s["provinces"].to_string(),
            s["communes"].to_string(),
        ]);
    }
    println!("{t}");
    let failing: Vec<&serde_json::Value> = summary
        .iter()
        .flat_map(|s| s["notReadyTenants"].as_array().into_iter().flatten())
        .collect();
    if failing.is_empty() {
        println!(
            "{}",
            if vi {
                "Mọi đơn vị đều sẵn sàng."
            } else {
                "All tenants are Ready."
            }
        );
        return;
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    t.set_header(if vi {
        vec!["ĐƠN VỊ", "MÃ", "LÝ DO", "CHI TIẾT"]
    } else {
        vec!["TENANT", "UNIT", "REASON", "MESSAGE"]
    });
    for f in failing.iter().take(50) {
        let msg: String = f["message"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(100)
            .collect();
        t.add_row(vec![
            f["tenant"].as_str().unwrap_or_default().to_string(),
            f["unit"].as_str().unwrap_or_default().to_string(),
            f["reason"].as_str().unwrap_or_default().to_string(),
            msg,
        ]);
    }
    println!("{t}");
    if failing.len() > 50 {
        println!(
            "... and {} more (khaibao status -o json lists them all)",
            failing.len() - 50
        );
    }
}
