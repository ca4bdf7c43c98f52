//! Problems found in user input, in words a provincial administrator understands, in English
//! and Vietnamese. A diagnostic points into a document by JSON pointer; the CLI turns that into
//! `FILE:LINE:COL` with the positions it kept while reading, the operator into a condition.

use std::fmt;

/// Language of user-facing messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    En,
    Vi,
}

impl Lang {
    /// `vi`, `vi_VN.UTF-8`, `vi-VN` select Vietnamese; anything else English.
    pub fn from_tag(tag: &str) -> Lang {
        if tag.to_ascii_lowercase().starts_with("vi") {
            Lang::Vi
        } else {
            Lang::En
        }
    }
}

/// A message in both languages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    pub en: String,
    pub vi: String,
}

impl Text {
    pub fn new(en: impl Into<String>, vi: impl Into<String>) -> Self {
        Text {
            en: en.into(),
            vi: vi.into(),
        }
    }

    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::Vi => &self.vi,
        }
    }
}

/// Which document a diagnostic points into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The tenant being rendered.
    Tenant,
    /// Its parent tenant.
    Parent,
    /// The platform (its defaults, schema or templates).
    Platform,
    /// A template file of the platform, with a line inside it when known.
    Template { name: String, line: Option<usize> },
}

/// One problem, with where it is and what to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable CamelCase reason machines can match (`SchemaViolation`, `UnknownUnit`, ...).
    pub reason: &'static str,
    pub origin: Origin,
    /// JSON pointer into the document named by `origin` (empty for the whole document).
    pub pointer: String,
    pub message: Text,
    pub hint: Option<Text>,
}

impl Diagnostic {
    pub fn new(
        reason: &'static str,
        origin: Origin,
        pointer: impl Into<String>,
        message: Text,
    ) -> Self {
        Diagnostic {
            reason,
            origin,
            pointer: pointer.into(),
            message,
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: Text) -> Self {
        self.hint = Some(hint);
        self
    }

    /// The message, and its hint if any, as one line.
    pub fn one_line(&self, lang: Lang) -> String {
        match &self.hint {
            Some(h) => format!("{} ({})", self.message.get(lang), h.get(lang)),
            None => self.message.get(lang).to_string(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.one_line(Lang::En))
    }
}

/// Several diagnostics as one line (conditions, events, status): `first; second; ...`.
pub fn summary(diagnostics: &[Diagnostic], lang: Lang) -> String {
    diagnostics
        .iter()
        .map(|d| d.one_line(lang))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Renders a JSON pointer the way users write paths: `/spec/values/theme/0` → `spec.values.theme[0]`.
pub fn dotted_path(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{token}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_paths_read_like_yaml() {
        assert_eq!(
            dotted_path("/spec/values/theme/0/x"),
            "spec.values.theme[0].x"
        );
        assert_eq!(dotted_path(""), "");
        assert_eq!(dotted_path("/a~1b"), "a/b");
    }

    #[test]
    fn language_tags() {
        assert_eq!(Lang::from_tag("vi_VN.UTF-8"), Lang::Vi);
        assert_eq!(Lang::from_tag("en_US.UTF-8"), Lang::En);
        assert_eq!(Lang::from_tag("C"), Lang::En);
    }
}
