//! The dichvucong portal (`platforms/dichvucong/portal`) as e2e runs it. These machines have no
//! kubelet, so the portal runs as a local process on 127.0.0.1, and its requests to the API
//! server are authorised as the ServiceAccount of `access.yaml` (impersonation, as the
//! least-privilege test does for the operator): a rule missing there fails here as in a pod.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::controlplane::ControlPlane;
use crate::http::{self, Reply};
use crate::operator::{free_port, portal_binary, tail};
use crate::workspace_root;

pub const NAMESPACE: &str = "dichvucong";
pub const SERVICE_ACCOUNT: &str = "dichvucong-portal";

/// How often a wait for a page polls: short, because time to online is measured with it.
const POLL: Duration = Duration::from_millis(20);

pub struct Portal {
    child: Option<Child>,
    addr: SocketAddr,
    log: PathBuf,
    pid_file: PathBuf,
}

impl Portal {
    /// Applies the platform owner's `access.yaml` (ServiceAccount, Role, RoleBinding), moved to
    /// `namespace`, and starts the portal as that ServiceAccount, serving the tenants of
    /// `platform`; returns once it has listed their objects.
    pub async fn start(
        cp: &ControlPlane,
        name: &str,
        namespace: &str,
        platform: &str,
    ) -> anyhow::Result<Portal> {
        let access = workspace_root().join("platforms/dichvucong/portal/access.yaml");
        let text = std::fs::read_to_string(&access)
            .with_context(|| format!("cannot read {}", access.display()))?;
        // The file's rules as they are; only where they apply moves, so a test platform in its
        // own namespace is granted exactly what dichvucong would be.
        let moved = text
            .replace(
                &format!("namespace: {NAMESPACE}\n"),
                &format!("namespace: {namespace}\n"),
            )
            .replace(
                &format!("  name: {NAMESPACE}\n"),
                &format!("  name: {namespace}\n"),
            );
        cp.kubectl_with_stdin(&["apply", "-f", "-"], Some(&moved))
            .with_context(|| format!("applying the portal's access.yaml in {namespace}"))?;
        let user = format!("system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}");
        let ns_group = format!("system:serviceaccounts:{namespace}");
        let groups = [
            "system:serviceaccounts",
            ns_group.as_str(),
            "system:authenticated",
        ];
        let kubeconfig = cp.write_kubeconfig_as(&format!("portal-{name}"), &user, &groups)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let log = cp.state_dir.join(format!("portal-{name}.log"));
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let bin = portal_binary()?;
        let child = Command::new(&bin)
            .args(["--listen", &addr.to_string(), "--namespace", namespace])
            .arg("--selector")
            .arg(format!(
                "khaibao.dev/platform={platform},khaibao.dev/tenant"
            ))
            .env("KUBECONFIG", &kubeconfig)
            .env_remove("TENANT_LABEL_SELECTOR")
            .env_remove("POD_NAMESPACE")
            .env("RUST_LOG", "info,kube=warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let pid_file = cp.state_dir.join(format!("portal-{name}.pid"));
        std::fs::write(&pid_file, child.id().to_string())?;
        let mut portal = Portal {
            child: Some(child),
            addr,
            log,
            pid_file,
        };
        portal.wait_ready(Duration::from_secs(60)).await?;
        Ok(portal)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id, for its /proc figures (the benchmark reads its peak RSS and CPU).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if let Some(c) = self.child.as_mut()
                && let Some(status) = c.try_wait()?
            {
                bail!(
                    "the portal exited ({status}) before it was ready:\n{}",
                    tail(&self.log(), 20)
                );
            }
            if let Ok(r) = http::get(self.addr, "/readyz", &[]).await
                && r.status == 200
            {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!(
                    "the portal was not ready after {timeout:?}:\n{}",
                    tail(&self.log(), 20)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET path` as a browser asking for `host`.
    pub async fn get(&self, host: &str, path: &str) -> anyhow::Result<Reply> {
        http::get(self.addr, path, &[("host", host)]).await
    }

    /// `GET path` on `host` with `Authorization: Bearer <key>`.
    pub async fn get_with_key(&self, host: &str, path: &str, key: &str) -> anyhow::Result<Reply> {
        let auth = format!("Bearer {key}");
        http::get(self.addr, path, &[("host", host), ("authorization", &auth)]).await
    }

    /// Polls `host`'s page until `ok` holds for it; returns how long that took and the reply.
    /// Fails after `timeout` with the last status and body start, so a wrong page is shown.
    pub async fn wait_for_page(
        &self,
        host: &str,
        timeout: Duration,
        ok: impl Fn(&Reply) -> bool,
    ) -> anyhow::Result<(Duration, Reply)> {
        let start = Instant::now();
        loop {
            let reply = self.get(host, "/").await?;
            if ok(&reply) {
                return Ok((start.elapsed(), reply));
            }
            if start.elapsed() > timeout {
                let head: String = reply.body.chars().take(400).collect();
                bail!(
                    "{host} did not serve the expected page within {timeout:?}; last answer {}:\n{head}",
                    reply.status
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The portal's `/metrics` text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        Ok(http::get(self.addr, "/metrics", &[]).await?.body)
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.pid_file);
    }
}
