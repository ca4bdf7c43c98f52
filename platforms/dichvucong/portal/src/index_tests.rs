use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;

fn meta(name: &str, tenant: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        labels: tenant.map(|t| BTreeMap::from([(TENANT_LABEL.to_string(), t.to_string())])),
        ..Default::default()
    }
}

fn page(name: &str, tenant: &str, host: &str, extra: &[(&str, &str)]) -> ConfigMap {
    let mut data = BTreeMap::from([
        ("host".to_string(), host.to_string()),
        ("unitCode".to_string(), "01".to_string()),
        ("unitName".to_string(), format!("Đơn vị {tenant}")),
        ("title".to_string(), "Cổng".to_string()),
    ]);
    data.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    ConfigMap {
        metadata: meta(name, Some(tenant)),
        data: Some(data),
        ..Default::default()
    }
}

fn key_secret(name: &str, tenant: &str, token: &str) -> Secret {
    Secret {
        metadata: meta(name, Some(tenant)),
        data: Some(BTreeMap::from([(
            "token".to_string(),
            ByteString(token.as_bytes().to_vec()),
        )])),
        ..Default::default()
    }
}

fn services(name: &str, tenant: &str, secret: &str) -> ConfigMap {
    ConfigMap {
        metadata: meta(name, Some(tenant)),
        data: Some(BTreeMap::from([(
            "apiKeySecret".to_string(),
            secret.to_string(),
        )])),
        ..Default::default()
    }
}

fn own(index: &Index, host: &str) -> Option<String> {
    match index.route(host) {
        Route::Own(s) => Some(s.tenant.clone()),
        _ => None,
    }
}

#[test]
fn a_page_routes_its_host_and_follows_changes_and_deletes() {
    let mut ix = Index::default();
    ix.apply_config_map(&page("a-config", "t.a", "a.example.vn", &[]));
    assert_eq!(own(&ix, "A.example.vn:443").as_deref(), Some("t.a"));
    ix.apply_config_map(&page("a-config", "t.a", "b.example.vn", &[]));
    assert!(matches!(ix.route("a.example.vn"), Route::Unknown));
    assert_eq!(own(&ix, "b.example.vn").as_deref(), Some("t.a"));
    ix.delete(Kind::ConfigMap, Some("a-config"));
    assert!(matches!(ix.route("b.example.vn"), Route::Unknown));
    assert_eq!(ix.site_count(), 0);
}

#[test]
fn the_key_arrives_after_the_page_and_replaces_the_site() {
    let mut ix = Index::default();
    ix.apply_config_map(&page("a-config", "t.a", "a.example.vn", &[]));
    ix.apply_config_map(&services("a-services", "t.a", "a-key"));
    let Route::Own(before) = ix.route("a.example.vn") else {
        panic!("routed")
    };
    assert_eq!(before.keys.own, None);
    ix.apply_secret(&key_secret("a-key", "t.a", "k1"));
    let Route::Own(after) = ix.route("a.example.vn") else {
        panic!("routed")
    };
    assert_eq!(after.keys.own.as_deref(), Some(&b"k1"[..]));
    ix.apply_secret(&key_secret("a-key", "t.a", "k2"));
    let Route::Own(rotated) = ix.route("a.example.vn") else {
        panic!("routed")
    };
    assert_eq!(rotated.keys.own.as_deref(), Some(&b"k2"[..]));
}

#[test]
fn an_own_host_wins_over_an_alias_whatever_the_order() {
    for own_first in [true, false] {
        let mut ix = Index::default();
        let old = page("old-config", "t.old", "old.example.vn", &[]);
        let new = page(
            "new-config",
            "t.new",
            "new.example.vn",
            &[("aliases", "old.example.vn")],
        );
        if own_first {
            ix.apply_config_map(&old);
            ix.apply_config_map(&new);
        } else {
            ix.apply_config_map(&new);
            ix.apply_config_map(&old);
        }
        assert_eq!(own(&ix, "old.example.vn").as_deref(), Some("t.old"));
        // The predecessor retired: its own claim goes, the successor's alias answers.
        ix.delete(Kind::ConfigMap, Some("old-config"));
        let Route::Alias(site) = ix.route("old.example.vn") else {
            panic!("alias expected")
        };
        assert_eq!(site.tenant, "t.new");
    }
}

#[test]
fn a_relabelled_object_leaves_its_old_tenant() {
    let mut ix = Index::default();
    ix.apply_config_map(&page("x-config", "t.a", "x.example.vn", &[]));
    ix.apply_config_map(&page("x-config", "t.b", "x.example.vn", &[]));
    assert_eq!(own(&ix, "x.example.vn").as_deref(), Some("t.b"));
    assert_eq!(ix.site_count(), 1);
    // And one that loses its label altogether is forgotten.
    let mut unlabelled = page("x-config", "t.b", "x.example.vn", &[]);
    unlabelled.metadata.labels = None;
    ix.apply_config_map(&unlabelled);
    assert_eq!(ix.site_count(), 0);
}

#[test]
fn a_relist_drops_what_was_deleted_while_the_watch_was_down() {
    let mut ix = Index::default();
    ix.apply_config_map(&page("a-config", "t.a", "a.example.vn", &[]));
    ix.apply_config_map(&page("b-config", "t.b", "b.example.vn", &[]));
    ix.apply_secret(&key_secret("a-key", "t.a", "k"));
    ix.replace_config_maps(&[page("b-config", "t.b", "b.example.vn", &[])]);
    assert!(matches!(ix.route("a.example.vn"), Route::Unknown));
    assert_eq!(own(&ix, "b.example.vn").as_deref(), Some("t.b"));
    // t.a keeps its Secret (Secrets were not relisted) and comes back with its page.
    ix.apply_config_map(&page("a-config", "t.a", "a.example.vn", &[]));
    assert_eq!(own(&ix, "a.example.vn").as_deref(), Some("t.a"));
    ix.replace_secrets(&[]);
    assert_eq!(ix.site_count(), 2);
}

#[test]
fn a_broken_page_still_routes_and_is_counted() {
    let mut ix = Index::default();
    ix.apply_config_map(&page(
        "a-config",
        "t.a",
        "a.example.vn",
        &[("primaryColor", "đỏ")],
    ));
    ix.apply_config_map(&page("b-config", "t.b", "b.example.vn", &[]));
    assert_eq!(ix.broken_count(), 1);
    let Route::Own(a) = ix.route("a.example.vn") else {
        panic!("routed")
    };
    assert!(a.content.is_err());
    let Route::Own(b) = ix.route("b.example.vn") else {
        panic!("routed")
    };
    assert!(b.content.is_ok());
}
