//! What the two acr-sync binaries (`acr-sync-sli`, `acr-sync-taskset`) share, and the
//! only code besides them that may print: command-line options and exit codes
//! ([`args`]), logging to stderr ([`logging`]), the run's objects built once from the
//! settings ([`Run`]), the Prometheus metrics of the SLI ([`metrics`]), and the
//! hardened HTTP server their endpoints run on ([`http`]).
//!
//! The `acr-sync` library below it returns data and typed errors, and depends on
//! neither clap, a tracing subscriber nor prometheus; this crate turns its results
//! into lines, exit codes and exposition text.
//!
//! ```
//! use acr_sync_cli::Exit;
//! use std::process::ExitCode;
//!
//! // The contract's exit codes: 0 done, 1 bad usage (nothing changed), 2 partial.
//! assert_eq!(ExitCode::from(Exit::Partial), ExitCode::from(2));
//! ```
#![deny(missing_docs)]

pub mod args;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod outputs;

pub use args::{
    Exit, Format, GlobalArgs, ImporterChoice, Run, deadline, import, importer, load, parse,
};
