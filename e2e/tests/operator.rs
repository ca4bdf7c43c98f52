//! Independent scenarios sharing one control plane and one operator (leader election on, as in
//! production). Each uses a platform and namespaces of its own and cleans up.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use khaibao::api::{Platform, Tenant};
use khaibao_e2e::{
    OBJECTS_PER_TENANT, SHARED_OBJECTS, Scope, assert_no_secret_leaks, conditions_summary,
    platform_revision, tenant_label, wait_until, with_shared,
};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
const REVISION: &str = "khaibao.dev/revision";

fn condition<'a>(
    t: &'a Tenant,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    t.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// Events (events.k8s.io/v1) with `reason` about tenants in namespaces starting with `prefix-`.
async fn tenant_events(
    s: &Scope,
    reason: &str,
) -> anyhow::Result<Vec<k8s_openapi::api::events::v1::Event>> {
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::all(s.client.clone());
    let prefix = format!("{}-", s.prefix);
    Ok(events
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| {
                r.kind.as_deref() == Some("Tenant")
                    && r.namespace
                        .as_deref()
                        .is_some_and(|n| n.starts_with(&prefix))
            })
        })
        .collect())
}

fn tenant_template_names(manifest: &serde_json::Value) -> Vec<String> {
    manifest["spec"]["templates"]["tenant"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The whole fleet: 63 provinces become Ready with correctly labelled objects and a generated
/// Secret each; a template edit re-renders every tenant; a removed template is pruned
/// everywhere; deleting the platform is refused while tenants use it and completes once they
/// are gone.
#[test]
fn fleet_of_63_provinces() {
    with_shared(async |env| {
        let s = Scope::new(env.cp.client().await?, "fleet");
        let mut manifest = s.platform_manifest()?;
        let revision = platform_revision(&manifest)?;
        s.apply_platform(&manifest).await?;
        let tenants = s.provinces(&[])?;
        ensure!(
            tenants.len() == 63,
            "{} provinces in the example",
            tenants.len()
        );
        let started = Instant::now();
        s.create_tenants(&tenants).await?;
        let took = s.wait_ready(63, Duration::from_secs(120)).await?;
        eprintln!(
            "63 provinces Ready {:.1?} after creation ({:.1?} including creation)",
            took,
            started.elapsed()
        );

        // Every object present, labelled, and exactly as many as rendered.
        let objects = s.objects().await?;
        ensure!(
            objects.len() == 63 * OBJECTS_PER_TENANT + SHARED_OBJECTS,
            "{} objects in {}, expected {}",
            objects.len(),
            s.namespace,
            63 * OBJECTS_PER_TENANT + SHARED_OBJECTS
        );
        for t in &tenants {
            let ns = t["metadata"]["namespace"].as_str().unwrap_or_default();
            let name = t["metadata"]["name"].as_str().unwrap_or_default();
            let code = t["spec"]["unit"]["code"].as_str().unwrap_or_default();
            let label = tenant_label(ns, name);
            let mine: Vec<_> = objects
                .iter()
                .filter(|o| o.tenant() == Some(label.as_str()))
                .collect();
            let kinds: BTreeMap<&str, usize> = mine.iter().fold(BTreeMap::new(), |mut m, o| {
                *m.entry(o.kind.as_str()).or_default() += 1;
                m
            });
            ensure!(
                kinds == BTreeMap::from([("ConfigMap", 2), ("Ingress", 1), ("Secret", 1)]),
                "tenant {ns}/{name} has {kinds:?}"
            );
            for o in &mine {
                for (k, v) in [
                    (MANAGED_BY, "khaibao"),
                    ("khaibao.dev/platform", s.platform.as_str()),
                    ("khaibao.dev/unit-code", code),
                    (REVISION, revision.as_str()),
                ] {
                    ensure!(
                        o.label(k) == Some(v),
                        "{} {}: label {k}={:?}, expected {v:?}",
                        o.kind,
                        o.name,
                        o.label(k)
                    );
                }
            }
        }
        let secrets = s.generated_secrets().await?;
        ensure!(secrets.len() == 63, "{} generated secrets", secrets.len());
        for (name, data) in &secrets {
            let token = data
                .get("token")
                .with_context(|| format!("{name} has no token"))?;
            ensure!(
                token.len() == 40 && token.iter().all(u8::is_ascii_alphanumeric),
                "{name}: token of {} bytes",
                token.len()
            );
        }
        let distinct: BTreeSet<&Vec<u8>> =
            secrets.values().filter_map(|d| d.get("token")).collect();
        ensure!(
            distinct.len() == 63,
            "generated tokens are not all different"
        );

        // A template edit re-renders every tenant.
        let tenant_templates = manifest["spec"]["templates"]["tenant"]
            .as_array_mut()
            .context("no tenant templates")?;
        let config = tenant_templates
            .iter_mut()
            .find(|t| t["name"] == "config.yaml.hbs")
            .context("no config.yaml.hbs")?;
        let text = config["template"].as_str().unwrap_or_default().to_string();
        config["template"] = json!(format!("{}\n  e2eMarker: template-v2\n", text.trim_end()));
        let revision2 = platform_revision(&manifest)?;
        ensure!(
            revision2 != revision,
            "the template edit did not change the revision"
        );
        s.apply_platform(&manifest).await?;
        let took = wait_until(
            "every tenant re-rendered with the new template",
            Duration::from_secs(120),
            async || {
                let objects = s.objects().await?;
                // Generated Secrets are created once and never rewritten: they keep the
                // revision they were created at (their values must survive a rollout).
                let stale = objects
                    .iter()
                    .filter(|o| o.kind != "Secret")
                    .filter(|o| o.label(REVISION) != Some(revision2.as_str()))
                    .count();
                let marked = objects
                    .iter()
                    .filter(|o| o.name.ends_with("-portal-config"))
                    .filter(|o| o.data("e2eMarker") == Some("template-v2"))
                    .count();
                let tenants = s.tenants().await?;
                ensure!(
                    stale == 0 && marked == 63,
                    "{stale} objects still on an old revision, {marked}/63 ConfigMaps with the new key; {}",
                    conditions_summary(&tenants[0])
                );
                let tenants = s.tenants().await?;
                let behind: Vec<&Tenant> = tenants
                    .iter()
                    .filter(|t| {
                        t.status.as_ref().and_then(|s| s.revision.as_deref())
                            != Some(revision2.as_str())
                    })
                    .collect();
                ensure!(
                    behind.is_empty(),
                    "{} tenants report an old status.revision, e.g. {}",
                    behind.len(),
                    conditions_summary(behind[0])
                );
                Ok(())
            },
        )
        .await?;
        eprintln!("template edit rolled out to 63 tenants in {took:.1?}");
        s.wait_ready(63, Duration::from_secs(30)).await?;
        ensure!(
            s.generated_secrets().await? == secrets,
            "generated secret values changed during the rollout"
        );

        // A removed template: its objects are pruned everywhere.
        let tenant_templates = manifest["spec"]["templates"]["tenant"]
            .as_array_mut()
            .context("no tenant templates")?;
        tenant_templates.retain(|t| t["name"] != "services.yaml.hbs");
        ensure!(
            !tenant_template_names(&manifest).contains(&"services.yaml.hbs".to_string()),
            "services.yaml.hbs still listed"
        );
        s.apply_platform(&manifest).await?;
        // Deleting an object from all 63 tenants is past the blast-radius guard: the rollout
        // waits for approval with nothing deleted, then goes through once approved.
        let revision3 = platform_revision(&manifest)?;
        wait_until(
            "the rollout removing a template to wait for approval",
            Duration::from_secs(30),
            async || {
                let p = s.get_platform().await?.context("platform")?;
                let r = p.status.and_then(|st| st.rollout).context("no rollout")?;
                ensure!(
                    r.to == revision3 && r.phase == "AwaitingApproval",
                    "rollout to {} is {}",
                    r.to,
                    r.phase
                );
                ensure!(
                    r.message.as_deref().unwrap_or_default().contains(
                        "deletes 1 object(s) (ConfigMap) from every tenant: 63 of 189 objects"
                    ),
                    "held for another reason: {:?}",
                    r.message
                );
                Ok(())
            },
        )
        .await?;
        let left = s
            .objects()
            .await?
            .iter()
            .filter(|o| o.name.ends_with("-services"))
            .count();
        ensure!(
            left == 63,
            "{left}/63 -services ConfigMaps before the approval"
        );
        let out = std::process::Command::new(khaibao_e2e::cli_binary()?)
            .args(["approve", "platform", &s.platform, "--kubeconfig"])
            .arg(&env.cp.kubeconfig)
            .output()?;
        ensure!(
            out.status.success(),
            "khaibao approve: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let took = wait_until(
            "the services ConfigMaps pruned from every tenant",
            Duration::from_secs(120),
            async || {
                let objects = s.objects().await?;
                let left = objects
                    .iter()
                    .filter(|o| o.name.ends_with("-services"))
                    .count();
                ensure!(left == 0, "{left} -services ConfigMaps left");
                ensure!(
                    objects.len() == 63 * (OBJECTS_PER_TENANT - 1) + SHARED_OBJECTS,
                    "{} objects",
                    objects.len()
                );
                Ok(())
            },
        )
        .await?;
        eprintln!("removed template pruned from 63 tenants in {took:.1?}");
        s.wait_ready(63, Duration::from_secs(30)).await?;
        // Nobody touched an object by hand: no tenant may claim to have restored one.
        let restored = tenant_events(&s, "Restored").await?;
        ensure!(
            restored.is_empty(),
            "{} false Restored events, e.g. {:?}",
            restored.len(),
            restored[0].regarding
        );
        let pruned = tenant_events(&s, "Pruned").await?;
        ensure!(pruned.len() == 63, "{} Pruned events", pruned.len());

        // Deleting the platform while tenants use it is refused.
        let platforms: Api<Platform> = Api::all(s.client.clone());
        platforms
            .delete(&s.platform, &DeleteParams::default())
            .await?;
        wait_until(
            "the platform's deletion to be blocked",
            Duration::from_secs(30),
            async || {
                let p = s.get_platform().await?.context("the platform is gone")?;
                ensure!(p.metadata.deletion_timestamp.is_some(), "not being deleted");
                let ready = p
                    .status
                    .as_ref()
                    .and_then(|st| st.conditions.iter().find(|c| c.type_ == "Ready"))
                    .context("no Ready condition")?;
                ensure!(
                    ready.status == "False" && ready.reason == "DeletionBlocked",
                    "Ready={} ({}): {}",
                    ready.status,
                    ready.reason,
                    ready.message
                );
                ensure!(
                    ready.message.contains("63 tenant(s)")
                        && ready.message.contains(&format!("{}-tinh-01", s.prefix)),
                    "message does not name the tenant count and namespaces: {}",
                    ready.message
                );
                Ok(())
            },
        )
        .await?;
        wait_until(
            "a DeletionBlocked Event for the platform",
            Duration::from_secs(30),
            async || {
                let events: Api<k8s_openapi::api::events::v1::Event> = Api::all(s.client.clone());
                let found = events
                    .list(&Default::default())
                    .await?
                    .items
                    .into_iter()
                    .any(|e| {
                        e.reason.as_deref() == Some("DeletionBlocked")
                            && e.regarding.as_ref().and_then(|r| r.name.as_deref())
                                == Some(s.platform.as_str())
                            && e.note
                                .as_deref()
                                .is_some_and(|n| n.contains("63 tenant(s)"))
                    });
                ensure!(found, "no such Event yet");
                Ok(())
            },
        )
        .await?;
        // Still there a little later, with its shared workload.
        tokio::time::sleep(Duration::from_secs(2)).await;
        ensure!(
            s.get_platform().await?.is_some(),
            "the platform was deleted"
        );
        ensure!(
            s.objects()
                .await?
                .iter()
                .filter(|o| o.tenant().is_none())
                .count()
                == SHARED_OBJECTS,
            "shared objects were removed while tenants exist"
        );

        // Once the tenants are gone, the deletion completes.
        let logs: Vec<_> = env.operator_log().into_iter().collect();
        assert_no_secret_leaks(&s.client, &secrets, &logs).await?;
        s.cleanup().await?;
        ensure!(
            s.objects().await?.is_empty(),
            "objects left after the platform was deleted: {:?}",
            s.objects()
                .await?
                .iter()
                .map(|o| &o.name)
                .collect::<Vec<_>>()
        );
        Ok(())
    });
}

/// Changing a tenant's values updates its ConfigMap, and only its own.
#[test]
fn tenant_values_change_updates_its_configmap() {
    with_shared(async |env| {
        let s = Scope::new(env.cp.client().await?, "values");
        s.apply_platform(&s.platform_manifest()?).await?;
        s.create_tenants(&s.provinces(&["01", "79"])?).await?;
        s.wait_ready(2, Duration::from_secs(60)).await?;
        let (ns, other_ns) = (
            format!("{}-tinh-01", s.prefix),
            format!("{}-tinh-79", s.prefix),
        );
        // The status is written under khaibao's own field manager, not as "unknown".
        let t = s.tenant(&ns, "ha-noi").await?.context("no ha-noi")?;
        let managers: Vec<(String, Option<String>)> = t
            .metadata
            .managed_fields
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.manager.unwrap_or_default(), m.subresource))
            .collect();
        eprintln!("ha-noi field managers: {managers:?}");
        ensure!(
            managers
                .iter()
                .any(|(m, sub)| m == "khaibao" && sub.as_deref() == Some("status"))
                && !managers
                    .iter()
                    .any(|(m, sub)| m == "unknown" && sub.as_deref() == Some("status")),
            "status not written by field manager khaibao: {managers:?}"
        );
        let before = s.tenant_objects(&other_ns, "ho-chi-minh").await?;
        s.patch_tenant_spec(
            &ns,
            "ha-noi",
            json!({"values": {"branding": {"title": "Cổng E2E Hà Nội"}, "contact": {"hotline": "1900 1234"}}}),
        )
        .await?;
        let took = wait_until(
            "ha-noi's portal-config updated",
            Duration::from_secs(30),
            async || {
                let objs = s.tenant_objects(&ns, "ha-noi").await?;
                let cm = objs
                    .iter()
                    .find(|o| o.name.ends_with("-portal-config"))
                    .context("no portal-config")?;
                ensure!(
                    cm.data("title") == Some("Cổng E2E Hà Nội")
                        && cm.data("hotline") == Some("1900 1234"),
                    "title {:?}, hotline {:?}",
                    cm.data("title"),
                    cm.data("hotline")
                );
                Ok(())
            },
        )
        .await?;
        eprintln!("values change applied in {took:.1?}");
        s.wait_ready(2, Duration::from_secs(30)).await?;
        let after = s.tenant_objects(&other_ns, "ho-chi-minh").await?;
        let versions = |objs: &[khaibao_e2e::Obj]| {
            objs.iter()
                .map(|o| (o.name.clone(), o.resource_version.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        ensure!(
            versions(&before) == versions(&after),
            "the other tenant's objects were rewritten"
        );
        s.cleanup().await
    });
}

/// Objects edited or deleted by hand are restored within seconds.
#[test]
fn hand_edits_and_deletions_are_restored() {
    with_shared(async |env| {
        let s = Scope::new(env.cp.client().await?, "drift");
        s.apply_platform(&s.platform_manifest()?).await?;
        s.create_tenants(&s.provinces(&["48"])?).await?;
        s.wait_ready(1, Duration::from_secs(60)).await?;
        let ns = format!("{}-tinh-48", s.prefix);
        let objs = s.tenant_objects(&ns, "da-nang").await?;
        let cm = objs
            .iter()
            .find(|o| o.name.ends_with("-portal-config"))
            .context("no portal-config")?
            .clone();
        let title = cm.data("title").context("no title")?.to_string();
        let ingress = objs
            .iter()
            .find(|o| o.kind == "Ingress")
            .context("no Ingress")?
            .clone();
        let secret = objs
            .iter()
            .find(|o| o.kind == "Secret")
            .context("no Secret")?
            .clone();

        // Hand-edit: a changed value and a removed khaibao label.
        env.cp.kubectl(&[
            "-n",
            &s.namespace,
            "patch",
            "configmap",
            &cm.name,
            "--type=merge",
            "-p",
            r#"{"data":{"title":"sửa tay"},"metadata":{"labels":{"khaibao.dev/unit-code":"99"}}}"#,
        ])?;
        let took = wait_until(
            "the hand-edited ConfigMap restored",
            Duration::from_secs(15),
            async || {
                let objs = s.tenant_objects(&ns, "da-nang").await?;
                let now = objs
                    .iter()
                    .find(|o| o.name == cm.name)
                    .context("ConfigMap gone")?;
                ensure!(
                    now.data("title") == Some(title.as_str())
                        && now.label("khaibao.dev/unit-code") == Some("48"),
                    "title {:?}, unit-code {:?}",
                    now.data("title"),
                    now.label("khaibao.dev/unit-code")
                );
                Ok(())
            },
        )
        .await?;
        eprintln!("hand edit restored in {took:.1?}");

        // Hand-delete: the Ingress and the generated Secret come back.
        env.cp.kubectl(&[
            "-n",
            &s.namespace,
            "delete",
            "ingress",
            &ingress.name,
            "--wait=true",
        ])?;
        env.cp.kubectl(&[
            "-n",
            &s.namespace,
            "delete",
            "secret",
            &secret.name,
            "--wait=true",
        ])?;
        let took = wait_until(
            "the deleted Ingress and Secret restored",
            Duration::from_secs(15),
            async || {
                let objs = s.tenant_objects(&ns, "da-nang").await?;
                let ing = objs
                    .iter()
                    .find(|o| o.kind == "Ingress")
                    .context("no Ingress yet")?;
                ensure!(ing.uid != ingress.uid, "still the old Ingress");
                let sec = objs
                    .iter()
                    .find(|o| o.kind == "Secret")
                    .context("no Secret yet")?;
                ensure!(sec.uid != secret.uid, "still the old Secret");
                ensure!(objs.len() == OBJECTS_PER_TENANT, "{} objects", objs.len());
                Ok(())
            },
        )
        .await?;
        eprintln!("hand deletions restored in {took:.1?}");
        wait_until("a Restored event", Duration::from_secs(10), async || {
            ensure!(
                !tenant_events(&s, "Restored").await?.is_empty(),
                "no Restored event for da-nang"
            );
            Ok(())
        })
        .await?;
        let secrets = s.generated_secrets().await?;
        ensure!(
            secrets
                .values()
                .all(|d| d.get("token").is_some_and(|t| t.len() == 40)),
            "the recreated secret has no 40-character token"
        );
        s.wait_ready(1, Duration::from_secs(30)).await?;
        s.cleanup().await
    });
}

/// Deleting a tenant removes its objects and releases its finalizer; others are untouched.
#[test]
fn deleting_a_tenant_removes_its_objects() {
    with_shared(async |env| {
        let s = Scope::new(env.cp.client().await?, "delete");
        s.apply_platform(&s.platform_manifest()?).await?;
        s.create_tenants(&s.provinces(&["31", "92"])?).await?;
        s.wait_ready(2, Duration::from_secs(60)).await?;
        let ns = format!("{}-tinh-31", s.prefix);
        let other_ns = format!("{}-tinh-92", s.prefix);
        let t = s.tenant(&ns, "hai-phong").await?.context("no tenant")?;
        ensure!(
            t.finalizers()
                .contains(&"khaibao.dev/tenant-objects".to_string()),
            "no finalizer on the tenant: {:?}",
            t.finalizers()
        );
        ensure!(
            s.tenant_objects(&ns, "hai-phong").await?.len() == OBJECTS_PER_TENANT,
            "objects missing before the deletion"
        );
        let before = s.tenant_objects(&other_ns, "can-tho").await?;
        let api: Api<Tenant> = Api::namespaced(s.client.clone(), &ns);
        api.delete("hai-phong", &DeleteParams::default()).await?;
        let took = wait_until(
            "hai-phong and its objects gone",
            Duration::from_secs(30),
            async || {
                let left = s.tenant_objects(&ns, "hai-phong").await?;
                ensure!(left.is_empty(), "{} objects left", left.len());
                ensure!(
                    s.tenant(&ns, "hai-phong").await?.is_none(),
                    "the tenant still exists (finalizer not released)"
                );
                Ok(())
            },
        )
        .await?;
        eprintln!("tenant deleted with its objects in {took:.1?}");
        let after = s.tenant_objects(&other_ns, "can-tho").await?;
        ensure!(
            before
                .iter()
                .map(|o| &o.resource_version)
                .collect::<Vec<_>>()
                == after
                    .iter()
                    .map(|o| &o.resource_version)
                    .collect::<Vec<_>>(),
            "the other tenant's objects changed"
        );
        s.wait_ready(1, Duration::from_secs(30)).await?;
        s.cleanup().await
    });
}

/// A tenant whose values break the schema is reported (Rendered=False naming the value), keeps
/// the objects it had, and does not affect other tenants; fixing it makes it Ready again.
#[test]
fn invalid_tenant_is_reported_and_keeps_its_objects() {
    with_shared(async |env| {
        let s = Scope::new(env.cp.client().await?, "invalid");
        s.apply_platform(&s.platform_manifest()?).await?;
        s.create_tenants(&s.provinces(&["01", "46", "79"])?).await?;
        s.wait_ready(3, Duration::from_secs(60)).await?;
        let ns = format!("{}-tinh-46", s.prefix);
        let before = s.tenant_objects(&ns, "hue").await?;
        ensure!(
            before.len() == OBJECTS_PER_TENANT,
            "{} objects",
            before.len()
        );
        let others_before: BTreeMap<String, String> = s
            .objects()
            .await?
            .into_iter()
            .filter(|o| o.tenant() != Some(tenant_label(&ns, "hue").as_str()))
            .map(|o| (o.name, o.resource_version))
            .collect();

        // A previously valid tenant becomes invalid.
        s.patch_tenant_spec(
            &ns,
            "hue",
            json!({"values": {"branding": {"primaryColor": "tím-mộng-mơ"}}}),
        )
        .await?;
        wait_until("hue Rendered=False", Duration::from_secs(30), async || {
            let t = s.tenant(&ns, "hue").await?.context("gone")?;
            let rendered = condition(&t, "Rendered").context("no Rendered condition")?;
            ensure!(
                rendered.status == "False"
                    && t.status.as_ref().and_then(|s| s.observed_generation)
                        == t.metadata.generation,
                "{}",
                conditions_summary(&t)
            );
            ensure!(
                rendered.message.contains("primaryColor"),
                "the message does not name the value: {}",
                rendered.message
            );
            let ready = condition(&t, "Ready").context("no Ready")?;
            ensure!(ready.status == "False", "Ready is {}", ready.status);
            Ok(())
        })
        .await?;
        // A brand-new tenant that was never valid: reported, nothing applied.
        let mut bad = s.provinces(&["92"])?.remove(0);
        bad["spec"]["values"] = json!({"rateLimitPerMinute": 5});
        s.create_tenants(&[bad]).await?;
        let bad_ns = format!("{}-tinh-92", s.prefix);
        wait_until(
            "can-tho Rendered=False",
            Duration::from_secs(30),
            async || {
                let t = s.tenant(&bad_ns, "can-tho").await?.context("gone")?;
                let rendered = condition(&t, "Rendered").context("no Rendered condition")?;
                ensure!(rendered.status == "False", "{}", conditions_summary(&t));
                ensure!(
                    rendered.message.contains("rateLimitPerMinute"),
                    "the message does not name the value: {}",
                    rendered.message
                );
                Ok(())
            },
        )
        .await?;
        // Give the operator time to (wrongly) touch anything, then compare.
        tokio::time::sleep(Duration::from_secs(3)).await;
        ensure!(
            s.tenant_objects(&bad_ns, "can-tho").await?.is_empty(),
            "objects were applied for a tenant that never rendered"
        );
        let kept = s.tenant_objects(&ns, "hue").await?;
        let rv = |objs: &[khaibao_e2e::Obj]| {
            objs.iter()
                .map(|o| (o.name.clone(), o.resource_version.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        ensure!(
            rv(&kept) == rv(&before),
            "the invalid tenant's previously applied objects changed: {:?} -> {:?}",
            rv(&before),
            rv(&kept)
        );
        let others_after: BTreeMap<String, String> = s
            .objects()
            .await?
            .into_iter()
            .filter(|o| o.tenant() != Some(tenant_label(&ns, "hue").as_str()))
            .map(|o| (o.name, o.resource_version))
            .collect();
        ensure!(
            others_after == others_before,
            "other tenants' objects changed"
        );
        for (code_ns, name) in [("tinh-01", "ha-noi"), ("tinh-79", "ho-chi-minh")] {
            let t = s
                .tenant(&format!("{}-{code_ns}", s.prefix), name)
                .await?
                .context("gone")?;
            ensure!(
                khaibao_e2e::tenant_ready(&t),
                "{name}: {}",
                conditions_summary(&t)
            );
        }

        // Fixing the values makes it Ready again.
        let api: Api<Tenant> = Api::namespaced(s.client.clone(), &ns);
        api.patch(
            "hue",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"values": null}})),
        )
        .await?;
        let api: Api<Tenant> = Api::namespaced(s.client.clone(), &bad_ns);
        api.patch(
            "can-tho",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"values": {"rateLimitPerMinute": 50}}})),
        )
        .await?;
        s.wait_ready(4, Duration::from_secs(30)).await?;
        ensure!(
            s.tenant_objects(&bad_ns, "can-tho").await?.len() == OBJECTS_PER_TENANT,
            "the fixed tenant's objects were not applied"
        );
        for (tns, name) in [(&ns, "hue"), (&bad_ns, "can-tho")] {
            let t = s.tenant(tns, name).await?.context("gone")?;
            let status = t.status.unwrap_or_default();
            ensure!(
                status.last_error.is_none(),
                "{name} is Ready but status.lastError still says {:?}",
                status.last_error
            );
            ensure!(
                status.objects.len() == OBJECTS_PER_TENANT - 1,
                "{name}: status.objects {:?}",
                status.objects
            );
        }
        s.cleanup().await
    });
}
