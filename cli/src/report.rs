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
        let _ = writeln!(out, "{}error: {}", self.place(), self.headline(lang));
        if let Some(h) = &self.hint {
            let label = if lang == Lang::Vi { "gợi ý" } else { "hint" };
            let _ = writeln!(out, "  {label}: {}", h.get(lang));
        }
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
