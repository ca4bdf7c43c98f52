//! What a rendered object may be. Tenants are configuration only: never cluster-scoped kinds,
//! RBAC, namespaces, CRDs, webhooks or workloads; only the platform's allowed kinds; always in the
//! platform's namespace, named after the tenant and stamped with khaibao's labels, so the
//! operator can find (and prune) exactly what each tenant owns.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::diagnostics::{Diagnostic, Origin, Text};

use super::naming::{NAME_MAX, is_dns_label};

pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_PLATFORM: &str = "khaibao.dev/platform";
pub const LABEL_TENANT: &str = "khaibao.dev/tenant";
pub const LABEL_UNIT_CODE: &str = "khaibao.dev/unit-code";
pub const LABEL_LEVEL: &str = "khaibao.dev/level";
pub const LABEL_PROVINCE: &str = "khaibao.dev/province-code";
pub const LABEL_REVISION: &str = "khaibao.dev/revision";
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
/// From renderer epoch 2: the platform an object belongs to.
pub const LABEL_PART_OF: &str = "app.kubernetes.io/part-of";
/// From renderer epoch 2: the tenant an object belongs to (its `khaibao.dev/tenant` value).
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";
pub const MANAGER: &str = "khaibao";
/// Marks a Secret the operator generates (created once, never overwritten).
pub const ANNOTATION_GENERATED: &str = "khaibao.dev/generated-secret";
/// Who owns an object: `tenant/<namespace>/<name>` or `platform/<name>`. Labels cannot hold a
/// slash and are shortened when long; this annotation always names the owner exactly, so the
/// operator can map a watched object back to what must be reconciled.
pub const ANNOTATION_OWNER: &str = "khaibao.dev/owner";

/// Kinds no template may produce: they act beyond one namespace or grant power.
const NEVER: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "CustomResourceDefinition",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "APIService",
    "PriorityClass",
    "RuntimeClass",
    "IngressClass",
    "CertificateSigningRequest",
    "ResourceQuota",
    "LimitRange",
    "Platform",
    "Tenant",
    "TenantSet",
    "PlatformRevision",
    "Lease",
];

/// Kinds a tenant may not produce even if a platform allows them: tenants are configuration.
const NOT_FOR_TENANTS: &[&str] = &[
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "ServiceAccount",
];

/// Who the object is for.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub platform: &'a str,
    pub namespace: &'a str,
    pub revision: &'a str,
    pub allowed_kinds: &'a [String],
    /// The renderer epoch the object is rendered at ([`super::RENDERER_EPOCH`]).
    pub epoch: u32,
    /// `Some` for a tenant object: the name stem, the label value and the unit's labels.
    pub tenant: Option<TenantScope<'a>>,
}

#[derive(Clone, Copy)]
pub struct TenantScope<'a> {
    pub stem: &'a str,
    /// `<namespace>/<name>` of the tenant.
    pub key: &'a str,
    pub label: &'a str,
    pub unit_code: &'a str,
    pub level: &'a str,
    pub province_code: &'a str,
}

fn refuse(template: &str, en: String, vi: String, hint: Option<(&str, &str)>) -> Diagnostic {
    let d = Diagnostic::new(
        "PolicyViolation",
        Origin::Template {
            name: template.to_string(),
            line: None,
        },
        "",
        Text::new(en, vi),
    );
    match hint {
        Some((en, vi)) => d.with_hint(Text::new(en, vi)),
        None => d,
    }
}

