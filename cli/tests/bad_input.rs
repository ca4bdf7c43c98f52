//! Every kind of bad input the CLI must refuse: it names the file, line and column of the
//! offending value (or the tenant), exits with 1, and prints nothing to stdout from `render` so a
//! partial render can never be piped into `kubectl apply`. Unreadable paths and usage errors exit
//! with 2. Nothing ever panics.
//! Over 500 lines: one case of bad input is a few lines each, and the catalogue reads best whole
//! (it is what the README's bad-input promise points at).

mod common;

use common::{FIXTURE_PLATFORMS, Run, parse_yaml, run, run_cmd, run_fixture};
use serde_json::Value;

/// Which catalogue a fixture's tenants use.
#[derive(Clone, Copy)]
enum Catalogue {
    /// `./platforms` (dichvucong, vanban), the default.
    Repo,
    /// `cli/tests/fixtures/platforms`.
    Fixture,
}

fn run_with(catalogue: Catalogue, args: &[&str]) -> Run {
    match catalogue {
        Catalogue::Repo => run(args),
        Catalogue::Fixture => run_fixture(args),
    }
}

/// Checks that `validate`, `render` and `test` all refuse `file` with a report at `place`
/// (`FILE:LINE:COL`) containing `message`. Returns the `validate` run.
fn refused(catalogue: Catalogue, file: &str, place: &str, message: &str) -> Run {
    let prefix = format!("{place}: error: ");

    let validate = run_with(catalogue, &["validate", file]);
    validate
        .assert_code(1)
        .assert_no_stdout()
        .assert_error(&prefix, message);

    let render = run_with(catalogue, &["render", file]);
    render
        .assert_code(1)
        .assert_no_stdout()
        .assert_error(&prefix, message);
    assert_eq!(
        render.errors(),
        validate.errors(),
        "render reports what validate reports"
    );

    let test = run_with(catalogue, &["test", file]);
    test.assert_code(1);
    assert!(
        test.stderr
            .lines()
            .any(|l| l.starts_with(&format!("  {place}: ")) && l.contains(message)),
        "test names the failure:\n{}",
        test.stderr
    );
    let summary = test.stdout.lines().last().unwrap_or_default();
    assert!(
        summary.ends_with(" failed") && !summary.ends_with(" 0 failed"),
        "test summary: {summary:?}"
    );
    validate
}

const BAD: &str = "cli/tests/fixtures/bad";

fn bad(name: &str) -> String {
    format!("{BAD}/{name}")
}

// ---------------------------------------------------------------- reading YAML and resources

#[test]
fn malformed_yaml_points_at_the_bad_line() {
    let f = bad("malformed.yaml");
    let r = refused(
        Catalogue::Repo,
        &f,
        &format!("{f}:11:4"),
        "invalid YAML: while parsing a block mapping, did not find expected key",
    );
    insta::assert_snapshot!("malformed_yaml", r.stderr);
}

#[test]
fn duplicate_keys_are_refused_at_the_second_key() {
    let f = bad("duplicate-key.yaml");
    let r = refused(
        Catalogue::Repo,
        &f,
        &format!("{f}:12:3"),
        "invalid YAML: duplicate key \"platform\" in the same mapping",
    );
    insta::assert_snapshot!("duplicate_key", r.stderr);
}

#[test]
fn wrong_api_version_is_refused_with_a_hint() {
    let f = bad("wrong-api-version.yaml");
    let r = refused(
        Catalogue::Repo,
        &f,
        &format!("{f}:1:13"),
        "Tenant has apiVersion \"khaibao.dev/v1\"; khaibao reads khaibao.dev/v1alpha1",
    );
    assert!(
        r.stderr
            .contains("  hint: set apiVersion: khaibao.dev/v1alpha1"),
        "{}",
        r.stderr
    );
}

#[test]
fn wrong_kind_is_refused() {
    let f = bad("wrong-kind.yaml");
    refused(
        Catalogue::Repo,
        &f,
        &format!("{f}:2:7"),
        "unexpected document (apiVersion \"khaibao.dev/v1alpha1\", kind \"Tennant\")",
    );
}

