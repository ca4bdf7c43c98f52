//! Writing the `--out` folder: one file of successor declarations per target province, ready for
//! `khaibao apply`, and the plan as JSON. Apart from the command because a plan run again must
//! replace its own earlier files there and never touch anything else in the folder.

use std::path::Path;

use khaibao::reform::Plan;
use serde_json::Value;

/// The first line of every file the plan writes: a later run replaces only such files.
const HEADER: &str =
    "# Written by `khaibao reform plan`; review, then `khaibao apply` this folder.";

pub(super) fn write_out(dir: &Path, plan: &Plan, json: &Value) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    // A plan run again replaces its own earlier files (a province merged away must not leave
    // its old file behind) and never touches anything else in the folder.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            let ours = p.extension().is_some_and(|x| x == "yaml")
                && std::fs::read_to_string(&p).is_ok_and(|t| t.starts_with(HEADER));
            if ours {
                std::fs::remove_file(&p)
                    .map_err(|e| format!("{}: cannot replace: {e}", p.display()))?;
            }
        }
    }
    let registry = khaibao::registry::units(plan.to);
    for (province, docs) in &plan.manifests {
        let slug = registry.province(province).map_or("", |p| p.slug.as_str());
        let path = dir.join(format!("{province}-{slug}.yaml"));
        let text = format!(
            "{HEADER}\n# Plan {} ({} → {}).\n{}",
            plan.id,
            plan.from,
            plan.to,
            khaibao::yaml::to_yaml_stream(docs)
        );
        std::fs::write(&path, text)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    }
    let path = dir.join("reform-plan.json");
    let text = serde_json::to_string_pretty(json).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(|e| format!("{}: cannot write: {e}", path.display()))
}
