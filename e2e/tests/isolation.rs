//! Province isolation and admission-time schema checks, on the real API server (no operator is
//! needed: everything here is enforced by RBAC and ValidatingAdmissionPolicies).
//!
//! The chart's province policy and grants are installed the way a cluster operator would
//! (`helm template charts/khaibao` piped to `kubectl apply`); provincial staff are played by
//! impersonation (the admin certificate may act as any user and group), so every request is
//! authorised exactly as it would be for a user who logged in with that identity.

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use k8s_openapi::api::core::v1::Secret;
use khaibao::api::{Platform, Tenant};
use khaibao_e2e::{ControlPlane, platform_manifest, wait_until, with_cluster, workspace_root};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::Status;
use serde_json::{Value, json};

const HANOI_GROUP: &str = "so-tttt-ha-noi";
const HANOI_USER: &str = "chuyenvien@hanoi.gov.vn";
const HCM_GROUP: &str = "so-tttt-hcm";
const PLATFORM: &str = "dichvucong";

/// A Tenant of `dichvucong` for a unit.
fn tenant(ns: &str, name: &str, unit: Value, values: Value) -> Tenant {
    serde_json::from_value(json!({
        "apiVersion": "khaibao.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"platform": PLATFORM, "unit": unit, "values": values},
    }))
    .expect("a valid Tenant")
}

fn hanoi() -> Value {
    json!({"level": "province", "code": "01", "name": "Thành phố Hà Nội"})
}

/// The API server's refusal of `result`, or an error if it was accepted or failed otherwise.
fn refusal<T: std::fmt::Debug>(
    what: &str,
    result: Result<T, kube::Error>,
) -> anyhow::Result<Status> {
    match result {
        Err(kube::Error::Api(status)) => Ok(*status),
        Err(e) => bail!("{what}: expected a refusal by the API server, got {e:#}"),
        Ok(v) => bail!("{what}: expected a refusal, but it was accepted: {v:?}"),
    }
}

/// Asserts an RBAC refusal: 403 Forbidden, naming the user and the resource.
fn assert_forbidden(what: &str, status: &Status, resource: &str, namespace: Option<&str>) {
    assert_eq!(status.code, 403, "{what}: {status:?}");
    assert_eq!(status.reason, "Forbidden", "{what}: {status:?}");
    assert!(
        status
            .message
            .contains(&format!("User \"{HANOI_USER}\" cannot")),
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

/// The chart's province admission policy and grants for 01 (Hà Nội) and 79 (Hồ Chí Minh),
/// from `helm template`, applied with kubectl; then waits until the policy is enforced.
async fn install_chart_policy_and_grants(cp: &ControlPlane) -> anyhow::Result<()> {
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
        &format!(
            "provinceGrants[0].code=01,provinceGrants[0].group={HANOI_GROUP},\
             provinceGrants[1].code=79,provinceGrants[1].group={HCM_GROUP}"
        ),
    ])?;
    ensure!(
        rendered.contains("kind: ValidatingAdmissionPolicy") && rendered.contains("name: tinh-79"),
        "helm template rendered no policy or grants:\n{rendered}"
    );
    cp.kubectl_with_stdin(&["apply", "-f", "-"], Some(&rendered))?;
    // Admission policies take effect asynchronously: probe with a server dry run as the admin
    // (RBAC lets the admin do anything, so only the policy can refuse it).
    let admin: Api<Tenant> = Api::namespaced(cp.client().await?, "tinh-01");
    let probe = tenant(
        "tinh-01",
        "probe",
        json!({"level": "province", "code": "79", "name": "Thành phố Hồ Chí Minh"}),
        json!({}),
    );
    wait_until(
        "the province admission policy is enforced",
        Duration::from_secs(30),
        async || match admin
            .create(
                &PostParams {
                    dry_run: true,
                    ..Default::default()
                },
                &probe,
            )
            .await
        {
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(()),
            other => bail!("not refused yet: {other:?}"),
        },
    )
    .await?;
    Ok(())
}

