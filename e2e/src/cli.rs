//! The real `khaibao` CLI as a child process, run the way a user runs it: in the workspace root,
//! against one control plane, with English messages. Every run's command and output are kept in
//! the state dir. It never builds the binary (see [`crate::cli_binary`]).

use std::ffi::OsStr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::Value;

use crate::{ControlPlane, cli_binary, workspace_root};

/// One run of the `khaibao` CLI.
#[derive(Debug)]
pub struct CliRun {
    pub command: String,
    /// `None` when killed (timeout, signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl CliRun {
    /// Fails unless the exit code is `code`, with the command's output.
    pub fn expect(&self, code: i32) -> anyhow::Result<&Self> {
        ensure!(
            self.code == Some(code),
            "`{}` exited {:?}, expected {code}\nstdout:\n{}\nstderr:\n{}",
            self.command,
            self.code,
            crate::tail(&self.stdout, 40),
            crate::tail(&self.stderr, 40)
        );
        Ok(self)
    }

    pub fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.stdout)
            .with_context(|| format!("`{}` printed no JSON:\n{}", self.command, self.stdout))
    }
}

static RUNS: AtomicU32 = AtomicU32::new(0);

/// Runs `khaibao ARGS` in the workspace root (so `./platforms` is found) against `cp`, with
/// English messages; its output is kept in `STATE_DIR/cli/`. Killed after `timeout`.
pub fn khaibao(
    cp: &ControlPlane,
    args: impl IntoIterator<Item = impl AsRef<OsStr>>,
    timeout: Duration,
) -> anyhow::Result<CliRun> {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    let command = format!("khaibao {}", args.join(" "));
    let dir = cp.state_dir.join("cli");
    std::fs::create_dir_all(&dir)?;
    let n = RUNS.fetch_add(1, Ordering::SeqCst);
    let (out_path, err_path) = (
        dir.join(format!("{n}.stdout")),
        dir.join(format!("{n}.stderr")),
    );
    std::fs::write(dir.join(format!("{n}.command")), &command)?;
    let started = Instant::now();
    let mut child = Command::new(cli_binary()?)
        .args(&args)
        .current_dir(workspace_root())
        .env("KUBECONFIG", &cp.kubeconfig)
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?)
        .spawn()
        .with_context(|| format!("cannot run {command}"))?;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = CliRun {
        command,
        code: status.and_then(|s| s.code()),
        stdout: std::fs::read_to_string(&out_path)?,
        stderr: std::fs::read_to_string(&err_path)?,
        took: started.elapsed(),
    };
    if status.is_none() {
        bail!(
            "`{}` did not finish within {timeout:.0?}; killed\n{}",
            run.command,
            run.stderr
        );
    }
    Ok(run)
}
