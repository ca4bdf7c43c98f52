//! Reading what the user points the CLI at: files and directories of YAML (recursively
//! `*.yaml`/`*.yml`, multi-document), platform folders (`platform.yaml` + `templates/`), and the
//! `--platforms` catalogue. Every document keeps its file and positions so errors can say
//! `FILE:LINE:COL`. Problems are collected, never fatal on the first one.

mod documents;
mod files;
mod platform_dir;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use khaibao::api::{Platform, Tenant};
use khaibao::diagnostics::Text;
use khaibao::yaml::{Location, Positions, SourceDocument, parse_stream};
use rayon::prelude::*;
use serde_json::Value;

pub use files::is_manifest;
pub use platform_dir::load_platform_dir;

use crate::report::Report;
use documents::ReadDocument;
use files::{ReadFailure, parse_file, yaml_files};

/// A file that was read, with its documents.
pub struct SourceFile {
    pub path: PathBuf,
    text: String,
    pub docs: Vec<SourceDocument>,
    /// Line and column of every node, computed only when an error needs them: most inputs are
    /// valid, and tracking positions for ten thousand tenants costs more than re-reading one file.
    positions: OnceLock<Vec<Positions>>,
}

impl SourceFile {
    fn positions(&self) -> &[Positions] {
        self.positions.get_or_init(|| {
            parse_stream(&self.text, true)
                .map(|docs| docs.into_iter().map(|d| d.positions).collect())
                .unwrap_or_default()
        })
    }
}

/// A file as read in parallel with the others, and its documents (by index).
type ReadFile = (Result<SourceFile, ReadFailure>, Vec<(usize, ReadDocument)>);

/// Where a document came from: file index and document index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocRef {
    pub file: usize,
    pub doc: usize,
}

/// A platform and where its parts live.
pub struct LoadedPlatform {
    pub platform: Platform,
    pub at: DocRef,
    /// Template key (`tenant/config.yaml.hbs`) → file it was read from, for platform folders.
    pub template_files: BTreeMap<String, PathBuf>,
    /// The folder, for platforms read from one.
    pub dir: Option<PathBuf>,
}

/// A tenant and where it was declared.
pub struct LoadedTenant {
    pub tenant: Tenant,
    pub at: DocRef,
    /// True for a Tenant expanded from a TenantSet (the set is what gets applied).
    pub from_set: bool,
}

/// Everything read from the command line's paths and the platform catalogue.
#[derive(Default)]
pub struct Inputs {
    pub files: Vec<SourceFile>,
    pub platforms: BTreeMap<String, LoadedPlatform>,
    pub tenants: Vec<LoadedTenant>,
    /// Problems found while reading (bad YAML, wrong kinds, unreadable files).
    pub problems: Vec<Report>,
    /// Paths that could not be read at all (exit code 2).
    pub unreadable: Vec<Report>,
    /// Namespace documents found next to tenants.
    pub namespaces: Vec<Value>,
    /// TenantSet documents as written (their Tenants are in `tenants` too, expanded).
    pub tenant_sets: Vec<Value>,
    /// Where each of `tenant_sets` was read.
    pub tenant_set_docs: Vec<DocRef>,
}

impl Inputs {
    /// Reads the `--platforms` catalogue (each sub-folder with a `platform.yaml`).
    pub fn load_catalogue(&mut self, dir: &Path, explicit: bool) {
        if !dir.is_dir() {
            if explicit {
                self.unreadable.push(Report::file(
                    dir,
                    None,
                    Text::new(
                        "the platforms folder does not exist",
                        "thư mục nền tảng không tồn tại",
                    ),
                ));
            }
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            self.unreadable.push(Report::file(
                dir,
                None,
                Text::new(
                    "cannot read the platforms folder",
                    "không đọc được thư mục nền tảng",
                ),
            ));
            return;
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("platform.yaml").is_file())
            .collect();
        dirs.sort();
        for d in dirs {
            load_platform_dir(self, &d);
        }
    }

    /// Reads one command-line path: a file, a platform folder or any folder of manifests.
    pub fn load_path(&mut self, path: &Path) {
        if path.is_dir() {
            if path.join("platform.yaml").is_file() {
                load_platform_dir(self, path);
                let tests = path.join("tests");
                if tests.is_dir() {
                    self.load_files(&yaml_files(&tests));
                }
                return;
            }
            // A folder may also contain platform folders (e.g. `khaibao validate platforms/`).
            let (platform_files, files): (Vec<PathBuf>, Vec<PathBuf>) = yaml_files(path)
                .into_iter()
                .partition(|f| f.file_name().is_some_and(|n| n == "platform.yaml"));
            for f in platform_files {
                if let Some(d) = f.parent() {
                    load_platform_dir(self, d);
                }
            }
            self.load_files(&files);
        } else if path.is_file() {
            self.load_file(path);
        } else {
            self.unreadable.push(Report::file(
                path,
                None,
                Text::new("no such file or folder", "không có tệp hoặc thư mục này"),
            ));
        }
    }

    /// Reads a file and classifies its documents.
    pub fn load_file(&mut self, path: &Path) {
        self.load_files(&[path.to_path_buf()]);
    }

    /// Reads and parses files in parallel, then classifies their documents in order.
    pub fn load_files(&mut self, paths: &[PathBuf]) {
        // The values move into the typed resources; positions stay for error messages.
        let parsed: Vec<ReadFile> = paths
            .par_iter()
            .map(|p| {
                let mut file = parse_file(p);
                let docs = match &mut file {
                    Ok(f) => f
                        .docs
                        .iter_mut()
                        .map(|d| (d.index, ReadDocument::of(std::mem::take(&mut d.value))))
                        .collect(),
                    Err(_) => Vec::new(),
                };
                (file, docs)
            })
            .collect();
        let tenants: usize = parsed
            .iter()
            .flat_map(|(_, docs)| docs)
            .filter(|(_, d)| matches!(d, ReadDocument::Tenant(_)))
            .count();
        self.tenants.reserve(tenants);
        self.files.reserve(parsed.len());
        for (result, docs) in parsed {
            let Some(index) = self.accept(result) else {
                continue;
            };
            for (doc, read) in docs {
                self.classify(DocRef { file: index, doc }, read);
            }
        }
    }

    /// Reads and parses one file, keeping its values; `None` (with a problem recorded) on failure.
    pub fn read_source(&mut self, path: &Path) -> Option<usize> {
        self.accept(parse_file(path))
    }

    fn accept(&mut self, result: Result<SourceFile, ReadFailure>) -> Option<usize> {
        match result {
            Ok(file) => {
                self.files.push(file);
                Some(self.files.len() - 1)
            }
            Err(ReadFailure::Unreadable(r)) => {
                self.unreadable.push(r);
                None
            }
            Err(ReadFailure::Invalid(r)) => {
                self.problems.push(r);
                None
            }
        }
    }

    pub fn location(&self, at: DocRef, pointer: &str) -> Option<Location> {
        let file = &self.files[at.file];
        file.positions()
            .get(at.doc)
            .and_then(|p| p.value(pointer))
            .or_else(|| file.docs.get(at.doc).map(|d| d.start))
    }

    pub fn path(&self, at: DocRef) -> &Path {
        &self.files[at.file].path
    }

    fn doc_problem(&mut self, at: DocRef, pointer: &str, text: Text, hint: Option<Text>) {
        let loc = self.location(at, pointer);
        let mut r = Report::file(self.path(at), loc, text).reason("InvalidManifest");
        r.hint = hint;
        self.problems.push(r);
    }
}
