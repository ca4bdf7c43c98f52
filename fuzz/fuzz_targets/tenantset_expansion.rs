//! Fuzzes TenantSet expansion (`khaibao::pipeline::expand_tenant_set`, shared by the CLI and the
//! operator) with sets built from the bytes: a division ("34", "63" or anything), a `communesOf`,
//! codes, types and excludes (real codes of the registry, mostly, and junk), predecessors,
//! parent, namespace, annotations, and values whose strings are templates over `unit`: some made
//! only of text and `{{unit.FIELD}}`, one of arbitrary handlebars pieces. Whatever the bytes it
//! never panics, and its answer is the one an independent reading of the selection gives:
//! - refused: every diagnostic points into `/spec`; the selection problems are exactly the ones
//!   expected (bad division, communesOf, codes, predecessors of unselected units, a name
//!   collision), else only the arbitrary template fails to render;
//! - accepted: the selected units in code order, no more and no fewer, each Tenant with a unique
//!   name (its unit's slug), in the set's namespace, with a unit from the selection that passes
//!   the type filter and is not excluded, and every `{{unit.FIELD}}` rendered to the unit's own
//!   field (no braces left); strings without `{{`, numbers, booleans, nulls and keys unchanged.
//!   An arbitrary template may rightly render to a literal `{{unit.code}}` (handlebars' `\{{`
//!   escape, raw blocks), so it is only checked to render to a string.
//! Run: cargo +nightly fuzz run tenantset_expansion -- -runs=1000000 -max_len=4096
//! Over 500 lines: the independent reading of a selection that the answer is checked against
//! lives here, beside the target, so that it shares no code with the expansion it checks.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use khaibao::api::{
    ANNOTATION_REFORM_PLAN, ANNOTATION_REFORM_RETIRES, API_VERSION, Level, Predecessor, Tenant,
    TenantSet, TenantSetSpec, Transition, UnitSelector,
};
use khaibao::pipeline::{LABEL_TENANT_SET, expand_tenant_set};
use khaibao::registry::{Division, DivisionUnits, units};
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const TYPES: [&str; 6] = [
    "xã",
    "phường",
    "thị trấn",
    "đặc khu",
    "tỉnh",
    "thành phố trung ương",
];
/// The fields of `unit` a value template may use.
const FIELDS: [&str; 6] = ["code", "name", "slug", "level", "provinceCode", "type"];
/// Pieces of handlebars for the arbitrary template.
const PIECES: [&str; 34] = [
    "{{",
    "}}",
    "{{{",
    "}}}",
    "{{{{raw}}}}",
    "{{{{/raw}}}}",
    "\\",
    "unit.",
    "unit",
    "code",
    "name",
    "slug",
    "provinceCode",
    "nope",
    "this",
    "@root",
    "../",
    " ",
    "~",
    "#if ",
    "#each ",
    "/if",
    "/each",
    "else",
    "!",
    "--",
    "\"",
    "lookup ",
    ">",
    "&",
    ".",
    "/",
    "(",
    ")",
];

/// A few bytes of the input as text (anything, including nothing).
fn word(u: &mut Unstructured) -> String {
    let n = u.int_in_range(0..=8usize).unwrap_or(0).min(u.len());
    String::from_utf8_lossy(u.bytes(n).unwrap_or_default()).into_owned()
}

fn pick<'a, T>(u: &mut Unstructured, items: &'a [T]) -> Option<&'a T> {
    if items.is_empty() {
        return None;
    }
    u.choose_index(items.len()).ok().map(|i| &items[i])
}

/// A unit code: of a province, of a commune (of the `communesOf` province, mostly), or junk.
fn code(u: &mut Unstructured, reg: &DivisionUnits, of_province: &[&str]) -> String {
    let picked = match u.int_in_range(0..=4u8).unwrap_or(0) {
        0 => pick(u, &reg.provinces).map(|p| p.code.clone()),
        1 | 2 if !of_province.is_empty() => pick(u, of_province).map(|c| c.to_string()),
        1..=3 => pick(u, &reg.communes).map(|c| c.code.clone()),
        _ => None,
    };
    picked.unwrap_or_else(|| word(u))
}

/// One piece of a value template that always renders.
#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Field(&'static str),
}

