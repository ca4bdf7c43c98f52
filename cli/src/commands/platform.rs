//! `khaibao platform lint|build DIR`.

use std::path::Path;

use khaibao::diagnostics::{Diagnostic, Lang, Origin};
use khaibao::pipeline::values_in_keys;
use khaibao::yaml::to_yaml_document;

use super::{INVALID, USAGE};
use crate::Global;
use crate::fleet::{locate, render_fleet};
use crate::input::{Inputs, load_platform_dir};
use crate::report::{Report, print_all};

fn load_dir(g: &Global, dir: &Path) -> Result<(Inputs, String), u8> {
    if !dir.join("platform.yaml").is_file() {
        eprintln!(
            "{}: error: not a platform folder (no platform.yaml)",
            dir.display()
        );
        return Err(USAGE);
    }
    let mut inputs = Inputs::default();
    load_platform_dir(&mut inputs, dir);
    if !inputs.unreadable.is_empty() {
        print_all(&inputs.unreadable, g.lang());
        return Err(USAGE);
    }
    if !inputs.problems.is_empty() {
        print_all(&inputs.problems, g.lang());
        return Err(INVALID);
    }
    let name = inputs.platforms.keys().next().cloned().unwrap_or_default();
    Ok((inputs, name))
}

/// The platform folder loaded, once it compiles; otherwise every problem printed and the
/// exit code.
fn load_compiling(g: &Global, dir: &Path) -> Result<(Inputs, String), u8> {
    let (inputs, name) = load_dir(g, dir)?;
    let p = &inputs.platforms[&name];
    if let Err(ds) = khaibao::pipeline::CompiledPlatform::compile(&p.platform) {
        let reports: Vec<Report> = ds
            .iter()
            .map(|d| locate(&inputs, d, None, None, Some(p)))
            .collect();
        print_all(&reports, g.lang());
        return Err(INVALID);
    }
    Ok((inputs, name))
}

/// Prints the Platform with its templates inlined.
pub fn build(g: &Global, dir: &Path) -> u8 {
    let (inputs, name) = match load_compiling(g, dir) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let p = &inputs.platforms[&name];
    let mut platform = p.platform.clone();
    platform.status = None;
    match serde_json::to_value(&platform) {
        Ok(v) => {
            print!("{}", to_yaml_document(&v));
            0
        }
        Err(e) => {
            eprintln!("error: cannot serialize platform {name}: {e}");
            INVALID
        }
    }
}

/// Prints the platform's generated admission policy and binding (`khaibao::admission`), with
/// the schema keywords it leaves to the operator as comments.
pub fn admission(g: &Global, dir: &Path) -> u8 {
    let (inputs, name) = match load_compiling(g, dir) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let p = &inputs.platforms[&name];
    let policy = khaibao::admission::values_policy(&p.platform);
    println!(
        "# Refuses Tenants of platform {name} whose own values break its tenant schema ({} checks).",
        policy.checks.len()
    );
    println!(
        "# Apply it with the platform: kubectl apply -f - (needs rights on admission policies)."
    );
    if !policy.unchecked.is_empty() {
        println!("# Left to the operator (reported as Rendered=False, and by `khaibao validate`):");
        for u in &policy.unchecked {
            println!("#   {} {}: {}", u.field, u.keyword, u.reason);
        }
    }
    print!("{}", khaibao::yaml::to_yaml_stream(&policy.objects()));
    0
}

/// Checks a platform and renders its sample tenants (`tests/`).
pub fn lint(g: &Global, dir: &Path) -> u8 {
    let lang = g.lang();
    let (mut inputs, name) = match load_dir(g, dir) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let tests = dir.join("tests");
    if tests.is_dir() {
        inputs.load_path(&tests);
    }
    let p = &inputs.platforms[&name];
    let mut reports: Vec<Report> = inputs.problems.clone();
    let spec = &p.platform.spec;
    for (kind, list) in [
        ("shared", &spec.templates.shared),
        ("tenant", &spec.templates.tenant),
    ] {
        for t in list {
            for d in values_in_keys(&format!("{kind}/{}", t.name), &t.template) {
                reports.push(locate(&inputs, &d, None, None, Some(p)));
            }
        }
    }
    if spec.templates.tenant.is_empty() {
        reports.push(Report::file(
            &dir.join("templates/tenant"),
            None,
            khaibao::diagnostics::Text::new(
                "the platform has no tenant templates",
                "nền tảng chưa có mẫu cho đơn vị",
            ),
        ));
    }
    let fleet = render_fleet(&inputs);
    match fleet.compiled.get(&name) {
        Some(Err(rs)) => reports.extend(rs.iter().cloned()),
        Some(Ok(cp)) => {
            for d in cp.check_defaults() {
                reports.push(locate(&inputs, &d, None, None, Some(p)));
            }
            if let Err(ds) = cp.render_shared() {
                reports.extend(ds.iter().map(|d| locate(&inputs, d, None, None, Some(p))));
            }
            let samples = fleet.outcomes.len();
            if samples == 0 {
                let d = Diagnostic::new(
                    "NoSamples",
                    Origin::Platform,
                    "",
                    khaibao::diagnostics::Text::new(
                        "no sample tenants in tests/: add at least one Tenant so every template is rendered",
                        "chưa có đơn vị mẫu trong tests/: thêm ít nhất một Tenant để kiểm tra mọi mẫu",
                    ),
                );
                reports.push(locate(&inputs, &d, None, None, Some(p)));
            }
            for o in &fleet.outcomes {
                if let Err(rs) = &o.result {
                    reports.extend(rs.iter().cloned());
                }
            }
            if reports.is_empty() {
                match lang {
                    Lang::En => println!(
                        "platform {name}: ok ({} shared and {} tenant templates, {samples} sample tenant(s), revision {})",
                        spec.templates.shared.len(),
                        spec.templates.tenant.len(),
                        cp.revision
                    ),
                    Lang::Vi => println!(
                        "nền tảng {name}: đạt ({} mẫu dùng chung, {} mẫu đơn vị, {samples} đơn vị mẫu, phiên bản {})",
                        spec.templates.shared.len(),
                        spec.templates.tenant.len(),
                        cp.revision
                    ),
                }
                return 0;
            }
        }
        None => {}
    }
    print_all(&reports, lang);
    INVALID
}
