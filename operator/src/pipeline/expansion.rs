//! TenantSet expansion: a set and the official registry in, the Tenants it stands for out.
//! The CLI (`render`, `test`, `validate`) and the operator call this same function, so a set
//! expands identically offline and in the cluster. Pure: no I/O.

use std::collections::BTreeMap;

use handlebars::Handlebars;
use serde_json::{Value, json};

use crate::api::{
    ANNOTATION_REFORM_PLAN, ANNOTATION_REFORM_RETIRES, API_VERSION, Level, TenantSet, UnitRef,
};
use crate::diagnostics::{Diagnostic, Origin, Text};
use crate::registry::{Division, units};

/// Label carried by every Tenant a TenantSet made (its value: the set's name).
pub const LABEL_TENANT_SET: &str = "khaibao.dev/tenant-set";

/// One unit picked by a set.
struct Picked {
    level: Level,
    code: String,
    name: String,
    slug: String,
    province_code: String,
    type_: String,
}

fn problem(pointer: &str, en: String, vi: String) -> Diagnostic {
    Diagnostic::new(
        "InvalidTenantSet",
        Origin::Tenant,
        pointer,
        Text::new(en, vi),
    )
}

/// The Tenants of `set`, in code order, as manifests (no status, no owner reference: the
/// operator adds that). Values strings are templates over `unit`.
pub fn expand_tenant_set(set: &TenantSet) -> Result<Vec<Value>, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let division: Division = match set.spec.division.as_deref().unwrap_or("34").parse() {
        Ok(d) => d,
        Err(e) => {
            return Err(vec![problem(
                "/spec/division",
                e,
                "phân cấp phải là 63 hoặc 34".into(),
            )]);
        }
    };
    let reg = units(division);
    let sel = &set.spec.units;
    let mut picked: Vec<Picked> = Vec::new();
    if let Some(pc) = &sel.communes_of {
        match reg.province(pc) {
            None => problems.push(problem(
                "/spec/units/communesOf",
                format!("no province has code {pc:?} in the {division}-province division"),
                format!("không có tỉnh mã {pc:?} trong danh mục {division} tỉnh"),
            )),
            Some(_) => picked.extend(reg.communes_of(pc).map(|c| Picked {
                level: Level::Commune,
                code: c.code.clone(),
                name: c.name.clone(),
                slug: c.slug.clone(),
                province_code: c.province_code.clone(),
                type_: c.division_type.clone(),
            })),
        }
    }
    for (i, code) in sel.codes.iter().enumerate() {
        if let Some(p) = reg.province(code).filter(|_| code.len() == 2) {
            picked.push(Picked {
                level: Level::Province,
                code: p.code.clone(),
                name: p.name.clone(),
                slug: p.slug.clone(),
                province_code: p.code.clone(),
                type_: p.division_type.clone(),
            });
        } else if let Some(c) = reg.commune(code) {
            picked.push(Picked {
                level: Level::Commune,
                code: c.code.clone(),
                name: c.name.clone(),
                slug: c.slug.clone(),
                province_code: c.province_code.clone(),
                type_: c.division_type.clone(),
            });
        } else {
            problems.push(problem(
                &format!("/spec/units/codes/{i}"),
                format!("no unit has code {code:?} in the {division}-province division"),
                format!("không có đơn vị mã {code:?} trong danh mục {division} tỉnh"),
            ));
        }
    }
    picked.retain(|p| sel.types.is_empty() || sel.types.contains(&p.type_));
    picked.retain(|p| !sel.exclude.contains(&p.code));
    picked.sort_by(|a, b| a.code.cmp(&b.code));
    picked.dedup_by(|a, b| a.code == b.code);
    // A predecessor listed for a unit the set does not make would never be retired nor adopted.
    for code in set.spec.unit_predecessors.keys() {
        if picked
            .binary_search_by(|p| p.code.as_str().cmp(code))
            .is_err()
        {
            problems.push(problem(
                &format!("/spec/unitPredecessors/{code}"),
                format!("unit {code} has predecessors but the set does not select it; select it in spec.units or drop the entry"),
                format!("đơn vị {code} có đơn vị tiền nhiệm nhưng tập không chọn nó; chọn nó trong spec.units hoặc xoá mục này"),
            ));
        }
    }
    // Tenants are named by slug, unique within a province only: two units of one name in one
    // namespace would be one Tenant, the second silently replacing the first.
    let mut by_slug: BTreeMap<&str, &Picked> = BTreeMap::new();
    let mut collisions = Vec::new();
    for p in &picked {
        if let Some(first) = by_slug.insert(&p.slug, p) {
            collisions.push((first, p));
        }
    }
    if let Some((a, b)) = collisions.first() {
        let more = match collisions.len() {
            1 => String::new(),
            n => format!(" (and {} more such pairs)", n - 1),
        };
        let more_vi = match collisions.len() {
            1 => String::new(),
            n => format!(" (và {} cặp khác)", n - 1),
        };
        problems.push(
            Diagnostic::new(
                "UnitNameCollision",
                Origin::Tenant,
                "/spec/units",
                Text::new(
                    format!(
                        "units {} ({}, province {}) and {} ({}, province {}) would both be Tenant {:?}{more}: tenants are named by slug, which is unique only within a province",
                        a.code, a.name, a.province_code, b.code, b.name, b.province_code, b.slug
                    ),
                    format!(
                        "đơn vị {} ({}, tỉnh {}) và {} ({}, tỉnh {}) sẽ cùng là Tenant {:?}{more_vi}: tên Tenant theo slug, chỉ duy nhất trong một tỉnh",
                        a.code, a.name, a.province_code, b.code, b.name, b.province_code, b.slug
                    ),
                ),
            )
            .with_hint(Text::new(
                "select the units of one province per TenantSet (spec.units.communesOf, in that province's namespace)",
                "mỗi TenantSet chọn đơn vị của một tỉnh (spec.units.communesOf, trong namespace của tỉnh đó)",
            )),
        );
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let namespace = set
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let set_name = set.metadata.name.clone().unwrap_or_default();
    let reform_plan = set
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_REFORM_PLAN));
    let reform_retires = set
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_REFORM_RETIRES));
    let mut engine = Handlebars::new();
    engine.set_strict_mode(true);
    // Values are data inside a JSON structure here, never YAML text: no quoting needed.
    engine.register_escape_fn(handlebars::no_escape);
    let mut out = Vec::with_capacity(picked.len());
    for p in &picked {
        let ctx = json!({"unit": {"code": p.code, "name": p.name, "slug": p.slug, "level": p.level.as_str(),
                                  "provinceCode": p.province_code, "type": p.type_}});
        let values = match &set.spec.values {
            Some(v) => match template_values(&engine, v, &ctx, "/spec/values") {
                Ok(v) => Some(v),
                Err(d) => {
                    problems.push(d);
                    continue;
                }
            },
            None => None,
        };
        let unit = UnitRef {
            level: p.level,
            code: p.code.clone(),
            name: p.name.clone(),
            province_code: (p.level == Level::Commune).then(|| p.province_code.clone()),
            division: Some(division.as_str().to_string()),
        };
        let mut spec = json!({"platform": set.spec.platform, "unit": unit});
        if let Some(parent) = set
            .spec
            .parent
            .as_ref()
            .filter(|_| p.level == Level::Commune)
        {
            spec["parent"] = json!(parent);
        }
        if let Some(v) = values {
            spec["values"] = v;
        }
        if set.spec.suspend {
            spec["suspend"] = json!(true);
        }
        if let Some(preds) = set.spec.unit_predecessors.get(&p.code) {
            spec["predecessors"] = json!(preds);
            if let Some(t) = &set.spec.transition {
                spec["transition"] = json!(t);
            }
        }
        let mut metadata =
            json!({"name": p.slug, "namespace": namespace, "labels": {LABEL_TENANT_SET: set_name}});
        if let Some(plan) = reform_plan {
            metadata["annotations"] = json!({ANNOTATION_REFORM_PLAN: plan});
            if let Some(n) = reform_retires {
                metadata["annotations"][ANNOTATION_REFORM_RETIRES] = json!(n);
            }
        }
        out.push(json!({
            "apiVersion": API_VERSION, "kind": "Tenant",
            "metadata": metadata,
            "spec": spec,
        }));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn template_values(
    engine: &Handlebars<'_>,
    v: &Value,
    ctx: &Value,
    pointer: &str,
) -> Result<Value, Diagnostic> {
    Ok(match v {
        Value::String(s) if s.contains("{{") => {
            Value::String(engine.render_template(s, ctx).map_err(|e| {
                problem(
                    pointer,
                    format!("value template {s:?} does not render: {}", e.reason()),
                    format!("mẫu giá trị {s:?} không kết xuất được: {}", e.reason()),
                )
            })?)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| template_values(engine, x, ctx, &format!("{pointer}/{i}")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    Ok((
                        k.clone(),
                        template_values(engine, x, ctx, &format!("{pointer}/{k}"))?,
                    ))
                })
                .collect::<Result<_, Diagnostic>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{TenantSetSpec, UnitSelector};
    use std::collections::BTreeSet;

    fn set(selector: UnitSelector, values: Option<Value>) -> TenantSet {
        let mut s = TenantSet::new(
            "xa-phuong",
            TenantSetSpec {
                platform: "dichvucong".into(),
                division: None,
                units: selector,
                parent: Some("ha-noi".into()),
                values,
                ..Default::default()
            },
        );
        s.metadata.namespace = Some("tinh-01".into());
        s
    }

    #[test]
    fn every_commune_of_a_province() {
        let s = set(
            UnitSelector {
                communes_of: Some("01".into()),
                ..Default::default()
            },
            Some(
                json!({"branding": {"title": "Cổng {{unit.name}}"}, "domain": "{{unit.slug}}.ha-noi.gov.vn"}),
            ),
        );
        let tenants = expand_tenant_set(&s).unwrap();
        assert_eq!(tenants.len(), 126);
        let first = &tenants[0];
        assert_eq!(first["metadata"]["name"], "phuong-ba-dinh");
        assert_eq!(first["metadata"]["labels"][LABEL_TENANT_SET], "xa-phuong");
        assert_eq!(first["spec"]["parent"], "ha-noi");
        assert_eq!(first["spec"]["unit"]["provinceCode"], "01");
        assert_eq!(
            first["spec"]["values"]["branding"]["title"],
            "Cổng Phường Ba Đình"
        );
        assert_eq!(
            first["spec"]["values"]["domain"],
            "phuong-ba-dinh.ha-noi.gov.vn"
        );
    }

    #[test]
    fn filters_and_inline_codes() {
        let s = set(
            UnitSelector {
                communes_of: Some("01".into()),
                types: vec!["xã".into()],
                exclude: vec!["00004".into()],
                ..Default::default()
            },
            None,
        );
        let t = expand_tenant_set(&s).unwrap();
        assert!(t.iter().all(|x| {
            x["spec"]["unit"]["name"]
                .as_str()
                .unwrap()
                .starts_with("Xã")
        }));
        let s = set(
            UnitSelector {
                codes: vec!["01".into(), "00004".into(), "99999".into()],
                ..Default::default()
            },
            None,
        );
        let e = expand_tenant_set(&s).unwrap_err();
        assert_eq!(e[0].pointer, "/spec/units/codes/2");
    }

    #[test]
    fn a_bad_value_template_is_reported() {
        let s = set(
            UnitSelector {
                codes: vec!["00004".into()],
                ..Default::default()
            },
            Some(json!({"x": "{{unit.nope}}"})),
        );
        let e = expand_tenant_set(&s).unwrap_err();
        assert_eq!(e[0].pointer, "/spec/values/x");
    }

    #[test]
    fn a_set_of_every_commune_of_the_country() {
        let all: Vec<String> = units(Division::D34)
            .communes
            .iter()
            .map(|c| c.code.clone())
            .collect();
        assert_eq!(all.len(), 3_321);
        let mut s = set(
            UnitSelector {
                codes: all,
                ..Default::default()
            },
            Some(json!({"domain": "{{unit.slug}}.gov.vn"})),
        );
        s.spec.parent = None;
        let result = expand_tenant_set(&s);
        // Slugs repeat across provinces (`phuong-1`...): refused as one error, not 3,321
        // tenants of which some silently replace others.
        let e = result.unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].reason, "UnitNameCollision");
        assert_eq!(e[0].pointer, "/spec/units");
        let msg = &e[0].message.en;
        assert!(
            msg.contains("would both be Tenant") && msg.contains("more such pairs"),
            "{msg}"
        );
        assert!(e[0].hint.as_ref().unwrap().en.contains("communesOf"));
        // The same country, one province per set: every province's communes expand, with
        // names unique within each.
        let mut total = 0;
        for p in &units(Division::D34).provinces {
            s.spec.units = UnitSelector {
                communes_of: Some(p.code.clone()),
                ..Default::default()
            };
            let tenants = expand_tenant_set(&s).unwrap();
            let names: BTreeSet<&str> = tenants
                .iter()
                .filter_map(|t| t["metadata"]["name"].as_str())
                .collect();
            assert_eq!(names.len(), tenants.len(), "province {}", p.code);
            total += tenants.len();
        }
        assert_eq!(total, 3_321);
    }
}
