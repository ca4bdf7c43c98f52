//! One move of a converged fleet to the 34-province division, measured.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use k8s_openapi::api::networking::v1::Ingress;
use khaibao::api::{Platform, Tenant};
use khaibao_e2e::scale::{ProcStats, ReadyTracker, quiesce};
use khaibao_e2e::timeline::{ingress_hosts, watch_hosts, watch_tenants};
use khaibao_e2e::{ControlPlane, Operator, OperatorOptions, tenant_ready};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde_json::Value;

use super::cli::{cli, cli_ok, tail};
use super::diagnose::diagnose;
use super::plan::{assignments, plan_successors};
use super::tenant_files::{count_tenant_files, fleet_dir};
use super::{QUIET, ReformOptions, ReformRun, ReformSize};
use crate::fleet::{PLATFORM, PLATFORM_NAMESPACE};
use crate::runs::cpu_now;

/// One move at `size`, on a fresh control plane.
pub async fn run(
    size: &ReformSize,
    bin: &Path,
    all: &Path,
    work: &Path,
    o: &ReformOptions,
) -> anyhow::Result<ReformRun> {
    let work = work.join(size.label);
    std::fs::create_dir_all(&work)?;
    let fleet = fleet_dir(size, all, &work.join("fleet"))?;
    let n = count_tenant_files(&fleet)?;
    let mut r = ReformRun {
        label: size.label.into(),
        tenants: n,
        old_provinces: size.old_provinces().len(),
        ..Default::default()
    };
    // The plan, offline and before anything runs: first to find the unmapped communes, then
    // with their assignments into DIR.
    let plan_dir = work.join("plan");
    let _ = std::fs::remove_dir_all(&plan_dir);
    let mut args: Vec<String> = ["reform", "plan", "--from", "63", "--to", "34", "-o", "json"]
        .map(String::from)
        .to_vec();
    let first = work.join("plan-first.json");
    let (code, stderr, _) = cli(
        bin,
        None,
        &[args.clone(), vec![fleet.display().to_string()]].concat(),
        &first,
    )?;
    ensure!(code <= 1, "khaibao reform plan exited {code}: {stderr}");
    let first: Value = serde_json::from_str(&std::fs::read_to_string(&first)?)?;
    r.assigned = assignments(first["unmapped"].as_array().map_or(&[], Vec::as_slice))?;
    for a in &r.assigned {
        args.extend(["--assign".into(), a.clone()]);
    }
    args.extend([
        "--out".into(),
        plan_dir.display().to_string(),
        fleet.display().to_string(),
    ]);
    let (code, stderr, took) = cli(bin, None, &args, &work.join("plan.json"))?;
    ensure!(
        code == 0,
        "`khaibao {}` exited {code} (incomplete plan): {}",
        args.join(" "),
        tail(&stderr, 20)
    );
    r.plan_seconds = took;
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(plan_dir.join("reform-plan.json"))?)?;
    r.plan_id = plan["id"].as_str().unwrap_or_default().to_string();
    r.plan_summary = plan["summary"].clone();
    let successors = plan_successors(&plan);
    let retired: BTreeSet<String> = successors
        .values()
        .flatten()
        .filter(|p| !successors.contains_key(p.as_str()))
        .cloned()
        .collect();
    r.successors = successors.len();
    r.in_place = successors.iter().filter(|(k, p)| p.contains(k)).count();
    r.retired = retired.len();
    r.reused = successors
        .iter()
        .flat_map(|(s, ps)| ps.iter().filter(move |p| *p != s))
        .filter(|p| successors.contains_key(p.as_str()))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    r.new_provinces = plan["summary"]["provinces"]["to"].as_u64().unwrap_or(0) as usize;
    eprintln!(
        "[bench] reform {}: {n} tenants, plan {} ({} successors, {} in place, {} to retire; assigned {:?}), planned in {took:.2} s",
        size.label, r.plan_id, r.successors, r.in_place, r.retired, r.assigned
    );

    // The converged fleet, declared with the CLI as a user would.
    let cp = ControlPlane::start()?;
    let client = cp.client().await?;
    let opts = OperatorOptions {
        leader_election: false,
        extra_args: vec!["--concurrency".into(), o.operator_concurrency.to_string()],
        ..OperatorOptions::new("bench")
    };
    let op = Operator::start(&cp, opts)?;
    op.wait_ready(Duration::from_secs(60)).await?;
    let pid = op.pid().context("operator pid")?;
    let tracker = ReadyTracker::start(client.clone());
    let fleet_s = fleet.display().to_string();
    let start = Instant::now();
    cli_ok(
        bin,
        &cp.kubeconfig,
        &["apply", &fleet_s],
        work.join("apply-fleet.out"),
    )
    .await?;
    let ready = tracker.wait(n, o.timeout).await?;
    r.cold_seconds = ready.duration_since(start).as_secs_f64();
    r.cold_rss_mib = ProcStats::read(pid)?.hwm_kib as f64 / 1024.0;
    drop(tracker);
    eprintln!(
        "[bench]   fleet of {n} Ready in {:.1} s (cold, `khaibao apply`)",
        r.cold_seconds
    );

    // Watches over the whole move: every host name the fleet serves, every Tenant.
    quiesce(&client, QUIET, Duration::from_secs(60)).await?;
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), PLATFORM_NAMESPACE);
    let hosts: BTreeSet<String> = ingresses
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .flat_map(ingress_hosts)
        .collect();
    r.hosts_tracked = hosts.len();
    let coverage = watch_hosts(&client, PLATFORM_NAMESPACE, hosts).await?;
    let lifecycle = watch_tenants(&client).await?;
    let m0 = quiesce(&client, QUIET, Duration::from_secs(30)).await?;
    let c0 = cpu_now(&cp, Some(pid));
    // The operator's peak from here on (VmHWM reset).
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").context("resetting VmHWM")?;

    let start = Instant::now();
    let since = |t: Instant| t.saturating_duration_since(start).as_secs_f64();
    let plan_s = plan_dir.display().to_string();
    let moved = async {
        cli_ok(
            bin,
            &cp.kubeconfig,
            &["apply", &plan_s],
            work.join("apply-plan.out"),
        )
        .await?;
        r.apply_seconds = since(Instant::now());
        // Approved as soon as the platform lists the plan: the guard's wait is a person's.
        let platforms: Api<Platform> = Api::all(client.clone());
        khaibao_e2e::wait_until(
            "the plan on the platform",
            Duration::from_secs(120),
            async || {
                let p = platforms.get(PLATFORM).await?;
                ensure!(
                    p.status
                        .iter()
                        .flat_map(|s| &s.reforms)
                        .any(|x| x.plan == r.plan_id),
                    "not yet"
                );
                Ok(())
            },
        )
        .await?;
        cli_ok(
            bin,
            &cp.kubeconfig,
            &["approve", "reform", &r.plan_id, "--platform", PLATFORM],
            work.join("approve.out"),
        )
        .await?;
        r.approved_at = since(Instant::now());
        let mut last = (usize::MAX, usize::MAX);
        loop {
            // A successor deleted during the move (a bug) can never be Ready: it is counted
            // apart so the rest of the move is still measured, and reported.
            let (ready, gone, lost, ready_at, gone_at) = lifecycle.read(|l| {
                let ready: Vec<Instant> = successors
                    .keys()
                    .filter_map(|k| l.ready_as_successor.get(k).copied())
                    .collect();
                let lost: Vec<String> = successors
                    .keys()
                    .filter(|k| l.gone.contains_key(*k) && !l.ready_as_successor.contains_key(*k))
                    .cloned()
                    .collect();
                let gone: Vec<Instant> = retired
                    .iter()
                    .filter_map(|k| l.gone.get(k).copied())
                    .collect();
                (
                    ready.len(),
                    gone.len(),
                    lost,
                    ready.into_iter().max(),
                    gone.into_iter().max(),
                )
            });
            if (ready, gone) != last {
                r.timeline
                    .push((start.elapsed().as_secs_f64(), ready, gone));
                last = (ready, gone);
            }
            if ready + lost.len() == successors.len() && gone == retired.len() {
                r.successors_ready_at = ready_at.map_or(0.0, since);
                r.predecessors_gone_at = gone_at.map_or(0.0, since);
                r.seconds = r.successors_ready_at.max(r.predecessors_gone_at);
                r.lost = lost;
                break;
            }
            if start.elapsed() > o.timeout {
                bail!(
                    "after {:.0?}: {ready} of {} successors Ready, {gone} of {} predecessors gone",
                    o.timeout,
                    successors.len(),
                    retired.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = moved {
        let diagnosis = diagnose(&client, &successors, &retired, &r.plan_id, &op).await;
        eprintln!("[bench] reform {} failed: {e:#}\n{diagnosis}", size.label);
        r.error = Some(format!("{e:#}\n{diagnosis}"));
        cp.mark_failed();
        if let Ok(c) = coverage.finish().await {
            r.longest_gap = c.longest_gap(Instant::now());
            r.gaps = c.gaps.clone();
            r.ingress_events = c.events;
        }
        return Ok(r);
    }
    // Everything the move caused: until the plan shows Complete and the API server is quiet.
    let platforms: Api<Platform> = Api::all(client.clone());
    let complete =
        khaibao_e2e::wait_until("the plan Complete", Duration::from_secs(120), async || {
            let p = platforms.get(PLATFORM).await?;
            ensure!(
                p.status
                    .iter()
                    .flat_map(|s| &s.reforms)
                    .any(|x| x.plan == r.plan_id && x.phase == "Complete"),
                "not yet"
            );
            Ok(())
        })
        .await;
    if complete.is_ok() {
        r.complete_at = Some(since(Instant::now()));
    }
    let m1 = quiesce(&client, QUIET, Duration::from_secs(60)).await?;
    let c1 = cpu_now(&cp, Some(pid));
    r.requests = m1.since(&m0).workload();
    r.cpu = c1.since(c0);
    r.peak_rss_mib = ProcStats::read(pid)?.hwm_kib as f64 / 1024.0;
    let now = Instant::now();
    let c = coverage.finish().await?;
    r.longest_gap = c.longest_gap(now);
    r.gaps = c.gaps.clone();
    r.ingress_events = c.events;
    let open: Vec<String> = c.uncovered_now().iter().map(|h| h.to_string()).collect();
    drop(lifecycle);
    // What the watches saw, checked against a fresh list.
    let live: Vec<Tenant> = Api::<Tenant>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let live: BTreeMap<String, &Tenant> = live
        .iter()
        .map(|t| {
            (
                format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any()),
                t,
            )
        })
        .collect();
    let not_ready: Vec<&String> = successors
        .keys()
        .filter(|k| !live.get(*k).is_some_and(|t| tenant_ready(t)))
        .collect();
    let left: Vec<&String> = retired.iter().filter(|k| live.contains_key(*k)).collect();
    if !r.lost.is_empty() {
        let log = op.log();
        let why: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains("retired predecessor")
                    && r.lost
                        .iter()
                        .any(|k| l.contains(&format!("\"predecessor\":\"{k}\"")))
            })
            .collect();
        r.error = Some(format!(
            "{} successor(s) deleted during the move, never Ready as successors: {}; the operator's log:\n{}",
            r.lost.len(),
            r.lost.join(", "),
            why.join("\n")
        ));
    }
    let not_ready: Vec<&String> = not_ready
        .into_iter()
        .filter(|k| !r.lost.contains(k))
        .collect();
    if !not_ready.is_empty() || !left.is_empty() || !open.is_empty() {
        let before = r.error.take().map(|e| format!("{e}\n")).unwrap_or_default();
        r.error = Some(format!(
            "{before}at the end: {} successors not Ready (e.g. {:?}), {} predecessors left (e.g. {:?}), {} host names carried by no Ingress (e.g. {:?})",
            not_ready.len(),
            not_ready.first(),
            left.len(),
            left.first(),
            open.len(),
            open.first()
        ));
    }
    if complete.is_err() {
        let status: Vec<_> = platforms
            .get(PLATFORM)
            .await
            .ok()
            .and_then(|p| p.status)
            .into_iter()
            .flat_map(|s| s.reforms)
            .filter(|x| x.plan == r.plan_id)
            .collect();
        r.not_complete = Some(format!(
            "the platform did not show the plan Complete within 120 s of the move's end: `{status:?}`; predecessors that another successor lists while their own namespace/name is a successor (a new unit that took an old unit's name, so the old Tenant is never deleted): {}",
            r.reused.join(", ")
        ));
    }
    eprintln!(
        "[bench]   move: {:.1} s (apply {:.1} s, approved at {:.1} s, successors Ready at {:.1} s, predecessors gone at {:.1} s), writes {:.0}, longest host gap {:?}, peak RSS {:.0} MiB",
        r.seconds,
        r.apply_seconds,
        r.approved_at,
        r.successors_ready_at,
        r.predecessors_gone_at,
        r.requests.writes(),
        r.longest_gap,
        r.peak_rss_mib
    );
    drop(op);
    Ok(r)
}
