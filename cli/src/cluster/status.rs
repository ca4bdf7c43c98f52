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

pub fn run(
    g: &Global,
    cluster: &ClusterArgs,
    platform: Option<&str>,
    province: Option<&str>,
    format: StatusFormat,
) -> u8 {
    let lang = g.lang();
    let (platforms, tenants) = match block_on(fetch(cluster, platform)) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Some(code) = province {
        return drill_down(&tenants, &platforms, code, format, lang);
    }
    let summary = summarize(&platforms, &tenants);
    match format {
        StatusFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&summary).unwrap_or_default()
        ),
        StatusFormat::Yaml => print!("{}", khaibao::yaml::to_yaml_document(&json!(summary))),
        StatusFormat::Table => print_table(&summary, lang),
    }
    0
}

/// Platforms (all, or the one named) and every Tenant, or the exit code after an error.
pub async fn fetch(
    cluster: &ClusterArgs,
    platform: Option<&str>,
) -> Result<(Vec<Platform>, Vec<Tenant>), u8> {
    let client = cluster.client().await.map_err(|e| {
        eprintln!("error: {e}");
        USAGE
    })?;
    let platforms: Api<Platform> = Api::all(client.clone());
    let tenants: Api<Tenant> = Api::all(client.clone());
    let (platforms, tenants) = match (
        platforms.list(&ListParams::default()).await,
        tenants.list(&ListParams::default()).await,
    ) {
        (Ok(p), Ok(t)) => (p.items, t.items),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {}", explain(&e));
            return Err(USAGE);
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
        return Err(USAGE);
    }
    Ok((platforms, tenants))
}

/// The national picture per platform: counts, one row per province, tenants not Ready.
pub fn summarize(platforms: &[Platform], tenants: &[Tenant]) -> Vec<serde_json::Value> {
    let mut summary = Vec::new();
    for p in platforms {
        let name = p.name_any();
        let mine: Vec<&Tenant> = tenants.iter().filter(|t| t.spec.platform == name).collect();
        let ready = mine.iter().filter(|t| is_ready(t)).count();
        let by_level =
            |level: khaibao::api::Level| mine.iter().filter(|t| t.spec.unit.level == level).count();
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
        // During a rollout, "on revision" counts the tenants already on its target.
        let rollout = p
            .status
            .as_ref()
            .and_then(|s| s.rollout.clone())
            .filter(|r| r.is_active());
        let revision = rollout
            .as_ref()
            .map(|r| r.to.clone())
            .or_else(|| p.status.as_ref().and_then(|s| s.revision.clone()))
            .unwrap_or_default();
        // Reform plans still moving (the finished ones are history).
        let reforms: Vec<serde_json::Value> = p
            .status
            .iter()
            .flat_map(|s| &s.reforms)
            .filter(|r| r.phase != "Complete")
            .map(|r| json!({"plan": r.plan, "phase": r.phase, "successors": r.successors,
                "successorsReady": r.successors_ready, "predecessorsRetired": r.predecessors_retired,
                "predecessorsPending": r.predecessors_pending, "message": r.message}))
            .collect();
        summary.push(json!({
            "reforms": reforms,
            "provincesTable": by_province(&mine, &revision),
            "platform": name,
            "displayName": p.spec.display_name,
            "revision": p.status.as_ref().and_then(|s| s.revision.clone()),
            "rollout": rollout.map(|r| json!({"from": r.from, "to": r.to, "phase": r.phase,
                "wavesStarted": r.waves_started, "waves": r.waves, "onTarget": r.on_target,
                "ready": r.ready, "failed": r.failed})),
            "tenants": mine.len(), "ready": ready, "notReady": mine.len() - ready,
            "provinces": by_level(khaibao::api::Level::Province), "communes": by_level(khaibao::api::Level::Commune),
            "notReadyTenants": failing,
        }));
    }
    summary
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
            match s["rollout"].as_object() {
                Some(r) => format!(
                    "{} → {} ({} {}/{})",
                    r["from"].as_str().unwrap_or("-"),
                    r["to"].as_str().unwrap_or("-"),
                    r["phase"].as_str().unwrap_or("-"),
                    r["wavesStarted"],
                    r["waves"]
                ),
                None => s["revision"].as_str().unwrap_or("-").to_string(),
            },
            s["tenants"].to_string(),
            s["ready"].to_string(),
            s["notReady"].to_string(),
            s["provinces"].to_string(),
            s["communes"].to_string(),
        ]);
    }
    println!("{t}");
    print_reforms(summary, vi);
    for s in summary {
        let rows = s["provincesTable"].as_array().cloned().unwrap_or_default();
        if rows.is_empty() {
            continue;
        }
        let mut pt = comfy_table::Table::new();
        pt.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
        pt.set_header(if vi {
            vec![
                "MÃ",
                "TỈNH",
                "TỈNH SẴN SÀNG",
                "XÃ/PHƯỜNG SẴN SÀNG",
                "LỖI",
                "PHIÊN BẢN MỚI",
            ]
        } else {
            vec![
                "CODE",
                "PROVINCE",
                "PROVINCE READY",
                "COMMUNES READY",
                "FAILING",
                "ON REVISION",
            ]
        });
        for r in rows {
            pt.add_row(vec![
                r["code"].as_str().unwrap_or_default().to_string(),
                r["name"].as_str().unwrap_or_default().to_string(),
                r["provinceReady"].as_str().unwrap_or_default().to_string(),
                format!("{}/{}", r["communesReady"], r["communes"]),
                r["failing"].to_string(),
                format!("{}/{}", r["onRevision"], r["tenants"]),
            ]);
        }
        println!(
            "{} {}",
            if vi { "Nền tảng" } else { "Platform" },
            s["platform"].as_str().unwrap_or_default()
        );
        println!("{pt}");
    }
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

