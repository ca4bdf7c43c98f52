//! TenantSets as tests declare and read them: `examples/communes-ha-noi` moved into a
//! [`Scope`], the Tenants a set made, the set's status and Ready condition, and waiting for
//! them. The expected tenants come from the same pure expansion the operator uses, never from
//! the cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context, ensure};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use khaibao::api::{Tenant, TenantSet};
use khaibao::pipeline::{LABEL_TENANT_SET, expand_tenant_set};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use crate::fixtures::read_manifests;
use crate::{Scope, wait_until, workspace_root};

/// Hà Nội has 126 communes (phường and xã) in the 34-province division.
pub const HA_NOI_COMMUNES: usize = 126;
/// The province Tenant of Hà Nội and the TenantSet of its communes.
pub const HA_NOI_EXAMPLE: &str = "examples/communes-ha-noi/tenantset.yaml";
/// The annotation that confirms a held prune, with the exact number of tenants it deletes.
pub const CONFIRM_PRUNE: &str = "khaibao.dev/confirm-prune";

/// The set's Ready condition.
pub fn set_ready_condition(set: &TenantSet) -> Option<&Condition> {
    set.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// The message of the set's Ready condition (empty without one).
pub fn set_ready_message(set: &TenantSet) -> String {
    set_ready_condition(set)
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

/// `desired/created/ready, Ready=… (Reason): message` of a set, for failure messages.
pub fn set_summary(set: &TenantSet) -> String {
    let st = set.status.clone().unwrap_or_default();
    let ready = set_ready_condition(set)
        .map(|c| format!("Ready={} ({}): {}", c.status, c.reason, c.message))
        .unwrap_or_else(|| "no Ready condition".into());
    format!(
        "desired {} created {} ready {} conflicts {} {:?}; {ready}",
        st.desired, st.created, st.ready, st.conflict_count, st.conflicts
    )
}

/// The Tenant manifests `set` stands for, from the same pure expansion the operator uses.
pub fn expand(set: &Value) -> anyhow::Result<Vec<Value>> {
    let set: TenantSet = serde_json::from_value(set.clone())?;
    expand_tenant_set(&set)
        .map_err(|p| anyhow::anyhow!("the set does not expand: {:?}", p[0].message))
}

/// The names of the Tenants `set` stands for.
pub fn expected_names(set: &Value) -> anyhow::Result<BTreeSet<String>> {
    Ok(expand(set)?
        .iter()
        .filter_map(|t| t["metadata"]["name"].as_str().map(String::from))
        .collect())
}

/// `metadata.name` of a manifest.
pub fn manifest_name(doc: &Value) -> anyhow::Result<String> {
    doc["metadata"]["name"]
        .as_str()
        .map(String::from)
        .context("a manifest without metadata.name")
}

impl Scope {
    /// The province Tenant and the TenantSet of `examples/communes-ha-noi`, moved into the scope.
    pub fn ha_noi_example(&self) -> anyhow::Result<(Value, Value)> {
        let docs = read_manifests(&workspace_root().join(HA_NOI_EXAMPLE))?;
        let find = |kind: &str| {
            docs.iter()
                .find(|d| d["kind"] == kind)
                .cloned()
                .map(|d| self.scoped(d))
                .with_context(|| format!("no {kind} in {HA_NOI_EXAMPLE}"))
        };
        Ok((find("Tenant")?, find("TenantSet")?))
    }

    /// The Tenants in `namespace` carrying the label of set `name`, by name.
    pub async fn tenants_made_by(
        &self,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<BTreeMap<String, Tenant>> {
        Ok(self
            .tenants()
            .await?
            .into_iter()
            .filter(|t| t.namespace().as_deref() == Some(namespace))
            .filter(|t| t.labels().get(LABEL_TENANT_SET).map(String::as_str) == Some(name))
            .map(|t| (t.name_any(), t))
            .collect())
    }

    /// The names of the Tenants set `name` made.
    pub async fn names_made_by(
        &self,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<BTreeSet<String>> {
        Ok(self
            .tenants_made_by(namespace, name)
            .await?
            .into_keys()
            .collect())
    }

    /// Waits until the set reports these counts and a Ready condition with this status and
    /// reason for its current generation; returns the set.
    pub async fn wait_tenant_set(
        &self,
        namespace: &str,
        name: &str,
        (desired, created, ready): (i64, i64, i64),
        (status, reason): (&str, &str),
        timeout: Duration,
    ) -> anyhow::Result<TenantSet> {
        wait_until(
            &format!(
                "tenantset {namespace}/{name}: {desired}/{created}/{ready}, Ready={status} ({reason})"
            ),
            timeout,
            async || {
                let set = self.tenant_set(namespace, name).await?;
                let st = set.status.clone().unwrap_or_default();
                let c = set_ready_condition(&set);
                ensure!(
                    st.observed_generation == set.metadata.generation
                        && (st.desired, st.created, st.ready) == (desired, created, ready)
                        && c.is_some_and(|c| c.status == status && c.reason == reason),
                    "{}",
                    set_summary(&set)
                );
                Ok(())
            },
        )
        .await?;
        self.tenant_set(namespace, name).await
    }

    /// Merge-patches one annotation of a TenantSet (as `kubectl annotate` would).
    pub async fn annotate_tenant_set(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        value: &str,
    ) -> anyhow::Result<()> {
        let api: Api<TenantSet> = Api::namespaced(self.client.clone(), namespace);
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .with_context(|| format!("annotating tenantset {namespace}/{name}"))?;
        Ok(())
    }
}
