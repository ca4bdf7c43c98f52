//! Checks a Tenant's declared unit against the official registry and resolves the facts the
//! templates use (slug, province name, type). Every refusal names the official unit; a unit that
//! is still valid but out of date (an earlier official name, the superseded 63-province
//! division) is accepted with a warning, so running tenants never break on a registry update.

use unicode_normalization::UnicodeNormalization;

use crate::api::{Level, UnitRef};
use crate::diagnostics::{Diagnostic, Origin, Text};

use super::{
    Division, NameSpan, REFORM_DATE, current_edition, former_names, name_history, predecessors_of,
    successors_of, units,
};

/// A unit confirmed by the registry, with everything templates may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedUnit {
    pub division: Division,
    pub level: Level,
    pub code: String,
    /// The current official name, whatever earlier name the tenant declared.
    pub name: String,
    pub slug: String,
    /// `tỉnh`, `thành phố trung ương`, `xã`, `phường`, `thị trấn` or `đặc khu`.
    pub division_type: String,
    pub province_code: String,
    pub province_name: String,
    pub province_slug: String,
    /// What is out of date but not wrong (`UnitRenamed`, `DivisionSuperseded`): shown to the
    /// user, never a reason to refuse the tenant.
    pub warnings: Vec<Diagnostic>,
}

/// Why a declared unit was refused.
pub type UnitError = Diagnostic;

fn unit_error(pointer: &str, reason: &'static str, en: String, vi: String) -> UnitError {
    Diagnostic::new(reason, Origin::Tenant, pointer, Text::new(en, vi))
}

/// Whether a declared name is an official one. Files may hold names in NFD (decomposed
/// diacritics, as some editors and macOS file names produce); they are the same name. The
/// registry is NFC (checked by a test), so only the declared side is normalised, and only when
/// the plain comparison fails.
pub fn same_name(declared: &str, official: &str) -> bool {
    declared == official || (!declared.is_ascii() && declared.nfc().eq(official.chars()))
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
    let mut warnings = Vec::new();
    let resolved = match unit.level {
        Level::Province => {
            let Some(p) = reg.province(code) else {
                return Err(unknown_unit(unit, division));
            };
            if !same_name(&unit.name, &p.name) && !same_name(&unit.name, &p.short_name) {
                warnings.push(earlier_name(unit, division, &p.name)?);
            }
            ResolvedUnit {
                division,
                level: Level::Province,
                code: p.code.clone(),
                name: p.name.clone(),
                slug: p.slug.clone(),
                division_type: p.division_type.clone(),
                province_code: p.code.clone(),
                province_name: p.name.clone(),
                province_slug: p.slug.clone(),
                warnings: Vec::new(),
            }
        }
        Level::Commune => {
            let Some(c) = reg.commune(code) else {
                return Err(unknown_unit(unit, division));
            };
            if !same_name(&unit.name, &c.name) {
                warnings.push(earlier_name(unit, division, &c.name)?);
            }
            // Embedded data, checked by the test `slugs_are_dns_labels_and_unique_per_province`.
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
            ResolvedUnit {
                division,
                level: Level::Commune,
                code: c.code.clone(),
                name: c.name.clone(),
                slug: c.slug.clone(),
                division_type: c.division_type.clone(),
                province_code: province.code.clone(),
                province_name: province.name.clone(),
                province_slug: province.slug.clone(),
                warnings: Vec::new(),
            }
        }
    };
    if let Some(ended) = division.ended() {
        warnings.push(division_superseded(unit, &resolved.name, division, ended));
    }
    Ok(ResolvedUnit {
        warnings,
        ..resolved
    })
}

