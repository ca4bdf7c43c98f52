//! The commands on good input: test, explain, units, generate, platform lint/build, render,
//! completions. Each checks what the command prints, not only that it succeeded.
//! Over 500 lines: one binary for the offline commands keeps one build and one snapshot folder;
//! the sections (`// ---- test`, `render`, `crds` …) are the units a reader takes.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::{FIXTURE_PLATFORMS, mask_revisions, parse_yaml, run, run_cmd, run_fixture};
use serde_json::Value;

// ---------------------------------------------------------------- validate, render

#[test]
fn validate_the_examples() {
    let r = run(&["validate", "examples/quickstart"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "1 tenant(s) valid\n");
    assert_eq!(r.stderr, "");
    // The 63-province and the 34-province declarations are alternatives, each valid alone.
    for n in ["63", "34"] {
        let r = run(&["validate", &format!("examples/provinces-{n}")]);
        r.assert_code(0);
        assert_eq!(r.stdout, format!("{n} tenant(s) valid\n"));
    }
}

#[test]
fn render_quickstart() {
    let r = run(&["render", "examples/quickstart"]);
    r.assert_code(0);
    assert_eq!(r.stderr, "");
    let docs = parse_yaml(&r.stdout);
    let kinds: Vec<(&str, &str)> = docs
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("ConfigMap", "ha-noi-01-portal-config"),
            ("Ingress", "ha-noi-01-portal"),
            ("ConfigMap", "ha-noi-01-services"),
            ("Secret", "ha-noi-01-api-key"),
        ]
    );
    for d in &docs {
        assert_eq!(d["metadata"]["namespace"], "dichvucong");
        assert_eq!(
            d["metadata"]["labels"]["khaibao.dev/tenant"],
            "tinh-01.ha-noi"
        );
    }
    // The generated secret's value is never printed.
    assert_eq!(
        docs[3]["stringData"]["token"],
        "<generated in the cluster, never shown>"
    );
    insta::assert_snapshot!("render_quickstart", mask_revisions(&r.stdout));

    // JSON: one List with the same objects.
    let j = run(&["render", "-o", "json", "examples/quickstart"]);
    j.assert_code(0);
    let list: Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap(), &docs);
}

#[test]
fn render_include_shared_adds_the_platform_workload() {
    let r = run(&["render", "--include-shared", "examples/quickstart"]);
    r.assert_code(0);
    let docs = parse_yaml(&r.stdout);
    assert!(docs.len() > 4);
    assert!(
        r.stdout.starts_with("---\n# platform "),
        "shared objects come first"
    );
    assert!(
        docs.iter()
            .any(|d| d["metadata"]["labels"]["app.kubernetes.io/component"] == "shared")
    );
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    // `khaibao units | head -1`: the rest of the output has nowhere to go.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("khaibao"))
        .args(["units", "--division", "63", "-o", "csv"])
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first, "code,name,type,slug\n");
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// ---------------------------------------------------------------- test

#[test]
fn test_the_34_provinces() {
    let r = run(&["test", "examples/provinces-34"]);
    r.assert_code(0);
    assert_eq!(r.stderr, "", "the current division's example is clean");
    assert_eq!(r.stdout, "34 passed, 0 failed\n");
}

/// A platform folder also holds its workload (the portal's source, the RBAC its owner applies):
/// only `platform.yaml` and `tests/` are khaibao's, so the portal's Role is not read as a tenant.
#[test]
fn a_platform_folder_reads_only_its_platform_and_tests() {
    assert!(
        common::repo_root()
            .join("platforms/dichvucong/portal/access.yaml")
            .is_file()
    );
    let r = run(&["test", "platforms/dichvucong"]);
    r.assert_code(0);
    assert_eq!(r.stdout, "3 passed, 0 failed\n", "{}", r.stderr);
}

