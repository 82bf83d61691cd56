//! A client for the OCI distribution API, as acr-sync needs it.
//!
//! This crate knows references, digests, manifests, authentication (anonymous, basic,
//! bearer tokens, docker's `config.json` and credential helpers), retries, tag
//! pagination and blob transfer, and counts requests per registry. It does not know
//! what to copy or why: deciding which images a target should hold, and walking an
//! image to copy it, is the job of the `acr-sync` library above it. It reads no
//! environment variables and prints nothing; secrets stay inside [`Secret`].
//!
//! # Behaviour worth knowing
//! - **Scheme**: loopback registries (`localhost`, `127.0.0.0/8`, `[::1]`) are reached
//!   over HTTP, others over HTTPS; [`Tls::Disabled`] and [`Tls::Enabled`] override that,
//!   and a registry's `ca_pem` is trusted besides the system roots.
//! - **Credentials**: the registry's [`RegistrySettings::credentials`] first, else the
//!   docker config given in [`ClientConfig::docker_config`] (`auths`, `credHelpers`,
//!   `credsStore`, `identitytoken`). [`Credentials`] are basic (user and password) or an
//!   identity token, which is exchanged with an OAuth2 refresh-token grant and never sent
//!   to the registry itself.
//! - **Authentication**: the first request to a host goes alone, without credentials;
//!   the others wait for the scheme its 401 teaches (single-flight), so that none is
//!   refused for want of credentials it had. A 401 is a verdict only when it answers
//!   credentials or a freshly fetched token. One token request per host and scope set
//!   runs at a time, shared by every request waiting for it, and a token fetched for
//!   wider scopes serves narrower ones (a `pull,push` token serves `pull`).
//! - **Errors**: a 401 whose fresh token was refused, or whose credentials the token
//!   endpoint rejected, is [`ErrorKind::Unauthorized`]; a 403, or a 401
//!   `insufficient_scope` when the credentials were accepted, is [`ErrorKind::Forbidden`].
//!   Other failures of the token endpoint (404, 400, 5xx) are
//!   [`ErrorKind::TokenEndpoint`], naming the endpoint's host rather than the registry.
//! - **Retries**: connection errors (refused, reset), timeouts and 408/429/500/502/503/504
//!   are retried, each retry logged at warn level with its cause and deadline; a name that
//!   does not resolve ([`ErrorKind::UnknownHost`]) and a certificate that fails verification
//!   ([`ErrorKind::TlsVerification`]) are not. Retries use exponential backoff and full jitter, honouring `Retry-After`, until
//!   [`RetryPolicy::max_elapsed`]; a `Retry-After` beyond that budget ends the retries at
//!   once. Request bodies are never streams: an upload cuts the caller's stream into
//!   chunks of [`ClientConfig::upload_chunk_size`] held in memory (at most two: the
//!   next chunk is read while the current one is sent). A chunk (PATCH) is resent only
//!   when it never reached the registry; if it fails after being sent, or the
//!   registry answers it with an error status, [`Client::put_blob`] returns the error
//!   ([`ErrorKind::UploadRestart`] for an error status or a 416; see
//!   [`Error::is_transient`]) and the caller restarts the blob from the start (a new
//!   upload session and a new stream). Blob downloads are not resumed: a broken
//!   download is an error.
//! - **Pace**: a blob download that brings less than [`ClientConfig::min_transfer_rate`]
//!   over a whole window ends with [`ErrorKind::TooSlow`] (transient: restart it).
//! - **Redaction**: remote text quoted in an error (error pages, token endpoint answers,
//!   credential helpers' stderr) is redacted and capped by [`redact`].
//! - **Verification**: manifests are checked against the digest asked for and the
//!   `Docker-Content-Digest` sent; blob streams hash as they go and end with
//!   [`ErrorKind::DigestMismatch`] instead of a clean end; uploads are hashed too and
//!   abandoned before the closing PUT when they do not match, except with
//!   [`Client::upload_verified`], whose [`BlobStream`] already checks its digest.
//!
//! ```
//! use acr_sync_registry::{Client, ClientConfig, Platform, Reference};
//!
//! let r = Reference::parse("nginx").unwrap();
//! assert_eq!(r.to_string(), "docker.io/library/nginx:latest");
//! assert_eq!(r.api_host(), "registry-1.docker.io");
//!
//! // One client per run; it makes no request until asked.
//! let client = Client::new(ClientConfig::default()).unwrap();
//! assert!(client.stats().is_empty());
//! assert_eq!("amd64".parse::<Platform>().unwrap().to_string(), "linux/amd64");
//! ```
#![deny(missing_docs)]

mod auth;
mod blob;
mod client;
mod config;
pub mod digest;
mod docker_config;
mod error;
pub mod manifest;
pub mod redact;
pub mod reference;
mod retry;
mod secret;
mod stats;
mod tags;
mod transport;

#[cfg(test)]
mod server_tests;

#[cfg(test)]
mod properties;

pub use blob::{BlobStream, Mount, UploadSession};
pub use client::Client;
pub use config::{
    ClientConfig, Credentials, CredentialsProvider, MinTransferRate, ProvidedCredentials,
    RegistrySettings, Tls, is_loopback,
};
pub use digest::Digest;
pub use docker_config::docker_config_path;
pub use error::{Error, ErrorKind};
pub use manifest::{Descriptor, Manifest, ManifestHead, Platform};
pub use reference::{Reference, ReferenceError, ReferenceErrorKind};
pub use retry::RetryPolicy;
pub use secret::Secret;
pub use stats::RegistryStats;
pub use tags::{TagInfo, TagList};
