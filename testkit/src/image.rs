//! Deterministic test images: layers, config, manifests (OCI or Docker v2) and multi-arch indexes
//! with attestation manifests. The same inputs always give the same bytes and digests (for one
//! build of this crate: gzip output follows the `flate2` version).

use std::collections::BTreeMap;
use std::io::Write;

use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// OCI image manifest.
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI gzip layer.
pub const MEDIA_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Docker v2 schema 2 manifest.
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const MEDIA_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const MEDIA_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const MEDIA_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// in-toto attestation layer.
pub const MEDIA_IN_TOTO: &str = "application/vnd.in-toto+json";
/// Value of the `vnd.docker.reference.type` annotation on attestation entries.
pub const ATTESTATION_REFERENCE_TYPE: &str = "attestation-manifest";

/// `sha256:<hex>` of the bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Which family of media types to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MediaKind {
    /// OCI image manifest / index.
    #[default]
    Oci,
    /// Docker v2 schema 2 manifest / manifest list.
    Docker,
}

impl MediaKind {
    fn manifest(self) -> &'static str {
        match self {
            MediaKind::Oci => MEDIA_OCI_MANIFEST,
            MediaKind::Docker => MEDIA_DOCKER_MANIFEST,
        }
    }
    fn index(self) -> &'static str {
        match self {
            MediaKind::Oci => MEDIA_OCI_INDEX,
            MediaKind::Docker => MEDIA_DOCKER_MANIFEST_LIST,
        }
    }
    fn config(self) -> &'static str {
        match self {
            MediaKind::Oci => MEDIA_OCI_CONFIG,
            MediaKind::Docker => MEDIA_DOCKER_CONFIG,
        }
    }
    fn layer(self) -> &'static str {
        match self {
            MediaKind::Oci => MEDIA_OCI_LAYER_GZIP,
            MediaKind::Docker => MEDIA_DOCKER_LAYER_GZIP,
        }
    }
}

/// A content-addressed blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    /// Media type used in descriptors.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Content.
    pub bytes: Bytes,
}

impl Blob {
    /// A blob of these bytes.
    pub fn new(media_type: &str, bytes: impl Into<Bytes>) -> Blob {
        let bytes = bytes.into();
        Blob {
            media_type: media_type.into(),
            digest: sha256_digest(&bytes),
            bytes,
        }
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// An image platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Platform {
    /// e.g. `amd64`.
    pub architecture: String,
    /// e.g. `linux`.
    pub os: String,
    /// e.g. `v8`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `os/arch`.
    pub fn new(os: &str, architecture: &str) -> Platform {
        Platform {
            architecture: architecture.into(),
            os: os.into(),
            variant: None,
        }
    }
}

/// A small, stable pseudo-random generator (SplitMix64): the bytes for a seed never change.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

/// `n` deterministic pseudo-random bytes for `seed`.
fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    SplitMix(seed).bytes(n)
}

/// A tar archive of the files (sorted by the given order, mode 0644, mtime 0, uid/gid 0), and its
/// gzip.
fn tar_gz(files: &[(String, Vec<u8>)]) -> (Vec<u8>, Vec<u8>) {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_ustar();
        header.set_path(path).expect("tar path");
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder
            .append(&header, content.as_slice())
            .expect("append to tar");
    }
    let tar = builder.into_inner().expect("finish tar");
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    let gz = gz.finish().expect("finish gzip");
    (tar, gz)
}

#[derive(Clone, Debug)]
enum LayerSpec {
    Random(usize),
    Files(Vec<(String, Vec<u8>)>),
    Generated { files: usize, size: usize },
}

