//! A loopback reverse proxy in front of a registry, with programmable faults.
//!
//! Requests are forwarded with their headers (except hop-by-hop ones and `Host`) and streamed bodies;
//! responses come back streamed, with absolute `Location` URLs that point at the backend rewritten
//! to the proxy. `WWW-Authenticate` passes through untouched (the token realm stays direct).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::net::{self, Background, BoxError, RespBody};

/// What a [`Fault`] does to a matching request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer 429 with `Retry-After: <retry_after>` (seconds), without forwarding.
    TooManyRequests {
        /// `Retry-After` value, seconds.
        retry_after: u64,
    },
    /// Answer this status (e.g. 500, 502, 503) without forwarding.
    Status(u16),
    /// Close the connection without any response, without forwarding.
    DropConnection,
    /// Forward, then flip bytes of the response body (same length, same headers). Meant for blob
    /// GETs; empty bodies pass unchanged.
    CorruptBody,
    /// Forward, and add this header to the response.
    AddHeader {
        /// Header name.
        name: String,
        /// Header value.
        value: String,
    },
    /// Wait this long, then forward.
    Delay(Duration),
    /// Forward, then send the response body `bytes` at a time with a pause of `every`
    /// before each piece (headers unchanged): a link that has all but died.
    Trickle {
        /// Bytes per piece.
        bytes: usize,
        /// The pause before each piece.
        every: Duration,
    },
    /// Forward `GET .../tags/list`, then page the answer as the distribution spec says (docker-registry
    /// 2.8 ignores `n` and `last` and returns every tag, unsorted): tags sorted, those after `last`,
    /// at most `n` (or `default_page_size` when the request has no `n`; all when neither), and a
    /// `Link: </v2/<repo>/tags/list?last=<last tag>&n=<n>>; rel="next"` header when more remain.
    PaginateTags {
        /// Page size when the request has no `n`.
        default_page_size: Option<usize>,
    },
    /// Forward `GET .../tags/list`, then add the `manifest` map that Google Artifact Registry
    /// and GCR send (`{"<digest>": {"tag": [...], "mediaType", "timeCreatedMs",
    /// "timeUploadedMs", "imageSizeBytes"}}`), built by HEADing every tag at the backend: a
    /// stand-in for Google's registries, whose tag lists tell every tag's digest in one request.
    /// The times are `created_ms`, the same for every manifest.
    GoogleTagsMap {
        /// `timeCreatedMs` and `timeUploadedMs` of every entry.
        created_ms: u64,
    },
}

/// A fault: what to do, to which requests (method and path substring), how many times.
#[derive(Clone, Debug)]
pub struct Fault {
    /// The fault.
    pub kind: FaultKind,
    /// Method to match (case-insensitive); `None`: any.
    pub method: Option<String>,
    /// Substring of the request path and query to match; empty: any.
    pub path_contains: String,
    /// How many matching requests it applies to; `None`: all of them.
    pub times: Option<usize>,
}

impl Fault {
    /// A fault for every request, every time; narrow it with [`Fault::method`], [`Fault::path`] and
    /// [`Fault::times`].
    pub fn new(kind: FaultKind) -> Fault {
        Fault {
            kind,
            method: None,
            path_contains: String::new(),
            times: None,
        }
    }

    /// 429 with `Retry-After: retry_after` for the first `times` matching requests.
    pub fn too_many_requests(retry_after: u64, times: usize) -> Fault {
        Fault::new(FaultKind::TooManyRequests { retry_after }).times(times)
    }

    /// This status for the first `times` matching requests.
    pub fn status(status: u16, times: usize) -> Fault {
        Fault::new(FaultKind::Status(status)).times(times)
    }

    /// Drops the connection for the first `times` matching requests.
    pub fn drop_connection(times: usize) -> Fault {
        Fault::new(FaultKind::DropConnection).times(times)
    }

    /// Corrupts the body of the first `times` matching responses (defaults to `GET` of `/blobs/`).
    pub fn corrupt_blob(times: usize) -> Fault {
        Fault::new(FaultKind::CorruptBody)
            .method("GET")
            .path("/blobs/")
            .times(times)
    }

    /// Pages every `tags/list` answer (see [`FaultKind::PaginateTags`]).
    pub fn paginate_tags(default_page_size: Option<usize>) -> Fault {
        Fault::new(FaultKind::PaginateTags { default_page_size })
            .method("GET")
            .path("/tags/list")
    }

