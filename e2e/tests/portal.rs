//! A declaration goes live: the dichvucong portal, running as its ServiceAccount against the
//! real control plane, serves each declared unit by Host, picks up a new commune and a changed
//! value without a restart, takes the unit's generated API key, and answers a malformed tenant
//! ConfigMap with a clear error while the other units are unaffected. The times printed here
//! are a bound, not the figure: `make bench` measures time to online.

use std::time::Duration;

use anyhow::{Context, ensure};
use k8s_openapi::api::core::v1::ConfigMap;
use khaibao_e2e::portal::Portal;
use khaibao_e2e::{secret_data, with_shared};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

const HA_NOI: &str = "ha-noi.dichvucong.gov.vn";
const HUE: &str = "hue.dichvucong.gov.vn";
const TRUC_BACH: &str = "phuong-truc-bach.ha-noi.dichvucong.gov.vn";
/// Generous: the figure itself is measured by the benchmark.
const ONLINE_WITHIN: Duration = Duration::from_secs(60);

#[test]
fn the_portal_serves_each_declared_unit_and_follows_changes_live() {
    with_shared(async |env| {
        let s = env.cp.scope("portal").await?;
        // The e2e fleet is the 63-province one (examples/provinces-63), so the commune below
        // names that division too.
        s.install_platform_with_provinces(&["01", "46"], Duration::from_secs(90))
            .await?;
        let portal = Portal::start(&env.cp, "portal", &s.namespace, &s.platform).await?;

        // Each province's page by Host, Vietnamese text as declared; an unknown host is 404.
        let r = portal.get(HA_NOI, "/").await?;
        ensure!(r.status == 200, "{HA_NOI}: {} {}", r.status, r.body);
        for needle in [
            "Cổng dịch vụ công Thành phố Hà Nội",
            "18001096",
            "7:30-17:00, thứ Hai - thứ Sáu",
            "Đăng ký khai sinh",
            "Thanh toán trực tuyến: chưa hỗ trợ",
        ] {
            ensure!(
                r.body.contains(needle),
                "{HA_NOI} lacks {needle:?}:\n{}",
                r.body
            );
        }
        ensure!(
            r.header("content-type") == Some("text/html; charset=utf-8"),
            "content type {:?}",
            r.header("content-type")
        );
        let r = portal.get(HUE, "/").await?;
        ensure!(
            r.status == 200 && r.body.contains("Thành phố Huế"),
            "{HUE}: {} {}",
            r.status,
            r.body
        );
        let r = portal.get("ha-tay.dichvucong.gov.vn", "/").await?;
        ensure!(r.status == 404, "unknown host answered {}", r.status);

        // The API takes the key the operator generated, and only that one.
        let ha_noi_ns = s.province_namespace("01");
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(s.client.clone(), &s.namespace);
        let key_secret = secrets
            .list(
                &kube::api::ListParams::default()
                    .labels(&format!("khaibao.dev/tenant={ha_noi_ns}.ha-noi")),
            )
            .await?
            .items
            .into_iter()
            .find(|x| {
                x.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.ends_with("-api-key"))
            })
            .context("Hà Nội's api-key Secret")?;
        let key = String::from_utf8(secret_data(key_secret)["token"].clone())?;
        let r = portal.get_with_key(HA_NOI, "/api/v1/unit", &key).await?;
        ensure!(
            r.status == 200,
            "API with the generated key: {} {}",
            r.status,
            r.body
        );
        let body: serde_json::Value = serde_json::from_str(&r.body)?;
        ensure!(body["unitCode"] == "01" && body["key"] == "own", "{body}");
        let r = portal
            .get_with_key(HA_NOI, "/api/v1/unit", "not-the-key")
            .await?;
        ensure!(r.status == 401, "a wrong key answered {}", r.status);
        ensure!(!r.body.contains(&key), "the key was echoed");
        let r = portal.get_with_key(HUE, "/api/v1/unit", &key).await?;
        ensure!(
            r.status == 401,
            "Hà Nội's key opened Huế's API ({})",
            r.status
        );

        // A commune declared by hand is served seconds later, by the same process.
        let commune = s.scoped(json!({
            "apiVersion": "khaibao.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": "phuong-truc-bach", "namespace": "tinh-01"},
            "spec": {
                "platform": "dichvucong",
                "parent": "ha-noi",
                "unit": {"level": "commune", "code": "00004", "name": "Phường Trúc Bạch", "provinceCode": "01", "division": "63"},
                "values": {"contact": {"hotline": "024 3823 4567"}},
            },
        }));
        ensure!(
            portal.get(TRUC_BACH, "/").await?.status == 404,
            "the commune was served before it was declared"
        );
        s.apply_tenant(&commune).await?;
        let (took, r) = portal
            .wait_for_page(TRUC_BACH, ONLINE_WITHIN, |r| r.status == 200)
            .await?;
        ensure!(
            r.body.contains("Phường Trúc Bạch, Thành phố Hà Nội")
                && r.body.contains("024 3823 4567"),
            "{TRUC_BACH}:\n{}",
            r.body
        );
        println!("new commune declared → served in {took:.2?}");

        // A value changed in the Tenant is served, without a restart.
        s.patch_tenant_spec(
            &ha_noi_ns,
            "ha-noi",
            json!({"values": {"contact": {"hotline": "1900 1234"}}}),
        )
        .await?;
        let (took, _) = portal
            .wait_for_page(HA_NOI, ONLINE_WITHIN, |r| r.body.contains("1900 1234"))
            .await?;
        println!("hotline changed → new value served in {took:.2?}");

        // A malformed tenant ConfigMap (made by hand, so the operator neither owns nor repairs
        // it): its host answers 500 naming the ConfigMap and the field; the others still serve.
        let cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), &s.namespace);
        let broken: ConfigMap = serde_json::from_value(json!({
            "metadata": {
                "name": "xa-loi-99999-portal-config",
                "labels": {"khaibao.dev/platform": s.platform, "khaibao.dev/tenant": "e2e.xa-loi"},
            },
            "data": {
                "host": "xa-loi.dichvucong.gov.vn", "unitCode": "99999", "unitName": "Xã Lỗi",
                "title": "Cổng dịch vụ công Xã Lỗi", "primaryColor": "đỏ",
            },
        }))?;
        cms.create(&PostParams::default(), &broken).await?;
        let (_, r) = portal
            .wait_for_page("xa-loi.dichvucong.gov.vn", ONLINE_WITHIN, |r| {
                r.status != 404
            })
            .await?;
        ensure!(
            r.status == 500
                && r.body.contains("xa-loi-99999-portal-config")
                && r.body.contains("primaryColor"),
            "malformed ConfigMap answered {}:\n{}",
            r.status,
            r.body
        );
        for host in [HA_NOI, HUE, TRUC_BACH] {
            let r = portal.get(host, "/").await?;
            ensure!(
                r.status == 200,
                "{host} answered {} beside a broken unit",
                r.status
            );
        }
        cms.delete("xa-loi-99999-portal-config", &DeleteParams::default())
            .await?;
        portal
            .wait_for_page("xa-loi.dichvucong.gov.vn", ONLINE_WITHIN, |r| {
                r.status == 404
            })
            .await?;

        // Metrics by tenant and status code, unknown hosts under one empty tenant label.
        let metrics = portal.metrics().await?;
        let ha_noi_label = format!("{ha_noi_ns}.ha-noi");
        for needle in [
            format!("portal_requests_total{{tenant=\"{ha_noi_label}\",code=\"200\"}}"),
            format!("portal_requests_total{{tenant=\"{ha_noi_label}\",code=\"401\"}}"),
            "portal_requests_total{tenant=\"\",code=\"404\"}".to_string(),
            "portal_sites 3".to_string(),
        ] {
            ensure!(
                metrics.contains(&needle),
                "metrics lack {needle}:\n{metrics}"
            );
        }
        ensure!(
            !portal.log().contains(&key),
            "the API key appears in the portal's log"
        );
        s.cleanup().await
    });
}
