//! Following `${ref}-latest` to the stable `${ref}-<hash>` tag of the same build.
//!
//! The build is identified by the digest of the configured architecture's image: a
//! sibling matches when its digest equals `-latest`'s (the same index or manifest), or
//! equals the architecture's child of `-latest`'s index. Google's registries list every
//! tag's digest in one tags/list response; elsewhere candidates are HEADed, several at
//! once, the most recent-looking first, stopping at the first match.

use acr_sync_registry::manifest::{ManifestHead, Platform};
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
    if let Some(latest_digest) = list.digest_of(latest_tag) {
        // Google's registries: every digest is known already; compare without requests.
        let info = list.digests.as_ref().and_then(|m| m.get(latest_digest));
        let created = info.and_then(|i| i.created);
        let same = |d: &Digest| candidates.iter().find(|t| list.digest_of(t) == Some(d));
        if let Some(tag) = same(latest_digest) {
            return Ok(found(latest, tag, latest_digest.clone(), created));
        }
        let arch = build.arch_digest(latest_digest).await?;
        if let Some(tag) = same(&arch) {
            return Ok(found(latest, tag, arch, created));
        }
        return Err(build.no_sibling(latest_digest.clone(), git_ref, candidates.len(), 0));
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
                && head.digest == build.arch_digest(&latest.digest).await?);
        if same_build {
            return Ok(Found {
                reference,
                digest: head.digest,
                created: None,
            });
        }
    }
    Err(build.no_sibling(latest.digest.clone(), git_ref, candidates.len(), failures))
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
    async fn arch_digest(&self, latest_digest: &Digest) -> Result<Digest, CodeCollectionError> {
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
