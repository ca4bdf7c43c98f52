//! One module per subcommand. Each returns the process exit code.

pub mod crds;
pub mod explain;
pub mod fleet_diff;
pub mod generate;
pub mod platform;
pub mod reform;
pub mod render;
pub mod test;
pub mod units;
pub mod validate;

use std::path::PathBuf;

use crate::Global;
use crate::input::Inputs;
use crate::report::print_all;

/// Exit code for invalid input or failed tests.
pub const INVALID: u8 = 1;
/// Exit code for usage errors and unreadable files.
pub const USAGE: u8 = 2;

/// Reads the catalogue and the paths; `Err(exit code)` when something could not be read.
pub fn load(g: &Global, paths: &[PathBuf]) -> Result<Inputs, u8> {
    let mut inputs = Inputs::default();
    let (dir, explicit) = g.platforms_dir();
    inputs.load_catalogue(&dir, explicit);
    for p in paths {
        inputs.load_path(p);
    }
    if !inputs.unreadable.is_empty() {
        print_all(&inputs.unreadable, g.lang());
        return Err(USAGE);
    }
    Ok(inputs)
}

/// Every problem found while reading and rendering, in the order a user reads them.
pub fn invalid_reports<T>(
    inputs: &Inputs,
    fleet: &crate::fleet::Fleet<T>,
) -> Vec<crate::report::Report> {
    let mut reports = inputs.problems.clone();
    for r in fleet.compiled.values().filter_map(|c| c.as_ref().err()) {
        reports.extend(r.iter().cloned());
    }
    for o in &fleet.outcomes {
        if let Err(r) = &o.result {
            reports.extend(r.iter().cloned());
        }
    }
    crate::report::sort_by_place(&mut reports);
    reports
}