/// The declared name is not the current one: a warning when it is an earlier official name of
/// the code in this division (a rename keeps the unit), else a refusal.
fn earlier_name(
    unit: &UnitRef,
    division: Division,
    official: &str,
) -> Result<Diagnostic, UnitError> {
    let code = unit.code.as_str();
    let former = former_names(unit.level, code);
    let carried_here = |s: &&&NameSpan| s.editions.iter().any(|e| e.division == division);
    if let Some(span) = former
        .iter()
        .filter(carried_here)
        .find(|s| same_name(&unit.name, &s.name))
    {
        let since = span.until.unwrap_or(current_edition(division).date);
        return Ok(Diagnostic::new(
            "UnitRenamed",
            Origin::Tenant,
            "/spec/unit/name",
            Text::new(
                format!(
                    "unit {code} has been {official} since {since} (formerly {}); the tenant is rendered with the current name",
                    span.name
                ),
                format!(
                    "đơn vị {code} đã đổi tên thành {official} từ ngày {since} (tên cũ: {}); đơn vị được kết xuất với tên hiện hành",
                    span.name
                ),
            ),
        )
        .with_hint(Text::new(
            format!("set name: \"{official}\""),
            format!("đặt name: \"{official}\""),
        )));
    }
    let mismatch = name_mismatch(code, official, &unit.name);
    // The name of another unit that once had this code (the code was reused in the reform):
    // say what became of that unit, so the user can pick the right code or division.
    let elsewhere = former
        .iter()
        .filter(|s| !s.editions.iter().any(|e| e.division == division))
        .find(|s| same_name(&unit.name, &s.name));
    Err(match elsewhere {
        Some(span) => {
            let other = span.editions[0].division;
            let (fate_en, fate_vi) = fate(unit.level, code);
            mismatch.with_hint(Text::new(
                format!(
                    "{} was {code} in the {other}-province division; it {fate_en}",
                    span.name
                ),
                format!(
                    "{} là mã {code} trong danh mục {other} tỉnh; đơn vị này {fate_vi}",
                    span.name
                ),
            ))
        }
        None => mismatch,
    })
}

fn name_mismatch(code: &str, official: &str, given: &str) -> UnitError {
    unit_error(
        "/spec/unit/name",
        "UnitNameMismatch",
        format!("unit {code} is {official}, not {given:?}; set name: \"{official}\""),
        format!("đơn vị {code} là {official}, không phải {given:?}; đặt name: \"{official}\""),
    )
}

fn division_superseded(unit: &UnitRef, name: &str, division: Division, ended: &str) -> Diagnostic {
    let code = unit.code.as_str();
    let (fate_en, fate_vi) = fate(unit.level, code);
    Diagnostic::new(
        "DivisionSuperseded",
        Origin::Tenant,
        "/spec/unit/division",
        Text::new(
            format!(
                "the {division}-province division ended on {ended}; plan the move with `khaibao reform plan --from 63 --to 34`"
            ),
            format!(
                "danh mục {division} tỉnh đã hết hiệu lực từ ngày {ended}; lập kế hoạch chuyển đổi bằng `khaibao reform plan --from 63 --to 34`"
            ),
        ),
    )
    .with_hint(Text::new(
        format!("{code} {name} {fate_en}"),
        format!("{code} {name} {fate_vi}"),
    ))
}

