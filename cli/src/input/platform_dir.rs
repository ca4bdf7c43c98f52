//! A platform folder: `platform.yaml` (a Platform without templates) and
//! `templates/shared/*.yaml.hbs`, `templates/tenant/*.yaml.hbs`, read into one Platform.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use khaibao::api::{NamedTemplate, Platform};
use khaibao::diagnostics::Text;

use super::{DocRef, Inputs, LoadedPlatform};
use crate::report::Report;

/// Template files of one kind, sorted by name.
fn template_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(".hbs"))
        .collect();
    files.sort();
    files
}

/// Reads a platform folder into `inputs` (no-op if that folder was read already).
pub fn load_platform_dir(inputs: &mut Inputs, dir: &Path) {
    if inputs
        .platforms
        .values()
        .any(|p| p.dir.as_deref() == Some(dir))
    {
        return;
    }
    let file = dir.join("platform.yaml");
    let Some(index) = inputs.read_source(&file) else {
        return;
    };
    let docs: Vec<_> = inputs.files[index]
        .docs
        .iter()
        .filter(|d| !d.value.is_null())
        .map(|d| (d.index, d.value.clone()))
        .collect();
    let [(doc, value)] = docs.as_slice() else {
        inputs.problems.push(Report::file(
            &file,
            None,
            Text::new(
                "platform.yaml must hold exactly one Platform document",
                "platform.yaml phải chứa đúng một tài liệu Platform",
            ),
        ));
        return;
    };
    let at = DocRef {
        file: index,
        doc: *doc,
    };
    if value.get("kind").and_then(|k| k.as_str()) != Some("Platform") {
        inputs.problems.push(Report::file(
            &file,
            inputs.location(at, "/kind"),
            Text::new(
                "platform.yaml must be a Platform (kind: Platform)",
                "platform.yaml phải là một Platform (kind: Platform)",
            ),
        ));
        return;
    }
    let Some(mut platform) = inputs.deserialize::<Platform>(at, value.clone()) else {
        return;
    };
    let mut files = BTreeMap::new();
    let inline =
        !platform.spec.templates.shared.is_empty() || !platform.spec.templates.tenant.is_empty();
    for (kind, list) in [
        ("shared", &mut platform.spec.templates.shared),
        ("tenant", &mut platform.spec.templates.tenant),
    ] {
        for path in template_files(&dir.join("templates").join(kind)) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match std::fs::read_to_string(&path) {
                Ok(template) => {
                    if inline {
                        inputs.problems.push(Report::file(&path, None, Text::new(
                            "platform.yaml already has inline templates; keep templates in one place",
                            "platform.yaml đã có mẫu viết trực tiếp; chỉ giữ mẫu ở một nơi",
                        )));
                        return;
                    }
                    files.insert(format!("{kind}/{name}"), path.clone());
                    list.push(NamedTemplate { name, template });
                }
                Err(e) => inputs.unreadable.push(Report::file(
                    &path,
                    None,
                    Text::new(format!("cannot read: {e}"), format!("không đọc được: {e}")),
                )),
            }
        }
    }
    inputs.add_platform(LoadedPlatform {
        platform,
        at,
        template_files: files,
        dir: Some(dir.to_path_buf()),
    });
}