/// Builds a [`TestImage`]. Defaults: OCI media types, `linux/amd64`, created
/// `2024-01-01T00:00:00Z`, and one generated tar+gzip layer when no layer is given.
#[derive(Clone, Debug)]
pub struct ImageBuilder {
    seed: u64,
    kind: MediaKind,
    platform: Platform,
    created: String,
    layers: Vec<LayerSpec>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

impl ImageBuilder {
    /// A builder whose generated content derives from `seed`.
    pub fn new(seed: u64) -> ImageBuilder {
        ImageBuilder {
            seed,
            kind: MediaKind::Oci,
            platform: Platform::new("linux", "amd64"),
            created: "2024-01-01T00:00:00Z".into(),
            layers: Vec::new(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }

    /// Uses Docker v2 media types.
    pub fn docker(self) -> ImageBuilder {
        self.kind(MediaKind::Docker)
    }

    /// Uses OCI media types (the default).
    pub fn oci(self) -> ImageBuilder {
        self.kind(MediaKind::Oci)
    }

    /// Sets the media type family.
    pub fn kind(mut self, kind: MediaKind) -> ImageBuilder {
        self.kind = kind;
        self
    }

    /// Sets os and architecture (and clears the variant).
    pub fn platform(mut self, os: &str, architecture: &str) -> ImageBuilder {
        self.platform = Platform::new(os, architecture);
        self
    }

    /// Sets the platform variant (e.g. `v8`).
    pub fn variant(mut self, variant: &str) -> ImageBuilder {
        self.platform.variant = Some(variant.into());
        self
    }

    /// Sets the config's `created` (RFC 3339).
    pub fn created(mut self, rfc3339: &str) -> ImageBuilder {
        self.created = rfc3339.into();
        self
    }

    /// Adds a config label.
    pub fn label(mut self, key: &str, value: &str) -> ImageBuilder {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Adds a manifest annotation (OCI manifests only; ignored for Docker).
    pub fn annotation(mut self, key: &str, value: &str) -> ImageBuilder {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Adds a layer of exactly `size` pseudo-random bytes (not a real tar+gzip; its diff_id is its
    /// own digest). Quick for large blobs.
    pub fn random_layer(mut self, size: usize) -> ImageBuilder {
        self.layers.push(LayerSpec::Random(size));
        self
    }

    /// Adds a real tar+gzip layer of these files.
    pub fn files_layer(mut self, files: &[(&str, &[u8])]) -> ImageBuilder {
        self.layers.push(LayerSpec::Files(
            files
                .iter()
                .map(|(p, c)| (p.to_string(), c.to_vec()))
                .collect(),
        ));
        self
    }

    /// Adds a real tar+gzip layer of `files` generated files of `size` bytes each.
    pub fn generated_layer(mut self, files: usize, size: usize) -> ImageBuilder {
        self.layers.push(LayerSpec::Generated { files, size });
        self
    }

    /// Builds the image.
    pub fn build(self) -> TestImage {
        let specs = if self.layers.is_empty() {
            vec![LayerSpec::Generated {
                files: 3,
                size: 256,
            }]
        } else {
            self.layers.clone()
        };
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let layer_seed = self
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add(i as u64)
                .wrapping_add(platform_salt(&self.platform));
            match spec {
                LayerSpec::Random(size) => {
                    let blob = Blob::new(self.kind.layer(), random_bytes(layer_seed, *size));
                    diff_ids.push(blob.digest.clone());
                    layers.push(blob);
                }
                LayerSpec::Files(files) => {
                    let (tar, gz) = tar_gz(files);
                    diff_ids.push(sha256_digest(&tar));
                    layers.push(Blob::new(self.kind.layer(), gz));
                }
                LayerSpec::Generated { files, size } => {
                    let files: Vec<(String, Vec<u8>)> = (0..*files)
                        .map(|f| {
                            (
                                format!("testkit/{}/file-{f}.bin", self.seed),
                                random_bytes(layer_seed.wrapping_add(f as u64 * 7919), *size),
                            )
                        })
                        .collect();
                    let (tar, gz) = tar_gz(&files);
                    diff_ids.push(sha256_digest(&tar));
                    layers.push(Blob::new(self.kind.layer(), gz));
                }
            }
        }
        let config = ConfigJson {
            created: &self.created,
            architecture: &self.platform.architecture,
            os: &self.platform.os,
            variant: self.platform.variant.as_deref(),
            config: RunConfig {
                labels: if self.labels.is_empty() {
                    None
                } else {
                    Some(&self.labels)
                },
                env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            },
            rootfs: RootFs {
                kind: "layers",
                diff_ids: &diff_ids,
            },
            history: specs
                .iter()
                .map(|_| History {
                    created: &self.created,
                    created_by: "acr-sync-testkit",
                })
                .collect(),
        };
        let config = Blob::new(
            self.kind.config(),
            serde_json::to_vec(&config).expect("config json"),
        );
        let annotations = match self.kind {
            MediaKind::Oci if !self.annotations.is_empty() => Some(self.annotations.clone()),
            _ => None,
        };
        let manifest = ManifestJson {
            schema_version: 2,
            media_type: self.kind.manifest(),
            config: Descriptor::of(&config),
            layers: layers.iter().map(Descriptor::of).collect(),
            annotations,
        };
        let manifest = Bytes::from(serde_json::to_vec(&manifest).expect("manifest json"));
        TestImage {
            digest: sha256_digest(&manifest),
            media_type: self.kind.manifest().into(),
            manifest,
            config,
            layers,
            platform: self.platform,
            created: self.created,
        }
    }
}

fn platform_salt(p: &Platform) -> u64 {
    let d = Sha256::digest(format!(
        "{}/{}/{}",
        p.os,
        p.architecture,
        p.variant.as_deref().unwrap_or("")
    ));
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

#[derive(Serialize)]
struct ConfigJson<'a> {
    created: &'a str,
    architecture: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    config: RunConfig<'a>,
    rootfs: RootFs<'a>,
    history: Vec<History<'a>>,
}

#[derive(Serialize)]
struct RunConfig<'a> {
    #[serde(rename = "Env")]
    env: Vec<&'a str>,
    #[serde(rename = "Labels", skip_serializing_if = "Option::is_none")]
    labels: Option<&'a BTreeMap<String, String>>,
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    diff_ids: &'a [String],
}

#[derive(Serialize)]
struct History<'a> {
    created: &'a str,
    created_by: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<Platform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

impl Descriptor {
    fn of(blob: &Blob) -> Descriptor {
        Descriptor {
            media_type: blob.media_type.clone(),
            digest: blob.digest.clone(),
            size: blob.size(),
            platform: None,
            annotations: None,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestJson {
    schema_version: u32,
    media_type: &'static str,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexJson {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<Descriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

/// A single-platform image: config, layers and manifest, with digests.
#[derive(Clone, Debug)]
pub struct TestImage {
    /// The manifest bytes, exactly as pushed.
    pub manifest: Bytes,
    /// Digest of `manifest`.
    pub digest: String,
    /// Manifest media type.
    pub media_type: String,
    /// The config blob.
    pub config: Blob,
    /// The layer blobs, in order.
    pub layers: Vec<Blob>,
    /// Platform (also in the config).
    pub platform: Platform,
    /// The config's `created`.
    pub created: String,
}

impl TestImage {
    /// Config first, then the layers.
    pub fn blobs(&self) -> Vec<&Blob> {
        std::iter::once(&self.config).chain(&self.layers).collect()
    }

    /// Manifest size in bytes.
    pub fn size(&self) -> u64 {
        self.manifest.len() as u64
    }

    /// Total size of the blobs (config and layers).
    pub fn blobs_size(&self) -> u64 {
        self.blobs().iter().map(|b| b.size()).sum()
    }
}

/// Builds a [`TestIndex`].
#[derive(Clone, Debug)]
pub struct IndexBuilder {
    kind: MediaKind,
    images: Vec<TestImage>,
    attestations: bool,
    annotations: BTreeMap<String, String>,
}

impl IndexBuilder {
    /// An empty index of this media type family.
    pub fn new(kind: MediaKind) -> IndexBuilder {
        IndexBuilder {
            kind,
            images: Vec::new(),
            attestations: false,
            annotations: BTreeMap::new(),
        }
    }

    /// Adds a platform image.
    pub fn image(mut self, image: TestImage) -> IndexBuilder {
        self.images.push(image);
        self
    }

    /// Adds one attestation manifest per platform image, after them (as BuildKit does): an OCI
    /// manifest whose index entry has platform `unknown/unknown` and the annotations
    /// `vnd.docker.reference.type: attestation-manifest` and `vnd.docker.reference.digest`.
    pub fn with_attestations(mut self) -> IndexBuilder {
        self.attestations = true;
        self
    }

    /// Adds an index annotation (OCI only).
    pub fn annotation(mut self, key: &str, value: &str) -> IndexBuilder {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Builds the index.
    pub fn build(self) -> TestIndex {
        let mut descriptors = Vec::new();
        for img in &self.images {
            descriptors.push(Descriptor {
                media_type: img.media_type.clone(),
                digest: img.digest.clone(),
                size: img.size(),
                platform: Some(img.platform.clone()),
                annotations: None,
            });
        }
        let mut attestations = Vec::new();
        if self.attestations {
            for img in &self.images {
                let att = attestation_for(img);
                let mut ann = BTreeMap::new();
                ann.insert(
                    "vnd.docker.reference.digest".to_string(),
                    img.digest.clone(),
                );
                ann.insert(
                    "vnd.docker.reference.type".to_string(),
                    ATTESTATION_REFERENCE_TYPE.to_string(),
                );
                descriptors.push(Descriptor {
                    media_type: att.media_type.clone(),
                    digest: att.digest.clone(),
                    size: att.size(),
                    platform: Some(Platform::new("unknown", "unknown")),
                    annotations: Some(ann),
                });
                attestations.push(att);
            }
        }
        let index = IndexJson {
            schema_version: 2,
            media_type: self.kind.index(),
            manifests: descriptors,
            annotations: match self.kind {
                MediaKind::Oci if !self.annotations.is_empty() => Some(self.annotations),
                _ => None,
            },
        };
        let manifest = Bytes::from(serde_json::to_vec(&index).expect("index json"));
        TestIndex {
            digest: sha256_digest(&manifest),
            media_type: self.kind.index().into(),
            manifest,
            images: self.images,
            attestations,
        }
    }
}

/// A BuildKit-style attestation manifest for `subject` (always OCI media types).
fn attestation_for(subject: &TestImage) -> TestImage {
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://spdx.dev/Document",
        "subject": [{"name": "testkit", "digest": {"sha256": subject.digest.trim_start_matches("sha256:")}}],
        "predicate": {"spdxVersion": "SPDX-2.3", "name": "acr-sync-testkit"},
    });
    let layer = Blob::new(
        MEDIA_IN_TOTO,
        serde_json::to_vec(&statement).expect("statement json"),
    );
    let config = ConfigJson {
        created: &subject.created,
        architecture: "unknown",
        os: "unknown",
        variant: None,
        config: RunConfig {
            env: Vec::new(),
            labels: None,
        },
        rootfs: RootFs {
            kind: "layers",
            diff_ids: std::slice::from_ref(&layer.digest),
        },
        history: Vec::new(),
    };
    let config = Blob::new(
        MEDIA_OCI_CONFIG,
        serde_json::to_vec(&config).expect("config json"),
    );
    let mut layer_desc = Descriptor::of(&layer);
    let mut ann = BTreeMap::new();
    ann.insert(
        "in-toto.io/predicate-type".to_string(),
        "https://spdx.dev/Document".to_string(),
    );
    layer_desc.annotations = Some(ann);
    let manifest = ManifestJson {
        schema_version: 2,
        media_type: MEDIA_OCI_MANIFEST,
        config: Descriptor::of(&config),
        layers: vec![layer_desc],
        annotations: None,
    };
    let manifest = Bytes::from(serde_json::to_vec(&manifest).expect("manifest json"));
    TestImage {
        digest: sha256_digest(&manifest),
        media_type: MEDIA_OCI_MANIFEST.into(),
        manifest,
        config,
        layers: vec![layer],
        platform: Platform::new("unknown", "unknown"),
        created: subject.created.clone(),
    }
}

/// A multi-platform index (or Docker manifest list), its platform images and attestation manifests.
#[derive(Clone, Debug)]
pub struct TestIndex {
    /// The index bytes, exactly as pushed.
    pub manifest: Bytes,
    /// Digest of `manifest`.
    pub digest: String,
    /// Index media type.
    pub media_type: String,
    /// Platform images, in index order.
    pub images: Vec<TestImage>,
    /// Attestation manifests, in index order (after the images).
    pub attestations: Vec<TestImage>,
}

impl TestIndex {
    /// A multi-arch index of `linux/amd64` and `linux/arm64/v8` images derived from `seed`, with
    /// attestation manifests when `attestations`.
    pub fn multi_arch(seed: u64, kind: MediaKind, attestations: bool) -> TestIndex {
        let mut b = IndexBuilder::new(kind)
            .image(
                ImageBuilder::new(seed)
                    .kind(kind)
                    .platform("linux", "amd64")
                    .build(),
            )
            .image(
                ImageBuilder::new(seed)
                    .kind(kind)
                    .platform("linux", "arm64")
                    .variant("v8")
                    .build(),
            );
        if attestations {
            b = b.with_attestations();
        }
        b.build()
    }

    /// Every child manifest in index order: images, then attestations.
    pub fn children(&self) -> Vec<&TestImage> {
        self.images.iter().chain(&self.attestations).collect()
    }

    /// The platform image for `os/architecture`.
    pub fn image_for(&self, os: &str, architecture: &str) -> Option<&TestImage> {
        self.images
            .iter()
            .find(|i| i.platform.os == os && i.platform.architecture == architecture)
    }

    /// Index size in bytes.
    pub fn size(&self) -> u64 {
        self.manifest.len() as u64
    }
}

/// RFC 3339 (UTC, seconds) for a Unix time.
pub(crate) fn rfc3339_from_unix(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_deterministic_and_seed_dependent() {
        let a = ImageBuilder::new(1).build();
        let b = ImageBuilder::new(1).build();
        let c = ImageBuilder::new(2).build();
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.manifest, b.manifest);
        assert_ne!(a.digest, c.digest);
        assert_eq!(a.digest, sha256_digest(&a.manifest));
    }

    #[test]
    fn config_has_required_fields() {
        let img = ImageBuilder::new(5)
            .docker()
            .platform("linux", "arm64")
            .random_layer(1000)
            .generated_layer(2, 10)
            .build();
        let v: serde_json::Value = serde_json::from_slice(&img.config.bytes).unwrap();
        assert_eq!(v["architecture"], "arm64");
        assert_eq!(v["os"], "linux");
        assert_eq!(v["created"], "2024-01-01T00:00:00Z");
        assert_eq!(v["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
        assert_eq!(img.layers[0].size(), 1000);
        assert_eq!(img.media_type, MEDIA_DOCKER_MANIFEST);
        let m: serde_json::Value = serde_json::from_slice(&img.manifest).unwrap();
        assert_eq!(m["config"]["mediaType"], MEDIA_DOCKER_CONFIG);
        assert_eq!(m["layers"][1]["mediaType"], MEDIA_DOCKER_LAYER_GZIP);
    }

    #[test]
    fn index_has_attestations() {
        let idx = TestIndex::multi_arch(3, MediaKind::Oci, true);
        let v: serde_json::Value = serde_json::from_slice(&idx.manifest).unwrap();
        let m = v["manifests"].as_array().unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[2]["platform"]["os"], "unknown");
        assert_eq!(
            m[2]["annotations"]["vnd.docker.reference.type"],
            ATTESTATION_REFERENCE_TYPE
        );
        assert_eq!(
            m[2]["annotations"]["vnd.docker.reference.digest"],
            idx.images[0].digest.as_str()
        );
        assert_ne!(idx.images[0].digest, idx.images[1].digest);
        assert_eq!(m[1]["platform"]["variant"], "v8");
    }

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_from_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_from_unix(1_704_067_200), "2024-01-01T00:00:00Z");
        assert_eq!(rfc3339_from_unix(1_709_210_096), "2024-02-29T12:34:56Z");
    }
}
