use serde_json::json;

use super::*;
use crate::api::{
    GeneratedKey, GeneratedSecret, Level, NamedTemplate, PlatformSpec, PlatformTemplates,
    TenantSpec, UnitRef,
};

fn platform(tenant_templates: &[(&str, &str)]) -> Platform {
    let mut p = Platform::new(
        "dichvucong",
        PlatformSpec {
            display_name: "Cổng dịch vụ công".into(),
            namespace: "dichvucong".into(),
            tenant_schema: json!({
                "type": "object",
                "properties": {
                    "domain": {"type": "string"},
                    "title": {"type": "string", "default": "Cổng dịch vụ công"},
                    "theme": {"type": "object", "properties": {"color": {"type": "string", "pattern": "^#[0-9a-f]{3,6}$"}}}
                },
                "required": ["domain"]
            }),
            defaults: json!({"domain": "dichvucong.gov.vn", "theme": {"color": "#c00"}}),
            allowed_kinds: vec!["ConfigMap".into(), "Ingress".into()],
            generated_secrets: vec![GeneratedSecret {
                name: "api-key".into(),
                keys: vec![GeneratedKey {
                    key: "token".into(),
                    length: Some(32),
                    encoding: None,
                }],
            }],
            rollout: None,
            templates: PlatformTemplates {
                shared: vec![],
                tenant: tenant_templates
                    .iter()
                    .map(|(n, t)| NamedTemplate {
                        name: n.to_string(),
                        template: t.to_string(),
                    })
                    .collect(),
            },
        },
    );
    p.metadata.name = Some("dichvucong".into());
    p
}

