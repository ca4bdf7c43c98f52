//! Unit tests of adoption: where predecessors stand, the retirement rule, the plan's hold and
//! the progress in status. Apart from `mod.rs` because they are as long as the code they test.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use super::*;
use crate::api::{ANNOTATION_REFORM_PLAN, Platform, ReformStatus, Tenant, TenantStatus};
use crate::status;

fn tenant(ns: &str, name: &str, platform: &str, predecessors: &[&str]) -> Arc<Tenant> {
    Arc::new(super::super::test_tenants::successor(
        ns,
        name,
        platform,
        predecessors,
    ))
}

#[test]
fn a_predecessor_re_declared_in_place_as_a_successor_is_gone_not_retired() {
    // Old xã Bát Tràng was split: its code lives on in place (same namespace/name) and a
    // part went to Long Biên, which must never delete the Tenant that lives on.
    let long_bien = tenant(
        "tinh-01",
        "phuong-long-bien",
        "dvc",
        &["tinh-01/xa-bat-trang"],
    );
    let kept = tenant("tinh-01", "xa-bat-trang", "dvc", &["tinh-01/xa-bat-trang"]);
    let lookup = |_: &str, _: &str| Some(kept.clone());
    let p = &long_bien.spec.predecessors[0];
    assert!(matches!(standing(&long_bien, p, &lookup), Standing::Gone));
    assert!(matches!(
        standing(&kept, &kept.spec.predecessors[0], &lookup),
        Standing::InPlace
    ));
}

#[test]
fn a_predecessor_stands_in_place_gone_elsewhere_in_a_cycle_or_live() {
    let successor = tenant(
        "tinh-37",
        "ninh-binh",
        "dvc",
        &[
            "tinh-37/ninh-binh",
            "tinh-35/ha-nam",
            "tinh-36/nam-dinh",
            "tinh-99/gone",
            "tinh-38/loop",
            "tinh-79/ho-chi-minh",
        ],
    );
    let unit = |t: Arc<Tenant>, division: Option<&str>| {
        let mut t = (*t).clone();
        t.spec.unit.code = "35".into();
        t.spec.unit.division = division.map(Into::into);
        Arc::new(t)
    };
    let cache = [
        unit(tenant("tinh-35", "ha-nam", "dvc", &[]), Some("63")),
        unit(tenant("tinh-36", "nam-dinh", "vanban", &[]), Some("63")),
        unit(
            tenant("tinh-38", "loop", "dvc", &["tinh-37/ninh-binh"]),
            Some("63"),
        ),
        unit(tenant("tinh-79", "ho-chi-minh", "dvc", &[]), None),
    ];
    let lookup = |ns: &str, n: &str| {
        cache
            .iter()
            .find(|t| t.namespace().as_deref() == Some(ns) && t.name_any() == n)
            .cloned()
    };
    let s: Vec<Standing> = successor
        .spec
        .predecessors
        .iter()
        .map(|p| standing(&successor, p, &lookup))
        .collect();
    assert!(matches!(s[0], Standing::InPlace));
    assert!(matches!(s[1], Standing::Live(_)));
    assert!(matches!(&s[2], Standing::OtherPlatform(p) if p == "vanban"));
    assert!(matches!(s[3], Standing::Gone));
    assert!(matches!(s[4], Standing::Cycle));
    // Listed as unit 35 of the 63 division, the tenant declares 35 of the 34 (its default).
    assert!(matches!(&s[5], Standing::OtherUnit(d) if d.contains("34-province")));
}

#[test]
fn retirement_waits_for_ready_approval_secrets_and_the_other_parts() {
    let all = || Facts {
        ready: true,
        held: false,
        secrets_adopted: true,
        partial: false,
        others_ready: true,
        live_children: 0,
        host_taker_pending: None,
    };
    assert_eq!(decide("a/b", &all()), Decision::Retire);
    let reason = |f: Facts| match decide("a/b", &f) {
        Decision::Wait { reason, .. } => reason,
        Decision::Retire => "Retire",
    };
    assert_eq!(
        reason(Facts {
            ready: false,
            ..all()
        }),
        "AwaitingReady"
    );
    assert_eq!(
        reason(Facts {
            held: true,
            ..all()
        }),
        AWAITING_APPROVAL
    );
    assert_eq!(
        reason(Facts {
            secrets_adopted: false,
            ..all()
        }),
        "AdoptingSecrets"
    );
    assert_eq!(
        reason(Facts {
            partial: true,
            ..all()
        }),
        "RetiredByOtherSuccessor"
    );
    assert_eq!(
        reason(Facts {
            others_ready: false,
            ..all()
        }),
        "AwaitingOtherSuccessors"
    );
    // A province goes after the communes that inherit from it.
    assert_eq!(
        reason(Facts {
            live_children: 3,
            ..all()
        }),
        "AwaitingChildren"
    );
    // A name another new unit took is served by that unit before its old holder goes.
    assert_eq!(
        reason(Facts {
            host_taker_pending: Some("tinh-79/xa-long-hoa-25792".into()),
            ..all()
        }),
        "AwaitingHostTaker"
    );
}

#[test]
fn a_plan_not_counted_yet_or_awaiting_approval_is_held() {
    let mut t = (*tenant("tinh-37", "ninh-binh", "dvc", &[])).clone();
    let mut p = Platform::new("dvc", Default::default());
    // No plan annotation: a hand-written successor answers for itself.
    assert!(!plan_held(&p, &t));
    t.metadata.annotations =
        Some([(ANNOTATION_REFORM_PLAN.to_string(), "plan-1".to_string())].into());
    assert!(plan_held(&p, &t));
    let reform = |phase: &str| ReformStatus {
        plan: "plan-1".into(),
        phase: phase.into(),
        ..Default::default()
    };
    p.status = Some(crate::api::PlatformStatus {
        reforms: vec![reform(AWAITING_APPROVAL)],
        ..Default::default()
    });
    assert!(plan_held(&p, &t));
    p.status.as_mut().unwrap().reforms = vec![reform(RETIRING)];
    assert!(!plan_held(&p, &t));
}

#[test]
fn progress_is_recorded_as_counts_and_one_condition() {
    let now = Time(k8s_openapi::jiff::Timestamp::from_second(10).unwrap());
    let mut s = TenantStatus::default();
    let waiting = Progress {
        retired: 1,
        pending: 2,
        waiting: vec![
            ("PredecessorCycle", "x".into()),
            ("AwaitingReady", "y".into()),
        ],
        blocked_only: false,
    };
    record_progress(&mut s, Some(&waiting), Some(1), &now);
    assert_eq!(
        (s.predecessors_retired, s.predecessors_pending),
        (Some(1), Some(2))
    );
    let c = status::condition(&s.conditions, PREDECESSORS_RETIRED).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "PredecessorCycle")
    );
    assert!(c.message.contains("1 more"));
    record_progress(
        &mut s,
        Some(&Progress {
            retired: 3,
            ..Default::default()
        }),
        Some(1),
        &now,
    );
    assert!(status::is_true(&s.conditions, PREDECESSORS_RETIRED));
    record_progress(&mut s, None, Some(1), &now);
    assert!(s.conditions.is_empty() && s.predecessors_pending.is_none());
}