#[test]
fn test_the_63_provinces_warns_that_their_division_ended() {
    let r = run(&["test", "examples/provinces-63"]);
    r.assert_code(0);
    assert_eq!(r.stdout.lines().last(), Some("63 passed, 0 failed"));
    assert!(r.errors().is_empty(), "{}", r.stderr);
    let warnings: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains(": warning: "))
        .collect();
    // Five located, then a count for the other 58.
    assert_eq!(warnings.len(), 5, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "warning: … and 58 more tenant(s) with the same warning (DivisionSuperseded)"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(
        warnings[1],
        "examples/provinces-63/02-ha-giang.yaml:13:15: warning: tenant tinh-02/ha-giang: the 63-province division ended on 2025-07-01; plan the move with `khaibao reform plan --from 63 --to 34`"
    );
    assert!(
        r.stderr
            .contains("  hint: 02 Tỉnh Hà Giang merged into 08 Tỉnh Tuyên Quang on 2025-07-01\n"),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------- warnings

const RENAMED: &str = "cli/tests/fixtures/warnings/renamed.yaml";

#[test]
fn an_earlier_official_name_is_a_warning_not_an_error() {
    let warning = format!(
        "{RENAMED}:12:11: warning: tenant tinh-22/quang-ninh: unit 22 has been Thành phố Quảng Ninh since 2026-09-20 (formerly Tỉnh Quảng Ninh)"
    );
    let validate = run(&["validate", RENAMED]);
    validate.assert_code(0);
    assert_eq!(validate.stdout, "1 tenant(s) valid\n");
    assert!(validate.errors().is_empty(), "{}", validate.stderr);
    assert!(validate.stderr.starts_with(&warning), "{}", validate.stderr);
    insta::assert_snapshot!("warning_renamed_en", validate.stderr);

    let test = run(&["test", RENAMED]);
    test.assert_code(0);
    assert_eq!(test.stdout, "1 passed, 0 failed\n");
    assert!(test.stderr.starts_with(&warning), "{}", test.stderr);

    let vi = run(&["--lang", "vi", "validate", RENAMED]);
    vi.assert_code(0);
    assert!(
        vi.stderr.starts_with(&format!(
            "{RENAMED}:12:11: warning: đơn vị tinh-22/quang-ninh: "
        )),
        "{}",
        vi.stderr
    );
    insta::assert_snapshot!("warning_renamed_vi", vi.stderr);

    // The templates get the current name.
    let render = run(&["render", RENAMED]);
    render.assert_code(0);
    assert!(render.stdout.contains("unitName: Thành phố Quảng Ninh"));
    assert!(!render.stdout.contains("Tỉnh Quảng Ninh"));
}

#[test]
fn a_name_in_nfd_is_the_official_name() {
    let r = run(&["validate", "cli/tests/fixtures/warnings/nfd-name.yaml"]);
    r.assert_code(0);
    assert_eq!(r.stderr, "");
    assert_eq!(r.stdout, "1 tenant(s) valid\n");
}

/// `(name, failure message)` of every testcase of a JUnit report.
fn junit_cases(xml: &str) -> Vec<(String, Option<String>)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut cases: Vec<(String, Option<String>)> = Vec::new();
    let attr = |e: &quick_xml::events::BytesStart<'_>, name: &[u8]| {
        e.attributes()
            .map(|a| a.expect("well-formed attribute"))
            .find(|a| a.key.as_ref() == name)
            .map(|a| a.unescape_value().unwrap().into_owned())
    };
    loop {
        match reader
            .read_event()
            .expect("the JUnit report is well-formed XML")
        {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                cases.push((attr(&e, b"name").unwrap(), None));
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"failure" => {
                cases.last_mut().expect("failure inside a testcase").1 =
                    Some(attr(&e, b"message").unwrap_or_default());
            }
            Event::Eof => break,
            _ => {}
        }
    }
    cases
}

#[test]
fn test_junit_has_one_testcase_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let xml_path = dir.path().join("report.xml");
    let r = run(&[
        "test",
        "--junit",
        xml_path.to_str().unwrap(),
        "examples/provinces-63",
    ]);
    r.assert_code(0);
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    let cases = junit_cases(&xml);
    assert_eq!(cases.len(), 63);
    assert!(cases.iter().all(|(_, f)| f.is_none()));
    let names: BTreeSet<&str> = cases.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 63, "one testcase per tenant");
    assert!(names.contains("tinh-01/ha-noi"), "{names:?}");
    assert!(names.contains("tinh-79/ho-chi-minh"), "{names:?}");
}

