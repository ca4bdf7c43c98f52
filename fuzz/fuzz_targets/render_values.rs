//! Fuzzes tenant values through the whole pipeline: whatever the bytes, the tenant renders to
//! exactly the template's two objects, every value read back equals what went in, and nothing
//! panics. Run: cargo +nightly fuzz run render_values -- -runs=1000000
#![no_main]

use khaibao::api::{Level, NamedTemplate, Platform, PlatformSpec, PlatformTemplates, Tenant, TenantSpec, UnitRef};
use khaibao::pipeline::CompiledPlatform;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use std::sync::LazyLock;

const TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{name \"cfg\"}}\ndata:\n  a: {{values.a}}\n  b: {{concat values.a values.b}}\n  j: {{json values.j}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{name \"two\"}}\ndata:\n  b: {{values.b}}\n";

static PLATFORM: LazyLock<CompiledPlatform> = LazyLock::new(|| {
    let mut p = Platform::new(
        "p",
        PlatformSpec {
            display_name: "p".into(),
            namespace: "p".into(),
            tenant_schema: json!({"type": "object"}),
            allowed_kinds: vec!["ConfigMap".into()],
            templates: PlatformTemplates {
                shared: vec![],
                tenant: vec![NamedTemplate { name: "t.yaml.hbs".into(), template: TEMPLATE.into() }],
            },
            ..Default::default()
        },
    );
    p.metadata.name = Some("p".into());
    CompiledPlatform::compile(&p).expect("compiles")
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{1}');
    let a = parts.next().unwrap_or_default().to_string();
    let b = parts.next().unwrap_or_default().to_string();
    // The rest, if it parses as JSON, becomes a nested value (objects, lists, deep nesting).
    let j: Value = parts.next().and_then(|s| serde_json::from_str(s).ok()).unwrap_or(Value::Null);
    let mut t = Tenant::new(
        "ha-noi",
        TenantSpec {
            platform: "p".into(),
            unit: UnitRef { level: Level::Province, code: "01".into(), name: "Hà Nội".into(), province_code: None, division: None },
            parent: None,
            values: Some(json!({"a": a, "b": b, "j": j})),
            ..Default::default()
        },
    );
    t.metadata.namespace = Some("tinh-01".into());
    let r = PLATFORM.render_tenant(&t, None).expect("every value renders");
    assert_eq!(r.objects.len(), 2);
    assert_eq!(r.objects[0].object["data"]["a"], json!(a));
    assert_eq!(r.objects[0].object["data"]["b"], json!(format!("{a}{b}")));
    assert_eq!(r.objects[0].object["data"]["j"], j);
    assert_eq!(r.objects[1].object["data"], json!({"b": b}));
});
