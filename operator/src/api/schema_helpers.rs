//! Schema fragments for fields whose shape is free-form JSON (tenant values, JSON schemas).

use schemars::{Schema, SchemaGenerator, json_schema};

/// An object whose fields are not described by the CRD (the platform's own schema governs them).
pub fn free_form_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}
