use std::path::PathBuf;

use khaibao::diagnostics::Lang;

use super::{INVALID, invalid_reports, load};
use crate::Global;
use crate::fleet::{render_fleet, skip_teardown};
use crate::report::print_all;

pub fn run(g: &Global, paths: &[PathBuf]) -> u8 {
    let inputs = match load(g, paths) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let fleet = render_fleet(&inputs);
    let reports = invalid_reports(&inputs, &fleet);
    let failed = fleet.outcomes.iter().filter(|o| o.result.is_err()).count();
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
