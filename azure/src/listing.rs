//! ACR's own listing API: `GET /acr/v1/{repository}/_tags` and `/_manifests`.
//!
//! One `_tags` request answers, for every tag of a repository, its digest and when it was
//! created and last updated: a check of a whole repository costs one request (per 1000
//! tags) instead of a HEAD per image, and the target's dates come free. It needs a token
//! with `metadata_read` on the repository, which the registry client gets like any
//! other scope.

use std::collections::HashMap;
use std::sync::Arc;

use acr_sync_registry::{Client, Digest};
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Page size asked for; ACR answers at most this many per page.
const PAGE: usize = 1000;
/// Pagination stops with an error after this many pages (a `Link` loop).
const MAX_PAGES: usize = 10_000;

/// One tag of an ACR repository.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcrTag {
    /// The tag.
    pub name: String,
    /// The manifest digest it points to.
    pub digest: Digest,
    /// When the tag was created in the registry.
    #[serde(default)]
    pub created_time: Option<DateTime<Utc>>,
    /// When the tag was last moved.
    #[serde(default)]
    pub last_update_time: Option<DateTime<Utc>>,
}

/// One manifest of an ACR repository.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcrManifest {
    /// Its digest.
    pub digest: Digest,
    /// The tags pointing to it.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Its media type.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Its size with the blobs it references, as ACR counts it.
    #[serde(default)]
    pub image_size: Option<u64>,
    /// When it was pushed.
    #[serde(default)]
    pub created_time: Option<DateTime<Utc>>,
    /// When it was last changed.
    #[serde(default)]
    pub last_update_time: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct TagsPage {
    #[serde(default)]
    tags: Vec<AcrTag>,
}

#[derive(Deserialize)]
struct ManifestsPage {
    #[serde(default)]
    manifests: Vec<AcrManifest>,
}

/// Every tag of `repository` at `login_server`, following `Link` pages; an unknown
/// repository is an empty list (it simply holds nothing yet).
pub async fn list_tags(
    client: &Client,
    login_server: &str,
    repository: &str,
) -> Result<Vec<AcrTag>, acr_sync_registry::Error> {
    let pages: Vec<TagsPage> = list(client, login_server, repository, "_tags").await?;
    Ok(pages.into_iter().flat_map(|p| p.tags).collect())
}

/// Every manifest of `repository`, following `Link` pages; empty when unknown.
pub async fn list_manifests(
    client: &Client,
    login_server: &str,
    repository: &str,
) -> Result<Vec<AcrManifest>, acr_sync_registry::Error> {
    let pages: Vec<ManifestsPage> = list(client, login_server, repository, "_manifests").await?;
    Ok(pages.into_iter().flat_map(|p| p.manifests).collect())
}

