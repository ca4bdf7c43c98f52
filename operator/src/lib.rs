//! khaibao: shared national platforms on Kubernetes.
//!
//! This crate holds the API types, the official administrative-unit registry and the one pure
//! render pipeline `(Platform, parent Tenant?, Tenant) -> desired objects` used by both the CLI and
//! the operator. Nothing here performs I/O, reads the clock or talks to a cluster.

// Diagnostics carry both languages and a hint; they are returned only on the rare failing path,
// so their size does not matter and boxing them would only add noise.
#![allow(clippy::result_large_err)]

pub mod admission;
pub mod analysis;
pub mod api;
pub mod diagnostics;
pub mod pipeline;
pub mod reform;
pub mod registry;
pub mod rollout;
pub mod status;

#[cfg(feature = "client")]
pub mod cluster;

#[cfg(feature = "operator")]
pub mod controller;
pub mod yaml;
