//! khaibao: shared national platforms on Kubernetes.
//!
//! This crate holds the API types, the official administrative-unit registry and the one pure
//! render pipeline `(Platform, parent Tenant?, Tenant) -> desired objects` used by both the CLI and
//! the operator. Nothing here performs I/O, reads the clock or talks to a cluster.

pub mod api;
pub mod yaml;
pub mod diagnostics;
pub mod registry;
pub mod pipeline;
