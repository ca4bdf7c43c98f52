//! `--perf-dir`: records the API server (and the operator) with `perf record` over a timed
//! phase, so where the control plane spends its CPU can be read afterwards with
//! `perf report -i FILE`. Off by default: sampling costs a little CPU on a 2-core machine.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The `perf record` processes of one phase; stopped (SIGINT, so perf writes its file) by
/// [`Recording::stop`] or on drop. The default records nothing.
#[derive(Default)]
pub struct Recording {
    children: Vec<(Child, PathBuf)>,
}

impl Recording {
    /// Starts one `perf record` per `(name, pid)` into `dir/<phase>-<name>.data`. Without
    /// `perf`, records nothing.
    pub fn start(dir: &Path, phase: &str, targets: &[(&str, Option<u32>)]) -> Recording {
        let mut children = Vec::new();
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("[bench] no profile: cannot create {}: {e}", dir.display());
            return Recording { children };
        }
        for (name, pid) in targets {
            let Some(pid) = pid else { continue };
            let file = dir.join(format!("{phase}-{name}.data"));
            // 99 Hz with frame-pointer call graphs: Go and our release build keep frame
            // pointers cheap enough; DWARF unwinding would cost more than it tells here.
            match Command::new("perf")
                .args([
                    "record",
                    "-q",
                    "-F",
                    "99",
                    "-g",
                    "-p",
                    &pid.to_string(),
                    "-o",
                ])
                .arg(&file)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(child) => children.push((child, file)),
                Err(e) => eprintln!("[bench] no profile of {name}: cannot run perf: {e}"),
            }
        }
        Recording { children }
    }

    pub fn stop(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        for (mut child, file) in self.children.drain(..) {
            // SAFETY: kill(2) on a child we started and have not reaped yet.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            match child.wait() {
                Ok(_) => eprintln!("[bench] profile written: {}", file.display()),
                Err(e) => eprintln!("[bench] perf did not finish: {e}"),
            }
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.stop_all();
    }
}
