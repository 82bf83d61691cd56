//! The target store: where a run puts images, a registry or an OCI layout on disk.
//!
//! A [`Store`] is opened once per run next to the [`Client`], from the configured
//! [`TargetRegistry`], and is the only code that knows which kind of target it is. The
//! check reads it (which digest a tag holds, whether a repository holds a digest, when
//! an image was made); the copy engine writes it (blobs, then manifests, the tag last).
//! For an Azure Container Registry, reads go through ACR's `_tags` listing, one request
//! per repository, and fall back to the distribution API when the identity may not list.
//!
//! Every target reference is built here, and every report spells a target image with
//! [`Store::name`] (that is, [`TargetRegistry::image_name`]).
//!
//! ```
//! use acr_sync::config::TargetRegistry;
//! use acr_sync::plan::TargetImage;
//! use acr_sync::registry::{Client, ClientConfig};
//! use acr_sync::store::Store;
//!
//! let client = Client::new(ClientConfig::default()).unwrap();
//! let target = TargetRegistry::parse("oci-layout:/srv/mirror").unwrap();
//! let store = Store::open(&target, &client);
//! let image = TargetImage { repository: "runwhen/app".into(), tag: "1.0".into() };
//! assert_eq!(store.name(&image), "oci-layout:/srv/mirror:runwhen/app:1.0");
//! ```

mod layout;
mod listing;

use acr_sync_azure::{TagListings, listing_refused};
use acr_sync_registry::manifest::Platform;
use acr_sync_registry::{
    BlobStream, Client, Descriptor, Digest, Manifest, Mount, Reference, ReferenceError,
    UploadSession,
};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use std::sync::Arc;
use tokio::sync::OnceCell;

use crate::config::TargetRegistry;
use crate::plan::TargetImage;

pub use layout::{
    BlobWriter, LAYOUT_VERSION, Layout, LayoutEntry, LayoutError, LayoutIndex, REF_NAME,
};

/// Chunks are gathered up to this size before one blocking file write.
const FILE_WRITE_BATCH: usize = 1024 * 1024;

/// The target of a run (see the module documentation). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    target: TargetRegistry,
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Registry(Registry),
    Layout {
        layout: Layout,
        /// Set once the layout was initialised (and cleaned) in this run.
        ready: Arc<OnceCell<()>>,
    },
}

/// A registry target: the run's client, the host, and for an ACR the run's listings.
#[derive(Debug, Clone)]
struct Registry {
    client: Client,
    host: String,
    listings: Option<TagListings>,
}

/// Reading or writing the target failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The registry failed or refused (the error names it).
    #[error(transparent)]
    Registry(#[from] acr_sync_registry::Error),
    /// The layout could not be read or written (the error names the file).
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The target repository or tag does not make a valid reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// A background file task died (a bug or an abort).
    #[error("a file task failed: {0}")]
    Task(String),
}

/// What a mount attempt did.
pub(crate) enum Mounted {
    /// The blob is now in the repository.
    Yes,
    /// The registry declined; the upload it opened instead, if any, is handed to
    /// [`Store::write_blob`] so that it is not opened twice.
    No(Option<PendingUpload>),
}

/// An upload session the registry opened when it declined a mount.
pub(crate) struct PendingUpload(UploadSession);

impl Store {
    /// Opens `target`, reading and writing registries with `client`. Nothing is sent
    /// or written until the first call.
    pub fn open(target: &TargetRegistry, client: &Client) -> Store {
        let backend = match target {
            TargetRegistry::Layout { dir } => Backend::Layout {
                layout: Layout::new(dir.clone()),
                ready: Arc::default(),
            },
            TargetRegistry::Registry { host, acr } => Backend::Registry(Registry {
                client: client.clone(),
                host: host.clone(),
                listings: acr.as_ref().map(|_| TagListings::new(client.clone(), host)),
            }),
        };
        Store {
            target: target.clone(),
            backend,
        }
    }

    /// The configured target it was opened from.
    pub fn target(&self) -> &TargetRegistry {
        &self.target
    }

    /// How users see a target image (see [`TargetRegistry::image_name`]).
    pub fn name(&self, image: &TargetImage) -> String {
        self.target.image_name(&image.repository, Some(&image.tag))
    }

