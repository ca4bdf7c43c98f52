//! `khaibao reform plan`: the current Tenants and TenantSets (files, or the live cluster) in,
//! successor declarations and the plan out. The plan itself is the library's pure
//! `khaibao::reform::plan`; this module reads, prints and writes.
//! Exit codes: 0 the plan is complete, 1 conflicts/unmapped units/problems remain, 2 usage.

mod out_dir;
mod resolve_file;
mod table;

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use khaibao::reform::{Plan, Request, Source, plan, plan_json};
use khaibao::registry::Division;
use serde_json::Value;

use super::{INVALID, USAGE, load};
use crate::Global;
use crate::cluster::ClusterArgs;
use crate::input::{DocRef, Inputs};
use out_dir::write_out;
use resolve_file::read_resolutions;
use table::table;

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
