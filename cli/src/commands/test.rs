//! `khaibao test`: one case per tenant. A case passes when the tenant validates, renders, obeys
//! policy, collides with no other tenant and — when `<tenant>.expected.yaml` sits next to its
//! file — renders exactly the expected objects. Problems outside any tenant (unreadable YAML,
//! broken platforms) are cases too, so nothing fails silently. Warnings (an earlier official
//! name, the superseded 63-province division) are printed but fail no case.

use std::path::{Path, PathBuf};
use std::time::Instant;

use khaibao::diagnostics::Lang;
use khaibao::pipeline::{LABEL_REVISION, RenderedTenant};
use khaibao::yaml::to_yaml_stream;
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use serde_json::Value;

use super::validate::warning_reports;
use super::{INVALID, USAGE, load};
use crate::Global;
use crate::fleet::{render_fleet_verdicts, skip_teardown, tenant_key};
use crate::input::LoadedTenant;
use crate::report::{Report, print_warnings};

struct Case {
    name: String,
    failures: Vec<String>,
}

pub fn run(g: &Global, paths: &[PathBuf], junit: Option<&Path>, update: bool) -> u8 {
    let started = Instant::now();
    let lang = g.lang();
    let inputs = match load(g, paths) {
        Ok(i) => i,
        Err(code) => return code,
    };
    // Each tenant is compared with its expected file (or its snapshot written) as it renders,
    // in parallel; only the verdicts and what the collision checks need are kept.
    let write_errors = std::sync::Mutex::new(Vec::new());
    let inspect = |t: &LoadedTenant, rendered: &RenderedTenant| {
        let expected_path = expected_path(
            inputs.path(t.at),
            t.tenant.metadata.name.as_deref().unwrap_or_default(),
        );
        if update {
            if let Err(e) = std::fs::write(&expected_path, snapshot(rendered))
                && let Ok(mut errors) = write_errors.lock()
            {
                errors.push(format!("{}: cannot write: {e}", expected_path.display()));
            }
            Vec::new()
        } else {
            compare_expected(&expected_path, rendered)
        }
    };
    let fleet = render_fleet_verdicts(&inputs, &inspect);
    let mut write_errors = write_errors.into_inner().unwrap_or_default();
    write_errors.sort();
    let mut cases: Vec<Case> = Vec::new();
    let describe = |r: &Report| {
        let mut s = format!("{}{}", r.place(), r.headline(lang));
        if let Some(h) = &r.hint {
            s.push_str(&format!(" ({})", h.get(lang)));
        }
        s
    };
    for r in &inputs.problems {
        cases.push(Case {
            name: r
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            failures: vec![describe(r)],
        });
    }
    for (name, c) in &fleet.compiled {
        if let Err(rs) = c {
            cases.push(Case {
                name: format!("platform {name}"),
                failures: rs.iter().map(describe).collect(),
            });
        }
    }
    for o in &fleet.outcomes {
        let t = &inputs.tenants[o.index];
        let name = tenant_key(t);
        let failures = match &o.result {
            Err(rs) => rs.iter().map(describe).collect(),
            Ok(_) => o.notes.clone(),
        };
        cases.push(Case { name, failures });
    }
    for e in &write_errors {
        eprintln!("error: {e}");
    }
    // Warnings do not fail a case; they come first so the failures end the output.
    print_warnings(&warning_reports(&inputs, &fleet), lang);
    let failed = cases.iter().filter(|c| !c.failures.is_empty()).count();
    let passed = cases.len() - failed;
    for c in cases.iter().filter(|c| !c.failures.is_empty()) {
        let label = if lang == Lang::Vi {
            "THẤT BẠI"
        } else {
            "FAIL"
        };
        eprintln!("{label} {}", c.name);
        for f in &c.failures {
            eprintln!("  {f}");
        }
    }
    if let Some(path) = junit {
        let mut suite = TestSuite::new("khaibao test");
        for c in &cases {
            let status = if c.failures.is_empty() {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(c.failures[0].clone());
                s.set_description(c.failures.join("\n"));
                s
            };
            let mut tc = TestCase::new(c.name.clone(), status);
            tc.set_classname("khaibao");
            suite.add_test_case(tc);
        }
        let mut report = quick_junit::Report::new("khaibao");
        report.set_time(started.elapsed());
        report.add_test_suite(suite);
        match report.to_string() {
            Ok(xml) => {
                if let Err(e) = std::fs::write(path, xml) {
                    eprintln!(
                        "error: {}: cannot write the JUnit report: {e}",
                        path.display()
                    );
                    return USAGE;
                }
            }
            Err(e) => {
                eprintln!("error: cannot build the JUnit report: {e}");
                return USAGE;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    skip_teardown(inputs, fleet);
    if failed > 0 || !write_errors.is_empty() {
        INVALID
    } else {
        0
    }
}

/// `<dir of the tenant's file>/<tenant name>.expected.yaml`.
fn expected_path(tenant_file: &Path, tenant_name: &str) -> PathBuf {
    tenant_file
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!("{tenant_name}.expected.yaml"))
}

/// The rendered objects as compared with expected files. The revision label changes with any
/// template edit, so it is masked: a snapshot should change only when its own objects do.
fn snapshot(r: &RenderedTenant) -> String {
    let objects: Vec<Value> = r
        .objects
        .iter()
        .chain(&r.generated_secrets)
        .map(|o| {
            let mut v = o.object.clone();
            if let Some(l) = v.pointer_mut(&format!(
                "/metadata/labels/{}",
                LABEL_REVISION.replace('/', "~1")
            )) {
                *l = Value::String("REVISION".into());
            }
            v
        })
        .collect();
    to_yaml_stream(&objects)
}

/// Compares with the expected file when there is one (most tenants have none: rendering and
/// policy are their test).
fn compare_expected(path: &Path, rendered: &RenderedTenant) -> Vec<String> {
    let expected = match std::fs::read_to_string(path) {
        Ok(e) => e,
        Err(_) => return Vec::new(),
    };
    let actual = snapshot(rendered);
    let actual = actual.as_str();
    if expected == actual {
        return Vec::new();
    }
    let diff = similar::TextDiff::from_lines(expected.as_str(), actual)
        .unified_diff()
        .header(&path.display().to_string(), "rendered")
        .to_string();
    vec![format!(
        "rendered objects differ from {} (run `khaibao test --update` if the change is intended):\n{diff}",
        path.display()
    )]
}