    /// What identifies the store for run-wide locks: the host, or `oci-layout:DIR`.
    pub(crate) fn key(&self) -> String {
        self.target.to_string()
    }

    /// Whether `registry` is this store's registry (a blob there can be mounted).
    pub(crate) fn is_registry(&self, registry: &str) -> bool {
        matches!(&self.backend, Backend::Registry(r) if r.host == registry)
    }

    // ---- read side -------------------------------------------------------------------

    /// The digest under the target tag, if the tag exists.
    pub async fn tag_digest(&self, image: &TargetImage) -> Result<Option<Digest>, StoreError> {
        match &self.backend {
            Backend::Layout { layout, .. } => Ok(layout.tag_digest(&image.repository, &image.tag)?),
            Backend::Registry(r) => match &r.listings {
                Some(listings) => match listings.tag(&image.repository, &image.tag).await {
                    Ok(found) => Ok(found.map(|t| t.digest)),
                    Err(e) if listing_refused(&e) => r.head_tag(image).await,
                    Err(e) => Err(e.into()),
                },
                None => r.head_tag(image).await,
            },
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
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Layout { layout, .. } => Ok(layout.holds_digest(repository, digest)?),
            Backend::Registry(r) => match &r.listings {
                Some(listings) => match listings.holds_digest(repository, digest).await {
                    Err(e) if listing_refused(&e) => r.head_digest(repository, digest).await,
                    other => Ok(other?),
                },
                None => r.head_digest(repository, digest).await,
            },
        }
    }

    /// The creation date of the target image, when it exists and says.
    pub async fn created(
        &self,
        image: &TargetImage,
        platform: &Platform,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        match &self.backend {
            Backend::Layout { layout, .. } => {
                Ok(layout.created(&image.repository, &image.tag, platform)?)
            }
            // ACR's listing says when the tag last moved, i.e. when its content arrived:
            // free, where the image config would cost a manifest and a blob request. An
            // identity that may not list leaves the date unknown.
            Backend::Registry(r) => match &r.listings {
                Some(listings) => match listings.tag(&image.repository, &image.tag).await {
                    Ok(found) => Ok(found.and_then(|t| t.last_update_time.or(t.created_time))),
                    Err(e) if listing_refused(&e) => Ok(None),
                    Err(e) => Err(e.into()),
                },
                None => Ok(r.client.created(&r.tagged(image)?, platform).await?),
            },
        }
    }

    // ---- write side ------------------------------------------------------------------

