//! The guarantees of a reform, checked against what the cluster holds after it and what the
//! watches saw during it: no value lost, secrets kept byte for byte, no host-name gap, no
//! predecessor retired too early, nothing left behind, and nothing written by applying the
//! plan again. Each returns the problems it found in words; [`Findings`] gathers them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use khaibao::api::{ANNOTATION_REFORM_PLAN, Level, Tenant, TenantSet};
use khaibao::pipeline::tenant_stem;
use khaibao::reform::leaves;
use khaibao::registry::{Division, units};
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use serde_json::Value;

use super::{API_KEY, OldDivision, PLATFORM, PlanView, TenantRecord, key_of, khaibao};
use super::{resource_versions, tenant_labelled_objects};
use crate::timeline::{HostCoverage, TenantLifecycle};
use crate::{ControlPlane, conditions_summary, tenant_ready, wait_until};

/// Guarantees checked on the way, reported together so one run shows every broken one.
#[derive(Default)]
pub struct Findings(Vec<String>);

impl Findings {
    pub fn check(&mut self, what: &str, result: anyhow::Result<()>) {
        match result {
            Ok(()) => eprintln!("[reform] ok: {what}"),
            Err(e) => {
                eprintln!("[reform] FAILED: {what}: {e:#}");
                self.0.push(format!("{what}: {e:#}"));
            }
        }
    }

    pub fn finish(self) -> anyhow::Result<()> {
        ensure!(
            self.0.is_empty(),
            "{} guarantees of the reform failed:\n- {}",
            self.0.len(),
            self.0.join("\n- ")
        );
        Ok(())
    }

    /// The move cannot go on: `error`, with what was found before it.
    pub fn fatal(self, error: anyhow::Error) -> anyhow::Result<()> {
        let before = if self.0.is_empty() {
            String::new()
        } else {
            format!("\nfound before:\n- {}", self.0.join("\n- "))
        };
        Err(error.context(format!("the reform stopped{before}")))
    }
}

/// Predecessors of `keys` that are not Ready (they must keep serving until retired).
pub async fn predecessors_ready(client: &Client, keys: &BTreeSet<String>) -> anyhow::Result<()> {
    let tenants = Api::<Tenant>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    // Reason → (how many, one example); tenants being deleted are another guarantee's.
    let mut failing: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for t in tenants
        .iter()
        .filter(|t| t.metadata.deletion_timestamp.is_none())
    {
        let key = format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any());
        if !keys.contains(&key) || tenant_ready(t) {
            continue;
        }
        let reason = t
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
            .map_or("NoStatus".to_string(), |c| c.reason.clone());
        let entry = failing.entry(reason).or_insert((0, String::new()));
        entry.0 += 1;
        if entry.1.is_empty() {
            entry.1 = format!("{key}: {}", conditions_summary(t));
        }
    }
    ensure!(
        failing.is_empty(),
        "predecessors not Ready, by reason: {failing:?}"
    );
    Ok(())
}

/// All `expected` tenants of the platform exist and are Ready.
pub async fn wait_fleet_ready(
    client: &Client,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    wait_until(&format!("{expected} tenants Ready"), timeout, async || {
        let tenants = Api::<Tenant>::all(client.clone())
            .list(&ListParams::default())
            .await?;
        let ready = tenants.iter().filter(|t| tenant_ready(t)).count();
        ensure!(
            tenants.items.len() == expected && ready == expected,
            "{ready}/{} Ready",
            tenants.items.len()
        );
        Ok(())
    })
    .await
}

/// Successors of the plan that do not exist yet as the plan wrote them, or are not Ready.
pub async fn not_ready_successors(client: &Client, plan: &PlanView) -> anyhow::Result<Vec<String>> {
    let tenants = Api::<Tenant>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    let ready: BTreeSet<String> = tenants
        .iter()
        .filter(|t| tenant_ready(t) && !t.spec.predecessors.is_empty())
        .filter(|t| {
            t.annotations()
                .get(ANNOTATION_REFORM_PLAN)
                .map(String::as_str)
                == Some(plan.id())
        })
        .map(|t| format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any()))
        .collect();
    Ok(plan
        .predecessors()
        .into_keys()
        .filter(|k| !ready.contains(k))
        .collect())
}

/// Each retired predecessor was deleted after the approval and after the successor that takes
/// its host name and secrets (lists it without `partial`) was Ready.
pub fn assert_retired_in_order(
    lifecycle: &TenantLifecycle,
    live: &[Tenant],
    retired: &BTreeSet<String>,
    approved: Instant,
) -> anyhow::Result<()> {
    let mut wrong = Vec::new();
    for t in live {
        let key = format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any());
        let ready = lifecycle.ready_as_successor.get(&key);
        for p in t
            .spec
            .predecessors
            .iter()
            .filter(|p| !p.partial && retired.contains(&p.tenant))
        {
            let Some(deleted) = lifecycle.deleting.get(&p.tenant) else {
                wrong.push(format!("{}: never seen deleted", p.tenant));
                continue;
            };
            if *deleted < approved {
                wrong.push(format!(
                    "{}: deleted {:?} before the approval",
                    p.tenant,
                    approved - *deleted
                ));
            }
            match ready {
                None => wrong.push(format!(
                    "{}: deleted, its successor {key} never seen Ready",
                    p.tenant
                )),
                Some(r) if r > deleted => wrong.push(format!(
                    "{}: deleted {:?} before its successor {key} was Ready",
                    p.tenant,
                    *r - *deleted
                )),
                Some(_) => {}
            }
        }
    }
    ensure!(
        wrong.is_empty(),
        "{} retirements out of order: {wrong:?}",
        wrong.len()
    );
    Ok(())
}

