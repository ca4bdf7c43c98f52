//! `khaibao reform plan` as scripts and people use it: the documented JSON shape, the exit
//! codes (0 complete, 1 open conflicts or unmapped units, 2 usage), the table in both
//! languages, `--out` written and re-runnable, and every bad input named.

mod common;

use common::{run, run_cmd};
use serde_json::Value;

const BEFORE: &str = "examples/reform-2025/before";
const RESOLVE: &str = "examples/reform-2025/resolve.yaml";

fn json_of(args: &[&str]) -> (i32, Value) {
    let r = run(args);
    let v: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", r.stdout, r.stderr));
    (r.code, v)
}

#[test]
fn an_open_plan_lists_its_conflicts_with_file_and_line_and_exits_1() {
    let (code, plan) = json_of(&[
        "reform", "plan", "--from", "63", "--to", "34", "-o", "json", BEFORE,
    ]);
    assert_eq!(code, 1);
    assert_eq!(plan["from"], "63");
    assert_eq!(plan["to"], "34");
    assert_eq!(plan["complete"], false);
    let hotline = plan["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "/contact/hotline")
        .expect("the two provinces' hotlines differ");
    assert_eq!(hotline["successor"], "tinh-08/tuyen-quang");
    assert_eq!(hotline["kept"]["value"], "0207 3822 222");
    assert_eq!(hotline["kept"]["from"], "tinh-08/tuyen-quang");
    assert_eq!(hotline["dropped"][0]["value"], "0219 3866 088");
    assert_eq!(hotline["dropped"][0]["from"], "tinh-02/ha-giang");
    assert_eq!(
        hotline["dropped"][0]["at"],
        "examples/reform-2025/before/ha-giang.yaml:16"
    );
    let tq = plan["successors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["tenant"] == "tinh-08/tuyen-quang")
        .unwrap();
    assert_eq!(tq["unit"]["level"], "province");
    assert_eq!(tq["unit"]["code"], "08");
    assert_eq!(tq["unit"]["name"], "Tỉnh Tuyên Quang");
    assert_eq!(
        tq["predecessors"],
        serde_json::json!(["tinh-08/tuyen-quang", "tinh-02/ha-giang"])
    );
    // Communes come from the two sets: each successor names the set that makes it.
    let communes: Vec<&Value> = plan["successors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["unit"]["level"] == "commune")
        .collect();
    assert_eq!(communes.len(), 124);
    // All but the new Xã Tân Tiến, whose set name is an old tenant of another unit.
    let from_set = communes
        .iter()
        .filter(|s| s["tenantSet"] == "tinh-08/xa-phuong-tuyen-quang-34")
        .count();
    assert_eq!(from_set, 123);
    assert!(
        communes
            .iter()
            .any(|s| s["tenant"] == "tinh-08/xa-tan-tien-01051")
    );
    assert!(!plan["splits"].as_array().unwrap().is_empty());
    // 02482 Xã Phú Thịnh has no row in the official mapping.
    assert_eq!(plan["unmapped"][0]["code"], "02482");
    assert_eq!(plan["unmapped"][0]["name"], "Xã Phú Thịnh");
}

#[test]
fn resolving_and_assigning_completes_the_plan_and_out_is_rerunnable() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan");
    let out_s = out.to_str().unwrap();
    // Something of the user's in the folder is never touched.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.yaml"), "# mine\n").unwrap();
    let args = [
        "reform",
        "plan",
        "--resolve",
        RESOLVE,
        "--assign",
        "02482=02494",
        "--transition-until",
        "2026-12-31",
        "--out",
        out_s,
        BEFORE,
    ];
    let r = run(&args);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("conflicts                  4 (4 resolved, 0 open)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("khaibao approve reform"), "{}", r.stdout);
    let first = std::fs::read_to_string(out.join("08-tuyen-quang.yaml")).unwrap();
    assert!(first.contains("until: 2026-12-31") || first.contains("until: \"2026-12-31\""));
    assert!(out.join("reform-plan.json").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("notes.yaml")).unwrap(),
        "# mine\n"
    );
    // What the plan wrote passes the same checks `khaibao apply` makes.
    let v = run(&["validate", out_s]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    // Run again: the same files, byte for byte.
    assert_eq!(run(&args).code, 0);
    assert_eq!(
        std::fs::read_to_string(out.join("08-tuyen-quang.yaml")).unwrap(),
        first
    );
}

#[test]
fn the_table_speaks_vietnamese_too() {
    let r = run(&["reform", "plan", "--lang", "vi", BEFORE]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("tỉnh hợp nhất"), "{}", r.stdout);
    assert!(r.stdout.contains("Xung đột còn mở:"), "{}", r.stdout);
    assert!(r.stdout.contains("--assign 02482="), "{}", r.stdout);
}

#[test]
fn usage_errors_exit_2_and_say_what_to_change() {
    let cases: &[(&[&str], &str)] = &[
        (&["reform", "plan", "--from", "64", BEFORE], "use 63 or 34"),
        (
            &["reform", "plan", "--from", "34", "--to", "63", BEFORE],
            "plans go forward",
        ),
        (&["reform", "plan"], "--cluster"),
        (&["reform", "plan", "--assign", "02482", BEFORE], "OLD=NEW"),
        (
            &["reform", "plan", "--transition-until", "31/12/2026", BEFORE],
            "YYYY-MM-DD",
        ),
        (
            &["reform", "plan", "--resolve", "no/such/file.yaml", BEFORE],
            "cannot read",
        ),
        (&["reform", "plan", "no/such/folder"], "no/such/folder"),
    ];
    for (args, says) in cases {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(says),
            "{args:?} should say {says:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn a_malformed_resolve_file_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("resolve.yaml");
    std::fs::write(&file, "tinh-08/tuyen-quang:\n  contact/hotline: \"1\"\n").unwrap();
    let r = run(&[
        "reform",
        "plan",
        "--resolve",
        file.to_str().unwrap(),
        BEFORE,
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains(":2: \"contact/hotline\" is not a JSON pointer"),
        "{}",
        r.stderr
    );
    std::fs::write(&file, "tinh-08/tuyen-quang: [\n").unwrap();
    let r = run(&[
        "reform",
        "plan",
        "--resolve",
        file.to_str().unwrap(),
        BEFORE,
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("invalid YAML"), "{}", r.stderr);
    std::fs::write(&file, "tinh-02/ha-giang:\n  /contact/hotline: \"1\"\n").unwrap();
    let r = run(&[
        "reform",
        "plan",
        "--resolve",
        file.to_str().unwrap(),
        BEFORE,
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("tinh-02/ha-giang, which is no successor"),
        "{}",
        r.stdout
    );
}

#[test]
fn yaml_output_is_the_same_plan() {
    let (_, json) = json_of(&["reform", "plan", "-o", "json", BEFORE]);
    let mut cmd = common::khaibao();
    cmd.args(["reform", "plan", "-o", "yaml", BEFORE]);
    let r = run_cmd(&mut cmd);
    let yaml = common::parse_yaml(&r.stdout);
    assert_eq!(yaml[0], json);
}
