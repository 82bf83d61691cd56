//! Following `${ref}-latest` to the stable `${ref}-<hash>` tag of the same build.
//!
//! The build is identified by the digest of the configured architecture's image: a
//! sibling matches when its digest equals `-latest`'s (the same index or manifest), or
//! equals the architecture's child of `-latest`'s index. Google's registries list every
//! tag's digest in one tags/list response; elsewhere candidates are HEADed, several at
//! once, the most recent-looking first, stopping at the first match.

use std::collections::{BTreeMap, HashMap};

use acr_sync_registry::TagInfo;
use acr_sync_registry::manifest::{ManifestHead, Platform, is_index_type};
use acr_sync_registry::{Client, Digest, ErrorKind, Reference};
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use tokio::sync::OnceCell;

use super::HEADS_AT_ONCE;
use super::tags::SiblingRule;

/// The stable tag found for a code collection.
#[derive(Debug, Clone)]
pub struct Found {
    /// The repository at the stable tag.
    pub reference: Reference,
    /// The stable tag's manifest digest.
    pub digest: Digest,
    /// Its creation date, when the tag list gave it.
    pub created: Option<DateTime<Utc>>,
}

/// Why no stable tag was found.
#[derive(Debug, thiserror::Error)]
pub enum CodeCollectionError {
    /// The branch has no `-latest` tag.
    #[error(
        "{reference}: no such tag upstream; check that REF (codecollections.ref) names a branch that is published"
    )]
    NoLatest {
        /// The `-latest` reference.
        reference: String,
    },
    /// No candidate tag has the build's digest.
    #[error("{reference} ({digest}): {detail}")]
    NoSibling {
        /// The `-latest` reference.
        reference: String,
        /// Its digest.
        digest: Digest,
        /// How many candidates there were, and how many could not be read.
        detail: String,
    },
    /// `-latest` is an index without the configured architecture.
    #[error("{reference}: the index has no {architecture} image (check IMAGE_ARCHITECTURE)")]
    NoPlatform {
        /// The `-latest` reference.
        reference: String,
        /// The architecture asked for.
        architecture: String,
    },
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] acr_sync_registry::Error),
}

/// Finds the stable sibling of `latest` (`<repo>:<git_ref>-latest`).
pub async fn resolve_codecollection(
    client: &Client,
    latest: &Reference,
    git_ref: &str,
    architecture: &str,
) -> Result<Found, CodeCollectionError> {
    let list = client
        .list_tags(latest.registry(), latest.repository())
        .await?;
    let latest_tag = latest.tag().unwrap_or_default();
    if !list.tags.iter().any(|t| t == latest_tag) {
        return Err(CodeCollectionError::NoLatest {
            reference: latest.to_string(),
        });
    }
    let candidates = SiblingRule::new(git_ref).candidates(&list.tags);
    let build = Build::new(client, latest, architecture);
    if let Some(digests) = &list.digests {
        return by_digest_map(&build, digests, latest_tag, git_ref, &candidates).await;
    }
    let head =
        client
            .head_manifest(latest)
            .await?
            .ok_or_else(|| CodeCollectionError::NoLatest {
                reference: latest.to_string(),
            })?;
    by_head(client, &build, &head, git_ref, &candidates).await
}

/// Google's registries: every tag's digest is known already, so comparing costs nothing;
/// only `-latest`'s index, and as a last resort the candidate indexes, are read.
async fn by_digest_map(
    build: &Build<'_>,
    digests: &BTreeMap<Digest, TagInfo>,
    latest_tag: &str,
    git_ref: &str,
    candidates: &[&str],
) -> Result<Found, CodeCollectionError> {
    let by_tag: HashMap<&str, (&Digest, &TagInfo)> = digests
        .iter()
        .flat_map(|(d, info)| info.tags.iter().map(move |t| (t.as_str(), (d, info))))
        .collect();
    let Some(&(latest_digest, info)) = by_tag.get(latest_tag) else {
        return Err(CodeCollectionError::NoLatest {
            reference: build.latest.to_string(),
        });
    };
    let created = info.created;
    let latest_is_index = info.media_type.as_deref().is_none_or(is_index_type);
    let same = |d: &Digest| {
        candidates
            .iter()
            .find(|t| by_tag.get(**t).map(|x| x.0) == Some(d))
    };
    if let Some(tag) = same(latest_digest) {
        return Ok(found(build.latest, tag, latest_digest.clone(), created));
    }
    let arch = build.arch_digest(latest_digest, latest_is_index).await?;
    if let Some(tag) = same(&arch) {
        return Ok(found(build.latest, tag, arch, created));
    }
    let indexes: Vec<Reference> = candidates
        .iter()
        .filter(|t| {
            by_tag
                .get(**t)
                .is_some_and(|(_, i)| i.media_type.as_deref().is_none_or(is_index_type))
        })
        .map(|t| build.latest.with_tag(t).expect("candidates are valid tags"))
        .collect();
    match by_children(build, &arch, indexes).await? {
        Some(found) => Ok(Found { created, ..found }),
        None => Err(build.no_sibling(latest_digest.clone(), git_ref, candidates.len(), 0)),
    }
}

