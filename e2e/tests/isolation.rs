//! Province isolation and admission-time schema checks, on the real API server (no operator is
//! needed: everything here is enforced by RBAC and ValidatingAdmissionPolicies).
//!
//! The chart's province policy and grants are installed the way a cluster operator would
//! (`helm template charts/khaibao` piped to `kubectl apply`, [`install_province_policy`]);
//! provincial staff are played by impersonation (the admin certificate may act as any user and
//! group), so every request is authorised exactly as it would be for a user who logged in with
//! that identity.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use k8s_openapi::api::core::v1::Secret;
use khaibao::api::{Platform, Tenant};
use khaibao_e2e::province_policy::{
    PLATFORM, PLATFORM_SECRET, assert_forbidden, dry_run, install_platform_with_a_secret,
    install_province_policy, refusal, tenant_with_values,
};
use khaibao_e2e::values_policy::{install_values_policy, kubectl_apply_as};
use khaibao_e2e::{wait_until, with_cluster};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const HANOI_GROUP: &str = "so-tttt-ha-noi";
const HANOI_USER: &str = "chuyenvien@hanoi.gov.vn";
const HCM_GROUP: &str = "so-tttt-hcm";
/// The chart's grants of this file: tinh-01 to Hà Nội's staff, tinh-79 to Hồ Chí Minh's.
const GRANTS: [(&str, &str); 2] = [("01", HANOI_GROUP), ("79", HCM_GROUP)];

fn hanoi() -> Value {
    json!({"level": "province", "code": "01", "name": "Thành phố Hà Nội"})
}

/// Asserts an RBAC refusal of the Hà Nội user: 403 Forbidden, naming the user and the resource.
fn assert_hanoi_forbidden(
    what: &str,
    status: &kube::core::Status,
    resource: &str,
    namespace: Option<&str>,
) {
    assert_forbidden(what, status, HANOI_USER, resource, namespace);
}

/// `kubectl apply` of one Tenant as the Hà Nội user; its stderr when refused.
fn kubectl_apply_as_hanoi(cp: &khaibao_e2e::ControlPlane, t: &Tenant) -> Result<String, String> {
    kubectl_apply_as(cp, HANOI_USER, HANOI_GROUP, t)
}

