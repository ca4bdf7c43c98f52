//! `khaibao explain`: every effective value of a tenant, the layer that set it, where that layer
//! wrote it, and what it overrode. Works on invalid tenants too, since that is when it helps.

use std::path::Path;

use khaibao::diagnostics::{Lang, dotted_path};
use khaibao::pipeline::{CompiledPlatform, Layer};
use serde_json::Value;

use super::{INVALID, USAGE, load};
use crate::Global;
use crate::fleet::{compile_platforms, tenant_key};
use crate::input::{DocRef, Inputs};
use crate::report::print_all;

pub fn run(g: &Global, file: &Path, value_path: Option<&str>) -> u8 {
    let lang = g.lang();
    if !file.is_file() {
        eprintln!("{}: error: not a file", file.display());
        return USAGE;
    }
    // The tenant's folder is read too, so its parent can be found.
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut paths = vec![dir.to_path_buf()];
    if !crate::input::is_manifest(file) {
        paths.push(file.to_path_buf());
    }
    let inputs = match load(g, &paths) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let targets: Vec<usize> = inputs
        .tenants
        .iter()
        .enumerate()
        .filter(|(_, t)| same_file(inputs.path(t.at), file))
        .map(|(i, _)| i)
        .collect();
    if targets.is_empty() {
        // Only this file's problems: its siblings were read to find a parent, not to be checked.
        let own: Vec<_> = inputs
            .problems
            .iter()
            .filter(|r| r.path.as_deref().is_some_and(|p| same_file(p, file)))
            .cloned()
            .collect();
        print_all(&own, lang);
        eprintln!("{}: error: no Tenant found in this file", file.display());
        return INVALID;
    }
    let compiled = compile_platforms(&inputs);
    let filter = value_path.map(|p| {
        let p = p.strip_prefix("values.").unwrap_or(p);
        format!("/{}", p.replace('.', "/"))
    });
    let mut code = 0;
    for i in targets {
        let t = &inputs.tenants[i];
        let Some(Ok(cp)) = compiled.get(&t.tenant.spec.platform) else {
            eprintln!(
                "{}: error: tenant {}: platform {:?} is unknown or invalid",
                file.display(),
                tenant_key(t),
                t.tenant.spec.platform
            );
            code = INVALID;
            continue;
        };
        let ns = t.tenant.metadata.namespace.as_deref().unwrap_or("default");
        let parent = t.tenant.spec.parent.as_ref().and_then(|p| {
            inputs.tenants.iter().find(|x| {
                x.tenant.metadata.namespace.as_deref().unwrap_or("default") == ns
                    && x.tenant.metadata.name.as_deref() == Some(p)
            })
        });
        let merged = cp.effective_values(&t.tenant, parent.map(|p| &p.tenant));
        let unit = &t.tenant.spec.unit;
        match lang {
            Lang::En => println!(
                "tenant {} — {} ({}) on platform {}, revision {}",
                tenant_key(t),
                unit.name,
                unit.code,
                cp.name,
                cp.revision
            ),
            Lang::Vi => println!(
                "đơn vị {} — {} ({}) trên nền tảng {}, phiên bản {}",
                tenant_key(t),
                unit.name,
                unit.code,
                cp.name,
                cp.revision
            ),
        }
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::NOTHING);
        let mut shown = 0;
        for (pointer, prov) in &merged.provenance {
            if let Some(f) = &filter
                && !(pointer == f || pointer.starts_with(&format!("{f}/")))
            {
                continue;
            }
            shown += 1;
            let value = merged
                .value
                .pointer(pointer)
                .cloned()
                .unwrap_or(Value::Null);
            let layer = match lang {
                Lang::En => prov.layer.to_string(),
                Lang::Vi => prov.layer.vi(),
            };
            let place = where_set(
                &inputs,
                cp,
                &prov.layer,
                pointer,
                t.at,
                parent.map(|p| p.at),
            );
            let overrode = prov
                .overrode
                .iter()
                .rev()
                .map(|(l, v)| {
                    let l = if lang == Lang::Vi {
                        l.vi()
                    } else {
                        l.to_string()
                    };
                    if v.is_null() { l } else { format!("{l} {}", v) }
                })
                .collect::<Vec<_>>()
                .join(", ");
            let overrode = if overrode.is_empty() {
                String::new()
            } else if lang == Lang::Vi {
                format!("(ghi đè {overrode})")
            } else {
                format!("(overrides {overrode})")
            };
            table.add_row(vec![
                format!("values.{}", dotted_path(pointer)),
                value.to_string(),
                layer,
                place,
                overrode,
            ]);
        }
        for line in table.lines() {
            println!("{}", line.trim_end());
        }
        if shown == 0
            && let Some(p) = value_path
        {
            eprintln!("error: tenant {} has no value at {p}", tenant_key(t));
            code = INVALID;
        }
    }
    code
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || a.canonicalize()
            .ok()
            .zip(b.canonicalize().ok())
            .is_some_and(|(x, y)| x == y)
}

/// `FILE:LINE:COL` of the place a layer wrote a value.
fn where_set(
    inputs: &Inputs,
    cp: &CompiledPlatform,
    layer: &Layer,
    pointer: &str,
    tenant: DocRef,
    parent: Option<DocRef>,
) -> String {
    let platform = inputs.platforms.get(&cp.name).map(|p| p.at);
    let (at, doc_pointer) = match layer {
        Layer::Tenant => (Some(tenant), format!("/spec/values{pointer}")),
        Layer::Parent(_) => (parent, format!("/spec/values{pointer}")),
        Layer::National => (platform, format!("/spec/defaults{pointer}")),
        Layer::SchemaDefault => {
            let mut p = String::from("/spec/tenantSchema");
            for token in pointer.split('/').skip(1) {
                p.push_str("/properties/");
                p.push_str(token);
            }
            p.push_str("/default");
            (platform, p)
        }
    };
    match at {
        Some(at) => match inputs.location(at, &doc_pointer) {
            Some(l) => format!("{}:{}:{}", inputs.path(at).display(), l.line, l.column),
            None => inputs.path(at).display().to_string(),
        },
        None => String::new(),
    }
}
