//! Renders every tenant that was read, exactly as the operator will: same pipeline, same
//! collision rules. Tenants render in parallel; each platform compiles once.

use std::collections::{BTreeMap, HashMap};

use khaibao::diagnostics::{Diagnostic, Origin, Text};
use khaibao::pipeline::{Claims, CompiledPlatform, RenderedTenant, find_claim_collisions};
use rayon::prelude::*;

use crate::input::{Inputs, LoadedPlatform, LoadedTenant};
use crate::report::Report;

/// The outcome for one tenant (index into `Inputs::tenants`): what was kept of it once rendered
/// (the whole [`RenderedTenant`], or a [`Verdict`]), or why it was refused.
pub struct Outcome<T = RenderedTenant> {
    pub index: usize,
    pub result: Result<T, Vec<Report>>,
    /// What the caller's inspection of the rendered tenant found (see [`render_fleet_verdicts`]).
    pub notes: Vec<String>,
}

pub struct Fleet<T = RenderedTenant> {
    pub compiled: BTreeMap<String, Result<CompiledPlatform, Vec<Report>>>,
    pub outcomes: Vec<Outcome<T>>,
}

/// What verdict-only rendering keeps of a tenant that rendered: the reasons of its unit's
/// warnings (their text is built again for the few printed, `validate::warning_reports`).
pub struct Verdict {
    pub warnings: Vec<&'static str>,
}

/// Turns a pipeline diagnostic into a located report.
pub fn locate(
    inputs: &Inputs,
    d: &Diagnostic,
    tenant: Option<&LoadedTenant>,
    parent: Option<&LoadedTenant>,
    platform: Option<&LoadedPlatform>,
) -> Report {
    let who = tenant.map(tenant_key);
    let (path, loc) = match (&d.origin, tenant, parent, platform) {
        (Origin::Tenant, Some(t), _, _) => {
            (Some(inputs.path(t.at)), inputs.location(t.at, &d.pointer))
        }
        (Origin::Parent, _, Some(p), _) => {
            (Some(inputs.path(p.at)), inputs.location(p.at, &d.pointer))
        }
        (Origin::Platform, _, _, Some(p)) => {
            (Some(inputs.path(p.at)), inputs.location(p.at, &d.pointer))
        }
        (Origin::Template { name, line }, _, _, Some(p)) => match p.template_files.get(name) {
            Some(file) => (
                Some(file.as_path()),
                line.map(|l| khaibao::yaml::Location { line: l, column: 1 }),
            ),
            None => {
                // Inline template of a built platform: point into the platform document.
                let (kind, tname) = name.split_once('/').unwrap_or(("tenant", name));
                let list = if kind == "shared" {
                    &p.platform.spec.templates.shared
                } else {
                    &p.platform.spec.templates.tenant
                };
                let idx = list.iter().position(|t| t.name == tname).unwrap_or(0);
                let base = inputs.location(p.at, &format!("/spec/templates/{kind}/{idx}/template"));
                // `base` is where the template text starts: its first line for a block scalar
                // (`template: |`, as `khaibao platform build` writes it).
                let loc = match (base, line) {
                    (Some(b), Some(l)) => Some(khaibao::yaml::Location {
                        line: b.line + l.saturating_sub(1),
                        column: 1,
                    }),
                    (b, _) => b,
                };
                (Some(inputs.path(p.at)), loc)
            }
        },
        (_, Some(t), _, _) => (Some(inputs.path(t.at)), inputs.location(t.at, "")),
        _ => (None, None),
    };
    let mut r = Report::from_diagnostic(d, path, loc, who);
    if let Origin::Template { name, .. } = &d.origin
        && !r.message.en.contains(name.as_str())
        && path.is_some_and(|p| !p.ends_with(name.rsplit('/').next().unwrap_or_default()))
    {
        r.message = Text::new(
            format!("{name}: {}", r.message.en),
            format!("{name}: {}", r.message.vi),
        );
    }
    r
}

