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
//! With [`CopyOptions::platforms`] an index is narrowed to those platforms (module
//! `select`): the target then holds a new index whose digest differs from the
//! source's. The default, all platforms, copies the index byte for byte.

mod blobs;
mod error;
mod select;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use acr_sync_registry::{Client, Descriptor, Digest, Manifest, Platform, Reference};
use futures::future::try_join_all;

use crate::layout::Layout;
use blobs::{BlobMover, Outcome};
pub use error::{CopyError, CopyErrorKind};

/// Index nesting followed below the top manifest (an index of indexes is legal, rare).
const MAX_DEPTH: usize = 3;

/// How a run copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOptions {
    /// Platforms to copy from an index; None copies the index whole, keeping its digest.
    pub platforms: Option<Vec<Platform>>,
    /// Blob transfers at once from, and to, any one registry.
    pub blobs_per_registry: usize,
    /// Re-write manifests and the tag even when the target tag already holds the digest.
    pub force: bool,
}

impl Default for CopyOptions {
    fn default() -> CopyOptions {
        CopyOptions {
            platforms: None,
            blobs_per_registry: 8,
            force: false,
        }
    }
}

/// Where an image is copied to.
#[derive(Debug, Clone)]
pub enum CopyTarget {
    /// A repository and tag of a registry.
    Registry {
        /// `host[:port]`, as in references.
        host: String,
        /// The repository.
        repository: String,
        /// The tag.
        tag: String,
    },
    /// A tag of an OCI image layout on disk, named `<repository>:<tag>`.
    Layout {
        /// The layout (created when missing).
        layout: Layout,
        /// The repository part of the name.
        repository: String,
        /// The tag part of the name.
        tag: String,
    },
}

impl fmt::Display for CopyTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyTarget::Registry {
                host,
                repository,
                tag,
            } => write!(f, "{host}/{repository}:{tag}"),
            CopyTarget::Layout {
                layout,
                repository,
                tag,
            } => {
                write!(
                    f,
                    "oci-layout:{}:{repository}:{tag}",
                    layout.dir().display()
                )
            }
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

/// The target as the engine writes it.
pub(crate) enum Destination {
    Registry {
        client: Client,
        host: String,
        repository: String,
        tag: String,
    },
    Layout {
        layout: Layout,
        repository: String,
        tag: String,
    },
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

    /// Copies `source` (by its digest when it has one, else its tag) to `target`.
    ///
    /// Returns without writing when the target tag already holds the digest, unless
    /// [`CopyOptions::force`]. On error the target tag is untouched unless the error
    /// says otherwise (the last step, writing the tag, failed).
    pub async fn copy(&self, source: &Reference, target: &CopyTarget) -> Result<Copied, CopyError> {
        self.copy_image(source, target, false)
            .await
            .map_err(|f| CopyError::new(source, target, f.kind, f.tag_untouched))
    }

    /// [`Copier::copy`] for an image whose target tag the caller has just compared (a
    /// plan found it outdated): the target tag is not read again.
    pub async fn copy_outdated(
        &self,
        source: &Reference,
        target: &CopyTarget,
    ) -> Result<Copied, CopyError> {
        self.copy_image(source, target, true)
            .await
            .map_err(|f| CopyError::new(source, target, f.kind, f.tag_untouched))
    }

    async fn copy_image(
        &self,
        source: &Reference,
        target: &CopyTarget,
        compared: bool,
    ) -> Result<Copied, Failed> {
        let options = &self.inner.options;
        let dest = Destination::open(target, &self.inner.client).await?;
        let whole = options.platforms.is_none();
        let skip_compare = options.force || compared;
        // With a source digest the no-op case costs one request: the target tag's HEAD.
        if let (false, true, Some(digest)) = (skip_compare, whole, source.digest()) {
            if dest.tag_digest().await?.as_ref() == Some(digest) {
                return Ok(Copied::unchanged(digest.clone()));
            }
        }
        // Otherwise read the source and the target tag at once (the tag only matters
        // when the digest was not compared above).
        let compare = !skip_compare && (source.digest().is_none() || !whole);
        let (top, existing) = tokio::join!(self.inner.client.get_manifest(source), async {
            if compare {
                dest.tag_digest().await
            } else {
                Ok(None)
            }
        });
        let top = select::select(top?, options.platforms.as_deref())?;
        if compare && existing? == Some(top.digest.clone()) {
            return Ok(Copied::unchanged(top.digest));
        }
        let levels = self.children(source, &top).await?;
        let mut copied = self.copy_blobs(source, &top, &levels, &dest).await?;
        // Deepest children first: a registry accepts an index only once its children exist.
        for level in levels.iter().rev() {
            try_join_all(level.iter().map(|m| dest.put_manifest(m, false))).await?;
            copied.manifests_written += level.len();
        }
        dest.put_manifest(&top, true).await.map_err(|kind| Failed {
            kind,
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
        dest: &Destination,
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
        let outcomes = try_join_all(
            wanted
                .iter()
                .map(|b| self.inner.blobs.transfer(source, b, dest)),
        )
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

impl Destination {
    async fn open(target: &CopyTarget, client: &Client) -> Result<Destination, CopyErrorKind> {
        Ok(match target.clone() {
            CopyTarget::Registry {
                host,
                repository,
                tag,
            } => {
                // Validate once, up front, rather than after the blobs moved.
                Reference::from_parts(&host, &repository, Some(&tag), None)?;
                Destination::Registry {
                    client: client.clone(),
                    host,
                    repository,
                    tag,
                }
            }
            CopyTarget::Layout {
                layout,
                repository,
                tag,
            } => {
                let prepared = layout.clone();
                blobs::blocking(move || prepared.init()).await?;
                Destination::Layout {
                    layout,
                    repository,
                    tag,
                }
            }
        })
    }

    /// What identifies the store for locks and semaphores: the registry host, or the
    /// layout directory.
    fn store_key(&self) -> String {
        match self {
            Destination::Registry { host, .. } => host.clone(),
            Destination::Layout { layout, .. } => format!("oci-layout:{}", layout.dir().display()),
        }
    }

    async fn tag_digest(&self) -> Result<Option<Digest>, CopyErrorKind> {
        match self {
            Destination::Registry {
                client,
                host,
                repository,
                tag,
            } => {
                let r = Reference::from_parts(host, repository, Some(tag), None)?;
                Ok(client.head_manifest(&r).await?.map(|h| h.digest))
            }
            Destination::Layout {
                layout,
                repository,
                tag,
            } => Ok(layout.tag_digest(repository, tag)?),
        }
    }

    /// Writes a manifest: by digest, or under the tag when `tagged`.
    async fn put_manifest(&self, m: &Manifest, tagged: bool) -> Result<(), CopyErrorKind> {
        match self {
            Destination::Registry {
                client,
                host,
                repository,
                tag,
            } => {
                let r = if tagged {
                    Reference::from_parts(host, repository, Some(tag), None)?
                } else {
                    Reference::from_parts(host, repository, None, Some(&m.digest))?
                };
                client
                    .put_manifest(&r, &m.media_type, m.bytes.clone())
                    .await?;
            }
            Destination::Layout {
                layout,
                repository,
                tag,
            } => {
                layout.write_blob(&m.digest, &m.bytes)?;
                if tagged {
                    layout.set_tag(
                        repository,
                        tag,
                        &m.media_type,
                        &m.digest,
                        m.bytes.len() as u64,
                    )?;
                }
            }
        }
        Ok(())
    }
}
