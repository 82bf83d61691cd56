//! An OCI image layout on disk as a target: `oci-layout`, `index.json`, `blobs/<alg>/<hex>`.
//!
//! Each tagged image is an `index.json` entry whose `org.opencontainers.image.ref.name`
//! annotation is `<repository>:<tag>`, so one layout holds many repositories and
//! `skopeo copy oci:DIR:<repository>:<tag>` reads any of them (skopeo 1.9 splits
//! `oci:DIR:REF` at the first `:`, and its ref-name grammar allows `/` and `:`; so DIR
//! itself must not contain a `:`).
//!
//! Manifests are stored byte for byte with their own media type, Docker ones included,
//! so digests match the source. skopeo 1.9 skips `index.json` entries whose media type
//! is not an OCI manifest or index, so it reads OCI-typed images from a layout but not
//! Docker-typed ones (converting them would change their digests); tools that follow
//! the descriptor's media type (regctl, crane, oras) read both.
//!
//! The write side is crash-safe in the usual way: a blob is streamed into a temporary
//! file inside the layout, hashed on the way, and renamed into `blobs/` only once its
//! digest and size check out; `index.json` is rewritten through a temporary file and a
//! rename, so readers never see half a file. Every rewrite takes an exclusive lock on
//! the layout's lock file (`.acr-sync.lock`, `flock`), re-reads the index under it and
//! writes it back before letting go, so that two copies, in one process or in two
//! runs at once, never lose each other's tags. Temporary blob files that a killed run
//! left behind are removed by the next run that opens the layout.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use acr_sync_registry::Digest;
use acr_sync_registry::digest::Hasher;
use acr_sync_registry::manifest::{Manifest, Platform, config_created};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The annotation that names an image in a layout's index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The content of the `oci-layout` marker file.
pub const LAYOUT_VERSION: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;
/// The OCI index media type, which `index.json` declares.
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// The prefix of blobs being written, before they are checked (next to the blobs, so
/// that the rename stays within one directory).
const INCOMING: &str = ".incoming-";

/// The file every `index.json` rewrite locks, across processes.
const LOCK_FILE: &str = ".acr-sync.lock";
/// A temporary blob file untouched this long was left by a run that died: writers touch
/// theirs at every buffered write, and transfers slower than that are abandoned anyway.
const STALE_INCOMING: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// An error reading or writing a layout; names the file.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// A file could not be read or written.
    #[error("OCI layout {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not what the layout spec says it should be.
    #[error("OCI layout {}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Content did not hash to its digest, or had another size: a corrupt source,
    /// transfer or file. A blob being written is then not written.
    #[error(
        "OCI layout {}: content ({actual_size} bytes, {actual}) does not match the expected {expected_size} bytes and digest {expected}", path.display()
    )]
    DigestMismatch {
        /// The blob's file.
        path: PathBuf,
        /// The digest it should have.
        expected: Digest,
        /// The digest it has.
        actual: Digest,
        /// The size it should have.
        expected_size: u64,
        /// The size it has.
        actual_size: u64,
    },
}

/// An OCI image layout directory (which may not exist yet).
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
}

/// `index.json`, keeping the fields this tool uses.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LayoutIndex {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// The OCI index media type.
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// One entry per tagged image.
    #[serde(default)]
    pub manifests: Vec<LayoutEntry>,
}

/// One `index.json` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutEntry {
    /// The manifest's media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Annotations, among them the ref name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl LayoutEntry {
    fn ref_name(&self) -> Option<&str> {
        self.annotations.get(REF_NAME).map(String::as_str)
    }
}

