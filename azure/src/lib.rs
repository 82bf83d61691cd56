//! Azure for acr-sync: Entra ID credentials, the ACR token exchange, ARM `importImage`
//! and ACR's own listing API.
//!
//! # What it is for
//! - [`credential`]: an Entra ID [`Credential`] read from the environment as the Azure
//!   SDKs read it (client secret, workload identity, managed identity), with a token cache.
//! - [`cloud`]: the public, China and US Government clouds and their endpoints, each
//!   overridable so that tests point them at local servers.
//! - [`exchange`]: [`AcrCredentials`], a [`acr_sync_registry::CredentialsProvider`] that
//!   exchanges the Entra token for an ACR refresh token (`POST /oauth2/exchange`); the
//!   registry client then gets scoped access tokens from `/oauth2/token` by itself.
//! - [`listing`]: `/acr/v1/{repo}/_tags` and `/_manifests`, one request per repository
//!   with digests and dates, and [`TagListings`], the per-run cache a check reads.
//! - [`name`]: ACR's naming rules ([`AcrName`]) and each cloud's login-server suffix.
//! - [`arm`] and [`import`]: [`AcrImporter`], ARM `importImage` with its long-running
//!   operation, registry discovery by name, failures mapped to clear messages, and
//!   [`can_import`], which says when the copy engine must serve instead.
//!
//! # What it is not for
//! It does not decide what to import (the `acr-sync` library does), prints nothing and
//! reads no environment itself: callers pass a lookup function. Secrets (client
//! secrets, Entra, refresh and access tokens) stay inside
//! [`Secret`](acr_sync_registry::Secret) and never appear in errors or `Debug`.
//!
//! ```
//! use std::collections::HashMap;
//! use acr_sync_azure::{Cloud, Credential, CredentialKind, Endpoints, FallbackReason, can_import};
//!
//! let env: HashMap<&str, &str> = [
//!     ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001"),
//!     ("AZURE_TENANT_ID", "contoso"),
//!     ("AZURE_CLIENT_SECRET", "not-printed"),
//! ].into();
//! let endpoints = Endpoints::for_cloud(Cloud::from_login_server("myacr.azurecr.cn").unwrap());
//! let credential = Credential::from_env(&|k| env.get(k).map(|v| v.to_string()), endpoints);
//! assert_eq!(credential.kind(), CredentialKind::ClientSecret);
//! assert!(!format!("{credential:?}").contains("not-printed"));
//! assert_eq!(credential.endpoints().arm_scope(), "https://management.chinacloudapi.cn/.default");
//!
//! // An index of 60 manifests goes through the copy engine.
//! assert_eq!(
//!     can_import(60, 1 << 20, "ghcr.io", credential.endpoints()),
//!     Err(FallbackReason::TooManyManifests(60))
//! );
//! ```
#![deny(missing_docs)]

pub mod arm;
pub mod cloud;
pub mod credential;
pub mod exchange;
pub mod import;
pub mod listing;
pub mod name;

pub use arm::{Arm, ArmError, RegistryResource};
pub use cloud::{Cloud, EndpointError, EndpointKind, Endpoints};
pub use credential::{AccessToken, Credential, CredentialError, CredentialKind};
pub use exchange::{AcrCredentials, ExchangeError};
pub use import::{
    AcrImporter, FallbackReason, ImageShape, ImportError, ImportMode, Imported, MAX_LAYER_BYTES,
    MAX_MANIFESTS, can_import, inspect,
};
pub use listing::{
    AcrManifest, AcrTag, TagListings, list_catalog, list_manifests, list_tags, listing_refused,
};
pub use name::{AcrName, AcrNameError};
