//! The reform scenario's last guarantee: after the whole move no secret value of the platform
//! appears anywhere but in its Secrets.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::time::Duration;

use anyhow::{Context, ensure};
use kube::api::{Api, ListParams};

use super::{PLATFORM, khaibao};
use crate::{ControlPlane, Operator, assert_no_secret_leaks_in};

/// After the whole move, no generated or adopted secret value of the platform appears in the
/// operator's log or metrics, an Event, any Tenant, TenantSet or Platform, the output of any
/// CLI run of the scenario (plans, applies, approval, status), `khaibao render` and `khaibao
/// diff` of the successors, or the error of a refused apply.
pub async fn assert_no_secret_leak_anywhere(
    cp: &ControlPlane,
    client: &kube::Client,
    op: &Operator,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), PLATFORM);
    let selector = "app.kubernetes.io/managed-by=khaibao";
    let mut secrets = BTreeMap::new();
    for s in api
        .list(&ListParams::default().labels(selector))
        .await?
        .items
    {
        let name = s.metadata.name.clone().unwrap_or_default();
        secrets.insert(name, crate::secret_data(s));
    }
    ensure!(
        secrets.keys().any(|n| n.ends_with("-adopted")),
        "no -adopted Secret among {} to look for",
        secrets.len()
    );
    let render = khaibao(
        cp,
        [OsStr::new("render"), out.as_os_str()],
        Duration::from_secs(60),
    )?;
    render.expect(0)?;
    let diff = khaibao(
        cp,
        [OsStr::new("diff"), out.as_os_str()],
        Duration::from_secs(60),
    )?;
    ensure!(diff.code.is_some(), "khaibao diff was killed");
    let status = khaibao(
        cp,
        ["status", "--platform", PLATFORM],
        Duration::from_secs(60),
    )?;
    status.expect(0)?;
    // A refused apply: a successor's value outside the schema.
    let bad_dir = cp.state_dir.join("leak-bad");
    std::fs::create_dir_all(&bad_dir)?;
    let first = std::fs::read_dir(out)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "yaml"))
        .context("no successor file")?;
    let text = std::fs::read_to_string(&first)?;
    std::fs::write(
        bad_dir.join("bad.yaml"),
        text.replacen(
            "spec:",
            "spec:\n  values: {contact: {hotline: 7}}\n  x-unknown: 1",
            1,
        ),
    )?;
    let refused = khaibao(
        cp,
        [OsStr::new("apply"), bad_dir.as_os_str()],
        Duration::from_secs(60),
    )?;
    ensure!(refused.code != Some(0), "the broken apply was accepted");
    let mut more = vec![("operator /metrics".to_string(), op.metrics().await?)];
    for e in std::fs::read_dir(cp.state_dir.join("cli"))?.filter_map(Result::ok) {
        let path = e.path();
        if path
            .extension()
            .is_some_and(|x| x == "stdout" || x == "stderr")
        {
            more.push((path.display().to_string(), std::fs::read_to_string(&path)?));
        }
    }
    ensure!(
        more.len() > 10,
        "only {} CLI outputs to look in",
        more.len()
    );
    assert_no_secret_leaks_in(client, &secrets, &[op.log_path()], more).await
}
