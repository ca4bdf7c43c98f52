//! A private control plane per test binary (or per destructive test), started and stopped with
//! the project's scripts in a fresh temp state dir, so several test binaries can run side by side.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::{e2e_dir, workspace_root};

/// The Lease namespace the operator uses.
pub const LEASE_NAMESPACE: &str = "khaibao-system";

pub struct ControlPlane {
    /// `STATE_DIR`: certificates, `logs/`, `pids/`, the kubeconfig and the operators' logs.
    pub state_dir: PathBuf,
    pub kubeconfig: PathBuf,
    /// Where `kubectl` and `helm` are.
    pub bin_dir: PathBuf,
    failed: AtomicBool,
    stopped: AtomicBool,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `tenants-1a2b3c` from `/…/deps/tenants-1a2b3c4d5e`: names the state dir after the test binary.
fn binary_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| s.split('-').next().unwrap_or("e2e").to_string())
        .unwrap_or_else(|| "e2e".into())
}

pub(crate) fn run_script(
    script: &Path,
    args: &[&OsStr],
    log: Option<&Path>,
) -> anyhow::Result<String> {
    let stderr = match log {
        Some(path) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?,
        ),
        None => Stdio::inherit(),
    };
    let out = Command::new(script)
        .args(args)
        .stdin(Stdio::null())
        .stderr(stderr)
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let tail = log
            .and_then(|l| std::fs::read_to_string(l).ok())
            .map(|t| {
                let lines: Vec<&str> = t.lines().collect();
                lines[lines.len().saturating_sub(40)..].join("\n")
            })
            .unwrap_or_default();
        bail!(
            "{} {:?} failed ({}):\n{stdout}\n{tail}",
            script.display(),
            args,
            out.status
        );
    }
    Ok(stdout)
}

/// Runs an `e2e/build-*.sh` script and returns the bin directory it prints last (cached by the
/// script, so a warm run is quick). The error is text, so callers can keep it in a `OnceLock`.
pub(crate) fn built_bin_dir(script: &str) -> Result<PathBuf, String> {
    let out =
        run_script(&crate::e2e_dir().join(script), &[], None).map_err(|e| format!("{e:#}"))?;
    last_line(&out)
        .map(PathBuf::from)
        .ok_or_else(|| format!("{script} printed no bin directory"))
}

