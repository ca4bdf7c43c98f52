//! The tenant files on disk: every unit's generated, a size's fleet folder, and their count.

use std::path::{Path, PathBuf};

use anyhow::ensure;
use serde_json::json;

use super::ReformSize;
use super::cli::cli;
use crate::fleet::PLATFORM;

/// `khaibao generate tenants` of every province and commune of the 63-province division into
/// `dir` (`00-namespaces.yaml`, `CODE-SLUG.yaml` per province, `CODE-SLUG/` of its communes).
pub fn generate_all(bin: &Path, dir: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    for level in ["province", "commune"] {
        let args: Vec<String> = [
            "generate",
            "tenants",
            "--platform",
            PLATFORM,
            "--division",
            "63",
            "--level",
            level,
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([dir.display().to_string()])
        .collect();
        let (code, stderr, _) = cli(bin, None, &args, Path::new("/dev/null"))?;
        ensure!(code == 0, "khaibao generate tenants: {stderr}");
    }
    Ok(())
}

pub(super) fn count_tenant_files(dir: &Path) -> anyhow::Result<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            n += count_tenant_files(&p)?;
        } else if p.extension().is_some_and(|x| x == "yaml") && !p.ends_with("00-namespaces.yaml") {
            n += 1;
        }
    }
    Ok(n)
}

/// The fleet folder of `size`: every file of `all` for its provinces (hard links), and its
/// namespaces.
pub(super) fn fleet_dir(size: &ReformSize, all: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    if size.new_provinces.is_none() {
        return Ok(all.to_path_buf());
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let codes = size.old_provinces();
    let mut namespaces = Vec::new();
    for code in &codes {
        namespaces.push(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": format!("tinh-{code}"), "labels": {"khaibao.dev/province-code": code}}}));
        for e in std::fs::read_dir(all)? {
            let p = e?.path();
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if !name.starts_with(&format!("{code}-")) {
                continue;
            }
            if p.is_dir() {
                std::fs::create_dir_all(dir.join(&name))?;
                for f in std::fs::read_dir(&p)? {
                    let f = f?.path();
                    std::fs::hard_link(
                        &f,
                        dir.join(&name).join(f.file_name().unwrap_or_default()),
                    )?;
                }
            } else {
                std::fs::hard_link(&p, dir.join(&name))?;
            }
        }
    }
    std::fs::write(
        dir.join("00-namespaces.yaml"),
        khaibao::yaml::to_yaml_stream(namespaces.iter()),
    )?;
    Ok(dir.to_path_buf())
}
