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

use acr_sync_registry::{BlobStream, Client, Descriptor, Digest, Reference};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::CopyErrorKind;
use crate::store::{Mounted, Store};

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

    /// Makes `blob` of `source` present in `repository` of `store`.
    pub(super) async fn transfer(
        &self,
        source: &Reference,
        blob: &Descriptor,
        store: &Store,
        repository: &str,
    ) -> Result<Outcome, CopyErrorKind> {
        let key = (store.key(), blob.digest.clone());
        // One transfer per target and digest at a time: a second image needing the same
        // blob waits here, then finds it held and mounts or skips it.
        let lock = lock_map(&self.in_flight)
            .entry(key.clone())
            .or_default()
            .clone();
        let _exclusive = lock.lock().await;
        let _upload = permit(&self.uploads, &key.0, self.per_registry).await;
        let outcome = self
            .place(source, blob, store, repository, &key)
            .await
            .map_err(|e| CopyErrorKind::blob(&blob.digest, e))?;
        lock_map(&self.held).insert(key, repository.to_string());
        Ok(outcome)
    }

    async fn place(
        &self,
        source: &Reference,
        blob: &Descriptor,
        store: &Store,
        repository: &str,
        key: &(String, Digest),
    ) -> Result<Outcome, CopyErrorKind> {
        let held_in = lock_map(&self.held).get(key).cloned();
        if held_in.as_deref() == Some(repository) || store.has_blob(repository, blob).await? {
            return Ok(Outcome::Present);
        }
        // Mount from where this run put it, or from the source repository when the
        // source is on the target registry itself.
        let from = held_in.or_else(|| {
            store
                .is_registry(source.registry())
                .then(|| source.repository().to_string())
        });
        let mut pending = None;
        if let Some(from) = from {
            // A refused mount (no read access to `from`, say) only costs the upload.
            match store.mount_blob(repository, &from, &blob.digest).await {
                Ok(Mounted::Yes) => return Ok(Outcome::Mounted),
                Ok(Mounted::No(session)) => pending = session,
                Err(e) => tracing::debug!(
                    "mounting {} from {from} failed, uploading it: {e}",
                    blob.digest
                ),
            }
        }
        let mut attempt = 1;
        loop {
            let _download = permit(&self.downloads, source.registry(), self.per_registry).await;
            let written = match self.download(source, blob).await {
                Ok(body) => store
                    .write_blob(repository, blob, body, pending.take())
                    .await
                    .map_err(CopyErrorKind::from),
                Err(e) => Err(e),
            };
            match written {
                // Another run uploading the same blob at the same moment can make the
                // registry refuse ours (docker-registry: 400 DIGEST_INVALID, "blob
                // unknown"); what we sent was verified, so if the blob is there now the
                // other writer put it there.
                Err(e) if concurrent_writer(&e) && store.has_blob(repository, blob).await? => {
                    return Ok(Outcome::Present);
                }
                Err(e) if attempt < ATTEMPTS && (is_transient(&e) || concurrent_writer(&e)) => {
                    attempt += 1
                }
                other => return other.map(|()| Outcome::Copied(blob.size)),
            }
        }
    }

    /// The blob from the source, verified as it streams, counted as it passes.
    async fn download(
        &self,
        source: &Reference,
        blob: &Descriptor,
    ) -> Result<BlobStream, CopyErrorKind> {
        let moved = Arc::clone(&self.bytes);
        Ok(self
            .client
            .get_blob(source.registry(), source.repository(), &blob.digest)
            .await?
            .on_chunk(move |chunk| {
                moved.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }))
    }
}

/// An upload refusal that a concurrent writer of the same blob explains: our content was
/// verified as it streamed, so the registry's own upload state is what disagreed.
fn concurrent_writer(e: &CopyErrorKind) -> bool {
    let CopyErrorKind::Registry(e) = e else {
        return false;
    };
    match e.kind() {
        acr_sync_registry::ErrorKind::Status {
            status: 400 | 404,
            code: Some(code),
            ..
        } => matches!(
            code.as_str(),
            "DIGEST_INVALID" | "BLOB_UPLOAD_UNKNOWN" | "BLOB_UPLOAD_INVALID" | "BLOB_UNKNOWN"
        ),
        _ => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use acr_sync_registry::{Error, ErrorKind};

    #[test]
    fn only_upload_state_refusals_are_put_down_to_a_concurrent_writer() {
        let status = |status, code: Option<&str>| {
            CopyErrorKind::Registry(Error::new(
                "r",
                Some("a"),
                ErrorKind::Status {
                    status,
                    code: code.map(str::to_string),
                    message: None,
                },
            ))
        };
        assert!(concurrent_writer(&status(400, Some("DIGEST_INVALID"))));
        assert!(concurrent_writer(&status(404, Some("BLOB_UPLOAD_UNKNOWN"))));
        assert!(!concurrent_writer(&status(400, Some("MANIFEST_INVALID"))));
        assert!(!concurrent_writer(&status(500, Some("DIGEST_INVALID"))));
        assert!(!concurrent_writer(&status(400, None)));
    }
}
