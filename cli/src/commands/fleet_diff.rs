//! `khaibao diff --offline --platform-from DIR --platform-to DIR PATH...`: for a template or
//! schema change, what changes for every tenant, before anything reaches a cluster. Both
//! platform versions render every tenant with the same pipeline; the summary counts tenants
//! changed and unchanged, and changes by kind and field; `--details` adds a unified diff per
//! tenant. The revision label is ignored (it changes with any edit by design).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use khaibao::pipeline::{LABEL_REVISION, RenderedTenant};
use khaibao::yaml::to_yaml_document;
use serde_json::Value;

use super::{INVALID, USAGE, invalid_reports};
use crate::Global;
use crate::fleet::render_fleet;
use crate::input::{Inputs, load_platform_dir};
use crate::report::print_all;

fn load_with(platform_dir: &Path, paths: &[PathBuf]) -> Inputs {
    let mut inputs = Inputs::default();
    load_platform_dir(&mut inputs, platform_dir);
    for p in paths {
        inputs.load_path(p);
    }
    inputs
}

fn masked(r: &RenderedTenant) -> BTreeMap<(String, String), Value> {
    r.objects
        .iter()
        .chain(&r.generated_secrets)
        .map(|o| {
            let mut v = o.object.clone();
            if let Some(labels) = v
                .pointer_mut("/metadata/labels")
                .and_then(Value::as_object_mut)
            {
                labels.remove(LABEL_REVISION);
            }
            ((o.kind().to_string(), o.name().to_string()), v)
        })
        .collect()
}

/// Leaf paths where `a` and `b` differ (`data.title`, `spec.rules[0].host`).
fn changed_fields(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                changed_fields(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &p,
                    out,
                );
            }
        }
        (x, y) if x != y => out.push(if path.is_empty() {
            "(whole object)".into()
        } else {
            path.to_string()
        }),
        _ => {}
    }
}

pub fn run(g: &Global, from: &Path, to: &Path, paths: &[PathBuf], details: bool) -> u8 {
    for dir in [from, to] {
        if !dir.join("platform.yaml").is_file() {
            eprintln!(
                "{}: error: not a platform folder (no platform.yaml)",
                dir.display()
            );
            return USAGE;
        }
    }
    let before = load_with(from, paths);
    let after = load_with(to, paths);
    for inputs in [&before, &after] {
        if !inputs.unreadable.is_empty() {
            print_all(&inputs.unreadable, g.lang());
            return USAGE;
        }
    }
    let (Some(name_from), Some(name_to)) = (
        before.platforms.keys().next(),
        after.platforms.keys().next(),
    ) else {
        return USAGE;
    };
    if name_from != name_to {
        eprintln!("error: the two folders define different platforms ({name_from} and {name_to})");
        return USAGE;
    }
    let fleet_before = render_fleet(&before);
    let fleet_after = render_fleet(&after);
    // Tenants of other platforms are not part of this comparison.
    let on_platform =
        |inputs: &Inputs, i: usize| inputs.tenants[i].tenant.spec.platform == *name_from;
    let old: BTreeMap<String, &RenderedTenant> = fleet_before
        .outcomes
        .iter()
        .filter(|o| on_platform(&before, o.index))
        .filter_map(|o| {
            o.result
                .as_ref()
                .ok()
                .map(|r| (format!("{}/{}", r.namespace, r.name), r))
        })
        .collect();
    let mut reports = invalid_reports(&after, &fleet_after);
    reports.retain(|r| r.reason != "UnknownPlatform");
    let (mut changed, mut unchanged) = (0usize, 0usize);
    let mut by_field: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = String::new();
    for o in fleet_after
        .outcomes
        .iter()
        .filter(|o| on_platform(&after, o.index))
    {
        let Ok(new) = &o.result else { continue };
        let key = format!("{}/{}", new.namespace, new.name);
        let new_objs = masked(new);
        let old_objs = old.get(&key).map(|r| masked(r)).unwrap_or_default();
        if new_objs == old_objs {
            unchanged += 1;
            continue;
        }
        changed += 1;
        if details {
            out.push_str(&format!("tenant {key}:\n"));
        }
        for (id, obj) in &new_objs {
            match old_objs.get(id) {
                None => {
                    *by_field.entry(format!("{} (added)", id.0)).or_default() += 1;
                    if details {
                        out.push_str(&format!("  + {} {}\n", id.0, id.1));
                    }
                }
                Some(prev) if prev != obj => {
                    let mut fields = Vec::new();
                    changed_fields(prev, obj, "", &mut fields);
                    for f in &fields {
                        *by_field.entry(format!("{} {f}", id.0)).or_default() += 1;
                    }
                    if details {
                        let (a, b) = (to_yaml_document(prev), to_yaml_document(obj));
                        let diff = similar::TextDiff::from_lines(a.as_str(), b.as_str())
                            .unified_diff()
                            .context_radius(1)
                            .header(
                                &format!("{} {} (from)", id.0, id.1),
                                &format!("{} {} (to)", id.0, id.1),
                            )
                            .to_string();
                        for line in diff.lines() {
                            out.push_str(&format!("    {line}\n"));
                        }
                    }
                }
                Some(_) => {}
            }
        }
        for id in old_objs.keys().filter(|id| !new_objs.contains_key(*id)) {
            *by_field.entry(format!("{} (removed)", id.0)).or_default() += 1;
            if details {
                out.push_str(&format!("  - {} {}\n", id.0, id.1));
            }
        }
    }
    print!("{out}");
    println!("{changed} tenant(s) change, {unchanged} unchanged");
    for (field, n) in &by_field {
        println!("  {n:>6}  {field}");
    }
    if !reports.is_empty() {
        eprintln!("with the new platform, some tenants no longer render:");
        print_all(&reports, g.lang());
        return INVALID;
    }
    if changed > 0 { INVALID } else { 0 }
}
