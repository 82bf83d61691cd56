//! The client against a tiny in-process HTTP server on 127.0.0.1:0.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes as AxumBytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt as _;

use crate::*;

/// What a fake handler answers: status, headers, body.
type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);
type Handler = dyn Fn(&Method, &str, &HeaderMap, &[u8]) -> Answer + Send + Sync;

async fn serve(
    handler: impl Fn(&Method, &str, &HeaderMap, &[u8]) -> Answer + Send + Sync + 'static,
) -> String {
    let handler: Arc<Handler> = Arc::new(handler);
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: AxumBytes| {
            let handler = handler.clone();
            async move {
                let path = uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/")
                    .to_string();
                let (status, hs, body) = handler(&method, &path, &headers, &body);
                let mut resp: Response =
                    (StatusCode::from_u16(status).unwrap(), body).into_response();
                for (k, v) in hs {
                    if k == "www-authenticate" || k == "link" {
                        resp.headers_mut().append(k, v.parse().unwrap());
                    } else {
                        resp.headers_mut().insert(k, v.parse().unwrap());
                    }
                }
                resp
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr.to_string()
}

fn client(policy_ms: u64) -> Client {
    client_with(policy_ms, ClientConfig::default())
}

fn client_with(policy_ms: u64, config: ClientConfig) -> Client {
    Client::new(ClientConfig {
        retry: RetryPolicy {
            max_elapsed: Duration::from_millis(policy_ms),
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
        },
        request_timeout: Duration::from_secs(5),
        ..config
    })
    .unwrap()
}

const MANIFEST: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

fn manifest_answer(body: &[u8], digest: &str) -> Answer {
    (
        200,
        vec![
            ("content-type", manifest::OCI_MANIFEST.to_string()),
            ("docker-content-digest", digest.to_string()),
        ],
        body.to_vec(),
    )
}

fn count(c: &Client, registry: &str, method: &str, code: &str) -> u64 {
    c.stats()
        .iter()
        .find(|s| s.registry == registry)
        .and_then(|s| {
            s.requests
                .get(&(method.to_string(), code.to_string()))
                .copied()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn retries_429_honouring_retry_after_then_succeeds() {
    let calls = Arc::new(Mutex::new(0));
    let seen = calls.clone();
    let digest = Digest::sha256_of(MANIFEST).to_string();
    let addr = serve(move |_, _, headers, _| {
        assert!(
            headers["accept"]
                .to_str()
                .unwrap()
                .contains(manifest::DOCKER_MANIFEST_LIST)
        );
        let mut n = seen.lock().unwrap();
        *n += 1;
        if *n == 1 {
            (
                429,
                vec![
                    ("retry-after", "0".into()),
                    ("ratelimit-remaining", "0;w=21600".into()),
                ],
                vec![],
            )
        } else {
            let mut a = manifest_answer(MANIFEST, &digest);
            a.1.push(("ratelimit-remaining", "99;w=21600".into()));
            a
        }
    })
    .await;
    let c = client(2_000);
    let r = Reference::parse(&format!("{addr}/a/b:v1")).unwrap();
    let m = c.get_manifest(&r).await.unwrap();
    assert_eq!(m.bytes.as_ref(), MANIFEST);
    assert_eq!(m.media_type, manifest::OCI_MANIFEST);
    assert_eq!(m.digest, Digest::sha256_of(MANIFEST));
    assert_eq!(count(&c, &addr, "GET", "429"), 1);
    assert_eq!(count(&c, &addr, "GET", "200"), 1);
    assert_eq!(c.stats()[0].ratelimit_remaining, Some(99));
}

#[tokio::test]
async fn gives_up_after_the_budget_naming_registry_repository_and_status() {
    let addr = serve(|_, _, _, _| {
        (
            503,
            vec![],
            br#"{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}"#.to_vec(),
        )
    })
    .await;
    let c = client(100);
    let r = Reference::parse(&format!("{addr}/a/b:v1")).unwrap();
    let e = c.get_manifest(&r).await.unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Status { status: 503, .. }),
        "{e:?}"
    );
    assert!(e.attempts() > 1);
    let msg = e.to_string();
    assert!(
        msg.contains(&addr) && msg.contains("a/b") && msg.contains("503") && msg.contains("busy"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_too_long_retry_after_is_not_waited_for() {
    let addr = serve(|_, _, _, _| (429, vec![("retry-after", "3600".into())], vec![])).await;
    let c = client(1_000);
    let r = Reference::parse(&format!("{addr}/a/b:v1")).unwrap();
    let started = std::time::Instant::now();
    let e = c.get_manifest(&r).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        matches!(e.kind(), ErrorKind::RateLimited { retry_after: Some(d) } if d.as_secs() == 3600),
        "{e:?}"
    );
}

#[tokio::test]
async fn manifest_bytes_must_match_the_announced_and_the_asked_digest() {
    let wrong = Digest::sha256_of(b"other").to_string();
    let addr = serve(move |_, _, _, _| manifest_answer(MANIFEST, &wrong)).await;
    let c = client(0);
    let r = Reference::parse(&format!("{addr}/a/b:v1")).unwrap();
    let e = c.get_manifest(&r).await.unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::DigestMismatch { .. }),
        "{e:?}"
    );

    let addr = serve(|_, _, _, _| {
        (
            200,
            vec![("content-type", manifest::OCI_MANIFEST.into())],
            MANIFEST.to_vec(),
        )
    })
    .await;
    let asked = Digest::sha256_of(b"something else");
    let r = Reference::parse(&format!("{addr}/a/b@{asked}")).unwrap();
    let e = c.get_manifest(&r).await.unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::DigestMismatch { expected, .. } if *expected == asked),
        "{e:?}"
    );
    // Without any digest header, the digest is computed.
    let r = Reference::parse(&format!("{addr}/a/b:v1")).unwrap();
    assert_eq!(
        c.get_manifest(&r).await.unwrap().digest,
        Digest::sha256_of(MANIFEST)
    );
}

#[tokio::test]
async fn head_manifest_reads_headers_and_none_on_404() {
    let digest = Digest::sha256_of(MANIFEST).to_string();
    let addr = serve(move |m, path, _, _| {
        assert_eq!(m, Method::HEAD);
        if path.ends_with("/missing") {
            return (404, vec![], vec![]);
        }
        let mut a = manifest_answer(MANIFEST, &digest);
        a.1.push(("content-length", MANIFEST.len().to_string()));
        (200, a.1, vec![])
    })
    .await;
    let c = client(0);
    let head = c
        .head_manifest(&Reference::parse(&format!("{addr}/a/b:v1")).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.digest, Digest::sha256_of(MANIFEST));
    assert_eq!(head.media_type, manifest::OCI_MANIFEST);
    assert!(
        c.head_manifest(&Reference::parse(&format!("{addr}/a/b:missing")).unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

/// A registry with token auth: `/token` gives "good-token" for bob:pw (and an anonymous
/// token otherwise, which only works for `public/*`); `/v2/denied/*` is 403 for all.
async fn token_registry() -> (String, Arc<Mutex<Vec<String>>>) {
    let scopes = Arc::new(Mutex::new(Vec::new()));
    let seen = scopes.clone();
    let addr_cell: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
    let cell = addr_cell.clone();
    let addr = serve(move |method, path, headers, body| {
        let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        if method == Method::POST && path == "/token" {
            let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
            let ok = form.get("grant_type").map(String::as_str) == Some("refresh_token")
                && form.get("refresh_token").map(String::as_str) == Some("good-refresh")
                && form.get("scope").is_some_and(|s| s.contains("repository:"));
            return if ok {
                (200, vec![], br#"{"access_token":"good-token"}"#.to_vec())
            } else {
                (401, vec![], vec![])
            };
        }
        if path.starts_with("/token") {
            seen.lock().unwrap().push(path.to_string());
            return match auth.as_str() {
                // base64("bob:pw")
                "Basic Ym9iOnB3" => (200, vec![], br#"{"token":"good-token","expires_in":300}"#.to_vec()),
                "" => (200, vec![], br#"{"access_token":"anon-token"}"#.to_vec()),
                _ => (401, vec![], br#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#.to_vec()),
            };
        }
        let challenge = format!(
            r#"Bearer realm="http://{}/token",service="test,registry",scope="repository:x:pull""#,
            cell.lock().unwrap()
        );
        let ok = auth == "Bearer good-token" || (auth == "Bearer anon-token" && path.starts_with("/v2/public/"));
        if !ok {
            return (401, vec![("www-authenticate", challenge)], br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#.to_vec());
        }
        if path.starts_with("/v2/scoped/") {
            let c = format!(r#"Bearer realm="http://{}/token",service="s",error="insufficient_scope""#, cell.lock().unwrap());
            return (401, vec![("www-authenticate", c)], vec![]);
        }
        if path.starts_with("/v2/denied/") {
            return (403, vec![], br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#.to_vec());
        }
        (200, vec![("content-type", "application/json".into())], br#"{"name":"x","tags":["1"]}"#.to_vec())
    })
    .await;
    *addr_cell.lock().unwrap() = addr.clone();
    (addr, scopes)
}

fn with_creds(addr: &str, user: &str, pass: &str) -> ClientConfig {
    with_credentials(addr, Credentials::new(user, pass))
}

fn with_credentials(addr: &str, credentials: Credentials) -> ClientConfig {
    let mut config = ClientConfig::default();
    config.registries.insert(
        addr.to_string(),
        RegistrySettings {
            credentials: Some(credentials),
            ..Default::default()
        },
    );
    config
}

#[tokio::test]
async fn bearer_flow_caches_tokens_per_scope() {
    let (addr, token_calls) = token_registry().await;
    let c = client_with(0, with_creds(&addr, "bob", "pw"));
    for _ in 0..3 {
        assert_eq!(c.list_tags(&addr, "team/app").await.unwrap().tags, ["1"]);
    }
    let calls = token_calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].contains("service=test%2Cregistry"), "{calls:?}");
    assert!(
        calls[0].contains("scope=repository%3Ateam%2Fapp%3Apull"),
        "{calls:?}"
    );
    // One 401 to learn the challenge, then only authorised requests; the one token
    // request counts under the registry too.
    assert_eq!(count(&c, &addr, "GET", "401"), 1);
    assert_eq!(count(&c, &addr, "GET", "200"), 3 + 1);
}

#[tokio::test]
async fn wrong_credentials_missing_credentials_and_missing_permission_differ() {
    let (addr, _) = token_registry().await;
    let wrong = client_with(0, with_creds(&addr, "bob", "nope"));
    let e = wrong.list_tags(&addr, "team/app").await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Unauthorized {
                with_credentials: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("rejected the credentials"), "{e}");
    assert!(!e.to_string().contains("nope"));

    let anonymous = client(0);
    assert_eq!(
        anonymous.list_tags(&addr, "public/app").await.unwrap().tags,
        ["1"]
    );
    let e = anonymous.list_tags(&addr, "team/app").await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Unauthorized {
                with_credentials: false,
                ..
            }
        ),
        "{e:?}"
    );

    let good = client_with(0, with_creds(&addr, "bob", "pw"));
    let e = good.list_tags(&addr, "denied/app").await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Forbidden { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("DENIED: requested access to the resource is denied"),
        "{e}"
    );
    assert!(e.to_string().contains("lack permission"), "{e}");

    // Distribution answers a token without the rights asked for with 401
    // insufficient_scope: that is a permission problem too.
    let e = good.list_tags(&addr, "scoped/app").await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Forbidden { .. }), "{e:?}");
    assert!(e.to_string().contains("repository:scoped/app:pull"), "{e}");
}

#[tokio::test]
async fn identity_tokens_use_the_refresh_token_grant() {
    let (addr, token_calls) = token_registry().await;
    let c = client_with(
        0,
        with_credentials(&addr, Credentials::identity_token("good-refresh")),
    );
    assert_eq!(c.list_tags(&addr, "team/app").await.unwrap().tags, ["1"]);
    // The refresh token never went into a URL.
    assert!(
        token_calls
            .lock()
            .unwrap()
            .iter()
            .all(|u| !u.contains("good-refresh"))
    );
    let bad = client_with(
        0,
        with_credentials(&addr, Credentials::identity_token("stale")),
    );
    let e = bad.list_tags(&addr, "team/app").await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Unauthorized {
                with_credentials: true,
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn basic_auth_challenge() {
    let addr =
        serve(
            |_, _, headers, _| match headers.get("authorization").map(|v| v.to_str().unwrap()) {
                Some("Basic Ym9iOnB3") => {
                    (200, vec![], br#"{"name":"x","tags":["a","b"]}"#.to_vec())
                }
                _ => (
                    401,
                    vec![("www-authenticate", r#"Basic realm="Registry Realm""#.into())],
                    vec![],
                ),
            },
        )
        .await;
    let c = client_with(0, with_creds(&addr, "bob", "pw"));
    assert_eq!(c.list_tags(&addr, "x").await.unwrap().tags, ["a", "b"]);
    let wrong = client_with(0, with_creds(&addr, "bob", "bad"));
    let e = wrong.list_tags(&addr, "x").await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Unauthorized {
                with_credentials: true,
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn tag_pages_follow_relative_and_absolute_links() {
    let cell: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
    let me = cell.clone();
    let addr = serve(move |_, path, _, _| match path {
        "/v2/a/tags/list" => (200, vec![("link", r#"</v2/a/tags/list?last=2&n=2>; rel="next""#.into())], br#"{"name":"a","tags":["1","2"]}"#.to_vec()),
        "/v2/a/tags/list?last=2&n=2" => (
            200,
            vec![("link", format!(r#"<http://{}/v2/a/tags/list?last=4&n=2>; rel="next""#, me.lock().unwrap()))],
            br#"{"name":"a","tags":["3","4"]}"#.to_vec(),
        ),
        "/v2/a/tags/list?last=4&n=2" => (200, vec![], br#"{"name":"a","tags":["5"]}"#.to_vec()),
        "/v2/loop/tags/list" => (200, vec![("link", r#"</v2/loop/tags/list>; rel="next""#.into())], br#"{"tags":[]}"#.to_vec()),
        _ => (404, vec![], br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#.to_vec()),
    })
    .await;
    *cell.lock().unwrap() = addr.clone();
    let c = client(0);
    assert_eq!(
        c.list_tags(&addr, "a").await.unwrap().tags,
        ["1", "2", "3", "4", "5"]
    );
    assert!(c.list_tags(&addr, "loop").await.is_err());
    let e = c.list_tags(&addr, "none").await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
}

#[tokio::test]
async fn next_links_in_several_headers_without_brackets_and_never_off_host() {
    let addr = serve(move |_, path, _, _| match path {
        // The `next` link comes in a second Link header, without angle brackets.
        "/v2/a/tags/list" => (
            200,
            vec![
                ("link", r#"</v2/a/tags/list?first>; rel="first""#.into()),
                ("link", r#"/v2/a/tags/list?last=1&n=1; rel="next""#.into()),
            ],
            br#"{"name":"a","tags":["1"]}"#.to_vec(),
        ),
        "/v2/a/tags/list?last=1&n=1" => (200, vec![], br#"{"name":"a","tags":["2"]}"#.to_vec()),
        // Another host (a port nothing listens on): never followed.
        "/v2/off/tags/list" => (
            200,
            vec![(
                "link",
                r#"<http://127.0.0.2:9/v2/off/tags/list?n=1>; rel="next""#.into(),
            )],
            br#"{"name":"off","tags":["1"]}"#.to_vec(),
        ),
        _ => (404, vec![], Vec::new()),
    })
    .await;
    let c = client(0);
    assert_eq!(c.list_tags(&addr, "a").await.unwrap().tags, ["1", "2"]);
    let e = c.list_tags(&addr, "off").await.unwrap_err();
    assert!(e.to_string().contains("another host (127.0.0.2:9)"), "{e}");
    let e = c
        .get_api(
            &addr,
            "off",
            "http://127.0.0.2:9/acr/v1/off/_tags",
            "metadata_read",
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("another host"), "{e}");
}

#[tokio::test]
async fn connection_failures_count_as_error_and_name_the_registry() {
    // Bind then drop, so the port is (very likely) closed.
    let addr = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().to_string()
    };
    let c = client(50);
    let e = c
        .blob_exists(&addr, "a/b", &Digest::sha256_of(b""))
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains(&addr));
    assert!(count(&c, &addr, "HEAD", "error") >= 1);
}

#[tokio::test]
async fn blob_streams_verify_at_the_end() {
    let good = Bytes::from_static(b"layer-content");
    let addr = serve(|_, path, _, _| {
        if path.contains("blobs/") {
            (200, vec![], b"layer-content".to_vec())
        } else {
            (404, vec![], vec![])
        }
    })
    .await;
    let c = client(0);
    let digest = Digest::sha256_of(&good);
    let mut s = c.get_blob(&addr, "a", &digest).await.unwrap();
    assert_eq!(s.size(), Some(good.len() as u64));
    let mut got = Vec::new();
    while let Some(chunk) = s.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got, good);

    let wrong = Digest::sha256_of(b"expected");
    let items: Vec<_> = c
        .get_blob(&addr, "a", &wrong)
        .await
        .unwrap()
        .collect()
        .await;
    let last = items.last().unwrap().as_ref().unwrap_err();
    assert!(
        matches!(last.kind(), ErrorKind::DigestMismatch { .. }),
        "{last:?}"
    );
}

/// A fake upload endpoint that assembles PATCH chunks and checks the closing PUT.
#[derive(Default)]
struct Uploads {
    data: HashMap<String, Vec<u8>>,
    blobs: HashMap<String, Vec<u8>>,
    patches: usize,
    /// Statuses to answer the next PATCHes with, after taking half of the chunk.
    fail_patches: Vec<u16>,
    /// How long a PATCH takes (the handler sleeps, outside the lock).
    patch_delay: Duration,
    /// PATCHes being handled now.
    patches_in_flight: usize,
    /// Blobs served at `GET /v2/src/blobs/<digest>`, keyed by digest.
    source: HashMap<String, Vec<u8>>,
}

async fn upload_registry() -> (String, Arc<Mutex<Uploads>>) {
    let state = Arc::new(Mutex::new(Uploads::default()));
    let s = state.clone();
    let addr = serve(move |m, path, headers, body| {
        let mut st = s.lock().unwrap();
        let (p, query) = path.split_once('?').unwrap_or((path, ""));
        let q: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        match (m.as_str(), p) {
            ("POST", "/v2/dst/blobs/uploads/") => {
                if let Some(d) = q.get("mount") {
                    assert_eq!(q.get("from").map(String::as_str), Some("src"));
                    if st.blobs.contains_key(d) {
                        return (201, vec![], vec![]);
                    }
                }
                let id = format!("u{}", st.data.len());
                st.data.insert(id.clone(), Vec::new());
                (
                    202,
                    vec![("location", format!("/v2/dst/blobs/uploads/{id}?_state=x"))],
                    vec![],
                )
            }
            ("GET", p) if p.starts_with("/v2/src/blobs/") => {
                let d = p.rsplit('/').next().unwrap();
                match st.source.get(d) {
                    Some(b) => (200, vec![], b.clone()),
                    None => (404, vec![], vec![]),
                }
            }
            ("PATCH", p) => {
                let id = p.rsplit('/').next().unwrap().to_string();
                let delay = st.patch_delay;
                if !delay.is_zero() {
                    st.patches_in_flight += 1;
                    drop(st);
                    std::thread::sleep(delay);
                    st = s.lock().unwrap();
                    st.patches_in_flight -= 1;
                }
                if !st.fail_patches.is_empty() {
                    // Takes part of the chunk, then fails: a resent chunk would not fit.
                    let status = st.fail_patches.remove(0);
                    st.patches += 1;
                    let buf = st.data.get_mut(&id).unwrap();
                    buf.extend_from_slice(&body[..body.len() / 2]);
                    return (status, vec![], vec![]);
                }
                let buf = st.data.get_mut(&id).unwrap();
                let expected = format!("{}-{}", buf.len(), buf.len() + body.len() - 1);
                let range = headers["content-range"].to_str().unwrap().to_string();
                if range != expected {
                    return (
                        416,
                        vec![],
                        br#"{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"bad range"}]}"#
                            .to_vec(),
                    );
                }
                buf.extend_from_slice(body);
                st.patches += 1;
                (
                    202,
                    vec![("location", format!("/v2/dst/blobs/uploads/{id}?_state=y"))],
                    vec![],
                )
            }
            ("PUT", p) if p.starts_with("/v2/dst/blobs/uploads/") => {
                let id = p.rsplit('/').next().unwrap().to_string();
                let mut buf = st.data.remove(&id).unwrap();
                buf.extend_from_slice(body);
                let d = q["digest"].clone();
                assert_eq!(Digest::sha256_of(&buf).to_string(), d);
                st.blobs.insert(d.clone(), buf);
                (201, vec![("docker-content-digest", d)], vec![])
            }
            ("DELETE", _) => (204, vec![], vec![]),
            ("PUT", p) if p.starts_with("/v2/dst/manifests/") => {
                assert_eq!(headers["content-type"], manifest::OCI_MANIFEST);
                (
                    201,
                    vec![("docker-content-digest", Digest::sha256_of(body).to_string())],
                    vec![],
                )
            }
            _ => (404, vec![], vec![]),
        }
    })
    .await;
    (addr, state)
}

fn chunks(
    data: &'static [u8],
    size: usize,
) -> impl futures::Stream<Item = Result<Bytes, Error>> + Send {
    futures::stream::iter(
        data.chunks(size)
            .map(|c| Ok(Bytes::from_static(c)))
            .collect::<Vec<_>>(),
    )
}

#[tokio::test]
async fn uploads_monolithic_chunked_and_mounts() {
    let (addr, state) = upload_registry().await;
    let c = client_with(
        0,
        ClientConfig {
            upload_chunk_size: 10,
            ..ClientConfig::default()
        },
    );
    let small: &'static [u8] = b"0123456789";
    let d = Digest::sha256_of(small);
    c.put_blob(&addr, "dst", &d, 10, chunks(small, 3))
        .await
        .unwrap();
    assert_eq!(state.lock().unwrap().patches, 0);

    let big: &'static [u8] = b"abcdefghijklmnopqrstuvwxyz";
    let d = Digest::sha256_of(big);
    c.put_blob(&addr, "dst", &d, big.len() as u64, chunks(big, 7))
        .await
        .unwrap();
    assert_eq!(state.lock().unwrap().patches, 2);
    assert_eq!(state.lock().unwrap().blobs[&d.to_string()], big);

    // Content that does not match is never committed.
    let e = c
        .put_blob(&addr, "dst", &Digest::sha256_of(b"x"), 26, chunks(big, 7))
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::DigestMismatch { .. }),
        "{e:?}"
    );

    assert!(matches!(
        c.mount_blob(&addr, "dst", "src", &d).await.unwrap(),
        Mount::Mounted
    ));
    let other = Digest::sha256_of(b"zz");
    match c.mount_blob(&addr, "dst", "src", &other).await.unwrap() {
        Mount::NotMounted(session) => c
            .upload(session, &other, 2, chunks(b"zz", 1))
            .await
            .unwrap(),
        Mount::Mounted => panic!("mounted an unknown blob"),
    }
    assert!(state.lock().unwrap().blobs.contains_key(&other.to_string()));

    let r = Reference::parse(&format!("{addr}/dst:v1")).unwrap();
    let digest = c
        .put_manifest(&r, manifest::OCI_MANIFEST, Bytes::from_static(MANIFEST))
        .await
        .unwrap();
    assert_eq!(digest, Digest::sha256_of(MANIFEST));
}

#[tokio::test]
async fn platform_manifest_and_created_date() {
    let config = br#"{"architecture":"arm64","os":"linux","created":"2025-01-02T03:04:05Z"}"#;
    let config_digest = Digest::sha256_of(config);
    let image = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[]}}"#,
        manifest::OCI_MANIFEST,
        config.len()
    );
    let image_digest = Digest::sha256_of(image.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[
        {{"mediaType":"{}","digest":"{}","size":1,"platform":{{"os":"unknown","architecture":"unknown"}}}},
        {{"mediaType":"{}","digest":"{image_digest}","size":{},"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#,
        manifest::OCI_INDEX,
        manifest::OCI_MANIFEST,
        Digest::sha256_of(b"att"),
        manifest::OCI_MANIFEST,
        image.len()
    );
    let image_path = format!("/v2/a/manifests/{image_digest}");
    let config_path = format!("/v2/a/blobs/{config_digest}");
    let addr = serve(move |_, path, _, _| {
        if path == "/v2/a/manifests/latest" {
            (
                200,
                vec![("content-type", manifest::OCI_INDEX.into())],
                index.clone().into_bytes(),
            )
        } else if path == image_path {
            (
                200,
                vec![("content-type", manifest::OCI_MANIFEST.into())],
                image.clone().into_bytes(),
            )
        } else if path == config_path {
            (200, vec![], config.to_vec())
        } else {
            (404, vec![], vec![])
        }
    })
    .await;
    let c = client(0);
    let r = Reference::parse(&format!("{addr}/a")).unwrap();
    let arm = Platform::linux("arm64");
    assert_eq!(
        c.platform_manifest(&r, &arm).await.unwrap().digest,
        image_digest
    );
    let created = c.created(&r, &arm).await.unwrap().unwrap();
    assert_eq!(created.to_rfc3339(), "2025-01-02T03:04:05+00:00");
    let e = c
        .platform_manifest(&r, &Platform::default())
        .await
        .unwrap_err();
    assert!(
        e.is_not_found() && e.to_string().contains("linux/amd64"),
        "{e}"
    );
}

#[tokio::test]
async fn blob_redirects_to_storage_do_not_carry_credentials() {
    let storage = serve(|_, _, headers, _| {
        assert!(
            headers.get("authorization").is_none(),
            "credentials leaked to storage"
        );
        (200, vec![], b"stored".to_vec())
    })
    .await;
    let addr = serve(move |_, _, headers, _| match headers.get("authorization") {
        Some(_) => (
            307,
            vec![("location", format!("http://{storage}/bucket/x?sig=1"))],
            vec![],
        ),
        None => (
            401,
            vec![("www-authenticate", r#"Basic realm="r""#.into())],
            vec![],
        ),
    })
    .await;
    let c = client_with(0, with_creds(&addr, "bob", "pw"));
    let d = Digest::sha256_of(b"stored");
    let body = c
        .get_blob(&addr, "a", &d)
        .await
        .unwrap()
        .read_to_end(1024)
        .await
        .unwrap();
    assert_eq!(body.as_ref(), b"stored");
}

#[tokio::test]
async fn a_chunk_answered_with_an_error_is_not_resent_and_the_upload_restarts() {
    let (addr, state) = upload_registry().await;
    let c = client_with(
        2_000,
        ClientConfig {
            upload_chunk_size: 10,
            ..ClientConfig::default()
        },
    );
    let big: &'static [u8] = b"abcdefghijklmnopqrstuvwxyz";
    let d = Digest::sha256_of(big);
    state.lock().unwrap().fail_patches = vec![500];
    let e = c
        .put_blob(&addr, "dst", &d, big.len() as u64, chunks(big, 7))
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::UploadRestart { status: 500, .. }),
        "{e:?}"
    );
    assert!(e.is_transient());
    assert!(e.to_string().contains("must restart"), "{e}");
    // One PATCH only: the chunk was not sent again to a location that took half of it.
    assert_eq!(count(&c, &addr, "PATCH", "500"), 1);
    assert_eq!(count(&c, &addr, "PATCH", "202"), 0);
    assert!(!state.lock().unwrap().blobs.contains_key(&d.to_string()));
    // The caller restarts with a new session and stream, which works.
    c.put_blob(&addr, "dst", &d, big.len() as u64, chunks(big, 7))
        .await
        .unwrap();
    assert_eq!(state.lock().unwrap().blobs[&d.to_string()], big);
}

#[tokio::test]
async fn a_416_says_the_upload_must_restart() {
    let (addr, state) = upload_registry().await;
    let c = client_with(
        2_000,
        ClientConfig {
            upload_chunk_size: 10,
            ..ClientConfig::default()
        },
    );
    let session = c.start_upload(&addr, "dst").await.unwrap();
    // The registry holds bytes of this session that the client does not know of, as
    // after a chunk that was taken in part.
    state
        .lock()
        .unwrap()
        .data
        .values_mut()
        .for_each(|b| b.extend_from_slice(b"xx"));
    let big: &'static [u8] = b"abcdefghijklmnopqrstuvwxyz";
    let d = Digest::sha256_of(big);
    let e = c
        .upload(session, &d, big.len() as u64, chunks(big, 7))
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::UploadRestart { status: 416, .. }),
        "{e:?}"
    );
    assert!(e.is_transient());
    assert!(e.to_string().contains("BLOB_UPLOAD_INVALID"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_chunk_is_read_while_a_chunk_is_sent_and_at_most_two_are_held() {
    let (addr, state) = upload_registry().await;
    state.lock().unwrap().patch_delay = Duration::from_millis(100);
    const CHUNK: usize = 1000;
    const ITEM: usize = 100;
    let c = client_with(
        0,
        ClientConfig {
            upload_chunk_size: CHUNK,
            ..ClientConfig::default()
        },
    );
    let data: Vec<u8> = (0..5 * CHUNK + 321).map(|i| (i % 251) as u8).collect();
    let d = Digest::sha256_of(&data);
    // The second item of each chunk (the first is read ahead, to see whether more
    // follows) waits for the previous chunk's PATCH to be in flight: with the reading
    // pipelined that happens at once, without it never. Each item notes how far the
    // reading is ahead of what the registry has taken.
    let read_during_patch = Arc::new(Mutex::new(0usize));
    let max_ahead = Arc::new(Mutex::new(0usize));
    let items: Vec<Bytes> = data.chunks(ITEM).map(Bytes::copy_from_slice).collect();
    let (st, during, ahead) = (state.clone(), read_during_patch.clone(), max_ahead.clone());
    let mut read = 0usize;
    let mut index = 0usize;
    let body = futures::stream::iter(items).then(move |item| {
        read += item.len();
        index += 1;
        let gate = index > CHUNK / ITEM && index % (CHUNK / ITEM) == 2;
        let (st, during, ahead) = (st.clone(), during.clone(), ahead.clone());
        async move {
            if gate {
                // Yields rather than sleeps: the fake's PATCH blocks a worker thread,
                // which can hold up the runtime's timers meanwhile.
                let until = std::time::Instant::now() + Duration::from_secs(3);
                while std::time::Instant::now() < until {
                    if st.lock().unwrap().patches_in_flight > 0 {
                        *during.lock().unwrap() += 1;
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            }
            let st = st.lock().unwrap();
            let taken: usize = st.data.values().map(Vec::len).sum();
            let mut a = ahead.lock().unwrap();
            *a = (*a).max(read - taken);
            Ok::<_, Error>(item)
        }
    });
    c.put_blob(&addr, "dst", &d, data.len() as u64, body)
        .await
        .unwrap();
    let st = state.lock().unwrap();
    assert_eq!(st.blobs[&d.to_string()], data);
    assert_eq!(st.patches, 5);
    assert!(
        *read_during_patch.lock().unwrap() == 5,
        "the body was not read while PATCHes were in flight: {}",
        read_during_patch.lock().unwrap()
    );
    // A chunk in flight, the next one filling, and one item beyond it at most.
    let ahead = *max_ahead.lock().unwrap();
    assert!(ahead <= 2 * CHUNK + ITEM, "read {ahead} bytes ahead");
}

#[tokio::test]
async fn verified_blob_streams_upload_without_a_second_hash_and_still_fail_on_bad_content() {
    let (addr, state) = upload_registry().await;
    let c = client_with(
        0,
        ClientConfig {
            upload_chunk_size: 10,
            ..ClientConfig::default()
        },
    );
    let good: &'static [u8] = b"abcdefghijklmnopqrstuvwxyz";
    let d = Digest::sha256_of(good);
    let forged = Digest::sha256_of(b"something else");
    {
        let mut st = state.lock().unwrap();
        st.source.insert(d.to_string(), good.to_vec());
        st.source.insert(forged.to_string(), good.to_vec());
    }
    let counted = Arc::new(Mutex::new(0usize));
    let seen = counted.clone();
    let stream = c
        .get_blob(&addr, "src", &d)
        .await
        .unwrap()
        .on_chunk(move |b| *seen.lock().unwrap() += b.len());
    let session = c.start_upload(&addr, "dst").await.unwrap();
    // Runs in a task of its own, as a copy does.
    let task = {
        let c = c.clone();
        tokio::spawn(async move { c.upload_verified(session, good.len() as u64, stream).await })
    };
    task.await.unwrap().unwrap();
    assert_eq!(state.lock().unwrap().blobs[&d.to_string()], good);
    assert_eq!(*counted.lock().unwrap(), good.len());

    // Content that does not match its digest ends the stream with an error: the upload
    // is abandoned before its closing PUT.
    let stream = c.get_blob(&addr, "src", &forged).await.unwrap();
    let session = c.start_upload(&addr, "dst").await.unwrap();
    let e = c
        .upload_verified(session, good.len() as u64, stream)
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::DigestMismatch { .. }),
        "{e:?}"
    );
    assert!(
        !state
            .lock()
            .unwrap()
            .blobs
            .contains_key(&forged.to_string())
    );
    assert_eq!(count(&c, &addr, "PUT", "201"), 1);
}

/// A registry whose challenge points at a token endpoint that answers `status`.
async fn failing_token_registry(status: u16, body: &'static [u8]) -> String {
    let addr_cell: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
    let cell = addr_cell.clone();
    let addr = serve(move |_, path, _, _| {
        if path.starts_with("/token") {
            return (status, vec![], body.to_vec());
        }
        let challenge = format!(
            r#"Bearer realm="http://{}/token",service="svc""#,
            cell.lock().unwrap()
        );
        (401, vec![("www-authenticate", challenge)], vec![])
    })
    .await;
    *addr_cell.lock().unwrap() = addr.clone();
    addr
}

#[tokio::test]
async fn token_endpoint_errors_name_the_token_endpoint() {
    let addr = failing_token_registry(404, b"no such page").await;
    let c = client(50);
    let e = c
        .get_manifest(&Reference::parse(&format!("{addr}/a/b:latest")).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::TokenEndpoint { status: 404, .. }),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "the token endpoint {addr} answered HTTP 404 Not Found (no such page)"
        )),
        "{text}"
    );
    assert!(!text.contains("manifest latest"), "{text}");

    let addr = failing_token_registry(503, b"").await;
    let e = c
        .get_manifest(&Reference::parse(&format!("{addr}/a/b:latest")).unwrap())
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("the token endpoint {addr} answered HTTP 503")),
        "{e}"
    );
    assert!(e.attempts() > 1, "{e:?}");
}
