//! Getting charts: from a path, an HTTP chart repository (`index.yaml`) or an
//! `oci://` reference; fetching the dependencies `charts/` lacks; caching archives
//! by their sha256 digest. Also the crate's top-level entry points.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::chart::{Chart, Dependency};
use crate::render::{Manifest, RenderOptions, format_manifests, render};
use crate::template::Value;
use crate::values::{apply_set, empty_map, merge_maps, parse_values};
use crate::{Error, Reference, repo};

/// Where a chart comes from and what values it is rendered with.
#[derive(Debug, Clone, Default)]
pub struct ChartSource {
    /// A chart repository URL (`https://...` or `oci://host/path`), or `None` when
    /// `name` is a path or a full `oci://` reference.
    pub repo: Option<String>,
    /// Chart name in the repository, a directory, a `.tgz`, or `oci://host/path/chart[:version]`.
    pub name: String,
    /// Exact version or semver constraint; empty for the newest.
    pub version: String,
    /// Inline values (lowest user priority, like a first `-f` file).
    pub values: Option<yaml_serde::Value>,
    /// `-f` files, in order.
    pub values_files: Vec<PathBuf>,
    /// `--set` expressions, in order.
    pub set: Vec<String>,
    /// `--set-string` expressions, in order (applied after `set`).
    pub set_string: Vec<String>,
}

/// A boxed future, as the object-safe [`OciPuller`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Pulls Helm charts from an OCI registry: [`oci::RegistryOci`], the workspace's registry
/// client, by default; a trait so that an embedder can bring its own.
pub trait OciPuller: Send + Sync {
    /// Resolves `host/path/chart:tag` (or `@sha256:...`; no `oci://`) to the sha256
    /// hex digest of its chart content layer
    /// (`application/vnd.cncf.helm.chart.content.v1.tar+gzip`).
    fn chart_layer<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<String, Error>>;
    /// The tags of `host/path/chart` (no tag), for choosing a version by constraint.
    fn tags<'a>(&'a self, repository: &'a str) -> BoxFuture<'a, Result<Vec<String>, Error>>;
    /// Downloads that layer; the caller verifies the digest.
    fn blob<'a>(
        &'a self,
        reference: &'a str,
        digest_hex: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, Error>>;
}

/// How to fetch and render.
#[derive(Clone)]
pub struct Options {
    /// Where downloaded archives are kept, by digest (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// Release name, namespace, Kubernetes version.
    pub render: RenderOptions,
    /// Keep test hooks (`helm.sh/hook: test`, usually `templates/tests/`).
    /// `helm template` prints them unless `--skip-tests`; the images a chart
    /// deploys do not include them, so the default is `false`.
    pub include_tests: bool,
    /// HTTP client for repositories.
    pub http: reqwest::Client,
    /// OCI puller.
    pub oci: Arc<dyn OciPuller>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("cache_dir", &self.cache_dir)
            .field("render", &self.render)
            .field("include_tests", &self.include_tests)
            .finish_non_exhaustive()
    }
}

impl Default for Options {
    fn default() -> Options {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        Options {
            cache_dir: default_cache_dir(),
            render: RenderOptions::default(),
            include_tests: false,
            oci: Arc::new(crate::fetch::oci::RegistryOci::new(
                default_registry_client(),
            )),
            http,
        }
    }
}

/// A registry client with default settings and the user's docker config (`docker
/// login`), or none when that file cannot be read.
fn default_registry_client() -> acr_sync_registry::Client {
    let with_docker_login = acr_sync_registry::ClientConfig {
        docker_config: acr_sync_registry::docker_config_path(),
        ..acr_sync_registry::ClientConfig::default()
    };
    acr_sync_registry::Client::new(with_docker_login).unwrap_or_else(|e| {
        tracing::warn!("ignoring the docker config for chart pulls: {e}");
        acr_sync_registry::Client::new(acr_sync_registry::ClientConfig::default())
            .expect("a client without a docker config or CA cannot fail to build")
    })
}

fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("charts-render"))
}

/// Loads the chart of `src`, with every dependency in place.
pub async fn load(src: &ChartSource, opts: &Options) -> Result<Chart, Error> {
    let (mut chart, base) = load_top(src, opts).await?;
    resolve_dependencies(&mut chart, base.as_deref(), opts).await?;
    Ok(chart)
}

/// Renders `src` and prints it as `helm template` does.
pub async fn template(src: &ChartSource, opts: &Options) -> Result<String, Error> {
    let chart = load(src, opts).await?;
    let values = user_values(src)?;
    let manifests = rendered(&chart, &values, opts)?;
    Ok(format_manifests(&manifests))
}

/// Renders `src` and lists the images it deploys, qualified and de-duplicated.
pub async fn images(src: &ChartSource, opts: &Options) -> Result<Vec<Reference>, Error> {
    let chart = load(src, opts).await?;
    let values = user_values(src)?;
    let manifests = rendered(&chart, &values, opts)?;
    crate::images_of(&chart, &manifests)
}

