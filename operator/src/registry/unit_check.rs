//! Checks a Tenant's declared unit against the official registry and resolves the facts the
//! templates use (slug, province name, type). Every refusal names the official unit.

use crate::api::{Level, UnitRef};
use crate::diagnostics::{Diagnostic, Origin, Text};

use super::{Division, merged_into, units};

/// A unit confirmed by the registry, with everything templates may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedUnit {
    pub division: Division,
    pub level: Level,
    pub code: String,
    pub name: String,
    pub slug: String,
    /// `tỉnh`, `thành phố trung ương`, `xã`, `phường`, `thị trấn` or `đặc khu`.
    pub division_type: String,
    pub province_code: String,
    pub province_name: String,
    pub province_slug: String,
}

/// Why a declared unit was refused.
pub type UnitError = Diagnostic;

fn unit_error(pointer: &str, reason: &'static str, en: String, vi: String) -> UnitError {
    Diagnostic::new(reason, Origin::Tenant, pointer, Text::new(en, vi))
}

/// Resolves `unit` in its division (34 unless it says 63).
pub fn resolve_unit(unit: &UnitRef) -> Result<ResolvedUnit, UnitError> {
    let division = match unit.division.as_deref() {
        None => Division::D34,
        Some(d) => d.parse().map_err(|e: String| {
            unit_error(
                "/spec/unit/division",
                "InvalidUnit",
                e,
                format!("phân cấp {d:?} không hợp lệ: dùng 63 hoặc 34"),
            )
        })?,
    };
    let reg = units(division);
    let code = unit.code.as_str();
    match unit.level {
        Level::Province => {
            let Some(p) = reg.province(code) else {
                return Err(unknown_unit(unit, division));
            };
            if unit.name != p.name && unit.name != p.short_name {
                return Err(name_mismatch(code, &p.name, &unit.name));
            }
            Ok(ResolvedUnit {
                division,
                level: Level::Province,
                code: p.code.clone(),
                name: p.name.clone(),
                slug: p.slug.clone(),
                division_type: p.division_type.clone(),
                province_code: p.code.clone(),
                province_name: p.name.clone(),
                province_slug: p.slug.clone(),
            })
        }
        Level::Commune => {
            let Some(c) = reg.commune(code) else {
                return Err(unknown_unit(unit, division));
            };
            if unit.name != c.name {
                return Err(name_mismatch(code, &c.name, &unit.name));
            }
            let province = reg
                .province(&c.province_code)
                .expect("registry: every commune's province exists (checked by tests)");
            match unit.province_code.as_deref() {
                None => {
                    return Err(unit_error(
                        "/spec/unit",
                        "InvalidUnit",
                        format!(
                            "commune {code} ({}) needs unit.provinceCode; set provinceCode: \"{}\" ({})",
                            c.name, province.code, province.name
                        ),
                        format!(
                            "xã/phường {code} ({}) cần khai báo unit.provinceCode; đặt provinceCode: \"{}\" ({})",
                            c.name, province.code, province.name
                        ),
                    ));
                }
                Some(pc) if pc != c.province_code => {
                    return Err(unit_error(
                        "/spec/unit/provinceCode",
                        "UnitOutsideProvince",
                        format!(
                            "commune {code} ({}) belongs to province {} ({}), not {pc}",
                            c.name, province.code, province.name
                        ),
                        format!(
                            "xã/phường {code} ({}) thuộc tỉnh {} ({}), không thuộc {pc}",
                            c.name, province.code, province.name
                        ),
                    ));
                }
                Some(_) => {}
            }
            Ok(ResolvedUnit {
                division,
                level: Level::Commune,
                code: c.code.clone(),
                name: c.name.clone(),
                slug: c.slug.clone(),
                division_type: c.division_type.clone(),
                province_code: province.code.clone(),
                province_name: province.name.clone(),
                province_slug: province.slug.clone(),
            })
        }
    }
}

fn name_mismatch(code: &str, official: &str, given: &str) -> UnitError {
    unit_error(
        "/spec/unit/name",
        "UnitNameMismatch",
        format!("unit {code} is {official}, not {given:?}; set name: \"{official}\""),
        format!("đơn vị {code} là {official}, không phải {given:?}; đặt name: \"{official}\""),
    )
}