/// The labels khaibao stamps on an object in `scope`.
pub fn standard_labels(scope: &Scope<'_>) -> BTreeMap<&'static str, String> {
    let mut labels = BTreeMap::from([
        (LABEL_MANAGED_BY, MANAGER.to_string()),
        (LABEL_PLATFORM, scope.platform.to_string()),
        (LABEL_REVISION, scope.revision.to_string()),
    ]);
    match &scope.tenant {
        Some(t) => {
            labels.insert(LABEL_TENANT, t.label.to_string());
            labels.insert(LABEL_UNIT_CODE, t.unit_code.to_string());
            labels.insert(LABEL_LEVEL, t.level.to_string());
            labels.insert(LABEL_PROVINCE, t.province_code.to_string());
        }
        None => {
            labels.insert(LABEL_COMPONENT, "shared".to_string());
        }
    }
    labels
}

/// Checks one rendered object and brings it in line (namespace, labels). Refuses rather than
/// silently changing anything the template author wrote on purpose.
pub fn enforce(object: &mut Value, template: &str, scope: &Scope<'_>) -> Result<(), Diagnostic> {
    let Some(obj) = object.as_object_mut() else {
        return Err(refuse(
            template,
            format!("rendered document is not an object: {}", preview(object)),
            format!(
                "tài liệu kết xuất không phải một đối tượng: {}",
                preview(object)
            ),
            None,
        ));
    };
    let kind = string_field(obj, "kind").ok_or_else(|| {
        refuse(
            template,
            "object has no kind".into(),
            "đối tượng thiếu kind".into(),
            None,
        )
    })?;
    let api_version = string_field(obj, "apiVersion").ok_or_else(|| {
        refuse(
            template,
            format!("{kind} has no apiVersion"),
            format!("{kind} thiếu apiVersion"),
            None,
        )
    })?;
    if NEVER.contains(&kind.as_str()) {
        return Err(refuse(
            template,
            format!(
                "{kind} is never allowed: it reaches beyond the platform's namespace or grants permissions"
            ),
            format!(
                "không bao giờ được tạo {kind}: nó vượt ra ngoài namespace của nền tảng hoặc cấp quyền"
            ),
            None,
        ));
    }
    if let Some(t) = &scope.tenant {
        if NOT_FOR_TENANTS.contains(&kind.as_str()) {
            return Err(refuse(
                template,
                format!("{kind} is a workload; tenants are configuration only"),
                format!("{kind} là tải chạy; đơn vị chỉ được có cấu hình"),
                Some((
                    "put workloads in the platform's shared templates",
                    "đặt tải chạy vào mẫu dùng chung của nền tảng",
                )),
            ));
        }
        let qualified = format!("{api_version}/{kind}");
        if !scope
            .allowed_kinds
            .iter()
            .any(|k| *k == kind || *k == qualified)
        {
            return Err(refuse(
                template,
                format!(
                    "{kind} is not in the platform's allowedKinds ({})",
                    scope.allowed_kinds.join(", ")
                ),
                format!(
                    "{kind} không nằm trong allowedKinds của nền tảng ({})",
                    scope.allowed_kinds.join(", ")
                ),
                Some((
                    "add it to spec.allowedKinds or remove it from the template",
                    "thêm vào spec.allowedKinds hoặc bỏ khỏi mẫu",
                )),
            ));
        }
        let _ = t;
    }
    let metadata = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = metadata.as_object_mut() else {
        return Err(refuse(
            template,
            format!("{kind}: metadata is not a mapping"),
            format!("{kind}: metadata không phải ánh xạ"),
            None,
        ));
    };
    for forbidden in ["generateName", "ownerReferences", "finalizers"] {
        if meta.contains_key(forbidden) {
            return Err(refuse(
                template,
                format!("{kind}: metadata.{forbidden} is managed by khaibao; remove it"),
                format!("{kind}: metadata.{forbidden} do khaibao quản lý; hãy bỏ đi"),
                None,
            ));
        }
    }
    let name = string_field(meta, "name").ok_or_else(|| {
        refuse(
            template,
            format!("{kind} has no metadata.name"),
            format!("{kind} thiếu metadata.name"),
            Some((
                "name it with {{name \"suffix\"}}",
                "đặt tên bằng {{name \"hậu-tố\"}}",
            )),
        )
    })?;
    if !is_dns_label(&name) {
        return Err(refuse(
            template,
            format!(
                "{kind} name {name:?} is not a valid DNS label (lowercase letters, digits, '-', at most {NAME_MAX})"
            ),
            format!(
                "tên {kind} {name:?} không phải nhãn DNS hợp lệ (chữ thường, số, '-', tối đa {NAME_MAX})"
            ),
            Some((
                "name it with {{name \"suffix\"}}",
                "đặt tên bằng {{name \"hậu-tố\"}}",
            )),
        ));
    }
    let stem = scope
        .tenant
        .as_ref()
        .map(|t| t.stem)
        .unwrap_or(scope.platform);
    if name != stem && !name.starts_with(&format!("{stem}-")) {
        return Err(refuse(
            template,
            format!("{kind} name {name:?} does not carry its owner {stem:?}"),
            format!("tên {kind} {name:?} không mang tên chủ sở hữu {stem:?}"),
            Some((
                "name it with {{name \"suffix\"}}",
                "đặt tên bằng {{name \"hậu-tố\"}}",
            )),
        ));
    }
    match meta.get("namespace") {
        None => {
            meta.insert(
                "namespace".into(),
                Value::String(scope.namespace.to_string()),
            );
        }
        Some(Value::String(ns)) if ns == scope.namespace => {}
        Some(other) => {
            return Err(refuse(
                template,
                format!(
                    "{kind} {name}: namespace {other} is not the platform's namespace {:?}",
                    scope.namespace
                ),
                format!(
                    "{kind} {name}: namespace {other} không phải namespace của nền tảng {:?}",
                    scope.namespace
                ),
                Some((
                    "leave metadata.namespace out; khaibao sets it",
                    "bỏ metadata.namespace; khaibao tự đặt",
                )),
            ));
        }
    }
    let owner = match &scope.tenant {
        Some(t) => format!("tenant/{}", t.key),
        None => format!("platform/{}", scope.platform),
    };
    match meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
    {
        Some(a) => {
            a.insert(ANNOTATION_OWNER.into(), Value::String(owner));
        }
        None => {
            return Err(refuse(
                template,
                format!("{kind} {name}: annotations is not a mapping"),
                format!("{kind} {name}: annotations không phải ánh xạ"),
                None,
            ));
        }
    }
    let labels = meta
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(labels) = labels.as_object_mut() else {
        return Err(refuse(
            template,
            format!("{kind} {name}: labels is not a mapping"),
            format!("{kind} {name}: labels không phải ánh xạ"),
            None,
        ));
    };
    for (k, v) in standard_labels(scope) {
        if let Some(existing) = labels.get(k)
            && existing.as_str() != Some(v.as_str())
        {
            return Err(refuse(
                template,
                format!("{kind} {name}: label {k} is set by khaibao; remove it from the template"),
                format!("{kind} {name}: nhãn {k} do khaibao đặt; hãy bỏ khỏi mẫu"),
                None,
            ));
        }
        labels.insert(k.to_string(), Value::String(v));
    }
    // Epoch 2: Kubernetes' recommended labels, so that dashboards, kubectl and Argo CD group a
    // tenant's objects by platform and tenant without knowing khaibao's own labels. A value the
    // template wrote itself wins: the template author chose it.
    if scope.epoch >= 2 {
        for (k, v) in recommended_labels(scope) {
            labels
                .entry(k.to_string())
                .or_insert_with(|| Value::String(v));
        }
    }
    Ok(())
}

/// The `app.kubernetes.io/` labels of renderer epoch 2 onwards.
fn recommended_labels(scope: &Scope<'_>) -> Vec<(&'static str, String)> {
    let mut labels = vec![(LABEL_PART_OF, scope.platform.to_string())];
    if let Some(t) = &scope.tenant {
        labels.push((LABEL_INSTANCE, t.label.to_string()));
    }
    labels
}

fn string_field(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn preview(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!("{}…", &s[..s.floor_char_boundary(77)])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope(allowed: &[String]) -> Scope<'_> {
        Scope {
            platform: "dichvucong",
            namespace: "dichvucong",
            revision: "abc",
            allowed_kinds: allowed,
            epoch: 1,
            tenant: Some(TenantScope {
                stem: "ha-noi-01",
                key: "tinh-01/ha-noi",
                label: "tinh-01.ha-noi",
                unit_code: "01",
                level: "province",
                province_code: "01",
            }),
        }
    }

    #[test]
    fn a_good_object_gets_namespace_and_labels() {
        let allowed = vec!["ConfigMap".to_string()];
        let mut o = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ha-noi-01-cfg", "labels": {"x": "y"}}});
        enforce(&mut o, "t", &scope(&allowed)).unwrap();
        assert_eq!(o["metadata"]["namespace"], "dichvucong");
        assert_eq!(o["metadata"]["labels"][LABEL_TENANT], "tinh-01.ha-noi");
        assert_eq!(o["metadata"]["labels"][LABEL_MANAGED_BY], "khaibao");
        assert_eq!(o["metadata"]["labels"]["x"], "y");
    }

    #[test]
    fn refusals() {
        let allowed = vec![
            "ConfigMap".to_string(),
            "Deployment".to_string(),
            "Namespace".to_string(),
        ];
        let s = scope(&allowed);
        let cases = [
            (
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ha-noi-01-x"}}),
                "allowedKinds",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ha-noi-01"}}),
                "never allowed",
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ha-noi-01-x"}}),
                "workload",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other-79-x"}}),
                "does not carry",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ha-noi-01-x", "namespace": "kube-system"}}),
                "not the platform's namespace",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Ha_Noi"}}),
                "DNS label",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ha-noi-01-x", "labels": {LABEL_TENANT: "tinh-79.x"}}}),
                "set by khaibao",
            ),
            (json!({"kind": "ConfigMap"}), "apiVersion"),
            (json!("just a string"), "not an object"),
        ];
        for (mut o, expected) in cases {
            let e = enforce(&mut o, "t", &s).unwrap_err();
            assert!(
                e.message.en.contains(expected),
                "{} / {expected}",
                e.message.en
            );
        }
    }
}
