//! What is stuck when a move does not finish.

use std::collections::{BTreeMap, BTreeSet};

use khaibao::api::{Platform, Tenant};
use khaibao_e2e::{Operator, conditions_summary, tenant_ready};
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

use crate::fleet::PLATFORM;

/// What is stuck: successors not Ready and predecessors left (with their conditions), the
/// plan's status and the operator's last warnings.
pub(super) async fn diagnose(
    client: &Client,
    successors: &BTreeMap<String, Vec<String>>,
    retired: &BTreeSet<String>,
    plan: &str,
    op: &Operator,
) -> String {
    let mut out = String::new();
    let live = Api::<Tenant>::all(client.clone())
        .list(&ListParams::default())
        .await;
    match live {
        Ok(list) => {
            let live: BTreeMap<String, &Tenant> = list
                .items
                .iter()
                .map(|t| {
                    (
                        format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any()),
                        t,
                    )
                })
                .collect();
            let stuck: Vec<String> = successors
                .keys()
                .filter(|k| !live.get(*k).is_some_and(|t| tenant_ready(t)))
                .map(|k| match live.get(k) {
                    Some(t) => format!("{k}: {}", conditions_summary(t)),
                    None => format!("{k}: missing"),
                })
                .collect();
            let left: Vec<String> = retired
                .iter()
                .filter_map(|k| live.get(k).map(|t| (k, t)))
                .map(|(k, t)| {
                    format!(
                        "{k}: deletion {:?}, finalizers {:?}; {}",
                        t.metadata
                            .deletion_timestamp
                            .as_ref()
                            .map(|d| d.0.to_string()),
                        t.finalizers(),
                        conditions_summary(t)
                    )
                })
                .collect();
            out.push_str(&format!(
                "successors not Ready: {}\n{}\npredecessors left: {}\n{}\n",
                stuck.len(),
                stuck
                    .iter()
                    .take(15)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n"),
                left.len(),
                left.iter().take(15).cloned().collect::<Vec<_>>().join("\n"),
            ));
        }
        Err(e) => out.push_str(&format!("cannot list Tenants: {e}\n")),
    }
    if let Ok(p) = Api::<Platform>::all(client.clone()).get(PLATFORM).await {
        let r: Vec<_> = p
            .status
            .iter()
            .flat_map(|s| &s.reforms)
            .filter(|r| r.plan == plan)
            .collect();
        out.push_str(&format!("platform status.reforms: {r:?}\n"));
    }
    let log = op.log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    out.push_str(&format!(
        "operator log ({}): {} warning/error lines, last ones:\n{}\n",
        op.log_path().display(),
        warnings.len(),
        warnings[warnings.len().saturating_sub(15)..].join("\n")
    ));
    out
}
