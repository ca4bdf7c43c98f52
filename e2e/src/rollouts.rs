//! Steps of rollout scenarios shared by the rollout tests: edit a platform's template, read its
//! rollout, wait for a phase, run the CLI against the test's control plane.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, ensure};
use futures::StreamExt;
use khaibao::api::{Platform, RolloutStatus};
use kube::api::{Api, WatchEvent, WatchParams};
use serde_json::{Value, json};

use crate::{ControlPlane, Scope, khaibao, wait_until};

/// Runs `khaibao ARGS --kubeconfig KUBECONFIG` of `cp`; returns stdout, fails unless it exits 0
/// (with its stdout and stderr).
pub fn khaibao_stdout(cp: &ControlPlane, args: &[&str]) -> anyhow::Result<String> {
    let kubeconfig = cp.kubeconfig.display().to_string();
    let args = args.iter().copied().chain(["--kubeconfig", &kubeconfig]);
    let run = khaibao(cp, args, Duration::from_secs(60))?;
    Ok(run.expect(0)?.stdout.clone())
}

/// Appends `line` to the tenant template `config.yaml.hbs` of a platform manifest.
pub fn edit_config_template(manifest: &mut Value, line: &str) -> anyhow::Result<()> {
    let templates = manifest["spec"]["templates"]["tenant"]
        .as_array_mut()
        .context("no tenant templates")?;
    let config = templates
        .iter_mut()
        .find(|t| t["name"] == "config.yaml.hbs")
        .context("no config.yaml.hbs")?;
    let text = config["template"].as_str().unwrap_or_default().to_string();
    config["template"] = json!(format!("{}\n{line}\n", text.trim_end()));
    Ok(())
}

pub async fn rollout(s: &Scope) -> anyhow::Result<(Platform, RolloutStatus)> {
    let p = s.get_platform().await?.context("platform missing")?;
    let r = p
        .status
        .as_ref()
        .and_then(|st| st.rollout.clone())
        .context("no rollout in the platform's status")?;
    Ok((p, r))
}

pub async fn wait_phase(
    s: &Scope,
    to: &str,
    phase: &str,
    timeout: Duration,
) -> anyhow::Result<RolloutStatus> {
    wait_until(&format!("rollout to {to} {phase}"), timeout, async || {
        let (_, r) = rollout(s).await?;
        ensure!(
            r.to == to && r.phase == phase,
            "rollout {} → {} is {} at wave {}/{}: {}",
            r.from,
            r.to,
            r.phase,
            r.waves_started,
            r.waves,
            r.message.unwrap_or_default()
        );
        Ok(())
    })
    .await?;
    Ok(rollout(s).await?.1)
}

/// What a watch of the scope's Platform alone needs: the API, the parameters (the API server
/// ends it after 290 s) and the resourceVersion to start from, the Platform's current one.
pub async fn platform_watch(s: &Scope) -> anyhow::Result<(Api<Platform>, WatchParams, String)> {
    let api: Api<Platform> = Api::all(s.client.clone());
    let rv = s
        .get_platform()
        .await?
        .and_then(|p| p.metadata.resource_version)
        .context("platform has no resourceVersion")?;
    let params = WatchParams::default()
        .fields(&format!("metadata.name={}", s.platform))
        .timeout(290);
    Ok((api, params, rv))
}

/// The rollouts a Platform's status carried, one per write seen, in write order.
pub type Seen = Arc<Mutex<Vec<RolloutStatus>>>;

/// Records the rollout of every Platform status written from now on: a watch sees each write,
/// and one that the API server ends (its timeout) goes on from the last version it saw.
pub async fn record_rollouts(s: &Scope) -> anyhow::Result<Seen> {
    let (api, params, mut rv) = platform_watch(s).await?;
    let seen: Seen = Default::default();
    let sink = seen.clone();
    let mut stream = api.watch(&params, &rv).await?.boxed();
    tokio::spawn(async move {
        loop {
            while let Some(Ok(WatchEvent::Modified(p))) = stream.next().await {
                rv = p.metadata.resource_version.clone().unwrap_or(rv);
                if let Some(r) = p.status.and_then(|st| st.rollout)
                    && let Ok(mut v) = sink.lock()
                {
                    v.push(r);
                }
            }
            match api.watch(&params, &rv).await {
                Ok(next) => stream = next.boxed(),
                Err(_) => return,
            }
        }
    });
    Ok(seen)
}