#[test]
fn province_staff_manage_their_own_tenants_and_nothing_else() {
    with_cluster(async |cp| {
        // No operator runs here: a tenant given the operator's finalizer at creation would
        // wait for it forever when the user deletes it.
        cp.kubectl(&[
            "delete",
            "mutatingadmissionpolicybinding",
            "khaibao-tenant-finalizer",
        ])?;
        install_province_policy(cp, &GRANTS).await?;
        install_platform_with_a_secret(cp).await?;
        let user = cp.client_as(HANOI_USER, &[HANOI_GROUP]).await?;
        let own: Api<Tenant> = Api::namespaced(user.clone(), "tinh-01");

        // Create, update and delete a Hà Nội tenant in tinh-01.
        let created = own
            .create(
                &PostParams::default(),
                &tenant_with_values(
                    "tinh-01",
                    "ha-noi",
                    hanoi(),
                    json!({"contact": {"hotline": "024 1022"}}),
                ),
            )
            .await
            .context("a Hà Nội user creating ha-noi in tinh-01")?;
        assert_eq!(created.spec.unit.code, "01");
        let patched = own
            .patch(
                "ha-noi",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"spec": {"values": {"contact": {"hotline": "024 3825 0000"}}}}),
                ),
            )
            .await
            .context("a Hà Nội user updating ha-noi")?;
        assert_eq!(
            patched
                .spec
                .values
                .as_ref()
                .map(|v| v["contact"]["hotline"].clone()),
            Some(json!("024 3825 0000"))
        );
        // A commune of Hà Nội is Hà Nội's to declare too.
        own.create(
            &PostParams::default(),
            &tenant_with_values(
                "tinh-01",
                "phuong-ba-dinh",
                json!({"level": "commune", "code": "00004", "name": "Phường Ba Đình", "provinceCode": "01"}),
                json!({}),
            ),
        )
        .await
        .context("a Hà Nội user creating a Hà Nội commune")?;
        assert_eq!(own.list(&ListParams::default()).await?.items.len(), 2);
        own.delete("ha-noi", &DeleteParams::default())
            .await
            .context("a Hà Nội user deleting ha-noi")?;
        ensure!(
            own.get_opt("ha-noi").await?.is_none(),
            "ha-noi still exists"
        );

        // Cà Mau (code 96 in both the 63- and the 34-province division) inside tinh-01: RBAC
        // allows the write, the chart's policy refuses it, naming both provinces.
        let ca_mau = tenant_with_values(
            "tinh-01",
            "ca-mau",
            json!({"level": "province", "code": "96", "name": "Tỉnh Cà Mau"}),
            json!({}),
        );
        let s = refusal(
            "Cà Mau in tinh-01",
            own.create(&PostParams::default(), &ca_mau).await,
        )?;
        assert_eq!(s.code, 403, "{s:?}");
        assert!(
            s.message.contains("ValidatingAdmissionPolicy 'khaibao-province-units'")
                && s.message.contains(
                    "namespace tinh-01 belongs to province 01; it cannot declare unit 96 of province 96"
                ),
            "{}",
            s.message
        );
        // A commune claiming province 01 while its code belongs elsewhere is the operator's to
        // catch (registry check); a commune that says it is in 96 is refused here.
        let s = refusal(
            "a Cà Mau commune in tinh-01",
            own.create(
                &PostParams::default(),
                &tenant_with_values(
                    "tinh-01",
                    "xa-ca-mau",
                    json!({"level": "commune", "code": "31825", "name": "Phường Bạc Liêu", "provinceCode": "96"}),
                    json!({}),
                ),
            )
            .await,
        )?;
        assert!(
            s.message
                .contains("it cannot declare unit 31825 of province 96"),
            "{}",
            s.message
        );
        // Turning an existing Hà Nội tenant into Cà Mau is an UPDATE, refused the same way.
        let s = refusal(
            "re-pointing a Hà Nội commune at Cà Mau",
            own.patch(
                "phuong-ba-dinh",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"unit": {"provinceCode": "96"}}})),
            )
            .await,
        )?;
        assert!(
            s.message.contains("belongs to province 01"),
            "{}",
            s.message
        );

        // Hồ Chí Minh's namespace: no read, no write.
        let other: Api<Tenant> = Api::namespaced(user.clone(), "tinh-79");
        let s = refusal("list tinh-79", other.list(&ListParams::default()).await)?;
        assert_hanoi_forbidden("list tinh-79", &s, "resource \"tenants\"", Some("tinh-79"));
        let s = refusal("get tinh-79", other.get("ho-chi-minh").await)?;
        assert_hanoi_forbidden("get tinh-79", &s, "resource \"tenants\"", Some("tinh-79"));
        let hcm = tenant_with_values(
            "tinh-79",
            "ho-chi-minh",
            json!({"level": "province", "code": "79", "name": "Thành phố Hồ Chí Minh"}),
            json!({}),
        );
        let s = refusal(
            "create in tinh-79",
            other.create(&PostParams::default(), &hcm).await,
        )?;
        assert_hanoi_forbidden(
            "create in tinh-79",
            &s,
            "resource \"tenants\"",
            Some("tinh-79"),
        );
        // Nor across all namespaces.
        let everywhere: Api<Tenant> = Api::all(user.clone());
        let s = refusal(
            "list tenants cluster-wide",
            everywhere.list(&ListParams::default()).await,
        )?;
        assert_hanoi_forbidden(
            "list tenants cluster-wide",
            &s,
            "at the cluster scope",
            None,
        );
        // A tenant of tinh-79 made by its own staff stays out of reach for writes too.
        let hcm_user = cp.client_as("chuyenvien@hcm.gov.vn", &[HCM_GROUP]).await?;
        Api::<Tenant>::namespaced(hcm_user, "tinh-79")
            .create(&PostParams::default(), &hcm)
            .await
            .context("a Hồ Chí Minh user creating its own province")?;
        let s = refusal(
            "patch a tinh-79 tenant",
            other
                .patch(
                    "ho-chi-minh",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"suspend": true}})),
                )
                .await,
        )?;
        assert_hanoi_forbidden(
            "patch a tinh-79 tenant",
            &s,
            "resource \"tenants\"",
            Some("tinh-79"),
        );
        let s = refusal(
            "delete a tinh-79 tenant",
            other.delete("ho-chi-minh", &DeleteParams::default()).await,
        )?;
        assert_hanoi_forbidden(
            "delete a tinh-79 tenant",
            &s,
            "resource \"tenants\"",
            Some("tinh-79"),
        );

        // Secrets of the platform namespace (generated API keys live there), and of its own.
        let secrets: Api<Secret> = Api::namespaced(user.clone(), PLATFORM);
        let s = refusal("get a platform Secret", secrets.get(PLATFORM_SECRET).await)?;
        assert_hanoi_forbidden(
            "get a platform Secret",
            &s,
            "resource \"secrets\"",
            Some(PLATFORM),
        );
        let s = refusal(
            "list platform Secrets",
            secrets.list(&ListParams::default()).await,
        )?;
        assert_hanoi_forbidden(
            "list platform Secrets",
            &s,
            "resource \"secrets\"",
            Some(PLATFORM),
        );
        let own_secrets: Api<Secret> = Api::namespaced(user.clone(), "tinh-01");
        let s = refusal(
            "list Secrets in tinh-01",
            own_secrets.list(&ListParams::default()).await,
        )?;
        assert_hanoi_forbidden(
            "list Secrets in tinh-01",
            &s,
            "resource \"secrets\"",
            Some("tinh-01"),
        );

        // Platforms: no edit, no read.
        let platforms: Api<Platform> = Api::all(user.clone());
        let s = refusal(
            "patch the Platform",
            platforms
                .patch(
                    PLATFORM,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"allowedKinds": ["ConfigMap", "Deployment"]}})),
                )
                .await,
        )?;
        assert_hanoi_forbidden("patch the Platform", &s, "resource \"platforms\"", None);
        let s = refusal(
            "delete the Platform",
            platforms.delete(PLATFORM, &DeleteParams::default()).await,
        )?;
        assert_hanoi_forbidden("delete the Platform", &s, "resource \"platforms\"", None);
        let s = refusal("get the Platform", platforms.get(PLATFORM).await)?;
        assert_hanoi_forbidden("get the Platform", &s, "resource \"platforms\"", None);
        // Nor can the user grant itself more: RBAC objects in its own namespace are refused.
        let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
            Api::namespaced(user.clone(), "tinh-01");
        let escalate: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": "me-admin", "namespace": "tinh-01"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": HANOI_USER}],
        }))?;
        let s = refusal(
            "create a RoleBinding in tinh-01",
            bindings.create(&PostParams::default(), &escalate).await,
        )?;
        assert_hanoi_forbidden(
            "create a RoleBinding in tinh-01",
            &s,
            "resource \"rolebindings\"",
            Some("tinh-01"),
        );
        Ok(())
    });
}

