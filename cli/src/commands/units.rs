use khaibao::api::Level;
use khaibao::diagnostics::Lang;
use khaibao::registry::{
    Division, EDITIONS, Edition, REFORM_DATE, UnitLink, edition_units, former_names,
    predecessors_of, successors_of, units,
};
use serde_json::json;

use super::USAGE;
use crate::{Global, UnitsFormat};

/// Lists provinces, or the communes of one province.
pub fn run(_g: &Global, division: &str, province: Option<&str>, format: UnitsFormat) -> u8 {
    let division: Division = match division.parse() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let reg = units(division);
    let rows: Vec<[String; 4]> = match province {
        None => reg
            .provinces
            .iter()
            .map(|p| {
                [
                    p.code.clone(),
                    p.name.clone(),
                    p.division_type.clone(),
                    p.slug.clone(),
                ]
            })
            .collect(),
        Some(code) => {
            if reg.province(code).is_none() {
                eprintln!(
                    "error: no province has code {code:?} in the {division}-province division (see `khaibao units --division {division}`)"
                );
                return USAGE;
            }
            reg.communes_of(code)
                .map(|c| {
                    [
                        c.code.clone(),
                        c.name.clone(),
                        c.division_type.clone(),
                        c.slug.clone(),
                    ]
                })
                .collect()
        }
    };
    let header = ["code", "name", "type", "slug"];
    match format {
        UnitsFormat::Table => {
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::NOTHING);
            t.set_header(header);
            for r in &rows {
                t.add_row(r.iter());
            }
            println!("{t}");
        }
        UnitsFormat::Csv => {
            println!("{}", header.join(","));
            for r in &rows {
                println!("{}", r.join(","));
            }
        }
        UnitsFormat::Json => {
            let list: Vec<_> = rows
                .iter()
                .map(|r| json!({"code": r[0], "name": r[1], "type": r[2], "slug": r[3]}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&list).unwrap_or_default()
            );
        }
    }
    0
}

/// One unit related to the unit asked about, as printed.
struct Related {
    code: String,
    name: String,
    division_type: String,
    partial: bool,
}

fn related(level: Level, division: Division, link: &UnitLink) -> Related {
    let (name, division_type) = units(division)
        .name_of(level, &link.code)
        .unwrap_or_default();
    Related {
        code: link.code.clone(),
        name: name.to_string(),
        division_type: division_type.to_string(),
        partial: link.partial,
    }
}

