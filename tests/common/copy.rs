//! Fixtures of the copy tests: a copier, references, skopeo as an independent reader,
//! and counts of what a target registry was asked.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use acr_sync::copy::{Copier, CopyOptions, CopyTarget};
use acr_sync::layout::Layout;
use acr_sync::registry::{Client, ClientConfig, Reference};
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

/// A registry target.
pub fn to_registry(host: &str, repository: &str, tag: &str) -> CopyTarget {
    CopyTarget::Registry {
        host: host.to_string(),
        repository: repository.to_string(),
        tag: tag.to_string(),
    }
}

/// A layout target.
pub fn to_layout(dir: &Path, repository: &str, tag: &str) -> CopyTarget {
    CopyTarget::Layout {
        layout: Layout::new(dir),
        repository: repository.to_string(),
        tag: tag.to_string(),
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