#[test]
fn an_invalid_tenant_name_is_refused() {
    let f = bad("invalid-name.yaml");
    refused(
        Catalogue::Repo,
        &f,
        &format!("{f}:4:9"),
        "Tenant name \"Hà Nội\" is not a valid Kubernetes name",
    );
}

#[test]
fn unknown_platform_lists_the_known_ones() {
    let f = bad("unknown-platform.yaml");
    let r = refused(
        Catalogue::Repo,
        &f,
        &format!("{f}:7:13"),
        "tenant tinh-01/ha-noi: unknown platform \"dich-vu-cong\"",
    );
    assert!(
        r.stderr
            .contains("  hint: known platforms: dichvucong, vanban"),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------- values against the schema

#[test]
fn schema_type() {
    let f = bad("schema-type.yaml");
    refused(
        Catalogue::Fixture,
        &f,
        &format!("{f}:14:15"),
        "tenant tinh-01/ha-noi: values.replicas: \"hai\" is not of type integer",
    );
}

#[test]
fn schema_enum() {
    let f = bad("schema-enum.yaml");
    refused(
        Catalogue::Fixture,
        &f,
        &format!("{f}:14:11"),
        "values.tier: \"gold\" is not one of [\"basic\",\"standard\",\"premium\"]",
    );
}

#[test]
fn schema_pattern() {
    let f = bad("schema-pattern.yaml");
    refused(
        Catalogue::Fixture,
        &f,
        &format!("{f}:14:17"),
        "values.agencyCode: \"abc-1\" does not match the pattern ^[A-Z]{3}-[0-9]{2}$",
    );
}

#[test]
fn schema_required_points_at_the_tenant_not_the_platform() {
    let f = bad("schema-required.yaml");
    let r = refused(
        Catalogue::Fixture,
        &f,
        &format!("{f}:13:5"),
        "tenant tinh-01/ha-noi: values: required value \"contactEmail\" is missing",
    );
    assert!(
        r.stderr.contains("  hint: add contactEmail: under values"),
        "{}",
        r.stderr
    );
}

#[test]
fn schema_additional_properties() {
    let f = bad("schema-additional.yaml");
    refused(
        Catalogue::Fixture,
        &f,
        &format!("{f}:14:16"),
        "values: unknown value(s) greetting are not allowed here",
    );
}

#[test]
fn schema_errors_on_a_real_platform_each_have_their_line() {
    let f = bad("schema-dichvucong.yaml");
    let r = refused(
        Catalogue::Repo,
        &f,
        &format!("{f}:14:20"),
        "values.onlinePayment: \"yes\" is not of type boolean",
    );
    r.assert_error(
        &format!("{f}:15:25: error: "),
        "values.rateLimitPerMinute: 5 is below the minimum 10",
    )
    .assert_error(
        &format!("{f}:17:21: error: "),
        "values.branding.primaryColor: \"red\" does not match the pattern",
    )
    .assert_error(
        &format!("{f}:18:16: error: "),
        "values.branding: unknown value(s) favicon are not allowed here",
    );
    assert_eq!(r.errors().len(), 4, "{}", r.stderr);
    assert!(
        r.stderr
            .ends_with("4 problem(s); 1 of 1 tenant(s) invalid\n"),
        "{}",
        r.stderr
    );
    insta::assert_snapshot!("schema_dichvucong_en", r.stderr);
}

#[test]
fn problems_of_one_file_are_reported_by_line() {
    // The bad name (line 20) is found while reading, the schema violation (line 15) only when
    // rendering; the reader still sees them in the order of the file.
    let f = bad("problems-out-of-order.yaml");
    for cmd in ["validate", "render"] {
        let r = run(&[cmd, &f]);
        r.assert_code(1).assert_no_stdout();
        let places: Vec<&str> = r
            .errors()
            .iter()
            .map(|l| l.split(": error: ").next().unwrap_or_default())
            .collect();
        assert_eq!(
            places,
            [format!("{f}:15:25"), format!("{f}:20:9")],
            "{cmd}:\n{}",
            r.stderr
        );
    }
}

// ---------------------------------------------------------------- the official unit registry

#[test]
fn unknown_unit_code() {
    let f = bad("unknown-unit.yaml");
    refused(
        Catalogue::Repo,
        &f,
        &format!("{f}:10:11"),
        "tenant tinh-01/ha-noi: no province has code \"99\" in the 34-province division",
    );
}

#[test]
fn a_code_the_reform_retired_is_refused_naming_its_successor() {
    let f = bad("retired-code.yaml");
    let r = refused(
        Catalogue::Repo,
        &f,
        &format!("{f}:11:11"),
        "tenant tinh-02/ha-giang: no province has code \"02\" in the 34-province division",
    );
    r.assert_error(
        &format!("{f}:23:11: error: "),
        "no commune has code \"00001\" in the 34-province division",
    );
    assert!(
        r.stderr.contains(
            "  hint: 02 Tỉnh Hà Giang of the 63-province division merged into 08 Tỉnh Tuyên Quang on 2025-07-01; use code: \"08\""
        ),
        "{}",
        r.stderr
    );
    insta::assert_snapshot!("retired_code", r.stderr);
}

#[test]
fn unit_name_must_match_its_code() {
    let f = bad("name-mismatch.yaml");
    let r = refused(
        Catalogue::Repo,
        &f,
        &format!("{f}:11:11"),
        "unit 01 is Thành phố Hà Nội, not \"Thành phố Hồ Chí Minh\"",
    );
    insta::assert_snapshot!("name_mismatch", r.stderr);
}

#[test]
fn commune_outside_its_parents_province() {
    let f = bad("commune-outside-province.yaml");
    let r = refused(
        Catalogue::Repo,
        &f,
        &format!("{f}:21:11"),
        "tenant tinh-01/phuong-sai-gon: Phường Sài Gòn (26740) is in province 79 (Thành phố Hồ Chí Minh), but its parent ha-noi is province 01",
    );
    // Only the commune is refused; its parent is fine.
    assert!(
        r.stderr
            .ends_with("1 problem(s); 1 of 2 tenant(s) invalid\n")
    );
}

#[test]
fn commune_with_the_wrong_province_code() {
    let f = bad("province-code-mismatch.yaml");
    refused(
        Catalogue::Repo,
        &f,
        &format!("{f}:26:19"),
        "commune 26740 (Phường Sài Gòn) belongs to province 79 (Thành phố Hồ Chí Minh), not 01",
    );
}

// ---------------------------------------------------------------- templates and policy

#[test]
fn template_referencing_a_missing_value() {
    let f = bad("missing-value.yaml");
    refused(
        Catalogue::Fixture,
        &f,
        &format!("{FIXTURE_PLATFORMS}/thieu-gia-tri/templates/tenant/config.yaml.hbs:7:1"),
        "tenant tinh-01/ha-noi: the template uses values.contact.hotline, which has no value for this tenant",
    );
}

#[test]
fn a_kind_missing_from_allowed_kinds_is_refused() {
    let f = bad("disallowed-secret.yaml");
    let r = refused(
        Catalogue::Fixture,
        &f,
        &format!("{FIXTURE_PLATFORMS}/sai-loai/templates/tenant/secret.yaml.hbs:2:1"),
        "tenant tinh-01/ha-noi: Secret is not in the platform's allowedKinds (ConfigMap)",
    );
    insta::assert_snapshot!("disallowed_secret", r.stderr);
}

#[test]
fn a_role_is_never_allowed() {
    let f = bad("disallowed-role.yaml");
    refused(
        Catalogue::Fixture,
        &f,
        &format!("{FIXTURE_PLATFORMS}/cap-quyen/templates/tenant/role.yaml.hbs:2:1"),
        "tenant tinh-01/ha-noi: Role is never allowed",
    );
}

/// Values that would change a document's structure if a template pasted them in as text.
const TRICKY_VALUES: &[&str] = &[
    "dòng một\ndòng hai",
    "a\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n",
    "{{values.contactEmail}} {{{x}}} {{#each values}}{{/each}}",
    "key: value",
    ": leading colon",
    "\"double\" and 'single' quotes",
    "'",
    "\"",
    "# not a comment",
    "- not a list item",
    "[not, a, list]",
    "{not: a map}",
    "&anchor *alias !tag %directive @ `",
    "true",
    "01",
    "1e3",
    "null",
    "~",
    "",
    " leading and trailing spaces ",
    "\n\nleading and trailing newlines\n\n\n",
    "tab\there",
    "crlf\r\nline",
    "...\n---",
    "xin chào ✓ 😀",
];

/// One tenant per value, each for its own province, so one run renders them all.
fn tenants_with_notes(notes: &[&str]) -> String {
    let provinces = &khaibao::registry::units(khaibao::registry::Division::D34).provinces;
    assert!(notes.len() <= provinces.len());
    notes
        .iter()
        .zip(provinces)
        .map(|(note, p)| {
            // A JSON string is a valid YAML double-quoted scalar, so any value can be written
            // exactly.
            let note = Value::String(note.to_string());
            format!(
                "---
apiVersion: khaibao.dev/v1alpha1
kind: Tenant
metadata:
  name: {slug}
  namespace: tinh-{code}
spec:
  platform: thunghiem
  unit:
    level: province
    code: \"{code}\"
    name: {name}
  values:
    contactEmail: hotro@example.gov.vn
    note: {note}
    greeting: {note}
",
                slug = p.slug,
                code = p.code,
                name = Value::String(p.name.clone()),
            )
        })
        .collect()
}

#[test]
fn values_render_as_data_never_as_structure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tricky.yaml");
    std::fs::write(&path, tenants_with_notes(TRICKY_VALUES)).unwrap();
    let path = path.to_str().unwrap();

    let r = run_fixture(&["render", path]);
    r.assert_code(0);
    let docs = parse_yaml(&r.stdout);
    assert_eq!(
        docs.len(),
        TRICKY_VALUES.len(),
        "values must not add or remove objects:\n{}",
        r.stdout
    );
    let json = run_fixture(&["render", "-o", "json", path]);
    json.assert_code(0);
    let list: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(list["items"].as_array().unwrap(), &docs);

    for (note, cm) in TRICKY_VALUES.iter().zip(&docs) {
        assert_eq!(cm["kind"], "ConfigMap", "{cm}");
        assert!(
            cm["metadata"]["name"]
                .as_str()
                .unwrap()
                .ends_with("-config"),
            "{cm}"
        );
        assert_eq!(
            cm["data"]["note"].as_str(),
            Some(*note),
            "value must come out exactly: {cm}"
        );
        assert_eq!(cm["data"]["greeting"].as_str(), Some(*note));
        assert_eq!(cm["data"]["contactEmail"], "hotro@example.gov.vn");
        let keys: Vec<&String> = cm["data"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "agencyCode",
                "contactEmail",
                "greeting",
                "note",
                "replicas",
                "tier",
                "unitName"
            ],
            "value {note:?} must not add keys"
        );
    }
}

