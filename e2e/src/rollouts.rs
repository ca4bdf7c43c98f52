//! Steps of rollout scenarios shared by the rollout tests: edit a platform's template, read its
//! rollout, wait for a phase, run the CLI against the test's control plane.

use std::time::Duration;

use anyhow::{Context, ensure};
use khaibao::api::{Platform, RolloutStatus};
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
