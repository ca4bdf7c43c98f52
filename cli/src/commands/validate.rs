use std::path::PathBuf;

use khaibao::diagnostics::{Lang, Text};

use super::{INVALID, invalid_reports, load};
use crate::Global;
use crate::fleet::{Fleet, Verdict, locate, render_fleet_verdicts, skip_teardown};
use crate::input::Inputs;
use crate::report::{Report, print_all, print_warnings, sort_by_place};

pub fn run(g: &Global, paths: &[PathBuf]) -> u8 {
    let inputs = match load(g, paths) {
        Ok(i) => i,
        Err(code) => return code,
    };
    // A verdict per tenant: the objects are dropped as soon as each is checked.
    let fleet = render_fleet_verdicts(&inputs, &|_, _| Vec::new());
    let reports = invalid_reports(&inputs, &fleet);
    let failed = fleet.outcomes.iter().filter(|o| o.result.is_err()).count();
    print_warnings(&warning_reports(&inputs, &fleet), g.lang());
    print_all(&reports, g.lang());
    let total = fleet.outcomes.len();
    skip_teardown(inputs, fleet);
    if reports.is_empty() {
        match g.lang() {
            Lang::En => println!("{total} tenant(s) valid"),
            Lang::Vi => println!("{total} đơn vị hợp lệ"),
        }
        0
    } else {
        match g.lang() {
            Lang::En => eprintln!(
                "{} problem(s); {failed} of {total} tenant(s) invalid",
                reports.len()
            ),
            Lang::Vi => eprintln!(
                "{} lỗi; {failed}/{total} đơn vị không hợp lệ",
                reports.len()
            ),
        }
        INVALID
    }
}

/// The warnings of every tenant that rendered (an earlier official name, the superseded
/// 63-province division), located like errors and in reading order. They never change the exit
/// code: what they report still works, it is only out of date.
pub fn warning_reports(inputs: &Inputs, fleet: &Fleet<Verdict>) -> Vec<Report> {
    // A fleet still on the 63-province division warns once per tenant: past a few of one kind,
    // a count says the rest (locating ten thousand warnings costs more than rendering them).
    let mut seen: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let mut reports: Vec<Report> = Vec::new();
    for o in &fleet.outcomes {
        let Ok(verdict) = &o.result else { continue };
        let t = &inputs.tenants[o.index];
        for &reason in &verdict.warnings {
            let n = seen.entry(reason).or_default();
            *n += 1;
            if *n <= WARNINGS_PER_REASON {
                // A verdict keeps a warning's reason, not its text: built again for the few
                // printed.
                let full = khaibao::registry::resolve_unit(&t.tenant.spec.unit)
                    .ok()
                    .and_then(|u| u.warnings.into_iter().find(|w| w.reason == reason));
                if let Some(d) = full {
                    reports.push(locate(inputs, &d, Some(t), None, None));
                }
            }
        }
    }
    sort_by_place(&mut reports);
    for (reason, n) in seen {
        if n > WARNINGS_PER_REASON {
            let more = n - WARNINGS_PER_REASON;
            reports.push(Report {
                path: None,
                location: None,
                tenant: None,
                reason,
                message: Text::new(
                    format!("… and {more} more tenant(s) with the same warning ({reason})"),
                    format!("… và {more} đơn vị khác có cùng cảnh báo ({reason})"),
                ),
                hint: None,
            });
        }
    }
    reports
}

/// How many warnings of one reason are printed before a count stands for the rest.
const WARNINGS_PER_REASON: usize = 5;
