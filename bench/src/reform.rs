//! The administrative reform of a converged fleet on the local control plane (issue 13): a
//! fleet of standalone Tenants of the 63-province division (one per province, one per commune,
//! as `khaibao generate tenants` writes them) is applied with `khaibao apply` and converged;
//! then the real planner (`khaibao reform plan --from 63 --to 34 --out DIR`, the communes the
//! official mapping does not place assigned with `--assign`), `khaibao apply DIR` and
//! `khaibao approve reform ID --platform dichvucong` move it to the 34-province division. The
//! clock runs from `khaibao apply DIR` until every successor is Ready (as a successor, for its
//! generation) and every predecessor Tenant is gone. Also measured: the API server's requests
//! over the move, the longest time any old host name was carried by no Ingress (the e2e
//! harness's tracker, `khaibao_e2e::timeline`), the operator's peak RSS over the move and CPU.
//! And offline: the planner over all 10,114 tenant files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use k8s_openapi::api::networking::v1::Ingress;
use khaibao::api::{Level, Platform, Tenant};
use khaibao::registry::{Division, merged_into, successors_of, units};
use khaibao_e2e::scale::{ApiRequests, ProcStats, ReadyTracker, quiesce};
use khaibao_e2e::timeline::{HostGap, ingress_hosts, watch_hosts, watch_tenants};
use khaibao_e2e::{ControlPlane, Operator, OperatorOptions, conditions_summary, tenant_ready};
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::fleet::{PLATFORM, PLATFORM_NAMESPACE};
use crate::runs::{Cpu, cpu_now};

/// No workload write for this long counts as quiet.
const QUIET: Duration = Duration::from_secs(2);

/// One size of the reform benchmark: the old provinces of the fleet (whole merge groups, so
/// every successor province has all its predecessors), or every province.
#[derive(Clone, Debug)]
pub struct ReformSize {
    pub label: &'static str,
    /// The 34-division provinces whose predecessors make the fleet; `None`: all 63 provinces.
    pub new_provinces: Option<&'static [&'static str]>,
}

/// ~1,000: 02 Hà Giang + 08 Tuyên Quang → 08, 17 Hoà Bình + 25 Phú Thọ + 26 Vĩnh Phúc → 25,
/// 56 Khánh Hoà + 58 Ninh Thuận → 56 (7 provinces, 1,003 communes: 1,010 tenants; a 2-, a 3-
/// and a 2-province merge, one unmapped commune); ~10,100: the whole 63-province division.
pub fn reform_sizes() -> Vec<ReformSize> {
    vec![
        ReformSize {
            label: "1k",
            new_provinces: Some(&["08", "25", "56"]),
        },
        ReformSize {
            label: "10.1k",
            new_provinces: None,
        },
    ]
}

impl ReformSize {
    /// The 63-division province codes of the fleet.
    pub fn old_provinces(&self) -> Vec<String> {
        units(Division::D63)
            .provinces
            .iter()
            .filter(|p| {
                self.new_provinces.is_none_or(|new| {
                    merged_into(&p.code).is_some_and(|n| new.contains(&n.code.as_str()))
                })
            })
            .map(|p| p.code.clone())
            .collect()
    }
}

/// Runs `khaibao ARGS` in the workspace root (so `./platforms` is found); `None` for no cluster.
fn cli(
    bin: &Path,
    kubeconfig: Option<&Path>,
    args: &[String],
    stdout: &Path,
) -> anyhow::Result<(i32, String, f64)> {
    let mut c = Command::new(bin);
    c.args(args)
        .current_dir(khaibao_e2e::workspace_root())
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(stdout)?)
        .stderr(Stdio::piped());
    match kubeconfig {
        Some(k) => c.env("KUBECONFIG", k),
        None => c.env_remove("KUBECONFIG"),
    };
    let start = Instant::now();
    let out = c
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let took = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Ok((out.status.code().unwrap_or(-1), stderr, took))
}

