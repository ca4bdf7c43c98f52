use super::*;
use crate::api::{
    GeneratedKey, GeneratedSecret, NamedTemplate, Platform, PlatformSpec, PlatformTemplates,
    TenantSpec, Transition, UnitRef,
};
use crate::pipeline::{CompiledPlatform, GENERATED_PLACEHOLDER};

fn platform() -> CompiledPlatform {
    // `{{this.name}}`: a bare `{{name}}` is the object-name helper.
    let template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{name \"config\"}}\ndata:\n  until: {{transition.until}}\n  adopted: {{concat transition.adoptedSecrets}}\n  preds: {{#scalar trim=\",\"}}{{#each unit.predecessors}}{{tenant}} {{level}} {{code}} {{this.name}} {{slug}} {{provinceCode}} {{provinceSlug}} {{division}} {{partial}},{{/each}}{{/scalar}}\n";
    let mut p = Platform::new(
        "dvc",
        PlatformSpec {
            display_name: "x".into(),
            namespace: "dvc".into(),
            tenant_schema: serde_json::json!({"type": "object"}),
            allowed_kinds: vec!["ConfigMap".into()],
            generated_secrets: vec![GeneratedSecret {
                name: "api-key".into(),
                keys: vec![GeneratedKey {
                    key: "token".into(),
                    ..Default::default()
                }],
            }],
            templates: PlatformTemplates {
                shared: vec![],
                tenant: vec![NamedTemplate {
                    name: "c.yaml.hbs".into(),
                    template: template.into(),
                }],
            },
            ..Default::default()
        },
    );
    p.metadata.name = Some("dvc".into());
    CompiledPlatform::compile(&p).unwrap()
}

fn successor(predecessors: Vec<Predecessor>) -> Tenant {
    let mut t = Tenant::new(
        "ninh-binh",
        TenantSpec {
            platform: "dvc".into(),
            unit: UnitRef {
                level: Level::Province,
                code: "37".into(),
                name: "Tỉnh Ninh Bình".into(),
                ..Default::default()
            },
            predecessors,
            ..Default::default()
        },
    );
    t.metadata.namespace = Some("tinh-37".into());
    t
}

#[test]
fn templates_see_the_predecessors_but_not_the_tenant_itself() {
    let p = platform();
    let mut t = successor(vec![
        pred("tinh-37/ninh-binh", Level::Province, "37", None),
        pred("tinh-35/ha-nam", Level::Province, "35", None),
        pred("tinh-35/quang-trung", Level::Commune, "13285", None),
    ]);
    t.spec.transition = Some(Transition {
        until: Some("2026-12-31".into()),
    });
    let r = p.render_tenant(&t, None).unwrap();
    let data = &r.objects[0].object["data"];
    assert_eq!(data["until"], "2026-12-31");
    assert_eq!(data["adopted"], "true");
    assert_eq!(
        data["preds"],
        "tinh-35/ha-nam province 35 Tỉnh Hà Nam ha-nam 35 ha-nam 63 false,\
         tinh-35/quang-trung commune 13285 Phường Quang Trung phuong-quang-trung 35 ha-nam 63 false"
    );
    // The -adopted placeholder: one key per value of each predecessor of another code.
    let names: Vec<&str> = r.generated_secrets.iter().map(|o| o.name()).collect();
    assert_eq!(
        names,
        ["ninh-binh-37-api-key", "ninh-binh-37-api-key-adopted"]
    );
    let adopted = &r.generated_secrets[1].object;
    assert_eq!(adopted["stringData"]["35.token"], GENERATED_PLACEHOLDER);
    assert_eq!(adopted["stringData"]["13285.token"], GENERATED_PLACEHOLDER);
    assert_eq!(
        adopted["metadata"]["annotations"][ANNOTATION_ADOPTED_SECRET],
        "api-key"
    );
    assert_eq!(r.predecessors.len(), 2);
}

#[test]
fn without_predecessors_nothing_is_added_and_the_hash_is_unchanged_by_an_in_place_entry() {
    let p = platform();
    let plain = p.render_tenant(&successor(vec![]), None).unwrap();
    assert_eq!(plain.objects[0].object["data"]["until"], "");
    assert_eq!(plain.objects[0].object["data"]["adopted"], "false");
    assert_eq!(plain.generated_secrets.len(), 1);
    let in_place = p
        .render_tenant(
            &successor(vec![pred("tinh-37/ninh-binh", Level::Province, "37", None)]),
            None,
        )
        .unwrap();
    assert_eq!(in_place.hash, plain.hash);
}

#[test]
fn a_tenant_moved_in_place_to_another_code_adopts_its_old_values_and_host() {
    let p = platform();
    // The same Tenant, which declared 35 Hà Nam, now declares 37 Ninh Bình: its old
    // Secrets are named after 35.
    let r = p
        .render_tenant(
            &successor(vec![pred("tinh-37/ninh-binh", Level::Province, "35", None)]),
            None,
        )
        .unwrap();
    assert_eq!(r.objects[0].object["data"]["adopted"], "true");
    assert_eq!(
        r.objects[0].object["data"]["preds"],
        "tinh-37/ninh-binh province 35 Tỉnh Hà Nam ha-nam 35 ha-nam 63 false"
    );
    assert!(r.predecessors[0].in_place);
    let adopted = &r.generated_secrets[1].object;
    assert_eq!(adopted["metadata"]["name"], "ninh-binh-37-api-key-adopted");
    assert_eq!(adopted["stringData"]["35.token"], GENERATED_PLACEHOLDER);
    assert_eq!(r.predecessors[0].stem(), "ha-nam-35");
}

#[test]
fn a_commune_kept_in_place_in_a_renamed_province_keeps_its_old_host_but_its_secrets() {
    // Quảng Bình (44) merged into Quảng Trị, which took code 44: Phường Ba Đồn keeps its
    // code and Tenant, but its host moves from `.quang-binh.` to `.quang-tri.`.
    let p = platform();
    let mut t = Tenant::new(
        "phuong-ba-don",
        TenantSpec {
            platform: "dvc".into(),
            unit: UnitRef {
                level: Level::Commune,
                code: "19009".into(),
                name: "Phường Ba Đồn".into(),
                province_code: Some("44".into()),
                ..Default::default()
            },
            predecessors: vec![pred("tinh-44/phuong-ba-don", Level::Commune, "19009", None)],
            ..Default::default()
        },
    );
    t.metadata.namespace = Some("tinh-44".into());
    let r = p.render_tenant(&t, None).unwrap();
    assert_eq!(r.unit.province_slug, "quang-tri");
    assert_eq!(
        r.objects[0].object["data"]["preds"],
        "tinh-44/phuong-ba-don commune 19009 Phường Ba Đồn phuong-ba-don 44 quang-binh 63 false"
    );
    // Same code, same stem: its Secret is simply kept, nothing to adopt.
    assert_eq!(r.objects[0].object["data"]["adopted"], "false");
    assert_eq!(r.generated_secrets.len(), 1);
    assert!(!moved_code(&r.predecessors[0], &r.unit.code));
}

#[test]
fn the_unit_that_took_a_predecessors_host_name() {
    // Old Xã Long Hòa of Hồ Chí Minh (27679) went into Xã Cần Giờ; the new Xã Long Hòa of
    // Hồ Chí Minh (25792, from old Bình Dương) answers at its host name now.
    let p =
        resolve_predecessor(&pred("tinh-79/xa-long-hoa", Level::Commune, "27679", None)).unwrap();
    assert_eq!(
        (p.slug.as_str(), p.province_slug.as_str()),
        ("xa-long-hoa", "ho-chi-minh")
    );
    assert_eq!(host_taker(&p), Some((Level::Commune, "25792".to_string())));
    let ha_giang =
        resolve_predecessor(&pred("tinh-02/ha-giang", Level::Province, "02", None)).unwrap();
    assert_eq!(host_taker(&ha_giang), None);
}

#[test]
fn a_predecessor_of_another_province_is_refused() {
    let p = platform();
    // 79 Hồ Chí Minh did not become 37 Ninh Bình; 35 Hà Nam did.
    let e = p
        .render_tenant(
            &successor(vec![
                pred("tinh-35/ha-nam", Level::Province, "35", None),
                pred("tinh-79/ho-chi-minh", Level::Province, "79", None),
            ]),
            None,
        )
        .unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].reason, "PredecessorOutsideProvince");
    assert_eq!(e[0].pointer, "/spec/predecessors/1/code");
    // The same division: the same province only.
    let e = p
        .render_tenant(
            &successor(vec![pred(
                "tinh-01/ha-noi",
                Level::Province,
                "01",
                Some("34"),
            )]),
            None,
        )
        .unwrap_err();
    assert_eq!(e[0].reason, "PredecessorOutsideProvince");
}

