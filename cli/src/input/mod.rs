//! Reading what the user points the CLI at: files and directories of YAML (recursively
//! `*.yaml`/`*.yml`, multi-document), platform folders (`platform.yaml` + `templates/`), and the
//! `--platforms` catalogue. Every document keeps its file and positions so errors can say
//! `FILE:LINE:COL`. Problems are collected, never fatal on the first one.

mod platform_dir;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use khaibao::api::{API_VERSION, Platform, Tenant};
use khaibao::diagnostics::Text;
use khaibao::yaml::{Location, Positions, SourceDocument, parse_stream};
use rayon::prelude::*;
use serde_json::Value;

pub use platform_dir::load_platform_dir;

use crate::report::Report;

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

enum ReadFailure {
    /// Could not be read at all (exit code 2).
    Unreadable(Report),
    /// Read, but not valid UTF-8 YAML.
    Invalid(Report),
}

fn parse_file(path: &Path) -> Result<SourceFile, ReadFailure> {
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
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
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

/// `templates/` of a platform folder holds templates, not manifests.
fn is_platform_internal(p: &Path) -> bool {
    p.file_name().is_some_and(|n| n == "templates")
        && p.parent()
            .is_some_and(|d| d.join("platform.yaml").is_file())
}

/// `*.yaml`/`*.yml`, except expected outputs of tests (`*.expected.yaml`).
pub fn is_manifest(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.contains(".expected.")
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
        let parsed: Vec<Result<SourceFile, ReadFailure>> =
            paths.par_iter().map(|p| parse_file(p)).collect();
        for result in parsed {
            let Some(index) = self.accept(result) else {
                continue;
            };
            // The values move into the typed resources; positions stay for error messages.
            let docs: Vec<(usize, Value)> = self.files[index]
                .docs
                .iter_mut()
                .map(|d| (d.index, std::mem::take(&mut d.value)))
                .collect();
            for (doc, value) in docs {
                self.classify(DocRef { file: index, doc }, value);
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

    fn classify(&mut self, at: DocRef, value: Value) {
        if value.is_null() {
            return;
        }
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let api_version = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match (api_version.as_str(), kind.as_str()) {
            (API_VERSION, "Tenant") => {
                if let Some(tenant) = self.deserialize::<Tenant>(at, value)
                    && self.check_tenant_metadata(at, &tenant)
                {
                    self.tenants.push(LoadedTenant { tenant, at, from_set: false });
                }
            }
            (API_VERSION, "TenantSet") => {
                if let Some(set) = self.deserialize::<khaibao::api::TenantSet>(at, value.clone()) {
                    self.expand_set(at, &set);
                    self.tenant_sets.push(value);
                    self.tenant_set_docs.push(at);
                }
            }
            (API_VERSION, "Platform") => {
                if let Some(platform) = self.deserialize::<Platform>(at, value) {
                    self.add_platform(LoadedPlatform { platform, at, template_files: BTreeMap::new(), dir: None });
                }
            }
            // Namespaces sit next to tenants in example folders so `kubectl apply -f` works;
            // `khaibao apply` creates them before the tenants.
            ("v1", "Namespace") => self.namespaces.push(value),
            (_, "Tenant" | "TenantSet" | "Platform") => self.doc_problem(
                at,
                "/apiVersion",
                Text::new(
                    format!("{kind} has apiVersion {api_version:?}; khaibao reads {API_VERSION}"),
                    format!("{kind} có apiVersion {api_version:?}; khaibao đọc {API_VERSION}"),
                ),
                Some(Text::new(format!("set apiVersion: {API_VERSION}"), format!("đặt apiVersion: {API_VERSION}"))),
            ),
            _ => self.doc_problem(
                at,
                "/kind",
                Text::new(
                    format!("unexpected document (apiVersion {api_version:?}, kind {kind:?}); khaibao reads Platform, Tenant and TenantSet resources of {API_VERSION}"),
                    format!("tài liệu không mong đợi (apiVersion {api_version:?}, kind {kind:?}); khaibao đọc Platform, Tenant và TenantSet thuộc {API_VERSION}"),
                ),
                None,
            ),
        }
    }

    /// A TenantSet stands for the Tenants it expands to (the operator's own expansion); their
    /// problems point at the set's document.
    fn expand_set(&mut self, at: DocRef, set: &khaibao::api::TenantSet) {
        match khaibao::pipeline::expand_tenant_set(set) {
            Ok(manifests) => {
                for m in manifests {
                    if let Some(tenant) = self.deserialize::<Tenant>(at, m) {
                        self.tenants.push(LoadedTenant {
                            tenant,
                            at,
                            from_set: true,
                        });
                    }
                }
            }
            Err(problems) => {
                for d in problems {
                    let mut r = Report::from_diagnostic(
                        &d,
                        Some(self.path(at)),
                        self.location(at, &d.pointer),
                        None,
                    );
                    r.tenant = Some(format!(
                        "{}/{} (TenantSet)",
                        set.metadata.namespace.as_deref().unwrap_or("default"),
                        set.metadata.name.as_deref().unwrap_or_default()
                    ));
                    self.problems.push(r);
                }
            }
        }
    }

    /// Deserializes a document, reporting the exact field that does not fit.
    pub fn deserialize<T: serde::de::DeserializeOwned>(
        &mut self,
        at: DocRef,
        value: Value,
    ) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let pointer = path_to_pointer(&e.path().to_string());
                let inner = e.into_inner().to_string();
                let field = if pointer.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", khaibao::diagnostics::dotted_path(&pointer))
                };
                self.doc_problem(
                    at,
                    &pointer,
                    Text::new(format!("{field}{inner}"), format!("{field}{inner}")),
                    None,
                );
                None
            }
        }
    }

    /// The API server would refuse a Tenant without a valid name or namespace, and both end up
    /// in every object's `khaibao.dev/tenant` label, so they are checked before rendering.
    fn check_tenant_metadata(&mut self, at: DocRef, tenant: &Tenant) -> bool {
        let name = tenant.metadata.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            self.doc_problem(
                at,
                "/metadata",
                Text::new("Tenant has no metadata.name", "Tenant thiếu metadata.name"),
                None,
            );
            return false;
        }
        if !is_dns_subdomain(name) {
            self.doc_problem(
                at,
                "/metadata/name",
                Text::new(
                    format!("Tenant name {name:?} is not a valid Kubernetes name"),
                    format!("tên Tenant {name:?} không phải tên Kubernetes hợp lệ"),
                ),
                Some(Text::new(
                    "use lowercase letters, digits, '-' and '.', e.g. the unit's slug",
                    "dùng chữ thường không dấu, chữ số, '-' và '.', ví dụ slug của đơn vị",
                )),
            );
            return false;
        }
        if let Some(ns) = tenant.metadata.namespace.as_deref()
            && !khaibao::pipeline::is_dns_label(ns)
        {
            self.doc_problem(
                at,
                "/metadata/namespace",
                Text::new(
                    format!("namespace {ns:?} is not a valid namespace name"),
                    format!("namespace {ns:?} không hợp lệ"),
                ),
                Some(Text::new(
                    "use lowercase letters, digits and '-', e.g. tinh-01",
                    "dùng chữ thường không dấu, chữ số và '-', ví dụ tinh-01",
                )),
            );
            return false;
        }
        true
    }

    pub fn add_platform(&mut self, p: LoadedPlatform) {
        let name = p.platform.metadata.name.clone().unwrap_or_default();
        if name.is_empty() {
            self.doc_problem(
                p.at,
                "/metadata",
                Text::new(
                    "Platform has no metadata.name",
                    "Platform thiếu metadata.name",
                ),
                None,
            );
            return;
        }
        if let Some(existing) = self.platforms.get(&name) {
            // The same platform read twice (catalogue and command line) is fine; a different
            // definition under the same name is not.
            if existing.platform.spec != p.platform.spec {
                let first = self.path(existing.at).display().to_string();
                self.doc_problem(
                    p.at,
                    "/metadata/name",
                    Text::new(
                        format!("platform {name:?} is also defined differently in {first}"),
                        format!("nền tảng {name:?} cũng được định nghĩa khác trong {first}"),
                    ),
                    None,
                );
            }
            return;
        }
        self.platforms.insert(name, p);
    }
}

/// An RFC 1123 subdomain, as Kubernetes requires of most object names.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(khaibao::pipeline::is_dns_label)
}

/// `spec.unit.level` / `spec.values[0]` (serde_path_to_error) → `/spec/unit/level`.
fn path_to_pointer(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    let mut out = String::new();
    for part in path.split('.') {
        let (name, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() && name != "?" {
            out.push('/');
            out.push_str(name);
        }
        for idx in rest.split(['[', ']']).filter(|s| !s.is_empty()) {
            out.push('/');
            out.push_str(idx);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_paths_become_pointers() {
        assert_eq!(path_to_pointer("spec.unit.level"), "/spec/unit/level");
        assert_eq!(
            path_to_pointer("spec.allowedKinds[2]"),
            "/spec/allowedKinds/2"
        );
        assert_eq!(path_to_pointer("."), "");
    }

    #[test]
    fn tenant_names_are_kubernetes_names() {
        assert!(is_dns_subdomain("ha-noi"));
        assert!(is_dns_subdomain("ha-noi.v2"));
        assert!(!is_dns_subdomain("HA NOI/x"));
        assert!(!is_dns_subdomain("ha-noi."));
        assert!(!is_dns_subdomain(""));
    }
}