pub fn tenant_key(t: &LoadedTenant) -> String {
    format!(
        "{}/{}",
        t.tenant.metadata.namespace.as_deref().unwrap_or("default"),
        t.tenant.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Compiles every platform that was read.
pub fn compile_platforms(
    inputs: &Inputs,
) -> BTreeMap<String, Result<CompiledPlatform, Vec<Report>>> {
    inputs
        .platforms
        .iter()
        .map(|(name, p)| {
            let compiled = CompiledPlatform::compile(&p.platform).map_err(|ds| {
                ds.iter()
                    .map(|d| locate(inputs, d, None, None, Some(p)))
                    .collect()
            });
            (name.clone(), compiled)
        })
        .collect()
}

/// Renders every tenant and checks them against each other.
pub fn render_fleet(inputs: &Inputs) -> Fleet {
    render_fleet_with(inputs, &|_, rendered| (rendered, Vec::new()))
}

/// What a caller looks at in each rendered tenant before its objects are dropped.
pub type Inspect<'a> = &'a (dyn Fn(&LoadedTenant, &RenderedTenant) -> Vec<String> + Sync);

/// [`render_fleet`] for commands that need a verdict per tenant, not its objects (`test`,
/// `validate`): `inspect` sees each rendered tenant whole (its findings land in
/// [`Outcome::notes`]); then only the tenant's [`Claims`] (for the conflict checks) and its
/// warnings' reasons stay. A country of rendered objects would be most of the memory of a run.
pub fn render_fleet_verdicts(inputs: &Inputs, inspect: Inspect<'_>) -> Fleet<Verdict> {
    render_fleet_with(inputs, &|t, rendered| {
        let notes = inspect(t, &rendered);
        let warnings = rendered.unit.warnings.iter().map(|w| w.reason).collect();
        (Verdict { warnings }, notes)
    })
}

/// What is kept of a rendered tenant, and the notes about it.
type Keep<'a, T> = &'a (dyn Fn(&LoadedTenant, RenderedTenant) -> (T, Vec<String>) + Sync);

fn render_fleet_with<T: Send>(inputs: &Inputs, keep: Keep<'_, T>) -> Fleet<T> {
    let compiled = compile_platforms(inputs);
    let by_key: HashMap<String, usize> = {
        let mut m = HashMap::new();
        for (i, t) in inputs.tenants.iter().enumerate() {
            m.entry(tenant_key(t)).or_insert(i);
        }
        m
    };
    let (mut outcomes, claims): (Vec<Outcome<T>>, Vec<Option<Claims>>) = inputs
        .tenants
        .par_iter()
        .enumerate()
        .map(
            |(index, t)| match render_one(inputs, &compiled, &by_key, index, t) {
                Ok(rendered) => {
                    let claims = Claims::of(&rendered);
                    let (kept, notes) = keep(t, rendered);
                    let outcome = Outcome {
                        index,
                        result: Ok(kept),
                        notes,
                    };
                    (outcome, Some(claims))
                }
                Err(reports) => {
                    let outcome = Outcome {
                        index,
                        result: Err(reports),
                        notes: Vec::new(),
                    };
                    (outcome, None)
                }
            },
        )
        .unzip();

    // Conflicts are judged per platform, in input order: the first declaration keeps its name.
    let mut per_platform: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, c) in claims.iter().enumerate() {
        if c.is_some() {
            per_platform
                .entry(
                    inputs.tenants[outcomes[i].index]
                        .tenant
                        .spec
                        .platform
                        .as_str(),
                )
                .or_default()
                .push(i);
        }
    }
    let mut refused: Vec<(usize, Report)> = Vec::new();
    for (_, idxs) in per_platform {
        let claimed: Vec<&Claims> = idxs.iter().filter_map(|&i| claims[i].as_ref()).collect();
        for (k, d) in find_claim_collisions(&claimed) {
            let i = idxs[k];
            let t = &inputs.tenants[outcomes[i].index];
            refused.push((
                i,
                locate(inputs, &d, Some(t), None, None).reason("Conflict"),
            ));
        }
    }
    // `skip_teardown` for what only the checks read.
    std::mem::forget(claims);
    for (i, r) in refused {
        match &mut outcomes[i].result {
            Err(list) => list.push(r),
            res => *res = Err(vec![r]),
        }
    }
    Fleet { compiled, outcomes }
}

fn render_one(
    inputs: &Inputs,
    compiled: &BTreeMap<String, Result<CompiledPlatform, Vec<Report>>>,
    by_key: &HashMap<String, usize>,
    index: usize,
    t: &LoadedTenant,
) -> Result<RenderedTenant, Vec<Report>> {
    let key = tenant_key(t);
    if by_key.get(&key) != Some(&index) {
        let first = &inputs.tenants[by_key[&key]];
        let d = Diagnostic::new(
            "Conflict",
            Origin::Tenant,
            "/metadata/name",
            Text::new(
                format!(
                    "tenant {key} is declared twice (first in {})",
                    inputs.path(first.at).display()
                ),
                format!(
                    "đơn vị {key} được khai báo hai lần (lần đầu trong {})",
                    inputs.path(first.at).display()
                ),
            ),
        );
        return Err(vec![locate(inputs, &d, Some(t), None, None)]);
    }
    let platform_name = &t.tenant.spec.platform;
    let Some(compiled_platform) = compiled.get(platform_name) else {
        let known: Vec<&str> = inputs.platforms.keys().map(String::as_str).collect();
        let d = Diagnostic::new("UnknownPlatform", Origin::Tenant, "/spec/platform", Text::new(
            format!("unknown platform {platform_name:?}"),
            format!("không có nền tảng {platform_name:?}"),
        ))
        .with_hint(Text::new(
            if known.is_empty() {
                "no platforms were found: pass --platforms DIR (default ./platforms) or a built Platform".to_string()
            } else {
                format!("known platforms: {}", known.join(", "))
            },
            if known.is_empty() {
                "không tìm thấy nền tảng nào: dùng --platforms DIR (mặc định ./platforms)".to_string()
            } else {
                format!("các nền tảng hiện có: {}", known.join(", "))
            },
        ));
        return Err(vec![locate(inputs, &d, Some(t), None, None)]);
    };
    let loaded_platform = &inputs.platforms[platform_name];
    let cp = match compiled_platform {
        Ok(cp) => cp,
        Err(_) => {
            let d = Diagnostic::new(
                "PlatformInvalid",
                Origin::Tenant,
                "/spec/platform",
                Text::new(
                    format!(
                        "platform {platform_name:?} has errors (reported above); this tenant cannot be rendered"
                    ),
                    format!(
                        "nền tảng {platform_name:?} có lỗi (xem ở trên); không kết xuất được đơn vị này"
                    ),
                ),
            );
            return Err(vec![locate(inputs, &d, Some(t), None, None)]);
        }
    };
    let parent = t.tenant.spec.parent.as_ref().and_then(|p| {
        let ns = t.tenant.metadata.namespace.as_deref().unwrap_or("default");
        by_key
            .get(&format!("{ns}/{p}"))
            .map(|&i| &inputs.tenants[i])
    });
    cp.render_tenant(&t.tenant, parent.map(|p| &p.tenant))
        .map_err(|ds| {
            ds.iter()
                .map(|d| locate(inputs, d, Some(t), parent, Some(loaded_platform)))
                .collect()
        })
}

/// Lets the process exit without freeing what it read and rendered: for a country of tenants,
/// dropping tens of thousands of small JSON values is a visible share of a CLI run, and the
/// operating system reclaims the memory at exit anyway.
pub fn skip_teardown<T>(inputs: Inputs, fleet: Fleet<T>) {
    std::mem::forget(inputs);
    std::mem::forget(fleet);
}
