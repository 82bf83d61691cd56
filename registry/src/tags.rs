//! Tag lists: pagination through `Link` headers and Google's per-digest `manifest` map.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::digest::Digest;

/// The tags of a repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagList {
    /// Every tag, in the order the registry listed them.
    pub tags: Vec<String>,
    /// Google Artifact Registry and GCR also say which digest each tag points to;
    /// other registries leave this None.
    pub digests: Option<BTreeMap<Digest, TagInfo>>,
}

impl TagList {
    /// The digest a tag points to, when the registry said (Google registries).
    pub fn digest_of(&self, tag: &str) -> Option<&Digest> {
        self.digests
            .as_ref()?
            .iter()
            .find(|(_, info)| info.tags.iter().any(|t| t == tag))
            .map(|(d, _)| d)
    }
}

/// What Google's registries say about one manifest in a tag list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagInfo {
    /// The tags that point to the manifest.
    pub tags: Vec<String>,
    /// Its media type.
    pub media_type: Option<String>,
    /// When the image was created, as the registry read it (None when unknown or 1970).
    pub created: Option<DateTime<Utc>>,
    /// When it was uploaded.
    pub uploaded: Option<DateTime<Utc>>,
    /// Its size in bytes.
    pub image_size: Option<u64>,
}

/// One page of `GET /v2/<name>/tags/list`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TagPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    manifest: Option<BTreeMap<String, RawTagInfo>>,
}

#[derive(Debug, serde::Deserialize)]
struct RawTagInfo {
    #[serde(default)]
    tag: Vec<String>,
    #[serde(default, rename = "mediaType")]
    media_type: Option<String>,
    #[serde(default, rename = "timeCreatedMs")]
    time_created_ms: Option<serde_json::Value>,
    #[serde(default, rename = "timeUploadedMs")]
    time_uploaded_ms: Option<serde_json::Value>,
    #[serde(default, rename = "imageSizeBytes")]
    image_size_bytes: Option<serde_json::Value>,
}

impl TagList {
    /// Adds a page; entries whose digest does not parse are skipped.
    pub(crate) fn extend(&mut self, page: TagPage) {
        self.tags.extend(page.tags.unwrap_or_default());
        let Some(manifest) = page.manifest else {
            return;
        };
        let digests = self.digests.get_or_insert_with(BTreeMap::new);
        for (key, raw) in manifest {
            let Ok(digest) = key.parse::<Digest>() else {
                continue;
            };
            let info = TagInfo {
                tags: raw.tag,
                media_type: raw.media_type.filter(|m| !m.is_empty()),
                created: raw.time_created_ms.as_ref().and_then(millis),
                uploaded: raw.time_uploaded_ms.as_ref().and_then(millis),
                image_size: raw.image_size_bytes.as_ref().and_then(number),
            };
            let entry = digests.entry(digest).or_default();
            entry.tags.extend(info.tags);
            entry.media_type = entry.media_type.take().or(info.media_type);
            entry.created = entry.created.or(info.created);
            entry.uploaded = entry.uploaded.or(info.uploaded);
            entry.image_size = entry.image_size.or(info.image_size);
        }
    }
}

/// A number that Google sends as a string (`"1700000000000"`), or as a number.
fn number(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn millis(v: &serde_json::Value) -> Option<DateTime<Utc>> {
    let ms = i64::try_from(number(v)?).ok()?;
    crate::manifest::known_date(DateTime::from_timestamp_millis(ms)?)
}

/// The `rel="next"` target of `Link` headers (every value, in order), as written
/// (relative or absolute). A target without angle brackets (`/v2/..?n=1; rel=next`, as
/// some registries write it) runs to the first `;`.
pub(crate) fn next_link<'a>(headers: impl IntoIterator<Item = &'a str>) -> Option<String> {
    headers.into_iter().find_map(next_link_in)
}

