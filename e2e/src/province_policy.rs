//! The chart's province isolation as a cluster operator installs it (`helm template
//! charts/khaibao` piped to `kubectl apply`): the province admission policy and one grant per
//! province, the platform a province must not see into, and the refusals a provincial user
//! gets, read from the API server's answer.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use khaibao::api::{Platform, Tenant};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::Status;
use serde_json::{Value, json};

use crate::{ControlPlane, PLATFORM_DIR, platform_manifest, wait_until, workspace_root};

/// The platform the chart's isolation is shown on, under its real name and namespace.
pub const PLATFORM: &str = "dichvucong";
/// The Secret [`install_platform_with_a_secret`] puts in the platform namespace.
pub const PLATFORM_SECRET: &str = "ha-noi-api-key";

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
            && grants
                .iter()
                .all(|(code, _)| rendered.contains(&format!("name: tinh-{code}"))),
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
        "spec": {"platform": PLATFORM, "unit": unit},
    }))
    .expect("a valid Tenant")
}

/// A Tenant of `dichvucong` for `unit`, with these values.
pub fn tenant_with_values(namespace: &str, name: &str, unit: Value, values: Value) -> Tenant {
    serde_json::from_value(json!({
        "apiVersion": "khaibao.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"platform": PLATFORM, "unit": unit, "values": values},
    }))
    .expect("a valid Tenant")
}

/// The platform `dichvucong` (as `khaibao platform build` makes it), its namespace and the
/// Secret [`PLATFORM_SECRET`] in it, created by the admin. No operator is needed. Returns the
/// platform's manifest.
pub async fn install_platform_with_a_secret(cp: &ControlPlane) -> anyhow::Result<Value> {
    let manifest = platform_manifest(&workspace_root().join(PLATFORM_DIR), PLATFORM, PLATFORM)?;
    let platforms: Api<Platform> = Api::all(cp.client().await?);
    platforms
        .patch(
            PLATFORM,
            &PatchParams::apply("khaibao-e2e"),
            &Patch::Apply(&manifest),
        )
        .await
        .context("applying the platform")?;
    cp.kubectl(&["create", "namespace", PLATFORM])?;
    cp.kubectl(&[
        "create",
        "secret",
        "generic",
        PLATFORM_SECRET,
        "-n",
        PLATFORM,
        "--from-literal=token=not-for-provincial-eyes",
    ])?;
    Ok(manifest)
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

/// Asserts an RBAC refusal of `user`: 403 Forbidden, naming the user and the resource (and the
/// namespace, when given).
pub fn assert_forbidden(
    what: &str,
    status: &Status,
    user: &str,
    resource: &str,
    namespace: Option<&str>,
) {
    assert_eq!(status.code, 403, "{what}: {status:?}");
    assert_eq!(status.reason, "Forbidden", "{what}: {status:?}");
    assert!(
        status.message.contains(&format!("User \"{user}\" cannot")),
        "{what}: {}",
        status.message
    );
    assert!(
        status.message.contains(resource),
        "{what}: {}",
        status.message
    );
    if let Some(ns) = namespace {
        assert!(
            status
                .message
                .contains(&format!("in the namespace \"{ns}\"")),
            "{what}: {}",
            status.message
        );
    }
}
