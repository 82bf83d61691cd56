//! Uploads test images to a registry (and reads them back), speaking the distribution API itself.

use futures::StreamExt;
use reqwest::{Method, RequestBuilder, StatusCode};

use crate::image::{Blob, TestImage, TestIndex, sha256_digest};
use crate::tokens::TokenServer;

/// `Accept` header listing every manifest media type the harness builds.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A Docker `config.json` with basic credentials for each `(host, user, password)`:
/// `{"auths": {"HOST": {"auth": base64("user:password")}}}`.
pub fn docker_config_json(auths: &[(&str, &str, &str)]) -> String {
    use base64::Engine;
    let mut map = serde_json::Map::new();
    for (host, user, password) in auths {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        map.insert(host.to_string(), serde_json::json!({ "auth": auth }));
    }
    serde_json::json!({ "auths": map }).to_string()
}

/// How a [`Pusher`] authenticates.
#[derive(Clone)]
pub enum PushAuth {
    /// No credentials.
    Anonymous,
    /// Basic credentials on every request.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// Bearer tokens minted directly by the token server, with `pull,push,delete` on the repository.
    Token(TokenServer),
}

/// A manifest read back from a registry.
#[derive(Clone, Debug)]
pub struct FetchedManifest {
    /// `Content-Type`.
    pub media_type: String,
    /// The bytes.
    pub bytes: bytes::Bytes,
    /// `sha256` of the bytes (not the header).
    pub digest: String,
    /// `Docker-Content-Digest` header, when sent.
    pub header_digest: Option<String>,
}

/// Pushes, tags, deletes and reads images in one registry. Every method panics with a clear message
/// when the registry does not answer as expected.
#[derive(Clone)]
pub struct Pusher {
    client: reqwest::Client,
    base_url: String,
    auth: PushAuth,
}

impl Pusher {
    /// A pusher for `base_url` (`http(s)://host:port`) using this client (which must trust the
    /// registry's CA for TLS).
    pub fn new(base_url: &str, client: reqwest::Client, auth: PushAuth) -> Pusher {
        Pusher {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            auth,
        }
    }

