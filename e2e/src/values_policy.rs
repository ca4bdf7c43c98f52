//! A platform's generated admission policy (`khaibao::admission`, what `khaibao platform
//! admission` prints) as a cluster operator installs it with kubectl, and Tenants applied with
//! `kubectl apply` as a provincial user, to read the refusal that user sees.

use std::time::Duration;

use anyhow::{bail, ensure};
use khaibao::api::{Platform, Tenant};
use kube::api::Api;
use serde_json::{Value, json};

use crate::province_policy::{PLATFORM, dry_run, tenant_with_values};
use crate::{ControlPlane, wait_until};

/// Applies the generated admission policy of the platform `manifest` with kubectl, waits until
/// it refuses a bad value in `tinh-01` (a server dry run as the admin), and checks that every
/// generated expression compiled and type-checked without a warning.
pub async fn install_values_policy(
    cp: &ControlPlane,
    manifest: &Value,
) -> anyhow::Result<khaibao::admission::ValuesPolicy> {
    let platform: Platform = serde_json::from_value(manifest.clone())?;
    let vp = khaibao::admission::values_policy(&platform);
    let stream: String = vp.objects().iter().map(|o| format!("{o}\n")).collect();
    cp.kubectl_with_stdin(&["apply", "-f", "-"], Some(&stream))?;
    let admin: Api<Tenant> = Api::namespaced(cp.client().await?, "tinh-01");
    let probe = tenant_with_values(
        "tinh-01",
        "probe",
        json!({"level": "province", "code": "01", "name": "Thành phố Hà Nội"}),
        json!({"onlinePayment": "yes"}),
    );
    wait_until(
        "the values policy is enforced",
        Duration::from_secs(30),
        async || match admin.create(&dry_run(), &probe).await {
            Err(kube::Error::Api(s)) if s.code == 422 => Ok(()),
            other => bail!("not refused yet: {other:?}"),
        },
    )
    .await?;
    // Every generated expression compiled and type-checked without a warning.
    let status = cp.kubectl(&[
        "get",
        "validatingadmissionpolicy",
        &khaibao::admission::policy_name(PLATFORM),
        "-o",
        "jsonpath={.status.typeChecking}",
    ])?;
    ensure!(
        !status.contains("expressionWarnings"),
        "the generated policy has type-checking warnings: {status}"
    );
    Ok(vp)
}

/// `kubectl apply` of one Tenant as `user` in `group`; its stderr when refused.
pub fn kubectl_apply_as(
    cp: &ControlPlane,
    user: &str,
    group: &str,
    t: &Tenant,
) -> Result<String, String> {
    let doc = serde_json::to_string(t).expect("a Tenant serializes");
    cp.kubectl_with_stdin(
        &["apply", "--as", user, "--as-group", group, "-f", "-"],
        Some(&doc),
    )
    .map_err(|e| format!("{e:#}"))
}
