//! Headless Chromium rendering a page the CLI wrote (the HTML report), and the folder where
//! such artifacts are kept for CI. A missing browser is a failure, never a skip: a page is only
//! tested when a browser renders it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};

use crate::target_dir;

/// Where test artifacts go (kept for CI): `KHAIBAO_ARTIFACTS_DIR`, else `<target>/artifacts`.
pub fn artifacts_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os("KHAIBAO_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("artifacts"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Chromium: `KHAIBAO_CHROMIUM`, else `chromium` or `chromium-browser` on PATH.
pub fn chromium() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("KHAIBAO_CHROMIUM") {
        let p = PathBuf::from(p);
        ensure!(
            p.is_file(),
            "KHAIBAO_CHROMIUM={} does not exist",
            p.display()
        );
        return Ok(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            if dir.join(name).is_file() {
                return Ok(dir.join(name));
            }
        }
    }
    bail!(
        "chromium is not installed, and the HTML report test needs it to render the page: run \
         scripts/ensure-tools.sh (apt-get install chromium) or set KHAIBAO_CHROMIUM"
    )
}

/// Runs headless Chromium on `page` with `args` and the profile folder `profile`; returns its
/// stdout.
pub fn run_chromium(page: &Path, profile: &Path, args: &[String]) -> anyhow::Result<String> {
    let mut cmd = Command::new(chromium()?);
    cmd.args([
        "--headless",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args);
    // Chromium refuses to start as root with its sandbox (CI and this machine run as root);
    // the page is our own self-contained file, without scripts.
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        cmd.arg("--no-sandbox");
    }
    let out = cmd
        .arg(format!("file://{}", page.display()))
        .output()
        .context("cannot run chromium")?;
    ensure!(
        out.status.success(),
        "chromium failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A fresh (emptied) folder `name` in `parent`, e.g. a browser profile in the state dir.
pub fn fresh_dir(parent: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = parent.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
