//! `khaibao reform plan`: the current Tenants and TenantSets (files, or the live cluster) in,
//! successor declarations and the plan out. The plan itself is the library's pure
//! `khaibao::reform::plan`; this module reads, prints and writes.
//! Exit codes: 0 the plan is complete, 1 conflicts/unmapped units/problems remain, 2 usage.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use khaibao::diagnostics::Lang;
use khaibao::reform::{Plan, Request, Source, plan, plan_json};
use khaibao::registry::Division;
use serde_json::Value;

use super::{INVALID, USAGE, load};
use crate::Global;
use crate::cluster::ClusterArgs;
use crate::input::{DocRef, Inputs};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PlanFormat {
    Table,
    Json,
    Yaml,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The division the tenants are declared in now
    #[arg(long, value_name = "DIVISION", default_value = "63")]
    pub from: String,
    /// The division to move them to
    #[arg(long, value_name = "DIVISION", default_value = "34")]
    pub to: String,
    /// YAML of `successor (namespace/name) → JSON pointer → value` settling conflicts
    #[arg(long, value_name = "FILE")]
    pub resolve: Option<PathBuf>,
    /// Where an old unit goes when the official mapping does not say: OLD=NEW (NEW,NEW for a split)
    #[arg(long, value_name = "OLD=NEW")]
    pub assign: Vec<String>,
    /// Write the successor declarations and reform-plan.json to this folder
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The end of the transition: predecessors' host names and keys are honoured until then
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub transition_until: Option<String>,
    #[arg(short, long, value_enum, default_value_t = PlanFormat::Table)]
    pub output: PlanFormat,
    /// Read the live Tenants and TenantSets instead of files
    #[arg(long)]
    pub cluster: bool,
    /// Only tenants of this platform
    #[arg(long)]
    pub platform: Option<String>,
    #[command(flatten)]
    pub cluster_args: ClusterArgs,
    /// Tenant and TenantSet files or folders (not with --cluster)
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Where each plan source came from, to turn a JSON pointer into `file:line`.
enum Origins {
    Files(Box<Inputs>, Vec<DocRef>),
    Cluster,
}

impl Origins {
    fn at(&self, source: usize, pointer: &str) -> Option<String> {
        match self {
            Origins::Files(inputs, refs) => {
                let at = *refs.get(source)?;
                let path = inputs.path(at).display().to_string();
                Some(match inputs.location(at, pointer) {
                    Some(l) => format!("{path}:{}", l.line),
                    None => path,
                })
            }
            Origins::Cluster => None,
        }
    }
}

fn usage(msg: String) -> u8 {
    eprintln!("error: {msg}");
    USAGE
}

pub fn plan_command(g: &Global, args: &PlanArgs) -> u8 {
    let lang = g.lang();
    let (from, to) = match (args.from.parse::<Division>(), args.to.parse::<Division>()) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return usage(e),
    };
    if from == Division::D34 && to == Division::D63 {
        return usage(
            "the 63-province division is history: plans go forward (--from 63 --to 34)".into(),
        );
    }
    if args.cluster != args.paths.is_empty() {
        return usage("give the tenant files or folders to plan, or --cluster to read the live tenants (not both)".into());
    }
    let mut request = Request {
        from,
        to,
        platform: args.platform.clone(),
        transition_until: args.transition_until.clone(),
        ..Default::default()
    };
    if let Some(u) = &request.transition_until
        && !is_date(u)
    {
        return usage(format!(
            "--transition-until {u:?} is not a date; write it as YYYY-MM-DD"
        ));
    }
    for a in &args.assign {
        match parse_assignment(a) {
            Ok((old, new)) => {
                request.assignments.insert(old, new);
            }
            Err(e) => return usage(e),
        }
    }
    if let Some(file) = &args.resolve {
        match read_resolutions(file) {
            Ok(r) => request.resolutions = r,
            Err(e) => return usage(e),
        }
    }
    let mut grants = None;
    let (sources, origins) = if args.cluster {
        match crate::cluster::reform::read_sources(&args.cluster_args) {
            Ok((s, g)) => {
                grants = Some(g);
                (s, Origins::Cluster)
            }
            Err(e) => return usage(e),
        }
    } else {
        let inputs = match load(g, &args.paths) {
            Ok(i) => i,
            Err(code) => return code,
        };
        if !inputs.problems.is_empty() {
            crate::report::print_all(&inputs.problems, lang);
            return INVALID;
        }
        let (sources, refs) = file_sources(&inputs);
        (sources, Origins::Files(Box::new(inputs), refs))
    };
    if let Origins::Files(inputs, _) = &origins {
        for (name, p) in &inputs.platforms {
            request.generated_secrets.insert(
                name.clone(),
                p.platform
                    .spec
                    .generated_secrets
                    .iter()
                    .map(|s| s.name.clone())
                    .collect(),
            );
        }
    }
    let plan = plan(&sources, &request);
    let mut json = plan_json(&plan, &|s, p| origins.at(s, p));
    if let Some(g) = &grants {
        json["grants"] = grants_json(&plan, g);
    }
    if let Some(dir) = &args.out
        && let Err(e) = write_out(dir, &plan, &json)
    {
        return usage(e);
    }
    match args.output {
        PlanFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        ),
        PlanFormat::Yaml => print!("{}", khaibao::yaml::to_yaml_document(&json)),
        PlanFormat::Table => print!("{}", table(&plan, &json, lang, args.out.as_deref())),
    }
    if plan.is_complete() { 0 } else { INVALID }
}

