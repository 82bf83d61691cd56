//! Manifests as raw bytes with their media type and digest, and what can be read from
//! them: referenced blobs, an index's children, the child for a platform.
//!
//! Manifests are never re-serialised: the bytes that came from a registry are the bytes
//! pushed, so digests are preserved. Parsing for reading is lenient (unknown fields,
//! missing optional ones), since registries hold all sorts of content.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use chrono::{DateTime, Datelike, Utc};

use crate::digest::Digest;
use crate::error::{Error, ErrorKind};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The `Accept` header for manifest requests: all four types.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// What a HEAD of a manifest says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    /// The manifest's digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes, when the registry said.
    pub size: Option<u64>,
}

/// A manifest as a registry served it.
#[derive(Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The exact bytes; push these, never a re-serialisation.
    pub bytes: Bytes,
    /// The media type.
    pub media_type: String,
    /// The digest of `bytes` (verified).
    pub digest: Digest,
}

impl ManifestHead {
    /// Whether the manifest is an index (OCI index or Docker manifest list).
    pub fn is_index(&self) -> bool {
        is_index_type(&self.media_type)
    }
}

impl fmt::Debug for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manifest")
            .field("media_type", &self.media_type)
            .field("digest", &self.digest)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// A reference from a manifest to content: a blob, or an index's child manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// The content's media type.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// For an index's children: the platform, if given.
    pub platform: Option<Platform>,
    /// The descriptor's annotations.
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// Whether this index entry is a build attestation rather than an image
    /// (platform `unknown/unknown`, or docker's reference-type annotation).
    pub fn is_attestation(&self) -> bool {
        let unknown = self
            .platform
            .as_ref()
            .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown");
        unknown
            || self
                .annotations
                .get("vnd.docker.reference.type")
                .is_some_and(|t| t == "attestation-manifest")
    }
}

#[derive(serde::Deserialize)]
struct RawManifest {
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    manifests: Option<Vec<RawDescriptor>>,
}

#[derive(serde::Deserialize)]
struct RawDescriptor {
    #[serde(default, rename = "mediaType")]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    platform: Option<RawPlatform>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(serde::Deserialize)]
struct RawPlatform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    variant: Option<String>,
}

impl RawDescriptor {
    fn into_descriptor(self) -> Result<Descriptor, Error> {
        let digest = self
            .digest
            .parse::<Digest>()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Descriptor {
            media_type: self.media_type,
            digest,
            size: self.size,
            platform: self.platform.map(|p| Platform {
                os: p.os,
                architecture: p.architecture,
                variant: p.variant.filter(|v| !v.is_empty()),
            }),
            annotations: self.annotations.unwrap_or_default(),
        })
    }
}

/// The largest manifest read or parsed: the OCI distribution spec lets registries refuse
/// larger ones (4 MiB), so nothing valid is lost, and a hostile body costs bounded memory.
pub const MANIFEST_SIZE_LIMIT: usize = 4 * 1024 * 1024;

fn invalid(message: String) -> Error {
    let message = crate::redact::cap(&message, crate::redact::DEFAULT_CAP);
    Error::without_registry(ErrorKind::InvalidResponse(format!("manifest: {message}")))
}

/// The manifest's JSON as `T`, refusing bodies over [`MANIFEST_SIZE_LIMIT`].
fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.len() > MANIFEST_SIZE_LIMIT {
        return Err(invalid(format!(
            "{} bytes, over the limit of {MANIFEST_SIZE_LIMIT}",
            bytes.len()
        )));
    }
    serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))
}

impl Manifest {
    /// A manifest from bytes whose media type is known; computes the sha256 digest.
    pub fn new(bytes: Bytes, media_type: impl Into<String>) -> Manifest {
        let digest = Digest::sha256_of(&bytes);
        Manifest {
            bytes,
            media_type: media_type.into(),
            digest,
        }
    }

    /// Whether this is an index (OCI index or Docker manifest list).
    pub fn is_index(&self) -> bool {
        is_index_type(&self.media_type)
    }

    fn raw(&self) -> Result<RawManifest, Error> {
        parse(&self.bytes)
    }

    /// The manifest parsed as an OCI image manifest (Docker v2 manifests parse too).
    pub fn image(&self) -> Result<oci_spec::image::ImageManifest, Error> {
        parse(&self.bytes)
    }

    /// The manifest parsed as an OCI index (Docker manifest lists parse too).
    pub fn index(&self) -> Result<oci_spec::image::ImageIndex, Error> {
        parse(&self.bytes)
    }

