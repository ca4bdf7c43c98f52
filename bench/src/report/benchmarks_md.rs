//! Rewriting a marked section of BENCHMARKS.md.

use std::path::Path;

use anyhow::Context;

/// Replaces what is between `<!-- bench:begin -->` and `<!-- bench:end -->` (appends the
/// markers and the section when they are missing).
pub fn replace_section(path: &Path, body: &str) -> anyhow::Result<()> {
    replace_marked(path, "bench", "Scale (`make bench`)", body)
}

/// Replaces what is between `<!-- NAME:begin -->` and `<!-- NAME:end -->` (appends a heading,
/// the markers and the section when they are missing).
pub fn replace_marked(path: &Path, name: &str, heading: &str, body: &str) -> anyhow::Result<()> {
    let (begin, end) = (
        format!("<!-- {name}:begin -->"),
        format!("<!-- {name}:end -->"),
    );
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let new = match (text.find(&begin), text.find(&end)) {
        (Some(a), Some(b)) if a < b => format!("{}{begin}\n{body}{}", &text[..a], &text[b..]),
        _ => format!("{text}\n## {heading}\n\n{begin}\n{body}{end}\n"),
    };
    std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
}