/// The reform plans in progress: successors Ready, predecessors retired and still pending.
fn print_reforms(summary: &[serde_json::Value], vi: bool) {
    let rows: Vec<(&str, &serde_json::Value)> = summary
        .iter()
        .flat_map(|s| {
            let platform = s["platform"].as_str().unwrap_or_default();
            s["reforms"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |r| (platform, r))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    t.set_header(if vi {
        vec![
            "NỀN TẢNG",
            "KẾ HOẠCH SẮP XẾP",
            "GIAI ĐOẠN",
            "KẾ NHIỆM SẴN SÀNG",
            "ĐÃ THÔI DÙNG",
            "CÒN CHỜ",
        ]
    } else {
        vec![
            "PLATFORM",
            "REFORM PLAN",
            "PHASE",
            "SUCCESSORS READY",
            "PREDECESSORS RETIRED",
            "PENDING",
        ]
    });
    for (platform, r) in &rows {
        t.add_row(vec![
            platform.to_string(),
            r["plan"].as_str().unwrap_or_default().to_string(),
            r["phase"].as_str().unwrap_or_default().to_string(),
            format!("{}/{}", r["successorsReady"], r["successors"]),
            r["predecessorsRetired"].to_string(),
            r["predecessorsPending"].to_string(),
        ]);
    }
    println!("{t}");
    for (_, r) in rows
        .iter()
        .filter(|(_, r)| r["phase"] == "AwaitingApproval")
    {
        println!("{}", r["message"].as_str().unwrap_or_default());
    }
}

/// One row per province: its own tenant, its communes, failures, and how many are on the
/// platform's current revision.
fn by_province(tenants: &[&Tenant], revision: &str) -> Vec<serde_json::Value> {
    let mut rows: std::collections::BTreeMap<String, serde_json::Value> =
        std::collections::BTreeMap::new();
    for t in tenants {
        let u = &t.spec.unit;
        let code = u.province_code.clone().unwrap_or_else(|| u.code.clone());
        let division: khaibao::registry::Division = u
            .division
            .as_deref()
            .unwrap_or("34")
            .parse()
            .unwrap_or_default();
        let name = khaibao::registry::units(division)
            .province(&code)
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let row = rows.entry(code.clone()).or_insert_with(|| {
            json!({"code": code, "name": name, "provinceReady": "-", "communes": 0, "communesReady": 0, "failing": 0, "onRevision": 0, "tenants": 0})
        });
        let ready = is_ready(t);
        let inc =
            |row: &mut serde_json::Value, k: &str| row[k] = json!(row[k].as_i64().unwrap_or(0) + 1);
        inc(row, "tenants");
        if t.status.as_ref().and_then(|s| s.revision.as_deref()) == Some(revision) {
            inc(row, "onRevision");
        }
        if !ready
            && t.status
                .as_ref()
                .is_some_and(|s| condition(&s.conditions, READY).is_some())
        {
            inc(row, "failing");
        }
        match u.level {
            khaibao::api::Level::Province => {
                row["provinceReady"] = json!(if ready { "✓" } else { "✗" })
            }
            khaibao::api::Level::Commune => {
                inc(row, "communes");
                if ready {
                    inc(row, "communesReady");
                }
            }
        }
    }
    rows.into_values().collect()
}

/// `--province CODE`: every tenant of one province (its own and its communes').
fn drill_down(
    tenants: &[Tenant],
    platforms: &[Platform],
    code: &str,
    format: StatusFormat,
    lang: Lang,
) -> u8 {
    let names: Vec<String> = platforms.iter().map(|p| p.name_any()).collect();
    let rows: Vec<serde_json::Value> = tenants
        .iter()
        .filter(|t| names.contains(&t.spec.platform))
        .filter(|t| t.spec.unit.code == code || t.spec.unit.province_code.as_deref() == Some(code))
        .map(|t| {
            let c = t
                .status
                .as_ref()
                .and_then(|s| condition(&s.conditions, READY));
            json!({
                "tenant": format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any()),
                "platform": t.spec.platform,
                "unit": format!("{} {}", t.spec.unit.code, t.spec.unit.name),
                "ready": is_ready(t),
                "reason": c.map(|c| c.reason.clone()).unwrap_or_else(|| "Pending".into()),
                "revision": t.status.as_ref().and_then(|s| s.revision.clone()),
                "endpoint": t.status.as_ref().and_then(|s| s.endpoint.clone()),
            })
        })
        .collect();
    if rows.is_empty() {
        eprintln!("error: no tenant of province {code:?} in the cluster");
        return USAGE;
    }
    match format {
        StatusFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        ),
        StatusFormat::Yaml => print!("{}", khaibao::yaml::to_yaml_document(&json!(rows))),
        StatusFormat::Table => {
            let vi = lang == Lang::Vi;
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
            t.set_header(if vi {
                vec![
                    "ĐƠN VỊ",
                    "NỀN TẢNG",
                    "MÃ",
                    "SẴN SÀNG",
                    "LÝ DO",
                    "PHIÊN BẢN",
                    "ĐỊA CHỈ",
                ]
            } else {
                vec![
                    "TENANT", "PLATFORM", "UNIT", "READY", "REASON", "REVISION", "ENDPOINT",
                ]
            });
            for r in &rows {
                t.add_row(vec![
                    r["tenant"].as_str().unwrap_or_default().to_string(),
                    r["platform"].as_str().unwrap_or_default().to_string(),
                    r["unit"].as_str().unwrap_or_default().to_string(),
                    if r["ready"].as_bool() == Some(true) {
                        "✓".into()
                    } else {
                        "✗".into()
                    },
                    r["reason"].as_str().unwrap_or_default().to_string(),
                    r["revision"].as_str().unwrap_or("-").to_string(),
                    r["endpoint"].as_str().unwrap_or("-").to_string(),
                ]);
            }
            println!("{t}");
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use khaibao::api::{Platform, PlatformStatus, ReformStatus};

    #[test]
    fn reforms_in_progress_are_summarized_and_finished_ones_left_out() {
        let mut p = Platform::new("dichvucong", Default::default());
        let reform = |plan: &str, phase: &str| ReformStatus {
            plan: plan.into(),
            phase: phase.into(),
            successors: 34,
            successors_ready: 34,
            predecessors_retired: 20,
            predecessors_pending: 9,
            message: Some("approve with: khaibao approve reform p1 --platform dichvucong".into()),
        };
        p.status = Some(PlatformStatus {
            reforms: vec![reform("p1", "AwaitingApproval"), reform("p0", "Complete")],
            ..Default::default()
        });
        let summary = super::summarize(&[p], &[]);
        let reforms = summary[0]["reforms"].as_array().unwrap();
        assert_eq!(reforms.len(), 1);
        assert_eq!(reforms[0]["plan"], "p1");
        assert_eq!(
            (
                &reforms[0]["predecessorsRetired"],
                &reforms[0]["predecessorsPending"]
            ),
            (&serde_json::json!(20), &serde_json::json!(9))
        );
    }
}
