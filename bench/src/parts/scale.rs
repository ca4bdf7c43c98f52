//! The main part: cold convergence, resync and template change against the baseline and the
//! declared floor, the Helm and kro peers, and `khaibao test` against `helm template` offline.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::args_line;
use crate::fleet::{self, render, sizes};
use crate::runs::{self, KhaibaoOptions, baseline, declared_floor, helm, helm_chart, khaibao};
use crate::{Args, offline, release_bin, report};

pub(crate) async fn run(args: &Args) -> anyhow::Result<()> {
    let root = khaibao_e2e::workspace_root();
    let out = root.join(&args.out);
    std::fs::create_dir_all(&out)?;
    let mut results = report::Results::new(&args_line());
    let chosen: Vec<fleet::Size> = sizes()
        .into_iter()
        .filter(|s| args.sizes.iter().any(|a| a == s.label))
        .collect();
    anyhow::ensure!(!chosen.is_empty(), "no known size in {:?}", args.sizes);
    let mut best_concurrency = None;
    let kro_bin = if args.no_kro {
        None
    } else {
        match build_kro() {
            Ok(bin) => Some(bin),
            Err(e) => {
                eprintln!("[bench] kro cannot run: {e:#}");
                results.kro_note = Some(format!(
                    "kro could not be built here (`bench/peers/kro/build-kro.sh`): `{e:#}`"
                ));
                None
            }
        }
    };
    for size in &chosen {
        let rendered = render(size)?;
        let n = rendered.fleet.tenants.len();
        eprintln!(
            "[bench] {}: {n} tenants, {} objects",
            size.label,
            rendered.objects.len()
        );
        let mut row = report::SizeResult::new(size.label, n, rendered.objects.len());
        // The best baseline concurrency, found once.
        let conc = match best_concurrency {
            Some(c) => c,
            None => {
                let mut best = (f64::MAX, 0);
                for &c in &args.baseline_concurrency {
                    let p = baseline(&rendered, c, None).await?;
                    eprintln!("[bench]   baseline concurrency {c}: {:.1} s", p.seconds);
                    row.concurrency_search.push((c, p.seconds));
                    if p.seconds < best.0 {
                        best = (p.seconds, c);
                    }
                }
                best_concurrency = Some(best.1);
                best.1
            }
        };
        row.baseline_concurrency = conc;
        let perf_dir = args.perf_dir.as_ref().map(|d| root.join(d));
        let perf = |phase: &str| {
            perf_dir
                .as_ref()
                .map(|d| (d.clone(), format!("{phase}-{}", size.label)))
        };
        let mut runs = args.runs.max(1);
        let mut i = 0;
        while i < runs {
            let b = baseline(&rendered, conc, perf("baseline")).await?;
            eprintln!("[bench]   baseline run {}: {:.1} s", i + 1, b.seconds);
            if !args.no_floor {
                let f = declared_floor(&rendered, args.operator_concurrency, perf("floor")).await?;
                eprintln!("[bench]   declared floor run {}: {:.1} s", i + 1, f.seconds);
                row.floor.push(f);
                row.floor_concurrency = args.operator_concurrency;
            }
            let k = khaibao(
                &rendered,
                &KhaibaoOptions {
                    concurrency: args.tenant_concurrency,
                    operator_concurrency: args.operator_concurrency,
                    resync: true,
                    template_change: !args.no_template_change,
                    timeout: Duration::from_secs(1800),
                    perf: perf("khaibao"),
                },
            )
            .await?;
            eprintln!(
                "[bench]   khaibao run {}: cold {:.1} s, {:.2} writes/tenant, peak RSS {:.0} MiB, resync {:.1} s ({} writes, peak RSS {:.0} MiB), template change {:.1} s",
                i + 1,
                k.cold.seconds,
                k.writes_per_tenant,
                k.peak_rss_mib,
                k.resync.as_ref().map_or(0.0, |r| r.seconds),
                k.resync.as_ref().map_or(0.0, |r| r.requests.writes()),
                k.resync_rss_mib,
                k.template.as_ref().map_or(0.0, |r| r.seconds),
            );
            if i == 0 && k.cold.seconds.max(b.seconds) > 60.0 {
                runs = 1;
            }
            row.baseline.push(b);
            row.khaibao.push(k);
            i += 1;
        }
        if size.label == "1k" && !args.no_helm {
            let h = helm(&rendered, &helm_chart(), args.helm_parallel).await?;
            eprintln!("[bench]   helm: {:.1} s", h.seconds);
            row.helm = Some((args.helm_parallel, h));
        }
        if let Some(bin) = kro_bin
            .as_ref()
            .filter(|_| args.kro_sizes.iter().any(|k| k == size.label))
        {
            match runs::kro(
                &rendered,
                bin,
                args.tenant_concurrency,
                Duration::from_secs(args.kro_timeout_seconds),
            )
            .await
            {
                Ok((p, rss)) => {
                    eprintln!("[bench]   kro: {:.1} s", p.seconds);
                    row.kro = Some((p, rss));
                }
                Err(e) => {
                    eprintln!("[bench]   kro failed: {e:#}");
                    row.kro_error = Some(format!("{e:#}"));
                }
            }
        }
        results.sizes.push(row);
        results.write(&out)?;
    }
    if !args.no_offline {
        let cli = args
            .khaibao_cli
            .clone()
            .unwrap_or_else(|| release_bin("khaibao"));
        let all = render(&sizes()[2])?;
        let helm_bin = PathBuf::from(
            std::process::Command::new(root.join("e2e/build-controlplane.sh"))
                .output()
                .context("e2e/build-controlplane.sh")
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .to_string()
                })?,
        )
        .join("helm");
        let work =
            std::env::temp_dir().join(format!("khaibao-bench-offline.{}", std::process::id()));
        let o = offline::run(&cli, &helm_bin, &all, &work, args.helm_template_sample, 2)?;
        let _ = std::fs::remove_dir_all(&work);
        eprintln!(
            "[bench] offline: khaibao test {:.2} s, helm template {:.0} s (extrapolated)",
            o.khaibao_median, o.helm_extrapolated
        );
        results.offline = Some(o);
    }
    results.write(&out)?;
    let table = results.markdown();
    println!("{table}");
    results.plot(&out);
    report::replace_section(&root.join(&args.benchmarks_md), &table)?;
    Ok(())
}

/// Builds kro (cached) with `bench/peers/kro/build-kro.sh`; its last stdout line is the binary.
fn build_kro() -> anyhow::Result<PathBuf> {
    let out = std::process::Command::new(
        khaibao_e2e::workspace_root().join("bench/peers/kro/build-kro.sh"),
    )
    .output()
    .context("cannot run bench/peers/kro/build-kro.sh")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        out.status.success(),
        "{}",
        stderr
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("; ")
    );
    let bin = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    Ok(PathBuf::from(bin))
}