fn unknown_unit(unit: &UnitRef, division: Division) -> UnitError {
    let code = &unit.code;
    let level = unit.level.as_str();
    let other = match division {
        Division::D34 => Division::D63,
        Division::D63 => Division::D34,
    };
    let other_units = units(other);
    // Say what the code is elsewhere: the commonest mistake is a level or division mix-up.
    let (hint_en, hint_vi) = if let Some(c) = units(division).commune(code) {
        (
            format!("{code} is the commune {}: set level: commune", c.name),
            format!("{code} là xã/phường {}: đặt level: commune", c.name),
        )
    } else if let Some(p) = units(division).province(code) {
        (
            format!("{code} is the province {}: set level: province", p.name),
            format!("{code} là tỉnh {}: đặt level: province", p.name),
        )
    } else if let Some(p) = other_units
        .province(code)
        .filter(|_| unit.level == Level::Province)
    {
        let merged = if other == Division::D63 {
            merged_into(code)
                .map(|n| format!(", merged into {} {} on 1 July 2025", n.code, n.name))
                .unwrap_or_default()
        } else {
            String::new()
        };
        (
            format!(
                "{code} is {} in the {other}-province division{merged}; set unit.division: \"{other}\" or use the current code",
                p.name
            ),
            format!(
                "{code} là {} trong danh mục {other} tỉnh; đặt unit.division: \"{other}\" hoặc dùng mã hiện hành",
                p.name
            ),
        )
    } else if let Some(c) = other_units
        .commune(code)
        .filter(|_| unit.level == Level::Commune)
    {
        (
            format!(
                "{code} is {} in the {other}-province division; set unit.division: \"{other}\"",
                c.name
            ),
            format!(
                "{code} là {} trong danh mục {other} tỉnh; đặt unit.division: \"{other}\"",
                c.name
            ),
        )
    } else {
        (
            "check the code with `khaibao units`".to_string(),
            "tra mã bằng lệnh `khaibao units`".to_string(),
        )
    };
    unit_error(
        "/spec/unit/code",
        "UnknownUnit",
        format!("no {level} has code {code:?} in the {division}-province division"),
        format!(
            "không có {} nào mã {code:?} trong danh mục {division} tỉnh",
            if unit.level == Level::Province {
                "tỉnh"
            } else {
                "xã/phường"
            }
        ),
    )
    .with_hint(Text::new(hint_en, hint_vi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(level: Level, code: &str, name: &str, pc: Option<&str>, div: Option<&str>) -> UnitRef {
        UnitRef {
            level,
            code: code.into(),
            name: name.into(),
            province_code: pc.map(Into::into),
            division: div.map(Into::into),
        }
    }

    #[test]
    fn a_province_resolves_by_full_or_short_name() {
        let r = resolve_unit(&unit(Level::Province, "01", "Hà Nội", None, None)).unwrap();
        assert_eq!(r.name, "Thành phố Hà Nội");
        assert_eq!(r.slug, "ha-noi");
        assert!(resolve_unit(&unit(Level::Province, "01", "Thành phố Hà Nội", None, None)).is_ok());
    }

    #[test]
    fn a_wrong_name_is_refused_with_the_official_one() {
        let e = resolve_unit(&unit(Level::Province, "01", "Hải Phòng", None, None)).unwrap_err();
        assert_eq!(e.reason, "UnitNameMismatch");
        assert!(
            e.message.en.starts_with("unit 01 is Thành phố Hà Nội, not"),
            "{}",
            e.message.en
        );
        assert!(e.message.vi.contains("đơn vị 01 là Thành phố Hà Nội"));
    }

    #[test]
    fn an_old_province_code_points_to_the_63_division_and_its_merge() {
        let e = resolve_unit(&unit(Level::Province, "02", "Hà Giang", None, None)).unwrap_err();
        assert_eq!(e.reason, "UnknownUnit");
        let hint = &e.hint.unwrap().en;
        assert!(
            hint.contains("Tỉnh Hà Giang") && hint.contains("08 Tỉnh Tuyên Quang"),
            "{hint}"
        );
        assert!(resolve_unit(&unit(Level::Province, "02", "Hà Giang", None, Some("63"))).is_ok());
    }

    #[test]
    fn communes_must_name_their_province() {
        let ok = unit(
            Level::Commune,
            "00001",
            "Phường Phúc Xá",
            Some("01"),
            Some("63"),
        );
        assert_eq!(resolve_unit(&ok).unwrap().province_slug, "ha-noi");
        let wrong = unit(
            Level::Commune,
            "00001",
            "Phường Phúc Xá",
            Some("96"),
            Some("63"),
        );
        let e = resolve_unit(&wrong).unwrap_err();
        assert_eq!(e.reason, "UnitOutsideProvince");
        assert_eq!(e.pointer, "/spec/unit/provinceCode");
        let missing = unit(Level::Commune, "00001", "Phường Phúc Xá", None, Some("63"));
        assert!(
            resolve_unit(&missing)
                .unwrap_err()
                .message
                .en
                .contains("provinceCode: \"01\"")
        );
    }

    #[test]
    fn a_level_mix_up_is_explained() {
        let e = resolve_unit(&unit(
            Level::Province,
            "00004",
            "Phường Ba Đình",
            None,
            None,
        ))
        .unwrap_err();
        assert!(e.hint.unwrap().en.contains("set level: commune"));
    }
}
