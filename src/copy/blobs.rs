//! Moving blobs: skip what the target has, mount what another repository of the same
//! registry holds, else stream from the source into the target, verified on the way.
//!
//! Three pieces of run-wide state live here: a semaphore per registry and direction
//! (downloads from it, uploads to it) bounding blob transfers; a lock per target and
//! digest, so that a blob two images need at once is uploaded once (the second waits,
//! then finds it present or mounts it); and what this run knows each target registry
//! holds, to mount from instead of uploading again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use acr_sync_registry::{Client, Descriptor, Digest, Mount, Reference, UploadSession};
use futures::StreamExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{CopyErrorKind, Destination};
use crate::layout::{BlobWriter, Layout};

/// Chunks are gathered up to this size before one blocking file write.
const FILE_WRITE_BATCH: usize = 1024 * 1024;
/// Attempts per blob when the connection breaks mid-stream (the transport already
/// retries each request; this covers a body cut after its headers arrived).
const ATTEMPTS: u32 = 2;

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The target already had it.
    Present,
    /// Mounted from another repository of the target registry.
    Mounted,
    /// Streamed from the source; this many bytes.
    Copied(u64),
}

/// One lock per (registry, blob) being transferred, so that two images needing the same
/// blob at once upload it once.
type BlobLock = Arc<tokio::sync::Mutex<()>>;

/// The run-wide blob mover (see the module documentation).
pub(super) struct BlobMover {
    client: Client,
    per_registry: usize,
    uploads: Mutex<HashMap<String, Arc<Semaphore>>>,
    downloads: Mutex<HashMap<String, Arc<Semaphore>>>,
    in_flight: Mutex<HashMap<(String, Digest), BlobLock>>,
    held: Mutex<HashMap<(String, Digest), String>>,
    bytes: Arc<AtomicU64>,
}

impl BlobMover {
    pub(super) fn new(client: Client, per_registry: usize) -> BlobMover {
        BlobMover {
            client,
            per_registry: per_registry.max(1),
            uploads: Mutex::default(),
            downloads: Mutex::default(),
            in_flight: Mutex::default(),
            held: Mutex::default(),
            bytes: Arc::default(),
        }
    }

    /// Blob bytes streamed so far in this run.
    pub(super) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Makes `blob` of `source` present in `dest`.
    pub(super) async fn transfer(
        &self,
        source: &Reference,
        blob: &Descriptor,
        dest: &Destination,
    ) -> Result<Outcome, CopyErrorKind> {
        let key = (dest.store_key(), blob.digest.clone());
        // One transfer per target and digest at a time: a second image needing the same
        // blob waits here, then finds it held and mounts or skips it.
        let lock = lock_map(&self.in_flight)
            .entry(key.clone())
            .or_default()
            .clone();
        let _exclusive = lock.lock().await;
        let _upload = permit(&self.uploads, &key.0, self.per_registry).await;
        let outcome = match dest {
            Destination::Registry {
                host, repository, ..
            } => self.to_registry(source, blob, host, repository).await,
            Destination::Layout { layout, .. } => self.to_layout(source, blob, layout).await,
        }
        .map_err(|e| CopyErrorKind::blob(&blob.digest, e))?;
        if let Destination::Registry { repository, .. } = dest {
            lock_map(&self.held).insert(key, repository.clone());
        }
        Ok(outcome)
    }

    async fn to_registry(
        &self,
        source: &Reference,
        blob: &Descriptor,
        host: &str,
        repository: &str,
    ) -> Result<Outcome, CopyErrorKind> {
        let held_in = lock_map(&self.held)
            .get(&(host.to_string(), blob.digest.clone()))
            .cloned();
        if held_in.as_deref() == Some(repository) {
            return Ok(Outcome::Present);
        }
        if self
            .client
            .blob_exists(host, repository, &blob.digest)
            .await?
            .is_some()
        {
            return Ok(Outcome::Present);
        }
        // Mount from where this run put it, or from the source repository when the
        // source is on the target registry itself.
        let from = held_in
            .or_else(|| (source.registry() == host).then(|| source.repository().to_string()));
        let mut session = match from {
            // A refused mount (no read access to `from`, say) only costs the upload.
            Some(from) => match self
                .client
                .mount_blob(host, repository, &from, &blob.digest)
                .await
            {
                Ok(Mount::Mounted) => return Ok(Outcome::Mounted),
                Ok(Mount::NotMounted(session)) => Some(session),
                Err(e) => {
                    tracing::debug!(
                        "mounting {} from {from} failed, uploading it: {e}",
                        blob.digest
                    );
                    None
                }
            },
            None => None,
        };
        let mut attempt = 1;
        loop {
            let open = match session.take() {
                Some(s) => s,
                None => self.client.start_upload(host, repository).await?,
            };
            match self.upload(source, blob, open).await {
                Err(e) if attempt < ATTEMPTS && is_transient(&e) => attempt += 1,
                other => return other.map(Outcome::Copied),
            }
        }
    }