/// Province grants that follow the plan: staff of a merged province get the successor's
/// namespace (`khaibao province grant NEW --group G`); the old grant goes with its namespace.
fn grants_json(plan: &Plan, grants: &Result<Vec<crate::cluster::reform::Grant>, String>) -> Value {
    let grants = match grants {
        Ok(g) => g,
        Err(e) => return serde_json::json!({"error": format!("province grants not read: {e}")}),
    };
    let mut out = Vec::new();
    for g in grants {
        let Some(old) = g.namespace.strip_prefix("tinh-") else {
            continue;
        };
        let new = if plan.from == plan.to {
            None
        } else {
            khaibao::registry::merged_into(old).map(|p| p.code.clone())
        };
        let Some(new) = new.filter(|n| n != old) else {
            continue;
        };
        out.push(serde_json::json!({
            "group": g.group, "from": g.namespace, "to": format!("tinh-{new}"),
            "command": format!("khaibao province grant {new} --group {}", g.group),
        }));
    }
    Value::Array(out)
}

/// The hand-written Tenants and every TenantSet, with where each was read.
fn file_sources(inputs: &Inputs) -> (Vec<Source>, Vec<DocRef>) {
    let mut sources = Vec::new();
    let mut refs = Vec::new();
    for t in inputs.tenants.iter().filter(|t| !t.from_set) {
        sources.push(Source::Tenant(t.tenant.clone()));
        refs.push(t.at);
    }
    for (set, at) in inputs.tenant_sets.iter().zip(&inputs.tenant_set_docs) {
        if let Ok(s) = serde_json::from_value(set.clone()) {
            sources.push(Source::Set(s));
            refs.push(*at);
        }
    }
    (sources, refs)
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && matches!(s[5..7].parse::<u8>(), Ok(1..=12))
        && matches!(s[8..10].parse::<u8>(), Ok(1..=31))
}

fn parse_assignment(a: &str) -> Result<(String, Vec<String>), String> {
    let bad = || {
        format!(
            "--assign {a:?}: write OLD=NEW with unit codes, e.g. --assign 01651=01648 (NEW,NEW for a split)"
        )
    };
    let (old, new) = a.split_once('=').ok_or_else(bad)?;
    let new: Vec<String> = new.split(',').map(|s| s.trim().to_string()).collect();
    let is_code = |c: &str| (c.len() == 2 || c.len() == 5) && c.bytes().all(|b| b.is_ascii_digit());
    if !is_code(old.trim()) || new.iter().any(|c| !is_code(c)) {
        return Err(bad());
    }
    Ok((old.trim().to_string(), new))
}

/// Reads `successor → pointer → value`; every shape error names the line.
fn read_resolutions(file: &Path) -> Result<BTreeMap<String, BTreeMap<String, Value>>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    let docs = khaibao::yaml::parse_stream(&text, true).map_err(|e| {
        format!(
            "{}:{}:{}: invalid YAML: {}",
            file.display(),
            e.location.line,
            e.location.column,
            e.message
        )
    })?;
    let mut out = BTreeMap::new();
    for d in docs {
        if d.value.is_null() {
            continue;
        }
        let line = |p: &str| {
            d.positions
                .key(p)
                .or_else(|| d.positions.value(p))
                .map_or(1, |l| l.line)
        };
        let Value::Object(m) = &d.value else {
            return Err(format!(
                "{}:{}: a resolve file maps each successor (namespace/name) to its settled values, e.g.\n  tinh-08/tuyen-quang:\n    /contact/hotline: \"0207 3822 222\"",
                file.display(),
                line("")
            ));
        };
        for (successor, paths) in m {
            let ptr = format!("/{}", successor.replace('~', "~0").replace('/', "~1"));
            if !successor.contains('/') {
                return Err(format!(
                    "{}:{}: {successor:?} is not namespace/name; name the successor as the plan does, e.g. tinh-08/tuyen-quang",
                    file.display(),
                    line(&ptr)
                ));
            }
            let Value::Object(paths) = paths else {
                return Err(format!(
                    "{}:{}: under {successor} write `/json/pointer: value` lines",
                    file.display(),
                    line(&ptr)
                ));
            };
            let entry: &mut BTreeMap<String, Value> = out.entry(successor.clone()).or_default();
            for (p, v) in paths {
                if !p.starts_with('/') {
                    return Err(format!(
                        "{}:{}: {p:?} is not a JSON pointer; write it as the plan lists it, e.g. /contact/hotline",
                        file.display(),
                        line(&format!(
                            "{ptr}/{}",
                            p.replace('~', "~0").replace('/', "~1")
                        ))
                    ));
                }
                entry.insert(p.clone(), v.clone());
            }
        }
    }
    Ok(out)
}

