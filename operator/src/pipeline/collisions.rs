//! Conflicts between tenants of one platform: the same unit declared twice, the same object name
//! or the same Ingress host rendered by two tenants. The later tenant (in the order given) is
//! refused and told which tenant holds the name; nothing is overwritten. A successor and the
//! predecessor it replaces share names and hosts on purpose (until the predecessor is retired):
//! no conflict between them.

use std::collections::HashMap;

use crate::diagnostics::{Diagnostic, Origin, Text};

use super::RenderedTenant;

/// Returns `(index of the refused tenant, why)` for every conflict among `tenants`.
pub fn find_collisions(tenants: &[&RenderedTenant]) -> Vec<(usize, Diagnostic)> {
    let mut out = Vec::new();
    let mut units: HashMap<(&str, &str), usize> = HashMap::new();
    let mut objects: HashMap<(&str, &str), usize> = HashMap::new();
    let mut hosts: HashMap<&str, usize> = HashMap::new();
    let key = |j: usize| format!("{}/{}", tenants[j].namespace, tenants[j].name);
    let lists = |a: usize, b: usize| {
        let k = key(b);
        tenants[a].predecessors.iter().any(|p| p.tenant == k)
    };
    let replaces = |a: usize, b: usize| lists(a, b) || lists(b, a);
    for (i, t) in tenants.iter().enumerate() {
        let holder = key;
        if let Some(&j) = units.get(&(t.unit.division.as_str(), t.unit.code.as_str())) {
            out.push((
                i,
                conflict(
                    "/spec/unit/code",
                    format!(
                        "unit {} ({}) is already declared by tenant {}",
                        t.unit.code,
                        t.unit.name,
                        holder(j)
                    ),
                    format!(
                        "đơn vị {} ({}) đã được khai báo bởi {}",
                        t.unit.code,
                        t.unit.name,
                        holder(j)
                    ),
                ),
            ));
            continue;
        }
        units.insert((t.unit.division.as_str(), t.unit.code.as_str()), i);
        let mut refused = false;
        for o in t.objects.iter().chain(&t.generated_secrets) {
            if let Some(&j) = objects
                .get(&(o.kind(), o.name()))
                .filter(|&&j| !replaces(i, j))
            {
                out.push((
                    i,
                    conflict(
                        "",
                        format!(
                            "{} {} is already rendered by tenant {}",
                            o.kind(),
                            o.name(),
                            holder(j)
                        ),
                        format!(
                            "{} {} đã được kết xuất bởi {}",
                            o.kind(),
                            o.name(),
                            holder(j)
                        ),
                    ),
                ));
                refused = true;
                break;
            }
            if o.kind() == "Ingress" {
                let rules = o.object["spec"]["rules"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                for host in rules.iter().filter_map(|r| r["host"].as_str()) {
                    if let Some(&j) = hosts.get(host).filter(|&&j| j != i && !replaces(i, j)) {
                        out.push((
                            i,
                            conflict(
                                "",
                                format!("host {host} is already served by tenant {}", holder(j)),
                                format!("tên miền {host} đã được dùng bởi {}", holder(j)),
                            ),
                        ));
                        refused = true;
                    }
                }
            }
        }
        if refused {
            continue;
        }
        for o in t.objects.iter().chain(&t.generated_secrets) {
            objects.insert((o.kind(), o.name()), i);
            if o.kind() == "Ingress" {
                let rules = o.object["spec"]["rules"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                for host in rules.iter().filter_map(|r| r["host"].as_str()) {
                    hosts.insert(host, i);
                }
            }
        }
    }
    out
}

fn conflict(pointer: &str, en: String, vi: String) -> Diagnostic {
    Diagnostic::new("Conflict", Origin::Tenant, pointer, Text::new(en, vi))
}