    /// Streams the blob from the source into an open upload. The download verifies the
    /// digest as it streams, and the client abandons the upload before its closing PUT
    /// when it does not match, so the content is hashed once.
    async fn upload(
        &self,
        source: &Reference,
        blob: &Descriptor,
        session: UploadSession,
    ) -> Result<u64, CopyErrorKind> {
        let _download = permit(&self.downloads, source.registry(), self.per_registry).await;
        let moved = Arc::clone(&self.bytes);
        let stream = self
            .client
            .get_blob(source.registry(), source.repository(), &blob.digest)
            .await?
            .on_chunk(move |chunk| {
                moved.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            });
        self.client
            .upload_verified(session, blob.size, stream)
            .await?;
        Ok(blob.size)
    }

    async fn to_layout(
        &self,
        source: &Reference,
        blob: &Descriptor,
        layout: &Layout,
    ) -> Result<Outcome, CopyErrorKind> {
        if layout.blob_size(&blob.digest) == Some(blob.size) {
            return Ok(Outcome::Present);
        }
        let mut attempt = 1;
        loop {
            match self.download(source, blob, layout).await {
                Err(e) if attempt < ATTEMPTS && is_transient(&e) => attempt += 1,
                other => return other.map(Outcome::Copied),
            }
        }
    }

    /// Streams the blob into a layout file, renamed into place once verified.
    async fn download(
        &self,
        source: &Reference,
        blob: &Descriptor,
        layout: &Layout,
    ) -> Result<u64, CopyErrorKind> {
        let _download = permit(&self.downloads, source.registry(), self.per_registry).await;
        let mut writer = layout.blob_writer(&blob.digest, blob.size)?;
        let mut stream = self
            .client
            .get_blob(source.registry(), source.repository(), &blob.digest)
            .await?;
        let mut batch = Vec::new();
        let mut batched = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            self.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            batched += chunk.len();
            batch.push(chunk);
            if batched >= FILE_WRITE_BATCH {
                writer = write_batch(writer, std::mem::take(&mut batch)).await?;
                batched = 0;
            }
        }
        writer = write_batch(writer, batch).await?;
        blocking(move || writer.commit()).await?;
        Ok(blob.size)
    }
}

/// Writes chunks off the async threads (file I/O blocks).
async fn write_batch<B: AsRef<[u8]> + Send + 'static>(
    mut writer: BlobWriter,
    batch: Vec<B>,
) -> Result<BlobWriter, CopyErrorKind> {
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

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::layout::LayoutError> + Send + 'static,
) -> Result<T, CopyErrorKind> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CopyErrorKind::Task(e.to_string()))?
        .map_err(CopyErrorKind::from)
}

/// A broken connection, a time-out or an upload the registry wants restarted: worth one
/// more try in a new session; never a digest mismatch.
fn is_transient(e: &CopyErrorKind) -> bool {
    match e {
        CopyErrorKind::Registry(e) => e.is_transient(),
        _ => false,
    }
}

/// A permit of the semaphore for `registry` in `map`, created on first use.
async fn permit(
    map: &Mutex<HashMap<String, Arc<Semaphore>>>,
    registry: &str,
    size: usize,
) -> OwnedSemaphorePermit {
    let semaphore = lock_map(map)
        .entry(registry.to_string())
        .or_insert_with(|| Arc::new(Semaphore::new(size)))
        .clone();
    semaphore
        .acquire_owned()
        .await
        .expect("run semaphores are never closed")
}

/// Locks a map of run state; a panic elsewhere while it was held leaves valid data.
fn lock_map<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
