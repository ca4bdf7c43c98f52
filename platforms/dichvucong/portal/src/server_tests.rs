use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;
use crate::index::TENANT_LABEL;

fn object_meta(name: &str, tenant: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        labels: Some(BTreeMap::from([(
            TENANT_LABEL.to_string(),
            tenant.to_string(),
        )])),
        ..Default::default()
    }
}

fn cm(name: &str, tenant: &str, pairs: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: object_meta(name, tenant),
        data: Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    }
}

fn secret(name: &str, tenant: &str, pairs: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: object_meta(name, tenant),
        data: Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    }
}

/// Ninh Bình after the reform (Hà Nam and Nam Định merged into it), its old addresses in
/// transition until the end of 2026, and a commune whose ConfigMap is broken.
fn app(today: &'static str) -> App {
    let app = App::new(Arc::new(move || {
        NaiveDate::parse_from_str(today, "%Y-%m-%d").unwrap()
    }));
    {
        let mut ix = app.index.write().unwrap();
        ix.apply_config_map(&cm(
            "ninh-binh-37-portal-config",
            "tinh-37.ninh-binh",
            &[
                ("host", "ninh-binh.dichvucong.gov.vn"),
                ("unitCode", "37"),
                ("unitName", "Tỉnh Ninh Bình"),
                ("title", "Cổng dịch vụ công Tỉnh Ninh Bình"),
                (
                    "aliases",
                    "ha-nam.dichvucong.gov.vn,nam-dinh.dichvucong.gov.vn",
                ),
                ("transitionUntil", "2026-12-31"),
            ],
        ));
        ix.apply_config_map(&cm(
            "ninh-binh-37-services",
            "tinh-37.ninh-binh",
            &[
                ("services", "dang-ky-khai-sinh"),
                ("apiKeySecret", "ninh-binh-37-api-key"),
                ("adoptedApiKeySecret", "ninh-binh-37-api-key-adopted"),
            ],
        ));
        ix.apply_secret(&secret(
            "ninh-binh-37-api-key",
            "tinh-37.ninh-binh",
            &[("token", "own-key")],
        ));
        ix.apply_secret(&secret(
            "ninh-binh-37-api-key-adopted",
            "tinh-37.ninh-binh",
            &[("35.token", "ha-nam-key"), ("36.token", "nam-dinh-key")],
        ));
        ix.apply_config_map(&cm(
            "xa-a-00001-portal-config",
            "tinh-37.xa-a",
            &[
                ("host", "xa-a.ninh-binh.dichvucong.gov.vn"),
                ("unitCode", "00001"),
                ("unitName", "Xã A"),
                ("title", "Cổng"),
                ("onlinePayment", "maybe"),
            ],
        ));
    }
    app
}

#[test]
fn a_unit_host_answers_its_page_and_an_unknown_host_404() {
    let app = app("2026-12-03");
    let r = app.answer("ninh-binh.dichvucong.gov.vn:8080", "/", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.tenant, "tinh-37.ninh-binh");
    assert!(r.body.contains("Tỉnh Ninh Bình"), "{}", r.body);
    assert!(r.body.contains("Đăng ký khai sinh"));
    let r = app.answer("hai-duong.dichvucong.gov.vn", "/", None);
    assert_eq!(r.status, 404);
    assert_eq!(r.tenant, "", "unknown hosts share one metric label");
    assert!(r.body.contains("hai-duong.dichvucong.gov.vn"));
    assert_eq!(
        app.answer("ninh-binh.dichvucong.gov.vn", "/wp-admin", None)
            .status,
        404
    );
}

#[test]
fn an_old_address_redirects_during_the_transition_then_says_where_the_unit_went() {
    let during = app("2026-12-31");
    let r = during.answer("ha-nam.dichvucong.gov.vn", "/thu-tuc?x=1", None);
    assert_eq!(r.status, 301);
    assert_eq!(
        r.location.as_deref(),
        Some("https://ninh-binh.dichvucong.gov.vn/thu-tuc?x=1")
    );
    let after = app("2027-01-01");
    let r = after.answer("ha-nam.dichvucong.gov.vn", "/", None);
    assert_eq!(r.status, 410);
    assert!(r.body.contains("Tỉnh Ninh Bình") && r.body.contains("ninh-binh.dichvucong.gov.vn"));
}

#[test]
fn the_api_takes_the_unit_key_and_predecessor_keys_only_in_transition() {
    let app_now = app("2026-12-03");
    let r = app_now.answer("ninh-binh.dichvucong.gov.vn", API_PATH, None);
    assert_eq!((r.status, r.challenge), (401, true));
    let r = app_now.answer("ninh-binh.dichvucong.gov.vn", API_PATH, Some("guess"));
    assert_eq!(r.status, 401);
    assert!(!r.body.contains("own-key"), "a key is never echoed");
    let r = app_now.answer("ninh-binh.dichvucong.gov.vn", API_PATH, Some("own-key"));
    assert_eq!(r.status, 200);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["unitCode"], "37");
    assert_eq!(body["key"], "own");
    // A client of the merged Nam Định still calling its old address with its old key.
    let r = app_now.answer("nam-dinh.dichvucong.gov.vn", API_PATH, Some("nam-dinh-key"));
    assert_eq!(r.status, 200);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (body["key"].as_str(), body["adoptedFrom"].as_str()),
        (Some("adopted"), Some("36"))
    );
    let later = app("2027-01-01");
    let r = later.answer("ninh-binh.dichvucong.gov.vn", API_PATH, Some("ha-nam-key"));
    assert_eq!(r.status, 401);
}

#[test]
fn a_broken_unit_answers_a_clear_error_and_the_others_are_unaffected() {
    let app = app("2026-12-03");
    let r = app.answer("xa-a.ninh-binh.dichvucong.gov.vn", "/", None);
    assert_eq!(r.status, 500);
    assert!(r.body.contains("xa-a-00001-portal-config"), "{}", r.body);
    assert!(r.body.contains("onlinePayment"));
    assert_eq!(
        app.answer("ninh-binh.dichvucong.gov.vn", "/", None).status,
        200
    );
}

#[test]
fn a_key_not_yet_loaded_is_503_not_401() {
    let app = App::new(Arc::new(|| NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()));
    app.index.write().unwrap().apply_config_map(&cm(
        "c",
        "t",
        &[
            ("host", "x.example.vn"),
            ("unitCode", "1"),
            ("unitName", "X"),
            ("title", "X"),
        ],
    ));
    assert_eq!(app.answer("x.example.vn", API_PATH, Some("k")).status, 503);
    assert!(!app.ready());
}
