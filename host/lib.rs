//! bgwasm runs users' JavaScript pieces in the background, server-side. Each
//! space's pieces run in one WebAssembly sandbox (a wasmtime store holding a
//! QuickJS engine), under fuel, memory and wall-clock limits.
//!
//! The layout follows the architecture: [`sandbox`] is the wasmtime host that
//! runs pieces; the `wit/` folder at the crate root is the contract with the
//! guest in `guest/`; [`cli`] and [`run_once`] are the ways in from the shell.
//!
//! No unsafe code, with one documented exception: loading the compiled guest
//! from its cache (`sandbox/cache.rs`, `deserialize_artifact`).

#![deny(unsafe_code)]

pub mod api;
pub mod auth;
pub mod cli;
pub mod client;
pub mod dashboard;
pub mod identity;
pub mod metrics;
pub mod run_once;
pub mod sandbox;
pub mod scheduler;
pub mod serve;
pub mod store;
pub mod typescript;

/// The throwaway PostgreSQL cluster of the tests (the integration tests'
/// helper), for the library's own tests on PostgreSQL.
#[cfg(test)]
#[path = "../tests/common/postgres.rs"]
mod throwaway_postgres;