#[test]
fn test_junit_records_failures() {
    let dir = tempfile::tempdir().unwrap();
    let xml_path = dir.path().join("report.xml");
    let r = run(&[
        "test",
        "--junit",
        xml_path.to_str().unwrap(),
        "cli/tests/fixtures/bad/same-unit.yaml",
    ]);
    r.assert_code(1);
    assert_eq!(r.stdout, "1 passed, 1 failed\n");
    let cases = junit_cases(&std::fs::read_to_string(&xml_path).unwrap());
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0], ("tinh-01/ha-noi".to_string(), None));
    assert_eq!(cases[1].0, "tinh-01/thu-do");
    let failure = cases[1].1.as_deref().unwrap();
    assert!(
        failure.starts_with("cli/tests/fixtures/bad/same-unit.yaml:23:11: tenant tinh-01/thu-do: unit 01 (Thành phố Hà Nội) is already declared by tenant tinh-01/ha-noi"),
        "{failure}"
    );
}

#[test]
fn test_fails_with_a_diff_when_the_expected_output_differs() {
    let r = run(&["test", "cli/tests/fixtures/expected-diff"]);
    r.assert_code(1);
    assert_eq!(r.stdout, "0 passed, 1 failed\n");
    let expected = "cli/tests/fixtures/expected-diff/ha-noi.expected.yaml";
    assert!(
        r.stderr.starts_with("FAIL tinh-01/ha-noi\n"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "  rendered objects differ from {expected} (run `khaibao test --update` if the change is intended):\n--- {expected}\n+++ rendered\n"
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("\n-  hotline: 024 3825 3536\n"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("\n+  hotline: 024 1022\n"),
        "{}",
        r.stderr
    );
    let changed = r
        .stderr
        .lines()
        .filter(|l| l.starts_with(['-', '+']) && !l.starts_with("--- ") && !l.starts_with("+++ "))
        .count();
    assert_eq!(changed, 2, "only the hotline differs:\n{}", r.stderr);
}

#[test]
fn test_update_writes_the_expected_output() {
    let dir = tempfile::tempdir().unwrap();
    let root = common::repo_root();
    for f in ["ha-noi.yaml", "ha-noi.expected.yaml"] {
        std::fs::copy(
            root.join("cli/tests/fixtures/expected-diff").join(f),
            dir.path().join(f),
        )
        .unwrap();
    }
    let d = dir.path().to_str().unwrap();
    run(&["test", d]).assert_code(1);
    let u = run(&["test", "--update", d]);
    u.assert_code(0);
    assert_eq!(u.stdout, "1 passed, 0 failed\n");
    let written = std::fs::read_to_string(dir.path().join("ha-noi.expected.yaml")).unwrap();
    assert!(written.contains("  hotline: 024 1022\n"));
    assert!(written.contains("khaibao.dev/revision: REVISION\n"));
    let again = run(&["test", d]);
    again.assert_code(0);
    assert_eq!(again.stdout, "1 passed, 0 failed\n");
}

// ---------------------------------------------------------------- explain

/// The explain row for `values.<path>`, split on runs of spaces.
fn explain_row<'a>(stdout: &'a str, path: &str) -> Vec<&'a str> {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("values.{path} ")))
        .unwrap_or_else(|| panic!("no row for values.{path}:\n{stdout}"));
    line.split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn explain_shows_every_layer_for_a_commune_with_a_parent() {
    let dir = "cli/tests/fixtures/explain";
    let r = run(&["explain", &format!("{dir}/phuong-ba-dinh.yaml")]);
    r.assert_code(0);
    assert_eq!(r.stderr, "");
    assert!(
        r.stdout.starts_with(
            "tenant tinh-01/phuong-ba-dinh — Phường Ba Đình (00004) on platform dichvucong, revision "
        ),
        "{}",
        r.stdout
    );
    // Set by the tenant itself, overriding its parent.
    assert_eq!(
        explain_row(&r.stdout, "contact.address"),
        [
            "values.contact.address",
            r#""Số 5 \"Đội Cấn\": Ba Đình # không phải chú thích""#,
            "tenant",
            &format!("{dir}/phuong-ba-dinh.yaml:16:16"),
            r#"(overrides parent ha-noi "12 Lê Lai, Hoàn Kiếm, Hà Nội")"#,
        ]
    );
    // Inherited from the province.
    assert_eq!(
        explain_row(&r.stdout, "branding.primaryColor"),
        [
            "values.branding.primaryColor",
            r##""#00529c""##,
            "parent ha-noi",
            &format!("{dir}/ha-noi.yaml:15:21"),
            r##"(overrides national defaults "#c8102e")"##,
        ]
    );
    // From the platform's national defaults.
    let domain = explain_row(&r.stdout, "domain");
    assert_eq!(
        domain[..3],
        [
            "values.domain",
            "\"dichvucong.gov.vn\"",
            "national defaults"
        ]
    );
    assert!(
        domain[3].starts_with("platforms/dichvucong/platform.yaml:"),
        "{domain:?}"
    );
    // From a `default` in the tenant schema.
    let hours = explain_row(&r.stdout, "officeHours");
    assert_eq!(hours[2], "schema default");
    assert!(
        hours[3].starts_with("platforms/dichvucong/platform.yaml:"),
        "{hours:?}"
    );
}

#[test]
fn explain_one_value_path_in_vietnamese() {
    let r = run(&[
        "--lang",
        "vi",
        "explain",
        "cli/tests/fixtures/explain/phuong-ba-dinh.yaml",
        "values.branding",
    ]);
    r.assert_code(0);
    let rows: Vec<&str> = r.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{}", r.stdout);
    assert!(
        rows.iter()
            .all(|l| l.trim_start().starts_with("values.branding."))
    );
    assert_eq!(
        explain_row(&r.stdout, "branding.primaryColor")[2],
        "đơn vị cha ha-noi"
    );
    assert_eq!(
        explain_row(&r.stdout, "branding.logo")[2],
        "mặc định quốc gia"
    );

    let missing = run(&[
        "explain",
        "cli/tests/fixtures/explain/phuong-ba-dinh.yaml",
        "nope",
    ]);
    missing.assert_code(1);
    assert_eq!(
        missing.stderr,
        "error: tenant tinh-01/phuong-ba-dinh has no value at nope\n"
    );
}

#[test]
fn explain_a_file_without_tenants_reports_only_that_file() {
    // Its folder holds many broken files; only this one's problem is shown.
    let f = "cli/tests/fixtures/bad/wrong-kind.yaml";
    let r = run(&["explain", f]);
    r.assert_code(1).assert_no_stdout();
    assert_eq!(
        r.stderr,
        format!(
            "{f}:2:7: error: unexpected document (apiVersion \"khaibao.dev/v1alpha1\", kind \"Tennant\"); khaibao reads Platform, Tenant and TenantSet resources of khaibao.dev/v1alpha1\n{f}: error: no Tenant found in this file\n"
        )
    );
}

// ---------------------------------------------------------------- units, generate

#[test]
fn units_lists_the_communes_of_a_province() {
    let r = run(&["units", "--division", "63", "--province", "01"]);
    r.assert_code(0);
    let mut lines = r.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["code", "name", "type", "slug"]);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["00001", "Phường", "Phúc", "Xá", "phường", "phuong-phuc-xa"]),
        "{}",
        r.stdout
    );

    let j = run(&[
        "units",
        "--division",
        "63",
        "--province",
        "01",
        "-o",
        "json",
    ]);
    j.assert_code(0);
    let list: Vec<Value> = serde_json::from_str(&j.stdout).unwrap();
    assert!(
        list.len() > 500,
        "Hà Nội had more than 500 communes before 2025"
    );
    assert!(list.iter().all(|u| u["code"].as_str().unwrap().len() == 5));
    assert_eq!(
        list.iter()
            .filter(|u| u["slug"] == "phuong-phuc-xa")
            .count(),
        1
    );
    let table_rows = r
        .stdout
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count();
    assert_eq!(table_rows, list.len());

    let csv = run(&["units", "--division", "63", "--province", "01", "-o", "csv"]);
    assert_eq!(csv.stdout.lines().count(), list.len() + 1);

    let provinces = run(&["units", "-o", "json"]);
    let list: Vec<Value> = serde_json::from_str(&provinces.stdout).unwrap();
    assert_eq!(list.len(), 34);
    let provinces = run(&["units", "--division", "63", "-o", "json"]);
    let list: Vec<Value> = serde_json::from_str(&provinces.stdout).unwrap();
    assert_eq!(list.len(), 63);
}

