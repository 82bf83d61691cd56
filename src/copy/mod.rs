//! The copy engine: copies an image from any registry to a registry or an OCI layout,
//! through the machine that runs it, preserving digests.
//!
//! For one image it reads the source manifest (an index and every child by default),
//! makes every blob present in the target (HEAD-skipped, mounted, or
//! streamed and verified), then writes the child manifests by digest, and last the
//! top manifest under the tag. So a tag only ever moves to content that has fully
//! arrived, and any failure before that last step leaves the tag as it was.
//!
//! A [`Copier`] serves a whole run and is shared by the images copied at once: it
//! bounds blob transfers per registry, uploads a blob two images need at the same time
//! only once, and remembers which target repository holds which blob so that the next
//! image mounts it instead of uploading it again. It speaks to registries only through
//! [`acr_sync_registry::Client`]; it knows no HTTP.
//!
//! An index is copied whole, byte for byte, so the target holds the source's digest.
//! Where the image goes is a [`Store`] and a [`TargetImage`]; the engine never asks
//! which kind of store it is.

mod blobs;
mod error;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use acr_sync_registry::{Client, Descriptor, Digest, Manifest, Reference};
use futures::future::try_join_all;

use crate::plan::TargetImage;
use crate::store::Store;
use blobs::{BlobMover, Outcome};
pub use error::{CopyError, CopyErrorKind};

/// Index nesting followed below the top manifest (an index of indexes is legal, rare).
const MAX_DEPTH: usize = 3;

/// How a run copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOptions {
    /// Blob transfers at once from, and to, any one registry.
    pub blobs_per_registry: usize,
    /// Re-write manifests and the tag even when the target tag already holds the digest.
    pub force: bool,
}

impl Default for CopyOptions {
    fn default() -> CopyOptions {
        CopyOptions {
            blobs_per_registry: 8,
            force: false,
        }
    }
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The digest the target tag now holds (the source digest unless narrowed to platforms).
    pub digest: Digest,
    /// Blobs streamed from the source.
    pub blobs_copied: usize,
    /// Blobs mounted from another repository of the target registry.
    pub blobs_mounted: usize,
    /// Blobs the target already had.
    pub blobs_present: usize,
    /// Bytes of the blobs streamed.
    pub bytes: u64,
    /// Manifests written (children and the top one); 0 when the tag already held the digest.
    pub manifests_written: usize,
}

impl Copied {
    fn unchanged(digest: Digest) -> Copied {
        Copied {
            digest,
            blobs_copied: 0,
            blobs_mounted: 0,
            blobs_present: 0,
            bytes: 0,
            manifests_written: 0,
        }
    }
}

/// The copy engine of a run (see the module documentation). Cheap to clone.
#[derive(Clone)]
pub struct Copier {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    options: CopyOptions,
    blobs: BlobMover,
}

impl fmt::Debug for Copier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Copier")
            .field("options", &self.inner.options)
            .field("bytes_transferred", &self.bytes_transferred())
            .finish_non_exhaustive()
    }
}

/// Which step failed, so that the error can say whether the tag was touched.
struct Failed {
    kind: CopyErrorKind,
    tag_untouched: bool,
}

impl<E: Into<CopyErrorKind>> From<E> for Failed {
    fn from(e: E) -> Failed {
        Failed {
            kind: e.into(),
            tag_untouched: true,
        }
    }
}

impl Copier {
    /// The engine of a run, using `client` for every registry.
    pub fn new(client: Client, options: CopyOptions) -> Copier {
        let blobs = BlobMover::new(client.clone(), options.blobs_per_registry);
        Copier {
            inner: Arc::new(Inner {
                client,
                options,
                blobs,
            }),
        }
    }

    /// The options it runs with.
    pub fn options(&self) -> &CopyOptions {
        &self.inner.options
    }

    /// Bytes of blobs moved so far in this run (for a progress display).
    pub fn bytes_transferred(&self) -> u64 {
        self.inner.blobs.bytes()
    }

    /// Copies `source` (by its digest when it has one, else its tag) to `image` of
    /// `store`.
    ///
    /// Returns without writing when the target tag already holds the digest, unless
    /// [`CopyOptions::force`]. On error the target tag is untouched unless the error
    /// says otherwise (the last step, writing the tag, failed).
    pub async fn copy(
        &self,
        source: &Reference,
        store: &Store,
        image: &TargetImage,
    ) -> Result<Copied, CopyError> {
        self.copy_image(source, store, image, false)
            .await
            .map_err(|f| CopyError::new(source, store.name(image), f.kind, f.tag_untouched))
    }

