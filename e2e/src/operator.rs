//! The real `khaibao-operator` binary as a child process: JSON logs in the state dir, metrics on
//! a free port, kill -9 and restart.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::controlplane::{ControlPlane, LEASE_NAMESPACE};
use crate::workspace_root;

const BUILD_COMMAND: &str = "cargo build -p khaibao-cli -p dichvucong-portal && cargo build -p khaibao --features operator --bin khaibao-operator";

/// How one operator replica runs.
#[derive(Clone, Debug)]
pub struct OperatorOptions {
    /// `--identity` in the Lease; also names its log file `operator-<identity>.log`.
    pub identity: String,
    /// Without it the operator runs with `--no-leader-election`.
    pub leader_election: bool,
    /// `--resync-seconds`, when set.
    pub resync_seconds: Option<u64>,
    /// Further flags.
    pub extra_args: Vec<String>,
    /// Another operator binary than [`operator_binary`] (an earlier build, for upgrades).
    pub bin: Option<PathBuf>,
    /// Run as this user and groups instead of the admin (impersonation, see
    /// [`OperatorOptions::as_service_account`]).
    pub impersonate: Option<(String, Vec<String>)>,
}

impl OperatorOptions {
    /// A replica with leader election, as in production.
    pub fn new(identity: &str) -> Self {
        OperatorOptions {
            identity: identity.to_string(),
            leader_election: true,
            resync_seconds: None,
            extra_args: Vec::new(),
            bin: None,
            impersonate: None,
        }
    }

    /// Runs the operator with the identity a Pod of ServiceAccount `namespace/name` gets: user
    /// `system:serviceaccount:<namespace>:<name>` in the groups `system:serviceaccounts`,
    /// `system:serviceaccounts:<namespace>` and `system:authenticated`. Its kubeconfig is the
    /// admin one with impersonation, so every request is authorised exactly as that
    /// ServiceAccount's RBAC allows.
    pub fn as_service_account(mut self, namespace: &str, name: &str) -> Self {
        self.impersonate = Some((
            format!("system:serviceaccount:{namespace}:{name}"),
            vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
        ));
        self
    }

    pub fn resync_seconds(mut self, seconds: u64) -> Self {
        self.resync_seconds = Some(seconds);
        self
    }
}

