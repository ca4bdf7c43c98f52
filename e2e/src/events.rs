//! Events (events.k8s.io/v1, what the operator records) as tests look for them: by reason, about
//! one object, or about the tenants of a [`Scope`]. Read-only: never writes an Event.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, ListParams};

use crate::Scope;

/// Every Event with `reason` whose `regarding` object passes `about`.
pub async fn events_with_reason(
    client: &Client,
    reason: &str,
    about: impl Fn(&ObjectReference) -> bool,
) -> anyhow::Result<Vec<Event>> {
    let events: Api<Event> = Api::all(client.clone());
    Ok(events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter(|e| e.regarding.as_ref().is_some_and(&about))
        .collect())
}

/// `about` for one object: `kind` `namespace/name`.
pub fn about_object<'a>(
    kind: &'a str,
    namespace: &'a str,
    name: &'a str,
) -> impl Fn(&ObjectReference) -> bool + 'a {
    move |r| {
        r.kind.as_deref() == Some(kind)
            && r.namespace.as_deref() == Some(namespace)
            && r.name.as_deref() == Some(name)
    }
}

impl Scope {
    /// Events with `reason` about Tenant `namespace/name`.
    pub async fn tenant_events(
        &self,
        namespace: &str,
        name: &str,
        reason: &str,
    ) -> anyhow::Result<Vec<Event>> {
        events_with_reason(
            &self.client,
            reason,
            about_object("Tenant", namespace, name),
        )
        .await
    }

    /// Events with `reason` about TenantSet `namespace/name`.
    pub async fn tenant_set_events(
        &self,
        namespace: &str,
        name: &str,
        reason: &str,
    ) -> anyhow::Result<Vec<Event>> {
        events_with_reason(
            &self.client,
            reason,
            about_object("TenantSet", namespace, name),
        )
        .await
    }

    /// Events with `reason` about any Tenant of this scope's namespaces (`<prefix>-…`).
    pub async fn scope_tenant_events(&self, reason: &str) -> anyhow::Result<Vec<Event>> {
        let prefix = format!("{}-", self.prefix);
        events_with_reason(&self.client, reason, |r| {
            r.kind.as_deref() == Some("Tenant")
                && r.namespace
                    .as_deref()
                    .is_some_and(|n| n.starts_with(&prefix))
        })
        .await
    }
}
