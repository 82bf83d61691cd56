//! What a failed copy says: which image, to where, and why, keeping the registry error.

use std::fmt;

use acr_sync_registry::{Digest, Reference, ReferenceError};

use crate::failure::FailureClass;
use crate::store::{LayoutError, StoreError};

/// A copy of one image failed. Its message names the source and the target image; the
/// cause stays available as a typed [`CopyErrorKind`] (and, for registry failures, as
/// the registry client's [`acr_sync_registry::Error`] with its kind).
#[derive(Debug)]
pub struct CopyError {
    source_image: String,
    target: String,
    kind: CopyErrorKind,
    tag_untouched: bool,
}

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyErrorKind {
    /// A registry (source or target) failed or refused.
    #[error("{0}")]
    Registry(#[from] acr_sync_registry::Error),
    /// The target layout could not be read or written.
    #[error("{0}")]
    Layout(#[from] LayoutError),
    /// One blob could not be copied (the first one that failed; the others were stopped).
    #[error("blob {digest}: {error}")]
    Blob {
        /// The blob.
        digest: Digest,
        /// What went wrong with it.
        error: Box<CopyErrorKind>,
    },
    /// The target repository or tag does not make a valid reference.
    #[error("{0}")]
    Reference(#[from] ReferenceError),
    /// The source content is not something this engine copies.
    #[error("{0}")]
    Unsupported(String),
    /// A background file task died (a bug or an abort).
    #[error("a file task failed: {0}")]
    Task(String),
}

impl CopyError {
    pub(super) fn new(
        source: &Reference,
        target: String,
        kind: CopyErrorKind,
        tag_untouched: bool,
    ) -> CopyError {
        CopyError {
            source_image: source.to_string(),
            target,
            kind,
            tag_untouched,
        }
    }

    /// The source image, as written in the message.
    pub fn source_image(&self) -> &str {
        &self.source_image
    }

    /// The target image, as written in the message.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Why it failed.
    pub fn kind(&self) -> &CopyErrorKind {
        &self.kind
    }

    /// The registry client's error behind the failure, if a registry failed.
    pub fn registry_error(&self) -> Option<&acr_sync_registry::Error> {
        self.kind.registry_error()
    }

    /// Whether content did not match its digest (a corrupt source or transfer).
    pub fn is_digest_mismatch(&self) -> bool {
        self.class() == FailureClass::DigestMismatch
    }

    /// The class of the failure, for reports and metrics.
    pub fn class(&self) -> FailureClass {
        self.kind.class()
    }

    /// Whether the failure happened before the target tag was written, so that the tag
    /// still holds what it held before.
    pub fn tag_untouched(&self) -> bool {
        self.tag_untouched
    }
}

impl CopyErrorKind {
    fn registry_error(&self) -> Option<&acr_sync_registry::Error> {
        match self {
            CopyErrorKind::Registry(e) => Some(e),
            CopyErrorKind::Blob { error, .. } => error.registry_error(),
            _ => None,
        }
    }

    fn class(&self) -> FailureClass {
        match self {
            CopyErrorKind::Registry(e) => FailureClass::of_registry(e),
            CopyErrorKind::Layout(e) => FailureClass::of_layout(e),
            CopyErrorKind::Blob { error, .. } => error.class(),
            CopyErrorKind::Reference(_) => FailureClass::Config,
            CopyErrorKind::Unsupported(_) => FailureClass::Unsupported,
            CopyErrorKind::Task(_) => FailureClass::Storage,
        }
    }

    /// Wraps the error of one blob so that the message names it.
    pub(super) fn blob(digest: &Digest, error: CopyErrorKind) -> CopyErrorKind {
        CopyErrorKind::Blob {
            digest: digest.clone(),
            error: Box::new(error),
        }
    }
}

impl From<StoreError> for CopyErrorKind {
    fn from(e: StoreError) -> CopyErrorKind {
        match e {
            StoreError::Registry(e) => CopyErrorKind::Registry(e),
            StoreError::Layout(e) => CopyErrorKind::Layout(e),
            StoreError::Reference(e) => CopyErrorKind::Reference(e),
            StoreError::Task(e) => CopyErrorKind::Task(e),
        }
    }
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "copy of {} to {} failed: {}",
            self.source_image, self.target, self.kind
        )?;
        if self.tag_untouched {
            f.write_str("; the target tag was left untouched")?;
        }
        Ok(())
    }
}

impl std::error::Error for CopyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}