// ---------------------------------------------------------------- tenants against each other

#[test]
fn two_tenants_for_the_same_unit_conflict() {
    let f = bad("same-unit.yaml");
    let r = refused(
        Catalogue::Repo,
        &f,
        &format!("{f}:23:11"),
        "tenant tinh-01/thu-do: unit 01 (Thành phố Hà Nội) is already declared by tenant tinh-01/ha-noi",
    );
    insta::assert_snapshot!("same_unit", r.stderr);
    // The first declaration keeps the unit.
    let t = run(&["test", &f]);
    assert_eq!(t.stdout.lines().last(), Some("1 passed, 1 failed"));
    assert!(
        t.stderr.starts_with("FAIL tinh-01/thu-do\n"),
        "{}",
        t.stderr
    );
}

#[test]
fn two_tenants_rendering_the_same_object_name_conflict() {
    let f = bad("same-object-name.yaml");
    refused(
        Catalogue::Repo,
        &f,
        &format!("{f}:15:1"),
        "tenant ha-noi-cu/ha-noi: ConfigMap ha-noi-01-portal-config is already rendered by tenant tinh-01/ha-noi",
    );
}

#[test]
fn a_tenant_declared_twice_conflicts() {
    let f = bad("declared-twice.yaml");
    refused(
        Catalogue::Repo,
        &f,
        &format!("{f}:16:9"),
        &format!("tenant tinh-01/ha-noi: tenant tinh-01/ha-noi is declared twice (first in {f})"),
    );
}