#[test]
fn units_history_shows_editions_successors_and_predecessors() {
    let r = run(&["units", "--history", "22"]);
    r.assert_code(0);
    insta::assert_snapshot!("units_history_22", r.stdout);
    let r = run(&["units", "--history", "02"]);
    r.assert_code(0);
    insta::assert_snapshot!("units_history_02", r.stdout);
    let vi = run(&["--lang", "vi", "units", "--history", "08"]);
    vi.assert_code(0);
    insta::assert_snapshot!("units_history_08_vi", vi.stdout);

    // JSON: the old commune 00001 went into 00097, which was made from it and others.
    let j = run(&["units", "--history", "00001", "-o", "json"]);
    j.assert_code(0);
    let h: Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(h["level"], "commune");
    assert_eq!(h["name"], "Phường Phúc Xá");
    assert_eq!(h["editions"].as_array().unwrap().len(), 1);
    assert_eq!(h["successors"][0]["code"], "00097");
    assert_eq!(h["reformDate"], "2025-07-01");
    let j = run(&["units", "--history", "00097", "-o", "json"]);
    let h: Value = serde_json::from_str(&j.stdout).unwrap();
    let made_from: Vec<&str> = h["predecessors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert!(made_from.contains(&"00001"), "{made_from:?}");
    // A renamed province: its former name with the dates it was official.
    let j = run(&["units", "--history", "75", "-o", "json"]);
    let h: Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(
        h["formerNames"],
        serde_json::json!([{"name": "Tỉnh Đồng Nai", "type": "tỉnh", "since": "2025-01-04", "until": "2026-09-20"}])
    );
    let csv = run(&["units", "--history", "02", "-o", "csv"]);
    assert_eq!(
        csv.stdout,
        "relation,edition,division,code,name,type,partial\n\
         name,2025-01-04,63,02,Tỉnh Hà Giang,tỉnh,\n\
         successor,2025-07-01,34,08,Tỉnh Tuyên Quang,tỉnh,false\n"
    );

    for bad in ["2", "abc", "123456"] {
        let r = run(&["units", "--history", bad]);
        r.assert_code(2).assert_no_stdout();
        assert!(r.stderr.contains("--history takes a 2-digit province code"));
    }
    let r = run(&["units", "--history", "99"]);
    r.assert_code(2).assert_no_stdout();
    assert!(
        r.stderr
            .contains("no province has code \"99\" in any edition")
    );
}

#[test]
fn units_and_generate_default_to_the_34_division_in_its_current_edition() {
    let g = run(&[
        "generate",
        "tenants",
        "--platform",
        "dichvucong",
        "--level",
        "province",
    ]);
    g.assert_code(0);
    let docs = parse_yaml(&g.stdout);
    let tenants: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Tenant").collect();
    assert_eq!(tenants.len(), 34);
    assert!(
        tenants
            .iter()
            .all(|t| t["spec"]["unit"]["division"] == "34")
    );
    let qn = tenants
        .iter()
        .find(|t| t["spec"]["unit"]["code"] == "22")
        .unwrap();
    assert_eq!(qn["spec"]["unit"]["name"], "Thành phố Quảng Ninh");
    assert_eq!(qn["metadata"]["name"], "quang-ninh");
    let old = run(&[
        "generate",
        "tenants",
        "--platform",
        "dichvucong",
        "--level",
        "province",
        "--division",
        "63",
    ]);
    old.assert_code(0);
    let docs = parse_yaml(&old.stdout);
    assert_eq!(docs.iter().filter(|d| d["kind"] == "Tenant").count(), 63);
    // The committed example is what generate writes today.
    let example = std::fs::read_to_string(
        common::repo_root().join("examples/provinces-34/22-quang-ninh.yaml"),
    )
    .unwrap();
    assert!(example.contains("name: Thành phố Quảng Ninh"), "{example}");
}

#[test]
fn generated_tenants_pass_their_tests() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let communes: Vec<Value> =
        serde_json::from_str(&run(&["units", "--province", "01", "-o", "json"]).stdout).unwrap();

    let p = run(&[
        "generate",
        "tenants",
        "--platform",
        "dichvucong",
        "--level",
        "province",
        "--province",
        "01",
        "--out",
        d,
    ]);
    p.assert_code(0);
    assert_eq!(
        p.stdout,
        format!("wrote 1 tenant(s) and 1 namespace(s) to {d}\n")
    );
    let c = run(&[
        "generate",
        "tenants",
        "--platform",
        "dichvucong",
        "--level",
        "commune",
        "--province",
        "01",
        "--out",
        d,
    ]);
    c.assert_code(0);
    assert_eq!(
        c.stdout,
        format!(
            "wrote {} tenant(s) and 1 namespace(s) to {d}\n",
            communes.len()
        )
    );

    let t = run(&["test", d]);
    t.assert_code(0);
    assert_eq!(t.stderr, "");
    assert_eq!(
        t.stdout,
        format!("{} passed, 0 failed\n", communes.len() + 1)
    );
}

