//! Reform plans on a platform, the Platform controller's half: `status.reforms[]` per plan id
//! (successors annotated `khaibao.dev/reform-plan`), and the blast-radius guard once per plan —
//! a plan retiring more than max(5, 10 %) of the platform's tenants waits for
//! `khaibao.dev/approve-reform: <plan>` on the Platform. Recomputed from the Tenant cache on
//! every pass; the successors read the decision from this status (`adoption::plan_held`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};

use super::adoption::{ADOPTING, AWAITING_APPROVAL, COMPLETE, RETIRING};
use super::writes::publish;
use super::{Context, object_key};
use crate::api::{
    ANNOTATION_APPROVE_REFORM, ANNOTATION_REFORM_PLAN, ANNOTATION_REFORM_RETIRES, Platform,
    PlatformStatus, ReformStatus, Tenant,
};
use crate::pipeline::is_in_place;
use crate::status::{self, READY};

/// Retirements up to this many, or this share of the platform's tenants, need no approval.
const FREE_COUNT: usize = 5;
const FREE_PERCENT: usize = 10;

/// Whether a plan retiring `retirements` tenants of a platform that had `tenants` (those
/// already retired by it included, so the threshold does not shrink as it proceeds) must wait
/// for approval.
pub fn needs_approval(retirements: usize, tenants: usize) -> bool {
    retirements > FREE_COUNT.max(tenants * FREE_PERCENT / 100)
}

/// `status.reforms[]` of platform `platform` from every cached tenant, with the plan named by
/// `approved` (the Platform's `khaibao.dev/approve-reform`) approved.
pub fn plan_statuses(
    platform: &str,
    tenants: &[Arc<Tenant>],
    approved: Option<&str>,
) -> Vec<ReformStatus> {
    let mut plans: BTreeMap<&str, Vec<&Tenant>> = BTreeMap::new();
    let mut on_platform = 0;
    for t in tenants
        .iter()
        .filter(|t| t.spec.platform == platform && t.metadata.deletion_timestamp.is_none())
    {
        on_platform += 1;
        if let Some(plan) = t.annotations().get(ANNOTATION_REFORM_PLAN) {
            plans.entry(plan.as_str()).or_default().push(t);
        }
    }
    // Most passes of most platforms: no reform, and no need to index 10,000 keys.
    if plans.is_empty() {
        return Vec::new();
    }
    let live: HashMap<String, &Tenant> = tenants
        .iter()
        .map(|t| (object_key(t.as_ref()), t.as_ref()))
        .collect();
    plans
        .into_iter()
        .map(|(plan, successors)| {
            let ready = successors
                .iter()
                .filter(|t| {
                    t.status
                        .as_ref()
                        .is_some_and(|s| status::is_true(&s.conditions, READY))
                })
                .count();
            // A predecessor that is itself one of the plan's successors (kept in place) is not
            // retired by anyone: it lives on as the successor.
            let successor_keys: BTreeSet<String> =
                successors.iter().map(|t| object_key(*t)).collect();
            let mut predecessors = BTreeSet::new();
            for t in &successors {
                let (ns, name) = (t.namespace().unwrap_or_default(), t.name_any());
                predecessors.extend(
                    t.spec
                        .predecessors
                        .iter()
                        .filter(|p| !is_in_place(p, &ns, &name))
                        .filter(|p| !successor_keys.contains(&p.tenant))
                        .map(|p| p.tenant.as_str()),
                );
            }
            let pending = predecessors.iter().filter(|p| live.contains_key(**p)).count();
            let retired = predecessors.len() - pending;
            // While the plan is still being applied only part of it is seen: the size the
            // planner wrote on every successor is what the guard judges.
            let declared = successors
                .iter()
                .filter_map(|t| t.annotations().get(ANNOTATION_REFORM_RETIRES)?.parse::<usize>().ok())
                .max()
                .unwrap_or(0);
            let held = needs_approval(predecessors.len().max(declared), on_platform + retired)
                && approved != Some(plan);
            let all_ready = ready == successors.len();
            let (phase, message) = if pending == 0 && all_ready {
                (COMPLETE, format!("{retired} predecessor(s) retired into {} successor(s)", successors.len()))
            } else if held && pending > 0 {
                (
                    AWAITING_APPROVAL,
                    format!(
                        "this plan retires {} tenant(s), more than max({FREE_COUNT}, {FREE_PERCENT}%) of the platform's; approve with: khaibao approve reform {plan} --platform {platform}",
                        predecessors.len()
                    ),
                )
            } else if !all_ready {
                (ADOPTING, format!("{ready}/{} successor(s) Ready; {retired} predecessor(s) retired, {pending} pending", successors.len()))
            } else {
                (RETIRING, format!("{retired} predecessor(s) retired, {pending} pending"))
            };
            ReformStatus {
                plan: plan.to_string(),
                phase: phase.into(),
                successors: successors.len() as i64,
                successors_ready: ready as i64,
                predecessors_retired: retired as i64,
                predecessors_pending: pending as i64,
                message: Some(message),
            }
        })
        .collect()
}

/// The platform step: recomputes `new.reforms` and tells once when a plan starts waiting for
/// approval.
pub async fn update(
    platform: &Platform,
    ctx: &Context,
    old: &PlatformStatus,
    new: &mut PlatformStatus,
) {
    let approved = platform
        .annotations()
        .get(ANNOTATION_APPROVE_REFORM)
        .map(String::as_str);
    new.reforms = plan_statuses(&platform.name_any(), &ctx.tenants.state(), approved);
    for r in new.reforms.iter().filter(|r| r.phase == AWAITING_APPROVAL) {
        let before = old.reforms.iter().find(|o| o.plan == r.plan);
        if before.is_none_or(|o| o.phase != AWAITING_APPROVAL) {
            let msg = r.message.clone().unwrap_or_default();
            publish(
                ctx,
                platform,
                EventType::Warning,
                "ReformAwaitingApproval",
                &msg,
            )
            .await;
        }
    }
}

