//! What each YAML document becomes: a Tenant, a TenantSet (and the Tenants it expands to), a
//! Platform or a Namespace, each checked as the API server would check it; anything else is a
//! problem pointing at its line. Apart from reading files, which knows nothing of kinds.

use std::collections::BTreeMap;

use khaibao::api::{API_VERSION, Platform, Tenant};
use khaibao::diagnostics::Text;
use serde_json::Value;

use super::{DocRef, Inputs, LoadedPlatform, LoadedTenant};
use crate::report::Report;

/// A document as read, beside its file and in parallel with the others: Tenants (nearly every
/// document of a fleet) are typed there and then, so the JSON trees of a whole country never
/// exist at once; anything else waits for [`Inputs::classify`], in reading order.
pub(super) enum ReadDocument {
    Tenant(Box<Tenant>),
    /// A Tenant that does not fit the type.
    Refused(Refusal),
    Other(Value),
}

/// Why a document does not fit its type: the JSON pointer of the field and the message.
pub(super) struct Refusal {
    pointer: String,
    message: Text,
}

impl ReadDocument {
    pub(super) fn of(value: Value) -> ReadDocument {
        let is_tenant = value.get("apiVersion").and_then(Value::as_str) == Some(API_VERSION)
            && value.get("kind").and_then(Value::as_str) == Some("Tenant");
        if is_tenant {
            match typed(value) {
                Ok(t) => ReadDocument::Tenant(Box::new(t)),
                Err(r) => ReadDocument::Refused(r),
            }
        } else {
            ReadDocument::Other(value)
        }
    }
}

/// Deserializes a document, naming the exact field that does not fit.
fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Refusal> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let pointer = path_to_pointer(&e.path().to_string());
        let inner = e.into_inner().to_string();
        let field = if pointer.is_empty() {
            String::new()
        } else {
            format!("{}: ", khaibao::diagnostics::dotted_path(&pointer))
        };
        Refusal {
            pointer,
            message: Text::new(format!("{field}{inner}"), format!("{field}{inner}")),
        }
    })
}

impl Inputs {
    pub(super) fn classify(&mut self, at: DocRef, doc: ReadDocument) {
        let value = match doc {
            ReadDocument::Tenant(tenant) => return self.accept_tenant(at, *tenant),
            ReadDocument::Refused(r) => {
                return self.doc_problem(at, &r.pointer, r.message, None);
            }
            ReadDocument::Other(value) => value,
        };
        if value.is_null() {
            return;
        }
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let api_version = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match (api_version.as_str(), kind.as_str()) {
            (API_VERSION, "Tenant") => {
                if let Some(tenant) = self.deserialize::<Tenant>(at, value) {
                    self.accept_tenant(at, tenant);
                }
            }
            (API_VERSION, "TenantSet") => {
                if let Some(set) = self.deserialize::<khaibao::api::TenantSet>(at, value.clone()) {
                    self.expand_set(at, &set);
                    self.tenant_sets.push(value);
                    self.tenant_set_docs.push(at);
                }
            }
            (API_VERSION, "Platform") => {
                if let Some(platform) = self.deserialize::<Platform>(at, value) {
                    self.add_platform(LoadedPlatform { platform, at, template_files: BTreeMap::new(), dir: None });
                }
            }
            // Namespaces sit next to tenants in example folders so `kubectl apply -f` works;
            // `khaibao apply` creates them before the tenants.
            ("v1", "Namespace") => self.namespaces.push(value),
            (_, "Tenant" | "TenantSet" | "Platform") => self.doc_problem(
                at,
                "/apiVersion",
                Text::new(
                    format!("{kind} has apiVersion {api_version:?}; khaibao reads {API_VERSION}"),
                    format!("{kind} có apiVersion {api_version:?}; khaibao đọc {API_VERSION}"),
                ),
                Some(Text::new(format!("set apiVersion: {API_VERSION}"), format!("đặt apiVersion: {API_VERSION}"))),
            ),
            _ => self.doc_problem(
                at,
                "/kind",
                Text::new(
                    format!("unexpected document (apiVersion {api_version:?}, kind {kind:?}); khaibao reads Platform, Tenant and TenantSet resources of {API_VERSION}"),
                    format!("tài liệu không mong đợi (apiVersion {api_version:?}, kind {kind:?}); khaibao đọc Platform, Tenant và TenantSet thuộc {API_VERSION}"),
                ),
                None,
            ),
        }
    }

    fn accept_tenant(&mut self, at: DocRef, tenant: Tenant) {
        if self.check_tenant_metadata(at, &tenant) {
            self.tenants.push(LoadedTenant {
                tenant,
                at,
                from_set: false,
            });
        }
    }

