//! The vocabulary of the reform scenario (`tests/reform.rs`): the 63 provinces of the old
//! division with values of their own and the communes of two provinces that merged, written
//! as files a province would keep; the real `khaibao` CLI run over them (the runner itself is
//! [`crate::cli`]); the plan it prints; and what the fleet holds at one moment (secrets, host
//! names, resource versions), read back from the cluster to compare before and after.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use crate::fixtures::read_manifests;
use crate::{ControlPlane, PROVINCES_DIR, workspace_root};

mod fleet;
mod guarantees;
mod leaks;

/// The CLI runner, where the reform's callers have always found it.
pub use crate::cli::{CliRun, khaibao};

pub use fleet::{
    TenantRecord, record_fleet, reform_status, resource_versions, still_there,
    tenant_labelled_objects,
};
pub use guarantees::{
    Findings, assert_no_host_gap, assert_no_value_lost, assert_nothing_left_behind,
    assert_reapply_writes_nothing, assert_retired_in_order, assert_secrets_kept,
    not_ready_successors, predecessors_ready, wait_fleet_ready,
};
pub use leaks::assert_no_secret_leak_anywhere;

/// The platform of the scenario, under its real name and namespace (the plan writes the
/// successors' namespaces `tinh-<code>` itself, so the scenario cannot be renamed).
pub const PLATFORM: &str = "dichvucong";
/// The label carrying `<namespace>.<name>` of the tenant an object belongs to.
pub const TENANT_LABEL: &str = "khaibao.dev/tenant";
/// The generated secret of `dichvucong`.
pub const API_KEY: &str = "api-key";

/// Each province's hotline, different for every code.
pub fn hotline(code: &str) -> String {
    format!("0{code}0 3822 {code}{code}")
}

/// Each province's office address, naming it (a value no other province has).
pub fn address(code: &str, name: &str) -> String {
    format!("Trụ sở UBND {name}, mã {code}")
}

/// Set by Hà Giang only: the merge must carry it to Tuyên Quang without a conflict.
pub const HA_GIANG_OFFICE_HOURS: &str = "7:00-17:00, thứ Hai - thứ Bảy (Hà Giang)";

