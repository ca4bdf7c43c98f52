//! Property tests: whatever a tenant puts in its values, the rendered output parses, holds
//! exactly the objects the templates define, passes policy, and carries every value only as
//! data. Runs 10,000 cases in `cargo test` (set PROPTEST_CASES for longer runs).

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::api::{Level, NamedTemplate, PlatformSpec, PlatformTemplates, TenantSpec, UnitRef};

const TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{name \"cfg\"}}\n  labels:\n    tier: {{values.tier}}\ndata:\n  title: {{values.title}}\n  note: {{concat \"[\" values.title \"]\"}}\n  joined: {{join values.list \"|\"}}\n  nested: {{json values.nested}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{name \"second\"}}\ndata:\n  {{#if values.flag}}flag: {{values.title}}{{/if}}\n  fixed: \"x\"\n";

fn platform() -> CompiledPlatform {
    platform_with(TEMPLATE)
}

/// A platform whose one tenant template is `template`.
fn platform_with(template: &str) -> CompiledPlatform {
    let mut p = Platform::new(
        "p",
        PlatformSpec {
            display_name: "p".into(),
            namespace: "p".into(),
            tenant_schema: json!({"type": "object"}),
            defaults: json!({}),
            allowed_kinds: vec!["ConfigMap".into()],
            templates: PlatformTemplates {
                shared: vec![],
                tenant: vec![NamedTemplate {
                    name: "t.yaml.hbs".into(),
                    template: template.into(),
                }],
            },
            ..Default::default()
        },
    );
    p.metadata.name = Some("p".into());
    CompiledPlatform::compile(&p).expect("compiles")
}

fn tenant(values: Value) -> Tenant {
    let mut t = Tenant::new(
        "ha-noi",
        TenantSpec {
            platform: "p".into(),
            unit: UnitRef {
                level: Level::Province,
                code: "01".into(),
                name: "Hà Nội".into(),
                province_code: None,
                division: None,
            },
            parent: None,
            values: Some(values),
            ..Default::default()
        },
    );
    t.metadata.namespace = Some("tinh-01".into());
    t
}

/// Strings built from the pieces that break naive templating, plus arbitrary unicode.
fn hostile() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "\n",
        "\r\n",
        "---",
        "...",
        "{{",
        "}}",
        "{{{x}}}",
        ": ",
        "#",
        "'",
        "\"",
        "\\",
        "&a",
        "*a",
        "!!binary",
        "!tag",
        "- ",
        "? ",
        "|",
        ">",
        "%YAML",
        "\t",
        "\u{0}",
        "\u{85}",
        "\u{2028}",
        "\u{feff}",
        "kind: Secret",
        "  ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "@",
        "`",
        "Thành phố",
        "🇻🇳",
        "null",
        "true",
        "0x1F",
        "",
    ]);
    prop_oneof![
        prop::collection::vec(pieces, 0..12).prop_map(|v| v.concat()),
        any::<String>(),
    ]
}

fn nested() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        hostile().prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        any::<bool>().prop_map(|b| json!(b)),
        Just(Value::Null),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(hostile(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn values_are_always_data(title in hostile(), tier in hostile(), list in prop::collection::vec(hostile(), 0..5), nested in nested(), flag in any::<bool>()) {
        let p = platform();
        let values = json!({"title": title, "tier": tier, "list": list, "nested": nested, "flag": flag});
        let r = p.render_tenant(&tenant(values), None).expect("renders");
        prop_assert_eq!(r.objects.len(), 2);
        let first = &r.objects[0].object;
        prop_assert_eq!(first["metadata"]["name"].as_str(), Some("ha-noi-01-cfg"));
        prop_assert_eq!(&first["data"]["title"], &json!(title));
        prop_assert_eq!(&first["metadata"]["labels"]["tier"], &json!(tier));
        prop_assert_eq!(&first["data"]["note"], &json!(format!("[{title}]")));
        prop_assert_eq!(&first["data"]["joined"], &json!(list.join("|")));
        prop_assert_eq!(&first["data"]["nested"], &nested);
        let data_keys: Vec<&String> = first["data"].as_object().unwrap().keys().collect();
        prop_assert_eq!(data_keys, vec!["joined", "nested", "note", "title"]);
        let second = &r.objects[1].object;
        let expected_keys: Vec<&str> = if flag { vec!["fixed", "flag"] } else { vec!["fixed"] };
        let keys: Vec<&str> = second["data"].as_object().unwrap().keys().map(String::as_str).collect();
        prop_assert_eq!(keys, expected_keys);
        for o in &r.objects {
            prop_assert_eq!(o.object["metadata"]["namespace"].as_str(), Some("p"));
            prop_assert_eq!(o.kind(), "ConfigMap");
        }
    }
}

#[test]
fn huge_values_stay_data() {
    let p = platform();
    let mut big = "a: b\n---\n{{x}}\n".repeat(1 << 17);
    big.truncate(1 << 20); // 1 MiB of structure-looking text
    let deep = (0..200).fold(json!("x"), |acc, _| json!([acc]));
    let r = p
        .render_tenant(
            &tenant(json!({"title": big, "tier": "t", "list": [], "nested": deep, "flag": false})),
            None,
        )
        .unwrap();
    assert_eq!(r.objects.len(), 2);
    assert_eq!(
        r.objects[0].object["data"]["title"].as_str().map(str::len),
        Some(1 << 20)
    );
    assert_eq!(r.objects[0].object["data"]["nested"], deep);
}

#[test]
fn a_list_of_10_000_values_renders_as_data() {
    let p = platform();
    let list: Vec<Value> = (0..10_000).map(|i| json!(format!("item-{i}"))).collect();
    let r = p
        .render_tenant(
            &tenant(json!({"title": "t", "tier": "t", "list": list, "nested": {}, "flag": true})),
            None,
        )
        .unwrap();
    let joined = r.objects[0].object["data"]["joined"].as_str().unwrap();
    assert_eq!(joined.split('|').count(), 10_000);
    assert!(joined.ends_with("item-9999"));
}

/// A platform whose one tenant object is named `{{name SUFFIX}}`.
fn platform_naming(suffix: &str) -> CompiledPlatform {
    platform_with(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{name \"{suffix}\"}}}}\n"
    ))
}

#[test]
fn object_names_up_to_63_characters_and_a_clear_error_past_them() {
    // Hà Nội's stem is `ha-noi-01` (9 characters): a 53-character suffix makes 63.
    let fits = "x".repeat(53);
    let r = platform_naming(&fits)
        .render_tenant(&tenant(json!({})), None)
        .unwrap();
    assert_eq!(r.objects[0].name().len(), 63);
    let e = platform_naming(&format!("{fits}y"))
        .render_tenant(&tenant(json!({})), None)
        .unwrap_err();
    let msg = e[0].message.en.clone();
    assert!(
        msg.contains("longer than 63 characters") && msg.contains("at most 53 characters"),
        "{msg}"
    );
}
