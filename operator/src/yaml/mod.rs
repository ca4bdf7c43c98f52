//! YAML in and out. Reading keeps the line and column of every key and value so that a schema
//! error deep in `spec.values` can be reported at the exact place in the user's file; writing
//! emits the documents the CLI prints. Pure: takes and returns strings, never touches files.

mod emit;
mod source;

pub use emit::{to_yaml_document, to_yaml_stream};
pub use source::{Location, Positions, SourceDocument, YamlError, parse_stream};
