//! The health readers on fixed objects, no cluster: the real kstatus library and the chart's
//! Argo CD script under gopher-lua, on one object per state the operator publishes
//! (`e2e/fixtures/health/`). The live counterpart is `ecosystem_health.rs`.

use anyhow::Context;
use khaibao_e2e::peers::{argocd_health, kstatus_of};
use khaibao_e2e::workspace_root;

/// Fixture, what kstatus says, what Argo CD shows.
const CASES: &[(&str, &str, &str)] = &[
    ("tenant-ready", "Current", "Healthy"),
    ("tenant-reconciling", "InProgress", "Progressing"),
    ("tenant-not-ready", "InProgress", "Progressing"),
    ("tenant-stalled", "Failed", "Degraded"),
    ("tenant-stale-generation", "InProgress", "Progressing"),
    ("tenant-deleting", "Terminating", "Progressing"),
    // No status at all: kstatus' own gap (Current); the script waits for the operator.
    ("tenant-new", "Current", "Progressing"),
    ("tenantset-prune-held", "Failed", "Degraded"),
    ("platform-rolling-out", "InProgress", "Progressing"),
    ("platform-awaiting-approval", "Current", "Suspended"),
];

#[test]
fn each_published_state_reads_as_kstatus_and_argo_cd_expect() -> anyhow::Result<()> {
    let dir = workspace_root().join("e2e/fixtures/health");
    let script = workspace_root().join("charts/khaibao/argocd/health.lua");
    let mut wrong = Vec::new();
    for (fixture, kstatus, argo) in CASES {
        let path = dir.join(format!("{fixture}.json"));
        let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
        let object = serde_json::from_str(&text).with_context(|| path.display().to_string())?;
        let k = kstatus_of(&object)?;
        let a = argocd_health(&script, &object)?;
        eprintln!(
            "{fixture}: kstatus {} ({}); Argo CD {} ({})",
            k.status, k.message, a.status, a.message
        );
        if k.status != *kstatus || a.status != *argo {
            wrong.push(format!(
                "{fixture}: kstatus {} (want {kstatus}), Argo CD {} (want {argo})",
                k.status, a.status
            ));
        }
        // The operator's words reach the reader whenever there is a condition to read.
        if *argo == "Degraded" {
            let stalled = object["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Stalled"))
                .and_then(|c| c["message"].as_str())
                .unwrap_or_default();
            if a.message != stalled || k.message != stalled {
                wrong.push(format!(
                    "{fixture}: messages {:?} / {:?}, want {stalled:?}",
                    k.message, a.message
                ));
            }
        }
    }
    anyhow::ensure!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}

/// A script error is Argo CD's error too: the harness reports it instead of a status.
#[test]
fn a_failing_script_is_an_error_not_a_status() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("khaibao-health-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let broken = dir.join("broken.lua");
    std::fs::write(
        &broken,
        "local hs = {}\nhs.status = obj.status.nope.deeper\nreturn hs\n",
    )?;
    let result = argocd_health(&broken, &serde_json::json!({"metadata": {}, "status": {}}));
    std::fs::remove_dir_all(&dir).ok();
    anyhow::ensure!(result.is_err(), "a failing script gave {result:?}");
    Ok(())
}
