//! `khaibao approve platform NAME`, `khaibao approve tenantset NAME -n NS` and `khaibao approve
//! reform ID --platform P`: confirm a change the operator holds because of its blast radius — a
//! rollout that deletes objects from many tenants, a TenantSet shrink that deletes many Tenants,
//! or a reform plan that retires many. The approval names exactly what is approved (the target
//! revision, the number of tenants, the plan's id), so approving one change never approves the
//! next.

use khaibao::api::{
    ANNOTATION_APPROVE_REFORM, ANNOTATION_APPROVE_ROLLOUT, Platform, RolloutStatus, TenantSet,
};
use khaibao::diagnostics::Lang;
use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::apply::CLI_MANAGER;
use super::{ClusterArgs, explain, with_client};
use crate::Global;

/// Annotation confirming a TenantSet prune (same value as the operator's).
const ANNOTATION_CONFIRM_PRUNE: &str = "khaibao.dev/confirm-prune";

pub enum Target {
    Platform(String),
    TenantSet { namespace: String, name: String },
    Reform { platform: String, plan: String },
}

pub fn run(g: &Global, cluster: &ClusterArgs, target: Target) -> u8 {
    let lang = g.lang();
    let say = |en: String, vi: String| if lang == Lang::Vi { vi } else { en };
    with_client(cluster, |client| async move {
        let result = match &target {
            Target::Platform(name) => {
                let api: Api<Platform> = Api::all(client);
                approve_rollout(&api, name, say).await
            }
            Target::TenantSet { namespace, name } => {
                let api: Api<TenantSet> = Api::namespaced(client, namespace);
                approve_prune(&api, namespace, name, say).await
            }
            Target::Reform { platform, plan } => {
                let api: Api<Platform> = Api::all(client);
                approve_reform(&api, platform, plan, say).await
            }
        };
        super::print_outcome(result)
    })
}

async fn get<K>(api: &Api<K>, what: &str, name: &str) -> Result<K, String>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name)
        .await
        .map_err(|e| explain(&e))?
        .ok_or_else(|| format!("{what} {name:?} does not exist"))
}

async fn annotate<K>(api: &Api<K>, name: &str, key: &str, value: &str) -> Result<(), String>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let params = PatchParams {
        field_manager: Some(CLI_MANAGER.into()),
        ..Default::default()
    };
    let patch = json!({"metadata": {"annotations": {key: value}}});
    api.patch(name, &params, &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(|e| explain(&e))
}

async fn approve_rollout(
    api: &Api<Platform>,
    name: &str,
    say: impl Fn(String, String) -> String,
) -> Result<String, String> {
    let p = get(api, "platform", name).await?;
    let rollout = p.status.and_then(|s| s.rollout);
    let Some(r) = rollout.filter(|r| r.phase == RolloutStatus::AWAITING_APPROVAL) else {
        return Err(say(
            format!("platform {name} has no rollout waiting for approval"),
            format!("nền tảng {name} không có đợt triển khai nào đang chờ phê duyệt"),
        ));
    };
    annotate(api, name, ANNOTATION_APPROVE_ROLLOUT, &r.to).await?;
    Ok(say(
        format!(
            "platform {name}: rollout {} → {} approved ({}); it starts with its first wave",
            r.from,
            r.to,
            r.needs_approval.unwrap_or_default()
        ),
        format!(
            "nền tảng {name}: đã phê duyệt triển khai {} → {}; bắt đầu từ đợt đầu tiên",
            r.from, r.to
        ),
    ))
}

async fn approve_prune(
    api: &Api<TenantSet>,
    namespace: &str,
    name: &str,
    say: impl Fn(String, String) -> String,
) -> Result<String, String> {
    let set = get(api, "tenantset", name).await?;
    let Some(n) = set.status.and_then(|s| s.pending_prune) else {
        return Err(say(
            format!("tenantset {namespace}/{name} has no prune waiting for confirmation"),
            format!("tenantset {namespace}/{name} không có việc xoá nào đang chờ xác nhận"),
        ));
    };
    annotate(api, name, ANNOTATION_CONFIRM_PRUNE, &n.to_string()).await?;
    Ok(say(
        format!("tenantset {namespace}/{name}: deleting {n} tenant(s) confirmed"),
        format!("tenantset {namespace}/{name}: đã xác nhận xoá {n} đơn vị"),
    ))
}

async fn approve_reform(
    api: &Api<Platform>,
    name: &str,
    plan: &str,
    say: impl Fn(String, String) -> String,
) -> Result<String, String> {
    let p = get(api, "platform", name).await?;
    let reforms = p.status.map(|s| s.reforms).unwrap_or_default();
    let Some(r) = reforms.iter().find(|r| r.plan == plan) else {
        let known: Vec<&str> = reforms.iter().map(|r| r.plan.as_str()).collect();
        return Err(say(
            format!(
                "platform {name} has no reform plan {plan:?} (its successors carry khaibao.dev/reform-plan); plans on it: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
            format!(
                "nền tảng {name} không có kế hoạch sắp xếp {plan:?}; các kế hoạch hiện có: {}",
                if known.is_empty() {
                    "không có".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    };
    if r.phase == "Complete" {
        return Err(say(
            format!("reform plan {plan} on platform {name} is already complete"),
            format!("kế hoạch sắp xếp {plan} trên nền tảng {name} đã hoàn tất"),
        ));
    }
    annotate(api, name, ANNOTATION_APPROVE_REFORM, plan).await?;
    Ok(say(
        format!(
            "platform {name}: reform plan {plan} approved; {} predecessor(s) are retired as their successors are Ready ({} already retired)",
            r.predecessors_pending, r.predecessors_retired
        ),
        format!(
            "nền tảng {name}: đã phê duyệt kế hoạch sắp xếp {plan}; {} đơn vị cũ được thôi dùng khi đơn vị kế nhiệm sẵn sàng ({} đã thôi dùng)",
            r.predecessors_pending, r.predecessors_retired
        ),
    ))
}