#[test]
fn out_of_schema_values_are_refused_at_apply_time() {
    with_cluster(async |cp| {
        install_province_policy(cp, &GRANTS).await?;
        let manifest = install_platform_with_a_secret(cp).await?;
        let vp = install_values_policy(cp, &manifest).await?;
        assert!(vp.checks.len() >= 20, "{} checks", vp.checks.len());

        // A valid tenant is accepted by kubectl apply.
        let good = tenant_with_values(
            "tinh-01",
            "ha-noi",
            hanoi(),
            json!({"contact": {"hotline": "024 1022", "email": "motcua@hanoi.gov.vn"},
                   "branding": {"primaryColor": "#005BAC"}, "rateLimitPerMinute": 900,
                   "services": ["dang-ky-khai-sinh"], "onlinePayment": true}),
        );
        let out = kubectl_apply_as_hanoi(cp, &good).expect("a valid tenant is accepted");
        assert!(out.contains("tenant.khaibao.dev/ha-noi created"), "{out}");

        // Each bad value is refused with the field, what to change, in English and Vietnamese.
        let cases: &[(&str, Value, &str)] = &[
            (
                "colour",
                json!({"branding": {"primaryColor": "red"}}),
                "values.branding.primaryColor must match the pattern ^#[0-9a-fA-F]{6}$ (platform dichvucong) / values.branding.primaryColor phải khớp mẫu ^#[0-9a-fA-F]{6}$",
            ),
            (
                "rate",
                json!({"rateLimitPerMinute": 5}),
                "values.rateLimitPerMinute must be at least 10 (platform dichvucong) / values.rateLimitPerMinute phải lớn hơn hoặc bằng 10",
            ),
            (
                "rate-type",
                json!({"rateLimitPerMinute": "fast"}),
                "values.rateLimitPerMinute must be a whole number (platform dichvucong)",
            ),
            (
                "payment",
                json!({"onlinePayment": "yes"}),
                "values.onlinePayment must be true or false (platform dichvucong) / values.onlinePayment phải là true hoặc false",
            ),
            (
                "service",
                json!({"services": ["dang-ky-khai-sinh", "Đăng ký kết hôn"]}),
                "values.services[*] must match the pattern ^[a-z0-9-]+$",
            ),
            (
                "title",
                json!({"branding": {"title": "x".repeat(121)}}),
                "values.branding.title must be at most 120 characters long",
            ),
            (
                "unknown-key",
                json!({"contact": {"hotline": "1022", "fax": "024 000"}}),
                "values.contact has unknown key(s) fax; allowed: address, email, hotline (platform dichvucong)",
            ),
            (
                "unknown-root-key",
                json!({"theme": "dark"}),
                "values has unknown key(s) theme; allowed: branding,",
            ),
        ];
        for (name, values, expected) in cases {
            let bad =
                tenant_with_values("tinh-01", &format!("bad-{name}"), hanoi(), values.clone());
            let err = match kubectl_apply_as_hanoi(cp, &bad) {
                Ok(out) => panic!("{name}: {values} was accepted: {out}"),
                Err(e) => e,
            };
            assert!(
                err.contains(&format!(
                    "ValidatingAdmissionPolicy '{}' with binding",
                    khaibao::admission::policy_name(PLATFORM)
                )) && err.contains(expected),
                "{name}: expected {expected:?} in:\n{err}"
            );
            // 422 Invalid through the API as well.
            let api: Api<Tenant> =
                Api::namespaced(cp.client_as(HANOI_USER, &[HANOI_GROUP]).await?, "tinh-01");
            let s = refusal(name, api.create(&PostParams::default(), &bad).await)?;
            assert_eq!(
                (s.code, s.reason.as_str()),
                (422, "Invalid"),
                "{name}: {s:?}"
            );
        }

        // Updates are checked too; a change that leaves values alone (a label, a finalizer)
        // is not, so a tenant made valid under an older schema never gets stuck.
        let api: Api<Tenant> =
            Api::namespaced(cp.client_as(HANOI_USER, &[HANOI_GROUP]).await?, "tinh-01");
        let s = refusal(
            "update to a bad value",
            api.patch(
                "ha-noi",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"values": {"rateLimitPerMinute": 100000}}})),
            )
            .await,
        )?;
        assert!(
            s.message
                .contains("values.rateLimitPerMinute must be at most 10000"),
            "{}",
            s.message
        );
        // Tighten the schema behind the tenant's back (as a new platform version would).
        let mut stricter = manifest.clone();
        stricter["spec"]["tenantSchema"]["properties"]["rateLimitPerMinute"]["maximum"] =
            json!(100);
        install_values_policy(cp, &stricter).await?;
        wait_until(
            "the stricter policy is enforced",
            Duration::from_secs(30),
            async || {
                let probe = tenant_with_values(
                    "tinh-01",
                    "probe",
                    hanoi(),
                    json!({"rateLimitPerMinute": 500}),
                );
                match api.create(&dry_run(), &probe).await {
                    Err(kube::Error::Api(s)) if s.message.contains("at most 100 ") => Ok(()),
                    other => bail!("not refused yet: {other:?}"),
                }
            },
        )
        .await?;
        api.patch(
            "ha-noi",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "so-tttt"}, "finalizers": ["example.com/hold"]}})),
        )
        .await
        .context("a metadata-only change of a tenant that breaks the new schema")?;
        api.patch(
            "ha-noi",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .context("removing the finalizer again")?;

        // Other platforms' tenants and TenantSet-made tenants are not matched.
        let admin: Api<Tenant> = Api::namespaced(cp.client().await?, "tinh-01");
        let mut foreign = tenant_with_values(
            "tinh-01",
            "other-platform",
            hanoi(),
            json!({"rateLimitPerMinute": "anything"}),
        );
        foreign.spec.platform = "vanban".into();
        admin
            .create(&PostParams::default(), &foreign)
            .await
            .context("a tenant of another platform")?;
        let mut from_set = tenant_with_values(
            "tinh-01",
            "from-set",
            hanoi(),
            json!({"rateLimitPerMinute": 1}),
        );
        from_set.metadata.labels = Some(
            [(
                "khaibao.dev/tenant-set".to_string(),
                "xa-phuong".to_string(),
            )]
            .into(),
        );
        admin
            .create(&PostParams::default(), &from_set)
            .await
            .context("a tenant made by a TenantSet")?;
        Ok(())
    });
}
