//! A check: config -> sources -> resolve -> compare with the target -> plan.

use std::collections::{HashMap, HashSet};

use acr_sync_registry::manifest::Platform;
use acr_sync_registry::reference::DOCKER_HUB;
use acr_sync_registry::{Client, Digest};
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};

use crate::config::Settings;
use crate::failure::FailureClass;
use crate::plan::{Plan, PlanEntry, Reason, Stage, Status, TargetImage};
use crate::resolve::{self, Placement, Resolution, Resolved, Unresolved};
use crate::source::{self, Source, SourceKind};
use crate::store::{Store, StoreError};

/// What the target was read to hold under a tag; the error is kept as text and class
/// so that one read serves every image mapped there.
type Held = Result<Option<Digest>, (String, FailureClass)>;

/// Sources resolved, and images compared, at once. Checks are HEADs and tag lists, cheap
/// for registries; the registry client bounds retries per request.
const CHECK_CONCURRENCY: usize = 32;

/// Checks every configured image against `store`, the target. Never fails as a whole:
/// an image that cannot be checked is an entry with [`Status::Failed`].
pub async fn check(
    settings: &Settings,
    client: &Client,
    store: &Store,
    now: DateTime<Utc>,
) -> Plan {
    let (sources, source_failures) = source::sources(settings, client).await;
    let placement = Placement {
        repository_path: settings.target.repository_path.clone(),
        date_tag: settings.sync.date_tag.then(|| resolve::date_tag(now)),
    };
    let platform = Platform::linux(
        settings
            .codecollections
            .as_ref()
            .map_or("amd64", |cc| cc.architecture.as_str()),
    );
    let resolving = stream::iter(&sources)
        .map(|s| resolve::resolve(client, s, &placement))
        .buffered(CHECK_CONCURRENCY)
        .flat_map(stream::iter)
        .collect::<Vec<Resolution>>();
    let (resolved, known) =
        tokio::join!(resolving, read_known_targets(store, &sources, &placement));
    let entries = stream::iter(one_source_per_target(resolved))
        .map(|r| async {
            match r {
                Resolution::Found(resolved) => {
                    let held = known.get(&resolved.target).cloned();
                    compare(store, client, resolved, &platform, held).await
                }
                Resolution::Failed(unresolved) => unresolved_entry(unresolved),
            }
        })
        .buffered(CHECK_CONCURRENCY)
        .collect()
        .await;
    Plan {
        entries,
        source_failures,
    }
}

/// What the target holds under the tags that are known before anything upstream is read
/// (exact tags: explicit images and chart images), read while upstream is resolved, so
/// that an up-to-date image costs one round trip rather than two.
async fn read_known_targets(
    store: &Store,
    sources: &[Source],
    placement: &Placement,
) -> HashMap<TargetImage, Held> {
    let known: HashSet<TargetImage> = sources
        .iter()
        .filter_map(|s| match &s.kind {
            SourceKind::Exact(reference) => {
                let (target, date_tagged) = placement.place(reference);
                (!date_tagged).then_some(target)
            }
            _ => None,
        })
        .collect();
    stream::iter(known)
        .map(|target| async {
            let held = store.tag_digest(&target).await.map_err(held_error);
            (target, held)
        })
        .buffer_unordered(CHECK_CONCURRENCY)
        .collect()
        .await
}