    /// Adds Google's per-digest `manifest` map to `tags/list` answers (see
    /// [`FaultKind::GoogleTagsMap`]).
    pub fn google_tags_map(created_ms: u64) -> Fault {
        Fault::new(FaultKind::GoogleTagsMap { created_ms })
            .method("GET")
            .path("/tags/list")
    }

    /// Trickles the body of every matching `GET` of `/blobs/` (see [`FaultKind::Trickle`]).
    pub fn trickle_blobs(bytes: usize, every: Duration) -> Fault {
        Fault::new(FaultKind::Trickle { bytes, every })
            .method("GET")
            .path("/blobs/")
    }

    /// Adds a header to every matching response.
    pub fn add_header(name: &str, value: &str) -> Fault {
        Fault::new(FaultKind::AddHeader {
            name: name.into(),
            value: value.into(),
        })
    }

    /// Only requests with this method.
    pub fn method(mut self, method: &str) -> Fault {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only requests whose path (with query) contains `needle`.
    pub fn path(mut self, needle: &str) -> Fault {
        self.path_contains = needle.into();
        self
    }

    /// Only the first `n` matching requests.
    pub fn times(mut self, n: usize) -> Fault {
        self.times = Some(n);
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.times != Some(0)
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.contains(&self.path_contains)
    }
}

/// A request the proxy saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenRequest {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Status sent to the client; 0 when the connection was dropped or the backend failed.
    pub status: u16,
    /// The fault applied that changed the answer (`TooManyRequests`, `Status`, `DropConnection`,
    /// `CorruptBody`, `Delay`); header additions are not listed.
    pub fault: Option<FaultKind>,
}

struct State {
    backend: String,
    public: String,
    client: reqwest::Client,
    faults: Mutex<Vec<Fault>>,
    seen: Mutex<Vec<SeenRequest>>,
}

/// The reverse proxy. Stops when dropped.
pub struct FaultProxy {
    state: Arc<State>,
    addr: SocketAddr,
    _server: Background,
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

impl FaultProxy {
    /// Starts a proxy to `backend_base_url` (e.g. [`crate::Registry::base_url`]). For an HTTPS
    /// backend use [`FaultProxy::start_with_ca`]. The proxy itself serves plain HTTP on 127.0.0.1.
    pub async fn start(backend_base_url: &str) -> FaultProxy {
        FaultProxy::start_with_ca(backend_base_url, None).await
    }

    /// Starts a proxy to an HTTPS backend whose CA is `ca_pem`.
    pub async fn start_with_ca(backend_base_url: &str, ca_pem: Option<&str>) -> FaultProxy {
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = ca_pem {
            builder =
                builder
                    .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes())
                        .expect("parse the backend CA")]);
        }
        let client = builder.build().expect("proxy client");
        let (listener, addr) = net::bind_loopback();
        let state = Arc::new(State {
            backend: backend_base_url.trim_end_matches('/').to_string(),
            public: format!("http://{addr}"),
            client,
            faults: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
        });
        let handler_state = state.clone();
        let server = Background::spawn("testkit-fault-proxy", listener, move |l| {
            net::serve_http1(l, move |req| {
                let state = handler_state.clone();
                async move { state.handle(req).await }
            })
        });
        FaultProxy {
            state,
            addr,
            _server: server,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.state.public.clone()
    }

    /// Adds a fault. Faults are tried in the order added; the first matching one that changes the
    /// answer applies (and counts down), every matching `AddHeader` applies too.
    pub fn add(&self, fault: Fault) {
        self.state.faults.lock().expect("faults").push(fault);
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.state.faults.lock().expect("faults").clear();
    }

    /// Every request seen, in order.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.state.seen.lock().expect("seen").clone()
    }

    /// Counts seen requests with this method (case-insensitive) whose path contains `needle`.
    pub fn count(&self, method: &str, needle: &str) -> usize {
        self.seen()
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.contains(needle))
            .count()
    }
}

impl State {
    fn record(&self, method: &str, path: &str, status: u16, fault: Option<FaultKind>) {
        self.seen.lock().expect("seen").push(SeenRequest {
            method: method.into(),
            path: path.into(),
            status,
            fault,
        });
    }

