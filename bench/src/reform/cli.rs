//! Running the `khaibao` CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, ensure};

/// Runs `khaibao ARGS` in the workspace root (so `./platforms` is found); `None` for no cluster.
pub(super) fn cli(
    bin: &Path,
    kubeconfig: Option<&Path>,
    args: &[String],
    stdout: &Path,
) -> anyhow::Result<(i32, String, f64)> {
    let mut c = Command::new(bin);
    c.args(args)
        .current_dir(khaibao_e2e::workspace_root())
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(stdout)?)
        .stderr(Stdio::piped());
    match kubeconfig {
        Some(k) => c.env("KUBECONFIG", k),
        None => c.env_remove("KUBECONFIG"),
    };
    let start = Instant::now();
    let out = c
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let took = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Ok((out.status.code().unwrap_or(-1), stderr, took))
}

/// [`cli`] off the async runtime (the watches keep running meanwhile); fails unless it exits 0.
pub(super) async fn cli_ok(
    bin: &Path,
    kubeconfig: &Path,
    args: &[&str],
    stdout: PathBuf,
) -> anyhow::Result<f64> {
    let (bin, kubeconfig) = (bin.to_path_buf(), kubeconfig.to_path_buf());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let line = format!("khaibao {}", args.join(" "));
    let (code, stderr, took) =
        tokio::task::spawn_blocking(move || cli(&bin, Some(&kubeconfig), &args, &stdout)).await??;
    ensure!(code == 0, "`{line}` exited {code}: {}", tail(&stderr, 20));
    Ok(took)
}

pub(super) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