/// Renders and drops test hooks unless they are wanted.
fn rendered(chart: &Chart, values: &Value, opts: &Options) -> Result<Vec<Manifest>, Error> {
    let mut manifests = render(chart, values, &opts.render)?;
    if !opts.include_tests {
        manifests.retain(|m| !m.test);
    }
    Ok(manifests)
}

/// The user's values: inline values, `-f` files, `--set`, `--set-string`, in that order.
pub fn user_values(src: &ChartSource) -> Result<Value, Error> {
    let all = empty_map();
    if let Some(v) = &src.values {
        merge_maps(&all, &Value::from_yaml(v));
    }
    for f in &src.values_files {
        let text = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
        let v = parse_values(&text).map_err(|message| Error::Yaml {
            file: f.display().to_string(),
            message,
        })?;
        merge_maps(&all, &v);
    }
    for s in &src.set {
        apply_set(&all, s, false)?;
    }
    for s in &src.set_string {
        apply_set(&all, s, true)?;
    }
    Ok(all)
}

/// Loads the top chart; also returns its directory when it came from one (for `file://` dependencies).
async fn load_top(src: &ChartSource, opts: &Options) -> Result<(Chart, Option<PathBuf>), Error> {
    if src.name.starts_with("oci://") {
        return Ok((pull_oci(&src.name, &src.version, opts).await?, None));
    }
    match src.repo.as_deref().filter(|r| !r.is_empty()) {
        Some(r) if r.starts_with("oci://") => {
            let reference = format!("{}/{}", r.trim_end_matches('/'), src.name);
            Ok((pull_oci(&reference, &src.version, opts).await?, None))
        }
        Some(r) => Ok((from_repo(r, &src.name, &src.version, opts).await?, None)),
        None => {
            let path = Path::new(&src.name);
            let chart = Chart::load(path)?;
            Ok((chart, path.is_dir().then(|| path.to_path_buf())))
        }
    }
}

/// Fetches a chart from an HTTP repository: reads `index.yaml`, picks the version,
/// downloads (or takes from the cache) the archive.
pub(crate) async fn from_repo(
    repo_url: &str,
    name: &str,
    version: &str,
    opts: &Options,
) -> Result<Chart, Error> {
    let base = repo_url.trim_end_matches('/');
    let index_url = format!("{base}/index.yaml");
    let index = String::from_utf8_lossy(&get(&opts.http, &index_url).await?).into_owned();
    let idx = |source| Error::Index {
        url: index_url.clone(),
        source,
    };
    let entries = repo::index_entries(&index, name).map_err(idx)?;
    let entry = repo::choose(&entries, version).map_err(idx)?;
    let url = entry.urls.first().ok_or_else(|| Error::Http {
        url: index_url.clone(),
        message: format!("{name} {} has no download URL", entry.version),
    })?;
    let url = resolve_url(base, url);
    let expected = entry
        .digest
        .as_deref()
        .map(|d| d.trim_start_matches("sha256:").to_lowercase());
    let bytes = cached_download(
        &opts.http,
        &url,
        expected.as_deref(),
        opts.cache_dir.as_deref(),
    )
    .await?;
    Chart::from_archive(&bytes, &url)
}

fn resolve_url(base: &str, url: &str) -> String {
    if url.contains("://") {
        return url.to_string();
    }
    match url::Url::parse(&format!("{base}/")).and_then(|b| b.join(url)) {
        Ok(u) => u.to_string(),
        Err(_) => format!("{base}/{url}"),
    }
}

async fn get(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, Error> {
    let fail = |m: String| Error::Http {
        url: url.to_string(),
        message: m,
    };
    let resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(fail(format!("HTTP {}", resp.status())));
    }
    Ok(resp
        .bytes()
        .await
        .map_err(|e| fail(e.to_string()))?
        .to_vec())
}

fn cache_path(dir: &Path, hex: &str) -> PathBuf {
    dir.join("sha256").join(hex)
}

/// Downloads `url` unless the cache holds `expected`; verifies and stores by digest.
async fn cached_download(
    http: &reqwest::Client,
    url: &str,
    expected: Option<&str>,
    cache: Option<&Path>,
) -> Result<Vec<u8>, Error> {
    if let (Some(dir), Some(hex)) = (cache, expected) {
        if let Ok(bytes) = std::fs::read(cache_path(dir, hex)) {
            if hex::encode(Sha256::digest(&bytes)) == hex {
                return Ok(bytes);
            }
        }
    }
    let bytes = get(http, url).await?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if let Some(hex) = expected.filter(|h| *h != actual) {
        return Err(Error::Digest {
            url: url.to_string(),
            expected: hex.to_string(),
            actual,
        });
    }
    store(cache, &actual, &bytes);
    Ok(bytes)
}

