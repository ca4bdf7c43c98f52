//! Tenants for the controllers' unit tests: a successor listing predecessors (of province code
//! 35 in the 63-province division; the tests care about names, not units).

use crate::api::{Level, Predecessor, Tenant, TenantSpec};

pub fn successor(ns: &str, name: &str, platform: &str, predecessors: &[&str]) -> Tenant {
    let mut t = Tenant::new(
        name,
        TenantSpec {
            platform: platform.into(),
            predecessors: predecessors
                .iter()
                .map(|p| Predecessor {
                    tenant: p.to_string(),
                    level: Level::Province,
                    code: "35".into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        },
    );
    t.metadata.namespace = Some(ns.into());
    t
}
