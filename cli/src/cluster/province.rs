//! `khaibao province grant CODE --group GROUP`: the namespace `tinh-<code>` (labelled with its
//! province code, which the admission policy reads) and a Role + RoleBinding that let one group
//! manage Tenants and TenantSets there and nowhere else. The same objects as the chart's
//! `provinceGrants` values.

use khaibao::registry::{Division, units};
use khaibao::yaml::to_yaml_stream;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use super::apply::CLI_MANAGER;
use super::{ClusterArgs, explain, with_client};
use crate::Global;
use crate::commands::{INVALID, USAGE};

pub fn grant_objects(code: &str, group: &str) -> Vec<Value> {
    let ns = format!("tinh-{code}");
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": ns, "labels": {"khaibao.dev/province-code": code}}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "khaibao-province-admin", "namespace": ns},
        "rules": [
            {"apiGroups": ["khaibao.dev"], "resources": ["tenants", "tenantsets"],
             "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
            {"apiGroups": ["khaibao.dev"], "resources": ["tenants/status", "tenantsets/status"], "verbs": ["get"]},
            {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["get", "list", "watch"]}
        ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": format!("khaibao-province-admin-{}", sanitize(group)), "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "khaibao-province-admin"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]}),
    ]
}

/// A group name as a DNS label fragment, for the binding's name.
fn sanitize(group: &str) -> String {
    let s: String = group
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.trim_matches('-').chars().take(40).collect()
}

pub fn grant(
    g: &Global,
    cluster: &ClusterArgs,
    code: &str,
    group: &str,
    division: &str,
    print: bool,
) -> u8 {
    let division: Division = match division.parse() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let Some(province) = units(division).province(code) else {
        eprintln!(
            "error: no province has code {code:?} in the {division}-province division (see `khaibao units --division {division}`)"
        );
        return USAGE;
    };
    if group.trim().is_empty() {
        eprintln!("error: --group must name the group of the province's IT staff");
        return USAGE;
    }
    let objects = grant_objects(code, group);
    if print {
        print!("{}", to_yaml_stream(&objects));
        return 0;
    }
    let _ = g;
    with_client(cluster, |client| async move {
        for o in &objects {
            let kind = o["kind"].as_str().unwrap_or_default();
            let (group_, version) =
                match o["apiVersion"].as_str().unwrap_or_default().split_once('/') {
                    Some((g, v)) => (g.to_string(), v.to_string()),
                    None => (String::new(), "v1".to_string()),
                };
            let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(&group_, &version, kind));
            let name = o["metadata"]["name"].as_str().unwrap_or_default();
            let api: Api<DynamicObject> = match o["metadata"]["namespace"].as_str() {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                None => Api::all_with(client.clone(), &ar),
            };
            if let Err(e) = api
                .patch(
                    name,
                    &PatchParams::apply(CLI_MANAGER).force(),
                    &Patch::Apply(o),
                )
                .await
            {
                eprintln!("error: {kind} {name}: {}", explain(&e));
                return INVALID;
            }
            println!("{kind} {name} applied");
        }
        println!(
            "group {group:?} now manages the tenants of {} ({code}) in namespace tinh-{code}",
            province.name
        );
        0
    })
}