#[test]
fn a_successor_and_its_predecessor_do_not_collide() {
    let p = platform();
    let lung_cu = |ns: &str, province: &str, division: &str| {
        let mut t = successor(vec![]);
        t.metadata.namespace = Some(ns.into());
        t.metadata.name = Some("xa-lung-cu".into());
        t.spec.unit = UnitRef {
            level: Level::Commune,
            code: "00715".into(),
            name: "Xã Lũng Cú".into(),
            province_code: Some(province.into()),
            division: Some(division.into()),
        };
        t
    };
    let old = p
        .render_tenant(&lung_cu("tinh-02", "02", "63"), None)
        .unwrap();
    let mut new = lung_cu("tinh-08", "08", "34");
    let other = p.render_tenant(&new, None).unwrap();
    // Same object names: a conflict between two unrelated tenants...
    assert_eq!(crate::pipeline::find_collisions(&[&old, &other]).len(), 1);
    // ...and none when one replaces the other.
    new.spec.predecessors = vec![pred("tinh-02/xa-lung-cu", Level::Commune, "00715", None)];
    let successor = p.render_tenant(&new, None).unwrap();
    assert!(crate::pipeline::find_collisions(&[&old, &successor]).is_empty());
    assert!(crate::pipeline::find_collisions(&[&successor, &old]).is_empty());
}