/// The platform `dichvucong` (as `khaibao platform build` makes it), its namespace and a Secret
/// in it, created by the admin.
async fn install_platform(cp: &ControlPlane) -> anyhow::Result<Value> {
    let manifest = platform_manifest(
        &workspace_root().join("platforms/dichvucong"),
        PLATFORM,
        PLATFORM,
    )?;
    let client = cp.client().await?;
    let platforms: Api<Platform> = Api::all(client.clone());
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
        "ha-noi-api-key",
        "-n",
        PLATFORM,
        "--from-literal=token=not-for-provincial-eyes",
    ])?;
    Ok(manifest)
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
        install_chart_policy_and_grants(cp).await?;
        install_platform(cp).await?;
        let user = cp.client_as(HANOI_USER, &[HANOI_GROUP]).await?;
        let own: Api<Tenant> = Api::namespaced(user.clone(), "tinh-01");

        // Create, update and delete a Hà Nội tenant in tinh-01.
        let created = own
            .create(
                &PostParams::default(),
                &tenant(
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
            &tenant(
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
        let ca_mau = tenant(
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
                &tenant(
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
        assert_forbidden("list tinh-79", &s, "resource \"tenants\"", Some("tinh-79"));
        let s = refusal("get tinh-79", other.get("ho-chi-minh").await)?;
        assert_forbidden("get tinh-79", &s, "resource \"tenants\"", Some("tinh-79"));
        let hcm = tenant(
            "tinh-79",
            "ho-chi-minh",
            json!({"level": "province", "code": "79", "name": "Thành phố Hồ Chí Minh"}),
            json!({}),
        );
        let s = refusal(
            "create in tinh-79",
            other.create(&PostParams::default(), &hcm).await,
        )?;
        assert_forbidden(
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
        assert_forbidden(
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
        assert_forbidden(
            "patch a tinh-79 tenant",
            &s,
            "resource \"tenants\"",
            Some("tinh-79"),
        );
        let s = refusal(
            "delete a tinh-79 tenant",
            other.delete("ho-chi-minh", &DeleteParams::default()).await,
        )?;
        assert_forbidden(
            "delete a tinh-79 tenant",
            &s,
            "resource \"tenants\"",
            Some("tinh-79"),
        );

        // Secrets of the platform namespace (generated API keys live there), and of its own.
        let secrets: Api<Secret> = Api::namespaced(user.clone(), PLATFORM);
        let s = refusal("get a platform Secret", secrets.get("ha-noi-api-key").await)?;
        assert_forbidden(
            "get a platform Secret",
            &s,
            "resource \"secrets\"",
            Some(PLATFORM),
        );
        let s = refusal(
            "list platform Secrets",
            secrets.list(&ListParams::default()).await,
        )?;
        assert_forbidden(
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
        assert_forbidden(
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
        assert_forbidden("patch the Platform", &s, "resource \"platforms\"", None);
        let s = refusal(
            "delete the Platform",
            platforms.delete(PLATFORM, &DeleteParams::default()).await,
        )?;
        assert_forbidden("delete the Platform", &s, "resource \"platforms\"", None);
        let s = refusal("get the Platform", platforms.get(PLATFORM).await)?;
        assert_forbidden("get the Platform", &s, "resource \"platforms\"", None);
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
        assert_forbidden(
            "create a RoleBinding in tinh-01",
            &s,
            "resource \"rolebindings\"",
            Some("tinh-01"),
        );
        Ok(())
    });
}

/// Applies the generated admission policy of the platform (`khaibao::admission`, what
/// `khaibao platform admission` prints) with kubectl, and waits until it refuses a bad value.
async fn install_values_policy(
    cp: &ControlPlane,
    manifest: &Value,
) -> anyhow::Result<khaibao::admission::ValuesPolicy> {
    let platform: Platform = serde_json::from_value(manifest.clone())?;
    let vp = khaibao::admission::values_policy(&platform);
    let stream: String = vp.objects().iter().map(|o| format!("{o}\n")).collect();
    cp.kubectl_with_stdin(&["apply", "-f", "-"], Some(&stream))?;
    let admin: Api<Tenant> = Api::namespaced(cp.client().await?, "tinh-01");
    let probe = tenant("tinh-01", "probe", hanoi(), json!({"onlinePayment": "yes"}));
    wait_until(
        "the values policy is enforced",
        Duration::from_secs(30),
        async || match admin
            .create(
                &PostParams {
                    dry_run: true,
                    ..Default::default()
                },
                &probe,
            )
            .await
        {
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

/// `kubectl apply` of one Tenant as the Hà Nội user; its stderr when refused.
fn kubectl_apply_as_hanoi(cp: &ControlPlane, t: &Tenant) -> Result<String, String> {
    let doc = serde_json::to_string(t).expect("a Tenant serializes");
    cp.kubectl_with_stdin(
        &[
            "apply",
            "--as",
            HANOI_USER,
            "--as-group",
            HANOI_GROUP,
            "-f",
            "-",
        ],
        Some(&doc),
    )
    .map_err(|e| format!("{e:#}"))
}

#[test]
fn out_of_schema_values_are_refused_at_apply_time() {
    with_cluster(async |cp| {
        install_chart_policy_and_grants(cp).await?;
        let manifest = install_platform(cp).await?;
        let vp = install_values_policy(cp, &manifest).await?;
        assert!(vp.checks.len() >= 20, "{} checks", vp.checks.len());

        // A valid tenant is accepted by kubectl apply.
        let good = tenant(
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
            let bad = tenant("tinh-01", &format!("bad-{name}"), hanoi(), values.clone());
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
                let probe = tenant(
                    "tinh-01",
                    "probe",
                    hanoi(),
                    json!({"rateLimitPerMinute": 500}),
                );
                match api
                    .create(
                        &PostParams {
                            dry_run: true,
                            ..Default::default()
                        },
                        &probe,
                    )
                    .await
                {
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
        let mut foreign = tenant(
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
        let mut from_set = tenant(
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