pub(crate) fn last_line(s: &str) -> Option<&str> {
    s.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// True if `pid` is alive (not a zombie) and its command line contains `needle`.
pub(crate) fn pid_runs(pid: u32, needle: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Field 3 (after the parenthesized command) is the state; Z is a zombie.
    let zombie = stat
        .rsplit_once(") ")
        .is_some_and(|(_, rest)| rest.starts_with('Z'));
    !zombie && String::from_utf8_lossy(&cmdline).contains(needle)
}

/// The chart's MutatingAdmissionPolicy that adds the operator's finalizer to new Tenants.
pub const TENANT_FINALIZER_POLICY: &str = "charts/khaibao/templates/tenant-finalizer-policy.yaml";

impl ControlPlane {
    /// Starts a control plane in a fresh temp state dir, installs the CRDs from
    /// `charts/khaibao/crds/` and the chart's tenant finalizer policy, and creates the Lease
    /// namespace `khaibao-system`.
    pub fn start() -> anyhow::Result<ControlPlane> {
        let e2e = e2e_dir();
        let built = run_script(&e2e.join("build-controlplane.sh"), &[], None)?;
        let bin_dir = PathBuf::from(
            last_line(&built).context("build-controlplane.sh printed no bin directory")?,
        );
        let base = std::env::var_os("KHAIBAO_E2E_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let state_dir = base.join(format!(
            "khaibao-e2e.{}.{}.{}",
            binary_name(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        if state_dir.exists() {
            std::fs::remove_dir_all(&state_dir)?;
        }
        std::fs::create_dir_all(&state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        let cp = ControlPlane {
            kubeconfig: state_dir.join("kubeconfig"),
            state_dir,
            bin_dir,
            failed: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        };
        // From here on, dropping `cp` (on any error below) stops whatever was started; the
        // state dir (logs) is kept.
        match cp.set_up() {
            Ok(()) => Ok(cp),
            Err(e) => {
                cp.mark_failed();
                Err(e)
            }
        }
    }

    fn set_up(&self) -> anyhow::Result<()> {
        let (cp, e2e) = (self, e2e_dir());
        cp.spawn_watchdog()?;
        let started = Instant::now();
        let out = run_script(
            &e2e.join("start-controlplane.sh"),
            &[cp.state_dir.as_os_str()],
            Some(&cp.state_dir.join("controlplane.log")),
        )?;
        let kubeconfig = last_line(&out).context("start-controlplane.sh printed nothing")?;
        anyhow::ensure!(
            Path::new(kubeconfig) == cp.kubeconfig,
            "start-controlplane.sh printed {kubeconfig}, expected {}",
            cp.kubeconfig.display()
        );
        let crds = workspace_root().join("charts/khaibao/crds");
        cp.kubectl(&["apply", "--server-side", "-f", &crds.to_string_lossy()])?;
        cp.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/platforms.khaibao.dev",
            "crd/tenants.khaibao.dev",
            "crd/tenantsets.khaibao.dev",
        ])?;
        cp.kubectl(&["create", "namespace", LEASE_NAMESPACE])?;
        // As the chart installs it: the API server gives each new Tenant the operator's
        // finalizer, saving the operator one write per tenant.
        cp.kubectl(&[
            "apply",
            "--server-side",
            "-f",
            &workspace_root()
                .join(TENANT_FINALIZER_POLICY)
                .to_string_lossy(),
        ])?;
        eprintln!(
            "[e2e] control plane ready in {:.1?} (state dir {})",
            started.elapsed(),
            cp.state_dir.display()
        );
        Ok(())
    }

    /// If the test process dies without cleaning up (SIGKILL, Ctrl-C), a detached watchdog stops
    /// the operators and portals it recorded and the control plane.
    fn spawn_watchdog(&self) -> anyhow::Result<()> {
        const SCRIPT: &str = r#"
            test_pid="$1"; state="$2"; e2e="$3"
            while kill -0 "$test_pid" 2>/dev/null && [[ -d "$state" ]]; do sleep 1; done
            [[ -d "$state" ]] || exit 0
            for f in "$state"/operator-*.pid "$state"/portal-*.pid; do
                [[ -f "$f" ]] || continue
                pid="$(cat "$f")"
                if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE 'khaibao-operator|dichvucong-portal'; then
                    kill -KILL "$pid" 2>/dev/null || true
                fi
                rm -f "$f"
            done
            if [[ -d "$state/pids" ]]; then "$e2e/stop-controlplane.sh" "$state" >/dev/null 2>&1 || true; fi
        "#;
        Command::new("setsid")
            .arg("bash")
            .arg("-c")
            .arg(SCRIPT)
            .arg("khaibao-e2e-watchdog")
            .arg(std::process::id().to_string())
            .arg(&self.state_dir)
            .arg(e2e_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the watchdog (setsid bash)")?;
        Ok(())
    }

    /// A kube client with the admin kubeconfig.
    pub async fn client(&self) -> anyhow::Result<Client> {
        let kc = Kubeconfig::read_from(&self.kubeconfig)?;
        let mut config =
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
        config.read_timeout = Some(Duration::from_secs(30));
        Ok(Client::try_from(config)?)
    }

    /// The admin kubeconfig with impersonation of `user` in `groups` added (`as`, `as-groups`):
    /// what a client sends is authorised as that user, as if it had logged in as them. The
    /// admin certificate (group `system:masters`) may impersonate anyone.
    pub fn kubeconfig_as(&self, user: &str, groups: &[&str]) -> anyhow::Result<Kubeconfig> {
        let mut kc = Kubeconfig::read_from(&self.kubeconfig)?;
        for named in &mut kc.auth_infos {
            let auth = named.auth_info.get_or_insert_with(Default::default);
            auth.impersonate = Some(user.to_string());
            auth.impersonate_groups = Some(groups.iter().map(|g| g.to_string()).collect());
        }
        Ok(kc)
    }

    /// Writes [`ControlPlane::kubeconfig_as`] into the state dir as `kubeconfig-<file>` (JSON,
    /// which every kubeconfig reader accepts) and returns its path.
    pub fn write_kubeconfig_as(
        &self,
        file: &str,
        user: &str,
        groups: &[&str],
    ) -> anyhow::Result<PathBuf> {
        let path = self.state_dir.join(format!("kubeconfig-{file}"));
        let kc = self.kubeconfig_as(user, groups)?;
        std::fs::write(&path, serde_json::to_string_pretty(&kc)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// A kube client acting as `user` in `groups` (impersonation).
    pub async fn client_as(&self, user: &str, groups: &[&str]) -> anyhow::Result<Client> {
        let kc = self.kubeconfig_as(user, groups)?;
        let mut config =
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
        config.read_timeout = Some(Duration::from_secs(30));
        Ok(Client::try_from(config)?)
    }

    /// Runs `helm` (for `helm template`; it never talks to the cluster here).
    pub fn helm(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(self.bin_dir.join("helm"))
            .args(args)
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .output()
            .context("cannot run helm")?;
        if !out.status.success() {
            bail!(
                "helm {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `kubectl` against this cluster; fails with its stderr on a non-zero exit.
    pub fn kubectl(&self, args: &[&str]) -> anyhow::Result<String> {
        self.kubectl_with_stdin(args, None)
    }

    /// Runs `kubectl` with `stdin` as its input (e.g. `apply -f -`).
    pub fn kubectl_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
        let mut child = Command::new(self.bin_dir.join("kubectl"))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run kubectl")?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "kubectl {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn pid_of(&self, component: &str) -> anyhow::Result<u32> {
        let file = self.state_dir.join("pids").join(format!("{component}.pid"));
        let pid = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        Ok(pid.trim().parse()?)
    }

    /// Kills a component (SIGKILL, by the PID in `pids/COMPONENT.pid`) and waits until it is
    /// gone. The other components keep running.
    fn kill_component(&self, component: &str) -> anyhow::Result<()> {
        let pid = self.pid_of(component)?;
        let needle = format!("/{component}");
        anyhow::ensure!(
            pid_runs(pid, &needle),
            "pid {pid} is not a running {component}"
        );
        // SAFETY: kill(2) on a PID we just checked runs our component.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while pid_runs(pid, &needle) {
            anyhow::ensure!(
                Instant::now() < deadline,
                "{component} (pid {pid}) survived SIGKILL"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Starts a component again with its recorded command line plus `flags`
    /// (`e2e/restart-component.sh`) and waits until it is ready.
    fn restart_component(&self, component: &str, flags: &[&str]) -> anyhow::Result<()> {
        let args: Vec<&OsStr> = [self.state_dir.as_os_str(), OsStr::new(component)]
            .into_iter()
            .chain(flags.iter().map(OsStr::new))
            .collect();
        run_script(
            &e2e_dir().join("restart-component.sh"),
            &args,
            Some(&self.state_dir.join("controlplane.log")),
        )?;
        Ok(())
    }

    /// Kills the API server and waits until it is gone. etcd and the controller manager keep
    /// running.
    pub fn kill_apiserver(&self) -> anyhow::Result<()> {
        self.kill_component("kube-apiserver")
    }

    /// Starts the API server again with the same flags and waits until it is ready.
    pub fn restart_apiserver(&self) -> anyhow::Result<()> {
        self.restart_apiserver_with(&[])
    }

    /// Restarts the API server with `flags` added to its command line, for this start only
    /// (`--max-requests-inflight=2`: an API server that sheds load with 429s).
    pub fn restart_apiserver_with(&self, flags: &[&str]) -> anyhow::Result<()> {
        self.restart_component("kube-apiserver", flags)
    }

    /// Kills etcd and waits until it is gone: the API server stays up and answers errors (and
    /// its watches stall) until etcd is back.
    pub fn kill_etcd(&self) -> anyhow::Result<()> {
        self.kill_component("etcd")
    }

    /// Starts etcd again on its data directory and waits for `/health`.
    pub fn restart_etcd(&self) -> anyhow::Result<()> {
        self.restart_component("etcd", &[])
    }

    /// Keeps the state dir (logs) when the control plane is stopped, with a dump of the khaibao
    /// objects, the Lease and the Events in `cluster-dump.yaml` (once).
    pub fn mark_failed(&self) {
        if self.failed.swap(true, Ordering::SeqCst) || self.stopped.load(Ordering::SeqCst) {
            return;
        }
        let mut dump = String::new();
        for args in [
            &["get", "platforms,tenants,tenantsets", "-A", "-o", "yaml"][..],
            &["get", "leases", "-n", LEASE_NAMESPACE, "-o", "yaml"],
            &["get", "events", "-A", "-o", "yaml"],
        ] {
            match self.kubectl(args) {
                Ok(out) => dump.push_str(&out),
                Err(e) => dump.push_str(&format!("# {e:#}\n")),
            }
            dump.push_str("\n---\n");
        }
        let _ = std::fs::write(self.state_dir.join("cluster-dump.yaml"), dump);
    }

    /// Kills any operator still recorded in the state dir, stops the control plane and removes
    /// the state dir (kept when a test failed or `KHAIBAO_E2E_KEEP` is set). Idempotent.
    pub fn shutdown(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Ok(entries) = std::fs::read_dir(&self.state_dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !(name.starts_with("operator-") && name.ends_with(".pid")) {
                    continue;
                }
                if let Some(pid) = std::fs::read_to_string(entry.path())
                    .ok()
                    .and_then(|p| p.trim().parse::<u32>().ok())
                    && pid_runs(pid, "khaibao-operator")
                {
                    // SAFETY: kill(2) on an operator process this harness started.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
                let _ = std::fs::remove_file(entry.path());
            }
        }
        if let Err(e) = run_script(
            &e2e_dir().join("stop-controlplane.sh"),
            &[self.state_dir.as_os_str()],
            Some(&self.state_dir.join("controlplane.log")),
        ) {
            eprintln!("[e2e] stopping the control plane failed: {e:#}");
            self.mark_failed();
        }
        let keep = std::env::var_os("KHAIBAO_E2E_KEEP").is_some_and(|v| !v.is_empty() && v != "0");
        if self.failed.load(Ordering::SeqCst) || keep {
            eprintln!("[e2e] state dir kept: {}", self.state_dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.state_dir);
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.mark_failed();
        }
        self.shutdown();
    }
}
