//! The public face: one [`Client`] per run, with the registry operations acr-sync needs.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt as _, TryFutureExt as _};
use reqwest::header::{self, HeaderValue};
use reqwest::{Method, Response};

use crate::auth::Access;
use crate::blob::{BlobStream, Mount, UploadSession};
use crate::config::ClientConfig;
use crate::digest::{Digest, Hasher};
use crate::error::{Error, ErrorKind};
use crate::manifest::{
    MANIFEST_ACCEPT, Manifest, ManifestHead, Platform, config_created, detect_media_type,
};
use crate::reference::Reference;
use crate::stats::RegistryStats;
use crate::tags::{TagList, TagPage, next_link};
use crate::transport::{Body, Replay, Request, Transport};

/// Manifests larger than this are refused (registries cap them at 4 MiB).
const MANIFEST_LIMIT: usize = crate::manifest::MANIFEST_SIZE_LIMIT;
/// Config blobs larger than this are refused when reading a creation date.
const CONFIG_LIMIT: usize = 16 * 1024 * 1024;
/// One tag list page larger than this is refused.
const TAG_PAGE_LIMIT: usize = 64 * 1024 * 1024;
/// Pagination stops with an error after this many pages (a registry looping on `Link`).
const MAX_TAG_PAGES: usize = 10_000;
/// Catalog page size asked for (docker-registry's default maximum).
const CATALOG_PAGE: usize = 1000;
const DIGEST_HEADER: &str = "docker-content-digest";