/// What wakes successors from a Platform event: each plan's phase.
pub fn phases(p: &Platform) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for r in p.status.iter().flat_map(|s| &s.reforms) {
        (&r.plan, &r.phase).hash(&mut h);
    }
    Some(h.finish())
}

/// The successors of the platform's plans that may now retire (phase Adopting or Retiring).
pub fn successors_to_wake(p: &Platform, tenants: &Store<Tenant>) -> Vec<ObjectRef<Tenant>> {
    let name = p.name_any();
    let moving: BTreeSet<&str> = p
        .status
        .iter()
        .flat_map(|s| &s.reforms)
        .filter(|r| r.phase == ADOPTING || r.phase == RETIRING)
        .map(|r| r.plan.as_str())
        .collect();
    if moving.is_empty() {
        return Vec::new();
    }
    tenants
        .state()
        .iter()
        .filter(|t| t.spec.platform == name)
        .filter(|t| {
            t.annotations()
                .get(ANNOTATION_REFORM_PLAN)
                .is_some_and(|plan| moving.contains(plan.as_str()))
        })
        .map(|t| ObjectRef::from_obj(t.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TenantStatus;

    fn tenant(key: &str, plan: Option<&str>, ready: bool, predecessors: &[&str]) -> Arc<Tenant> {
        let (ns, name) = key.split_once('/').unwrap();
        let mut t = super::super::test_tenants::successor(ns, name, "dvc", predecessors);
        if let Some(plan) = plan {
            t.metadata.annotations =
                Some([(ANNOTATION_REFORM_PLAN.to_string(), plan.to_string())].into());
        }
        let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::from_second(1).unwrap(),
        );
        let mut s = TenantStatus::default();
        status::set_condition(&mut s.conditions, READY, ready, "x", "", None, &now);
        t.status = Some(s);
        Arc::new(t)
    }

    #[test]
    fn the_guard_holds_more_than_five_or_ten_percent() {
        assert!(!needs_approval(5, 10));
        assert!(needs_approval(6, 10));
        assert!(!needs_approval(10, 100));
        assert!(needs_approval(11, 100));
        assert!(!needs_approval(63, 700));
    }

    #[test]
    fn a_small_plan_adopts_retires_and_completes() {
        let nb = |ready| {
            tenant(
                "tinh-37/ninh-binh",
                Some("p1"),
                ready,
                &["tinh-35/ha-nam", "tinh-36/nam-dinh", "tinh-37/ninh-binh"],
            )
        };
        let ha_nam = tenant("tinh-35/ha-nam", None, true, &[]);
        let nam_dinh = tenant("tinh-36/nam-dinh", None, true, &[]);
        let r = &plan_statuses("dvc", &[nb(false), ha_nam.clone(), nam_dinh.clone()], None)[0];
        assert_eq!(r.phase, ADOPTING);
        assert_eq!((r.successors, r.successors_ready), (1, 0));
        // The in-place entry is no retirement.
        assert_eq!((r.predecessors_retired, r.predecessors_pending), (0, 2));
        let r = &plan_statuses("dvc", &[nb(true), ha_nam], None)[0];
        assert_eq!(r.phase, RETIRING);
        assert_eq!((r.predecessors_retired, r.predecessors_pending), (1, 1));
        let r = &plan_statuses("dvc", &[nb(true)], None)[0];
        assert_eq!(r.phase, COMPLETE);
        // Another platform's plans are not this one's.
        assert!(plan_statuses("vanban", &[nb(true)], None).is_empty());
    }

    #[test]
    fn a_predecessor_kept_in_place_as_another_successor_is_not_pending() {
        // Old xã Thái Bình is split: the part keeping its code is the same Tenant in place,
        // another successor lists it as a partial predecessor. Nobody retires it.
        let kept = tenant(
            "tinh-08/xa-thai-binh",
            Some("p1"),
            true,
            &["tinh-08/xa-thai-binh"],
        );
        let other = tenant(
            "tinh-08/phuong-nong-tien",
            Some("p1"),
            true,
            &["tinh-08/xa-thai-binh"],
        );
        let r = &plan_statuses("dvc", &[kept, other], None)[0];
        assert_eq!(r.phase, COMPLETE, "{:?}", r.message);
        assert_eq!((r.predecessors_retired, r.predecessors_pending), (0, 0));
    }

    #[test]
    fn a_large_plan_waits_for_its_own_approval() {
        let olds: Vec<String> = (0..8).map(|i| format!("old/t{i}")).collect();
        let refs: Vec<&str> = olds.iter().map(String::as_str).collect();
        let mut tenants = vec![tenant("new/s", Some("big"), true, &refs)];
        tenants.extend(olds.iter().map(|k| tenant(k, None, true, &[])));
        let r = &plan_statuses("dvc", &tenants, None)[0];
        assert_eq!(r.phase, AWAITING_APPROVAL);
        assert!(
            r.message
                .as_deref()
                .unwrap()
                .contains("khaibao approve reform big")
        );
        assert_eq!(
            plan_statuses("dvc", &tenants, Some("other"))[0].phase,
            AWAITING_APPROVAL
        );
        assert_eq!(
            plan_statuses("dvc", &tenants, Some("big"))[0].phase,
            RETIRING
        );
        // Once approved and half retired, the threshold still counts the retired ones.
        tenants.truncate(5);
        assert_eq!(
            plan_statuses("dvc", &tenants, Some("big"))[0].phase,
            RETIRING
        );
    }
}