    /// The fault that changes the answer (counted down), and the headers to add.
    fn pick(&self, method: &str, path: &str) -> (Option<FaultKind>, Vec<(String, String)>) {
        let mut faults = self.faults.lock().expect("faults");
        let mut chosen = None;
        let mut headers = Vec::new();
        for f in faults.iter_mut() {
            if !f.matches(method, path) {
                continue;
            }
            match &f.kind {
                FaultKind::AddHeader { name, value } => {
                    headers.push((name.clone(), value.clone()));
                }
                kind if chosen.is_none() => {
                    chosen = Some(kind.clone());
                }
                _ => continue,
            }
            if let Some(n) = f.times.as_mut() {
                *n -= 1;
            }
        }
        (chosen, headers)
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<RespBody>, BoxError> {
        let method = req.method().as_str().to_string();
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let (fault, add_headers) = self.pick(&method, &path);
        let with_headers = |mut resp: Response<RespBody>| {
            for (n, v) in &add_headers {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::try_from(n.as_str()),
                    HeaderValue::try_from(v.as_str()),
                ) {
                    resp.headers_mut().append(n, v);
                }
            }
            resp
        };
        match &fault {
            Some(FaultKind::TooManyRequests { retry_after }) => {
                self.record(&method, &path, 429, fault.clone());
                let mut resp = Response::new(net::full(
                    r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"injected by acr-sync-testkit"}]}"#,
                ));
                *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                resp.headers_mut()
                    .insert("retry-after", HeaderValue::from(*retry_after));
                resp.headers_mut()
                    .insert("content-type", HeaderValue::from_static("application/json"));
                return Ok(with_headers(resp));
            }
            Some(FaultKind::Status(code)) => {
                self.record(&method, &path, *code, fault.clone());
                let mut resp = Response::new(net::full(
                    r#"{"errors":[{"code":"UNKNOWN","message":"injected by acr-sync-testkit"}]}"#,
                ));
                *resp.status_mut() =
                    StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                resp.headers_mut()
                    .insert("content-type", HeaderValue::from_static("application/json"));
                return Ok(with_headers(resp));
            }
            Some(FaultKind::DropConnection) => {
                self.record(&method, &path, 0, fault.clone());
                return Err("connection dropped by acr-sync-testkit".into());
            }
            Some(FaultKind::Delay(d)) => tokio::time::sleep(*d).await,
            _ => {}
        }

        // Forward.
        let url = format!("{}{}", self.backend, path);
        let (parts, body) = req.into_parts();
        let mut fwd = self.client.request(parts.method.clone(), &url);
        for (name, value) in parts.headers.iter() {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                fwd = fwd.header(name, value);
            }
        }
        if !hyper::body::Body::is_end_stream(&body) {
            let body_stream = body
                .into_data_stream()
                .map_err(|e| -> BoxError { Box::new(e) });
            fwd = fwd.body(reqwest::Body::wrap_stream(body_stream));
        }
        let upstream = match fwd.send().await {
            Ok(r) => r,
            Err(e) => {
                self.record(&method, &path, 502, fault.clone());
                let mut resp =
                    Response::new(net::full(format!("testkit proxy: backend error: {e}")));
                *resp.status_mut() = StatusCode::BAD_GATEWAY;
                return Ok(resp);
            }
        };
        let status = upstream.status();
        if let (Some(FaultKind::PaginateTags { default_page_size }), true) =
            (&fault, status == reqwest::StatusCode::OK)
        {
            let body = upstream.bytes().await?;
            let resp = paginate_tags(&path, &body, *default_page_size)?;
            self.record(&method, &path, 200, fault.clone());
            return Ok(with_headers(resp));
        }
        if let (Some(FaultKind::GoogleTagsMap { created_ms }), true) =
            (&fault, status == reqwest::StatusCode::OK)
        {
            let body = upstream.bytes().await?;
            let resp = self.google_tags_map(&body, *created_ms).await?;
            self.record(&method, &path, 200, fault.clone());
            return Ok(with_headers(resp));
        }
        let mut resp = Response::builder().status(status.as_u16());
        for (name, value) in upstream.headers() {
            if HOP_BY_HOP.contains(&name.as_str()) {
                continue;
            }
            if name == hyper::header::LOCATION {
                if let Ok(loc) = value.to_str() {
                    if let Some(rest) = loc.strip_prefix(&self.backend) {
                        resp = resp.header(name, format!("{}{}", self.public, rest));
                        continue;
                    }
                }
            }
            resp = resp.header(name, value);
        }
        self.record(&method, &path, status.as_u16(), fault.clone());
        let body: RespBody = if let Some(FaultKind::Trickle { bytes, every }) = fault {
            trickle(upstream, bytes.max(1), every)
        } else if fault == Some(FaultKind::CorruptBody) {
            let mut bytes = upstream.bytes().await?.to_vec();
            if !bytes.is_empty() {
                let n = bytes.len();
                let mut positions = vec![0, n / 2, n - 1];
                positions.dedup();
                for i in positions {
                    bytes[i] ^= 0xFF;
                }
            }
            net::full(bytes)
        } else {
            let stream = upstream
                .bytes_stream()
                .map_ok(Frame::data)
                .map_err(|e| -> BoxError { Box::new(e) });
            BodyExt::boxed(StreamBody::new(stream))
        };
        let resp = resp.body(body)?;
        Ok(with_headers(resp))
    }
}

