//! Finding and parsing YAML files: which files under a folder hold manifests, and one file read
//! and parsed into a `SourceFile`. Parsing runs in parallel over many files, so it touches no
//! `Inputs` state: what a file holds is decided afterwards, in order.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use khaibao::diagnostics::Text;
use khaibao::yaml::parse_stream;

use super::SourceFile;
use crate::report::Report;

pub(super) enum ReadFailure {
    /// Could not be read at all (exit code 2).
    Unreadable(Report),
    /// Read, but not valid UTF-8 YAML.
    Invalid(Report),
}

pub(super) fn parse_file(path: &Path) -> Result<SourceFile, ReadFailure> {
    let bytes = std::fs::read(path).map_err(|e| {
        ReadFailure::Unreadable(Report::file(
            path,
            None,
            Text::new(format!("cannot read: {e}"), format!("không đọc được: {e}")),
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        ReadFailure::Invalid(Report::file(
            path,
            None,
            Text::new("the file is not UTF-8 text", "tệp không phải văn bản UTF-8"),
        ))
    })?;
    let docs = parse_stream(&text, false).map_err(|e| {
        ReadFailure::Invalid(
            Report::file(
                path,
                Some(e.location),
                Text::new(
                    format!("invalid YAML: {}", e.message),
                    format!("YAML không hợp lệ: {}", e.message),
                ),
            )
            .reason("InvalidYaml"),
        )
    })?;
    Ok(SourceFile {
        path: path.to_path_buf(),
        text,
        docs,
        positions: OnceLock::new(),
    })
}

/// Files under a directory that may hold manifests, in a stable order.
pub(super) fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !is_platform_internal(e.path()))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| is_manifest(p))
        .collect();
    out.sort();
    out
}

/// In a platform folder only `platform.yaml` and `tests/` hold khaibao's manifests: `templates/`
/// holds templates, and any other folder belongs to the platform itself (its workload's source,
/// the Kubernetes objects its owner applies), whose YAML is not a Tenant's.
fn is_platform_internal(p: &Path) -> bool {
    p.is_dir()
        && p.file_name().is_some_and(|n| n != "tests")
        && p.parent()
            .is_some_and(|d| d.join("platform.yaml").is_file())
}

/// `*.yaml`/`*.yml`, except expected outputs of tests (`*.expected.yaml`).
pub fn is_manifest(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.contains(".expected.")
}