fn next_link_in(header: &str) -> Option<String> {
    for link in split_links(header) {
        let link = link.trim();
        let (target, params) = match link.strip_prefix('<') {
            Some(rest) => match rest.split_once('>') {
                Some(parts) => parts,
                None => continue,
            },
            None => match link.split_once(';') {
                Some((target, params)) if !target.trim().is_empty() => (target, params),
                _ => continue,
            },
        };
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(target.trim().to_string());
        }
    }
    None
}

/// Splits a `Link` header at the commas between links (not those inside `<...>`).
fn split_links(header: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth_angle = false;
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in header.char_indices() {
        match c {
            '<' if !quoted => depth_angle = true,
            '>' if !quoted => depth_angle = false,
            '"' if !depth_angle => quoted = !quoted,
            ',' if !depth_angle && !quoted => {
                out.push(&header[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&header[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next_link(header: &str) -> Option<String> {
        super::next_link([header])
    }

    #[test]
    fn link_targets_without_brackets_and_in_several_headers() {
        assert_eq!(
            next_link(r#"/v2/a/tags/list?last=x&n=2; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=x&n=2")
        );
        assert_eq!(next_link("/v2/a/tags/list; rel=prev"), None);
        assert_eq!(next_link("; rel=next"), None);
        assert_eq!(
            super::next_link([r#"</first>; rel="prev""#, r#"</second>; rel="next""#]).as_deref(),
            Some("/second")
        );
        assert_eq!(super::next_link(Vec::<&str>::new()), None);
    }

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=x&n=2>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=x&n=2")
        );
        assert_eq!(
            next_link(r#"<https://r.example/v2/a/tags/list?n=1,2>; rel=next"#).as_deref(),
            Some("https://r.example/v2/a/tags/list?n=1,2")
        );
        assert_eq!(
            next_link(r#"</prev>; rel="prev", </next>; rel="next""#).as_deref(),
            Some("/next")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
        assert_eq!(next_link(""), None);
    }

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn google_manifest_map() {
        let page: TagPage = serde_json::from_str(&format!(
            r#"{{"child":[],"name":"p/img","tags":["main-latest","main-abc1234","old"],
            "manifest":{{
              "{D1}":{{"imageSizeBytes":"1234","layerId":"","mediaType":"application/vnd.oci.image.index.v1+json",
                 "tag":["main-latest","main-abc1234"],"timeCreatedMs":"1700000000000","timeUploadedMs":"1700000100000"}},
              "sha256:2222222222222222222222222222222222222222222222222222222222222222":{{"tag":["old"],"timeCreatedMs":"0"}},
              "not-a-digest":{{"tag":["x"]}}
            }}}}"#
        ))
        .unwrap();
        let mut list = TagList::default();
        list.extend(page);
        assert_eq!(list.tags.len(), 3);
        let digests = list.digests.as_ref().unwrap();
        assert_eq!(digests.len(), 2);
        let info = &digests[&D1.parse::<Digest>().unwrap()];
        assert_eq!(info.tags, ["main-latest", "main-abc1234"]);
        assert_eq!(info.image_size, Some(1234));
        assert_eq!(info.created.unwrap().timestamp(), 1_700_000_000);
        assert_eq!(info.uploaded.unwrap().timestamp(), 1_700_000_100);
        assert_eq!(list.digest_of("main-latest").unwrap().to_string(), D1);
        let old = list.digest_of("old").unwrap();
        assert_eq!(digests[old].created, None, "epoch 0 is unknown");
        assert!(list.digest_of("x").is_none());
    }

    #[test]
    fn plain_pages_have_no_digest_map() {
        let mut list = TagList::default();
        list.extend(serde_json::from_str(r#"{"name":"a","tags":["1"]}"#).unwrap());
        list.extend(serde_json::from_str(r#"{"name":"a","tags":null}"#).unwrap());
        assert_eq!(list.tags, ["1"]);
        assert!(list.digests.is_none());
    }
}