/// The first line of every file the plan writes: a later run replaces only such files.
const HEADER: &str =
    "# Written by `khaibao reform plan`; review, then `khaibao apply` this folder.";

fn write_out(dir: &Path, plan: &Plan, json: &Value) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    // A plan run again replaces its own earlier files (a province merged away must not leave
    // its old file behind) and never touches anything else in the folder.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            let ours = p.extension().is_some_and(|x| x == "yaml")
                && std::fs::read_to_string(&p).is_ok_and(|t| t.starts_with(HEADER));
            if ours {
                std::fs::remove_file(&p)
                    .map_err(|e| format!("{}: cannot replace: {e}", p.display()))?;
            }
        }
    }
    let registry = khaibao::registry::units(plan.to);
    for (province, docs) in &plan.manifests {
        let slug = registry.province(province).map_or("", |p| p.slug.as_str());
        let path = dir.join(format!("{province}-{slug}.yaml"));
        let text = format!(
            "{HEADER}\n# Plan {} ({} → {}).\n{}",
            plan.id,
            plan.from,
            plan.to,
            khaibao::yaml::to_yaml_stream(docs)
        );
        std::fs::write(&path, text)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    }
    let path = dir.join("reform-plan.json");
    let text = serde_json::to_string_pretty(json).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

/// How many conflicts the table lists before pointing at `-o json`.
const TABLE_CONFLICTS: usize = 20;

