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
    assert!(r.warnings.is_empty());
    let full = resolve_unit(&unit(Level::Province, "01", "Thành phố Hà Nội", None, None));
    assert!(full.unwrap().warnings.is_empty());
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
fn an_earlier_official_name_is_accepted_with_the_current_one() {
    let r = resolve_unit(&unit(Level::Province, "22", "Tỉnh Quảng Ninh", None, None)).unwrap();
    assert_eq!(r.name, "Thành phố Quảng Ninh");
    assert_eq!(r.division_type, "thành phố trung ương");
    assert_eq!(r.slug, "quang-ninh");
    assert_eq!(r.warnings.len(), 1);
    let w = &r.warnings[0];
    assert_eq!(w.reason, "UnitRenamed");
    assert_eq!(w.pointer, "/spec/unit/name");
    assert!(
        w.message.en.starts_with(
            "unit 22 has been Thành phố Quảng Ninh since 2026-09-20 (formerly Tỉnh Quảng Ninh)"
        ),
        "{}",
        w.message.en
    );
    assert!(
        w.message
            .vi
            .contains("đổi tên thành Thành phố Quảng Ninh từ ngày 2026-09-20")
    );
    assert_eq!(
        w.hint.as_ref().unwrap().en,
        "set name: \"Thành phố Quảng Ninh\""
    );
    // The current name and the unchanged short name need no warning.
    for name in ["Thành phố Đồng Nai", "Đồng Nai"] {
        let r = resolve_unit(&unit(Level::Province, "75", name, None, None)).unwrap();
        assert!(r.warnings.is_empty(), "{name}");
    }
}

#[test]
fn a_name_of_the_unit_that_had_the_code_before_the_reform_is_refused() {
    // 52 was Bình Định until 2025-07-01; the 34-division 52 is Gia Lai, another unit.
    let e = resolve_unit(&unit(Level::Province, "52", "Tỉnh Bình Định", None, None)).unwrap_err();
    assert_eq!(e.reason, "UnitNameMismatch");
    let hint = e.hint.unwrap().en;
    assert!(
        hint.contains("Tỉnh Bình Định was 52 in the 63-province division")
            && hint.contains("merged with 64 Tỉnh Gia Lai into 52 Tỉnh Gia Lai on 2025-07-01"),
        "{hint}"
    );
}

#[test]
fn an_nfd_name_is_the_same_name() {
    let nfd: String = "Thành phố Hà Nội".nfd().collect();
    assert_ne!(nfd, "Thành phố Hà Nội");
    let r = resolve_unit(&unit(Level::Province, "01", &nfd, None, None)).unwrap();
    assert!(r.warnings.is_empty());
    let commune: String = "Phường Ba Đình".nfd().collect();
    let r = resolve_unit(&unit(Level::Commune, "00004", &commune, Some("01"), None)).unwrap();
    assert_eq!(r.name, "Phường Ba Đình");
    let renamed: String = "Tỉnh Bắc Ninh".nfd().collect();
    let r = resolve_unit(&unit(Level::Province, "24", &renamed, None, None)).unwrap();
    assert_eq!(r.warnings[0].reason, "UnitRenamed");
    assert!(same_name("Ha Noi", "Ha Noi") && !same_name("Ha Noi", "Hà Nội"));
}

#[test]
fn an_old_province_code_names_its_successor() {
    let e = resolve_unit(&unit(Level::Province, "02", "Hà Giang", None, None)).unwrap_err();
    assert_eq!(e.reason, "UnknownUnit");
    let hint = &e.hint.unwrap();
    assert!(
        hint.en.starts_with(
            "02 Tỉnh Hà Giang of the 63-province division merged into 08 Tỉnh Tuyên Quang on 2025-07-01; use code: \"08\""
        ),
        "{}",
        hint.en
    );
    assert!(
        hint.vi
            .contains("được sáp nhập vào 08 Tỉnh Tuyên Quang từ ngày 2025-07-01"),
        "{}",
        hint.vi
    );
    assert!(resolve_unit(&unit(Level::Province, "02", "Hà Giang", None, Some("63"))).is_ok());
}

#[test]
fn an_old_commune_code_names_every_successor() {
    // 00001 Phường Phúc Xá merged into 00097 Phường Hồng Hà.
    let e = resolve_unit(&unit(
        Level::Commune,
        "00001",
        "Phường Phúc Xá",
        Some("01"),
        None,
    ))
    .unwrap_err();
    assert_eq!(e.reason, "UnknownUnit");
    let hint = e.hint.unwrap().en;
    let d34 = units(Division::D34);
    let successor = d34.commune("00097").unwrap();
    assert!(
        hint.contains(&format!(
            "00001 Phường Phúc Xá of the 63-province division merged into 00097 {} on 2025-07-01",
            successor.name
        )),
        "{hint}"
    );
    // A split commune: every successor, partial ones marked.
    let split = units(Division::D63)
        .communes
        .iter()
        .find(|c| {
            successors_of(Level::Commune, &c.code).len() == 3 && d34.commune(&c.code).is_none()
        })
        .map(|c| c.code.as_str())
        .unwrap();
    let links = successors_of(Level::Commune, split);
    let e = resolve_unit(&unit(Level::Commune, split, "x", None, None)).unwrap_err();
    let hint = e.hint.unwrap();
    assert!(
        hint.en.contains("was split on 2025-07-01 among "),
        "{}",
        hint.en
    );
    for l in links {
        let name = &d34.commune(&l.code).unwrap().name;
        assert!(
            hint.en.contains(&format!("{} {name}", l.code)),
            "{}",
            hint.en
        );
    }
    assert!(
        hint.vi.contains("được chia ngày 2025-07-01 vào"),
        "{}",
        hint.vi
    );
    // An old commune the mapping does not carry.
    let e = resolve_unit(&unit(Level::Commune, "16387", "Xã Đông Khê", None, None)).unwrap_err();
    assert!(
        e.hint
            .unwrap()
            .en
            .contains("has no successor in the official mapping"),
    );
}

#[test]
fn a_63_division_tenant_is_valid_with_a_warning_to_move() {
    let r = resolve_unit(&unit(
        Level::Province,
        "02",
        "Tỉnh Hà Giang",
        None,
        Some("63"),
    ))
    .unwrap();
    assert_eq!(r.division, Division::D63);
    assert_eq!(r.warnings.len(), 1);
    let w = &r.warnings[0];
    assert_eq!(w.reason, "DivisionSuperseded");
    assert_eq!(w.pointer, "/spec/unit/division");
    assert_eq!(
        w.message.en,
        "the 63-province division ended on 2025-07-01; plan the move with `khaibao reform plan --from 63 --to 34`"
    );
    assert!(
        w.message
            .vi
            .starts_with("danh mục 63 tỉnh đã hết hiệu lực từ ngày 2025-07-01")
    );
    assert_eq!(
        w.hint.as_ref().unwrap().en,
        "02 Tỉnh Hà Giang merged into 08 Tỉnh Tuyên Quang on 2025-07-01"
    );
    let c = resolve_unit(&unit(
        Level::Commune,
        "00001",
        "Phường Phúc Xá",
        Some("01"),
        Some("63"),
    ))
    .unwrap();
    assert_eq!(c.warnings[0].reason, "DivisionSuperseded");
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
