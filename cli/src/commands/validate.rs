use std::path::PathBuf;

use khaibao::diagnostics::Lang;

use super::{INVALID, load};
use crate::Global;
use crate::fleet::{render_fleet, skip_teardown};
use crate::report::{Report, print_all};

pub fn run(g: &Global, paths: &[PathBuf]) -> u8 {
    let inputs = match load(g, paths) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let fleet = render_fleet(&inputs);
    let mut reports: Vec<Report> = inputs.problems.clone();
    for r in fleet.compiled.values().filter_map(|c| c.as_ref().err()) {
        reports.extend(r.iter().cloned());
    }
    let mut failed = 0;
    for o in &fleet.outcomes {
        if let Err(r) = &o.result {
            failed += 1;
            reports.extend(r.iter().cloned());
        }
    }
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