    /// An image manifest's config descriptor.
    pub fn config(&self) -> Result<Descriptor, Error> {
        self.raw()?
            .config
            .ok_or_else(|| invalid("no config descriptor (is it an index?)".into()))?
            .into_descriptor()
    }

    /// The blobs an image manifest references: its config, then its layers in order.
    /// Empty for an index.
    pub fn blobs(&self) -> Result<Vec<Descriptor>, Error> {
        let raw = self.raw()?;
        let mut out = Vec::new();
        if let Some(config) = raw.config {
            out.push(config.into_descriptor()?);
        }
        for layer in raw.layers.unwrap_or_default() {
            out.push(layer.into_descriptor()?);
        }
        Ok(out)
    }

    /// An index's child manifests, attestations included. Empty for an image manifest.
    pub fn children(&self) -> Result<Vec<Descriptor>, Error> {
        self.raw()?
            .manifests
            .unwrap_or_default()
            .into_iter()
            .map(RawDescriptor::into_descriptor)
            .collect()
    }

    /// The child of an index for `platform` (see [`Platform`] for the matching rules);
    /// None when no child matches. An error for an image manifest.
    pub fn select_platform(&self, platform: &Platform) -> Result<Option<Descriptor>, Error> {
        if !self.is_index() {
            return Err(invalid(format!("{} is not an index", self.media_type)));
        }
        Ok(select_platform(&self.children()?, platform).cloned())
    }
}

/// Whether a media type is an index (OCI index or Docker manifest list).
pub fn is_index_type(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// The media type of a manifest response: the `Content-Type` when it is a specific one,
/// else the body's `mediaType`, else guessed from its shape.
pub(crate) fn detect_media_type(content_type: Option<&str>, bytes: &[u8]) -> String {
    let header = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    let generic = |c: &str| {
        matches!(
            c,
            "application/json" | "text/plain" | "application/octet-stream"
        )
    };
    if let Some(h) = &header {
        if !generic(h) {
            return h.clone();
        }
    }
    if let Ok(raw) = parse::<RawManifest>(bytes) {
        if let Some(m) = raw.media_type.filter(|m| !m.is_empty()) {
            return m;
        }
        if raw.manifests.is_some() {
            return OCI_INDEX.to_string();
        }
        if raw.config.is_some() {
            return OCI_MANIFEST.to_string();
        }
    }
    header.unwrap_or_else(|| OCI_MANIFEST.to_string())
}

/// A platform: os, architecture and an optional CPU variant, normalised as containerd
/// normalises them (`x86_64` is `amd64`, `aarch64` is `arm64`, `arm64/v8` is `arm64`,
/// `amd64/v1` is `amd64`, `arm` is `arm/v7`).
///
/// Matching an index follows containerd: the variant must be equal, except that for
/// `amd64` and `arm` a lower variant also runs (`amd64/v3` accepts `v2` and `v1`;
/// `arm/v7` accepts `v6` and `v5`), the highest one found winning.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    /// The operating system (`linux`).
    pub os: String,
    /// The architecture (`amd64`, `arm64`).
    pub architecture: String,
    /// The CPU variant (`v8`), if any.
    pub variant: Option<String>,
}

impl Default for Platform {
    fn default() -> Platform {
        Platform::linux("amd64")
    }
}

impl Platform {
    /// `linux/<architecture>`.
    pub fn linux(architecture: &str) -> Platform {
        Platform {
            os: "linux".to_string(),
            architecture: architecture.to_string(),
            variant: None,
        }
    }

    /// The normalised form (see the type's documentation).
    pub fn normalized(&self) -> Platform {
        let os = self.os.to_ascii_lowercase();
        let arch = self.architecture.to_ascii_lowercase();
        let variant = self.variant.as_ref().map(|v| v.to_ascii_lowercase());
        let (architecture, variant) = match (arch.as_str(), variant.as_deref()) {
            ("x86_64" | "x86-64" | "amd64", Some("v1")) | ("x86_64" | "x86-64", None) => {
                ("amd64".to_string(), None)
            }
            ("x86_64" | "x86-64", v) => ("amd64".to_string(), v.map(str::to_string)),
            ("aarch64" | "arm64", Some("v8") | None) => ("arm64".to_string(), None),
            ("aarch64", v) => ("arm64".to_string(), v.map(str::to_string)),
            ("armhf", _) => ("arm".to_string(), Some("v7".to_string())),
            ("armel", _) => ("arm".to_string(), Some("v6".to_string())),
            ("arm", None) => ("arm".to_string(), Some("v7".to_string())),
            ("i386", _) => ("386".to_string(), None),
            (a, v) => (a.to_string(), v.map(str::to_string)),
        };
        Platform {
            os,
            architecture,
            variant,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = Error;

    /// `amd64` (linux implied), `linux/arm64`, `linux/arm/v7`.
    fn from_str(s: &str) -> Result<Platform, Error> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            Error::without_registry(ErrorKind::Config(format!(
                "invalid platform {s:?} (expected ARCH, OS/ARCH or OS/ARCH/VARIANT)"
            )))
        };
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let platform = match parts.as_slice() {
            [arch] => Platform::linux(arch),
            [os, arch] => Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            },
            [os, arch, variant] => Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(variant.to_string()),
            },
            _ => return Err(bad()),
        };
        Ok(platform)
    }
}

