//! The floor `khaibao test` is measured against (`bench/test-vs-render.sh`): read every tenant
//! file, parse it with the project's YAML reader, take its Tenants and render each with the
//! platform, in parallel on every core, and nothing else — no validation report, no collision
//! checks, no expected files, no output. What `khaibao test` costs beyond this is its own.
//!
//!   render-baseline PLATFORM_DIR TENANTS_DIR

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, bail};
use khaibao::api::{Platform, Tenant};
use khaibao::pipeline::CompiledPlatform;

// The allocator `khaibao` uses (cli/src/main.rs): the comparison is of the work, not of malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = e?.path();
        if path.is_dir() {
            yaml_files(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "yaml") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [platform_dir, tenants_dir] = args.as_slice() else {
        bail!("usage: render-baseline PLATFORM_DIR TENANTS_DIR");
    };
    let platform_dir = Path::new(platform_dir);
    let name = platform_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let manifest = khaibao_e2e::platform_manifest(platform_dir, &name, &name)?;
    let platform: Platform = serde_json::from_value(manifest)?;
    let compiled = CompiledPlatform::compile(&platform)
        .map_err(|p| anyhow::anyhow!("platform does not compile: {} problem(s)", p.len()))?;
    let mut files = Vec::new();
    yaml_files(Path::new(tenants_dir), &mut files)?;
    files.sort();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = files.len().div_ceil(threads).max(1);
    // Parse in parallel; parents are looked up by namespace/name once all are read.
    let parsed: Vec<Vec<Tenant>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || -> anyhow::Result<Vec<Tenant>> {
                    let mut out = Vec::new();
                    for path in part {
                        let text = std::fs::read_to_string(path)?;
                        let docs = khaibao::yaml::parse_stream(&text, false)
                            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message))?;
                        for d in docs {
                            if d.value["kind"] == "Tenant" {
                                out.push(serde_json::from_value(d.value)?);
                            }
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a parser thread panicked"))
            .collect::<anyhow::Result<_>>()
    })?;
    let tenants: Vec<Tenant> = parsed.into_iter().flatten().collect();
    let by_key: HashMap<String, &Tenant> = tenants
        .iter()
        .map(|t| {
            let ns = t.metadata.namespace.clone().unwrap_or_default();
            (
                format!("{ns}/{}", t.metadata.name.clone().unwrap_or_default()),
                t,
            )
        })
        .collect();
    let (objects, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let chunk = tenants.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for part in tenants.chunks(chunk) {
            let (compiled, by_key, objects, failed) = (&compiled, &by_key, &objects, &failed);
            s.spawn(move || {
                for t in part {
                    let ns = t.metadata.namespace.clone().unwrap_or_default();
                    let parent = t
                        .spec
                        .parent
                        .as_ref()
                        .and_then(|p| by_key.get(&format!("{ns}/{p}")).copied());
                    match compiled.render_tenant(t, parent) {
                        Ok(r) => {
                            objects.fetch_add(
                                r.objects.len() + r.generated_secrets.len(),
                                Ordering::Relaxed,
                            );
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    println!(
        "{} files, {} tenants rendered to {} objects, {} failed",
        files.len(),
        tenants.len(),
        objects.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    Ok(())
}
