//! Discovery: the source catalog, narrowed by the selection, then every tag with its
//! digest on both sides, compared into the same [`Plan`] a check produces.

use std::collections::{BTreeMap, BTreeSet};

use acr_sync_registry::{Digest, Reference};
use futures::stream::{self, StreamExt as _};

use crate::failure::FailureClass;
use crate::plan::{Category, Plan, PlanEntry, Reason, SourceFailure, Stage, Status, TargetImage};
use crate::store::{Store, StoreError};

use super::filter::RepositoryFilter;
use super::shard::Shard;

/// Repositories read at once (each with its own HEADs in flight).
const REPOSITORIES_AT_ONCE: usize = 8;

/// Which source repositories a transfer takes.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// One repository only (`--repository`): the catalog is not read and letters do
    /// not apply; ignore patterns still do.
    pub repository: Option<String>,
    /// Letters and ignore patterns.
    pub filter: RepositoryFilter,
    /// This machine's share of the repositories.
    pub shard: Option<Shard>,
    /// At most this many repositories (after filtering and sharding), in name order.
    pub max_repositories: Option<usize>,
}

/// A repository the selection left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Excluded {
    /// The source repository.
    pub repository: String,
    /// Why (`not under --letters`, `ignored by pattern "myRepo/*"`, `another shard`,
    /// `over --max-repositories`).
    pub reason: String,
}

/// What discovery found.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// One entry per source tag of the selected repositories.
    pub plan: Plan,
    /// The selected repositories, in name order.
    pub repositories: Vec<String>,
    /// The repositories left out.
    pub excluded: Vec<Excluded>,
}

/// Discovery could not even start: the source catalog cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot list the repositories of {registry}: {source}")]
pub struct CatalogError {
    /// The source registry.
    pub registry: String,
    /// The store's error (it names the status and what to do).
    #[source]
    pub source: StoreError,
}

/// Lists the source, selects repositories, reads tags on both sides and compares them.
/// Only a catalog that cannot be read fails the whole discovery; a repository or tag
/// that cannot be read is a failed entry of the plan.
pub async fn discover(
    source: &Store,
    target: &Store,
    selection: &Selection,
) -> Result<Discovery, CatalogError> {
    let catalog = match &selection.repository {
        Some(one) => vec![one.clone()],
        None => source.repositories().await.map_err(|e| CatalogError {
            registry: source.target().to_string(),
            source: e,
        })?,
    };
    let (repositories, excluded) = select(catalog, selection);
    let host = source.target().host().unwrap_or_default().to_string();
    let per_repository: Vec<Result<Vec<PlanEntry>, SourceFailure>> = stream::iter(&repositories)
        .map(|repository| compare_repository(source, target, &host, repository))
        .buffered(REPOSITORIES_AT_ONCE)
        .collect()
        .await;
    let mut plan = Plan::default();
    for result in per_repository {
        match result {
            Ok(entries) => plan.entries.extend(entries),
            Err(failure) => plan.source_failures.push(failure),
        }
    }
    Ok(Discovery {
        plan,
        repositories,
        excluded,
    })
}

/// Applies the selection to the catalog, in name order: `--repository` or letters and
/// patterns, then the shard, then `--max-repositories`.
pub fn select(mut catalog: Vec<String>, selection: &Selection) -> (Vec<String>, Vec<Excluded>) {
    catalog.sort();
    catalog.dedup();
    let mut filter = selection.filter.clone();
    if selection.repository.is_some() {
        filter.letters = None;
    }
    let mut kept = Vec::new();
    let mut excluded = Vec::new();
    for repository in catalog {
        let reason = filter.excludes(&repository).or_else(|| {
            selection
                .shard
                .filter(|s| !s.owns(&repository))
                .map(|s| format!("in another shard than {s}"))
        });
        let reason = reason.or_else(|| {
            selection
                .max_repositories
                .filter(|max| kept.len() >= *max)
                .map(|max| format!("over --max-repositories {max}"))
        });
        match reason {
            Some(reason) => excluded.push(Excluded { repository, reason }),
            None => kept.push(repository),
        }
    }
    (kept, excluded)
}