/// Best effort: a cache that cannot be written only costs a download next time.
fn store(cache: Option<&Path>, hex: &str, bytes: &[u8]) {
    let Some(dir) = cache else { return };
    let path = cache_path(dir, hex);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let ok =
        std::fs::create_dir_all(dir.join("sha256")).is_ok() && std::fs::write(&tmp, bytes).is_ok();
    if ok {
        let _ = std::fs::rename(&tmp, &path);
    }
}

async fn pull_oci(reference: &str, version: &str, opts: &Options) -> Result<Chart, Error> {
    let bare = reference.trim_start_matches("oci://");
    let has_tag = bare
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
        || bare.contains('@');
    let full = if has_tag {
        bare.to_string()
    } else {
        format!("{bare}:{}", oci_tag(bare, version.trim(), opts).await?)
    };
    let layer = opts.oci.chart_layer(&full).await?;
    let cached = opts
        .cache_dir
        .as_deref()
        .and_then(|d| std::fs::read(cache_path(d, &layer)).ok());
    let bytes = match cached.filter(|b| hex::encode(Sha256::digest(b)) == layer) {
        Some(b) => b,
        None => {
            let b = opts.oci.blob(&full, &layer).await?;
            let actual = hex::encode(Sha256::digest(&b));
            if actual != layer {
                return Err(Error::Digest {
                    url: reference.to_string(),
                    expected: layer,
                    actual,
                });
            }
            store(opts.cache_dir.as_deref(), &layer, &b);
            b
        }
    };
    Chart::from_archive(&bytes, reference)
}

/// The tag for a version: an exact version as is, otherwise the newest tag that
/// matches (Helm stores `+` as `_` in OCI tags).
async fn oci_tag(repository: &str, version: &str, opts: &Options) -> Result<String, Error> {
    let exact = crate::template::loose_version(version).is_some()
        && !version.contains(['<', '>', '~', '^', '*', 'x', ' ', '|', ',']);
    if exact {
        return Ok(version.replace('+', "_"));
    }
    let tags = opts.oci.tags(repository).await?;
    let entries: Vec<repo::IndexEntry> = tags
        .iter()
        .map(|t| repo::IndexEntry {
            name: repository.to_string(),
            version: t.replace('_', "+"),
            urls: Vec::new(),
            digest: None,
        })
        .collect();
    let chosen = repo::choose(&entries, version).map_err(|source| Error::Index {
        url: format!("oci://{repository}"),
        source,
    })?;
    Ok(chosen.version.replace('+', "_"))
}

/// Fetches every declared dependency that `charts/` lacks, recursively.
fn resolve_dependencies<'a>(
    chart: &'a mut Chart,
    base: Option<&'a Path>,
    opts: &'a Options,
) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>> {
    Box::pin(async move {
        let missing: Vec<Dependency> = chart
            .metadata
            .dependencies
            .iter()
            .filter(|d| !chart.subcharts.iter().any(|s| s.metadata.name == d.name))
            .cloned()
            .collect();
        for d in missing {
            let sub = fetch_dependency(&chart.metadata.name, &d, base, opts).await?;
            chart.subcharts.push(sub);
        }
        for sub in &mut chart.subcharts {
            resolve_dependencies(sub, None, opts).await?;
        }
        Ok(())
    })
}

async fn fetch_dependency(
    parent: &str,
    d: &Dependency,
    base: Option<&Path>,
    opts: &Options,
) -> Result<Chart, Error> {
    let fail = |message: String| Error::Dependency {
        chart: parent.to_string(),
        dependency: d.name.clone(),
        message,
    };
    let repo_url = d.repository.trim();
    if let Some(rel) = repo_url.strip_prefix("file://") {
        let dir = base
            .map(|b| b.join(rel))
            .unwrap_or_else(|| PathBuf::from(rel));
        return Chart::load(&dir);
    }
    if repo_url.starts_with("oci://") {
        return pull_oci(
            &format!("{}/{}", repo_url.trim_end_matches('/'), d.name),
            &d.version,
            opts,
        )
        .await;
    }
    if repo_url.starts_with("http://") || repo_url.starts_with("https://") {
        return from_repo(repo_url, &d.name, &d.version, opts).await;
    }
    Err(fail(format!(
        "found in Chart.yaml, but missing in charts/ directory, and repository {repo_url:?} cannot be fetched (use a URL, not a repository alias)"
    )))
}

pub mod oci;

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// Callers spawn these on multi-threaded runtimes.
    #[test]
    fn futures_are_send() {
        let (src, opts) = (ChartSource::default(), Options::default());
        assert_send(&images(&src, &opts));
        assert_send(&template(&src, &opts));
        assert_send(&load(&src, &opts));
    }
}