    /// [`Copier::copy`] for an image whose target tag the caller has just compared (a
    /// plan found it outdated): the target tag is not read again.
    pub async fn copy_outdated(
        &self,
        source: &Reference,
        store: &Store,
        image: &TargetImage,
    ) -> Result<Copied, CopyError> {
        self.copy_image(source, store, image, true)
            .await
            .map_err(|f| CopyError::new(source, store.name(image), f.kind, f.tag_untouched))
    }

    async fn copy_image(
        &self,
        source: &Reference,
        store: &Store,
        image: &TargetImage,
        compared: bool,
    ) -> Result<Copied, Failed> {
        store.prepare(image).await?;
        let compare = !(self.inner.options.force || compared);
        // With a source digest the no-op case costs one request: the target tag's HEAD.
        if let (true, Some(digest)) = (compare, source.digest())
            && store.tag_digest(image).await?.as_ref() == Some(digest)
        {
            return Ok(Copied::unchanged(digest.clone()));
        }
        // Otherwise read the source and the target tag at once (the tag only matters
        // when the digest was not compared above).
        let compare = compare && source.digest().is_none();
        let (top, existing) = tokio::join!(self.inner.client.get_manifest(source), async {
            if compare {
                store.tag_digest(image).await
            } else {
                Ok(None)
            }
        });
        let top = top?;
        if compare && existing? == Some(top.digest.clone()) {
            return Ok(Copied::unchanged(top.digest));
        }
        let levels = self.children(source, &top).await?;
        let mut copied = self.copy_blobs(source, &top, &levels, store, image).await?;
        let repository = &image.repository;
        // Deepest children first: a registry accepts an index only once its children exist.
        for level in levels.iter().rev() {
            try_join_all(
                level
                    .iter()
                    .map(|m| store.put_manifest(repository, m, None)),
            )
            .await?;
            copied.manifests_written += level.len();
        }
        store
            .put_manifest(repository, &top, Some(&image.tag))
            .await
            .map_err(|e| Failed {
                kind: e.into(),
                tag_untouched: false,
            })?;
        copied.manifests_written += 1;
        copied.digest = top.digest;
        Ok(copied)
    }

    /// The manifests below `top`, level by level (children, grandchildren...), each
    /// fetched by digest from the source repository.
    async fn children(
        &self,
        source: &Reference,
        top: &Manifest,
    ) -> Result<Vec<Vec<Manifest>>, CopyErrorKind> {
        let mut levels: Vec<Vec<Manifest>> = Vec::new();
        let mut parents = vec![top.clone()];
        let mut seen = HashSet::new();
        while parents.iter().any(Manifest::is_index) {
            if levels.len() == MAX_DEPTH {
                return Err(CopyErrorKind::Unsupported(format!(
                    "indexes nested more than {MAX_DEPTH} deep under {}",
                    top.digest
                )));
            }
            let mut wanted = Vec::new();
            for parent in parents.iter().filter(|m| m.is_index()) {
                wanted.extend(
                    parent
                        .children()?
                        .into_iter()
                        .filter(|c| seen.insert(c.digest.clone())),
                );
            }
            let level = try_join_all(wanted.iter().map(|c| self.child(source, c))).await?;
            parents = level.clone();
            levels.push(level);
        }
        Ok(levels)
    }

    async fn child(
        &self,
        source: &Reference,
        child: &Descriptor,
    ) -> Result<Manifest, CopyErrorKind> {
        let mut m = self
            .inner
            .client
            .get_manifest(&source.with_digest(child.digest.clone()))
            .await?;
        // The index's descriptor is authoritative for the media type (a registry may
        // answer with a generic Content-Type).
        if !child.media_type.is_empty() {
            m.media_type = child.media_type.clone();
        }
        Ok(m)
    }

    /// Makes every blob of every image manifest present in the target, concurrently.
    async fn copy_blobs(
        &self,
        source: &Reference,
        top: &Manifest,
        levels: &[Vec<Manifest>],
        store: &Store,
        image: &TargetImage,
    ) -> Result<Copied, CopyErrorKind> {
        let mut seen = HashSet::new();
        let mut wanted = Vec::new();
        for m in std::iter::once(top)
            .chain(levels.iter().flatten())
            .filter(|m| !m.is_index())
        {
            wanted.extend(
                m.blobs()?
                    .into_iter()
                    .filter(|b| seen.insert(b.digest.clone())),
            );
        }
        let outcomes = try_join_all(wanted.iter().map(|b| {
            self.inner
                .blobs
                .transfer(source, b, store, &image.repository)
        }))
        .await?;
        let mut copied = Copied::unchanged(top.digest.clone());
        for outcome in outcomes {
            match outcome {
                Outcome::Present => copied.blobs_present += 1,
                Outcome::Mounted => copied.blobs_mounted += 1,
                Outcome::Copied(bytes) => {
                    copied.blobs_copied += 1;
                    copied.bytes += bytes;
                }
            }
        }
        Ok(copied)
    }
}
