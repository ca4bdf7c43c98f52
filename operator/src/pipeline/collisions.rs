//! Conflicts between tenants of one platform: the same unit declared twice, the same object name
//! or the same Ingress host rendered by two tenants. The later tenant (in the order given) is
//! refused and told which tenant holds the name; nothing is overwritten. A successor and the
//! predecessor it replaces share names and hosts on purpose (until the predecessor is retired):
//! no conflict between them.

use std::collections::HashMap;

use crate::diagnostics::{Diagnostic, Origin, Text};
use crate::registry::Division;

use super::RenderedTenant;

/// What a rendered tenant claims, and all the conflict checks read: its unit, the names of its
/// objects, its Ingress hosts and the tenants it replaces. A few hundred bytes against the
/// tens of kilobytes of the objects, so a country of tenants can be checked after each one's
/// objects are gone (`khaibao test`, `khaibao validate`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// `namespace/name`.
    pub tenant: String,
    pub division: Division,
    pub unit_code: String,
    pub unit_name: String,
    /// `namespace/name` of each replaced Tenant.
    pub predecessors: Vec<String>,
    /// `(kind, name)` of every object and generated Secret, in rendering order.
    pub objects: Vec<(Box<str>, Box<str>)>,
    /// `(index into objects, host)`: the hosts of each Ingress, checked where it is.
    pub hosts: Vec<(usize, Box<str>)>,
}

impl Claims {
    pub fn of(t: &RenderedTenant) -> Claims {
        let mut objects = Vec::with_capacity(t.objects.len() + t.generated_secrets.len());
        let mut hosts = Vec::new();
        for (i, o) in t.objects.iter().chain(&t.generated_secrets).enumerate() {
            objects.push((o.kind().into(), o.name().into()));
            if o.kind() == "Ingress" {
                let rules = o.object["spec"]["rules"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                hosts.extend(
                    rules
                        .iter()
                        .filter_map(|r| r["host"].as_str())
                        .map(|h| (i, h.into())),
                );
            }
        }
        Claims {
            tenant: format!("{}/{}", t.namespace, t.name),
            division: t.unit.division,
            unit_code: t.unit.code.clone(),
            unit_name: t.unit.name.clone(),
            predecessors: t.predecessors.iter().map(|p| p.tenant.clone()).collect(),
            objects,
            hosts,
        }
    }
}

/// [`find_claim_collisions`] of rendered tenants.
pub fn find_collisions(tenants: &[&RenderedTenant]) -> Vec<(usize, Diagnostic)> {
    let claims: Vec<Claims> = tenants.iter().map(|t| Claims::of(t)).collect();
    find_claim_collisions(&claims.iter().collect::<Vec<_>>())
}

/// Returns `(index of the refused tenant, why)` for every conflict among `tenants`.
pub fn find_claim_collisions(tenants: &[&Claims]) -> Vec<(usize, Diagnostic)> {
    let mut out = Vec::new();
    let mut units: HashMap<(Division, &str), usize> = HashMap::new();
    let mut objects: HashMap<(&str, &str), usize> = HashMap::new();
    let mut hosts: HashMap<&str, usize> = HashMap::new();
    let holder = |j: usize| tenants[j].tenant.as_str();
    let lists = |a: usize, b: usize| tenants[a].predecessors.contains(&tenants[b].tenant);
    let replaces = |a: usize, b: usize| lists(a, b) || lists(b, a);
    for (i, t) in tenants.iter().enumerate() {
        if let Some(&j) = units.get(&(t.division, t.unit_code.as_str())) {
            out.push((
                i,
                conflict(
                    "/spec/unit/code",
                    format!(
                        "unit {} ({}) is already declared by tenant {}",
                        t.unit_code,
                        t.unit_name,
                        holder(j)
                    ),
                    format!(
                        "đơn vị {} ({}) đã được khai báo bởi {}",
                        t.unit_code,
                        t.unit_name,
                        holder(j)
                    ),
                ),
            ));
            continue;
        }
        units.insert((t.division, t.unit_code.as_str()), i);
        let mut refused = false;
        for (k, (kind, name)) in t.objects.iter().enumerate() {
            if let Some(&j) = objects
                .get(&(&**kind, &**name))
                .filter(|&&j| !replaces(i, j))
            {
                out.push((
                    i,
                    conflict(
                        "",
                        format!("{kind} {name} is already rendered by tenant {}", holder(j)),
                        format!("{kind} {name} đã được kết xuất bởi {}", holder(j)),
                    ),
                ));
                refused = true;
                break;
            }
            for (_, host) in t.hosts.iter().filter(|(at, _)| *at == k) {
                if let Some(&j) = hosts.get(&**host).filter(|&&j| j != i && !replaces(i, j)) {
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
        if refused {
            continue;
        }
        for (kind, name) in &t.objects {
            objects.insert((kind, name), i);
        }
        for (_, host) in &t.hosts {
            hosts.insert(host, i);
        }
    }
    out
}

fn conflict(pointer: &str, en: String, vi: String) -> Diagnostic {
    Diagnostic::new("Conflict", Origin::Tenant, pointer, Text::new(en, vi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(tenant: &str, code: &str, objects: &[(&str, &str)], hosts: &[&str]) -> Claims {
        let ingress = objects.iter().position(|(k, _)| *k == "Ingress");
        Claims {
            tenant: tenant.into(),
            division: Division::D34,
            unit_code: code.into(),
            unit_name: format!("unit {code}"),
            predecessors: Vec::new(),
            objects: objects
                .iter()
                .map(|(k, n)| ((*k).into(), (*n).into()))
                .collect(),
            hosts: hosts
                .iter()
                .map(|h| (ingress.expect("hosts need an Ingress"), (*h).into()))
                .collect(),
        }
    }

    #[test]
    fn the_later_claim_is_refused_and_told_who_holds_it() {
        let a = claims(
            "t/a",
            "01",
            &[("ConfigMap", "a"), ("Ingress", "a")],
            &["a.gov.vn"],
        );
        let b = claims(
            "t/b",
            "02",
            &[("ConfigMap", "b"), ("Ingress", "b")],
            &["a.gov.vn"],
        );
        let c = claims("t/c", "03", &[("ConfigMap", "a")], &[]);
        let d = claims("t/d", "01", &[], &[]);
        let found = find_claim_collisions(&[&a, &b, &c, &d]);
        let messages: Vec<(usize, &str)> = found
            .iter()
            .map(|(i, d)| (*i, d.message.en.as_str()))
            .collect();
        assert_eq!(
            messages,
            [
                (1, "host a.gov.vn is already served by tenant t/a"),
                (2, "ConfigMap a is already rendered by tenant t/a"),
                (3, "unit 01 (unit 01) is already declared by tenant t/a"),
            ]
        );
    }

    #[test]
    fn a_successor_shares_names_and_hosts_with_what_it_replaces() {
        let old = claims("t/old", "01", &[("Ingress", "x")], &["x.gov.vn"]);
        let mut new = claims("t/new", "02", &[("Ingress", "x")], &["x.gov.vn"]);
        new.predecessors.push("t/old".into());
        assert!(find_claim_collisions(&[&old, &new]).is_empty());
        assert!(find_claim_collisions(&[&new, &old]).is_empty());
    }
}
