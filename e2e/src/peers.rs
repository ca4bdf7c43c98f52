//! The ecosystem's own health readers, built from their Go modules by `e2e/build-peers.sh`:
//! `kstatus-check` (sigs.k8s.io/cli-utils' kstatus, what Flux's health checks call) and
//! `argocd-health` (an Argo CD Lua health script run by gopher-lua, as Argo CD runs it). Tests
//! assert what these real libraries say about live objects, not what we think they would say.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::controlplane::{built_bin_dir, last_line};

/// One reader's verdict: kstatus' `Current`/`InProgress`/`Failed`/..., or Argo CD's
/// `Healthy`/`Progressing`/`Degraded`/`Suspended`, with its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub status: String,
    pub message: String,
}

/// The peers' bin directory, built (or found in the cache) once per test process.
fn bin_dir() -> anyhow::Result<&'static Path> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = DIR.get_or_init(|| built_bin_dir("build-peers.sh"));
    match dir {
        Ok(d) => Ok(d.as_path()),
        Err(e) => bail!("building the e2e peers failed: {e}"),
    }
}

/// Runs a peer with `args`, feeding `stdin`, and reads the one JSON line it prints.
fn run(peer: &str, args: &[&str], stdin: Option<&[u8]>) -> anyhow::Result<Verdict> {
    let bin = bin_dir()?.join(peer);
    let mut child = Command::new(&bin)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .context("no stdin")?
            .write_all(input)
            .with_context(|| format!("writing to {peer}"))?;
    }
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "{peer} {args:?} failed ({}): {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = last_line(&stdout).with_context(|| format!("{peer} printed nothing"))?;
    let v: Value =
        serde_json::from_str(line).with_context(|| format!("{peer} printed {line:?}"))?;
    let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    Ok(Verdict {
        status: field("status"),
        message: field("message"),
    })
}

/// kstatus' verdict on a live object of a khaibao.dev/v1alpha1 `resource` (`tenants`,
/// `tenantsets.khaibao.dev`, ...), read from the API server by the Go program itself.
pub fn kstatus(
    kubeconfig: &Path,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
) -> anyhow::Result<Verdict> {
    let plural = resource.split('.').next().unwrap_or(resource);
    let kubeconfig = kubeconfig.to_string_lossy();
    let mut args = vec![
        "--kubeconfig",
        kubeconfig.as_ref(),
        "--group",
        "khaibao.dev",
        "--version",
        "v1alpha1",
        "--resource",
        plural,
    ];
    if let Some(ns) = namespace {
        args.extend(["-n", ns]);
    }
    args.push(name);
    run("kstatus-check", &args, None)
}

/// kstatus' verdict on an object snapshot (a state seen once, which a later read may miss).
pub fn kstatus_of(object: &Value) -> anyhow::Result<Verdict> {
    run(
        "kstatus-check",
        &["--file", "-"],
        Some(object.to_string().as_bytes()),
    )
}

/// What Argo CD would show for `object` with the health script `script`.
pub fn argocd_health(script: &Path, object: &Value) -> anyhow::Result<Verdict> {
    let script = script.to_string_lossy();
    run(
        "argocd-health",
        &["--script", script.as_ref(), "--file", "-"],
        Some(object.to_string().as_bytes()),
    )
}
