//! A client for the OCI distribution API, as acr-sync needs it.
//!
//! This crate knows references, digests, manifests, authentication, retries, tag
//! pagination and blob transfer. It does not know what to copy or why: deciding which
//! images a target should hold is the job of the `acr-sync` library above it.
//!
//! ```
//! use acr_sync_registry::Reference;
//!
//! let r = Reference::parse("nginx").unwrap();
//! assert_eq!(r.to_string(), "docker.io/library/nginx:latest");
//! assert_eq!(r.api_host(), "registry-1.docker.io");
//! ```
#![deny(missing_docs)]

pub mod digest;
pub mod reference;

pub use digest::Digest;
pub use reference::{Reference, ReferenceError, ReferenceErrorKind};