/// A template of text and `{{unit.FIELD}}` only. The text holds no `{`, `}` or `\`, so it is
/// literal to handlebars.
fn safe_template(u: &mut Unstructured) -> Vec<Part> {
    let n = u.int_in_range(0..=5u8).unwrap_or(0);
    (0..n)
        .map(|_| {
            if u.arbitrary::<bool>().unwrap_or(false) {
                Part::Field(FIELDS[u.choose_index(FIELDS.len()).unwrap_or(0)])
            } else {
                Part::Text(
                    word(u)
                        .chars()
                        .filter(|c| !matches!(c, '{' | '}' | '\\'))
                        .collect(),
                )
            }
        })
        .collect()
}

fn template_text(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Text(t) => t.clone(),
            Part::Field(f) => format!("{{{{unit.{f}}}}}"),
        })
        .collect()
}

/// A unit of the registry as the templates see it.
struct Unit {
    level: Level,
    code: &'static str,
    name: &'static str,
    slug: &'static str,
    province_code: &'static str,
    type_: &'static str,
}

impl Unit {
    fn find(reg: &'static DivisionUnits, level: Level, code: &str) -> Unit {
        match level {
            Level::Province => {
                let p = reg.province(code).expect("a province of the registry");
                Unit {
                    level,
                    code: &p.code,
                    name: &p.name,
                    slug: &p.slug,
                    province_code: &p.code,
                    type_: &p.division_type,
                }
            }
            Level::Commune => {
                let c = reg.commune(code).expect("a commune of the registry");
                Unit {
                    level,
                    code: &c.code,
                    name: &c.name,
                    slug: &c.slug,
                    province_code: &c.province_code,
                    type_: &c.division_type,
                }
            }
        }
    }

    fn field(&self, f: &str) -> &'static str {
        match f {
            "code" => self.code,
            "name" => self.name,
            "slug" => self.slug,
            "level" => self.level.as_str(),
            "provinceCode" => self.province_code,
            "type" => self.type_,
            _ => unreachable!(),
        }
    }

    fn render(&self, parts: &[Part]) -> String {
        parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Field(f) => self.field(f),
            })
            .collect()
    }
}

struct Case {
    set: TenantSet,
    /// The templates of `spec.values`: `t`, `nested.list.0`, `nested.list.4.deep`, the fuzzed key.
    safe: [Vec<Part>; 4],
    extra_key: String,
    /// The arbitrary template at `spec.values.raw`, when there is one.
    raw: Option<String>,
}

