//! What kind of failure an image had: a small closed set that reports and metrics can
//! tell apart (and alert on) beside the full message.
//!
//! The class is read off the typed errors of the registry client, the target store and
//! ARM; a message is never parsed for it.

use std::fmt;

use acr_sync_azure::{ArmError, ImportError};
use acr_sync_registry::ErrorKind;
use serde::Serialize;

use crate::store::{LayoutError, StoreError};

/// The class of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// Content did not match its digest (a corrupt source, transfer or file).
    DigestMismatch,
    /// Credentials are missing or were rejected (HTTP 401).
    Unauthorized,
    /// The identity lacks permission (HTTP 403, a missing Azure role).
    Forbidden,
    /// A registry kept answering 429.
    RateLimited,
    /// The image, blob or repository does not exist.
    NotFound,
    /// A registry or Azure endpoint could not be reached (DNS, connect, TLS, reset).
    Unreachable,
    /// A request or an operation did not finish in time.
    Timeout,
    /// The target tag exists and may not be replaced (importImage NoForce).
    Conflict,
    /// The registry's storage quota is reached.
    Quota,
    /// A registry or ARM answered something unusable, or an unexpected status.
    Server,
    /// The content is not something this tool can copy or import.
    Unsupported,
    /// The local target (an OCI layout) could not be read or written.
    Storage,
    /// A setting or a target name is invalid.
    Config,
}

impl FailureClass {
    /// The label value (`digest_mismatch`...).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::DigestMismatch => "digest_mismatch",
            FailureClass::Unauthorized => "unauthorized",
            FailureClass::Forbidden => "forbidden",
            FailureClass::RateLimited => "rate_limited",
            FailureClass::NotFound => "not_found",
            FailureClass::Unreachable => "unreachable",
            FailureClass::Timeout => "timeout",
            FailureClass::Conflict => "conflict",
            FailureClass::Quota => "quota",
            FailureClass::Server => "server",
            FailureClass::Unsupported => "unsupported",
            FailureClass::Storage => "storage",
            FailureClass::Config => "config",
        }
    }

    /// The class of a registry client error.
    pub fn of_registry(e: &acr_sync_registry::Error) -> FailureClass {
        match e.kind() {
            ErrorKind::DigestMismatch { .. } => FailureClass::DigestMismatch,
            ErrorKind::Unauthorized { .. } | ErrorKind::Credentials(_) => {
                FailureClass::Unauthorized
            }
            ErrorKind::Forbidden { .. } => FailureClass::Forbidden,
            ErrorKind::RateLimited { .. } => FailureClass::RateLimited,
            ErrorKind::NotFound { .. } => FailureClass::NotFound,
            ErrorKind::Unreachable { .. } => FailureClass::Unreachable,
            ErrorKind::Timeout => FailureClass::Timeout,
            ErrorKind::Config(_) => FailureClass::Config,
            _ => FailureClass::Server,
        }
    }

    /// The class of a target store error.
    pub fn of_store(e: &StoreError) -> FailureClass {
        match e {
            StoreError::Registry(e) => FailureClass::of_registry(e),
            StoreError::Layout(e) => FailureClass::of_layout(e),
            StoreError::Reference(_) => FailureClass::Config,
            StoreError::Task(_) => FailureClass::Storage,
        }
    }

    /// The class of an OCI layout error.
    pub fn of_layout(e: &LayoutError) -> FailureClass {
        match e {
            LayoutError::DigestMismatch { .. } => FailureClass::DigestMismatch,
            LayoutError::Io { .. } | LayoutError::Invalid { .. } => FailureClass::Storage,
        }
    }

    /// The class of a failed ARM importImage.
    pub fn of_import(e: &ImportError) -> FailureClass {
        match e {
            ImportError::TagExists { .. } => FailureClass::Conflict,
            ImportError::SourceUnauthorized { .. } => FailureClass::Unauthorized,
            ImportError::SourceRateLimited { .. } => FailureClass::RateLimited,
            ImportError::SourceNotFound { .. } => FailureClass::NotFound,
            ImportError::Quota { .. } => FailureClass::Quota,
            ImportError::MissingRole { .. } => FailureClass::Forbidden,
            ImportError::Unsupported { .. } => FailureClass::Unsupported,
            ImportError::Timeout { .. } => FailureClass::Timeout,
            ImportError::Arm { error, .. } => FailureClass::of_arm(error),
            ImportError::Failed { .. } => FailureClass::Server,
        }
    }

    /// The class of an ARM request error.
    pub fn of_arm(e: &ArmError) -> FailureClass {
        match e {
            ArmError::Credential(_) => FailureClass::Unauthorized,
            ArmError::Unreachable { .. } => FailureClass::Unreachable,
            ArmError::Status { status: 401, .. } => FailureClass::Unauthorized,
            ArmError::Status { status: 403, .. } => FailureClass::Forbidden,
            ArmError::Status { status: 404, .. } | ArmError::RegistryNotFound { .. } => {
                FailureClass::NotFound
            }
            ArmError::Status { status: 429, .. } => FailureClass::RateLimited,
            ArmError::Status { .. } | ArmError::Invalid(_) => FailureClass::Server,
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use acr_sync_registry::{Digest, Error};

    #[test]
    fn classes_come_from_error_kinds() {
        let registry = |kind| Error::new("ghcr.io", Some("a/b"), kind);
        let cases = [
            (
                registry(ErrorKind::DigestMismatch {
                    expected: Digest::sha256_of(b"a"),
                    actual: Digest::sha256_of(b"b"),
                }),
                FailureClass::DigestMismatch,
            ),
            (
                registry(ErrorKind::Unauthorized {
                    with_credentials: true,
                    message: None,
                }),
                FailureClass::Unauthorized,
            ),
            (
                registry(ErrorKind::RateLimited { retry_after: None }),
                FailureClass::RateLimited,
            ),
            (
                registry(ErrorKind::NotFound {
                    what: "manifest 1".into(),
                }),
                FailureClass::NotFound,
            ),
            (registry(ErrorKind::Timeout), FailureClass::Timeout),
        ];
        for (error, class) in cases {
            assert_eq!(FailureClass::of_registry(&error), class, "{error}");
            let store = StoreError::Registry(error);
            assert_eq!(FailureClass::of_store(&store), class);
        }
        let mismatch = LayoutError::DigestMismatch {
            path: "/m/blobs/sha256/x".into(),
            expected: Digest::sha256_of(b"a"),
            actual: Digest::sha256_of(b"b"),
            expected_size: 1,
            actual_size: 1,
        };
        assert_eq!(
            FailureClass::of_store(&StoreError::Layout(mismatch)),
            FailureClass::DigestMismatch
        );
        assert_eq!(FailureClass::Conflict.to_string(), "conflict");
    }
}
