//! Fetching charts over the network from an in-process server on 127.0.0.1: an HTTP
//! chart repository (index.yaml and .tgz files), a dependency fetched from it, the
//! digest cache, and an OCI registry with a bearer-token challenge.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use charts_render::{ChartSource, Options};
use sha2::{Digest, Sha256};

/// Packs a chart directory as `helm package` would, with `Chart.yaml`'s version replaced.
fn package(dir: &Path, version: &str) -> Vec<u8> {
    let mut files = BTreeMap::new();
    collect(dir, dir, &mut files);
    let chart_yaml = String::from_utf8(files["Chart.yaml"].clone()).unwrap();
    let chart_yaml = chart_yaml.replace("version: 1.4.2", &format!("version: {version}"));
    files.insert("Chart.yaml".into(), chart_yaml.into_bytes());
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, bytes) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("webapp/{path}"), bytes.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(root, &p, out);
        } else {
            out.insert(
                p.strip_prefix(root).unwrap().to_string_lossy().into(),
                std::fs::read(&p).unwrap(),
            );
        }
    }
}

struct Repo {
    index: String,
    archives: BTreeMap<String, Vec<u8>>,
    downloads: AtomicUsize,
    port: u16,
}

async fn serve_index(State(r): State<Arc<Repo>>) -> String {
    r.index.replace("PORT", &r.port.to_string())
}

async fn archive(State(r): State<Arc<Repo>>, UrlPath(file): UrlPath<String>) -> Response {
    r.downloads.fetch_add(1, Ordering::SeqCst);
    match r.archives.get(&file) {
        Some(b) => b.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn unauthorized(port: u16) -> Response {
    let challenge = format!(
        "Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test\",scope=\"repository:charts/webapp:pull\""
    );
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, challenge)],
    )
        .into_response()
}

fn authorized(h: &HeaderMap) -> bool {
    h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some("Bearer t0k")
}

async fn manifest(
    State(r): State<Arc<Repo>>,
    h: HeaderMap,
    UrlPath(tag): UrlPath<String>,
) -> Response {
    if !authorized(&h) {
        return unauthorized(r.port);
    }
    let Some(tgz) = r.archives.get(&format!("webapp-{tag}.tgz")) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let digest = hex::encode(Sha256::digest(tgz));
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": format!("sha256:{digest}"), "size": tgz.len()}]
    });
    (
        [(
            header::CONTENT_TYPE,
            "application/vnd.oci.image.manifest.v1+json",
        )],
        body.to_string(),
    )
        .into_response()
}