#[test]
fn conflicts_across_files_name_the_first_tenant() {
    // The same unit in two files: the file read first keeps it.
    let r = run(&["validate", "examples/quickstart", &bad("same-unit.yaml")]);
    r.assert_code(1).assert_no_stdout();
    let f = bad("same-unit.yaml");
    r.assert_error(
        &format!("{f}:5:9: error: "),
        "tenant tinh-01/ha-noi: tenant tinh-01/ha-noi is declared twice (first in examples/quickstart/ha-noi.yaml)",
    );
}

// ---------------------------------------------------------------- exit codes and robustness

#[test]
fn a_nonexistent_path_exits_with_2() {
    for cmd in ["validate", "render", "test"] {
        let r = run(&[cmd, "no/such/tenants.yaml"]);
        r.assert_code(2).assert_no_stdout();
        assert_eq!(
            r.stderr,
            "no/such/tenants.yaml: error: no such file or folder\n"
        );
    }
    let r = run(&["explain", "no/such/tenant.yaml"]);
    r.assert_code(2);
    assert_eq!(r.stderr, "no/such/tenant.yaml: error: not a file\n");
    let r = run(&[
        "--platforms",
        "no/such/platforms",
        "validate",
        "examples/quickstart",
    ]);
    r.assert_code(2);
    assert_eq!(
        r.stderr,
        "no/such/platforms: error: the platforms folder does not exist\n"
    );
    let r = run(&["platform", "lint", "no/such/platform"]);
    r.assert_code(2);
    assert_eq!(
        r.stderr,
        "no/such/platform: error: not a platform folder (no platform.yaml)\n"
    );
}