/// [`cli`] off the async runtime (the watches keep running meanwhile); fails unless it exits 0.
async fn cli_ok(
    bin: &Path,
    kubeconfig: &Path,
    args: &[&str],
    stdout: PathBuf,
) -> anyhow::Result<f64> {
    let (bin, kubeconfig) = (bin.to_path_buf(), kubeconfig.to_path_buf());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let line = format!("khaibao {}", args.join(" "));
    let (code, stderr, took) =
        tokio::task::spawn_blocking(move || cli(&bin, Some(&kubeconfig), &args, &stdout)).await??;
    ensure!(code == 0, "`{line}` exited {code}: {}", tail(&stderr, 20));
    Ok(took)
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `khaibao generate tenants` of every province and commune of the 63-province division into
/// `dir` (`00-namespaces.yaml`, `CODE-SLUG.yaml` per province, `CODE-SLUG/` of its communes).
pub fn generate_all(bin: &Path, dir: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    for level in ["province", "commune"] {
        let args: Vec<String> = [
            "generate",
            "tenants",
            "--platform",
            PLATFORM,
            "--division",
            "63",
            "--level",
            level,
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([dir.display().to_string()])
        .collect();
        let (code, stderr, _) = cli(bin, None, &args, Path::new("/dev/null"))?;
        ensure!(code == 0, "khaibao generate tenants: {stderr}");
    }
    Ok(())
}

/// The planner offline: `khaibao reform plan` over every tenant file, one warm-up and `runs`
/// runs under `/usr/bin/time`.
#[derive(Clone, Debug, Default)]
pub struct PlannerOffline {
    pub tenants: usize,
    /// (wall seconds, peak RSS KiB) of each timed run.
    pub runs: Vec<(f64, u64)>,
    pub exit_code: i32,
    pub summary: Value,
    pub command: String,
}

pub fn planner_offline(
    bin: &Path,
    all: &Path,
    work: &Path,
    runs: usize,
) -> anyhow::Result<PlannerOffline> {
    let out = work.join("offline-plan");
    let time_file = work.join("offline-plan.time");
    let json_file = work.join("offline-plan.json");
    let mut result = PlannerOffline {
        tenants: count_tenant_files(all)?,
        command: format!(
            "/usr/bin/time -f \"%e s %M KiB\" khaibao reform plan --from 63 --to 34 -o json --out OUT DIR  (DIR: the {} files of `khaibao generate tenants --division 63`, provinces and communes)",
            count_tenant_files(all)? + 1
        ),
        ..Default::default()
    };
    for i in 0..=runs {
        let _ = std::fs::remove_dir_all(&out);
        let status = Command::new("/usr/bin/time")
            .args(["-f", "%e %M", "-o"])
            .arg(&time_file)
            .arg(bin)
            .args([
                "reform", "plan", "--from", "63", "--to", "34", "-o", "json", "--out",
            ])
            .arg(&out)
            .arg(all)
            .current_dir(khaibao_e2e::workspace_root())
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&json_file)?)
            .stderr(Stdio::null())
            .status()
            .context("cannot run /usr/bin/time")?;
        let code = status.code().unwrap_or(-1);
        // Exit 1: the 28 communes the official mapping does not place are listed as unmapped;
        // everything is planned all the same.
        ensure!(code <= 1, "khaibao reform plan exited {code}");
        result.exit_code = code;
        let text = std::fs::read_to_string(&time_file)?;
        let last = text.lines().last().unwrap_or_default();
        let mut it = last.split_whitespace();
        let wall: f64 = it
            .next()
            .and_then(|s| s.parse().ok())
            .context("time output")?;
        let kib: u64 = it
            .next()
            .and_then(|s| s.parse().ok())
            .context("time output")?;
        eprintln!(
            "[bench] reform plan offline run {i}: {wall:.2} s, {} MiB, exit {code}",
            kib / 1024
        );
        if i > 0 {
            result.runs.push((wall, kib));
        }
    }
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&json_file)?)?;
    result.summary = plan["summary"].clone();
    let _ = std::fs::remove_dir_all(&out);
    Ok(result)
}