/// A registry client. Cheap to clone (an `Arc` inside); share one per run so that
/// connections, tokens and statistics are shared too.
#[derive(Clone)]
pub struct Client {
    transport: Arc<Transport>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    /// A client; fails on an invalid CA PEM or an unreadable docker config.
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        Ok(Client {
            transport: Arc::new(Transport::new(config)?),
        })
    }

    /// Requests per registry so far, and the last rate-limit figure seen.
    pub fn stats(&self) -> Vec<RegistryStats> {
        self.transport.stats()
    }

    fn request(
        &self,
        method: Method,
        registry: &str,
        repository: &str,
        path: &str,
        what: String,
    ) -> Result<Request, Error> {
        let url = self
            .transport
            .url(registry, &format!("{repository}/{path}"))?;
        Ok(Request::new(method, registry, repository, url, what))
    }

    fn manifest_request(
        &self,
        method: Method,
        r: &Reference,
        selector: &str,
    ) -> Result<Request, Error> {
        let mut req = self.request(
            method,
            r.registry(),
            r.repository(),
            &format!("manifests/{selector}"),
            format!("manifest {selector}"),
        )?;
        req.headers
            .insert(header::ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
        Ok(req)
    }

    fn error(&self, r: &Reference, kind: ErrorKind) -> Error {
        Error::new(r.registry(), Some(r.repository()), kind)
    }

    /// The digest, media type and size of a manifest without downloading it; None when
    /// the registry has no such manifest.
    pub async fn head_manifest(&self, r: &Reference) -> Result<Option<ManifestHead>, Error> {
        let mut req = self.manifest_request(Method::HEAD, r, &r.manifest_selector())?;
        req.pass_through = &[404];
        let resp = self.transport.send(req).await?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let announced = header_digest(&resp);
        let media_type = header_str(&resp, header::CONTENT_TYPE.as_str())
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
            .filter(|c| {
                !matches!(
                    c.as_str(),
                    "" | "application/json" | "text/plain" | "application/octet-stream"
                )
            });
        let size = header_str(&resp, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse().ok());
        let digest = match (r.digest(), announced) {
            (Some(asked), Some(said)) if *asked != said => {
                return Err(self.error(
                    r,
                    ErrorKind::DigestMismatch {
                        expected: asked.clone(),
                        actual: said,
                    },
                ));
            }
            (Some(asked), _) => Some(asked.clone()),
            (None, said) => said,
        };
        match (digest, media_type) {
            (Some(digest), Some(media_type)) => Ok(Some(ManifestHead {
                digest,
                media_type,
                size,
            })),
            // The registry did not say enough: get the manifest itself.
            _ => {
                let m = self.get_manifest(r).await?;
                Ok(Some(ManifestHead {
                    size: Some(m.bytes.len() as u64),
                    digest: m.digest,
                    media_type: m.media_type,
                }))
            }
        }
    }

    /// A manifest's exact bytes, media type and digest. The bytes are checked against
    /// the digest asked for, and against the `Docker-Content-Digest` the registry sent.
    pub async fn get_manifest(&self, r: &Reference) -> Result<Manifest, Error> {
        let req = self.manifest_request(Method::GET, r, &r.manifest_selector())?;
        let resp = self.transport.send(req).await?;
        let announced = header_digest(&resp);
        let content_type = header_str(&resp, header::CONTENT_TYPE.as_str()).map(str::to_string);
        let bytes = read_body(resp, MANIFEST_LIMIT)
            .await
            .map_err(|kind| self.error(r, kind))?;
        let check = |expected: &Digest| {
            let actual = expected.recompute(&bytes);
            if actual == *expected {
                Ok(())
            } else {
                Err(self.error(
                    r,
                    ErrorKind::DigestMismatch {
                        expected: expected.clone(),
                        actual,
                    },
                ))
            }
        };
        if let Some(asked) = r.digest() {
            check(asked)?;
        }
        if let Some(said) = &announced {
            check(said)?;
        }
        let digest = r
            .digest()
            .cloned()
            .or(announced)
            .unwrap_or_else(|| Digest::sha256_of(&bytes));
        let media_type = detect_media_type(content_type.as_deref(), &bytes);
        Ok(Manifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Every tag of a repository, following `Link` pages; on Google's registries also
    /// the digest of every tag. A missing repository is a `NotFound` error.
    pub async fn list_tags(&self, registry: &str, repository: &str) -> Result<TagList, Error> {
        let mut list = TagList::default();
        let mut url = self
            .transport
            .url(registry, &format!("{repository}/tags/list"))?;
        let mut seen = HashSet::new();
        let what = format!("repository {repository}");
        loop {
            if !seen.insert(url.to_string()) || seen.len() > MAX_TAG_PAGES {
                return Err(Error::new(
                    registry,
                    Some(repository),
                    ErrorKind::InvalidResponse("the tag list pagination loops".into()),
                ));
            }
            let req = Request::new(Method::GET, registry, repository, url.clone(), what.clone());
            let resp = self.transport.send(req).await?;
            let link = next_link(header_all(&resp, header::LINK.as_str()));
            let body = read_body(resp, TAG_PAGE_LIMIT)
                .await
                .map_err(|kind| Error::new(registry, Some(repository), kind))?;
            let page: TagPage = serde_json::from_slice(&body).map_err(|e| {
                Error::new(
                    registry,
                    Some(repository),
                    ErrorKind::InvalidResponse(format!("tag list: {e}")),
                )
            })?;
            list.extend(page);
            match link {
                Some(next) => url = self.transport.resolve_link(registry, repository, &next)?,
                None => return Ok(list),
            }
        }
    }

    /// Every repository of the registry (`GET /v2/_catalog?n=1000`, following `Link`
    /// pages), with a `registry:catalog:*` token; or, with `api_path` (ACR's
    /// `/acr/v1/_catalog`), the registry's own catalog of the same shape.
    pub async fn catalog(
        &self,
        registry: &str,
        api_path: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let first = format!("{}?n={CATALOG_PAGE}", api_path.unwrap_or("/v2/_catalog"));
        // Every page, like the first, must stay on the registry.
        let mut url = self.transport.resolve_link(registry, "", &first)?;
        let mut seen = HashSet::new();
        let mut repositories = Vec::new();
        loop {
            if !seen.insert(url.to_string()) || seen.len() > MAX_TAG_PAGES {
                return Err(Error::new(
                    registry,
                    None,
                    ErrorKind::InvalidResponse("the catalog pagination loops".into()),
                ));
            }
            let mut req = Request::new(Method::GET, registry, "", url.clone(), "catalog".into());
            req.access = Access::Catalog;
            let resp = self.transport.send(req).await?;
            let link = next_link(header_all(&resp, header::LINK.as_str()));
            let body = read_body(resp, TAG_PAGE_LIMIT)
                .await
                .map_err(|kind| Error::new(registry, None, kind))?;
            let page: Page = serde_json::from_slice(&body).map_err(|e| {
                Error::new(
                    registry,
                    None,
                    ErrorKind::InvalidResponse(format!("catalog: {e}")),
                )
            })?;
            repositories.extend(page.repositories.unwrap_or_default());
            match link {
                Some(next) => url = self.transport.resolve_link(registry, "", &next)?,
                None => return Ok(repositories),
            }
        }
    }

    /// A registry's own API beside `/v2/` (ACR's `/acr/v1/...`): `GET` of `path` (with its
    /// query) authenticated like the distribution API, with a token for `actions` on
    /// `repository`. Returns the body (at most 64 MiB) and the `Link: <...>; rel="next"`
    /// target, if any. The path is resolved against the registry's base URL, so a `Link`
    /// target can be passed back as is.
    pub async fn get_api(
        &self,
        registry: &str,
        repository: &str,
        path: &str,
        actions: &'static str,
    ) -> Result<(Bytes, Option<String>), Error> {
        // `path` may be a `Link` target handed back: it must stay on the registry.
        let url = self.transport.resolve_link(registry, repository, path)?;
        let what = url.path().to_string();
        let mut req = Request::new(Method::GET, registry, repository, url, what);
        req.access = Access::Actions(actions);
        req.headers
            .insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let resp = self.transport.send(req).await?;
        let link = next_link(header_all(&resp, header::LINK.as_str()));
        let body = read_body(resp, TAG_PAGE_LIMIT)
            .await
            .map_err(|kind| Error::new(registry, Some(repository), kind))?;
        Ok((body, link))
    }

    /// The image manifest for `platform`: the reference's own manifest when it is not
    /// an index, else the index's child for the platform (attestations skipped).
    pub async fn platform_manifest(
        &self,
        r: &Reference,
        platform: &Platform,
    ) -> Result<Manifest, Error> {
        let manifest = self.get_manifest(r).await?;
        if !manifest.is_index() {
            return Ok(manifest);
        }
        let child = manifest
            .select_platform(platform)
            .map_err(|e| e.with_context(r.registry(), Some(r.repository())))?
            .ok_or_else(|| {
                self.error(
                    r,
                    ErrorKind::NotFound {
                        what: format!("no {platform} image in the index {r}"),
                    },
                )
            })?;
        self.get_manifest(&r.with_digest(child.digest)).await
    }

    /// When the image for `platform` was created (its config's `created`); None when
    /// missing, unparsable or 1970.
    pub async fn created(
        &self,
        r: &Reference,
        platform: &Platform,
    ) -> Result<Option<DateTime<Utc>>, Error> {
        let manifest = self.platform_manifest(r, platform).await?;
        let config = manifest
            .config()
            .map_err(|e| e.with_context(r.registry(), Some(r.repository())))?;
        let bytes = self
            .get_blob(r.registry(), r.repository(), &config.digest)
            .await?
            .read_to_end(CONFIG_LIMIT)
            .await?;
        Ok(config_created(&bytes))
    }

    /// The size of a blob if the repository has it.
    pub async fn blob_exists(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, Error> {
        let mut req = self.request(
            Method::HEAD,
            registry,
            repository,
            &format!("blobs/{digest}"),
            format!("blob {digest}"),
        )?;
        req.pass_through = &[404];
        let resp = self.transport.send(req).await?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let size = header_str(&resp, header::CONTENT_LENGTH.as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(Some(size))
    }

    /// A blob as a verified stream (redirects to storage are followed, without our
    /// credentials). The stream's last item is an error if the content does not match.
    pub async fn get_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
    ) -> Result<BlobStream, Error> {
        let mut req = self.request(
            Method::GET,
            registry,
            repository,
            &format!("blobs/{digest}"),
            format!("blob {digest}"),
        )?;
        req.long = true;
        let resp = self.transport.send(req).await?;
        Ok(BlobStream::new(
            resp,
            digest.clone(),
            registry,
            repository,
            self.transport.config().min_transfer_rate,
        ))
    }

    /// Opens an upload session in a repository.
    pub async fn start_upload(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<UploadSession, Error> {
        let mut req = self.request(
            Method::POST,
            registry,
            repository,
            "blobs/uploads/",
            "upload".into(),
        )?;
        req.access = Access::Push;
        let resp = self.transport.send(req).await?;
        self.session(registry, repository, &resp)
    }

    fn session(
        &self,
        registry: &str,
        repository: &str,
        resp: &Response,
    ) -> Result<UploadSession, Error> {
        let location = header_str(resp, header::LOCATION.as_str()).ok_or_else(|| {
            Error::new(
                registry,
                Some(repository),
                ErrorKind::InvalidResponse("an upload answer has no Location".into()),
            )
        })?;
        Ok(UploadSession {
            registry: registry.to_string(),
            repository: repository.to_string(),
            location: self.transport.resolve(registry, repository, location)?,
        })
    }

    /// Mounts a blob from repository `from` of the same registry; when the registry
    /// declines it opens an upload that the caller fills with [`Client::upload`].
    pub async fn mount_blob(
        &self,
        registry: &str,
        repository: &str,
        from: &str,
        digest: &Digest,
    ) -> Result<Mount, Error> {
        let mut req = self.request(
            Method::POST,
            registry,
            repository,
            "blobs/uploads/",
            format!("blob {digest}"),
        )?;
        req.url
            .query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", from);
        req.access = Access::Push;
        req.mount_from = Some(from.to_string());
        let resp = self.transport.send(req).await?;
        if resp.status().as_u16() == 201 {
            return Ok(Mount::Mounted);
        }
        Ok(Mount::NotMounted(
            self.session(registry, repository, &resp)?,
        ))
    }

    /// Uploads a blob: one PUT when it fits in `upload_chunk_size`, else PATCH chunks
    /// and a closing PUT. The content is hashed on the way and the upload is abandoned
    /// before the closing PUT when it does not match `digest` and `size`.
    pub async fn put_blob<S>(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        size: u64,
        body: S,
    ) -> Result<(), Error>
    where
        S: Stream<Item = Result<Bytes, Error>> + Send,
    {
        let session = self.start_upload(registry, repository).await?;
        self.upload(session, digest, size, body).await
    }

    /// Uploads a blob into an open session (see [`Client::put_blob`]).
    ///
    /// Each chunk is held in memory, so a chunk whose sending fails before the registry
    /// saw it is resent; a failure after that, or an error status for a chunk, ends the
    /// upload with an error ([`ErrorKind::UploadRestart`] for a status; see
    /// [`Error::is_transient`]), and the caller starts a new one (uploads are
    /// idempotent by digest). The next chunk is read from `body` while the current one
    /// is sent, so at most two chunks are held in memory.
    pub async fn upload<S>(
        &self,
        session: UploadSession,
        digest: &Digest,
        size: u64,
        body: S,
    ) -> Result<(), Error>
    where
        S: Stream<Item = Result<Bytes, Error>> + Send,
    {
        self.upload_chunks(session, digest, size, body, Some(digest.verifier()))
            .await
    }

    /// Like [`Client::upload`], for a blob streamed from a registry: the [`BlobStream`]
    /// hashes its content already and ends with an error instead of a clean end when it
    /// does not match its digest, so the content is not hashed a second time. The
    /// upload is abandoned before its closing PUT on that error, as on any other.
    pub async fn upload_verified(
        &self,
        session: UploadSession,
        size: u64,
        body: BlobStream,
    ) -> Result<(), Error> {
        let digest = body.digest().clone();
        self.upload_chunks(session, &digest, size, body, None).await
    }

    /// The upload itself; `hasher` is None when `body` verifies itself.
    async fn upload_chunks<S>(
        &self,
        session: UploadSession,
        digest: &Digest,
        size: u64,
        body: S,
        hasher: Option<Hasher>,
    ) -> Result<(), Error>
    where
        S: Stream<Item = Result<Bytes, Error>> + Send,
    {
        let UploadSession {
            registry,
            repository,
            mut location,
        } = session;
        let mut reader = ChunkReader {
            body: std::pin::pin!(body),
            hasher,
            pending: None,
            ended: false,
            chunk_size: self.transport.config().upload_chunk_size.max(1),
        };
        let mut buffer = match reader.next_chunk().await {
            Ok(b) => b,
            Err(e) => {
                self.abandon(&registry, &repository, &location).await;
                return Err(e);
            }
        };
        let mut sent: u64 = 0;
        // A chunk followed by more data goes in a PATCH, sent while the next chunk is
        // read; the last one (the only one for a small blob) goes in the closing PUT.
        while reader.has_more() {
            let chunk = Bytes::from(std::mem::take(&mut buffer));
            let len = chunk.len() as u64;
            enum Failed {
                Send(Error),
                Read(Error),
            }
            let send = self
                .patch(&registry, &repository, &location, sent, chunk)
                .map_err(Failed::Send);
            let read = reader.next_chunk().map_err(Failed::Read);
            match futures::future::try_join(send, read).await {
                Ok((next, next_chunk)) => {
                    location = next;
                    buffer = next_chunk;
                    sent += len;
                }
                Err(Failed::Send(e)) => return Err(e),
                Err(Failed::Read(e)) => {
                    self.abandon(&registry, &repository, &location).await;
                    return Err(e);
                }
            }
        }
        let total = sent + buffer.len() as u64;
        let actual = reader.hasher.take().map(Hasher::finish);
        let mismatch = actual.filter(|a| a != digest);
        if mismatch.is_some() || total != size {
            self.abandon(&registry, &repository, &location).await;
            let kind = match mismatch {
                Some(actual) => ErrorKind::DigestMismatch {
                    expected: digest.clone(),
                    actual,
                },
                None => ErrorKind::InvalidResponse(format!(
                    "blob {digest}: got {total} bytes to upload, expected {size}"
                )),
            };
            return Err(Error::new(&registry, Some(&repository), kind));
        }
        let mut url = location;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let mut req = Request::new(
            Method::PUT,
            &registry,
            &repository,
            url,
            format!("upload of blob {digest}"),
        );
        req.access = Access::Push;
        req.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        req.body = Body::Bytes(Bytes::from(buffer));
        let resp = self
            .transport
            .send(req)
            .await
            .map_err(|e| e.into_upload_restart(false))?;
        match header_digest(&resp) {
            Some(said) if said != *digest => Err(Error::new(
                &registry,
                Some(&repository),
                ErrorKind::DigestMismatch {
                    expected: digest.clone(),
                    actual: said,
                },
            )),
            _ => Ok(()),
        }
    }

    /// Sends one chunk; returns the next upload location. The chunk is resent only if
    /// it never reached the registry; an error status ends the upload with
    /// [`ErrorKind::UploadRestart`].
    async fn patch(
        &self,
        registry: &str,
        repository: &str,
        location: &url::Url,
        offset: u64,
        chunk: Bytes,
    ) -> Result<url::Url, Error> {
        let end = offset + chunk.len() as u64 - 1;
        let mut req = Request::new(
            Method::PATCH,
            registry,
            repository,
            location.clone(),
            "upload".into(),
        );
        req.access = Access::Push;
        req.replay = Replay::IfNotSent;
        req.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        if let Ok(range) = HeaderValue::from_str(&format!("{offset}-{end}")) {
            req.headers.insert(header::CONTENT_RANGE, range);
        }
        req.body = Body::Bytes(chunk);
        let resp = self
            .transport
            .send(req)
            .await
            .map_err(|e| e.into_upload_restart(true))?;
        Ok(self.session(registry, repository, &resp)?.location)
    }

    /// Cancels an upload, best effort: the registry would expire it anyway.
    async fn abandon(&self, registry: &str, repository: &str, location: &url::Url) {
        let mut req = Request::new(
            Method::DELETE,
            registry,
            repository,
            location.clone(),
            "upload".into(),
        );
        req.access = Access::Push;
        req.pass_through = &[404];
        if let Err(e) = self.transport.send(req).await {
            tracing::debug!("cancelling an upload failed: {e}");
        }
    }

    /// Pushes a manifest's exact bytes under the reference's tag (or digest when it has
    /// no tag). Returns the digest; a reference digest that does not match the bytes is
    /// refused before anything is sent.
    pub async fn put_manifest(
        &self,
        r: &Reference,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Digest, Error> {
        let digest = match r.digest() {
            Some(asked) => {
                let actual = asked.recompute(&bytes);
                if actual != *asked {
                    return Err(self.error(
                        r,
                        ErrorKind::DigestMismatch {
                            expected: asked.clone(),
                            actual,
                        },
                    ));
                }
                asked.clone()
            }
            None => Digest::sha256_of(&bytes),
        };
        let selector = r.tag().map_or_else(|| digest.to_string(), str::to_string);
        let mut req = self.manifest_request(Method::PUT, r, &selector)?;
        req.headers.remove(header::ACCEPT);
        let content_type = HeaderValue::from_str(media_type).map_err(|_| {
            self.error(
                r,
                ErrorKind::Config(format!("invalid media type {media_type:?}")),
            )
        })?;
        req.headers.insert(header::CONTENT_TYPE, content_type);
        req.access = Access::Push;
        req.body = Body::Bytes(bytes);
        let resp = self.transport.send(req).await?;
        match header_digest(&resp) {
            Some(said) if said.algorithm() == digest.algorithm() && said != digest => Err(self
                .error(
                    r,
                    ErrorKind::DigestMismatch {
                        expected: digest,
                        actual: said,
                    },
                )),
            _ => Ok(digest),
        }
    }
}

/// Cuts an upload body into chunks of exactly `chunk_size` bytes (the last one
/// shorter), hashing what it reads when asked to. Holds one chunk and at most one
/// stream item beyond it.
struct ChunkReader<'a, S> {
    body: std::pin::Pin<&'a mut S>,
    hasher: Option<Hasher>,
    /// Read from the body but not yet in a chunk.
    pending: Option<Bytes>,
    ended: bool,
    chunk_size: usize,
}

impl<S: Stream<Item = Result<Bytes, Error>>> ChunkReader<'_, S> {
    /// Whether there is content after the chunk last returned.
    fn has_more(&self) -> bool {
        self.pending.is_some()
    }

    /// The next chunk; on return, either the body has ended or [`Self::has_more`] is
    /// true, so that a blob of exactly one chunk goes in one PUT.
    async fn next_chunk(&mut self) -> Result<Vec<u8>, Error> {
        let mut buf = Vec::new();
        if self.pending.is_some() {
            // Past the first chunk of a large blob: take the whole chunk at once rather
            // than grow into it, so that no reallocation runs while a PATCH is in flight.
            buf.reserve_exact(self.chunk_size);
        }
        loop {
            let item = match self.pending.take() {
                Some(item) => item,
                None if self.ended => return Ok(buf),
                None => match self.body.next().await {
                    Some(Ok(item)) => {
                        if let Some(h) = self.hasher.as_mut() {
                            h.update(&item);
                        }
                        item
                    }
                    Some(Err(e)) => return Err(e),
                    None => {
                        self.ended = true;
                        return Ok(buf);
                    }
                },
            };
            if item.is_empty() {
                continue;
            }
            let room = self.chunk_size - buf.len();
            if room == 0 {
                self.pending = Some(item);
                return Ok(buf);
            }
            if buf.capacity() == 0 {
                // The first chunk grows by doubling, never past the chunk size: most
                // blobs are far smaller than a chunk.
                buf.reserve_exact(self.chunk_size.min(item.len().max(64 * 1024)));
            }
            let take = room.min(item.len());
            if buf.capacity() - buf.len() < take {
                let want = (buf.capacity() * 2).clamp(buf.len() + take, self.chunk_size);
                buf.reserve_exact(want - buf.len());
            }
            buf.extend_from_slice(&item[..take]);
            if take < item.len() {
                self.pending = Some(item.slice(take..));
                return Ok(buf);
            }
        }
    }
}

/// Every value of a header, in order (a registry may send `Link` several times).
fn header_all<'a>(resp: &'a Response, name: &str) -> impl Iterator<Item = &'a str> {
    resp.headers()
        .get_all(name)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
}

fn header_str<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `Docker-Content-Digest`, when present and well-formed.
fn header_digest(resp: &Response) -> Option<Digest> {
    header_str(resp, DIGEST_HEADER).and_then(|v| v.trim().parse().ok())
}

/// The body, refusing more than `limit` bytes.
async fn read_body(mut resp: Response, limit: usize) -> Result<Bytes, ErrorKind> {
    let mut out = BytesMut::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() + chunk.len() > limit {
                    return Err(ErrorKind::InvalidResponse(format!(
                        "the response is larger than {limit} bytes"
                    )));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out.freeze()),
            Err(e) => return Err(crate::transport::transport_error_kind(&e)),
        }
    }
}