#[test]
fn usage_errors_exit_with_2() {
    for args in [
        &["validate"][..],
        &["render", "--bogus", "examples/quickstart"],
        &["render", "-o", "xml", "examples/quickstart"],
        &["frobnicate"],
        &["units", "--division", "64"],
        &["units", "--province", "00"],
        &["generate", "tenants", "--platform", "dichvucong"],
    ] {
        let r = run(args);
        r.assert_code(2).assert_no_stdout();
        assert!(r.stderr.contains("error: "), "{args:?}: {}", r.stderr);
    }
    let r = run(&["render", "--bogus", "examples/quickstart"]);
    assert!(
        r.stderr
            .starts_with("error: unexpected argument '--bogus' found"),
        "{}",
        r.stderr
    );
}

#[test]
fn nothing_panics_on_any_fixture() {
    // Every fixture at once, and each file alone, through every reading command.
    for catalogue in ["platforms", FIXTURE_PLATFORMS] {
        for cmd in ["validate", "render", "test"] {
            let r = run(&["--platforms", catalogue, cmd, "cli/tests/fixtures"]);
            assert_eq!(r.code, 1, "{cmd}: the fixtures hold bad input");
            if cmd != "test" {
                r.assert_no_stdout();
            }
        }
    }
    let mut files: Vec<_> = std::fs::read_dir(common::repo_root().join(BAD))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    for f in files {
        let r = run(&["explain", &bad(&f)]);
        assert!(r.code == 0 || r.code == 1, "explain {f}: {}", r.stderr);
    }
}