fn count_tenant_files(dir: &Path) -> anyhow::Result<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            n += count_tenant_files(&p)?;
        } else if p.extension().is_some_and(|x| x == "yaml") && !p.ends_with("00-namespaces.yaml") {
            n += 1;
        }
    }
    Ok(n)
}

/// The fleet folder of `size`: every file of `all` for its provinces (hard links), and its
/// namespaces.
fn fleet_dir(size: &ReformSize, all: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    if size.new_provinces.is_none() {
        return Ok(all.to_path_buf());
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let codes = size.old_provinces();
    let mut namespaces = Vec::new();
    for code in &codes {
        namespaces.push(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": format!("tinh-{code}"), "labels": {"khaibao.dev/province-code": code}}}));
        for e in std::fs::read_dir(all)? {
            let p = e?.path();
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if !name.starts_with(&format!("{code}-")) {
                continue;
            }
            if p.is_dir() {
                std::fs::create_dir_all(dir.join(&name))?;
                for f in std::fs::read_dir(&p)? {
                    let f = f?.path();
                    std::fs::hard_link(
                        &f,
                        dir.join(&name).join(f.file_name().unwrap_or_default()),
                    )?;
                }
            } else {
                std::fs::hard_link(&p, dir.join(&name))?;
            }
        }
    }
    std::fs::write(
        dir.join("00-namespaces.yaml"),
        khaibao::yaml::to_yaml_stream(namespaces.iter()),
    )?;
    Ok(dir.to_path_buf())
}

/// `--assign OLD=NEW` for each commune the official mapping does not place: the successor of
/// the nearest commune (by code) of the same 63-division district that the mapping places (its
/// whole-unit successor when it has one), else of the same province.
fn assignments(unmapped: &[Value]) -> anyhow::Result<Vec<String>> {
    let reg = units(Division::D63);
    let mut out = Vec::new();
    for u in unmapped {
        let code = u["code"].as_str().context("unmapped without code")?;
        ensure!(u["level"] == "commune", "an unmapped province {code}");
        let c = reg
            .commune(code)
            .with_context(|| format!("unknown commune {code}"))?;
        let num = |s: &str| s.parse::<i64>().unwrap_or(0);
        let nearest = |same_district: bool| {
            reg.communes_of(&c.province_code)
                .filter(|n| !same_district || n.district_code == c.district_code)
                .filter(|n| !successors_of(Level::Commune, &n.code).is_empty())
                .min_by_key(|n| (num(&n.code) - num(code)).abs())
        };
        let Some(neighbour) = nearest(true).or_else(|| nearest(false)) else {
            bail!("commune {code} has no mapped neighbour");
        };
        let links = successors_of(Level::Commune, &neighbour.code);
        let to = links.iter().find(|l| !l.partial).unwrap_or(&links[0]);
        out.push(format!("{code}={}", to.code));
    }
    Ok(out)
}

/// What one move measured.
#[derive(Clone, Debug, Default)]
pub struct ReformRun {
    pub label: String,
    pub tenants: usize,
    pub old_provinces: usize,
    pub new_provinces: usize,
    pub successors: usize,
    /// Successors that keep a predecessor's namespace and name (updated, not retired).
    pub in_place: usize,
    pub retired: usize,
    pub assigned: Vec<String>,
    pub plan_id: String,
    pub plan_summary: Value,
    pub plan_seconds: f64,
    /// `khaibao apply FLEET` until every Tenant is Ready (not part of the move).
    pub cold_seconds: f64,
    pub cold_rss_mib: f64,
    /// Since `khaibao apply DIR` started.
    pub apply_seconds: f64,
    pub approved_at: f64,
    pub successors_ready_at: f64,
    pub predecessors_gone_at: f64,
    pub seconds: f64,
    pub complete_at: Option<f64>,
    pub requests: ApiRequests,
    pub cpu: Cpu,
    pub peak_rss_mib: f64,
    pub hosts_tracked: usize,
    pub ingress_events: usize,
    pub gaps: Vec<HostGap>,
    pub longest_gap: Duration,
    /// (seconds, successors Ready as successors, predecessors gone).
    pub timeline: Vec<(f64, usize, usize)>,
    pub error: Option<String>,
    /// Why the platform's `status.reforms[]` never showed the plan Complete.
    pub not_complete: Option<String>,
    /// Predecessors `namespace/name` listed by a successor other than the Tenant of that name,
    /// which is itself a successor (a new unit that took an old unit's name).
    pub reused: Vec<String>,
    /// Successors deleted during the move before they were ever Ready as successors.
    pub lost: Vec<String>,
}

/// The plan's successors `namespace/name` with their predecessors.
fn plan_successors(plan: &Value) -> BTreeMap<String, Vec<String>> {
    plan["successors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let p = s["predecessors"].as_array().into_iter().flatten();
            (
                s["tenant"].as_str().unwrap_or_default().to_string(),
                p.filter_map(|p| p.as_str().map(String::from)).collect(),
            )
        })
        .collect()
}

pub struct ReformOptions {
    pub operator_concurrency: usize,
    pub timeout: Duration,
}

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

/// What is stuck: successors not Ready and predecessors left (with their conditions), the
/// plan's status and the operator's last warnings.
async fn diagnose(
    client: &Client,
    successors: &BTreeMap<String, Vec<String>>,
    retired: &BTreeSet<String>,
    plan: &str,
    op: &Operator,
) -> String {
    let mut out = String::new();
    let live = Api::<Tenant>::all(client.clone())
        .list(&ListParams::default())
        .await;
    match live {
        Ok(list) => {
            let live: BTreeMap<String, &Tenant> = list
                .items
                .iter()
                .map(|t| {
                    (
                        format!("{}/{}", t.namespace().unwrap_or_default(), t.name_any()),
                        t,
                    )
                })
                .collect();
            let stuck: Vec<String> = successors
                .keys()
                .filter(|k| !live.get(*k).is_some_and(|t| tenant_ready(t)))
                .map(|k| match live.get(k) {
                    Some(t) => format!("{k}: {}", conditions_summary(t)),
                    None => format!("{k}: missing"),
                })
                .collect();
            let left: Vec<String> = retired
                .iter()
                .filter_map(|k| live.get(k).map(|t| (k, t)))
                .map(|(k, t)| {
                    format!(
                        "{k}: deletion {:?}, finalizers {:?}; {}",
                        t.metadata
                            .deletion_timestamp
                            .as_ref()
                            .map(|d| d.0.to_string()),
                        t.finalizers(),
                        conditions_summary(t)
                    )
                })
                .collect();
            out.push_str(&format!(
                "successors not Ready: {}\n{}\npredecessors left: {}\n{}\n",
                stuck.len(),
                stuck
                    .iter()
                    .take(15)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n"),
                left.len(),
                left.iter().take(15).cloned().collect::<Vec<_>>().join("\n"),
            ));
        }
        Err(e) => out.push_str(&format!("cannot list Tenants: {e}\n")),
    }
    if let Ok(p) = Api::<Platform>::all(client.clone()).get(PLATFORM).await {
        let r: Vec<_> = p
            .status
            .iter()
            .flat_map(|s| &s.reforms)
            .filter(|r| r.plan == plan)
            .collect();
        out.push_str(&format!("platform status.reforms: {r:?}\n"));
    }
    let log = op.log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    out.push_str(&format!(
        "operator log ({}): {} warning/error lines, last ones:\n{}\n",
        op.log_path().display(),
        warnings.len(),
        warnings[warnings.len().saturating_sub(15)..].join("\n")
    ));
    out
}