const CONFIG: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{name \"config\"}}\ndata:\n  title: {{values.title}}\n  color: {{values.theme.color}}\n  unit: {{unit.name}}\n";
const INGRESS: &str = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {{name \"web\"}}\nspec:\n  rules:\n  - host: {{concat unit.slug \".\" values.domain}}\n";

fn tenant(
    ns: &str,
    name: &str,
    level: Level,
    code: &str,
    unit_name: &str,
    province: Option<&str>,
    values: Value,
) -> Tenant {
    let mut t = Tenant::new(
        name,
        TenantSpec {
            platform: "dichvucong".into(),
            unit: UnitRef {
                level,
                code: code.into(),
                name: unit_name.into(),
                province_code: province.map(Into::into),
                division: None,
            },
            parent: None,
            values: Some(values),
            ..Default::default()
        },
    );
    t.metadata.namespace = Some(ns.into());
    t
}

fn ha_noi(values: Value) -> Tenant {
    tenant(
        "tinh-01",
        "ha-noi",
        Level::Province,
        "01",
        "Thành phố Hà Nội",
        None,
        values,
    )
}

#[test]
fn a_province_renders_to_labelled_objects_and_a_placeholder_secret() {
    let p = CompiledPlatform::compile(&platform(&[
        ("config.yaml.hbs", CONFIG),
        ("ingress.yaml.hbs", INGRESS),
    ]))
    .unwrap();
    let r = p
        .render_tenant(&ha_noi(json!({"theme": {"color": "#036"}})), None)
        .unwrap();
    assert_eq!(r.objects.len(), 2);
    let cm = &r.objects[0].object;
    assert_eq!(cm["metadata"]["name"], "ha-noi-01-config");
    assert_eq!(cm["metadata"]["namespace"], "dichvucong");
    assert_eq!(
        cm["data"],
        json!({"title": "Cổng dịch vụ công", "color": "#036", "unit": "Thành phố Hà Nội"})
    );
    assert_eq!(cm["metadata"]["labels"][LABEL_TENANT], "tinh-01.ha-noi");
    assert_eq!(
        cm["metadata"]["labels"][LABEL_REVISION],
        p.revision.as_str()
    );
    assert_eq!(
        r.objects[1].object["spec"]["rules"][0]["host"],
        "ha-noi.dichvucong.gov.vn"
    );
    let secret = &r.generated_secrets[0].object;
    assert_eq!(secret["metadata"]["name"], "ha-noi-01-api-key");
    assert_eq!(secret["stringData"]["token"], GENERATED_PLACEHOLDER);
    assert_eq!(r.values.provenance["/theme/color"].layer, Layer::Tenant);
    assert_eq!(r.values.provenance["/title"].layer, Layer::SchemaDefault);
}

#[test]
fn rendering_is_deterministic_and_the_hash_follows_content() {
    let p = CompiledPlatform::compile(&platform(&[("config.yaml.hbs", CONFIG)])).unwrap();
    let a = p.render_tenant(&ha_noi(json!({})), None).unwrap();
    let b = p.render_tenant(&ha_noi(json!({})), None).unwrap();
    assert_eq!(a.hash, b.hash);
    let c = p
        .render_tenant(&ha_noi(json!({"title": "Khác"})), None)
        .unwrap();
    assert_ne!(a.hash, c.hash);
}

#[test]
fn hostile_values_stay_data() {
    let p = CompiledPlatform::compile(&platform(&[("config.yaml.hbs", CONFIG)])).unwrap();
    let evil =
        "x\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: pwned\n{{values.domain}}: \"'#";
    let r = p
        .render_tenant(&ha_noi(json!({"title": evil})), None)
        .unwrap();
    assert_eq!(r.objects.len(), 1);
    assert_eq!(r.objects[0].object["data"]["title"], evil);
}

#[test]
fn a_commune_inherits_from_its_province_and_is_checked_against_it() {
    let p = CompiledPlatform::compile(&platform(&[("config.yaml.hbs", CONFIG)])).unwrap();
    let province = ha_noi(json!({"theme": {"color": "#036"}}));
    let mut commune = tenant(
        "tinh-01",
        "phuong-ba-dinh",
        Level::Commune,
        "00004",
        "Phường Ba Đình",
        Some("01"),
        json!({}),
    );
    commune.spec.parent = Some("ha-noi".into());
    let r = p.render_tenant(&commune, Some(&province)).unwrap();
    assert_eq!(r.objects[0].object["data"]["color"], "#036");
    assert_eq!(
        r.values.provenance["/theme/color"].layer,
        Layer::Parent("ha-noi".into())
    );
    assert_eq!(
        r.values.provenance["/theme/color"].overrode,
        vec![(Layer::National, json!("#c00"))]
    );

    let e = p.render_tenant(&commune, None).unwrap_err();
    assert_eq!(e[0].reason, "MissingParent");

    let other = tenant(
        "tinh-01",
        "ha-noi",
        Level::Province,
        "79",
        "Thành phố Hồ Chí Minh",
        None,
        json!({}),
    );
    let e = p.render_tenant(&commune, Some(&other)).unwrap_err();
    assert_eq!(e[0].reason, "UnitOutsideProvince");
    assert!(
        e[0].message
            .en
            .contains("but its parent ha-noi is province 79")
    );

    // Hà Nội is 01 in both divisions: the message says the divisions differ, not the codes.
    let mut before_reform = province.clone();
    before_reform.spec.unit.division = Some("63".into());
    let e = p.render_tenant(&commune, Some(&before_reform)).unwrap_err();
    assert_eq!(e[0].reason, "UnitOutsideProvince");
    assert_eq!(
        e[0].message.en,
        "Phường Ba Đình (00004) is a unit of the 34-province division, but its parent ha-noi is province 01 of the 63-province division; declare both in one division (unit.division)"
    );

    let mut elsewhere = province.clone();
    elsewhere.metadata.namespace = Some("tinh-79".into());
    let e = p.render_tenant(&commune, Some(&elsewhere)).unwrap_err();
    assert!(e[0].message.en.contains("namespace tinh-79"));
}

#[test]
fn an_old_commune_keeps_its_province_updated_in_place_into_its_successor_as_parent() {
    // Mid-reform: tinh-08/tuyen-quang is already the 34-division successor of old 02 and 08,
    // while an old commune of 08 (division 63) still names it as parent until it is retired.
    let p = CompiledPlatform::compile(&platform(&[("config.yaml.hbs", CONFIG)])).unwrap();
    let mut successor = tenant(
        "tinh-08",
        "tuyen-quang",
        Level::Province,
        "08",
        "Tỉnh Tuyên Quang",
        None,
        json!({"theme": {"color": "#080"}}),
    );
    successor.spec.predecessors = vec![crate::api::Predecessor {
        tenant: "tinh-08/tuyen-quang".into(),
        level: Level::Province,
        code: "08".into(),
        division: Some("63".into()),
        ..Default::default()
    }];
    let old = crate::registry::units(crate::registry::Division::D63)
        .communes_of("08")
        .next()
        .unwrap();
    let mut commune = tenant(
        "tinh-08",
        &old.slug,
        Level::Commune,
        &old.code,
        &old.name,
        Some("08"),
        json!({}),
    );
    commune.spec.unit.division = Some("63".into());
    commune.spec.parent = Some("tuyen-quang".into());
    let r = p.render_tenant(&commune, Some(&successor)).unwrap();
    assert_eq!(r.objects[0].object["data"]["color"], "#080");
    // Without the predecessor entry the divisions still may not be mixed.
    successor.spec.predecessors.clear();
    let e = p.render_tenant(&commune, Some(&successor)).unwrap_err();
    assert_eq!(e[0].reason, "UnitOutsideProvince");
}

#[test]
fn all_problems_are_reported_at_once() {
    let p = CompiledPlatform::compile(&platform(&[("config.yaml.hbs", CONFIG)])).unwrap();
    let mut t = ha_noi(json!({"theme": {"color": "red"}, "domain": 5}));
    t.spec.unit.name = "Hải Phòng".into();
    let e = p.render_tenant(&t, None).unwrap_err();
    let reasons: Vec<_> = e.iter().map(|d| d.reason).collect();
    assert_eq!(
        reasons,
        vec!["UnitNameMismatch", "SchemaViolation", "SchemaViolation"],
        "{e:?}"
    );
}

#[test]
fn policy_and_template_errors_name_the_template() {
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{name \"s\"}}\n";
    let p = CompiledPlatform::compile(&platform(&[("secret.yaml.hbs", secret)])).unwrap();
    let e = p.render_tenant(&ha_noi(json!({})), None).unwrap_err();
    assert_eq!(e[0].reason, "PolicyViolation");
    assert_eq!(
        e[0].origin,
        Origin::Template {
            name: "tenant/secret.yaml.hbs".into(),
            // The line of `kind: Secret` in the template.
            line: Some(2)
        }
    );

    let missing = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{name \"c\"}}\ndata:\n  x: {{values.nope}}\n";
    let p = CompiledPlatform::compile(&platform(&[("m.yaml.hbs", missing)])).unwrap();
    let e = p.render_tenant(&ha_noi(json!({})), None).unwrap_err();
    assert_eq!(e[0].reason, "TemplateError");
    assert!(e[0].message.en.contains("values.nope"));
}

#[test]
fn collisions_between_tenants_are_found() {
    let p = CompiledPlatform::compile(&platform(&[
        ("config.yaml.hbs", CONFIG),
        ("ingress.yaml.hbs", INGRESS),
    ]))
    .unwrap();
    let a = p.render_tenant(&ha_noi(json!({})), None).unwrap();
    let mut twin = ha_noi(json!({}));
    twin.metadata.name = Some("ha-noi-2".into());
    let b = p.render_tenant(&twin, None).unwrap();
    let c = p
        .render_tenant(
            &tenant(
                "tinh-79",
                "hcm",
                Level::Province,
                "79",
                "Thành phố Hồ Chí Minh",
                None,
                json!({}),
            ),
            None,
        )
        .unwrap();
    let found = find_collisions(&[&a, &b, &c]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, 1);
    assert!(
        found[0]
            .1
            .message
            .en
            .contains("already declared by tenant tinh-01/ha-noi")
    );
}
