//! `khaibao generate tenants`: Tenant declarations for official units, one per unit, in the
//! province namespace `tinh-<code>`. Communes name their province tenant as parent.

use std::path::Path;

use khaibao::api::{API_VERSION, Level};
use khaibao::pipeline::{LABEL_LEVEL, LABEL_PROVINCE, LABEL_UNIT_CODE};
use khaibao::registry::{Division, units};
use khaibao::yaml::{to_yaml_document, to_yaml_stream};
use serde_json::{Value, json};

use super::USAGE;
use crate::{Global, LevelArg};

/// The namespace of a province's tenants.
pub fn province_namespace(code: &str) -> String {
    format!("tinh-{code}")
}

fn namespace_doc(code: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": province_namespace(code), "labels": {LABEL_PROVINCE: code}}})
}

/// One unit to declare.
struct Declared<'a> {
    name: &'a str,
    namespace: &'a str,
    level: Level,
    code: &'a str,
    unit_name: &'a str,
    province: Option<&'a str>,
    parent: Option<&'a str>,
}

fn tenant_doc(platform: &str, division: Division, d: &Declared<'_>) -> Value {
    let mut unit = json!({"level": d.level.as_str(), "code": d.code, "name": d.unit_name});
    if let Some(p) = d.province {
        unit["provinceCode"] = json!(p);
    }
    unit["division"] = json!(division.as_str());
    let mut spec = json!({"platform": platform, "unit": unit});
    if let Some(p) = d.parent {
        spec["parent"] = json!(p);
    }
    json!({
        "apiVersion": API_VERSION, "kind": "Tenant",
        "metadata": {"name": d.name, "namespace": d.namespace, "labels": {LABEL_UNIT_CODE: d.code, LABEL_LEVEL: d.level.as_str()}},
        "spec": spec,
    })
}

pub fn tenants(
    _g: &Global,
    platform: &str,
    level: LevelArg,
    province: Option<&str>,
    division: &str,
    out: Option<&Path>,
) -> u8 {
    let division: Division = match division.parse() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let reg = units(division);
    if let Some(code) = province
        && reg.province(code).is_none()
    {
        eprintln!(
            "error: no province has code {code:?} in the {division}-province division (see `khaibao units --division {division}`)"
        );
        return USAGE;
    }
    let provinces: Vec<_> = reg
        .provinces
        .iter()
        .filter(|p| province.is_none_or(|c| c == p.code))
        .collect();
    // (relative file path, document)
    let mut files: Vec<(String, Value)> = Vec::new();
    let mut namespaces = Vec::new();
    for p in &provinces {
        let ns = province_namespace(&p.code);
        namespaces.push(namespace_doc(&p.code));
        match level {
            LevelArg::Province => files.push((
                format!("{}-{}.yaml", p.code, p.slug),
                tenant_doc(
                    platform,
                    division,
                    &Declared {
                        name: &p.slug,
                        namespace: &ns,
                        level: Level::Province,
                        code: &p.code,
                        unit_name: &p.name,
                        province: None,
                        parent: None,
                    },
                ),
            )),
            LevelArg::Commune => {
                for c in reg.communes_of(&p.code) {
                    files.push((
                        format!("{}-{}/{}-{}.yaml", p.code, p.slug, c.code, c.slug),
                        tenant_doc(
                            platform,
                            division,
                            &Declared {
                                name: &c.slug,
                                namespace: &ns,
                                level: Level::Commune,
                                code: &c.code,
                                unit_name: &c.name,
                                province: Some(&p.code),
                                parent: Some(&p.slug),
                            },
                        ),
                    ));
                }
            }
        }
    }
    let Some(dir) = out else {
        let docs: Vec<&Value> = namespaces
            .iter()
            .chain(files.iter().map(|(_, d)| d))
            .collect();
        print!("{}", to_yaml_stream(docs));
        return 0;
    };
    let write = |rel: &str, text: String| -> Result<(), String> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("{}: cannot create: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("{}: cannot write: {e}", path.display()))
    };
    let result = write("00-namespaces.yaml", to_yaml_stream(&namespaces)).and_then(|_| {
        files
            .iter()
            .try_for_each(|(rel, doc)| write(rel, to_yaml_document(doc)))
    });
    match result {
        Ok(()) => {
            println!(
                "wrote {} tenant(s) and {} namespace(s) to {}",
                files.len(),
                namespaces.len(),
                dir.display()
            );
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            USAGE
        }
    }
}
