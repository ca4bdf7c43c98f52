//! Helpers shared by the CLI integration tests: run the real `khaibao` binary from the repository
//! root (so `./platforms` is the default catalogue and paths in messages are short and stable),
//! in English unless a test asks otherwise, and check that nothing ever panics.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The workspace root, where `platforms/` and `examples/` live.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

/// The catalogue of small platforms made for these tests.
pub const FIXTURE_PLATFORMS: &str = "cli/tests/fixtures/platforms";

/// `khaibao` in the repository root, with a locale that selects English messages.
pub fn khaibao() -> Command {
    let mut cmd = Command::cargo_bin("khaibao").expect("the khaibao binary is built");
    cmd.current_dir(repo_root())
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "C.UTF-8")
        .env_remove("RUST_BACKTRACE");
    cmd
}

/// What one run printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Lines of stderr that are `FILE:LINE:COL: error: …` (or `FILE: error: …`) reports.
    pub fn errors(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.contains("error: "))
            .collect()
    }

    /// Asserts that stderr has a report line that starts with `prefix` (e.g.
    /// `cli/tests/fixtures/bad/x.yaml:10:11: error: `) and contains `message`.
    pub fn assert_error(&self, prefix: &str, message: &str) -> &Self {
        assert!(
            self.stderr
                .lines()
                .any(|l| l.starts_with(prefix) && l.contains(message)),
            "expected a line starting with {prefix:?} containing {message:?}\n--- stderr:\n{}",
            self.stderr
        );
        self
    }

    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn assert_no_stdout(&self) -> &Self {
        assert!(
            self.stdout.is_empty(),
            "nothing may be printed to stdout, got:\n{}",
            self.stdout
        );
        self
    }
}

/// Runs a prepared command; fails the test if it panicked or printed a backtrace.
pub fn run_cmd(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("khaibao runs");
    let run = Run {
        code: out
            .status
            .code()
            .expect("khaibao exited (not killed by a signal)"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    };
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("stack backtrace"),
        "khaibao panicked:\n{}",
        run.stderr
    );
    assert!(
        run.code == 0 || run.code == 1 || run.code == 2,
        "unexpected exit code {}:\n{}",
        run.code,
        run.stderr
    );
    run
}

/// Runs `khaibao ARGS` from the repository root.
pub fn run(args: &[&str]) -> Run {
    run_cmd(khaibao().args(args))
}

/// Runs `khaibao --platforms cli/tests/fixtures/platforms ARGS`.
pub fn run_fixture(args: &[&str]) -> Run {
    run_cmd(
        khaibao()
            .arg("--platforms")
            .arg(FIXTURE_PLATFORMS)
            .args(args),
    )
}

/// Parses a YAML stream the way khaibao reads its inputs, dropping empty documents.
pub fn parse_yaml(text: &str) -> Vec<Value> {
    khaibao::yaml::parse_stream(text, false)
        .unwrap_or_else(|e| panic!("output is not valid YAML: {e}\n{text}"))
        .into_iter()
        .map(|d| d.value)
        .filter(|v| !v.is_null())
        .collect()
}

/// Replaces the platform revision (a hash of the platform's templates and schema) so snapshots
/// change only when the objects themselves do.
pub fn mask_revisions(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("khaibao.dev/revision: ") {
            Some(i) => format!("{}khaibao.dev/revision: REVISION", &l[..i]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if text.ends_with('\n') { "\n" } else { "" }
}