fn table(plan: &Plan, json: &Value, lang: Lang, out: Option<&Path>) -> String {
    let s = &plan.summary;
    let vi = lang == Lang::Vi;
    let mut t = String::new();
    let open = s.conflicts - s.conflicts_resolved;
    let row = |t: &mut String, en: &str, vi_label: &str, v: String| {
        let label = if vi { vi_label } else { en };
        // Padded by characters, not bytes: Vietnamese labels are mostly multi-byte.
        let pad = 26usize.saturating_sub(label.chars().count());
        let _ = writeln!(t, "  {label}{} {v}", " ".repeat(pad));
    };
    let _ = writeln!(
        t,
        "{} {} ({} {} → {})",
        if vi {
            "Kế hoạch sắp xếp"
        } else {
            "Reform plan"
        },
        plan.id,
        if vi { "danh mục" } else { "division" },
        plan.from,
        plan.to
    );
    row(
        &mut t,
        "provinces merged",
        "tỉnh hợp nhất",
        format!("{} → {}", s.provinces_from, s.provinces_to),
    );
    row(
        &mut t,
        "communes",
        "xã/phường",
        format!("{} → {}", s.communes_from, s.communes_to),
    );
    row(
        &mut t,
        "conflicts",
        "xung đột",
        if vi {
            format!(
                "{} ({} đã giải quyết, {open} còn mở)",
                s.conflicts, s.conflicts_resolved
            )
        } else {
            format!(
                "{} ({} resolved, {open} open)",
                s.conflicts, s.conflicts_resolved
            )
        },
    );
    row(&mut t, "splits", "chia tách", s.splits.to_string());
    row(&mut t, "unmapped", "chưa ánh xạ", s.unmapped.to_string());
    row(
        &mut t,
        "secrets carried over",
        "khoá bí mật chuyển giao",
        if vi {
            format!(
                "{} tiếp nhận, {} giữ hiệu lực trong thời gian chuyển tiếp",
                s.secrets_adopted, s.secrets_kept
            )
        } else {
            format!(
                "{} adopted, {} kept valid for the transition",
                s.secrets_adopted, s.secrets_kept
            )
        },
    );
    row(
        &mut t,
        "host names carried over",
        "tên miền chuyển giao",
        if vi {
            format!(
                "{} ({} nay thuộc đơn vị mới cùng tên)",
                s.hosts_carried, s.hosts_taken
            )
        } else {
            format!(
                "{} ({} now belong to a new unit of the same name)",
                s.hosts_carried, s.hosts_taken
            )
        },
    );
    let conflicts = json["conflicts"].as_array().cloned().unwrap_or_default();
    let open_conflicts: Vec<&Value> = conflicts
        .iter()
        .filter(|c| c.get("resolved").is_none())
        .collect();
    if !open_conflicts.is_empty() {
        let _ = writeln!(
            t,
            "{}",
            if vi {
                "Xung đột còn mở:"
            } else {
                "Open conflicts:"
            }
        );
        for c in open_conflicts.iter().take(TABLE_CONFLICTS) {
            let place = |v: &Value| {
                let at = v["at"]
                    .as_str()
                    .map(|a| format!(", {a}"))
                    .unwrap_or_default();
                format!(
                    "{} ({}{at})",
                    v["value"],
                    v["from"].as_str().unwrap_or_default()
                )
            };
            let dropped: Vec<String> = c["dropped"]
                .as_array()
                .into_iter()
                .flatten()
                .map(place)
                .collect();
            let _ = writeln!(
                t,
                "  {} {}: {} {}; {} {}",
                c["successor"].as_str().unwrap_or_default(),
                c["path"].as_str().unwrap_or_default(),
                if vi { "giữ" } else { "kept" },
                place(&c["kept"]),
                if vi { "bỏ" } else { "dropped" },
                dropped.join(", ")
            );
        }
        if open_conflicts.len() > TABLE_CONFLICTS {
            let _ = writeln!(
                t,
                "  … {} {}",
                open_conflicts.len() - TABLE_CONFLICTS,
                if vi {
                    "xung đột nữa (xem -o json)"
                } else {
                    "more (see -o json)"
                }
            );
        }
        let _ = writeln!(
            t,
            "  {}",
            if vi {
                "giải quyết bằng --resolve FILE (successor → /đường/dẫn → giá trị)"
            } else {
                "settle them with --resolve FILE (successor → /json/pointer → value)"
            }
        );
    }
    for u in json["unmapped"].as_array().into_iter().flatten() {
        let at = u["at"]
            .as_str()
            .map(|a| format!(" ({a})"))
            .unwrap_or_default();
        let code = u["code"].as_str().unwrap_or_default();
        let _ = writeln!(
            t,
            "{}: {} {} {code} {}{at}: {}",
            if vi { "chưa ánh xạ" } else { "unmapped" },
            u["tenant"].as_str().unwrap_or_default(),
            u["level"].as_str().unwrap_or_default(),
            u["name"].as_str().unwrap_or_default(),
            if vi {
                format!(
                    "bảng chuyển đổi chính thức không có dòng cho mã này; quyết định bằng --assign {code}=MÃ_MỚI"
                )
            } else {
                format!("the official mapping has no row for it; decide with --assign {code}=NEW")
            }
        );
    }
    match &json["grants"] {
        Value::Array(g) if !g.is_empty() => {
            let _ = writeln!(
                t,
                "{}",
                if vi {
                    "Quyền của cán bộ tỉnh theo kế hoạch (chạy sau khi áp dụng):"
                } else {
                    "Province grants that follow the plan (run after the apply):"
                }
            );
            for x in g {
                let _ = writeln!(t, "  {}", x["command"].as_str().unwrap_or_default());
            }
        }
        Value::Object(e) => {
            let _ = writeln!(
                t,
                "note: {}",
                e.get("error").and_then(Value::as_str).unwrap_or_default()
            );
        }
        _ => {}
    }
    for p in &plan.problems {
        let _ = writeln!(
            t,
            "{}: {}",
            if vi { "lỗi" } else { "error" },
            if vi { &p.vi } else { &p.en }
        );
    }
    if let Some(dir) = out {
        let _ = writeln!(
            t,
            "{} {}. {}",
            if vi { "Đã ghi" } else { "Wrote" },
            dir.display(),
            if vi {
                format!(
                    "Tiếp theo: xem lại, `khaibao apply {}`, rồi phê duyệt việc nghỉ hưu đơn vị cũ bằng `khaibao approve reform {} --platform P`",
                    dir.display(),
                    plan.id
                )
            } else {
                format!(
                    "Next: review, `khaibao apply {}`, then approve the retirements with `khaibao approve reform {} --platform P`",
                    dir.display(),
                    plan.id
                )
            }
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_assignments_are_checked() {
        assert!(is_date("2026-06-30"));
        assert!(!is_date("2026-13-01") && !is_date("30/06/2026"));
        assert_eq!(
            parse_assignment("01651=01648").unwrap(),
            ("01651".into(), vec!["01648".into()])
        );
        assert_eq!(parse_assignment("01651=01648,01649").unwrap().1.len(), 2);
        assert!(parse_assignment("01651").is_err());
        assert!(parse_assignment("x=01648").is_err());
    }
}