/// "merged into 08 Tỉnh Tuyên Quang on 2025-07-01" (and the Vietnamese): what the 2025 mapping
/// made of an old unit, naming every successor with its current code and name.
fn fate(level: Level, old_code: &str) -> (String, String) {
    let successors = successors_of(level, old_code);
    let d34 = units(Division::D34);
    let named = |code: &str, partial: bool, part: &str| {
        let name = d34.name_of(level, code).map(|(n, _)| n).unwrap_or_default();
        let part = if partial {
            format!(" ({part})")
        } else {
            String::new()
        };
        format!("{code} {name}{part}")
    };
    match successors {
        [] => (
            format!("has no successor in the official mapping of {REFORM_DATE}"),
            format!("không có đơn vị kế thừa trong bảng chuyển đổi chính thức ngày {REFORM_DATE}"),
        ),
        [only] if !only.partial && predecessors_of(level, &only.code).len() == 1 => (
            format!(
                "continues as {} in the 34-province division from {REFORM_DATE}",
                named(&only.code, false, "")
            ),
            format!(
                "tiếp tục là {} trong danh mục 34 tỉnh từ ngày {REFORM_DATE}",
                named(&only.code, false, "")
            ),
        ),
        // The unit kept its code and took others in: name them, "merged into itself" says nothing.
        [only] if !only.partial && only.code == old_code => {
            let others = other_predecessors(level, &only.code, old_code);
            (
                format!(
                    "merged with {others} into {} on {REFORM_DATE}",
                    named(&only.code, false, "")
                ),
                format!(
                    "được hợp nhất với {others} thành {} từ ngày {REFORM_DATE}",
                    named(&only.code, false, "")
                ),
            )
        }
        [only] => (
            format!(
                "{} into {} on {REFORM_DATE}",
                if only.partial {
                    "went in part"
                } else {
                    "merged"
                },
                named(&only.code, false, "")
            ),
            format!(
                "{} vào {} từ ngày {REFORM_DATE}",
                if only.partial {
                    "được nhập một phần"
                } else {
                    "được sáp nhập"
                },
                named(&only.code, false, "")
            ),
        ),
        several => (
            format!(
                "was split on {REFORM_DATE} among {}",
                several
                    .iter()
                    .map(|l| named(&l.code, l.partial, "part"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "được chia ngày {REFORM_DATE} vào {}",
                several
                    .iter()
                    .map(|l| named(&l.code, l.partial, "một phần"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    }
}

/// The predecessors of `new_code` other than `old_code`, with their old names: at most five,
/// then how many more (a commune can be made from many).
fn other_predecessors(level: Level, new_code: &str, old_code: &str) -> String {
    let others: Vec<String> = predecessors_of(level, new_code)
        .iter()
        .filter(|l| l.code != old_code)
        .map(|l| {
            format!(
                "{} {}",
                l.code,
                old_name(level, &l.code).unwrap_or_default()
            )
        })
        .map(|s| s.trim_end().to_string())
        .collect();
    match others.len() {
        0..=5 => others.join(", "),
        n => format!("{} (+{})", others[..5].join(", "), n - 5),
    }
}

/// The official name of an old code, if the registry has one (the mapping also has 10 codes of
/// the eve of the reform that the January 2025 list lacks).
fn old_name(level: Level, code: &str) -> Option<&'static str> {
    name_history(level, code)
        .iter()
        .find(|s| s.editions.iter().any(|e| e.division == Division::D63))
        .map(|s| s.name.as_str())
}

fn unknown_unit(unit: &UnitRef, division: Division) -> UnitError {
    let code = &unit.code;
    let level = unit.level.as_str();
    let other = match division {
        Division::D34 => Division::D63,
        Division::D63 => Division::D34,
    };
    let other_units = units(other);
    let mapped = division == Division::D34 && !successors_of(unit.level, code).is_empty();
    // Say what the code is elsewhere: the commonest mistakes are a level mix-up and a code that
    // the reform retired.
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
    } else if division == Division::D34 && (mapped || old_name(unit.level, code).is_some()) {
        let name = old_name(unit.level, code).unwrap_or_default();
        let (fate_en, fate_vi) = fate(unit.level, code);
        let label = format!("{code} {name}");
        let label = label.trim_end();
        let successors = successors_of(unit.level, code);
        let (use_en, use_vi) = match successors {
            [] => (
                "check the code with `khaibao units`".to_string(),
                "tra mã bằng lệnh `khaibao units`".to_string(),
            ),
            [one] => (
                format!("use code: \"{}\"", one.code),
                format!("dùng code: \"{}\"", one.code),
            ),
            _ => (
                "use the code of the successor that serves this tenant".to_string(),
                "dùng mã của đơn vị kế thừa phù hợp".to_string(),
            ),
        };
        (
            format!(
                "{label} of the 63-province division {fate_en}; {use_en} (a tenant not moved yet keeps unit.division: \"63\")"
            ),
            format!(
                "{label} thuộc danh mục 63 tỉnh {fate_vi}; {use_vi} (đơn vị chưa chuyển đổi giữ unit.division: \"63\")"
            ),
        )
    } else if let Some(p) = other_units
        .province(code)
        .filter(|_| unit.level == Level::Province)
    {
        (
            format!(
                "{code} is {} in the {other}-province division; set unit.division: \"{other}\"",
                p.name
            ),
            format!(
                "{code} là {} trong danh mục {other} tỉnh; đặt unit.division: \"{other}\"",
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
#[path = "unit_check_tests.rs"]
mod tests;