/// Inputs nobody should write, each of which must get a located error, not a crash.
const WEIRD: &[(&str, &str, &str)] = &[
    ("empty-document.yaml", "---\n---\n...\n", ""),
    (
        "scalar.yaml",
        "just a string\n",
        "1:1: error: unexpected document",
    ),
    ("list.yaml", "- 1\n- 2\n", "1:1: error: unexpected document"),
    (
        "tab.yaml",
        "a:\n\tb: 1\n",
        "2:2: error: invalid YAML: tabs disallowed",
    ),
    (
        "unknown-tag.yaml",
        "a: !custom x\n",
        "1:4: error: invalid YAML: unsupported YAML tag",
    ),
    (
        "complex-key.yaml",
        "? [a, b]\n: c\n",
        "1:3: error: invalid YAML: complex mapping keys",
    ),
    (
        "unknown-alias.yaml",
        "a: *nope\n",
        "1:4: error: invalid YAML: while parsing node, found unknown anchor",
    ),
    (
        "spec-is-a-number.yaml",
        "apiVersion: khaibao.dev/v1alpha1\nkind: Tenant\nmetadata: {name: x, namespace: tinh-01}\nspec: 5\n",
        "4:7: error: spec: invalid type: integer `5`, expected struct TenantSpec",
    ),
    (
        "unit-level.yaml",
        "apiVersion: khaibao.dev/v1alpha1\nkind: Tenant\nmetadata: {name: x, namespace: tinh-01}\nspec:\n  platform: dichvucong\n  unit: {level: district, code: \"01\", name: x}\n",
        "6:17: error: spec.unit.level: unknown variant `district`, expected `province` or `commune`",
    ),
    (
        "code-is-a-number.yaml",
        "apiVersion: khaibao.dev/v1alpha1\nkind: Tenant\nmetadata: {name: x, namespace: tinh-01}\nspec:\n  platform: dichvucong\n  unit: {level: province, code: 1, name: x}\n",
        "6:33: error: spec.unit.code: invalid type: integer `1`, expected a string",
    ),
    (
        "no-name.yaml",
        "apiVersion: khaibao.dev/v1alpha1\nkind: Tenant\nmetadata:\n  namespace: tinh-01\nspec:\n  platform: dichvucong\n  unit: {level: province, code: \"01\", name: Hà Nội}\n",
        "4:3: error: Tenant has no metadata.name",
    ),
    (
        "bad-namespace.yaml",
        "apiVersion: khaibao.dev/v1alpha1\nkind: Tenant\nmetadata:\n  name: ha-noi\n  namespace: Tỉnh 01\nspec:\n  platform: dichvucong\n  unit: {level: province, code: \"01\", name: Hà Nội}\n",
        "5:14: error: namespace \"Tỉnh 01\" is not a valid namespace name",
    ),
    (
        "values-list.yaml",
        "apiVersion: khaibao.dev/v1alpha1\nkind: Tenant\nmetadata: {name: x, namespace: tinh-01}\nspec:\n  platform: dichvucong\n  unit: {level: province, code: \"01\", name: Hà Nội}\n  values: [1, 2]\n",
        "7:11: error: tenant tinh-01/x: values: [1,2] is not of type object",
    ),
    (
        "province-with-parent.yaml",
        "apiVersion: khaibao.dev/v1alpha1\nkind: Tenant\nmetadata: {name: x, namespace: tinh-01}\nspec:\n  platform: dichvucong\n  parent: x\n  unit: {level: province, code: \"01\", name: Hà Nội}\n",
        "6:11: error: tenant tinh-01/x: a province cannot have a parent (parent: x)",
    ),
    (
        "missing-parent.yaml",
        "apiVersion: khaibao.dev/v1alpha1\nkind: Tenant\nmetadata: {name: x, namespace: tinh-01}\nspec:\n  platform: dichvucong\n  parent: ha-noi\n  unit: {level: commune, code: \"00004\", name: Phường Ba Đình, provinceCode: \"01\"}\n",
        "6:11: error: tenant tinh-01/x: parent tenant \"ha-noi\" does not exist in namespace tinh-01",
    ),
    (
        "unknown-division.yaml",
        "apiVersion: khaibao.dev/v1alpha1\nkind: Tenant\nmetadata: {name: x, namespace: tinh-01}\nspec:\n  platform: dichvucong\n  unit: {level: province, code: \"01\", name: Hà Nội, division: \"99\"}\n",
        "6:63: error: tenant tinh-01/x: unknown division \"99\": use 63 or 34",
    ),
];

#[test]
fn weird_inputs_get_located_errors_not_crashes() {
    let dir = tempfile::tempdir().unwrap();
    // One thread per input: each runs the binary four times.
    std::thread::scope(|scope| {
        for (name, text, expected) in WEIRD {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            scope.spawn(move || check_weird_input(name, path.to_str().unwrap(), expected));
        }
    });
}