/// The numeric level of a variant for architectures where lower levels are compatible.
fn variant_level(arch: &str, variant: Option<&str>) -> Option<u32> {
    match arch {
        "amd64" => match variant {
            None => Some(1),
            Some(v) => v.strip_prefix('v')?.parse().ok(),
        },
        "arm" => variant?.strip_prefix('v')?.parse().ok(),
        _ => None,
    }
}

/// How well `candidate` serves `wanted` (both normalised): None when it cannot run.
fn match_rank(wanted: &Platform, candidate: &Platform) -> Option<u32> {
    if wanted.os != candidate.os || wanted.architecture != candidate.architecture {
        return None;
    }
    if wanted.variant == candidate.variant {
        return Some(u32::MAX);
    }
    let arch = wanted.architecture.as_str();
    let want = variant_level(arch, wanted.variant.as_deref())?;
    let have = variant_level(arch, candidate.variant.as_deref())?;
    (have <= want).then_some(have)
}

/// The index entry for `wanted`: attestations skipped, best variant first, and the
/// first entry in index order among equals.
pub fn select_platform<'a>(
    manifests: &'a [Descriptor],
    wanted: &Platform,
) -> Option<&'a Descriptor> {
    let wanted = wanted.normalized();
    let mut best: Option<(u32, &Descriptor)> = None;
    for d in manifests.iter().filter(|d| !d.is_attestation()) {
        let Some(p) = &d.platform else { continue };
        let Some(rank) = match_rank(&wanted, &p.normalized()) else {
            continue;
        };
        if best.is_none_or(|(r, _)| rank > r) {
            best = Some((rank, d));
        }
    }
    best.map(|(_, d)| d)
}

/// Keeps a date only when it is a real one: 1970 and before mean "not recorded"
/// (reproducible builds set epoch 0, some tools write year 1).
pub(crate) fn known_date(date: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (date.year() > 1970).then_some(date)
}

