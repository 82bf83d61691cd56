//! Fixtures of the copy tests: a copier, references, skopeo as an independent reader,
//! and counts of what a target registry was asked.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use acr_sync::config::TargetRegistry;
use acr_sync::copy::{Copied, Copier, CopyError, CopyOptions};
use acr_sync::plan::TargetImage;
use acr_sync::registry::{Client, ClientConfig, Reference};
use acr_sync::store::Store;
use acr_sync_testkit::LoggedRequest;

/// A copier with a default client (loopback registries are plain HTTP).
pub fn copier(options: CopyOptions) -> Copier {
    let client = Client::new(ClientConfig::default()).expect("default client config is valid");
    Copier::new(client, options)
}

/// `host/repo:tag` parsed.
pub fn reference(host: &str, repo: &str, tag: &str) -> Reference {
    Reference::parse(&format!("{host}/{repo}:{tag}")).expect("test references are valid")
}

/// Where a test copies to: an image of a store.
pub struct To {
    /// The store, opened with a default client.
    pub store: Store,
    /// The image in it.
    pub image: TargetImage,
}

fn to(target: &str, repository: &str, tag: &str) -> To {
    let client = Client::new(ClientConfig::default()).expect("default client config is valid");
    let target = TargetRegistry::parse(target).expect("test targets are valid");
    To {
        store: Store::open(&target, &client),
        image: TargetImage {
            repository: repository.to_string(),
            tag: tag.to_string(),
        },
    }
}

/// A registry target.
pub fn to_registry(host: &str, repository: &str, tag: &str) -> To {
    to(host, repository, tag)
}

/// A layout target.
pub fn to_layout(dir: &Path, repository: &str, tag: &str) -> To {
    to(&format!("oci-layout:{}", dir.display()), repository, tag)
}

/// [`Copier::copy`] to a [`To`].
pub trait CopyTo {
    /// Copies `source` to `to`.
    fn copy_to(
        &self,
        source: &Reference,
        to: &To,
    ) -> impl std::future::Future<Output = Result<Copied, CopyError>>;
}

impl CopyTo for Copier {
    async fn copy_to(&self, source: &Reference, to: &To) -> Result<Copied, CopyError> {
        self.copy(source, &to.store, &to.image).await
    }
}

/// Runs skopeo (bounded to 60 s) and returns its stdout; panics with its stderr on failure.
pub fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("timeout")
        .arg("60")
        .arg("skopeo")
        .args(args)
        .output()
        .expect("skopeo runs (apt-get install -y skopeo)");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `skopeo inspect --raw` of a plain-HTTP registry image (`REPO:TAG` or `REPO@DIGEST`).
pub fn skopeo_raw_registry(host: &str, image: &str) -> Vec<u8> {
    skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{host}/{image}"),
    ])
}

/// The hex part of `sha256:<hex>`: query strings may carry the `:` percent-encoded.
fn hex(digest: &str) -> &str {
    digest.split_once(':').map_or(digest, |(_, h)| h)
}

/// Blob upload completions (`PUT ...?digest=D`) for `digest`.
pub fn uploads_of(requests: &[LoggedRequest], digest: &str) -> usize {
    requests
        .iter()
        .filter(|r| {
            r.method == "PUT" && r.path.contains("/blobs/uploads/") && r.path.contains(hex(digest))
        })
        .count()
}

/// Successful mounts (201) of `digest`.
pub fn mounts_of(requests: &[LoggedRequest], digest: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.is_mount() && r.status == 201 && r.path.contains(hex(digest)))
        .count()
}

/// Every blob upload completion (`PUT .../blobs/uploads/...`).
pub fn upload_puts(requests: &[LoggedRequest]) -> usize {
    requests
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/"))
        .count()
}

/// Every blob upload start (`POST .../blobs/uploads/` without `mount=`).
pub fn upload_starts(requests: &[LoggedRequest]) -> usize {
    requests.iter().filter(|r| r.is_upload_start()).count()
}