fn build(u: &mut Unstructured) -> Case {
    let division = match u.int_in_range(0..=7u8).unwrap_or(0) {
        0 | 1 => None,
        2 | 3 => Some("34".to_string()),
        4 | 5 => Some("63".to_string()),
        _ => Some(word(u)),
    };
    // Codes are drawn from the division the set names (the 34-province one when it names none
    // that exists), so most of them are real.
    let reg = units(match division.as_deref() {
        Some("63") => Division::D63,
        _ => Division::D34,
    });
    let communes_of = match u.int_in_range(0..=3u8).unwrap_or(0) {
        0 => None,
        1 | 2 => pick(u, &reg.provinces).map(|p| p.code.clone()),
        _ => Some(word(u)),
    };
    let province: Vec<&str> = match &communes_of {
        Some(pc) => reg.communes_of(pc).map(|c| c.code.as_str()).collect(),
        None => Vec::new(),
    };
    let province = province.as_slice();
    let codes = (0..u.int_in_range(0..=4u8).unwrap_or(0))
        .map(|_| code(u, reg, province))
        .collect();
    let types = (0..u.int_in_range(0..=2u8).unwrap_or(0))
        .map(|_| match u.int_in_range(0..=TYPES.len()).unwrap_or(0) {
            i if i < TYPES.len() => TYPES[i].to_string(),
            _ => word(u),
        })
        .collect();
    let exclude = (0..u.int_in_range(0..=3u8).unwrap_or(0))
        .map(|_| code(u, reg, province))
        .collect();
    let mut unit_predecessors = BTreeMap::new();
    for _ in 0..u.int_in_range(0..=2u8).unwrap_or(0) {
        let preds = if u.arbitrary::<bool>().unwrap_or(false) {
            vec![Predecessor {
                tenant: "tinh-01/old".into(),
                level: Level::Commune,
                code: "00001".into(),
                division: Some("63".into()),
                ..Default::default()
            }]
        } else {
            vec![]
        };
        unit_predecessors.insert(code(u, reg, province), preds);
    }
    let transition = u.arbitrary::<bool>().unwrap_or(false).then(|| Transition {
        until: Some("2026-12-31".into()),
    });
    let parent = match u.int_in_range(0..=2u8).unwrap_or(0) {
        0 => None,
        1 => Some("ha-noi".into()),
        _ => Some(word(u)),
    };
    let suspend = u.arbitrary::<bool>().unwrap_or(false);
    let platform = if u.arbitrary::<bool>().unwrap_or(false) {
        word(u)
    } else {
        "dichvucong".into()
    };
    let namespace = match u.int_in_range(0..=2u8).unwrap_or(0) {
        0 => None,
        1 => Some("tinh-01".into()),
        _ => Some(word(u)),
    };
    let name = if u.arbitrary::<bool>().unwrap_or(false) {
        word(u)
    } else {
        "xa-phuong".into()
    };
    let annotations = match u.int_in_range(0..=2u8).unwrap_or(0) {
        0 => None,
        1 => Some(BTreeMap::from([(
            ANNOTATION_REFORM_PLAN.to_string(),
            word(u),
        )])),
        _ => Some(BTreeMap::from([
            (ANNOTATION_REFORM_PLAN.to_string(), word(u)),
            (ANNOTATION_REFORM_RETIRES.to_string(), word(u)),
        ])),
    };
    let safe = [
        safe_template(u),
        safe_template(u),
        safe_template(u),
        safe_template(u),
    ];
    let extra_key = format!("k-{}", word(u));
    let raw = u.arbitrary::<bool>().unwrap_or(false).then(|| {
        (0..u.int_in_range(1..=10u8).unwrap_or(1))
            .map(|_| match u.int_in_range(0..=PIECES.len()).unwrap_or(0) {
                i if i < PIECES.len() => PIECES[i].to_string(),
                _ => word(u),
            })
            .collect::<String>()
    });
    let with_values = u.int_in_range(0..=3u8).unwrap_or(0) > 0;
    let values = with_values.then(|| {
        let mut v = json!({
            "t": template_text(&safe[0]),
            "nested": {"list": [template_text(&safe[1]), 42, true, null, {"deep": template_text(&safe[2])}]},
        });
        v[&extra_key] = json!(template_text(&safe[3]));
        if let Some(raw) = &raw {
            v["raw"] = json!(raw);
        }
        v
    });
    let mut set = TenantSet::new(
        &name,
        TenantSetSpec {
            platform,
            division,
            units: UnitSelector {
                codes,
                communes_of,
                types,
                exclude,
            },
            parent,
            values,
            suspend,
            predecessors: vec![],
            unit_predecessors,
            transition,
        },
    );
    set.metadata.namespace = namespace;
    set.metadata.annotations = annotations;
    Case {
        set,
        safe,
        extra_key,
        raw: raw.filter(|_| with_values),
    }
}