/// `khaibao units --history CODE`: the unit's name in every edition, what the 2025 mapping made
/// of it and what it was made from. A 2-digit code is a province, a 5-digit one a commune.
pub fn history(g: &Global, code: &str, format: UnitsFormat) -> u8 {
    let lang = g.lang();
    let level = match code.len() {
        _ if !code.bytes().all(|b| b.is_ascii_digit()) => None,
        2 => Some(Level::Province),
        5 => Some(Level::Commune),
        _ => None,
    };
    let Some(level) = level else {
        match lang {
            Lang::En => eprintln!(
                "error: --history takes a 2-digit province code or a 5-digit commune code, not {code:?}"
            ),
            Lang::Vi => eprintln!(
                "error: --history nhận mã tỉnh 2 chữ số hoặc mã xã/phường 5 chữ số, không phải {code:?}"
            ),
        }
        return USAGE;
    };
    // (edition, name, type) for every edition that has the code.
    let editions: Vec<(&Edition, &str, &str)> = EDITIONS
        .iter()
        .filter_map(|e| {
            edition_units(e)
                .name_of(level, code)
                .map(|(n, t)| (e, n, t))
        })
        .collect();
    let successors: Vec<Related> = successors_of(level, code)
        .iter()
        .map(|l| related(level, Division::D34, l))
        .collect();
    let predecessors: Vec<Related> = predecessors_of(level, code)
        .iter()
        .map(|l| related(level, Division::D63, l))
        .collect();
    if editions.is_empty() && successors.is_empty() {
        match lang {
            Lang::En => eprintln!(
                "error: no {} has code {code:?} in any edition of the registry (see `khaibao units`)",
                level.as_str()
            ),
            Lang::Vi => eprintln!(
                "error: không có {} nào mã {code:?} trong mọi ấn bản danh mục (xem `khaibao units`)",
                if level == Level::Province {
                    "tỉnh"
                } else {
                    "xã/phường"
                }
            ),
        }
        return USAGE;
    }
    let current = editions.last().map(|(_, n, _)| *n).unwrap_or_default();
    match format {
        UnitsFormat::Json => {
            let links = |rs: &[Related]| -> Vec<serde_json::Value> {
                rs.iter()
                    .map(|r| json!({"code": r.code, "name": r.name, "type": r.division_type, "partial": r.partial}))
                    .collect()
            };
            let doc = json!({
                "level": level.as_str(),
                "code": code,
                "name": current,
                "editions": editions.iter().map(|(e, n, t)| json!({
                    "edition": e.date, "division": e.division.as_str(), "name": n, "type": t,
                })).collect::<Vec<_>>(),
                "formerNames": former_names(level, code).iter().map(|s| json!({
                    "name": s.name, "type": s.division_type, "since": s.since(), "until": s.until,
                })).collect::<Vec<_>>(),
                "reformDate": REFORM_DATE,
                "successors": links(&successors),
                "predecessors": links(&predecessors),
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        UnitsFormat::Csv => {
            println!("relation,edition,division,code,name,type,partial");
            for (e, n, t) in &editions {
                println!("name,{},{},{code},{n},{t},", e.date, e.division);
            }
            for (relation, division, rs) in [
                ("successor", Division::D34, &successors),
                ("predecessor", Division::D63, &predecessors),
            ] {
                for r in rs {
                    println!(
                        "{relation},{REFORM_DATE},{division},{},{},{},{}",
                        r.code, r.name, r.division_type, r.partial
                    );
                }
            }
        }
        UnitsFormat::Table => {
            let vi = lang == Lang::Vi;
            let level_word = match (level, vi) {
                (Level::Province, false) => "province",
                (Level::Commune, false) => "commune",
                (Level::Province, true) => "tỉnh",
                (Level::Commune, true) => "xã/phường",
            };
            println!("{level_word} {code} {current}");
            println!();
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::NOTHING);
            t.set_header(if vi {
                ["ấn bản", "danh mục", "tên", "loại"]
            } else {
                ["edition", "division", "name", "type"]
            });
            for e in &EDITIONS {
                match editions.iter().find(|(x, _, _)| std::ptr::eq(*x, e)) {
                    Some((_, n, t2)) => t.add_row([e.date, e.division.as_str(), n, t2]),
                    None => t.add_row([
                        e.date,
                        e.division.as_str(),
                        if vi { "(không có)" } else { "(none)" },
                        "",
                    ]),
                };
            }
            println!("{t}");
            let part = if vi { " (một phần)" } else { " (part)" };
            let print_links = |en: &str, vi_label: &str, rs: &[Related]| {
                if rs.is_empty() {
                    return;
                }
                println!();
                println!("{} ({REFORM_DATE}):", if vi { vi_label } else { en });
                for r in rs {
                    println!(
                        "  {} {}{}",
                        r.code,
                        r.name,
                        if r.partial { part } else { "" }
                    );
                }
            };
            print_links("became", "trở thành", &successors);
            print_links("made from", "hình thành từ", &predecessors);
            let in_63 = editions.iter().any(|(e, _, _)| e.division == Division::D63);
            if in_63 && successors.is_empty() {
                println!();
                if vi {
                    println!(
                        "không có đơn vị kế thừa trong bảng chuyển đổi chính thức ngày {REFORM_DATE}"
                    );
                } else {
                    println!("no successor in the official mapping of {REFORM_DATE}");
                }
            }
        }
    }
    0
}
