//! The listing side of a store, for bulk transfer: every repository it holds, and every
//! tag of a repository with its digest.
//!
//! An ACR answers both from its own API (`/acr/v1/_catalog`, and `_tags`: one request
//! per 1000 tags with every digest in it); any other registry from the distribution API
//! (`/v2/_catalog`, then `tags/list` and a HEAD per tag, sent together, unless the
//! registry names digests in its tag list as Google's do); a layout from its
//! `index.json`.

use std::collections::{BTreeMap, BTreeSet};

use acr_sync_azure::listing_refused;
use acr_sync_registry::{Digest, Reference};
use futures::stream::{self, StreamExt as _, TryStreamExt as _};

use super::{Backend, REF_NAME, Registry, Store, StoreError};

/// HEADs in flight per repository listed.
const HEADS_PER_REPOSITORY: usize = 8;

impl Store {
    /// Every repository the store holds, sorted.
    pub async fn repositories(&self) -> Result<Vec<String>, StoreError> {
        let mut names = match &self.backend {
            Backend::Layout { layout, .. } => layout
                .index()?
                .manifests
                .iter()
                .filter_map(|e| Some(e.annotations.get(REF_NAME)?.rsplit_once(':')?.0.to_string()))
                .collect(),
            Backend::Registry(r) => match &r.listings {
                Some(listings) => {
                    match acr_sync_azure::list_catalog(&r.client, listings.login_server()).await {
                        Err(e) if listing_refused(&e) => r.client.catalog(&r.host, None).await?,
                        other => other?,
                    }
                }
                None => r.client.catalog(&r.host, None).await?,
            },
        };
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Every tag of `repository` with the manifest digest it points to; empty when the
    /// repository does not exist. With `wanted`, a registry without a digest listing
    /// is only asked about those tags (the rest may be missing from the answer).
    pub async fn tag_digests(
        &self,
        repository: &str,
        wanted: Option<&BTreeSet<String>>,
    ) -> Result<BTreeMap<String, Digest>, StoreError> {
        match &self.backend {
            Backend::Layout { layout, .. } => {
                let prefix = format!("{repository}:");
                Ok(layout
                    .index()?
                    .manifests
                    .into_iter()
                    .filter_map(|e| {
                        let tag = e
                            .annotations
                            .get(REF_NAME)?
                            .strip_prefix(&prefix)?
                            .to_string();
                        (!tag.contains(':')).then_some((tag, e.digest))
                    })
                    .collect())
            }
            Backend::Registry(r) => match &r.listings {
                Some(listings) => match listings.tags(repository).await {
                    Ok(tags) => Ok(tags
                        .iter()
                        .map(|t| (t.name.clone(), t.digest.clone()))
                        .collect()),
                    Err(e) if listing_refused(&e) => r.tag_digests(repository, wanted).await,
                    Err(e) => Err(e.into()),
                },
                None => r.tag_digests(repository, wanted).await,
            },
        }
    }
}

impl Registry {
    async fn tag_digests(
        &self,
        repository: &str,
        wanted: Option<&BTreeSet<String>>,
    ) -> Result<BTreeMap<String, Digest>, StoreError> {
        let list = match self.client.list_tags(&self.host, repository).await {
            Ok(list) => list,
            Err(e) if e.is_not_found() => return Ok(BTreeMap::new()),
            Err(e) => return Err(e.into()),
        };
        let tags = list
            .tags
            .iter()
            .filter(|t| wanted.is_none_or(|w| w.contains(*t)));
        let mut known = BTreeMap::new();
        let mut ask = Vec::new();
        for tag in tags {
            match list.digest_of(tag) {
                Some(digest) => {
                    known.insert(tag.clone(), digest.clone());
                }
                None => ask.push(tag.clone()),
            }
        }
        let heads: Vec<Option<(String, Digest)>> = stream::iter(ask)
            .map(|tag| async move {
                let reference = Reference::from_parts(&self.host, repository, Some(&tag), None)?;
                // A tag deleted between the list and the HEAD is simply not there.
                let head = self.client.head_manifest(&reference).await?;
                Ok::<_, StoreError>(head.map(|h| (tag, h.digest)))
            })
            .buffer_unordered(HEADS_PER_REPOSITORY)
            .try_collect()
            .await?;
        known.extend(heads.into_iter().flatten());
        Ok(known)
    }
}