#[test]
fn generated_provinces_for_every_division_pass() {
    for division in ["34", "63"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        run(&[
            "generate",
            "tenants",
            "--platform",
            "vanban",
            "--level",
            "province",
            "--division",
            division,
            "--out",
            d,
        ])
        .assert_code(0);
        let t = run(&["test", d]);
        t.assert_code(0);
        assert_eq!(t.stdout, format!("{division} passed, 0 failed\n"));
    }
    // Without --out, the same declarations go to stdout as one stream.
    let s = run(&[
        "generate",
        "tenants",
        "--platform",
        "vanban",
        "--level",
        "province",
    ]);
    s.assert_code(0);
    let docs = parse_yaml(&s.stdout);
    assert_eq!(docs.iter().filter(|d| d["kind"] == "Namespace").count(), 34);
    assert_eq!(docs.iter().filter(|d| d["kind"] == "Tenant").count(), 34);
}

// ---------------------------------------------------------------- platform lint, build

#[test]
fn lint_accepts_the_real_platforms() {
    for name in ["dichvucong", "vanban"] {
        let r = run(&["platform", "lint", &format!("platforms/{name}")]);
        r.assert_code(0);
        assert!(
            r.stdout.starts_with(&format!("platform {name}: ok (")),
            "{}",
            r.stdout
        );
        assert_eq!(r.stderr, "");
    }
    let r = run_fixture(&[
        "platform",
        "lint",
        &format!("{FIXTURE_PLATFORMS}/thunghiem"),
    ]);
    r.assert_code(0);
    assert!(
        r.stdout.starts_with(
            "platform thunghiem: ok (0 shared and 1 tenant templates, 1 sample tenant(s), revision "
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn lint_refuses_triple_stash() {
    let dir = "cli/tests/fixtures/lint/triple";
    let r = run(&["platform", "lint", dir]);
    r.assert_code(1).assert_no_stdout();
    r.assert_error(
        &format!("{dir}/templates/tenant/config.yaml.hbs:6:1: error: "),
        "triple-stash {{{ }}} or {{& }} inserts a value unquoted",
    );
    insta::assert_snapshot!("lint_triple", r.stderr);
    // The platform is refused by every command, not only lint.
    let v = run(&[
        "--platforms",
        "cli/tests/fixtures/lint",
        "validate",
        &format!("{dir}/tests"),
    ]);
    v.assert_code(1);
    v.assert_error(
        &format!("{dir}/templates/tenant/config.yaml.hbs:6:1: error: "),
        "triple-stash",
    );
}

#[test]
fn lint_refuses_a_value_in_key_position() {
    let dir = "cli/tests/fixtures/lint/value-in-key";
    let r = run(&["platform", "lint", dir]);
    r.assert_code(1).assert_no_stdout();
    r.assert_error(
        &format!("{dir}/templates/tenant/config.yaml.hbs:7:1: error: "),
        "a template expression is used as a mapping key, so a value could choose keys",
    );
}

#[test]
fn build_inlines_the_templates() {
    let r = run(&["platform", "build", "platforms/dichvucong"]);
    r.assert_code(0);
    assert_eq!(r.stderr, "");
    let docs = parse_yaml(&r.stdout);
    assert_eq!(docs.len(), 1);
    let platform: khaibao::api::Platform = serde_json::from_value(docs[0].clone()).unwrap();
    assert_eq!(platform.metadata.name.as_deref(), Some("dichvucong"));
    assert!(platform.status.is_none());
    let root = common::repo_root().join("platforms/dichvucong/templates");
    for (kind, list) in [
        ("shared", &platform.spec.templates.shared),
        ("tenant", &platform.spec.templates.tenant),
    ] {
        let mut files: Vec<String> = std::fs::read_dir(root.join(kind))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let names: Vec<&str> = list.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, files);
        for t in list {
            let text = std::fs::read_to_string(root.join(kind).join(&t.name)).unwrap();
            assert_eq!(t.template, text, "{kind}/{} inlined verbatim", t.name);
        }
    }
}

#[test]
fn a_built_platform_renders_like_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let built = dir.path().join("dichvucong.yaml");
    let b = run(&["platform", "build", "platforms/dichvucong"]);
    std::fs::write(&built, &b.stdout).unwrap();
    let empty = dir.path().join("no-platforms");
    std::fs::create_dir(&empty).unwrap();

    let from_folder = run(&["render", "examples/quickstart"]);
    let from_built = run(&[
        "--platforms",
        empty.to_str().unwrap(),
        "render",
        built.to_str().unwrap(),
        "examples/quickstart",
    ]);
    from_built.assert_code(0);
    assert_eq!(from_built.stdout, from_folder.stdout);
}

#[test]
fn errors_in_a_built_platform_point_at_the_template_line() {
    let dir = tempfile::tempdir().unwrap();
    let built = dir.path().join("built.yaml");
    let b = run_fixture(&[
        "platform",
        "build",
        &format!("{FIXTURE_PLATFORMS}/thieu-gia-tri"),
    ]);
    b.assert_code(0);
    std::fs::write(&built, &b.stdout).unwrap();
    let line = b
        .stdout
        .lines()
        .position(|l| l.trim() == "hotline: {{values.contact.hotline}}")
        .unwrap()
        + 1;
    let empty = dir.path().join("no-platforms");
    std::fs::create_dir(&empty).unwrap();
    let built = built.to_str().unwrap();
    let r = run(&[
        "--platforms",
        empty.to_str().unwrap(),
        "validate",
        built,
        "cli/tests/fixtures/bad/missing-value.yaml",
    ]);
    r.assert_code(1);
    r.assert_error(
        &format!("{built}:{line}:1: error: "),
        "tenant tinh-01/ha-noi: tenant/config.yaml.hbs: the template uses values.contact.hotline",
    );
}

// ---------------------------------------------------------------- crds, completions

#[test]
fn crds_are_the_committed_ones() {
    let r = run(&["crds"]);
    r.assert_code(0);
    let docs = parse_yaml(&r.stdout);
    let names: Vec<&str> = docs
        .iter()
        .map(|d| {
            assert_eq!(d["kind"], "CustomResourceDefinition");
            d["metadata"]["name"].as_str().unwrap()
        })
        .collect();
    assert!(names.contains(&"platforms.khaibao.dev"), "{names:?}");
    assert!(names.contains(&"tenants.khaibao.dev"), "{names:?}");
}

#[test]
fn completions_for_bash() {
    let r = run(&["completions", "bash"]);
    r.assert_code(0);
    assert!(r.stdout.contains("_khaibao()"), "{}", r.stdout);
    assert!(r.stdout.contains("complete -F _khaibao"));
    for sub in ["validate", "render", "explain", "units", "generate"] {
        assert!(r.stdout.contains(sub), "{sub}");
    }
    let bad = run(&["completions", "tcsh"]);
    bad.assert_code(2);
}

#[test]
fn version_and_help() {
    let v = run(&["--version"]);
    v.assert_code(0);
    assert!(v.stdout.starts_with("khaibao "));
    let h = run_cmd(common::khaibao().arg("--help"));
    h.assert_code(0);
    assert!(h.stdout.contains("validate"));
}
