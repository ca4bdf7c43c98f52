use std::path::PathBuf;

use khaibao::diagnostics::Lang;

use super::{INVALID, invalid_reports, load};
use crate::Global;
use crate::fleet::{Fleet, locate, render_fleet, skip_teardown};
use crate::input::Inputs;
use crate::report::{Report, print_all, print_warnings, sort_by_place};

pub fn run(g: &Global, paths: &[PathBuf]) -> u8 {
    let inputs = match load(g, paths) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let fleet = render_fleet(&inputs);
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
pub fn warning_reports(inputs: &Inputs, fleet: &Fleet) -> Vec<Report> {
    let mut reports: Vec<Report> = fleet
        .outcomes
        .iter()
        .filter_map(|o| Some((&inputs.tenants[o.index], o.result.as_ref().ok()?)))
        .flat_map(|(t, rendered)| {
            rendered
                .unit
                .warnings
                .iter()
                .map(move |d| locate(inputs, d, Some(t), None, None))
        })
        .collect();
    sort_by_place(&mut reports);
    reports
}