/// Every leaf value of a predecessor is in its successor's values, or was a conflict the plan
/// listed (the value among kept/dropped) and settled, the successor holding the settled value.
pub async fn assert_no_value_lost(
    client: &Client,
    plan: &PlanView,
    old: &OldDivision,
    before: &BTreeMap<String, TenantRecord>,
    after: &BTreeMap<String, TenantRecord>,
) -> anyhow::Result<()> {
    let mut lost = Vec::new();
    let mut check = |successor: &str, values: &Value, predecessor: &str, old_values: &Value| {
        for (path, v) in leaves(old_values) {
            let now = values.pointer(&path);
            if now == Some(v) {
                continue;
            }
            let settled = plan.conflict(successor, &path).filter(|c| {
                let listed = std::iter::once(&c["kept"])
                    .chain(c["dropped"].as_array().into_iter().flatten());
                listed.clone().any(|x| x["value"] == *v)
                    && c.get("resolved").is_some()
                    && now == c.get("resolved")
            });
            if settled.is_none() {
                lost.push(format!(
                    "{predecessor} {path} = {v} (successor {successor} has {now:?})"
                ));
            }
        }
    };
    for s in plan
        .successors()
        .iter()
        .filter(|s| s.get("tenantSet").is_none())
    {
        let key = s["tenant"].as_str().unwrap_or_default();
        let values = &after
            .get(key)
            .with_context(|| format!("successor {key} missing"))?
            .values;
        for p in s["predecessors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            check(
                key,
                values,
                p,
                &before
                    .get(p)
                    .with_context(|| format!("no record of {p}"))?
                    .values,
            );
        }
    }
    for set_key in plan.successor_sets() {
        let (ns, name) = set_key.split_once('/').context("set key")?;
        let set: TenantSet = Api::namespaced(client.clone(), ns).get(name).await?;
        let values = set.spec.values.clone().unwrap_or(Value::Null);
        for p in &set.spec.predecessors {
            let old_set = old
                .sets
                .iter()
                .find(|s| key_of(s) == *p)
                .with_context(|| format!("{set_key} names {p}"))?;
            check(&set_key, &values, p, &old_set["spec"]["values"]);
        }
    }
    ensure!(lost.is_empty(), "{} values lost: {lost:?}", lost.len());
    Ok(())
}

/// The successor reusing a predecessor's code (or being it) has its api-key Secret's data byte
/// for byte; every other predecessor's values are in `<stem>-api-key-adopted` under
/// `<code>.<key>`; every old tenant's key went to exactly one successor.
pub fn assert_secrets_kept(
    live: &[Tenant],
    before: &BTreeMap<String, TenantRecord>,
    after: &BTreeMap<String, TenantRecord>,
) -> anyhow::Result<()> {
    let mut wrong = Vec::new();
    let mut taken: BTreeMap<&str, usize> = BTreeMap::new();
    for t in live {
        let key = format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any());
        let unit = &t.spec.unit;
        let slug = match unit.level {
            Level::Province => units(Division::D34)
                .province(&unit.code)
                .map(|p| p.slug.clone()),
            Level::Commune => units(Division::D34)
                .commune(&unit.code)
                .map(|c| c.slug.clone()),
        };
        let stem = tenant_stem(&slug.unwrap_or_default(), &unit.code);
        let now = &after[&key];
        let own = now
            .api_key
            .as_ref()
            .filter(|(n, _)| *n == format!("{stem}-{API_KEY}"));
        let Some((_, own)) = own else {
            wrong.push(format!("{key}: no Secret {stem}-{API_KEY}"));
            continue;
        };
        for p in t.spec.predecessors.iter().filter(|p| !p.partial) {
            *taken.entry(p.tenant.as_str()).or_default() += 1;
            let Some((_, old)) = before.get(&p.tenant).and_then(|r| r.api_key.as_ref()) else {
                wrong.push(format!("{key}: predecessor {} had no api-key", p.tenant));
                continue;
            };
            // The predecessor of the successor's code gives it its own Secret; every other
            // one (the successor itself too, updated in place under a new code) is adopted.
            if p.code == unit.code {
                if own != old {
                    wrong.push(format!(
                        "{key}: {stem}-{API_KEY} differs from {}'s",
                        p.tenant
                    ));
                }
                continue;
            }
            for (k, v) in old {
                let adopted = now
                    .adopted
                    .as_ref()
                    .and_then(|(_, d)| d.get(&format!("{}.{k}", p.code)));
                if adopted != Some(v) {
                    let in_place = if p.tenant == key {
                        format!(" (updated in place from code {})", p.code)
                    } else {
                        String::new()
                    };
                    wrong.push(format!(
                        "{key}{in_place}: {stem}-{API_KEY}-adopted[{}.{k}] is not {}'s",
                        p.code, p.tenant
                    ));
                }
            }
        }
    }
    for old in before.keys() {
        if taken.get(old.as_str()) != Some(&1) {
            wrong.push(format!(
                "{old}'s secrets went to {:?} successors",
                taken.get(old.as_str())
            ));
        }
    }
    ensure!(
        wrong.is_empty(),
        "{} secret problems: {wrong:?}",
        wrong.len()
    );
    Ok(())
}