    /// Makes the store ready to receive images (a layout's directories and marker), and
    /// checks that `image` makes a valid target reference, before anything moves.
    pub(crate) async fn prepare(&self, image: &TargetImage) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Layout { layout, ready } => {
                let layout = layout.clone();
                let init = || {
                    blocking(move || {
                        layout.init()?;
                        let removed = layout.remove_stale_incoming()?;
                        if removed > 0 {
                            tracing::info!(
                                "{}: removed {removed} temporary blob files an interrupted run left",
                                layout.dir().display()
                            );
                        }
                        Ok(())
                    })
                };
                ready.get_or_try_init(init).await.map(drop)
            }
            Backend::Registry(r) => r.tagged(image).map(drop),
        }
    }

    /// Whether `repository` already holds `blob`. A layout has one blob store for all
    /// its repositories.
    pub(crate) async fn has_blob(
        &self,
        repository: &str,
        blob: &Descriptor,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Layout { layout, .. } => Ok(layout.blob_size(&blob.digest) == Some(blob.size)),
            Backend::Registry(r) => Ok(r
                .client
                .blob_exists(&r.host, repository, &blob.digest)
                .await?
                .is_some()),
        }
    }

    /// Mounts `digest` into `repository` from repository `from` of the same registry.
    pub(crate) async fn mount_blob(
        &self,
        repository: &str,
        from: &str,
        digest: &Digest,
    ) -> Result<Mounted, StoreError> {
        match &self.backend {
            Backend::Layout { .. } => Ok(Mounted::No(None)),
            Backend::Registry(r) => Ok(
                match r
                    .client
                    .mount_blob(&r.host, repository, from, digest)
                    .await?
                {
                    Mount::Mounted => Mounted::Yes,
                    Mount::NotMounted(session) => Mounted::No(Some(PendingUpload(session))),
                },
            ),
        }
    }

    /// Writes a blob streamed from a source registry. The stream verifies its digest and
    /// ends with an error when the content does not match; nothing unverified is kept
    /// (a registry upload is abandoned before its closing PUT, a layout file is never
    /// renamed into place).
    pub(crate) async fn write_blob(
        &self,
        repository: &str,
        blob: &Descriptor,
        body: BlobStream,
        pending: Option<PendingUpload>,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Layout { layout, .. } => write_layout_blob(layout, blob, body).await,
            Backend::Registry(r) => {
                let session = match pending {
                    Some(PendingUpload(session)) => session,
                    None => r.client.start_upload(&r.host, repository).await?,
                };
                Ok(r.client.upload_verified(session, blob.size, body).await?)
            }
        }
    }

    /// Writes a manifest whose blobs (and children) are all present: by digest, or
    /// under `tag`.
    pub(crate) async fn put_manifest(
        &self,
        repository: &str,
        manifest: &Manifest,
        tag: Option<&str>,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Registry(r) => {
                let reference = match tag {
                    Some(tag) => r.tagged(&TargetImage {
                        repository: repository.to_string(),
                        tag: tag.to_string(),
                    })?,
                    None => r.by_digest(repository, &manifest.digest)?,
                };
                r.client
                    .put_manifest(&reference, &manifest.media_type, manifest.bytes.clone())
                    .await?;
                Ok(())
            }
            Backend::Layout { layout, .. } => {
                let (layout, repository) = (layout.clone(), repository.to_string());
                let (manifest, tag) = (manifest.clone(), tag.map(str::to_string));
                blocking(move || {
                    layout.write_blob(&manifest.digest, &manifest.bytes)?;
                    match tag {
                        Some(tag) => layout.set_tag(
                            &repository,
                            &tag,
                            &manifest.media_type,
                            &manifest.digest,
                            manifest.bytes.len() as u64,
                        ),
                        None => Ok(()),
                    }
                })
                .await
            }
        }
    }
}

/// The one place target references are built.
impl Registry {
    fn tagged(&self, image: &TargetImage) -> Result<Reference, StoreError> {
        Ok(Reference::from_parts(
            &self.host,
            &image.repository,
            Some(&image.tag),
            None,
        )?)
    }

    fn by_digest(&self, repository: &str, digest: &Digest) -> Result<Reference, StoreError> {
        Ok(Reference::from_parts(
            &self.host,
            repository,
            None,
            Some(digest),
        )?)
    }

    async fn head_tag(&self, image: &TargetImage) -> Result<Option<Digest>, StoreError> {
        let head = self.client.head_manifest(&self.tagged(image)?).await?;
        Ok(head.map(|h| h.digest))
    }

    async fn head_digest(&self, repository: &str, digest: &Digest) -> Result<bool, StoreError> {
        let reference = self.by_digest(repository, digest)?;
        Ok(self.client.head_manifest(&reference).await?.is_some())
    }
}

/// Streams a blob into a layout file, renamed into place once verified. File writes
/// are batched off the async threads.
async fn write_layout_blob(
    layout: &Layout,
    blob: &Descriptor,
    mut body: BlobStream,
) -> Result<(), StoreError> {
    let mut writer = layout.blob_writer(&blob.digest, blob.size)?;
    let mut batch = Vec::new();
    let mut batched = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        batched += chunk.len();
        batch.push(chunk);
        if batched >= FILE_WRITE_BATCH {
            writer = write_batch(writer, std::mem::take(&mut batch)).await?;
            batched = 0;
        }
    }
    writer = write_batch(writer, batch).await?;
    blocking(move || writer.commit()).await
}

async fn write_batch<B: AsRef<[u8]> + Send + 'static>(
    mut writer: BlobWriter,
    batch: Vec<B>,
) -> Result<BlobWriter, StoreError> {
    if batch.is_empty() {
        return Ok(writer);
    }
    blocking(move || {
        for chunk in &batch {
            writer.write(chunk.as_ref())?;
        }
        Ok(writer)
    })
    .await
}

/// Runs layout file I/O off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LayoutError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
        .map_err(StoreError::from)
}