    /// The registry's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    fn request(&self, method: Method, url: &str, repo: &str) -> RequestBuilder {
        let url = if url.starts_with("http://") || url.starts_with("https://") {
            url.to_string()
        } else {
            format!("{}{}", self.base_url, url)
        };
        let rb = self.client.request(method, url);
        match &self.auth {
            PushAuth::Anonymous => rb,
            PushAuth::Basic { user, password } => rb.basic_auth(user, Some(password)),
            PushAuth::Token(ts) => {
                let scope = format!("repository:{repo}:pull,push,delete");
                rb.bearer_auth(ts.mint("testkit-pusher", &[scope.as_str()]))
            }
        }
    }

    async fn send(&self, rb: RequestBuilder, what: &str) -> reqwest::Response {
        rb.send()
            .await
            .unwrap_or_else(|e| panic!("testkit pusher: {what}: request failed: {e}"))
    }

    async fn expect(resp: reqwest::Response, ok: &[StatusCode], what: &str) -> reqwest::Response {
        if ok.contains(&resp.status()) {
            return resp;
        }
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        panic!("testkit pusher: {what}: unexpected status {status}: {body}");
    }

    /// Uploads a blob (POST, then one monolithic PUT) and returns its digest.
    pub async fn put_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let what = format!("upload blob {digest} to {repo}");
        let resp = self
            .send(
                self.request(Method::POST, &format!("/v2/{repo}/blobs/uploads/"), repo)
                    .header(reqwest::header::CONTENT_LENGTH, "0"),
                &what,
            )
            .await;
        let resp = Self::expect(resp, &[StatusCode::ACCEPTED], &what).await;
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("testkit pusher: {what}: no Location"))
            .to_string();
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={digest}");
        let resp = self
            .send(
                self.request(Method::PUT, &url, repo)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(bytes.to_vec()),
                &what,
            )
            .await;
        Self::expect(resp, &[StatusCode::CREATED], &what).await;
        digest
    }

    /// Uploads each blob.
    pub async fn put_blobs(&self, repo: &str, blobs: &[&Blob]) {
        for b in blobs {
            self.put_blob(repo, &b.bytes).await;
        }
    }

    /// PUTs manifest bytes under `reference` (tag or digest) and returns their digest.
    pub async fn put_manifest_raw(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let digest = sha256_digest(bytes);
        let what = format!("put manifest {repo}:{reference}");
        let resp = self
            .send(
                self.request(
                    Method::PUT,
                    &format!("/v2/{repo}/manifests/{reference}"),
                    repo,
                )
                .header(reqwest::header::CONTENT_TYPE, media_type)
                .body(bytes.to_vec()),
                &what,
            )
            .await;
        let resp = Self::expect(resp, &[StatusCode::CREATED], &what).await;
        if let Some(d) = resp.headers().get("docker-content-digest") {
            assert_eq!(
                d.to_str().unwrap_or(""),
                digest,
                "testkit pusher: {what}: registry computed another digest"
            );
        }
        digest
    }

    /// Pushes an image's blobs and its manifest by digest (no tag); returns the manifest digest.
    pub async fn push_image_untagged(&self, repo: &str, img: &TestImage) -> String {
        self.put_blobs(repo, &img.blobs()).await;
        self.put_manifest_raw(repo, &img.digest, &img.media_type, &img.manifest)
            .await
    }

    /// Pushes an image: blobs, manifest by digest, then the tag. Returns the manifest digest.
    pub async fn push_image(&self, repo: &str, tag: &str, img: &TestImage) -> String {
        let digest = self.push_image_untagged(repo, img).await;
        self.put_manifest_raw(repo, tag, &img.media_type, &img.manifest)
            .await;
        digest
    }

    /// Pushes an index: every child's blobs and manifest by digest, the index by digest, then the
    /// tag. Returns the index digest.
    pub async fn push_index(&self, repo: &str, tag: &str, index: &TestIndex) -> String {
        for child in index.children() {
            self.push_image_untagged(repo, child).await;
        }
        self.put_manifest_raw(repo, &index.digest, &index.media_type, &index.manifest)
            .await;
        self.put_manifest_raw(repo, tag, &index.media_type, &index.manifest)
            .await
    }

    /// Tags an existing manifest (GET by digest, PUT the same bytes under `tag`).
    pub async fn tag(&self, repo: &str, digest: &str, tag: &str) {
        let m = self
            .get_manifest(repo, digest)
            .await
            .unwrap_or_else(|| panic!("testkit pusher: tag {repo}@{digest}: manifest not found"));
        self.put_manifest_raw(repo, tag, &m.media_type, &m.bytes)
            .await;
    }

    /// Tags an existing manifest under many tags, 8 PUTs at a time (250 tags take well under a
    /// second on loopback).
    pub async fn tags_many(&self, repo: &str, digest: &str, tags: &[String]) {
        let m = self
            .get_manifest(repo, digest)
            .await
            .unwrap_or_else(|| panic!("testkit pusher: tag {repo}@{digest}: manifest not found"));
        futures::stream::iter(tags)
            .map(|t| self.put_manifest_raw(repo, t, &m.media_type, &m.bytes))
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
    }

    /// DELETE `/v2/<repo>/manifests/<reference>`; panics unless 202. Needs a registry started with
    /// deletes enabled. docker-registry 2.8 deletes by digest only (the manifest and every tag on
    /// it); to remove one tag use [`crate::Registry::untag`].
    pub async fn delete(&self, repo: &str, reference: &str) {
        let what = format!("delete {repo}:{reference}");
        let resp = self
            .send(
                self.request(
                    Method::DELETE,
                    &format!("/v2/{repo}/manifests/{reference}"),
                    repo,
                ),
                &what,
            )
            .await;
        Self::expect(resp, &[StatusCode::ACCEPTED], &what).await;
    }

    /// GETs a manifest; `None` on 404.
    pub async fn get_manifest(&self, repo: &str, reference: &str) -> Option<FetchedManifest> {
        let what = format!("get manifest {repo}:{reference}");
        let resp = self
            .send(
                self.request(
                    Method::GET,
                    &format!("/v2/{repo}/manifests/{reference}"),
                    repo,
                )
                .header(reqwest::header::ACCEPT, MANIFEST_ACCEPT),
                &what,
            )
            .await;
        if resp.status() == StatusCode::NOT_FOUND {
            return None;
        }
        let resp = Self::expect(resp, &[StatusCode::OK], &what).await;
        let media_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let bytes = resp
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("testkit pusher: {what}: body: {e}"));
        Some(FetchedManifest {
            media_type,
            digest: sha256_digest(&bytes),
            bytes,
            header_digest,
        })
    }

    /// GETs a blob; `None` on 404.
    pub async fn get_blob(&self, repo: &str, digest: &str) -> Option<bytes::Bytes> {
        let what = format!("get blob {repo}@{digest}");
        let resp = self
            .send(
                self.request(Method::GET, &format!("/v2/{repo}/blobs/{digest}"), repo),
                &what,
            )
            .await;
        if resp.status() == StatusCode::NOT_FOUND {
            return None;
        }
        let resp = Self::expect(resp, &[StatusCode::OK], &what).await;
        Some(
            resp.bytes()
                .await
                .unwrap_or_else(|e| panic!("testkit pusher: {what}: body: {e}")),
        )
    }

    /// HEADs a blob.
    pub async fn blob_exists(&self, repo: &str, digest: &str) -> bool {
        let what = format!("head blob {repo}@{digest}");
        let resp = self
            .send(
                self.request(Method::HEAD, &format!("/v2/{repo}/blobs/{digest}"), repo),
                &what,
            )
            .await;
        match resp.status() {
            StatusCode::OK => true,
            StatusCode::NOT_FOUND => false,
            s => panic!("testkit pusher: {what}: unexpected status {s}"),
        }
    }

    /// Every tag of `repo` (one unpaged `tags/list`); empty when the repository is unknown.
    pub async fn tags(&self, repo: &str) -> Vec<String> {
        let what = format!("list tags of {repo}");
        let resp = self
            .send(
                self.request(Method::GET, &format!("/v2/{repo}/tags/list"), repo),
                &what,
            )
            .await;
        if resp.status() == StatusCode::NOT_FOUND {
            return Vec::new();
        }
        let resp = Self::expect(resp, &[StatusCode::OK], &what).await;
        let v: serde_json::Value = resp
            .json()
            .await
            .unwrap_or_else(|e| panic!("testkit pusher: {what}: json: {e}"));
        v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}