    /// A TenantSet stands for the Tenants it expands to (the operator's own expansion); their
    /// problems point at the set's document.
    fn expand_set(&mut self, at: DocRef, set: &khaibao::api::TenantSet) {
        match khaibao::pipeline::expand_tenant_set(set) {
            Ok(manifests) => {
                for m in manifests {
                    if let Some(tenant) = self.deserialize::<Tenant>(at, m) {
                        self.tenants.push(LoadedTenant {
                            tenant,
                            at,
                            from_set: true,
                        });
                    }
                }
            }
            Err(problems) => {
                for d in problems {
                    let mut r = Report::from_diagnostic(
                        &d,
                        Some(self.path(at)),
                        self.location(at, &d.pointer),
                        None,
                    );
                    r.tenant = Some(format!(
                        "{}/{} (TenantSet)",
                        set.metadata.namespace.as_deref().unwrap_or("default"),
                        set.metadata.name.as_deref().unwrap_or_default()
                    ));
                    self.problems.push(r);
                }
            }
        }
    }

    /// Deserializes a document, reporting the exact field that does not fit.
    pub fn deserialize<T: serde::de::DeserializeOwned>(
        &mut self,
        at: DocRef,
        value: Value,
    ) -> Option<T> {
        match typed(value) {
            Ok(v) => Some(v),
            Err(r) => {
                self.doc_problem(at, &r.pointer, r.message, None);
                None
            }
        }
    }

    /// The API server would refuse a Tenant without a valid name or namespace, and both end up
    /// in every object's `khaibao.dev/tenant` label, so they are checked before rendering.
    fn check_tenant_metadata(&mut self, at: DocRef, tenant: &Tenant) -> bool {
        let name = tenant.metadata.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            self.doc_problem(
                at,
                "/metadata",
                Text::new("Tenant has no metadata.name", "Tenant thiếu metadata.name"),
                None,
            );
            return false;
        }
        if !is_dns_subdomain(name) {
            self.doc_problem(
                at,
                "/metadata/name",
                Text::new(
                    format!("Tenant name {name:?} is not a valid Kubernetes name"),
                    format!("tên Tenant {name:?} không phải tên Kubernetes hợp lệ"),
                ),
                Some(Text::new(
                    "use lowercase letters, digits, '-' and '.', e.g. the unit's slug",
                    "dùng chữ thường không dấu, chữ số, '-' và '.', ví dụ slug của đơn vị",
                )),
            );
            return false;
        }
        if let Some(ns) = tenant.metadata.namespace.as_deref()
            && !khaibao::pipeline::is_dns_label(ns)
        {
            self.doc_problem(
                at,
                "/metadata/namespace",
                Text::new(
                    format!("namespace {ns:?} is not a valid namespace name"),
                    format!("namespace {ns:?} không hợp lệ"),
                ),
                Some(Text::new(
                    "use lowercase letters, digits and '-', e.g. tinh-01",
                    "dùng chữ thường không dấu, chữ số và '-', ví dụ tinh-01",
                )),
            );
            return false;
        }
        true
    }

    pub fn add_platform(&mut self, p: LoadedPlatform) {
        let name = p.platform.metadata.name.clone().unwrap_or_default();
        if name.is_empty() {
            self.doc_problem(
                p.at,
                "/metadata",
                Text::new(
                    "Platform has no metadata.name",
                    "Platform thiếu metadata.name",
                ),
                None,
            );
            return;
        }
        if let Some(existing) = self.platforms.get(&name) {
            // The same platform read twice (catalogue and command line) is fine; a different
            // definition under the same name is not.
            if existing.platform.spec != p.platform.spec {
                let first = self.path(existing.at).display().to_string();
                self.doc_problem(
                    p.at,
                    "/metadata/name",
                    Text::new(
                        format!("platform {name:?} is also defined differently in {first}"),
                        format!("nền tảng {name:?} cũng được định nghĩa khác trong {first}"),
                    ),
                    None,
                );
            }
            return;
        }
        self.platforms.insert(name, p);
    }
}

/// An RFC 1123 subdomain, as Kubernetes requires of most object names.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(khaibao::pipeline::is_dns_label)
}

/// `spec.unit.level` / `spec.values[0]` (serde_path_to_error) → `/spec/unit/level`.
fn path_to_pointer(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    let mut out = String::new();
    for part in path.split('.') {
        let (name, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() && name != "?" {
            out.push('/');
            out.push_str(name);
        }
        for idx in rest.split(['[', ']']).filter(|s| !s.is_empty()) {
            out.push('/');
            out.push_str(idx);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_paths_become_pointers() {
        assert_eq!(path_to_pointer("spec.unit.level"), "/spec/unit/level");
        assert_eq!(
            path_to_pointer("spec.allowedKinds[2]"),
            "/spec/allowedKinds/2"
        );
        assert_eq!(path_to_pointer("."), "");
    }

    #[test]
    fn tenant_names_are_kubernetes_names() {
        assert!(is_dns_subdomain("ha-noi"));
        assert!(is_dns_subdomain("ha-noi.v2"));
        assert!(!is_dns_subdomain("HA NOI/x"));
        assert!(!is_dns_subdomain("ha-noi."));
        assert!(!is_dns_subdomain(""));
    }
}