/// `namespace/name` of a manifest or object.
pub fn key_of(doc: &Value) -> String {
    format!(
        "{}/{}",
        doc["metadata"]["namespace"].as_str().unwrap_or_default(),
        doc["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// The declarations of the old division, as files in one folder.
pub struct OldDivision {
    pub dir: PathBuf,
    /// The 63 provinces (Tenant manifests).
    pub provinces: Vec<Value>,
    /// The TenantSets of the communes of 02 Hà Giang and 08 Tuyên Quang.
    pub sets: Vec<Value>,
}

impl OldDivision {
    /// `examples/provinces-63` with each province's hotline and address, Hà Giang's office
    /// hours, and one TenantSet (division 63, parent the province) for the communes of each of
    /// `commune_provinces`.
    pub fn write(dir: &Path, commune_provinces: &[(&str, &str, &str)]) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let examples = workspace_root().join(PROVINCES_DIR);
        std::fs::copy(
            examples.join("00-namespaces.yaml"),
            dir.join("00-namespaces.yaml"),
        )?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(&examples)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .filter(|p| !p.ends_with("00-namespaces.yaml"))
            .collect();
        files.sort();
        let mut provinces = Vec::new();
        for file in files {
            for mut doc in read_manifests(&file)? {
                ensure!(
                    doc["kind"] == "Tenant",
                    "{} holds a {}",
                    file.display(),
                    doc["kind"]
                );
                let code = doc["spec"]["unit"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let name = doc["spec"]["unit"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let mut values = json!({"contact": {"hotline": hotline(&code), "address": address(&code, &name)}});
                if code == "02" {
                    values["officeHours"] = json!(HA_GIANG_OFFICE_HOURS);
                }
                doc["spec"]["values"] = values;
                let path = dir.join(file.file_name().context("a file name")?);
                std::fs::write(&path, khaibao::yaml::to_yaml_stream([&doc]))?;
                provinces.push(doc);
            }
        }
        let mut sets = Vec::new();
        for (code, parent, mail_domain) in commune_provinces {
            let set = json!({
                "apiVersion": "khaibao.dev/v1alpha1", "kind": "TenantSet",
                "metadata": {"name": format!("xa-phuong-{parent}"), "namespace": format!("tinh-{code}")},
                "spec": {
                    "platform": PLATFORM, "division": "63", "parent": parent,
                    "units": {"communesOf": code},
                    "values": {"contact": {"email": format!("motcua.{{{{unit.slug}}}}@{mail_domain}")}},
                },
            });
            let path = dir.join(format!("{code}-communes.yaml"));
            std::fs::write(&path, khaibao::yaml::to_yaml_stream([&set]))?;
            sets.push(set);
        }
        Ok(OldDivision {
            dir: dir.to_path_buf(),
            provinces,
            sets,
        })
    }
}

/// `khaibao reform plan --from 63 --to 34 -o json` over `paths`, with a resolve file,
/// assignments and an output folder when given.
pub fn reform_plan(
    cp: &ControlPlane,
    paths: &[&Path],
    resolve: Option<&Path>,
    assign: &[&str],
    out: Option<&Path>,
) -> anyhow::Result<CliRun> {
    let mut args: Vec<String> = ["reform", "plan", "--from", "63", "--to", "34", "-o", "json"]
        .map(String::from)
        .to_vec();
    if let Some(r) = resolve {
        args.extend(["--resolve".into(), r.display().to_string()]);
    }
    for a in assign {
        args.extend(["--assign".into(), a.to_string()]);
    }
    if let Some(o) = out {
        args.extend(["--out".into(), o.display().to_string()]);
    }
    args.extend(paths.iter().map(|p| p.display().to_string()));
    khaibao(cp, &args, Duration::from_secs(60))
}

/// `khaibao reform plan --cluster --platform P -o json`: the same plan read from the live
/// Tenants and TenantSets.
pub fn reform_plan_live(
    cp: &ControlPlane,
    platform: &str,
    resolve: Option<&Path>,
    assign: &[&str],
) -> anyhow::Result<CliRun> {
    let mut args: Vec<String> = ["reform", "plan", "--from", "63", "--to", "34", "-o", "json"]
        .map(String::from)
        .to_vec();
    args.extend(["--cluster".into(), "--platform".into(), platform.into()]);
    if let Some(r) = resolve {
        args.extend(["--resolve".into(), r.display().to_string()]);
    }
    for a in assign {
        args.extend(["--assign".into(), a.to_string()]);
    }
    khaibao(cp, &args, Duration::from_secs(60))
}

/// A plan as `khaibao reform plan -o json` prints it.
pub struct PlanView(pub Value);

impl PlanView {
    pub fn id(&self) -> &str {
        self.0["id"].as_str().unwrap_or_default()
    }

    pub fn successors(&self) -> &[Value] {
        self.0["successors"].as_array().map_or(&[], Vec::as_slice)
    }

    pub fn conflicts(&self) -> &[Value] {
        self.0["conflicts"].as_array().map_or(&[], Vec::as_slice)
    }

    /// The conflict at `path` of `successor`.
    pub fn conflict(&self, successor: &str, path: &str) -> Option<&Value> {
        self.conflicts()
            .iter()
            .find(|c| c["successor"] == successor && c["path"] == path)
    }

    pub fn open_conflicts(&self) -> Vec<&Value> {
        self.conflicts()
            .iter()
            .filter(|c| c.get("resolved").is_none())
            .collect()
    }

    /// Every successor Tenant `namespace/name` with its predecessors.
    pub fn predecessors(&self) -> BTreeMap<String, Vec<String>> {
        self.successors()
            .iter()
            .map(|s| {
                let p = s["predecessors"].as_array().into_iter().flatten();
                let p = p.filter_map(|p| p.as_str().map(String::from)).collect();
                (s["tenant"].as_str().unwrap_or_default().to_string(), p)
            })
            .collect()
    }

    /// Predecessors that are not also successors (updated in place): the ones to retire.
    pub fn retired(&self) -> BTreeSet<String> {
        let successors = self.predecessors();
        successors
            .values()
            .flatten()
            .filter(|p| !successors.contains_key(p.as_str()))
            .cloned()
            .collect()
    }

    /// The successor TenantSets `namespace/name`.
    pub fn successor_sets(&self) -> BTreeSet<String> {
        self.successors()
            .iter()
            .filter_map(|s| s["tenantSet"].as_str().map(String::from))
            .collect()
    }
}

/// A resolve file: `successor → JSON pointer → value`.
pub fn write_resolve_file(
    path: &Path,
    choices: &BTreeMap<String, BTreeMap<String, Value>>,
) -> anyhow::Result<()> {
    let doc = serde_json::to_value(choices)?;
    std::fs::write(path, khaibao::yaml::to_yaml_document(&doc))?;
    Ok(())
}