/// The cargo target dir: `CARGO_TARGET_DIR` (relative to the workspace root) or `target/`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_relative() {
                workspace_root().join(t)
            } else {
                t
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The operator binary: `KHAIBAO_OPERATOR_BIN`, else `target/debug/khaibao-operator` (under
/// `CARGO_TARGET_DIR` when set). This crate never builds it.
pub fn operator_binary() -> anyhow::Result<PathBuf> {
    built_binary("KHAIBAO_OPERATOR_BIN", "khaibao-operator")
}

/// The CLI binary: `KHAIBAO_CLI_BIN`, else `target/debug/khaibao` (under `CARGO_TARGET_DIR`
/// when set). This crate never builds it.
pub fn cli_binary() -> anyhow::Result<PathBuf> {
    built_binary("KHAIBAO_CLI_BIN", "khaibao")
}

/// The dichvucong portal: `KHAIBAO_PORTAL_BIN`, else `target/debug/dichvucong-portal`. This
/// crate never builds it.
pub fn portal_binary() -> anyhow::Result<PathBuf> {
    built_binary("KHAIBAO_PORTAL_BIN", "dichvucong-portal")
}

fn built_binary(env: &str, name: &str) -> anyhow::Result<PathBuf> {
    let path = match std::env::var_os(env) {
        Some(p) => PathBuf::from(p),
        None => target_dir().join("debug").join(name),
    };
    if !path.is_file() {
        bail!(
            "{} does not exist; build it first with `{BUILD_COMMAND}` (or point {env} at one)",
            path.display()
        );
    }
    Ok(path)
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// One operator replica. Killed on drop.
pub struct Operator {
    bin: PathBuf,
    kubeconfig: PathBuf,
    state_dir: PathBuf,
    pub opts: OperatorOptions,
    child: Option<Child>,
    metrics_addr: SocketAddr,
    /// How many times the process was started.
    pub starts: u32,
}

impl Operator {
    /// Starts `khaibao-operator --metrics-addr 127.0.0.1:<free port> --log-format json ...`.
    pub fn start(cp: &ControlPlane, opts: OperatorOptions) -> anyhow::Result<Operator> {
        let kubeconfig = match &opts.impersonate {
            Some((user, groups)) => {
                let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
                cp.write_kubeconfig_as(&format!("operator-{}", opts.identity), user, &groups)?
            }
            None => cp.kubeconfig.clone(),
        };
        let mut op = Operator {
            bin: operator_binary()?,
            kubeconfig,
            state_dir: cp.state_dir.clone(),
            opts,
            child: None,
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            starts: 0,
        };
        op.spawn()?;
        Ok(op)
    }

    /// The log file (stdout and stderr of every start, appended).
    pub fn log_path(&self) -> PathBuf {
        self.state_dir
            .join(format!("operator-{}.log", self.opts.identity))
    }

    fn pid_path(&self) -> PathBuf {
        self.state_dir
            .join(format!("operator-{}.pid", self.opts.identity))
    }

    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    pub fn identity(&self) -> &str {
        &self.opts.identity
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "operator already running");
        self.metrics_addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut args: Vec<String> = vec![
            "--metrics-addr".into(),
            self.metrics_addr.to_string(),
            "--log-format".into(),
            "json".into(),
            "--identity".into(),
            self.opts.identity.clone(),
            "--lease-namespace".into(),
            LEASE_NAMESPACE.into(),
        ];
        if !self.opts.leader_election {
            args.push("--no-leader-election".into());
        }
        if let Some(s) = self.opts.resync_seconds {
            args.push("--resync-seconds".into());
            args.push(s.to_string());
        }
        args.extend(self.opts.extra_args.iter().cloned());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .with_context(|| format!("cannot open {}", self.log_path().display()))?;
        let child = Command::new(self.opts.bin.as_ref().unwrap_or(&self.bin))
            .args(&args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KHAIBAO_CONCURRENCY")
            .env_remove("KHAIBAO_WATCH_KINDS")
            .env_remove("KHAIBAO_RESYNC_SECONDS")
            .env_remove("KHAIBAO_LOG_FORMAT")
            .env_remove("POD_NAME")
            .env(
                "RUST_LOG",
                std::env::var("KHAIBAO_E2E_OPERATOR_LOG")
                    .unwrap_or_else(|_| "info,kube=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        std::fs::write(self.pid_path(), child.id().to_string())?;
        self.child = Some(child);
        self.starts += 1;
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still alive (it has not exited on its own).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// kill -9, and reap it.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            c.wait()?;
        }
        let _ = std::fs::remove_file(self.pid_path());
        Ok(())
    }

    /// SIGTERM (graceful: in-flight reconciles finish, the Lease is released); SIGKILL after
    /// 15 s. Returns whether it exited by itself, successfully, within those 15 s.
    pub fn terminate(&mut self) -> anyhow::Result<bool> {
        let mut graceful = true;
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(15);
            let mut status = None;
            while Instant::now() < deadline {
                if let Some(s) = c.try_wait()? {
                    status = Some(s);
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            graceful = status.is_some_and(|s| s.success());
            let _ = c.kill();
            c.wait()?;
        }
        let _ = std::fs::remove_file(self.pid_path());
        Ok(graceful)
    }

    /// kill -9 (if running) and start again with the same options.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill9()?;
        self.spawn()
    }

    /// Stops (kill -9 if running) and starts again with other options.
    pub fn restart_with(&mut self, opts: OperatorOptions) -> anyhow::Result<()> {
        self.kill9()?;
        self.opts = opts;
        self.spawn()
    }

    /// The process's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        http_get(self.metrics_addr, path).await
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let (code, body) = self.get("/metrics").await?;
        anyhow::ensure!(code == 200, "/metrics answered {code}: {body}");
        Ok(body)
    }

    /// `khaibao_api_writes_total` by verb (empty before the first write).
    pub async fn writes(&self) -> anyhow::Result<BTreeMap<String, f64>> {
        Ok(parse_counter(
            &self.metrics().await?,
            "khaibao_api_writes_total",
            "verb",
        ))
    }

    /// The sum of `khaibao_api_writes_total` over every verb.
    pub async fn total_writes(&self) -> anyhow::Result<f64> {
        Ok(self.writes().await?.values().sum())
    }

    /// Waits until the operator has made no write for 2 s: converged means done writing too (a
    /// status still queued would otherwise be left to the next process).
    pub async fn wait_idle(&self, timeout: Duration) -> anyhow::Result<()> {
        let mut last = self.total_writes().await?;
        crate::wait_until("the operator idle for 2 s", timeout, async || {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let now = self.total_writes().await?;
            let quiet = now == last;
            last = now;
            anyhow::ensure!(quiet, "still writing: {now} writes");
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// `khaibao_reconciles_total` by controller.
    pub async fn reconciles(&self) -> anyhow::Result<BTreeMap<String, f64>> {
        Ok(parse_counter(
            &self.metrics().await?,
            "khaibao_reconciles_total",
            "controller",
        ))
    }

    /// Waits until `/readyz` answers 200 (leader, owned objects indexed). Fails at once if the
    /// process exits.
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if let Some(pid) = self.pid()
                && exited(pid)
            {
                bail!(
                    "the operator exited; its log ({}):\n{}",
                    self.log_path().display(),
                    tail(&self.log(), 30)
                );
            }
            match self.get("/readyz").await {
                Ok((200, _)) => return Ok(()),
                Ok(_) | Err(_) if start.elapsed() < timeout => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Ok((code, body)) => bail!("/readyz still answers {code} {body}"),
                Err(e) => return Err(e.context("/readyz never answered")),
            }
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.kill9();
    }
}

/// Whether our child `pid` has exited (gone, or a zombie not reaped yet).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => true,
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `name{label="x"} value` lines of one counter family, by label value.
fn parse_counter(text: &str, name: &str, label: &str) -> BTreeMap<String, f64> {
    let prefix = format!("{name}{{");
    let key = format!("{label}=\"");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (labels, value) = rest.split_once("} ")?;
            let v = labels.split_once(&key)?.1.split('"').next()?.to_string();
            Some((v, value.trim().parse().ok()?))
        })
        .collect()
}

/// A minimal HTTP/1.1 GET (no client dependency needed for /metrics and /readyz).
async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        anyhow::Ok(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .context("timed out")??;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("malformed status line")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((code, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_are_parsed_by_label() {
        let text = "# HELP x\nkhaibao_api_writes_total{verb=\"apply\"} 12\n\
                    khaibao_api_writes_total{verb=\"patch\"} 3\nkhaibao_reconciles_total{controller=\"tenant\"} 7\n";
        let w = super::parse_counter(text, "khaibao_api_writes_total", "verb");
        assert_eq!(w.get("apply"), Some(&12.0));
        assert_eq!(w.values().sum::<f64>(), 15.0);
        assert_eq!(super::dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
    }
}