/// The `created` date of an image config blob; None when missing, unparsable or 1970.
pub fn config_created(config: &[u8]) -> Option<DateTime<Utc>> {
    let value: serde_json::Value = serde_json::from_slice(config).ok()?;
    let text = value.get("created")?.as_str()?;
    let date = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    known_date(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> String {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
    }

    fn index(entries: &[(&str, &str, Option<&str>, Option<&str>)]) -> Manifest {
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .enumerate()
            .map(|(i, (os, arch, variant, annotation))| {
                let mut platform = serde_json::json!({"os": os, "architecture": arch});
                if let Some(v) = variant {
                    platform["variant"] = serde_json::json!(v);
                }
                let mut e = serde_json::json!({
                    "mediaType": OCI_MANIFEST, "digest": d(i as u8), "size": 100, "platform": platform
                });
                if let Some(a) = annotation {
                    e["annotations"] = serde_json::json!({"vnd.docker.reference.type": a});
                }
                e
            })
            .collect();
        let body =
            serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        Manifest::new(Bytes::from(body.to_string()), OCI_INDEX)
    }

    fn pick(m: &Manifest, p: &str) -> Option<String> {
        m.select_platform(&p.parse().unwrap())
            .unwrap()
            .map(|d| d.digest.to_string())
    }

    #[test]
    fn skips_attestations() {
        let m = index(&[
            ("unknown", "unknown", None, None),
            ("linux", "amd64", None, Some("attestation-manifest")),
            ("linux", "amd64", None, None),
            ("linux", "arm64", Some("v8"), None),
        ]);
        assert_eq!(pick(&m, "amd64"), Some(d(2)));
        assert_eq!(pick(&m, "linux/arm64"), Some(d(3)));
        assert_eq!(pick(&m, "linux/aarch64/v8"), Some(d(3)));
        assert_eq!(pick(&m, "linux/s390x"), None);
        assert_eq!(
            m.children()
                .unwrap()
                .iter()
                .filter(|c| c.is_attestation())
                .count(),
            2
        );
    }

    #[test]
    fn amd64_and_arm_variants_fall_back_to_lower_levels() {
        let m = index(&[
            ("linux", "amd64", Some("v3"), None),
            ("linux", "amd64", None, None),
            ("linux", "arm", Some("v6"), None),
            ("linux", "arm", Some("v7"), None),
        ]);
        // Plain amd64 is v1: the v3 build must not be chosen.
        assert_eq!(pick(&m, "linux/amd64"), Some(d(1)));
        assert_eq!(pick(&m, "linux/amd64/v3"), Some(d(0)));
        assert_eq!(pick(&m, "linux/amd64/v2"), Some(d(1)));
        assert_eq!(pick(&m, "linux/arm"), Some(d(3)));
        assert_eq!(pick(&m, "linux/arm/v6"), Some(d(2)));
        assert_eq!(pick(&m, "linux/arm/v5"), None);
        let only_v1 = index(&[("linux", "amd64", Some("v1"), None)]);
        assert_eq!(pick(&only_v1, "amd64"), Some(d(0)));
        let only_v2 = index(&[("linux", "amd64", Some("v2"), None)]);
        assert_eq!(pick(&only_v2, "amd64"), None);
    }

    #[test]
    fn selecting_on_an_image_manifest_is_an_error() {
        let m = Manifest::new(Bytes::from_static(b"{}"), OCI_MANIFEST);
        assert!(m.select_platform(&Platform::default()).is_err());
    }

    #[test]
    fn created_dates() {
        let c = |s: &str| config_created(s.as_bytes());
        assert_eq!(
            c(r#"{"created":"2024-05-01T10:00:00.123456789Z"}"#)
                .unwrap()
                .to_rfc3339(),
            "2024-05-01T10:00:00.123456789+00:00"
        );
        assert!(c(r#"{"created":"2024-05-01T12:00:00+02:00"}"#).is_some());
        assert_eq!(c(r#"{"created":"1970-01-01T00:00:00Z"}"#), None);
        assert_eq!(c(r#"{"created":"1970-12-31T23:59:59Z"}"#), None);
        assert_eq!(c(r#"{"created":"0001-01-01T00:00:00Z"}"#), None);
        assert_eq!(c(r#"{"created":"yesterday"}"#), None);
        assert_eq!(c(r#"{"created":12}"#), None);
        assert_eq!(c(r#"{"architecture":"amd64"}"#), None);
        assert_eq!(c("not json"), None);
    }

    #[test]
    fn media_type_detection() {
        assert_eq!(
            detect_media_type(Some(DOCKER_MANIFEST), b"{}"),
            DOCKER_MANIFEST
        );
        assert_eq!(
            detect_media_type(
                Some("application/json; charset=utf-8"),
                br#"{"mediaType":"x/y"}"#
            ),
            "x/y"
        );
        assert_eq!(detect_media_type(None, br#"{"manifests":[]}"#), OCI_INDEX);
        assert_eq!(
            detect_media_type(None, br#"{"config":{"digest":"x"},"layers":[]}"#),
            OCI_MANIFEST
        );
    }

    #[test]
    fn docker_v2_manifests_read_like_oci_ones() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}",
            "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":7,"digest":"{}"}},
            "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":9,"digest":"{}"}}]}}"#,
            d(1),
            d(2)
        );
        let m = Manifest::new(Bytes::from(body), DOCKER_MANIFEST);
        assert!(!m.is_index());
        let blobs = m.blobs().unwrap();
        assert_eq!(blobs.len(), 2);
        assert_eq!(blobs[0].digest.to_string(), d(1));
        assert_eq!(m.config().unwrap().size, 7);
        assert_eq!(m.image().unwrap().layers().len(), 1);
    }

    #[test]
    fn platform_parsing() {
        assert_eq!(
            "amd64".parse::<Platform>().unwrap(),
            Platform::linux("amd64")
        );
        assert_eq!(
            "linux/arm/v7".parse::<Platform>().unwrap().to_string(),
            "linux/arm/v7"
        );
        assert!("a/b/c/d".parse::<Platform>().is_err());
        assert!("linux/".parse::<Platform>().is_err());
    }
}
