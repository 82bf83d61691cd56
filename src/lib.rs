//! acr-sync keeps a private container registry in step with selected upstream images.
//!
//! Data flows one way: [`config`] -> sources -> resolve -> [`plan`] -> execute ->
//! [`report`]. The registry protocol lives in [`acr_sync_registry`], re-exported here as
//! [`registry`]; this crate decides what to copy, never how bytes move over HTTP.
//!
//! ```
//! let r = acr_sync::registry::Reference::parse("busybox:1.36").unwrap();
//! assert_eq!(r.repository(), "library/busybox");
//! ```
#![deny(missing_docs)]

pub use acr_sync_registry as registry;

pub mod atomic;
pub mod charts;
pub mod check;
pub mod config;
pub mod copy;
pub mod duration;
pub mod execute;
pub mod failure;
pub mod plan;
pub mod report;
pub mod resolve;
pub mod source;
pub mod store;
pub mod transfer;