/// What an independent reading of the selection gives: the units (in code order), or the
/// pointers of the selection problems, in the order they are reported.
fn expected(set: &TenantSet) -> Result<(&'static DivisionUnits, Vec<Unit>), Vec<String>> {
    let division: Division = match set.spec.division.as_deref().unwrap_or("34").parse() {
        Ok(d) => d,
        Err(_) => return Err(vec!["/spec/division".into()]),
    };
    let reg = units(division);
    let sel = &set.spec.units;
    let mut problems = Vec::new();
    let mut chosen: BTreeMap<&str, Level> = BTreeMap::new();
    let mut candidates: Vec<(Level, String)> = Vec::new();
    if let Some(pc) = &sel.communes_of {
        if reg.province(pc).is_some() {
            candidates.extend(
                reg.communes
                    .iter()
                    .filter(|c| &c.province_code == pc)
                    .map(|c| (Level::Commune, c.code.clone())),
            );
        } else {
            problems.push("/spec/units/communesOf".to_string());
        }
    }
    for (i, code) in sel.codes.iter().enumerate() {
        if code.len() == 2 && reg.province(code).is_some() {
            candidates.push((Level::Province, code.clone()));
        } else if reg.commune(code).is_some() {
            candidates.push((Level::Commune, code.clone()));
        } else {
            problems.push(format!("/spec/units/codes/{i}"));
        }
    }
    for (level, code) in candidates {
        let unit = Unit::find(reg, level, &code);
        let kept_type = sel.types.is_empty() || sel.types.iter().any(|t| t == unit.type_);
        if kept_type && !sel.exclude.iter().any(|x| x == unit.code) {
            chosen.insert(unit.code, level);
        }
    }
    for code in set.spec.unit_predecessors.keys() {
        if !chosen.contains_key(code.as_str()) {
            problems.push(format!("/spec/unitPredecessors/{code}"));
        }
    }
    let chosen: Vec<Unit> = chosen
        .iter()
        .map(|(code, level)| Unit::find(reg, *level, code))
        .collect();
    let slugs: BTreeSet<&str> = chosen.iter().map(|u| u.slug).collect();
    if slugs.len() < chosen.len() {
        problems.push("/spec/units".into());
    }
    if problems.is_empty() {
        Ok((reg, chosen))
    } else {
        Err(problems)
    }
}

/// A message written only when it is shown.
struct Lazy<F: Fn(&mut std::fmt::Formatter) -> std::fmt::Result>(F);

impl<F: Fn(&mut std::fmt::Formatter) -> std::fmt::Result> std::fmt::Display for Lazy<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        (self.0)(f)
    }
}