#[test]
fn unknown_predecessors_are_refused() {
    let p = platform();
    let e = p
        .render_tenant(
            &successor(vec![pred("tinh-99/x", Level::Province, "99", None)]),
            None,
        )
        .unwrap_err();
    assert_eq!(e[0].reason, "UnknownPredecessor");
}

fn pred(tenant: &str, level: Level, code: &str, division: Option<&str>) -> Predecessor {
    Predecessor {
        tenant: tenant.into(),
        level,
        code: code.into(),
        division: division.map(Into::into),
        ..Default::default()
    }
}

#[test]
fn predecessors_resolve_in_their_division_default_63() {
    // 35 is Hà Nam in the 63-province division (merged into Ninh Bình in 2025).
    let p = resolve_predecessor(&pred("tinh-35/ha-nam", Level::Province, "35", None)).unwrap();
    assert_eq!((p.slug.as_str(), p.division), ("ha-nam", Division::D63));
    assert_eq!(p.stem(), "ha-nam-35");
    let c = resolve_predecessor(&pred("tinh-01/phuc-xa", Level::Commune, "00001", None)).unwrap();
    assert_eq!(
        (c.slug.as_str(), c.province_slug.as_str()),
        ("phuong-phuc-xa", "ha-noi")
    );
    assert_eq!(c.province_code, "01");
    assert!(resolve_predecessor(&pred("a/b", Level::Province, "35", Some("34"))).is_none());
    assert!(resolve_predecessor(&pred("a/b", Level::Province, "00001", None)).is_none());
}

#[test]
fn the_tenant_itself_is_in_place_and_unknown_codes_point_at_their_entry() {
    let mut t = successor(vec![]);
    t.spec.predecessors = vec![
        pred("tinh-37/ninh-binh", Level::Province, "37", None),
        pred("tinh-35/ha-nam", Level::Province, "35", None),
        pred("tinh-99/nowhere", Level::Province, "99", None),
    ];
    assert!(is_in_place(&t.spec.predecessors[0], "tinh-37", "ninh-binh"));
    let problems = resolve_predecessors(&t, "tinh-37", "ninh-binh").unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].reason, "UnknownPredecessor");
    assert_eq!(problems[0].pointer, "/spec/predecessors/2/code");
    t.spec.predecessors.pop();
    let mut list = resolve_predecessors(&t, "tinh-37", "ninh-binh").unwrap();
    // The tenant's own entry is marked; rendering drops it here (same code, slug and
    // province slug: `keep_in_place`).
    assert_eq!(list.len(), 2);
    assert!(list[0].in_place && !list[1].in_place);
    list.remove(0);
    assert_eq!(of_other_codes(&list, "37").count(), 1);
    assert_eq!(of_other_codes(&list, "35").count(), 0);
    let mut partial = list.clone();
    partial[0].partial = true;
    assert_eq!(of_other_codes(&partial, "37").count(), 0);
    assert_eq!(adopted_key("35", "token"), "35.token");
}