/// The last resort: a sibling that is another index (a rebuild of the same image) whose
/// child for the architecture is the build's. Costs a GET per index candidate, and runs
/// only when no candidate matched by digest.
async fn by_children(
    build: &Build<'_>,
    arch: &Digest,
    indexes: Vec<Reference>,
) -> Result<Option<Found>, CodeCollectionError> {
    let platform = Platform::linux(build.architecture);
    let mut reads = stream::iter(indexes)
        .map(|reference| async move {
            let manifest = build.client.get_manifest(&reference).await;
            (reference, manifest)
        })
        .buffered(HEADS_AT_ONCE);
    while let Some((reference, manifest)) = reads.next().await {
        let manifest = match manifest {
            Ok(m) => m,
            Err(e) if stops_the_search(&e) => return Err(e.into()),
            Err(e) => {
                tracing::debug!("skipping candidate {reference}: {e}");
                continue;
            }
        };
        let child = manifest.select_platform(&platform)?;
        if child.is_some_and(|c| c.digest == *arch) {
            return Ok(Some(Found {
                reference,
                digest: manifest.digest,
                created: None,
            }));
        }
    }
    Ok(None)
}

async fn by_head(
    client: &Client,
    build: &Build<'_>,
    latest: &ManifestHead,
    git_ref: &str,
    candidates: &[&str],
) -> Result<Found, CodeCollectionError> {
    let mut heads = stream::iter(candidates)
        .map(|tag| async move {
            let reference = build
                .latest
                .with_tag(tag)
                .expect("candidates are valid tags");
            (reference.clone(), client.head_manifest(&reference).await)
        })
        .buffered(HEADS_AT_ONCE);
    let mut failures = 0;
    let mut indexes = Vec::new();
    while let Some((reference, head)) = heads.next().await {
        let head = match head {
            Ok(Some(head)) => head,
            Ok(None) => continue,
            // Every other candidate would meet the same refusal: stop rather than spend
            // the retry budget once per tag.
            Err(e) if stops_the_search(&e) => return Err(e.into()),
            Err(e) => {
                tracing::debug!("skipping candidate {reference}: {e}");
                failures += 1;
                continue;
            }
        };
        // An equal digest settles it; children of `-latest` are read only when a
        // single-platform candidate has to be compared with an index.
        let same_build = head.digest == latest.digest
            || (latest.is_index()
                && !head.is_index()
                && head.digest == build.arch_digest(&latest.digest, true).await?);
        if same_build {
            return Ok(Found {
                reference,
                digest: head.digest,
                created: None,
            });
        }
        if head.is_index() {
            indexes.push(reference);
        }
    }
    let arch = build.arch_digest(&latest.digest, latest.is_index()).await?;
    match by_children(build, &arch, indexes).await? {
        Some(found) => Ok(found),
        None => Err(build.no_sibling(latest.digest.clone(), git_ref, candidates.len(), failures)),
    }
}

fn stops_the_search(e: &acr_sync_registry::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Unauthorized { .. }
            | ErrorKind::Forbidden { .. }
            | ErrorKind::RateLimited { .. }
    )
}

fn found(latest: &Reference, tag: &str, digest: Digest, created: Option<DateTime<Utc>>) -> Found {
    Found {
        reference: latest.with_tag(tag).expect("candidates are valid tags"),
        digest,
        created,
    }
}

/// The `-latest` build, whose architecture digest is read at most once, and only when a
/// comparison needs it.
struct Build<'a> {
    client: &'a Client,
    latest: &'a Reference,
    architecture: &'a str,
    arch: OnceCell<Digest>,
}

impl<'a> Build<'a> {
    fn new(client: &'a Client, latest: &'a Reference, architecture: &'a str) -> Build<'a> {
        Build {
            client,
            latest,
            architecture,
            arch: OnceCell::new(),
        }
    }

    /// The digest of the architecture's image: `-latest`'s own digest when it is a single
    /// manifest, its child's when it is an index.
    async fn arch_digest(
        &self,
        latest_digest: &Digest,
        latest_is_index: bool,
    ) -> Result<Digest, CodeCollectionError> {
        if !latest_is_index {
            return Ok(latest_digest.clone());
        }
        let digest = self
            .arch
            .get_or_try_init(|| async {
                let pinned = self.latest.with_digest(latest_digest.clone());
                let manifest = self.client.get_manifest(&pinned).await?;
                if !manifest.is_index() {
                    return Ok(manifest.digest);
                }
                let platform = Platform::linux(self.architecture);
                match manifest.select_platform(&platform)? {
                    Some(child) => Ok(child.digest),
                    None => Err(CodeCollectionError::NoPlatform {
                        reference: self.latest.to_string(),
                        architecture: self.architecture.to_string(),
                    }),
                }
            })
            .await?;
        Ok(digest.clone())
    }

    fn no_sibling(
        &self,
        digest: Digest,
        git_ref: &str,
        candidates: usize,
        failures: usize,
    ) -> CodeCollectionError {
        let unread = match failures {
            0 => String::new(),
            n => format!("; {n} of them could not be read (run with -v for details)"),
        };
        CodeCollectionError::NoSibling {
            reference: self.latest.to_string(),
            digest,
            detail: format!(
                "none of the {candidates} `{git_ref}-<hash>` tags has this build's digest{unread}"
            ),
        }
    }
}
