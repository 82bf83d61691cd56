//! Narrowing an index to a platform list.
//!
//! By default the engine copies an index whole, byte for byte, so the target digest is
//! the source digest. With a platform list it pushes only the matching children and a
//! *new* index listing them (plus the attestations that describe them): that index is
//! a different document with a different digest, which [`super::Copied::digest`]
//! reports. When the list selects every child, the original index is kept unchanged.

use std::collections::HashSet;

use acr_sync_registry::manifest::select_platform;
use acr_sync_registry::{Digest, Manifest, Platform};

use super::CopyErrorKind;

/// The annotation by which an attestation manifest names the image it describes.
const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";

/// The manifest to copy for `top`: itself, or with `platforms`, an index of the matching
/// children only. An image manifest is returned unchanged whatever the list says.
pub(super) fn select(
    top: Manifest,
    platforms: Option<&[Platform]>,
) -> Result<Manifest, CopyErrorKind> {
    let Some(platforms) = platforms.filter(|_| top.is_index()) else {
        return Ok(top);
    };
    let children = top.children()?;
    let mut keep: HashSet<Digest> = platforms
        .iter()
        .filter_map(|p| select_platform(&children, p))
        .map(|d| d.digest.clone())
        .collect();
    if keep.is_empty() {
        let wanted: Vec<String> = platforms.iter().map(ToString::to_string).collect();
        return Err(CopyErrorKind::NoPlatform(wanted.join(", ")));
    }
    let attestations: Vec<Digest> = children
        .iter()
        .filter(|c| c.is_attestation())
        .filter(|c| {
            c.annotations
                .get(REFERENCE_DIGEST)
                .and_then(|d| d.parse::<Digest>().ok())
                .is_some_and(|d| keep.contains(&d))
        })
        .map(|c| c.digest.clone())
        .collect();
    keep.extend(attestations);
    if children.iter().all(|c| keep.contains(&c.digest)) {
        return Ok(top);
    }
    filtered(&top, &keep)
}

/// `top` re-serialised with only the children in `keep`; every other field kept.
fn filtered(top: &Manifest, keep: &HashSet<Digest>) -> Result<Manifest, CopyErrorKind> {
    let invalid =
        |e: serde_json::Error| CopyErrorKind::Unsupported(format!("index {}: {e}", top.digest));
    let mut value: serde_json::Value = serde_json::from_slice(&top.bytes).map_err(invalid)?;
    if let Some(manifests) = value.get_mut("manifests").and_then(|m| m.as_array_mut()) {
        manifests.retain(|entry| {
            entry
                .get("digest")
                .and_then(|d| d.as_str())
                .and_then(|d| d.parse::<Digest>().ok())
                .is_some_and(|d| keep.contains(&d))
        });
    }
    let bytes = serde_json::to_vec(&value).map_err(invalid)?;
    Ok(Manifest::new(bytes.into(), top.media_type.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use acr_sync_registry::manifest::{OCI_INDEX, OCI_MANIFEST};

    fn d(n: u8) -> String {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
    }

    fn index() -> Manifest {
        let body = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": d(1), "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": OCI_MANIFEST, "digest": d(2), "size": 1, "platform": {"os": "linux", "architecture": "arm64"}},
                {"mediaType": OCI_MANIFEST, "digest": d(3), "size": 1, "platform": {"os": "unknown", "architecture": "unknown"},
                 "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": d(1)}},
            ]
        });
        Manifest::new(body.to_string().into(), OCI_INDEX)
    }

    fn digests(m: &Manifest) -> Vec<String> {
        m.children()
            .unwrap()
            .iter()
            .map(|c| c.digest.to_string())
            .collect()
    }

    #[test]
    fn all_platforms_keep_the_index_bytes() {
        let top = index();
        assert_eq!(select(top.clone(), None).unwrap(), top);
        let both = ["amd64".parse().unwrap(), "arm64".parse().unwrap()];
        assert_eq!(select(top.clone(), Some(&both)).unwrap(), top);
    }

    #[test]
    fn a_subset_is_a_new_index_with_its_attestations() {
        let top = index();
        let amd64 = ["amd64".parse().unwrap()];
        let narrowed = select(top.clone(), Some(&amd64)).unwrap();
        assert_ne!(narrowed.digest, top.digest);
        assert_eq!(digests(&narrowed), vec![d(1), d(3)]);
        let arm64 = ["linux/arm64".parse().unwrap()];
        assert_eq!(digests(&select(top, Some(&arm64)).unwrap()), vec![d(2)]);
    }

    #[test]
    fn no_match_is_an_error() {
        let s390x = ["s390x".parse().unwrap()];
        assert!(matches!(
            select(index(), Some(&s390x)),
            Err(CopyErrorKind::NoPlatform(_))
        ));
    }
}