impl Layout {
    /// The layout rooted at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Layout {
        Layout { dir: dir.into() }
    }

    /// The layout's root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a blob lives.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let text = digest.to_string();
        let (algorithm, hex) = text.split_once(':').expect("digests have an algorithm");
        self.dir.join("blobs").join(algorithm).join(hex)
    }

    /// The index, empty when the layout does not exist yet.
    pub fn index(&self) -> Result<LayoutIndex, LayoutError> {
        let path = self.dir.join("index.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| LayoutError::Invalid {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LayoutIndex::default()),
            Err(source) => Err(LayoutError::Io { path, source }),
        }
    }

    /// The digest tagged `<repository>:<tag>`, if any.
    pub fn tag_digest(&self, repository: &str, tag: &str) -> Result<Option<Digest>, LayoutError> {
        let name = format!("{repository}:{tag}");
        Ok(self
            .index()?
            .manifests
            .into_iter()
            .find(|e| e.ref_name() == Some(&name))
            .map(|e| e.digest))
    }

    /// Whether `digest` is under any tag of `repository`.
    pub fn holds_digest(&self, repository: &str, digest: &Digest) -> Result<bool, LayoutError> {
        let prefix = format!("{repository}:");
        Ok(self
            .index()?
            .manifests
            .iter()
            .any(|e| e.digest == *digest && e.ref_name().is_some_and(|n| n.starts_with(&prefix))))
    }

    /// A blob's bytes, checked against its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, LayoutError> {
        let path = self.blob_path(digest);
        let bytes = std::fs::read(&path).map_err(|source| LayoutError::Io {
            path: path.clone(),
            source,
        })?;
        let actual = digest.recompute(&bytes);
        if actual != *digest {
            return Err(LayoutError::DigestMismatch {
                path,
                expected: digest.clone(),
                actual,
                expected_size: bytes.len() as u64,
                actual_size: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    /// The creation date of the image tagged `<repository>:<tag>` for `platform`.
    pub fn created(
        &self,
        repository: &str,
        tag: &str,
        platform: &Platform,
    ) -> Result<Option<DateTime<Utc>>, LayoutError> {
        let name = format!("{repository}:{tag}");
        let Some(entry) = self
            .index()?
            .manifests
            .into_iter()
            .find(|e| e.ref_name() == Some(&name))
        else {
            return Ok(None);
        };
        let mut manifest = self.manifest(&entry.digest, &entry.media_type)?;
        if manifest.is_index() {
            let child = manifest
                .select_platform(platform)
                .map_err(|e| self.invalid(&entry.digest, e))?;
            let Some(child) = child else { return Ok(None) };
            manifest = self.manifest(&child.digest, &child.media_type)?;
        }
        let config = manifest
            .config()
            .map_err(|e| self.invalid(&manifest.digest, e))?;
        Ok(config_created(&self.read_blob(&config.digest)?))
    }

    /// Creates the directories and the `oci-layout` marker when missing; checks the
    /// marker of an existing layout.
    pub fn init(&self) -> Result<(), LayoutError> {
        let blobs = self.dir.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(|source| LayoutError::Io {
            path: blobs,
            source,
        })?;
        let marker = self.dir.join("oci-layout");
        match std::fs::read(&marker) {
            Ok(bytes) => check_marker(&marker, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.write_atomically(&marker, LAYOUT_VERSION.as_bytes())
            }
            Err(source) => Err(LayoutError::Io {
                path: marker,
                source,
            }),
        }
    }

    /// The size of a blob already in the layout, if it is there.
    pub fn blob_size(&self, digest: &Digest) -> Option<u64> {
        std::fs::metadata(self.blob_path(digest))
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    }

    /// Starts writing a blob that must hash to `digest` and be `size` bytes long.
    pub fn blob_writer(&self, digest: &Digest, size: u64) -> Result<BlobWriter, LayoutError> {
        let target = self.blob_path(digest);
        let dir = target.parent().unwrap_or(&self.dir).to_path_buf();
        let io = |source| LayoutError::Io {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let temp = tempfile::Builder::new()
            .prefix(INCOMING)
            .tempfile_in(&dir)
            .map_err(io)?;
        Ok(BlobWriter {
            file: std::io::BufWriter::with_capacity(WRITE_BUFFER, temp),
            hasher: digest.verifier(),
            written: 0,
            digest: digest.clone(),
            size,
            target,
        })
    }

    /// Writes a small blob held in memory (a manifest), checked against `digest`.
    pub fn write_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), LayoutError> {
        if self.blob_size(digest) == Some(bytes.len() as u64) {
            return Ok(());
        }
        let mut writer = self.blob_writer(digest, bytes.len() as u64)?;
        writer.write(bytes)?;
        writer.commit()
    }

    /// Points `<repository>:<tag>` at a manifest, replacing what the name pointed at.
    /// The manifest and everything it references must already be in the layout.
    pub fn set_tag(
        &self,
        repository: &str,
        tag: &str,
        media_type: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<(), LayoutError> {
        let name = format!("{repository}:{tag}");
        let _lock = self.lock_index()?;
        let mut index = self.index()?;
        index.schema_version = 2;
        index.media_type = Some(INDEX_MEDIA_TYPE.to_string());
        let entry = LayoutEntry {
            media_type: media_type.to_string(),
            digest: digest.clone(),
            size,
            annotations: [(REF_NAME.to_string(), name.clone())].into(),
        };
        match index
            .manifests
            .iter_mut()
            .find(|e| e.ref_name() == Some(&name))
        {
            Some(existing) => *existing = entry,
            None => index.manifests.push(entry),
        }
        let path = self.dir.join("index.json");
        let bytes = serde_json::to_vec_pretty(&index).map_err(|e| LayoutError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
        self.write_atomically(&path, &bytes)
    }

    /// Takes the layout's exclusive lock (blocking), held until the file is dropped.
    fn lock_index(&self) -> Result<std::fs::File, LayoutError> {
        let path = self.dir.join(LOCK_FILE);
        let io = |source| LayoutError::Io {
            path: path.clone(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(file)
    }

    /// Removes temporary blob files older than [`STALE_INCOMING`]: what a run killed
    /// mid-transfer left behind. Returns how many were removed.
    pub fn remove_stale_incoming(&self) -> Result<usize, LayoutError> {
        let mut removed = 0;
        let blobs = self.dir.join("blobs");
        let algorithms = match std::fs::read_dir(&blobs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(source) => {
                return Err(LayoutError::Io {
                    path: blobs,
                    source,
                });
            }
        };
        for dir in algorithms.flatten().filter(|e| e.path().is_dir()) {
            let entries = std::fs::read_dir(dir.path()).map_err(|source| LayoutError::Io {
                path: dir.path(),
                source,
            })?;
            for entry in entries.flatten() {
                let stale = entry.file_name().to_string_lossy().starts_with(INCOMING)
                    && entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_INCOMING));
                // Another run may remove it first; that is fine.
                if stale && std::fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
        crate::atomic::write(path, bytes).map_err(|source| LayoutError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    fn manifest(&self, digest: &Digest, media_type: &str) -> Result<Manifest, LayoutError> {
        Ok(Manifest::new(self.read_blob(digest)?.into(), media_type))
    }

    fn invalid(&self, digest: &Digest, e: impl std::fmt::Display) -> LayoutError {
        LayoutError::Invalid {
            path: self.blob_path(digest),
            message: e.to_string(),
        }
    }
}

/// How much of a blob is buffered before it goes to the file.
const WRITE_BUFFER: usize = 256 * 1024;

fn check_marker(path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| LayoutError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    match value.get("imageLayoutVersion").and_then(|v| v.as_str()) {
        Some(v) if v.starts_with("1.") => Ok(()),
        other => Err(LayoutError::Invalid {
            path: path.to_path_buf(),
            message: format!("unsupported imageLayoutVersion {other:?}"),
        }),
    }
}

/// A blob being written into a layout: hashed as it is written, renamed into place by
/// [`BlobWriter::commit`] only when complete and correct. Dropped without a commit, it
/// removes its temporary file.
pub struct BlobWriter {
    file: std::io::BufWriter<tempfile::NamedTempFile>,
    hasher: Hasher,
    written: u64,
    digest: Digest,
    size: u64,
    target: PathBuf,
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("digest", &self.digest)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl BlobWriter {
    /// Appends a chunk. Blocking file I/O: call it from a blocking context for large
    /// blobs, or accept a short stall per buffered chunk.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), LayoutError> {
        self.hasher.update(chunk);
        self.written += chunk.len() as u64;
        if self.written > self.size {
            return Err(self.invalid(format!("more than the {} bytes announced", self.size)));
        }
        self.file
            .write_all(chunk)
            .map_err(|source| LayoutError::Io {
                path: self.target.clone(),
                source,
            })
    }

    /// Checks size and digest, then moves the blob into `blobs/`.
    pub fn commit(self) -> Result<(), LayoutError> {
        let BlobWriter {
            file,
            hasher,
            written,
            digest,
            size,
            target,
        } = self;
        let actual = hasher.finish();
        if actual != digest || written != size {
            return Err(LayoutError::DigestMismatch {
                path: target,
                expected: digest,
                actual,
                expected_size: size,
                actual_size: written,
            });
        }
        let io = |source| LayoutError::Io {
            path: target.clone(),
            source,
        };
        let temp = file.into_inner().map_err(|e| io(e.into_error()))?;
        temp.as_file().sync_data().map_err(io)?;
        temp.persist(&target).map_err(|e| io(e.error))?;
        Ok(())
    }

    fn invalid(&self, message: String) -> LayoutError {
        LayoutError::Invalid {
            path: self.target.clone(),
            message: format!("blob {}: {message}", self.digest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(bytes: &[u8]) -> Digest {
        Digest::sha256_of(bytes)
    }

    #[test]
    fn blobs_are_written_only_when_they_match() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        layout.init().unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("oci-layout")).unwrap(),
            LAYOUT_VERSION
        );

        let good = digest(b"hello");
        let mut w = layout.blob_writer(&good, 5).unwrap();
        w.write(b"hel").unwrap();
        w.write(b"lo").unwrap();
        w.commit().unwrap();
        assert_eq!(layout.read_blob(&good).unwrap(), b"hello");

        let other = digest(b"other");
        let mut w = layout.blob_writer(&other, 5).unwrap();
        w.write(b"wrong").unwrap();
        let err = w.commit().unwrap_err();
        assert!(
            matches!(&err, LayoutError::DigestMismatch { expected, .. } if *expected == other),
            "{err}"
        );
        assert!(err.to_string().contains("does not match"), "{err}");
        assert_eq!(layout.blob_size(&other), None);
        let mut w = layout.blob_writer(&other, 5).unwrap();
        assert!(w.write(b"other and more").is_err());
        drop(w);
        let names: Vec<_> = std::fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
    }

    #[test]
    fn tags_are_set_and_replaced_per_repository() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        layout.init().unwrap();
        let (a, b) = (digest(b"a"), digest(b"b"));
        let m = "application/vnd.oci.image.manifest.v1+json";
        layout.set_tag("runwhen/x", "1", m, &a, 1).unwrap();
        layout.set_tag("runwhen/y", "1", m, &a, 1).unwrap();
        layout.set_tag("runwhen/x", "1", m, &b, 1).unwrap();
        assert_eq!(
            layout.tag_digest("runwhen/x", "1").unwrap(),
            Some(b.clone())
        );
        assert_eq!(
            layout.tag_digest("runwhen/y", "1").unwrap(),
            Some(a.clone())
        );
        assert!(layout.holds_digest("runwhen/y", &a).unwrap());
        assert!(!layout.holds_digest("runwhen/x", &a).unwrap());
        let index = layout.index().unwrap();
        assert_eq!((index.schema_version, index.manifests.len()), (2, 2));
        assert_eq!(index.media_type.as_deref(), Some(INDEX_MEDIA_TYPE));
    }

    #[test]
    fn stale_temporary_blobs_are_removed_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        layout.init().unwrap();
        let blobs = dir.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let old = blobs.join(format!("{INCOMING}killed"));
        let file = std::fs::File::create(&old).unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        file.set_modified(hour_ago).unwrap();
        let fresh = blobs.join(format!("{INCOMING}writing"));
        std::fs::write(&fresh, b"in flight").unwrap();
        let blob = blobs.join("0".repeat(64));
        std::fs::write(&blob, b"a blob").unwrap();
        std::fs::File::open(&blob)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        assert_eq!(layout.remove_stale_incoming().unwrap(), 1);
        assert!(!old.exists());
        assert!(fresh.exists() && blob.exists());
    }

    #[test]
    fn concurrent_tag_writers_lose_nothing() {
        // Each writer opens its own lock file descriptor, as another process would.
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        layout.init().unwrap();
        let m = "application/vnd.oci.image.manifest.v1+json";
        std::thread::scope(|s| {
            for t in 0..4 {
                let layout = layout.clone();
                s.spawn(move || {
                    for i in 0..8 {
                        let d = digest(format!("{t}-{i}").as_bytes());
                        layout
                            .set_tag(&format!("r{t}"), &i.to_string(), m, &d, 1)
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(layout.index().unwrap().manifests.len(), 32);
    }

    #[test]
    fn a_foreign_marker_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"2.0.0"}"#,
        )
        .unwrap();
        assert!(Layout::new(dir.path()).init().is_err());
    }
}