fn check_tenant(case: &Case, t: &Value, unit: &Unit, division: Division, typed: bool) {
    let set = &case.set;
    let spec = &set.spec;
    // Formatted only when an assertion fails.
    let ctx = Lazy(|f: &mut std::fmt::Formatter| {
        write!(f, "tenant of unit {} from {set:?}: {t}", unit.code)
    });
    if typed {
        // Every manifest has the same shape; reading one back as a Tenant checks them all.
        assert!(
            serde_json::from_value::<Tenant>(t.clone()).is_ok(),
            "not a Tenant: {ctx}"
        );
    }
    assert_eq!(t["apiVersion"], API_VERSION, "{ctx}");
    assert_eq!(t["kind"], "Tenant", "{ctx}");
    let meta = &t["metadata"];
    assert_eq!(meta["name"], unit.slug, "{ctx}");
    let namespace = set.metadata.namespace.as_deref().unwrap_or("default");
    assert_eq!(meta["namespace"], namespace, "{ctx}");
    assert_eq!(
        meta["labels"].as_object().map(|m| m.len()),
        Some(1),
        "{ctx}"
    );
    assert_eq!(
        meta["labels"][LABEL_TENANT_SET],
        set.metadata.name.as_deref().unwrap_or_default(),
        "{ctx}"
    );
    let annotations = set.metadata.annotations.clone().unwrap_or_default();
    match annotations.get(ANNOTATION_REFORM_PLAN) {
        Some(_) => assert_eq!(meta["annotations"], json!(annotations), "{ctx}"),
        None => assert!(meta.get("annotations").is_none(), "{ctx}"),
    }
    let s = &t["spec"];
    assert_eq!(s["platform"], spec.platform, "{ctx}");
    // The unit: from the registry, selected, of a kept type, not excluded.
    let u = &s["unit"];
    assert_eq!(u["level"], unit.level.as_str(), "{ctx}");
    assert_eq!(u["code"], unit.code, "{ctx}");
    assert_eq!(u["name"], unit.name, "{ctx}");
    assert_eq!(u["division"], division.as_str(), "{ctx}");
    let sel = &spec.units;
    let listed = sel.codes.iter().any(|c| c == unit.code);
    let of_province =
        unit.level == Level::Commune && sel.communes_of.as_deref() == Some(unit.province_code);
    assert!(listed || of_province, "a unit not selected: {ctx}");
    assert!(
        !sel.exclude.iter().any(|c| c == unit.code),
        "an excluded unit: {ctx}"
    );
    assert!(
        sel.types.is_empty() || sel.types.iter().any(|t| t == unit.type_),
        "a unit of another type: {ctx}"
    );
    match unit.level {
        Level::Commune => assert_eq!(u["provinceCode"], unit.province_code, "{ctx}"),
        Level::Province => assert!(u.get("provinceCode").is_none(), "{ctx}"),
    }
    match (&spec.parent, unit.level) {
        (Some(p), Level::Commune) => assert_eq!(s["parent"], *p, "{ctx}"),
        _ => assert!(s.get("parent").is_none(), "{ctx}"),
    }
    assert_eq!(s.get("suspend").is_some(), spec.suspend, "{ctx}");
    match spec.unit_predecessors.get(unit.code) {
        Some(preds) => {
            assert_eq!(s["predecessors"], json!(preds), "{ctx}");
            assert_eq!(
                s.get("transition").cloned(),
                spec.transition.as_ref().map(|t| json!(t)),
                "{ctx}"
            );
        }
        None => assert!(
            s.get("predecessors").is_none() && s.get("transition").is_none(),
            "{ctx}"
        ),
    }
    // The values: every `{{unit.FIELD}}` rendered to this unit's field, nothing else changed.
    let Some(input) = &spec.values else {
        assert!(s.get("values").is_none(), "{ctx}");
        return;
    };
    let v = &s["values"];
    let rendered: Vec<String> = case.safe.iter().map(|p| unit.render(p)).collect();
    for r in &rendered {
        assert!(!r.contains("{{"), "{ctx}");
    }
    assert_eq!(v["t"], rendered[0], "{ctx}");
    assert_eq!(
        v["nested"],
        json!({"list": [rendered[1], 42, true, null, {"deep": rendered[2]}]}),
        "{ctx}"
    );
    assert_eq!(v[&case.extra_key], rendered[3], "{ctx}");
    let keys = |x: &Value| x.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>());
    assert_eq!(keys(v), keys(input), "{ctx}");
    if let Some(raw) = &case.raw {
        if raw.contains("{{") {
            assert!(v["raw"].is_string(), "{ctx}");
        } else {
            assert_eq!(v["raw"], *raw, "{ctx}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let case = build(&mut u);
    let set = &case.set;
    let result = expand_tenant_set(set);
    if let Err(diagnostics) = &result {
        assert!(
            !diagnostics.is_empty(),
            "refused without a diagnostic: {set:?}"
        );
        for d in diagnostics {
            assert!(
                d.pointer.starts_with("/spec"),
                "diagnostic outside /spec: {d:?} for {set:?}"
            );
        }
    }
    match (expected(set), result) {
        (Err(pointers), Err(diagnostics)) => {
            let got: Vec<&str> = diagnostics.iter().map(|d| d.pointer.as_str()).collect();
            assert_eq!(got, pointers, "{diagnostics:?} for {set:?}");
        }
        (Err(pointers), Ok(tenants)) => panic!(
            "expected {pointers:?}, got {} tenants for {set:?}",
            tenants.len()
        ),
        (Ok((_, units)), Err(diagnostics)) => {
            // Only the arbitrary template may fail, once per unit at most.
            let raw = case.raw.as_deref().unwrap_or_default();
            assert!(raw.contains("{{"), "{diagnostics:?} for {set:?}");
            assert!(
                diagnostics.len() <= units.len(),
                "{diagnostics:?} for {set:?}"
            );
            for d in &diagnostics {
                assert_eq!(d.pointer, "/spec/values/raw", "{d:?} for {set:?}");
            }
        }
        (Ok((reg, units)), Ok(tenants)) => {
            let codes: Vec<&str> = tenants
                .iter()
                .filter_map(|t| t["spec"]["unit"]["code"].as_str())
                .collect();
            let want: Vec<&str> = units.iter().map(|u| u.code).collect();
            assert_eq!(codes, want, "units made for {set:?}");
            let names: BTreeSet<&str> = tenants
                .iter()
                .filter_map(|t| t["metadata"]["name"].as_str())
                .collect();
            assert_eq!(
                names.len(),
                tenants.len(),
                "two Tenants of one name for {set:?}"
            );
            for (i, (t, unit)) in tenants.iter().zip(&units).enumerate() {
                check_tenant(&case, t, unit, reg.division, i == 0);
            }
        }
    }
});
