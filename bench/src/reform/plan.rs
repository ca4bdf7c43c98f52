//! What the move is planned from and read back from the plan: the assignments of the communes
//! the official mapping does not place, and the plan's successors.

use std::collections::BTreeMap;

use anyhow::{Context, bail, ensure};
use khaibao::api::Level;
use khaibao::registry::{Division, successors_of, units};
use serde_json::Value;

/// `--assign OLD=NEW` for each commune the official mapping does not place: the successor of
/// the nearest commune (by code) of the same 63-division district that the mapping places (its
/// whole-unit successor when it has one), else of the same province.
pub(super) fn assignments(unmapped: &[Value]) -> anyhow::Result<Vec<String>> {
    let reg = units(Division::D63);
    let mut out = Vec::new();
    for u in unmapped {
        let code = u["code"].as_str().context("unmapped without code")?;
        ensure!(u["level"] == "commune", "an unmapped province {code}");
        let c = reg
            .commune(code)
            .with_context(|| format!("unknown commune {code}"))?;
        let num = |s: &str| s.parse::<i64>().unwrap_or(0);
        let nearest = |same_district: bool| {
            reg.communes_of(&c.province_code)
                .filter(|n| !same_district || n.district_code == c.district_code)
                .filter(|n| !successors_of(Level::Commune, &n.code).is_empty())
                .min_by_key(|n| (num(&n.code) - num(code)).abs())
        };
        let Some(neighbour) = nearest(true).or_else(|| nearest(false)) else {
            bail!("commune {code} has no mapped neighbour");
        };
        let links = successors_of(Level::Commune, &neighbour.code);
        let to = links.iter().find(|l| !l.partial).unwrap_or(&links[0]);
        out.push(format!("{code}={}", to.code));
    }
    Ok(out)
}

/// The plan's successors `namespace/name` with their predecessors.
pub(super) fn plan_successors(plan: &Value) -> BTreeMap<String, Vec<String>> {
    plan["successors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let p = s["predecessors"].as_array().into_iter().flatten();
            (
                s["tenant"].as_str().unwrap_or_default().to_string(),
                p.filter_map(|p| p.as_str().map(String::from)).collect(),
            )
        })
        .collect()
}