/// Keeps each upstream image once, and refuses to map two different upstream images to
/// one target tag: the last path segment alone names the target repository, so
/// `docker.io/a/app:1` and `ghcr.io/b/app:1` would both become `<path>/app:1`, and a
/// sync would flip that tag between them on every run.
fn one_source_per_target(resolved: Vec<Resolution>) -> Vec<Resolution> {
    let mut sources: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut seen = HashSet::new();
    let mut kept = Vec::new();
    for r in resolved {
        if let Resolution::Found(found) = &r {
            let key = (found.target.repository.clone(), found.target.tag.clone());
            let source = found.source.to_string();
            if !seen.insert((key.clone(), source.clone())) {
                continue;
            }
            sources.entry(key).or_default().push(source);
        }
        kept.push(r);
    }
    kept.into_iter()
        .map(|r| match r {
            Resolution::Found(found) => {
                let key = (found.target.repository.clone(), found.target.tag.clone());
                match sources.get(&key) {
                    Some(all) if all.len() > 1 => Resolution::Failed(Unresolved {
                        error: format!(
                            "{} and {} would all be mirrored to {}:{}; give them different repository names (one `images:` entry per repository) or drop one",
                            all[..all.len() - 1].join(", "),
                            all[all.len() - 1],
                            key.0,
                            key.1
                        ),
                        category: found.category,
                        slug: found.slug,
                        source: found.source,
                    }),
                    _ => Resolution::Found(found),
                }
            }
            failed => failed,
        })
        .collect()
}

fn unresolved_entry(u: Unresolved) -> PlanEntry {
    PlanEntry {
        category: u.category,
        slug: u.slug,
        source: u.source,
        target: None,
        source_digest: None,
        target_digest: None,
        source_created: None,
        target_created: None,
        status: Status::Failed {
            stage: Stage::Resolve,
            error: u.error,
            failure: None,
        },
    }
}

/// Compares one resolved image with the target, as the contract defines outdated.
/// `held` is what the target tag was already read to hold, if it was.
pub async fn compare(
    store: &Store,
    client: &Client,
    r: Resolved,
    platform: &Platform,
    held: Option<Held>,
) -> PlanEntry {
    let mut entry = PlanEntry {
        category: r.category,
        slug: r.slug,
        source: r.source,
        target: Some(r.target.clone()),
        source_digest: Some(r.digest.clone()),
        target_digest: None,
        source_created: r.created,
        target_created: None,
        status: Status::UpToDate,
    };
    let verdict = if r.date_tagged {
        store
            .holds_digest(&r.target.repository, &r.digest)
            .await
            .map(|held| (!held).then_some(Reason::DigestAbsent))
            .map_err(held_error)
    } else {
        let held = match held {
            Some(held) => held,
            None => store.tag_digest(&r.target).await.map_err(held_error),
        };
        held.map(|held| {
            let reason = match &held {
                None => Some(Reason::MissingTag),
                Some(d) if *d != r.digest => Some(Reason::DigestDiffers),
                Some(_) => None,
            };
            entry.target_digest = held;
            reason
        })
    };
    entry.status = match verdict {
        Ok(None) => Status::UpToDate,
        Ok(Some(reason)) => Status::Outdated { reason },
        Err((error, class)) => Status::Failed {
            stage: Stage::Target,
            error,
            failure: Some(class),
        },
    };
    if entry.is_outdated() {
        read_dates(&mut entry, store, client, platform).await;
    }
    entry
}

/// Dates are read for outdated images only: for an up-to-date image the lag is zero by
/// definition, and reading a config costs a manifest GET, which Docker Hub counts as a
/// pull; so Docker Hub dates are not read by a check at all. A date that cannot be read
/// is left unknown; it never changes the verdict.
async fn read_dates(entry: &mut PlanEntry, store: &Store, client: &Client, platform: &Platform) {
    if entry.source_created.is_none() && entry.source.registry() != DOCKER_HUB {
        let pinned = match &entry.source_digest {
            Some(d) => entry.source.with_digest(d.clone()),
            None => entry.source.clone(),
        };
        match client.created(&pinned, platform).await {
            Ok(created) => entry.source_created = created,
            Err(e) => tracing::debug!("creation date of {pinned}: {e}"),
        }
    }
    if let (Some(target), Some(_)) = (&entry.target, &entry.target_digest) {
        match store.created(target, platform).await {
            Ok(created) => entry.target_created = created,
            Err(e) => tracing::debug!("creation date of target {}: {e}", target.repository),
        }
    }
}

fn held_error(e: StoreError) -> (String, FailureClass) {
    (e.to_string(), FailureClass::of_store(&e))
}
