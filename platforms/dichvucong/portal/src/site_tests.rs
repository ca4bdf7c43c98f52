use super::*;

fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) fn ha_noi() -> TenantObjects {
    let mut o = TenantObjects::default();
    o.config_maps.insert(
        "ha-noi-01-portal-config".into(),
        data(&[
            ("host", "ha-noi.dichvucong.gov.vn"),
            ("unitCode", "01"),
            ("unitName", "Thành phố Hà Nội"),
            ("unitLevel", "province"),
            ("unitType", "thành phố trung ương"),
            ("provinceName", "Thành phố Hà Nội"),
            ("title", "Cổng dịch vụ công Thành phố Hà Nội"),
            ("primaryColor", "#00529c"),
            ("logo", "https://dichvucong.gov.vn/static/quoc-huy.svg"),
            ("hotline", "024 1022"),
            ("email", "dichvucong@hanoi.gov.vn"),
            ("onlinePayment", "true"),
        ]),
    );
    o.config_maps.insert(
        "ha-noi-01-services".into(),
        data(&[
            ("services", "dang-ky-khai-sinh,dang-ky-thuong-tru"),
            ("apiKeySecret", "ha-noi-01-api-key"),
        ]),
    );
    o.secrets.insert(
        "ha-noi-01-api-key".into(),
        BTreeMap::from([("token".to_string(), b"s3cret".to_vec())]),
    );
    o
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

#[test]
fn a_complete_tenant_is_a_page_with_its_services_and_key() {
    let site = Site::from_objects("tinh-01.ha-noi", &ha_noi()).expect("a site");
    assert_eq!(site.host, "ha-noi.dichvucong.gov.vn");
    let page = site.content.as_ref().expect("a page");
    assert_eq!(page.unit_name, "Thành phố Hà Nội");
    assert!(page.online_payment);
    assert_eq!(page.services, ["dang-ky-khai-sinh", "dang-ky-thuong-tru"]);
    assert_eq!(site.keys.own.as_deref(), Some(&b"s3cret"[..]));
    let today = date("2026-12-03");
    assert_eq!(site.check_key(b"s3cret", today), KeyCheck::Own);
    assert_eq!(site.check_key(b"s3creT", today), KeyCheck::Wrong);
    assert_eq!(site.check_key(b"", today), KeyCheck::Wrong);
}

#[test]
fn no_site_until_a_config_map_names_the_host() {
    let mut o = ha_noi();
    o.config_maps.remove("ha-noi-01-portal-config");
    assert_eq!(Site::from_objects("tinh-01.ha-noi", &o), None);
}

#[test]
fn a_key_not_seen_yet_is_not_loaded_rather_than_wrong() {
    let mut o = ha_noi();
    o.secrets.clear();
    let site = Site::from_objects("tinh-01.ha-noi", &o).unwrap();
    assert_eq!(
        site.check_key(b"anything", date("2026-12-03")),
        KeyCheck::NotLoaded
    );
}

#[test]
fn malformed_values_break_the_page_and_name_each_problem() {
    let mut o = ha_noi();
    let page = o.config_maps.get_mut("ha-noi-01-portal-config").unwrap();
    page.insert("primaryColor".into(), "red".into());
    page.insert("onlinePayment".into(), "có".into());
    page.insert("logo".into(), "javascript:alert(1)".into());
    page.remove("unitName");
    let site = Site::from_objects("tinh-01.ha-noi", &o).unwrap();
    let broken = site.content.expect_err("broken");
    assert_eq!(broken.config_map, "ha-noi-01-portal-config");
    let all = broken.problems.join("\n");
    for needle in ["`unitName`", "`primaryColor`", "`onlinePayment`", "`logo`"] {
        assert!(all.contains(needle), "{needle} not named in {all}");
    }
    // The host still routes, so that it answers the error instead of 404.
    assert_eq!(site.host, "ha-noi.dichvucong.gov.vn");
}

#[test]
fn two_pages_for_one_tenant_are_a_problem() {
    let mut o = ha_noi();
    let copy = o.config_maps["ha-noi-01-portal-config"].clone();
    o.config_maps.insert("zz-other".into(), copy);
    let broken = Site::from_objects("t", &o).unwrap().content.unwrap_err();
    assert!(broken.problems[0].contains("zz-other"), "{broken:?}");
}

#[test]
fn aliases_and_adopted_keys_hold_until_the_end_of_the_transition() {
    let mut o = ha_noi();
    let page = o.config_maps.get_mut("ha-noi-01-portal-config").unwrap();
    page.insert(
        "aliases".into(),
        "Ha-Tay.dichvucong.gov.vn, ,ha-son-binh.dichvucong.gov.vn".into(),
    );
    page.insert("transitionUntil".into(), "2026-12-31".into());
    o.config_maps.get_mut("ha-noi-01-services").unwrap().insert(
        "adoptedApiKeySecret".into(),
        "ha-noi-01-api-key-adopted".into(),
    );
    o.secrets.insert(
        "ha-noi-01-api-key-adopted".into(),
        BTreeMap::from([("28.token".to_string(), b"old-key".to_vec())]),
    );
    let site = Site::from_objects("t", &o).unwrap();
    assert!(site.content.is_ok(), "{:?}", site.content);
    assert_eq!(
        site.aliases,
        ["ha-tay.dichvucong.gov.vn", "ha-son-binh.dichvucong.gov.vn"]
    );
    assert!(site.in_transition(date("2026-12-31")));
    assert!(!site.in_transition(date("2027-01-01")));
    assert_eq!(
        site.check_key(b"old-key", date("2026-12-31")),
        KeyCheck::Adopted("28".into())
    );
    assert_eq!(
        site.check_key(b"old-key", date("2027-01-01")),
        KeyCheck::Wrong
    );
    assert_eq!(site.check_key(b"s3cret", date("2027-01-01")), KeyCheck::Own);
}

#[test]
fn a_transition_date_that_is_not_a_date_is_named() {
    let mut o = ha_noi();
    o.config_maps
        .get_mut("ha-noi-01-portal-config")
        .unwrap()
        .insert("transitionUntil".into(), "31/12/2026".into());
    let broken = Site::from_objects("t", &o).unwrap().content.unwrap_err();
    assert!(broken.problems[0].contains("transitionUntil"), "{broken:?}");
}

#[test]
fn host_headers_compare_without_port_case_or_trailing_dot() {
    assert_eq!(
        normalise_host("Ha-Noi.DichVuCong.gov.vn.:8080"),
        "ha-noi.dichvucong.gov.vn"
    );
    assert_eq!(normalise_host("127.0.0.1:80"), "127.0.0.1");
    assert!(!is_host_name("bad host"));
    assert!(!is_host_name("-x.vn"));
    assert!(is_host_name("xa-lung-cu.tuyen-quang.dichvucong.gov.vn"));
}
