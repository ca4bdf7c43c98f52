//! The chart's province isolation as a cluster operator installs it (`helm template
//! charts/khaibao` piped to `kubectl apply`): the province admission policy and one grant per
//! province, and the refusals a provincial user gets, read from the API server's answer.

use std::time::Duration;

use anyhow::{bail, ensure};
use khaibao::api::Tenant;
use kube::api::{Api, PostParams};
use kube::core::Status;
use serde_json::{Value, json};

use crate::{ControlPlane, wait_until};

/// The province admission policy and a grant of `tinh-<code>` to `group` for each
/// `(code, group)`, from `helm template`; waits until the policy refuses a unit of another
/// province in `tinh-<first code>`.
pub async fn install_province_policy(
    cp: &ControlPlane,
    grants: &[(&str, &str)],
) -> anyhow::Result<()> {
    let Some((first, _)) = grants.first() else {
        bail!("no province grant to install");
    };
    let set: Vec<String> = grants
        .iter()
        .enumerate()
        .map(|(i, (code, group))| {
            format!("provinceGrants[{i}].code={code},provinceGrants[{i}].group={group}")
        })
        .collect();
    let rendered = cp.helm(&[
        "template",
        "kb",
        "charts/khaibao",
        "-n",
        "khaibao-system",
        "--show-only",
        "templates/admission-policy.yaml",
        "--show-only",
        "templates/province-grants.yaml",
        "--set-string",
        &set.join(","),
    ])?;
    ensure!(
        rendered.contains("kind: ValidatingAdmissionPolicy")
            && rendered.contains(&format!("name: tinh-{first}")),
        "helm template rendered no policy or grants:\n{rendered}"
    );
    cp.kubectl_with_stdin(&["apply", "-f", "-"], Some(&rendered))?;
    // Admission policies take effect asynchronously: probe with a server dry run as the admin
    // (RBAC lets the admin do anything, so only the policy can refuse it).
    let other = if *first == "79" { "01" } else { "79" };
    let probe = tenant_of(
        &format!("tinh-{first}"),
        "probe",
        json!({"level": "province", "code": other, "name": "probe"}),
    );
    let admin: Api<Tenant> = Api::namespaced(cp.client().await?, &format!("tinh-{first}"));
    wait_until(
        "the province admission policy is enforced",
        Duration::from_secs(30),
        async || match admin.create(&dry_run(), &probe).await {
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(()),
            other => bail!("not refused yet: {other:?}"),
        },
    )
    .await?;
    Ok(())
}

/// A Tenant of `dichvucong` for `unit`, with no values.
pub fn tenant_of(namespace: &str, name: &str, unit: Value) -> Tenant {
    serde_json::from_value(json!({
        "apiVersion": "khaibao.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"platform": "dichvucong", "unit": unit},
    }))
    .expect("a valid Tenant")
}

/// Create parameters for a server dry run: admitted or refused, nothing is stored.
pub fn dry_run() -> PostParams {
    PostParams {
        dry_run: true,
        ..Default::default()
    }
}

/// The API server's refusal of `result`, or an error if it was accepted or failed otherwise.
pub fn refusal<T: std::fmt::Debug>(
    what: &str,
    result: Result<T, kube::Error>,
) -> anyhow::Result<Status> {
    match result {
        Err(kube::Error::Api(status)) => Ok(*status),
        Err(e) => bail!("{what}: expected a refusal by the API server, got {e:#}"),
        Ok(v) => bail!("{what}: expected a refusal, but it was accepted: {v:?}"),
    }
}
