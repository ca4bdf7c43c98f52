//! How problems are printed: `FILE:LINE:COL: error: MESSAGE` on stderr, one per problem, with a
//! hint line when there is something specific to change. The format is what editors and CI
//! annotate, so it is the same in both languages; only the message text is translated.

use std::io::Write;
use std::path::{Path, PathBuf};

use khaibao::diagnostics::{Diagnostic, Lang, Text};
use khaibao::yaml::Location;

/// One problem, located.
#[derive(Clone, Debug)]
pub struct Report {
    pub path: Option<PathBuf>,
    pub location: Option<Location>,
    /// `namespace/name` of the tenant concerned, if any.
    pub tenant: Option<String>,
    pub reason: &'static str,
    pub message: Text,
    pub hint: Option<Text>,
}

impl Report {
    pub fn file(path: &Path, location: Option<Location>, message: Text) -> Self {
        Report {
            path: Some(path.to_path_buf()),
            location,
            tenant: None,
            reason: "InvalidInput",
            message,
            hint: None,
        }
    }

    pub fn from_diagnostic(
        d: &Diagnostic,
        path: Option<&Path>,
        location: Option<Location>,
        tenant: Option<String>,
    ) -> Self {
        Report {
            path: path.map(Path::to_path_buf),
            location,
            tenant,
            reason: d.reason,
            message: d.message.clone(),
            hint: d.hint.clone(),
        }
    }

    pub fn reason(mut self, reason: &'static str) -> Self {
        self.reason = reason;
        self
    }

    /// The `FILE:LINE:COL: ` prefix (or less, when unknown).
    pub fn place(&self) -> String {
        match (&self.path, self.location) {
            (Some(p), Some(l)) => format!("{}:{}:{}: ", p.display(), l.line, l.column),
            (Some(p), None) => format!("{}: ", p.display()),
            _ => String::new(),
        }
    }

    /// The message with its tenant, on one line.
    pub fn headline(&self, lang: Lang) -> String {
        let who = match (&self.tenant, lang) {
            (Some(t), Lang::En) => format!("tenant {t}: "),
            (Some(t), Lang::Vi) => format!("đơn vị {t}: "),
            (None, _) => String::new(),
        };
        format!("{who}{}", self.message.get(lang))
    }

    pub fn write(&self, lang: Lang, out: &mut dyn Write) {
        self.write_as("error", lang, out);
    }

    /// Writes the report as `severity` (`error` or `warning`: the same word in both languages,
    /// like the rest of the prefix that editors and CI parse).
    pub fn write_as(&self, severity: &str, lang: Lang, out: &mut dyn Write) {
        let _ = writeln!(out, "{}{severity}: {}", self.place(), self.headline(lang));
        if let Some(h) = &self.hint {
            let label = if lang == Lang::Vi { "gợi ý" } else { "hint" };
            let _ = writeln!(out, "  {label}: {}", h.get(lang));
        }
    }
}

/// Orders reports as a reader goes through the input: files in the order they were first
/// reported (the order they were read), and within a file by line and column. Reports are
/// gathered in stages (reading, expanding, rendering), so without this a problem on line 30
/// could come before one on line 10. Stable: reports at one place keep their order, and those
/// without a location come after the located ones of their file.
pub fn sort_by_place(reports: &mut [Report]) {
    let mut files: Vec<Option<&Path>> = Vec::new();
    let keys: Vec<(usize, bool, usize, usize)> = reports
        .iter()
        .map(|r| {
            let file = r.path.as_deref();
            let index = files.iter().position(|f| *f == file).unwrap_or_else(|| {
                files.push(file);
                files.len() - 1
            });
            let (line, column) = r.location.map_or((0, 0), |l| (l.line, l.column));
            (index, r.location.is_none(), line, column)
        })
        .collect();
    let mut order: Vec<usize> = (0..reports.len()).collect();
    order.sort_by_key(|&i| keys[i]);
    let sorted: Vec<Report> = order.iter().map(|&i| reports[i].clone()).collect();
    reports.clone_from_slice(&sorted);
}

/// Prints warnings to stderr: `FILE:LINE:COL: warning: MESSAGE`, hint as for errors.
pub fn print_warnings(reports: &[Report], lang: Lang) {
    let stderr = std::io::stderr();
    let mut lock = stderr.lock();
    for r in reports {
        r.write_as("warning", lang, &mut lock);
    }
}

/// Prints reports to stderr.
pub fn print_all(reports: &[Report], lang: Lang) {
    let stderr = std::io::stderr();
    let mut lock = stderr.lock();
    for r in reports {
        r.write(lang, &mut lock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str, line: usize, column: usize, msg: &str) -> Report {
        Report::file(
            Path::new(path),
            Some(Location { line, column }),
            Text::new(msg, msg),
        )
    }

    #[test]
    fn reports_are_sorted_by_file_then_line_then_column() {
        let mut reports = vec![
            at("b.yaml", 30, 5, "b30"),
            at("b.yaml", 10, 9, "b10-9"),
            at("a.yaml", 7, 1, "a7"),
            Report::file(Path::new("b.yaml"), None, Text::new("b-file", "b-file")),
            at("b.yaml", 10, 3, "b10-3"),
            at("a.yaml", 2, 1, "a2"),
            at("b.yaml", 10, 3, "b10-3-again"),
        ];
        sort_by_place(&mut reports);
        let order: Vec<&str> = reports.iter().map(|r| r.message.get(Lang::En)).collect();
        // b.yaml was reported first, so it stays first; unlocated reports end their file.
        assert_eq!(
            order,
            ["b10-3", "b10-3-again", "b10-9", "b30", "b-file", "a2", "a7"]
        );
    }
}