async fn list<T: for<'de> Deserialize<'de>>(
    client: &Client,
    login_server: &str,
    repository: &str,
    what: &str,
) -> Result<Vec<T>, acr_sync_registry::Error> {
    let mut path = format!("/acr/v1/{repository}/{what}?n={PAGE}");
    let mut pages = Vec::new();
    let mut seen = std::collections::HashSet::new();
    loop {
        if !seen.insert(path.clone()) || seen.len() > MAX_PAGES {
            return Err(invalid(
                login_server,
                repository,
                format!("{what}: the pagination loops"),
            ));
        }
        let (body, next) = match client
            .get_api(login_server, repository, &path, "metadata_read")
            .await
        {
            Ok(answer) => answer,
            Err(e) if e.is_not_found() && pages.is_empty() => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let page: T = serde_json::from_slice(&body)
            .map_err(|e| invalid(login_server, repository, format!("{what}: {e}")))?;
        pages.push(page);
        match next {
            Some(next) => path = next,
            None => return Ok(pages),
        }
    }
}

/// Every repository of the ACR at `login_server` (`GET /acr/v1/_catalog`, following
/// `Link` pages; the token needs `registry:catalog:*`).
pub async fn list_catalog(
    client: &Client,
    login_server: &str,
) -> Result<Vec<String>, acr_sync_registry::Error> {
    client.catalog(login_server, Some("/acr/v1/_catalog")).await
}

/// Whether a listing was refused for lack of permission (no `metadata_read`): the
/// caller then falls back to the distribution API, which a pull-only identity may use.
pub fn listing_refused(e: &acr_sync_registry::Error) -> bool {
    matches!(
        e.kind(),
        acr_sync_registry::ErrorKind::Forbidden { .. }
            | acr_sync_registry::ErrorKind::Unauthorized {
                with_credentials: true,
                ..
            }
    )
}

fn invalid(registry: &str, repository: &str, message: String) -> acr_sync_registry::Error {
    acr_sync_registry::Error::new(
        registry,
        Some(repository),
        acr_sync_registry::ErrorKind::InvalidResponse(message),
    )
}

type Listing = Arc<tokio::sync::OnceCell<Result<Arc<Vec<AcrTag>>, acr_sync_registry::Error>>>;

/// Tag listings of one ACR, read once per repository and shared by every image of the
/// repository during a check (concurrent askers wait for the one request).
#[derive(Debug, Clone)]
pub struct TagListings {
    client: Client,
    login_server: String,
    repos: Arc<std::sync::Mutex<HashMap<String, Listing>>>,
}

impl TagListings {
    /// Listings of the registry at `login_server`, read with `client` (which holds its
    /// credentials).
    pub fn new(client: Client, login_server: &str) -> TagListings {
        TagListings {
            client,
            login_server: login_server.to_string(),
            repos: Arc::default(),
        }
    }

    /// The login server.
    pub fn login_server(&self) -> &str {
        &self.login_server
    }

    /// The tags of `repository`, from the one listing of the run.
    pub async fn tags(
        &self,
        repository: &str,
    ) -> Result<Arc<Vec<AcrTag>>, acr_sync_registry::Error> {
        let cell = {
            let mut repos = self.repos.lock().unwrap_or_else(|e| e.into_inner());
            repos.entry(repository.to_string()).or_default().clone()
        };
        cell.get_or_init(|| async {
            list_tags(&self.client, &self.login_server, repository)
                .await
                .map(Arc::new)
        })
        .await
        .clone()
    }

    /// The tag's entry, if the tag exists.
    pub async fn tag(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<AcrTag>, acr_sync_registry::Error> {
        Ok(self
            .tags(repository)
            .await?
            .iter()
            .find(|t| t.name == tag)
            .cloned())
    }

    /// Whether any tag of the repository points to `digest`.
    pub async fn holds_digest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool, acr_sync_registry::Error> {
        Ok(self
            .tags(repository)
            .await?
            .iter()
            .any(|t| t.digest == *digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_tags_shape() {
        let body = r#"{"registry":"myacr.azurecr.io","imageName":"hello-world","tags":[
          {"name":"latest","digest":"sha256:92c7f9c92844bbbb5d0a101b22f7c2a7949e40f8ea90c8b3bc396879d95e899a",
           "createdTime":"2018-09-13T19:48:29.6384219Z","lastUpdateTime":"2018-09-13T19:48:29.6384219Z",
           "signed":false,"changeableAttributes":{"deleteEnabled":true,"writeEnabled":true,"readEnabled":true,"listEnabled":true}}]}"#;
        let page: TagsPage = serde_json::from_str(body).unwrap();
        assert_eq!(page.tags[0].name, "latest");
        assert!(page.tags[0].created_time.is_some());
        let body = r#"{"registry":"r","imageName":"i","manifests":[{"digest":"sha256:92c7f9c92844bbbb5d0a101b22f7c2a7949e40f8ea90c8b3bc396879d95e899a","imageSize":3,"createdTime":"2018-09-13T19:48:29Z","lastUpdateTime":"2018-09-13T19:48:29Z","mediaType":"application/vnd.oci.image.index.v1+json","tags":["v1"]}]}"#;
        let page: ManifestsPage = serde_json::from_str(body).unwrap();
        assert_eq!(page.manifests[0].tags, ["v1"]);
    }
}
