use super::*;

#[test]
fn conditions_parse_and_compare() {
    let c = Condition::parse("result < 0.05").unwrap();
    assert!(c.holds(0.0) && !c.holds(0.05));
    assert!(Condition::parse("result>=1").unwrap().holds(1.0));
    assert!(Condition::parse(" result != 0 ").unwrap().holds(2.0));
    assert!(Condition::parse("result == 3").unwrap().holds(3.0));
    for bad in [
        "x < 1",
        "result <",
        "result ~ 1",
        "result < abc",
        "result < inf",
        "",
    ] {
        let e = Condition::parse(bad).unwrap_err();
        assert!(e.contains("result <op> <number>"), "{bad}: {e}");
    }
}

#[test]
fn a_wave_query_matches_exactly_its_tenants() {
    let labels = vec!["tinh-01.ha-noi".to_string(), "tinh-46.hue".to_string()];
    let ctx = wave_context(&labels, 2, "abc123", "dichvucong");
    let q = render(
        r#"sum(portal_requests_total{tenant=~"{{tenants.regex}}",code=~"5.."}) or vector(0)"#,
        &ctx,
    )
    .unwrap();
    assert_eq!(
        q,
        r#"sum(portal_requests_total{tenant=~"tinh-01\\.ha-noi|tinh-46\\.hue",code=~"5.."}) or vector(0)"#
    );
    assert_eq!(
        render(
            "{{wave}} {{tenants.count}} {{revision}} {{platform.name}}",
            &ctx
        )
        .unwrap(),
        "2 2 abc123 dichvucong"
    );
    let e = render("{{tenant.label}}", &ctx).unwrap_err();
    assert!(e.contains("tenant.label"), "{e}");
}

#[test]
fn samples_spread_over_the_wave() {
    let items: Vec<i32> = (0..100).collect();
    assert_eq!(sample(&items, 3), [0, 49, 99]);
    assert_eq!(sample(&items, 1), [0]);
    assert_eq!(sample(&items[..2], 10), [0, 1]);
    assert_eq!(sample(&items, 10).len(), 10);
}

#[test]
fn prometheus_answers_are_read_or_their_error_named() {
    let vector = json!({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1.0, "0.5"]}, {"metric": {}, "value": [1.0, "2"]}]}});
    assert_eq!(query_values(&vector).unwrap(), [0.5, 2.0]);
    let scalar =
        json!({"status": "success", "data": {"resultType": "scalar", "result": [1.0, "7"]}});
    assert_eq!(query_values(&scalar).unwrap(), [7.0]);
    let bad = json!({"status": "error", "errorType": "bad_data", "error": "parse error at char 5"});
    assert_eq!(
        query_values(&bad).unwrap_err(),
        "bad_data: parse error at char 5"
    );
    let matrix = json!({"status": "success", "data": {"resultType": "matrix", "result": []}});
    assert!(query_values(&matrix).unwrap_err().contains("matrix"));
}

#[test]
fn every_sample_must_hold_and_no_data_fails() {
    let c = Condition::parse("result < 1").unwrap();
    assert_eq!(
        judge(&[0.0, 0.5], &c, "result < 1"),
        Measurement::Success {
            value: "0, 0.5".into()
        }
    );
    let Measurement::Failure { message, .. } = judge(&[0.0, 3.0], &c, "result < 1") else {
        panic!()
    };
    assert_eq!(message, "3 does not satisfy `result < 1`");
    assert!(matches!(
        judge(&[], &c, "result < 1"),
        Measurement::Failure { value: None, .. }
    ));
}

#[test]
fn a_check_passes_on_count_fails_past_its_limit_and_ignores_inconclusive() {
    let schedule = AnalysisSchedule {
        interval_seconds: None,
        count: Some(2),
        failure_limit: Some(1),
    };
    let mut c = AnalysisCheckStatus::default();
    record(
        &mut c,
        Measurement::Inconclusive {
            message: "down".into(),
        },
    );
    assert_eq!(verdict(&c, &schedule), Verdict::Pending);
    record(
        &mut c,
        Measurement::Failure {
            value: None,
            message: "x".into(),
        },
    );
    assert_eq!(
        verdict(&c, &schedule),
        Verdict::Pending,
        "one failure is tolerated"
    );
    record(&mut c, Measurement::Success { value: "0".into() });
    record(&mut c, Measurement::Success { value: "0".into() });
    assert_eq!(verdict(&c, &schedule), Verdict::Passed);
    assert_eq!((c.successes, c.failures, c.inconclusive), (2, 1, 1));
    c.failures = 2;
    assert_eq!(verdict(&c, &schedule), Verdict::Failed);
    assert_eq!(interval_seconds(&schedule), DEFAULT_INTERVAL_SECONDS);
}
