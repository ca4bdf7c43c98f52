//! The renderer's output, pinned per epoch. A fleet converged by an older operator must see
//! exactly the same objects from a newer one pinned at (or reaching a tenant at) the old
//! epoch, or an upgrade would rewrite the whole country at once. So each epoch's output for a
//! fixed platform, province and commune is hashed here: a change to an old epoch's output
//! fails, and a deliberate change to the output goes behind a new [`RENDERER_EPOCH`] with its
//! own line below.

use serde_json::{Value, json};

use super::*;

/// `(epoch, revision, hash of every rendered object)`; epoch 1 is the output of the operator
/// before epochs existed (checked against commit bac7865), so a fleet it converged keeps its revision names.
const PINNED: &[(u32, &str, &str)] = &[
    (1, "4431473703", "97f9518d10ee6f5b"),
    (2, "fc56f147ec", "8e892f4d21e6b2e6"),
];

fn platform() -> Platform {
    let template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{name \"config\"}}\ndata:\n  title: {{values.title}}\n  unit: {{unit.name}}\n";
    let labelled = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{name \"own-labels\"}}\n  labels:\n    app.kubernetes.io/part-of: chosen-by-the-template\ndata: {}\n";
    let shared = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{name \"shared\"}}\ndata:\n  domain: {{values.domain}}\n";
    serde_json::from_value(json!({
        "apiVersion": "khaibao.dev/v1alpha1",
        "kind": "Platform",
        "metadata": {"name": "dichvucong"},
        "spec": {
            "displayName": "Cổng dịch vụ công",
            "namespace": "dichvucong",
            "tenantSchema": {
                "type": "object",
                "properties": {
                    "domain": {"type": "string"},
                    "title": {"type": "string", "default": "Cổng dịch vụ công"}
                }
            },
            "defaults": {"domain": "dichvucong.gov.vn"},
            "allowedKinds": ["ConfigMap"],
            "generatedSecrets": [{"name": "api-key", "keys": [{"key": "token", "length": 32}]}],
            "templates": {
                "shared": [{"name": "shared.yaml.hbs", "template": shared}],
                "tenant": [
                    {"name": "config.yaml.hbs", "template": template},
                    {"name": "labelled.yaml.hbs", "template": labelled}
                ]
            }
        }
    }))
    .expect("fixture platform")
}

fn tenant(ns: &str, name: &str, unit: Value) -> Tenant {
    serde_json::from_value(json!({
        "apiVersion": "khaibao.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"platform": "dichvucong", "unit": unit, "values": {"title": "Cổng tỉnh"}}
    }))
    .expect("fixture tenant")
}

/// The platform's revision at `epoch` and the hash of the shared objects, a province's and a
/// commune's objects and placeholders.
fn output(epoch: u32) -> (String, String) {
    let compiled = CompiledPlatform::compile_at(&platform(), epoch).expect("compiles");
    let province = tenant(
        "tinh-01",
        "ha-noi",
        json!({"level": "province", "code": "01", "name": "Thành phố Hà Nội"}),
    );
    let commune = tenant(
        "tinh-01",
        "phuong-ba-dinh",
        json!({"level": "commune", "code": "00004", "name": "Phường Ba Đình", "provinceCode": "01"}),
    );
    let mut all: Vec<Value> = compiled
        .render_shared()
        .expect("shared renders")
        .into_iter()
        .map(|o| o.object)
        .collect();
    for t in [&province, &commune] {
        let r = compiled.render_tenant(t, None).expect("tenant renders");
        all.extend(
            r.objects
                .into_iter()
                .chain(r.generated_secrets)
                .map(|o| o.object),
        );
    }
    let bytes = serde_json::to_vec(&all).expect("serialises");
    (compiled.revision.clone(), short_hash(&bytes, 16))
}

#[test]
fn every_renderer_epoch_renders_what_it_always_rendered() {
    assert_eq!(
        PINNED.last().map(|(e, _, _)| *e),
        Some(RENDERER_EPOCH),
        "RENDERER_EPOCH changed: pin the new epoch's output here"
    );
    for (epoch, revision, hash) in PINNED {
        let (r, h) = output(*epoch);
        assert_eq!(
            (r.as_str(), h.as_str()),
            (*revision, *hash),
            "epoch {epoch} renders differently than it did: put the change behind a new \
             RENDERER_EPOCH instead (an upgrade would otherwise rewrite every tenant at once)"
        );
    }
}

#[test]
fn epoch_2_adds_the_recommended_labels_unless_the_template_set_them() {
    let compiled = CompiledPlatform::compile_at(&platform(), 2).unwrap();
    let t = tenant(
        "tinh-01",
        "ha-noi",
        json!({"level": "province", "code": "01", "name": "Thành phố Hà Nội"}),
    );
    let r = compiled.render_tenant(&t, None).unwrap();
    let labels = |i: usize| r.objects[i].object["metadata"]["labels"].clone();
    assert_eq!(labels(0)[policy::LABEL_PART_OF], "dichvucong");
    assert_eq!(labels(0)[policy::LABEL_INSTANCE], labels(0)[LABEL_TENANT]);
    assert_eq!(labels(1)[policy::LABEL_PART_OF], "chosen-by-the-template");
    let shared = compiled.render_shared().unwrap();
    assert_eq!(
        shared[0].object["metadata"]["labels"][policy::LABEL_PART_OF],
        "dichvucong"
    );
    assert!(
        shared[0].object["metadata"]["labels"]
            .get(policy::LABEL_INSTANCE)
            .is_none()
    );

    let old = CompiledPlatform::compile_at(&platform(), 1).unwrap();
    let r1 = old.render_tenant(&t, None).unwrap();
    assert!(
        r1.objects[0].object["metadata"]["labels"]
            .get(policy::LABEL_PART_OF)
            .is_none()
    );
    assert_ne!(old.revision, compiled.revision);
    assert_eq!(old.revision, platform_revision_at(&platform(), 1));
}

#[test]
fn an_epoch_this_build_does_not_know_is_refused_with_what_to_do() {
    for epoch in [0, RENDERER_EPOCH + 1] {
        let Err(problems) = CompiledPlatform::compile_at(&platform(), epoch) else {
            panic!("epoch {epoch} compiled");
        };
        let msg = crate::diagnostics::summary(&problems, crate::diagnostics::Lang::En);
        assert!(
            msg.contains(&format!("renderer epoch {epoch}")) && msg.contains("upgrade"),
            "{msg}"
        );
    }
}
