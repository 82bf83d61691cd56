//! Reading the target: which digest a tag holds, whether a digest is present, dates.

use acr_sync_registry::manifest::Platform;
use acr_sync_registry::{Client, Digest, Reference};
use chrono::{DateTime, Utc};

use crate::config::TargetRegistry;
use crate::layout::{Layout, LayoutError};
use crate::plan::TargetImage;

/// The target, as far as a check reads it.
#[derive(Debug, Clone)]
pub enum TargetStore {
    /// A registry (ACR or any OCI registry).
    Registry {
        /// The shared client.
        client: Client,
        /// `host[:port]`.
        host: String,
    },
    /// An OCI layout directory.
    Layout(Layout),
    /// An Azure Container Registry, read through its listing API: one `_tags` request
    /// per repository answers every tag's digest and dates.
    Acr(acr_sync_azure::TagListings),
}

/// A target read failed.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] acr_sync_registry::Error),
    /// The layout could not be read.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The target repository or tag is not a valid reference.
    #[error(transparent)]
    Reference(#[from] acr_sync_registry::ReferenceError),
}

impl TargetStore {
    /// The store for `target`, using `client` for registries.
    pub fn new(target: &TargetRegistry, client: &Client) -> TargetStore {
        match target {
            TargetRegistry::Layout { dir } => TargetStore::Layout(Layout::new(dir.clone())),
            TargetRegistry::Acr { login_server, .. } => TargetStore::Acr(
                acr_sync_azure::TagListings::new(client.clone(), login_server),
            ),
            other => TargetStore::Registry {
                client: client.clone(),
                host: other
                    .host()
                    .expect("registry targets have a host")
                    .to_string(),
            },
        }
    }

    /// The digest under the target tag, if the tag exists.
    pub async fn tag_digest(&self, image: &TargetImage) -> Result<Option<Digest>, TargetError> {
        match self {
            TargetStore::Registry { client, host } => {
                let reference =
                    Reference::from_parts(host, &image.repository, Some(&image.tag), None)?;
                Ok(client.head_manifest(&reference).await?.map(|h| h.digest))
            }
            TargetStore::Layout(layout) => Ok(layout.tag_digest(&image.repository, &image.tag)?),
            TargetStore::Acr(listings) => {
                Ok(listings.tag_digest(&image.repository, &image.tag).await?)
            }
        }
    }

    /// Whether the repository holds `digest` (date-tag mode: under any tag).
    ///
    /// A registry is asked by digest, one HEAD, rather than by listing and reading every
    /// tag; a manifest whose last tag was deleted would count as present, which only
    /// happens when someone untags by hand.
    pub async fn holds_digest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool, TargetError> {
        match self {
            TargetStore::Registry { client, host } => {
                let reference = Reference::from_parts(host, repository, None, Some(digest))?;
                Ok(client.head_manifest(&reference).await?.is_some())
            }
            TargetStore::Layout(layout) => Ok(layout.holds_digest(repository, digest)?),
            TargetStore::Acr(listings) => {
                Ok(listings.holds_digest_or_head(repository, digest).await?)
            }
        }
    }

    /// The creation date of the target image, when it exists and says.
    pub async fn created(
        &self,
        image: &TargetImage,
        platform: &Platform,
    ) -> Result<Option<DateTime<Utc>>, TargetError> {
        match self {
            TargetStore::Registry { client, host } => {
                let reference =
                    Reference::from_parts(host, &image.repository, Some(&image.tag), None)?;
                Ok(client.created(&reference, platform).await?)
            }
            TargetStore::Layout(layout) => {
                Ok(layout.created(&image.repository, &image.tag, platform)?)
            }
            // ACR's listing says when the tag last moved, i.e. when its content arrived:
            // free, where the image config would cost a manifest and a blob request.
            TargetStore::Acr(listings) => {
                Ok(listings.updated(&image.repository, &image.tag).await?)
            }
        }
    }
}
