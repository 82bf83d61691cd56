//! Resolving sources to upstream tags and digests, and where each goes in the target.
//!
//! Every request here is a HEAD or a tag list wherever a digest suffices, so that a check
//! spends no Docker Hub pulls.

mod codecollection;
pub mod tags;

use acr_sync_registry::{Client, Digest, Reference};
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};

use crate::config::TagRule;
use crate::plan::{Category, TargetImage};
use crate::source::{Source, SourceKind};

pub use codecollection::{CodeCollectionError, resolve_codecollection};

/// HEAD requests sent at once for one repository.
const HEADS_AT_ONCE: usize = 8;

/// An upstream image with its tag and digest chosen, and its place in the target.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The kind of source.
    pub category: Category,
    /// The configured name.
    pub slug: String,
    /// The upstream image at the chosen tag.
    pub source: Reference,
    /// The digest of the manifest under that tag (an index for multi-arch images).
    pub digest: Digest,
    /// Where it goes.
    pub target: TargetImage,
    /// True when the target tag is a date tag: the image is present when its digest is
    /// under any tag of the target repository.
    pub date_tagged: bool,
    /// The upstream creation date, when the registry told us for free (Google's tag list).
    pub created: Option<DateTime<Utc>>,
}

/// What resolving one upstream image came to: data for the plan either way.
#[derive(Debug)]
pub enum Resolution {
    /// Tag and digest chosen.
    Found(Resolved),
    /// It could not be resolved; reported, never dropped.
    Failed(Unresolved),
}

/// A source that could not be resolved; `source` is the best reference known.
#[derive(Debug)]
pub struct Unresolved {
    /// The kind of source.
    pub category: Category,
    /// The configured name.
    pub slug: String,
    /// The upstream reference as far as it is known (`repo:main-latest`).
    pub source: Reference,
    /// What went wrong.
    pub error: String,
}

/// How resolved images are placed in the target.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Prefix of every target repository.
    pub repository_path: String,
    /// The date tag of this run, when `latest` images go under date tags.
    pub date_tag: Option<String>,
}

impl Placement {
    /// `<repository_path>/<last segment>`, with the same tag or this run's date tag.
    pub fn place(&self, source: &Reference) -> (TargetImage, bool) {
        let repository = match self.repository_path.as_str() {
            "" => source.name().to_string(),
            path => format!("{path}/{}", source.name()),
        };
        let tag = source.tag().unwrap_or("latest");
        match (&self.date_tag, tag) {
            (Some(date), "latest") => (
                TargetImage {
                    repository,
                    tag: date.clone(),
                },
                true,
            ),
            _ => (
                TargetImage {
                    repository,
                    tag: tag.to_string(),
                },
                false,
            ),
        }
    }
}

/// The date tag for a run starting at `now`: `%Y%m%d%H%M%S` in UTC.
pub fn date_tag(now: DateTime<Utc>) -> String {
    now.format("%Y%m%d%H%M%S").to_string()
}

/// An upstream image found for a source, or the reference that failed and why.
type Pick = Result<(Reference, Digest, Option<DateTime<Utc>>), (Reference, String)>;

/// Resolves one source to its images (several for a rule with `latest: N`); each image
/// succeeds or fails on its own.
pub async fn resolve(client: &Client, source: &Source, placement: &Placement) -> Vec<Resolution> {
    let picks: Vec<Pick> = match &source.kind {
        SourceKind::CodeCollection {
            latest,
            git_ref,
            architecture,
        } => {
            vec![
                resolve_codecollection(client, latest, git_ref, architecture)
                    .await
                    .map(|found| (found.reference, found.digest, found.created))
                    .map_err(|e| (latest.clone(), e.to_string())),
            ]
        }
        SourceKind::Exact(reference) => vec![
            head(client, reference)
                .await
                .map(|digest| (reference.clone(), digest, None))
                .map_err(|e| (reference.clone(), e)),
        ],
        SourceKind::Rule { repository, rule } => resolve_rule(client, repository, rule).await,
    };
    picks
        .into_iter()
        .map(|pick| match pick {
            Ok((reference, digest, created)) => {
                let (target, date_tagged) = placement.place(&reference);
                Resolution::Found(Resolved {
                    category: source.category,
                    slug: source.slug.clone(),
                    source: reference,
                    digest,
                    target,
                    date_tagged,
                    created,
                })
            }
            Err((reference, error)) => Resolution::Failed(Unresolved {
                category: source.category,
                slug: source.slug.clone(),
                source: reference,
                error,
            }),
        })
        .collect()
}

async fn head(client: &Client, reference: &Reference) -> Result<Digest, String> {
    match client.head_manifest(reference).await {
        Ok(Some(head)) => Ok(head.digest),
        Ok(None) => Err(format!("{reference}: no such tag upstream")),
        Err(e) => Err(e.to_string()),
    }
}

async fn resolve_rule(client: &Client, repository: &Reference, rule: &TagRule) -> Vec<Pick> {
    let list = match client
        .list_tags(repository.registry(), repository.repository())
        .await
    {
        Ok(list) => list,
        Err(e) => return vec![Err((repository.clone(), e.to_string()))],
    };
    let chosen = match rule {
        TagRule::Exact(tag) => vec![tag.as_str()],
        TagRule::Semver { range, newest } => tags::select_semver(&list.tags, range, *newest),
        TagRule::Pattern {
            include,
            exclude,
            newest,
        } => tags::select_patterns(&list.tags, include, exclude, *newest),
    };
    if chosen.is_empty() {
        let error = format!(
            "{}: none of its {} tags matches the configured rule ({rule}); check the rule in `images:`",
            repository.repository_url(),
            list.tags.len()
        );
        return vec![Err((repository.clone(), error))];
    }
    let list = &list;
    stream::iter(chosen)
        .map(|tag| async move {
            let reference = repository
                .with_tag(tag)
                .map_err(|e| (repository.clone(), e.to_string()))?;
            let digest = match list.digest_of(tag) {
                Some(d) => d.clone(),
                None => head(client, &reference)
                    .await
                    .map_err(|e| (reference.clone(), e))?,
            };
            Ok((reference, digest, None))
        })
        .buffered(HEADS_AT_ONCE)
        .collect()
        .await
}