async fn blob(
    State(r): State<Arc<Repo>>,
    h: HeaderMap,
    UrlPath(digest): UrlPath<String>,
) -> Response {
    if !authorized(&h) {
        return unauthorized(r.port);
    }
    r.downloads.fetch_add(1, Ordering::SeqCst);
    let hex = digest.trim_start_matches("sha256:");
    match r
        .archives
        .values()
        .find(|b| hex::encode(Sha256::digest(b)) == hex)
    {
        Some(b) => b.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn tags(State(r): State<Arc<Repo>>, h: HeaderMap) -> Response {
    if !authorized(&h) {
        return unauthorized(r.port);
    }
    let tags: Vec<String> = r
        .archives
        .keys()
        .map(|k| {
            k.trim_start_matches("webapp-")
                .trim_end_matches(".tgz")
                .to_string()
        })
        .collect();
    serde_json::json!({"name": "charts/webapp", "tags": tags})
        .to_string()
        .into_response()
}

async fn token() -> String {
    r#"{"token":"t0k"}"#.to_string()
}

/// Serves the repository on 127.0.0.1 until the test's runtime ends.
async fn serve() -> Arc<Repo> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/charts/webapp");
    let mut archives = BTreeMap::new();
    let mut entries = String::new();
    for v in ["1.4.2", "1.10.0", "2.0.0-rc.1"] {
        let tgz = package(&dir, v);
        let digest = hex::encode(Sha256::digest(&tgz));
        entries.push_str(&format!("  - name: webapp\n    version: {v}\n    digest: {digest}\n    urls: [charts/webapp-{v}.tgz]\n"));
        archives.insert(format!("webapp-{v}.tgz"), tgz);
    }
    let index = format!(
        "apiVersion: v1\nentries:\n  webapp:\n{entries}generated: \"2026-01-01T00:00:00Z\"\n"
    );
    let repo = Arc::new(Repo {
        index,
        archives,
        downloads: AtomicUsize::new(0),
        port,
    });
    let app = Router::new()
        .route("/index.yaml", get(serve_index))
        .route("/charts/{file}", get(archive))
        .route("/v2/charts/webapp/manifests/{tag}", get(manifest))
        .route("/v2/charts/webapp/blobs/{digest}", get(blob))
        .route("/v2/charts/webapp/tags/list", get(tags))
        .route("/token", get(token))
        .with_state(repo.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    repo
}

fn options(cache: Option<&Path>) -> Options {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Options {
        cache_dir: cache.map(Path::to_path_buf),
        http,
        ..Options::default()
    }
}

fn names(refs: &[charts_render::Reference]) -> Vec<String> {
    refs.iter().map(|r| r.to_string()).collect()
}

#[tokio::test]
async fn renders_from_an_http_repository_choosing_versions_by_semver() {
    let repo = serve().await;
    let url = format!("http://127.0.0.1:{}", repo.port);
    let opts = options(None);
    let src = |version: &str| ChartSource {
        repo: Some(url.clone()),
        name: "webapp".into(),
        version: version.into(),
        ..ChartSource::default()
    };

    let newest = charts_render::load(&src(""), &opts).await.unwrap();
    assert_eq!(
        newest.metadata.version, "1.10.0",
        "newest release, prereleases skipped"
    );
    assert_eq!(
        charts_render::load(&src("~1.4"), &opts)
            .await
            .unwrap()
            .metadata
            .version,
        "1.4.2"
    );
    assert_eq!(
        charts_render::load(&src("2.0.0-rc.1"), &opts)
            .await
            .unwrap()
            .metadata
            .version,
        "2.0.0-rc.1"
    );
    let err = charts_render::load(&src(">=3"), &opts)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("index.yaml") && err.contains(">=3"), "{err}");

    let mut with_set = src("1.4.2");
    with_set.set = vec!["image.tag=9.9.9".into(), "redis.enabled=false".into()];
    let images = names(&charts_render::images(&with_set, &opts).await.unwrap());
    assert!(
        images.contains(&"docker.io/example/webapp:9.9.9".to_string()),
        "{images:?}"
    );
    assert!(!images.iter().any(|i| i.contains("redis")), "{images:?}");
}

#[tokio::test]
async fn fetches_missing_dependencies_and_caches_by_digest() {
    let repo = serve().await;
    let cache = tempfile::tempdir().unwrap();
    let parent = tempfile::tempdir().unwrap();
    std::fs::create_dir(parent.path().join("templates")).unwrap();
    let chart_yaml = format!(
        "apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n  - name: webapp\n    version: \"~1.4\"\n    repository: http://127.0.0.1:{}\n",
        repo.port
    );
    std::fs::write(parent.path().join("Chart.yaml"), chart_yaml).unwrap();
    std::fs::write(
        parent.path().join("values.yaml"),
        "webapp:\n  image:\n    tag: from-parent\n",
    )
    .unwrap();
    let src = ChartSource {
        name: parent.path().display().to_string(),
        ..ChartSource::default()
    };
    let opts = options(Some(cache.path()));

    let images = names(&charts_render::images(&src, &opts).await.unwrap());
    assert!(
        images.contains(&"docker.io/example/webapp:from-parent".to_string()),
        "{images:?}"
    );
    assert_eq!(repo.downloads.load(Ordering::SeqCst), 1);
    // The second run finds the archive in the cache under the digest the index names.
    charts_render::images(&src, &opts).await.unwrap();
    assert_eq!(
        repo.downloads.load(Ordering::SeqCst),
        1,
        "served from the cache"
    );
    let out = charts_render::template(&src, &opts).await.unwrap();
    assert!(
        out.contains("# Source: parent/charts/webapp/templates/deployment.yaml"),
        "{out}"
    );
}

#[tokio::test]
async fn pulls_from_an_oci_registry_with_a_bearer_token() {
    let repo = serve().await;
    let cache = tempfile::tempdir().unwrap();
    let opts = options(Some(cache.path()));
    let src = ChartSource {
        name: format!("oci://127.0.0.1:{}/charts/webapp", repo.port),
        version: "1.10.0".into(),
        ..ChartSource::default()
    };
    let chart = charts_render::load(&src, &opts).await.unwrap();
    assert_eq!(chart.metadata.version, "1.10.0");
    let images = names(&charts_render::images(&src, &opts).await.unwrap());
    assert!(
        images.contains(&"docker.io/bitnami/redis:7.2.5".to_string()),
        "{images:?}"
    );
    assert_eq!(
        repo.downloads.load(Ordering::SeqCst),
        1,
        "second pull served from the digest cache"
    );
    let tagged = ChartSource {
        name: format!("oci://127.0.0.1:{}/charts/webapp:1.4.2", repo.port),
        ..ChartSource::default()
    };
    assert_eq!(
        charts_render::load(&tagged, &opts)
            .await
            .unwrap()
            .metadata
            .version,
        "1.4.2"
    );
    // No version: the newest tag by semver (prereleases skipped); a constraint works too.
    let newest = ChartSource {
        version: String::new(),
        ..src.clone()
    };
    assert_eq!(
        charts_render::load(&newest, &opts)
            .await
            .unwrap()
            .metadata
            .version,
        "1.10.0"
    );
    let ranged = ChartSource {
        version: "~1.4".into(),
        ..src.clone()
    };
    assert_eq!(
        charts_render::load(&ranged, &opts)
            .await
            .unwrap()
            .metadata
            .version,
        "1.4.2"
    );
}

#[tokio::test]
async fn pulls_through_the_workspace_registry_client() {
    let repo = serve().await;
    let client =
        acr_sync_registry::Client::new(acr_sync_registry::ClientConfig::default()).unwrap();
    let opts = Options {
        cache_dir: None,
        oci: Arc::new(charts_render::fetch::oci::RegistryOci::new(client)),
        ..options(None)
    };
    let src = ChartSource {
        repo: Some(format!("oci://127.0.0.1:{}/charts", repo.port)),
        name: "webapp".into(),
        version: "1.4.2".into(),
        ..ChartSource::default()
    };
    assert_eq!(
        charts_render::load(&src, &opts)
            .await
            .unwrap()
            .metadata
            .version,
        "1.4.2"
    );
}