async fn compare_repository(
    source: &Store,
    target: &Store,
    host: &str,
    repository: &str,
) -> Result<Vec<PlanEntry>, SourceFailure> {
    let source_tags = source
        .tag_digests(repository, None)
        .await
        .map_err(|e| SourceFailure {
            category: Category::Image,
            slug: repository.to_string(),
            stage: Stage::Resolve,
            error: format!("cannot list the tags of {repository}: {e}"),
        })?;
    let wanted: BTreeSet<String> = source_tags.keys().cloned().collect();
    let target_tags = if wanted.is_empty() {
        Ok(BTreeMap::new())
    } else {
        target.tag_digests(repository, Some(&wanted)).await
    };
    let target_tags = target_tags.map_err(|e| {
        (
            format!("cannot list the tags of {repository} in the target: {e}"),
            FailureClass::of_store(&e),
        )
    });
    source_tags
        .into_iter()
        .map(|(tag, digest)| entry(host, repository, tag, digest, &target_tags))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SourceFailure {
            category: Category::Image,
            slug: repository.to_string(),
            stage: Stage::Resolve,
            error: format!("{repository} does not make a valid reference: {e}"),
        })
}

type TargetTags = Result<BTreeMap<String, Digest>, (String, FailureClass)>;

fn entry(
    host: &str,
    repository: &str,
    tag: String,
    digest: Digest,
    target_tags: &TargetTags,
) -> Result<PlanEntry, acr_sync_registry::ReferenceError> {
    // The source is pinned by digest; a tag the reference grammar refuses (registries
    // may be laxer) is still copied by its digest.
    let source = Reference::from_parts(host, repository, Some(&tag), Some(&digest))
        .or_else(|_| Reference::from_parts(host, repository, None, Some(&digest)))?;
    let (status, target_digest) = match target_tags {
        Ok(tags) => match tags.get(&tag) {
            None => (outdated(Reason::MissingTag), None),
            Some(held) if *held == digest => (Status::UpToDate, Some(held.clone())),
            Some(held) => (outdated(Reason::DigestDiffers), Some(held.clone())),
        },
        Err((error, class)) => (
            Status::Failed {
                stage: Stage::Target,
                error: error.clone(),
                failure: Some(*class),
            },
            None,
        ),
    };
    Ok(PlanEntry {
        category: Category::Image,
        slug: repository.to_string(),
        source,
        target: Some(TargetImage {
            repository: repository.to_string(),
            tag,
        }),
        source_digest: Some(digest),
        target_digest,
        source_created: None,
        target_created: None,
        status,
    })
}

fn outdated(reason: Reason) -> Status {
    Status::Outdated { reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::filter::{Letters, compile};

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn selection_applies_filters_then_shard_then_max() {
        let catalog = names(&["b", "a", "c/x", "d", "myrepo/a"]);
        let selection = Selection {
            filter: RepositoryFilter {
                letters: Some(Letters::parse("a-c,m").unwrap()),
                ignore: compile(&names(&["myRepo/*"])).unwrap(),
            },
            max_repositories: Some(2),
            ..Selection::default()
        };
        let (kept, excluded) = select(catalog, &selection);
        assert_eq!(kept, ["a", "b"]);
        let why: Vec<&str> = excluded.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(
            why,
            [
                "over --max-repositories 2",
                "not under --letters",
                "ignored by pattern \"myRepo/*\""
            ]
        );
    }

    #[test]
    fn a_named_repository_ignores_letters_but_not_patterns() {
        let selection = Selection {
            repository: Some("zeta".into()),
            filter: RepositoryFilter {
                letters: Some(Letters::parse("a").unwrap()),
                ignore: vec![],
            },
            ..Selection::default()
        };
        assert_eq!(select(names(&["zeta"]), &selection).0, ["zeta"]);
    }
}