/// No tracked host was ever without an Ingress, and each is now on the Ingress of the
/// successor that lists its predecessor without `partial` (or of the new unit that took it).
pub fn assert_no_host_gap(
    coverage: &HostCoverage,
    live: &[Tenant],
    before: &BTreeMap<String, TenantRecord>,
    after: &BTreeMap<String, TenantRecord>,
) -> anyhow::Result<()> {
    coverage.no_gap(Instant::now())?;
    // A host name a unit of the new division answers at itself (`hostTaken`) is served by
    // that unit's Ingress, not as an alias.
    let served: BTreeSet<&String> = after.values().flat_map(|r| &r.hosts).collect();
    let mut wrong = Vec::new();
    for t in live {
        let key = format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any());
        for p in t.spec.predecessors.iter().filter(|p| !p.partial) {
            for host in before
                .get(&p.tenant)
                .map(|r| &r.hosts)
                .into_iter()
                .flatten()
            {
                if p.host_taken && !served.contains(host) {
                    wrong.push(format!(
                        "{host} of {} (taken by a new unit) is on no Ingress",
                        p.tenant
                    ));
                } else if !p.host_taken && !after[&key].hosts.contains(host) {
                    wrong.push(format!("{host} of {} is not on {key}'s Ingress", p.tenant));
                }
            }
        }
    }
    ensure!(wrong.is_empty(), "{wrong:?}");
    Ok(())
}

/// Exactly the plan's successors are left; every tenant object belongs to one of them; no
/// Tenant or TenantSet in the namespace of a province that no longer exists.
pub async fn assert_nothing_left_behind(
    client: &Client,
    plan: &PlanView,
    after: &BTreeMap<String, TenantRecord>,
) -> anyhow::Result<()> {
    let successors: BTreeSet<String> = plan.predecessors().into_keys().collect();
    let live: BTreeSet<String> = after.keys().cloned().collect();
    ensure!(
        live == successors,
        "tenants besides the successors: {:?}; missing: {:?}",
        live.difference(&successors).collect::<Vec<_>>(),
        successors.difference(&live).collect::<Vec<_>>()
    );
    let labels: BTreeSet<&str> = after.values().map(|r| r.label.as_str()).collect();
    let orphans: Vec<String> = tenant_labelled_objects(client, PLATFORM)
        .await?
        .into_iter()
        .filter(|(_, l)| !labels.contains(l.as_str()))
        .map(|(o, l)| format!("{o} ({l})"))
        .collect();
    ensure!(
        orphans.is_empty(),
        "{} orphan objects: {orphans:?}",
        orphans.len()
    );
    let sets = Api::<TenantSet>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    let in_old_namespaces: Vec<String> = after
        .keys()
        .cloned()
        .chain(
            sets.iter()
                .map(|s| format!("{}/{}", s.namespace().unwrap_or_default(), s.name_any())),
        )
        .filter(|k| {
            let code = k
                .strip_prefix("tinh-")
                .and_then(|r| r.split('/').next())
                .unwrap_or_default();
            units(Division::D34).province(code).is_none()
        })
        .collect();
    ensure!(
        in_old_namespaces.is_empty(),
        "declarations in retired provinces' namespaces: {in_old_namespaces:?}"
    );
    Ok(())
}

/// `khaibao apply` of the plan's folder again: not one Tenant, TenantSet or object rewritten.
pub async fn assert_reapply_writes_nothing(
    cp: &ControlPlane,
    client: &Client,
    out: &Path,
) -> anyhow::Result<()> {
    let versions = resource_versions(client, PLATFORM).await?;
    khaibao(
        cp,
        [std::ffi::OsStr::new("apply"), out.as_os_str()],
        Duration::from_secs(180),
    )?
    .expect(0)?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let again = resource_versions(client, PLATFORM).await?;
    let changed: Vec<&String> = again
        .iter()
        .filter(|(k, v)| versions.get(*k) != Some(v))
        .map(|(k, _)| k)
        .collect();
    let gone: Vec<&String> = versions
        .keys()
        .filter(|k| !again.contains_key(*k))
        .collect();
    ensure!(
        changed.is_empty() && gone.is_empty(),
        "applying the plan again wrote {} objects (e.g. {:?}) and removed {gone:?}",
        changed.len(),
        changed.iter().take(10).collect::<Vec<_>>()
    );
    Ok(())
}