/// The upstream body re-cut into `bytes`-sized pieces, each sent after a pause.
fn trickle(upstream: reqwest::Response, bytes: usize, every: Duration) -> RespBody {
    let pieces = upstream
        .bytes_stream()
        .map_err(|e| -> BoxError { Box::new(e) })
        .map_ok(move |chunk: bytes::Bytes| {
            let parts: Vec<Result<bytes::Bytes, BoxError>> = (0..chunk.len())
                .step_by(bytes)
                .map(|i| Ok(chunk.slice(i..(i + bytes).min(chunk.len()))))
                .collect();
            futures::stream::iter(parts)
        })
        .try_flatten()
        .and_then(move |piece| async move {
            tokio::time::sleep(every).await;
            Ok(Frame::data(piece))
        });
    BodyExt::boxed(StreamBody::new(pieces))
}

impl State {
    /// A full `tags/list` answer with Google's digest map added.
    async fn google_tags_map(
        &self,
        body: &[u8],
        created_ms: u64,
    ) -> Result<Response<RespBody>, BoxError> {
        let mut full: serde_json::Value = serde_json::from_slice(body)?;
        let name = full["name"].as_str().unwrap_or_default().to_string();
        let tags: Vec<String> = full["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut map = serde_json::Map::new();
        for tag in tags {
            let url = format!("{}/v2/{name}/manifests/{tag}", self.backend);
            let head = self
                .client
                .head(&url)
                .header("accept", crate::push::MANIFEST_ACCEPT)
                .send()
                .await?;
            let header = |h: &str| {
                head.headers()
                    .get(h)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string()
            };
            let digest = header("docker-content-digest");
            let entry = map.entry(digest).or_insert_with(|| {
                serde_json::json!({
                    "imageSizeBytes": "0",
                    "mediaType": header("content-type"),
                    "tag": [],
                    "timeCreatedMs": created_ms.to_string(),
                    "timeUploadedMs": created_ms.to_string(),
                })
            });
            if let Some(list) = entry["tag"].as_array_mut() {
                list.push(serde_json::Value::String(tag));
            }
        }
        full["manifest"] = serde_json::Value::Object(map);
        Ok(Response::builder()
            .status(200)
            .header("content-type", "application/json; charset=utf-8")
            .body(net::full(full.to_string()))?)
    }
}

/// Builds one page of a full `tags/list` answer for `path_and_query`.
fn paginate_tags(
    path_and_query: &str,
    body: &[u8],
    default_page_size: Option<usize>,
) -> Result<Response<RespBody>, BoxError> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut n = None;
    let mut last = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "n" => n = v.parse::<usize>().ok(),
            "last" => last = Some(v.into_owned()),
            _ => {}
        }
    }
    let full: serde_json::Value = serde_json::from_slice(body)?;
    let mut tags: Vec<String> = full["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    if let Some(last) = &last {
        tags.retain(|t| t > last);
    }
    let page_size = n.or(default_page_size);
    let mut link = None;
    if let Some(size) = page_size {
        if tags.len() > size {
            tags.truncate(size);
            if let Some(last_in_page) = tags.last() {
                let q: String = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("last", last_in_page)
                    .append_pair("n", &size.to_string())
                    .finish();
                link = Some(format!("<{path}?{q}>; rel=\"next\""));
            }
        }
    }
    let page = serde_json::json!({"name": full["name"], "tags": tags});
    let mut builder = Response::builder()
        .status(200)
        .header("content-type", "application/json; charset=utf-8")
        .header("docker-distribution-api-version", "registry/2.0");
    if let Some(link) = link {
        builder = builder.header("link", link);
    }
    Ok(builder.body(net::full(page.to_string()))?)
}
