//! Reading a `--resolve` file: for each successor (`namespace/name`), the values a person chose
//! where its predecessors conflict. Apart from the command because its every shape error must
//! name the file and line, which needs the YAML positions the rest of the command never uses.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// Reads `successor → pointer → value`; every shape error names the line.
pub(super) fn read_resolutions(
    file: &Path,
) -> Result<BTreeMap<String, BTreeMap<String, Value>>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    let docs = khaibao::yaml::parse_stream(&text, true).map_err(|e| {
        format!(
            "{}:{}:{}: invalid YAML: {}",
            file.display(),
            e.location.line,
            e.location.column,
            e.message
        )
    })?;
    let mut out = BTreeMap::new();
    for d in docs {
        if d.value.is_null() {
            continue;
        }
        let line = |p: &str| {
            d.positions
                .key(p)
                .or_else(|| d.positions.value(p))
                .map_or(1, |l| l.line)
        };
        let Value::Object(m) = &d.value else {
            return Err(format!(
                "{}:{}: a resolve file maps each successor (namespace/name) to its settled values, e.g.\n  tinh-08/tuyen-quang:\n    /contact/hotline: \"0207 3822 222\"",
                file.display(),
                line("")
            ));
        };
        for (successor, paths) in m {
            let ptr = format!("/{}", successor.replace('~', "~0").replace('/', "~1"));
            if !successor.contains('/') {
                return Err(format!(
                    "{}:{}: {successor:?} is not namespace/name; name the successor as the plan does, e.g. tinh-08/tuyen-quang",
                    file.display(),
                    line(&ptr)
                ));
            }
            let Value::Object(paths) = paths else {
                return Err(format!(
                    "{}:{}: under {successor} write `/json/pointer: value` lines",
                    file.display(),
                    line(&ptr)
                ));
            };
            let entry: &mut BTreeMap<String, Value> = out.entry(successor.clone()).or_default();
            for (p, v) in paths {
                if !p.starts_with('/') {
                    return Err(format!(
                        "{}:{}: {p:?} is not a JSON pointer; write it as the plan lists it, e.g. /contact/hotline",
                        file.display(),
                        line(&format!(
                            "{ptr}/{}",
                            p.replace('~', "~0").replace('/', "~1")
                        ))
                    ));
                }
                entry.insert(p.clone(), v.clone());
            }
        }
    }
    Ok(out)
}
