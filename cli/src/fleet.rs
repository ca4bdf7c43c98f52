//! Renders every tenant that was read, exactly as the operator will: same pipeline, same
//! collision rules. Tenants render in parallel; each platform compiles once.

use std::collections::{BTreeMap, HashMap};

use khaibao::diagnostics::{Diagnostic, Origin, Text};
use khaibao::pipeline::{CompiledPlatform, RenderedTenant, find_collisions};
use rayon::prelude::*;

use crate::input::{Inputs, LoadedPlatform, LoadedTenant};
use crate::report::Report;

/// The outcome for one tenant (index into `Inputs::tenants`).
pub struct Outcome {
    pub index: usize,
    pub result: Result<RenderedTenant, Vec<Report>>,
    /// What the caller's inspection of the rendered tenant found (see [`render_fleet_verdicts`]).
    pub notes: Vec<String>,
}

pub struct Fleet {
    pub compiled: BTreeMap<String, Result<CompiledPlatform, Vec<Report>>>,
    pub outcomes: Vec<Outcome>,
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
    render_fleet_with(inputs, None)
}

/// What a caller looks at in each rendered tenant before its objects are thinned.
pub type Inspect<'a> = &'a (dyn Fn(&LoadedTenant, &RenderedTenant) -> Vec<String> + Sync);

/// [`render_fleet`] for commands that need a verdict per tenant, not its objects (`test`,
/// `validate`): `inspect` sees each rendered tenant whole (its findings land in
/// [`Outcome::notes`]), then the objects are cut down to what the collision checks read
/// (kind, name, Ingress hosts). A country of rendered objects is most of the memory of a run.
pub fn render_fleet_verdicts(inputs: &Inputs, inspect: Inspect<'_>) -> Fleet {
    render_fleet_with(inputs, Some(inspect))
}

fn render_fleet_with(inputs: &Inputs, inspect: Option<Inspect<'_>>) -> Fleet {
    let compiled = compile_platforms(inputs);
    let by_key: HashMap<String, usize> = {
        let mut m = HashMap::new();
        for (i, t) in inputs.tenants.iter().enumerate() {
            m.entry(tenant_key(t)).or_insert(i);
        }
        m
    };
    let mut outcomes: Vec<Outcome> = inputs
        .tenants
        .par_iter()
        .enumerate()
        .map(|(index, t)| {
            let mut result = render_one(inputs, &compiled, &by_key, index, t);
            let mut notes = Vec::new();
            if let (Some(inspect), Ok(rendered)) = (inspect, result.as_mut()) {
                notes = inspect(t, rendered);
                thin(rendered);
            }
            Outcome {
                index,
                result,
                notes,
            }
        })
        .collect();

    // Conflicts are judged per platform, in input order: the first declaration keeps its name.
    let mut per_platform: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, o) in outcomes.iter().enumerate() {
        if o.result.is_ok() {
            per_platform
                .entry(inputs.tenants[o.index].tenant.spec.platform.as_str())
                .or_default()
                .push(i);
        }
    }
    let mut refused: Vec<(usize, Report)> = Vec::new();
    for (_, idxs) in per_platform {
        let rendered: Vec<&RenderedTenant> = idxs
            .iter()
            .filter_map(|&i| outcomes[i].result.as_ref().ok())
            .collect();
        for (k, d) in find_collisions(&rendered) {
            let i = idxs[k];
            let t = &inputs.tenants[outcomes[i].index];
            refused.push((
                i,
                locate(inputs, &d, Some(t), None, None).reason("Conflict"),
            ));
        }
    }
    for (i, r) in refused {
        match &mut outcomes[i].result {
            Err(list) => list.push(r),
            res => *res = Err(vec![r]),
        }
    }
    Fleet { compiled, outcomes }
}

/// Keeps of each object only what [`find_collisions`] reads: apiVersion, kind, name, and an
/// Ingress's hosts; and drops the merged values (with their provenance, the largest part of a
/// rendered tenant after its objects), which nothing reads after `inspect`.
fn thin(rendered: &mut RenderedTenant) {
    rendered.values = Default::default();
    // A fleet of the 63-province division warns on every tenant, each warning a paragraph in
    // two languages: only the reason stays; the few printed are built again
    // (`validate::warning_reports`).
    for w in &mut rendered.unit.warnings {
        w.message = khaibao::diagnostics::Text::new("", "");
        w.hint = None;
    }
    for o in rendered
        .objects
        .iter_mut()
        .chain(rendered.generated_secrets.iter_mut())
    {
        let v = &o.object;
        let mut slim = serde_json::json!({
            "apiVersion": v["apiVersion"], "kind": v["kind"],
            "metadata": {"name": v["metadata"]["name"], "namespace": v["metadata"]["namespace"]},
        });
        if v["kind"] == "Ingress" {
            let hosts: Vec<serde_json::Value> = v["spec"]["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| serde_json::json!({"host": r["host"]}))
                .collect();
            slim["spec"] = serde_json::json!({"rules": hosts});
        }
        o.object = slim;
    }
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
pub fn skip_teardown(inputs: Inputs, fleet: Fleet) {
    std::mem::forget(inputs);
    std::mem::forget(fleet);
}
