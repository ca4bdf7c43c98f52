use khaibao::registry::{Division, units};
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
