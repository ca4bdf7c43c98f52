use std::io::Write;
use std::path::PathBuf;

use khaibao::yaml::to_yaml_document;
use serde_json::{Value, json};

use super::{INVALID, invalid_reports, load};
use crate::fleet::{render_fleet, tenant_key};
use crate::report::{Report, print_all};
use crate::{Format, Global};

pub fn run(g: &Global, paths: &[PathBuf], format: Format, include_shared: bool) -> u8 {
    let inputs = match load(g, paths) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let fleet = render_fleet(&inputs);
    let reports = invalid_reports(&inputs, &fleet);
    if !reports.is_empty() {
        // Nothing is printed to stdout when anything is invalid: a partial render piped into
        // `kubectl apply` would apply half a country.
        print_all(&reports, g.lang());
        return INVALID;
    }
    let mut sections: Vec<(String, Vec<Value>)> = Vec::new();
    if include_shared {
        for (name, cp) in &fleet.compiled {
            if let Ok(cp) = cp {
                match cp.render_shared() {
                    Ok(objs) => sections.push((
                        format!("platform {name} (shared)"),
                        objs.into_iter().map(|o| o.object).collect(),
                    )),
                    Err(ds) => {
                        let p = &inputs.platforms[name];
                        let r: Vec<Report> = ds
                            .iter()
                            .map(|d| crate::fleet::locate(&inputs, d, None, None, Some(p)))
                            .collect();
                        print_all(&r, g.lang());
                        return INVALID;
                    }
                }
            }
        }
    }
    for o in &fleet.outcomes {
        if let Ok(r) = &o.result {
            let objs = r
                .objects
                .iter()
                .chain(&r.generated_secrets)
                .map(|d| d.object.clone())
                .collect();
            sections.push((
                format!("tenant {}", tenant_key(&inputs.tenants[o.index])),
                objs,
            ));
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Yaml => {
            for (title, objs) in &sections {
                for obj in objs {
                    let _ = writeln!(out, "---\n# {title}");
                    let _ = write!(out, "{}", to_yaml_document(obj));
                }
            }
        }
        Format::Json => {
            let items: Vec<&Value> = sections.iter().flat_map(|(_, o)| o.iter()).collect();
            let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&list).unwrap_or_default()
            );
        }
    }
    0
}