fn check_weird_input(name: &str, p: &str, expected: &str) {
    for cmd in ["validate", "render", "test"] {
        let r = run(&[cmd, p]);
        if expected.is_empty() {
            r.assert_code(0);
            continue;
        }
        r.assert_code(1);
        if cmd != "test" {
            r.assert_no_stdout();
            r.assert_error(&format!("{p}:{expected}"), "");
        } else {
            assert!(
                r.stderr
                    .contains(&format!("{p}:{}", expected.replace("error: ", ""))),
                "{name}: {}",
                r.stderr
            );
        }
    }
    let r = run(&["explain", p]);
    assert!(r.code == 0 || r.code == 1, "{name}: {}", r.stderr);
}

#[test]
fn binary_bomb_and_deep_files_are_refused_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "binary.yaml",
            vec![0xff, 0xfe, 0x00, 0x01],
            ": error: the file is not UTF-8 text",
        ),
        (
            "bomb.yaml",
            bomb.into_bytes(),
            ": error: invalid YAML: aliases expand to more than 1000000 nodes",
        ),
        (
            "deep.yaml",
            format!("{}{}\n", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
            ": error: invalid YAML: recursion limit exceeded",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let p = path.to_str().unwrap();
        for cmd in ["validate", "render"] {
            let r = run(&[cmd, p]);
            r.assert_code(1).assert_no_stdout();
            assert!(
                r.stderr.starts_with(p) && r.stderr.contains(expected),
                "{name}: {}",
                r.stderr
            );
        }
    }
}

// ---------------------------------------------------------------- language

#[test]
fn lang_vi_gives_vietnamese_messages() {
    let f = bad("schema-dichvucong.yaml");
    let r = run(&["--lang", "vi", "validate", &f]);
    r.assert_code(1).assert_no_stdout();
    r.assert_error(
        &format!("{f}:14:20: error: "),
        "đơn vị tinh-01/ha-noi: values.onlinePayment: \"yes\" không phải kiểu boolean",
    )
    .assert_error(
        &format!("{f}:15:25: error: "),
        "values.rateLimitPerMinute: 5 nhỏ hơn mức tối thiểu 10",
    );
    assert!(
        r.stderr
            .contains("  gợi ý: hãy ghi một giá trị kiểu boolean")
    );
    assert!(r.stderr.ends_with("4 lỗi; 1/1 đơn vị không hợp lệ\n"));
    assert!(!r.stderr.contains("is not of type"), "{}", r.stderr);
    insta::assert_snapshot!("schema_dichvucong_vi", r.stderr);
}

#[test]
fn lang_comes_from_the_locale() {
    let f = bad("name-mismatch.yaml");
    let vi = run_cmd(
        common::khaibao()
            .env("LANG", "vi_VN.UTF-8")
            .args(["validate", &f]),
    );
    vi.assert_code(1)
        .assert_error(&format!("{f}:11:11: error: "), "đơn vị tinh-01/ha-noi: ");
    assert!(vi.stderr.ends_with("1 lỗi; 1/1 đơn vị không hợp lệ\n"));
    // LC_ALL wins over LANG, and --lang over both.
    let en = run_cmd(
        common::khaibao()
            .env("LANG", "vi_VN.UTF-8")
            .env("LC_ALL", "en_US.UTF-8")
            .args(["validate", &f]),
    );
    assert!(
        en.stderr
            .contains("error: tenant tinh-01/ha-noi: unit 01 is Thành phố Hà Nội, not")
    );
    let forced = run_cmd(
        common::khaibao()
            .env("LC_ALL", "en_US.UTF-8")
            .args(["--lang", "vi", "validate", &f]),
    );
    assert!(forced.stderr.contains("error: đơn vị tinh-01/ha-noi: "));
    // A valid run speaks Vietnamese too.
    let ok = run_cmd(
        common::khaibao()
            .env("LANG", "vi_VN.UTF-8")
            .args(["validate", "examples/quickstart"]),
    );
    ok.assert_code(0);
    assert_eq!(ok.stdout, "1 đơn vị hợp lệ\n");
}
