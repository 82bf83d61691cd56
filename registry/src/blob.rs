//! Blob downloads that verify their digest as they stream, and upload sessions.

use std::fmt;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use url::Url;

use crate::config::MinTransferRate;
use crate::digest::{Digest, Hasher};
use crate::error::{Error, ErrorKind};
use crate::transport::transport_error_kind;

/// A callback seeing every chunk of a [`BlobStream`].
type OnChunk = Box<dyn FnMut(&Bytes) + Send>;

/// A blob being downloaded: a stream of chunks that hashes what passes through and ends
/// with an error instead of a clean end when the content does not match its digest.
/// Nothing is buffered beyond the chunk in hand.
pub struct BlobStream {
    inner: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    hasher: Option<Hasher>,
    expected: Digest,
    size: Option<u64>,
    received: u64,
    registry: String,
    repository: String,
    on_chunk: Option<OnChunk>,
    rate: Option<RateGuard>,
}

/// Watches a download's pace: at the end of every window, fewer bytes than the minimum
/// rate times the window end the stream. `request_timeout` only bounds each pause, so
/// without this a trickle of a few bytes every few seconds would never end.
struct RateGuard {
    min: MinTransferRate,
    in_window: u64,
    window_end: Pin<Box<tokio::time::Sleep>>,
}

impl RateGuard {
    fn new(min: MinTransferRate) -> Option<RateGuard> {
        (min.bytes_per_second > 0 && !min.window.is_zero()).then(|| RateGuard {
            min,
            in_window: 0,
            window_end: Box::pin(tokio::time::sleep(min.window)),
        })
    }

    /// At a window's end: Err(bytes received) when they were too few, else a new window.
    /// Registers the waker for the window's end, so a stalled stream is woken to fail.
    fn check(&mut self, cx: &mut Context<'_>) -> Result<(), u64> {
        if self.window_end.as_mut().poll(cx).is_pending() {
            return Ok(());
        }
        let needed = (self.min.bytes_per_second as f64 * self.min.window.as_secs_f64()) as u64;
        if self.in_window < needed {
            return Err(self.in_window);
        }
        self.in_window = 0;
        let next = tokio::time::Instant::now() + self.min.window;
        self.window_end.as_mut().reset(next);
        // Poll once more so the new deadline is what wakes us.
        let _ = self.window_end.as_mut().poll(cx);
        Ok(())
    }
}

impl BlobStream {
    pub(crate) fn new(
        response: reqwest::Response,
        expected: Digest,
        registry: &str,
        repository: &str,
        min_rate: Option<MinTransferRate>,
    ) -> BlobStream {
        let size = response
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        BlobStream {
            inner: Box::pin(response.bytes_stream()),
            hasher: Some(expected.verifier()),
            expected,
            size,
            received: 0,
            registry: registry.to_string(),
            repository: repository.to_string(),
            on_chunk: None,
            rate: min_rate.and_then(RateGuard::new),
        }
    }

    /// Calls `f` with every chunk as it passes (to count progress), keeping the stream a
    /// `BlobStream` so that it can go to [`Client::upload_verified`](crate::Client::upload_verified).
    pub fn on_chunk(mut self, f: impl FnMut(&Bytes) + Send + 'static) -> BlobStream {
        self.on_chunk = Some(Box::new(f));
        self
    }

    /// The size the registry announced (`Content-Length`), if it did.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// The digest the content is checked against.
    pub fn digest(&self) -> &Digest {
        &self.expected
    }

    /// Reads the whole blob into memory, verified; for small blobs (configs) only.
    pub async fn read_to_end(mut self, limit: usize) -> Result<Bytes, Error> {
        use futures::StreamExt as _;
        let mut out = Vec::new();
        while let Some(chunk) = self.next().await {
            let chunk = chunk?;
            if out.len() + chunk.len() > limit {
                return Err(self.error(ErrorKind::InvalidResponse(format!(
                    "blob {} is larger than {limit} bytes",
                    self.expected
                ))));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(out))
    }

    fn error(&self, kind: ErrorKind) -> Error {
        Error::new(&self.registry, Some(&self.repository), kind)
    }

    /// Called at the end of the body: the final verdict.
    fn finish(&mut self) -> Option<Error> {
        let hasher = self.hasher.take()?;
        let actual = hasher.finish();
        if actual != self.expected {
            return Some(self.error(ErrorKind::DigestMismatch {
                expected: self.expected.clone(),
                actual,
            }));
        }
        match self.size {
            Some(size) if size != self.received => {
                Some(self.error(ErrorKind::InvalidResponse(format!(
                    "blob {} ended after {} of {size} bytes",
                    self.expected, self.received
                ))))
            }
            _ => None,
        }
    }
}

impl Stream for BlobStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.hasher.is_none() {
            return Poll::Ready(None);
        }
        if let Some(Err(received)) = self.rate.as_mut().map(|r| r.check(cx)) {
            self.hasher = None;
            let min = self.rate.as_ref().map(|r| r.min).unwrap_or_default();
            let kind = ErrorKind::TooSlow {
                digest: self.expected.clone(),
                received,
                window_secs: u32::try_from(min.window.as_secs()).unwrap_or(u32::MAX),
                min_rate: u32::try_from(min.bytes_per_second).unwrap_or(u32::MAX),
            };
            return Poll::Ready(Some(Err(self.error(kind))));
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                self.received += chunk.len() as u64;
                if let Some(r) = self.rate.as_mut() {
                    r.in_window += chunk.len() as u64;
                }
                if let Some(h) = self.hasher.as_mut() {
                    h.update(&chunk);
                }
                if let Some(f) = self.on_chunk.as_mut() {
                    f(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.hasher = None;
                Poll::Ready(Some(Err(self.error(transport_error_kind(&e)))))
            }
            Poll::Ready(None) => {
                self.rate = None;
                Poll::Ready(self.finish().map(Err))
            }
        }
    }
}

impl fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStream")
            .field("digest", &self.expected)
            .field("size", &self.size)
            .field("received", &self.received)
            .finish()
    }
}

/// An upload the registry has opened (`202 Accepted` with a `Location`).
pub struct UploadSession {
    pub(crate) registry: String,
    pub(crate) repository: String,
    pub(crate) location: Url,
}

impl UploadSession {
    /// The registry the upload goes to.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository the upload goes to.
    pub fn repository(&self) -> &str {
        &self.repository
    }
}

impl fmt::Debug for UploadSession {
    // The location's query may carry upload state; keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadSession")
            .field("registry", &self.registry)
            .field("repository", &self.repository)
            .finish_non_exhaustive()
    }
}

/// The outcome of a cross-repository mount.
#[derive(Debug)]
pub enum Mount {
    /// The blob is now in the target repository (201).
    Mounted,
    /// The registry did not mount but opened an upload instead (202); upload the blob
    /// into this session with [`Client::upload`](crate::Client::upload).
    NotMounted(UploadSession),
}
