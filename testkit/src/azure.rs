//! A local stand-in for the Azure side of an ACR target, on one loopback port.
//!
//! It serves, following the documented shapes:
//! - **Entra ID**: `POST /{tenant}/oauth2/v2.0/token` (client credentials with a secret or a
//!   federated client assertion), IMDS `GET /metadata/identity/oauth2/token` (`Metadata: true`)
//!   and App Service `GET /msi/token` (`X-IDENTITY-HEADER`). Tokens are opaque random strings it
//!   remembers with their audience and expiry.
//! - **ARM**: `GET /subscriptions`, the registries of a subscription, and
//!   `POST .../registries/{name}/importImage`, a long-running operation (202, `Location`,
//!   optionally `Azure-AsyncOperation`, `Retry-After`) that *really copies* the source image into
//!   the registry behind it. Errors use ARM's `{"error":{"code","message"}}`; `NoForce` on an
//!   existing tag fails the operation (409 `Conflict`, "Tag r:t already exists in target
//!   registry.", as `az acr import` reports it) before anything is copied; over 50 manifests or a layer over
//!   2 GiB fails the operation, as ACR does; a source that answers 401 or 429 fails the operation
//!   with the source's status in the message.
//! - **ACR data plane**: `POST /oauth2/exchange` (Entra token for a refresh token),
//!   `POST /oauth2/token` (refresh token for an access token) and `GET /oauth2/token` with basic
//!   admin credentials, `GET /acr/v1/_catalog`, `/acr/v1/{repo}/_tags` and `/_manifests` (with `n`/`last` paging and
//!   `Link`), and `/v2/` proxied to a real token-auth `docker-registry`, whose challenges are
//!   rewritten to point at this server's `/oauth2/token` with the login server as `service`.
//!
//! The registry behind trusts the harness [`TokenServer`]; access tokens handed out here are minted
//! by it, so they work on `/v2/` unchanged.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::net::{self, Background, BoxError, RespBody, full};
use crate::process::{Registry, RegistryOptions};
use crate::push::MANIFEST_ACCEPT;
use crate::tokens::{TokenServer, TokenServerOptions};

/// ACR import limits the stand-in enforces, as ACR does.
const MAX_MANIFESTS: usize = 50;
const MAX_LAYER: u64 = 2 * 1024 * 1024 * 1024;

/// How the stand-in is set up. Every identity value is a test value, never a real one.
#[derive(Debug, Clone)]
pub struct AzureOptions {
    /// The tenant id.
    pub tenant_id: String,
    /// The service principal's client id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// A federated token accepted as `client_assertion` (workload identity).
    pub federated_token: String,
    /// The App Service `IDENTITY_HEADER` value.
    pub identity_header: String,
    /// The subscription holding the registry.
    pub subscription_id: String,
    /// Its resource group.
    pub resource_group: String,
    /// The registry resource name.
    pub registry_name: String,
    /// Life of Entra tokens, in seconds.
    pub token_lifetime: u64,
    /// `Retry-After` sent with 202 answers, in seconds.
    pub retry_after: u64,
    /// Whether 202 answers carry `Azure-AsyncOperation` as well as `Location`.
    pub async_operation: bool,
    /// How many polls answer "still running" before a finished copy is reported.
    pub polls_before_done: usize,
    /// The admin user (basic credentials on `/oauth2/token` and `/v2/`).
    pub admin: (String, String),
    /// Whether tokens carry `metadata_read` (false: a pull-only identity that may not use
    /// `/acr/v1/`, which then answers 401 `insufficient_scope`).
    pub grant_metadata_read: bool,
}

impl Default for AzureOptions {
    fn default() -> AzureOptions {
        AzureOptions {
            tenant_id: "72f988bf-0000-4000-8000-00000000test".into(),
            client_id: "11111111-2222-4333-8444-555555555555".into(),
            client_secret: "stand-in-client-secret-Qx7".into(),
            federated_token: "stand-in-federated-token-J9k".into(),
            identity_header: "stand-in-identity-header-P2m".into(),
            subscription_id: "00000000-1111-4222-8333-444444444444".into(),
            resource_group: "rg-acr-sync".into(),
            registry_name: "acrsynctest".into(),
            token_lifetime: 3599,
            retry_after: 1,
            async_operation: false,
            polls_before_done: 1,
            admin: ("acrsynctest".into(), "stand-in-admin-password-Z3w".into()),
            grant_metadata_read: true,
        }
    }
}

/// One request the stand-in answered (tokens and bodies are not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureRequest {
    /// The method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The status answered.
    pub status: u16,
}

#[derive(Debug, Clone)]
enum OpState {
    Running,
    Succeeded,
    Failed {
        status: u16,
        code: String,
        message: String,
    },
}

#[derive(Debug)]
struct Operation {
    state: OpState,
    polls: usize,
}

struct State {
    opts: AzureOptions,
    addr: SocketAddr,
    backend: String,
    tokens: TokenServer,
    http: reqwest::Client,
    /// Entra tokens: token -> (audience, expiry in unix seconds).
    entra: Mutex<HashMap<String, (String, u64)>>,
    refresh: Mutex<HashSet<String>>,
    /// ACR access tokens handed out, with the scopes they carry.
    access: Mutex<HashMap<String, Vec<String>>>,
    operations: Mutex<HashMap<String, Operation>>,
    /// When each `repo:tag` was first seen and last moved (RFC 3339).
    tag_times: Mutex<HashMap<(String, String), (String, String)>>,
    log: Mutex<Vec<AzureRequest>>,
    imports: AtomicUsize,
    import_forbidden: AtomicBool,
    next_id: AtomicUsize,
    /// Other registries ARM knows (another subscription's ACRs, for importImage by
    /// `resourceId`).
    foreign: Mutex<Vec<ForeignRegistry>>,
    /// The `source` and `mode` of every importImage request (credentials removed).
    import_bodies: Mutex<Vec<Value>>,
}

/// Another ACR resource ARM lists and importImage reads from by `resourceId`.
#[derive(Debug, Clone)]
struct ForeignRegistry {
    subscription_id: String,
    id: String,
    name: String,
    login_server: String,
    backend: String,
}

/// The Azure stand-in with the token-auth registry behind it. Stopped when dropped.
pub struct AzureStandIn {
    state: Arc<State>,
    registry: Registry,
    _server: Background,
}

impl AzureStandIn {
    /// Starts a token-auth `docker-registry` and the stand-in in front of it.
    pub async fn start(opts: AzureOptions) -> AzureStandIn {
        let registry = Registry::start(RegistryOptions::token(TokenServerOptions::new())).await;
        let tokens = registry
            .token_server()
            .expect("a token-auth registry has a token server")
            .clone();
        let (listener, addr) = net::bind_loopback();
        let state = Arc::new(State {
            opts,
            addr,
            backend: registry.base_url(),
            tokens,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("reqwest client"),
            entra: Mutex::default(),
            refresh: Mutex::default(),
            access: Mutex::default(),
            operations: Mutex::default(),
            tag_times: Mutex::default(),
            log: Mutex::default(),
            imports: AtomicUsize::new(0),
            import_forbidden: AtomicBool::new(false),
            next_id: AtomicUsize::new(1),
            foreign: Mutex::default(),
            import_bodies: Mutex::default(),
        });
        let handler_state = state.clone();
        let server = Background::spawn("testkit-azure", listener, move |l| {
            net::serve_http1(l, move |req| {
                let state = handler_state.clone();
                async move { Ok::<_, BoxError>(state.handle(req).await) }
            })
        });
        AzureStandIn {
            state,
            registry,
            _server: server,
        }
    }

    /// Makes ARM know `registry` (an anonymous harness registry) as the ACR `name` in
    /// `subscription_id`/`resource_group`: listed with its address as login server, and
    /// importImage with its `resourceId` copies from it. Returns the resource id.
    pub fn add_foreign_registry(
        &self,
        subscription_id: &str,
        resource_group: &str,
        name: &str,
        registry: &Registry,
    ) -> String {
        let id = format!(
            "/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/Microsoft.ContainerRegistry/registries/{name}"
        );
        self.state
            .foreign
            .lock()
            .expect("foreign")
            .push(ForeignRegistry {
                subscription_id: subscription_id.to_string(),
                id: id.clone(),
                name: name.to_string(),
                login_server: registry.host(),
                backend: registry.base_url(),
            });
        id
    }

    /// The `source` and `mode` of every importImage request so far, in order
    /// (`source.credentials` removed).
    pub fn import_requests(&self) -> Vec<Value> {
        self.state.import_bodies.lock().expect("bodies").clone()
    }

    /// The ACR login server: `127.0.0.1:PORT` (plain HTTP, as loopback registries are).
    pub fn login_server(&self) -> String {
        self.state.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.state.addr)
    }

    /// The value for `AZURE_AUTHORITY_HOST`.
    pub fn authority_host(&self) -> String {
        format!("{}/", self.base_url())
    }

    /// The ARM endpoint to configure.
    pub fn arm_endpoint(&self) -> String {
        format!("{}/", self.base_url())
    }

    /// The value for App Service's `IDENTITY_ENDPOINT`.
    pub fn identity_endpoint(&self) -> String {
        format!("{}/msi/token", self.base_url())
    }

    /// The options it runs with.
    pub fn options(&self) -> &AzureOptions {
        &self.state.opts
    }

    /// The registry behind it (push test content with its [`Registry::pusher`]).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The client-secret environment of the Azure SDKs for this stand-in.
    pub fn client_secret_env(&self) -> Vec<(String, String)> {
        let o = &self.state.opts;
        vec![
            ("AZURE_CLIENT_ID".into(), o.client_id.clone()),
            ("AZURE_TENANT_ID".into(), o.tenant_id.clone()),
            ("AZURE_CLIENT_SECRET".into(), o.client_secret.clone()),
            ("AZURE_AUTHORITY_HOST".into(), self.authority_host()),
        ]
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<AzureRequest> {
        self.state.log.lock().expect("log").clone()
    }

    /// How many requests had this method and a path containing `needle`.
    pub fn count(&self, method: &str, needle: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path.contains(needle))
            .count()
    }

    /// How many importImage operations were accepted (202), failed ones included.
    pub fn imports(&self) -> usize {
        self.state.imports.load(Ordering::SeqCst)
    }

    /// Makes importImage answer 403 `AuthorizationFailed` (the identity lacks the role).
    pub fn set_import_forbidden(&self, forbidden: bool) {
        self.state
            .import_forbidden
            .store(forbidden, Ordering::SeqCst);
    }

    /// Every secret it knows or handed out: the client secret, the federated token, the
    /// identity header, the admin password, and every Entra, refresh and access token. A test
    /// greps captured output for these.
    pub fn secrets(&self) -> Vec<String> {
        let s = &self.state;
        let mut out = vec![
            s.opts.client_secret.clone(),
            s.opts.federated_token.clone(),
            s.opts.identity_header.clone(),
            s.opts.admin.1.clone(),
        ];
        out.extend(s.entra.lock().expect("entra").keys().cloned());
        out.extend(s.refresh.lock().expect("refresh").iter().cloned());
        out.extend(s.access.lock().expect("access").keys().cloned());
        out
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_token(prefix: &str) -> String {
    use rand_like::next;
    format!("{prefix}-{:016x}{:016x}", next(), next())
}

/// A small non-cryptographic generator: test tokens only need to be unique and unguessable
/// enough not to collide with literals in test output.
mod rand_like {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    pub fn next() -> u64 {
        let mut seed = STATE.load(Ordering::Relaxed);
        if seed == 0 {
            seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1;
        }
        // splitmix64
        let next = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        STATE.store(next, Ordering::Relaxed);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn json_response(status: u16, body: &Value) -> Response<RespBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(full(body.to_string()))
        .expect("response")
}

fn arm_error(status: u16, code: &str, message: &str) -> Response<RespBody> {
    json_response(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn oci_error(status: u16, code: &str, message: &str) -> Response<RespBody> {
    json_response(
        status,
        &json!({"errors": [{"code": code, "message": message, "detail": null}]}),
    )
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn form_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn query_pairs(uri: &hyper::Uri) -> Vec<(String, String)> {
    form_pairs(uri.query().unwrap_or("").as_bytes())
}

fn bearer(headers: &hyper::HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .map(str::to_string)
}

fn basic(headers: &hyper::HeaderMap) -> Option<(String, String)> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let encoded = v.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// `https://management.azure.com/.default` and `https://management.azure.com` both name ARM.
fn audience(scope_or_resource: &str) -> String {
    let a = scope_or_resource
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches(".default")
        .trim_end_matches('/');
    format!("{a}/")
}

fn is_arm_audience(aud: &str) -> bool {
    [
        "https://management.azure.com/",
        "https://management.core.windows.net/",
        "https://management.chinacloudapi.cn/",
        "https://management.usgovcloudapi.net/",
    ]
    .contains(&aud)
}

impl State {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<RespBody> {
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let resp = self.route(req).await;
        self.log.lock().expect("log").push(AzureRequest {
            method,
            path,
            status: resp.status().as_u16(),
        });
        resp
    }

    async fn route(self: &Arc<Self>, req: Request<Incoming>) -> Response<RespBody> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let path = parts.uri.path().to_string();
        let method = parts.method.as_str();
        if path.starts_with("/v2/") || path == "/v2" {
            return self.proxy(&parts, body).await;
        }
        if path.starts_with("/acr/v1/") {
            return self.acr_listing(&parts).await;
        }
        match (method, path.as_str()) {
            ("POST", "/oauth2/exchange") => return self.exchange(&body),
            (_, "/oauth2/token") => return self.acr_token(&parts, &body),
            ("GET", "/metadata/identity/oauth2/token") => return self.imds(&parts, false),
            ("GET", "/msi/token") => return self.imds(&parts, true),
            _ => {}
        }
        if path.starts_with("/subscriptions") {
            return self.arm(&parts, &body).await;
        }
        if method == "POST" && path.ends_with("/oauth2/v2.0/token") {
            return self.entra_token(&path, &body);
        }
        arm_error(
            404,
            "NotFound",
            &format!("the stand-in has no {method} {path}"),
        )
    }

    // ---- Entra ID ----

    fn issue_entra(&self, aud: String) -> (String, u64) {
        let token = random_token("entra");
        let life = self.opts.token_lifetime;
        self.entra
            .lock()
            .expect("entra")
            .insert(token.clone(), (aud, now_secs() + life));
        (token, life)
    }

    fn entra_token(&self, path: &str, body: &[u8]) -> Response<RespBody> {
        let tenant = path.trim_start_matches('/').split('/').next().unwrap_or("");
        let f = form_pairs(body);
        let err = |status, code: &str, desc: &str| {
            json_response(
                status,
                &json!({"error": code, "error_description": desc, "error_codes": [], "trace_id": "t", "correlation_id": "c"}),
            )
        };
        if tenant != self.opts.tenant_id {
            return err(
                400,
                "invalid_request",
                &format!("AADSTS90002: Tenant '{tenant}' not found."),
            );
        }
        if form_get(&f, "grant_type") != Some("client_credentials") {
            return err(
                400,
                "unsupported_grant_type",
                "AADSTS70003: unsupported grant type",
            );
        }
        if form_get(&f, "client_id") != Some(self.opts.client_id.as_str()) {
            return err(
                400,
                "unauthorized_client",
                "AADSTS700016: Application not found in the directory.",
            );
        }
        let by_secret = form_get(&f, "client_secret") == Some(self.opts.client_secret.as_str());
        let by_assertion = form_get(&f, "client_assertion_type")
            == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            && form_get(&f, "client_assertion") == Some(self.opts.federated_token.as_str());
        if !by_secret && !by_assertion {
            return err(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided.",
            );
        }
        let Some(scope) = form_get(&f, "scope").filter(|s| s.ends_with("/.default")) else {
            return err(
                400,
                "invalid_scope",
                "AADSTS1002012: The provided value for scope is not valid.",
            );
        };
        let (token, life) = self.issue_entra(audience(scope));
        json_response(
            200,
            &json!({"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": token}),
        )
    }

    /// IMDS (`app_service` false) and App Service (true) managed identity.
    fn imds(&self, parts: &hyper::http::request::Parts, app_service: bool) -> Response<RespBody> {
        let q = query_pairs(&parts.uri);
        let ok = if app_service {
            parts
                .headers
                .get("x-identity-header")
                .and_then(|v| v.to_str().ok())
                == Some(self.opts.identity_header.as_str())
        } else {
            parts.headers.get("metadata").and_then(|v| v.to_str().ok()) == Some("true")
        };
        if !ok {
            return json_response(
                400,
                &json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}),
            );
        }
        let Some(resource) = form_get(&q, "resource") else {
            return json_response(
                400,
                &json!({"error": "invalid_request", "error_description": "Required query variable 'resource' is missing"}),
            );
        };
        let (token, life) = self.issue_entra(audience(resource));
        let expires_on = (now_secs() + life).to_string();
        let mut body = json!({"access_token": token, "expires_on": expires_on, "resource": resource,
            "token_type": "Bearer", "client_id": self.opts.client_id});
        if !app_service {
            body["expires_in"] = json!(life.to_string());
        }
        json_response(200, &body)
    }

    fn valid_entra(&self, token: &str) -> Option<String> {
        let map = self.entra.lock().expect("entra");
        let (aud, exp) = map.get(token)?;
        (now_secs() < *exp).then(|| aud.clone())
    }

    // ---- ACR data plane auth ----

    fn exchange(&self, body: &[u8]) -> Response<RespBody> {
        let f = form_pairs(body);
        if form_get(&f, "grant_type") != Some("access_token") {
            return oci_error(400, "UNSUPPORTED", "grant_type must be access_token");
        }
        if form_get(&f, "service") != Some(self.addr.to_string().as_str()) {
            return oci_error(400, "INVALID_SERVICE", "service is not this registry");
        }
        if let Some(t) = form_get(&f, "tenant") {
            if t != self.opts.tenant_id {
                return oci_error(401, "UNAUTHORIZED", "the tenant does not match");
            }
        }
        let ok = form_get(&f, "access_token")
            .and_then(|t| self.valid_entra(t))
            .is_some_and(|aud| is_arm_audience(&aud));
        if !ok {
            return oci_error(
                401,
                "UNAUTHORIZED",
                "the access token is invalid or expired",
            );
        }
        let token = random_token("acr-refresh");
        self.refresh.lock().expect("refresh").insert(token.clone());
        json_response(200, &json!({"refresh_token": token}))
    }

    fn acr_token(&self, parts: &hyper::http::request::Parts, body: &[u8]) -> Response<RespBody> {
        let (pairs, authorized) = if parts.method == hyper::Method::POST {
            let f = form_pairs(body);
            let ok = match form_get(&f, "grant_type") {
                Some("refresh_token") => form_get(&f, "refresh_token")
                    .is_some_and(|t| self.refresh.lock().expect("refresh").contains(t)),
                Some("password") => {
                    form_get(&f, "username") == Some(self.opts.admin.0.as_str())
                        && form_get(&f, "password") == Some(self.opts.admin.1.as_str())
                }
                _ => false,
            };
            (f, ok)
        } else {
            let ok = basic(&parts.headers).is_some_and(|(u, p)| {
                (u == self.opts.admin.0 && p == self.opts.admin.1)
                    || (u == "00000000-0000-0000-0000-000000000000"
                        && self.refresh.lock().expect("refresh").contains(&p))
            });
            (query_pairs(&parts.uri), ok)
        };
        if !authorized {
            return oci_error(401, "UNAUTHORIZED", "authentication required");
        }
        if form_get(&pairs, "service") != Some(self.addr.to_string().as_str()) {
            return oci_error(400, "INVALID_SERVICE", "service is not this registry");
        }
        let scopes: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
            .filter(|s| !s.is_empty())
            .map(|s| self.granted(s))
            .collect();
        let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let token = self.tokens.mint("acr-stand-in-user", &refs);
        self.access
            .lock()
            .expect("access")
            .insert(token.clone(), scopes);
        json_response(200, &json!({"access_token": token}))
    }

    /// A scope as granted: without `metadata_read` when the identity may not list.
    fn granted(&self, scope: String) -> String {
        if self.opts.grant_metadata_read {
            return scope;
        }
        match scope.rsplit_once(':') {
            Some((name, actions)) => {
                let kept: Vec<&str> = actions
                    .split(',')
                    .filter(|a| *a != "metadata_read")
                    .collect();
                format!("{name}:{}", kept.join(","))
            }
            None => scope,
        }
    }

    fn challenge(&self, scope: &str) -> String {
        format!(
            "Bearer realm=\"http://{}/oauth2/token\",service=\"{}\",scope=\"{scope}\"",
            self.addr, self.addr
        )
    }

    fn admin_token(&self, repo: &str) -> String {
        self.tokens.mint(
            "acr-stand-in",
            &[format!("repository:{repo}:pull,push,delete").as_str()],
        )
    }

    // ---- /v2/ proxy ----

    async fn proxy(&self, parts: &hyper::http::request::Parts, body: Bytes) -> Response<RespBody> {
        let path_q = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/v2/");
        let url = format!("{}{path_q}", self.backend);
        let mut b = self.http.request(parts.method.clone(), &url);
        for (name, value) in &parts.headers {
            if matches!(name.as_str(), "host" | "content-length" | "connection") {
                continue;
            }
            if name.as_str() == "authorization" {
                // Basic admin credentials become a token the registry behind accepts.
                if let Some((u, p)) = basic(&parts.headers) {
                    if u == self.opts.admin.0 && p == self.opts.admin.1 {
                        let repo = repo_of(parts.uri.path()).unwrap_or_default();
                        b = b.bearer_auth(self.admin_token(&repo));
                    }
                    continue;
                }
            }
            b = b.header(name, value);
        }
        let resp = match b.body(body).send().await {
            Ok(r) => r,
            Err(e) => return oci_error(502, "UNAVAILABLE", &format!("backend: {e}")),
        };
        let status = resp.status().as_u16();
        let mut out = Response::builder().status(status);
        for (name, value) in resp.headers() {
            let n = name.as_str();
            if matches!(n, "transfer-encoding" | "connection") {
                continue;
            }
            if n == "content-length" && parts.method != hyper::Method::HEAD {
                continue;
            }
            if n == "www-authenticate" {
                let scope = value
                    .to_str()
                    .ok()
                    .and_then(|v| v.split("scope=\"").nth(1))
                    .and_then(|v| v.split('"').next())
                    .unwrap_or("")
                    .to_string();
                out = out.header(n, self.challenge(&scope));
                continue;
            }
            if n == "location" {
                let v = value.to_str().unwrap_or("");
                let rewritten = v.replace(&self.backend, &format!("http://{}", self.addr));
                out = out.header(n, rewritten);
                continue;
            }
            out = out.header(name, value);
        }
        let bytes = resp.bytes().await.unwrap_or_default();
        if parts.method == hyper::Method::PUT && (200..300).contains(&status) {
            if let Some((repo, reference)) = manifest_path(parts.uri.path()) {
                if !reference.contains(':') {
                    self.touch_tag(&repo, &reference);
                }
            }
        }
        out.body(full(bytes)).expect("response")
    }

    fn touch_tag(&self, repo: &str, tag: &str) {
        let now = crate::image::rfc3339_from_unix(now_secs());
        let mut times = self.tag_times.lock().expect("times");
        let entry = times
            .entry((repo.to_string(), tag.to_string()))
            .or_insert_with(|| (now.clone(), now.clone()));
        entry.1 = now;
    }

    fn tag_time(&self, repo: &str, tag: &str) -> (String, String) {
        let now = crate::image::rfc3339_from_unix(now_secs());
        self.tag_times
            .lock()
            .expect("times")
            .entry((repo.to_string(), tag.to_string()))
            .or_insert_with(|| (now.clone(), now))
            .clone()
    }

    // ---- /acr/v1/ ----

    async fn acr_listing(&self, parts: &hyper::http::request::Parts) -> Response<RespBody> {
        let path = parts.uri.path();
        if path == "/acr/v1/_catalog" {
            return self.acr_catalog(parts).await;
        }
        let rest = path.trim_start_matches("/acr/v1/");
        let (repo, what) = match rest.rsplit_once('/') {
            Some((repo, what)) if what == "_tags" || what == "_manifests" => (repo, what),
            _ => return oci_error(404, "NOT_FOUND", "unknown /acr/v1/ path"),
        };
        let scope = format!("repository:{repo}:metadata_read");
        let allowed = match bearer(&parts.headers) {
            Some(t) => self
                .access
                .lock()
                .expect("access")
                .get(&t)
                .is_some_and(|s| {
                    s.iter().any(|g| {
                        g.rsplit_once(':').is_some_and(|(name, actions)| {
                            name == format!("repository:{repo}")
                                && actions.split(',').any(|a| a == "metadata_read" || a == "*")
                        })
                    })
                }),
            None => basic(&parts.headers)
                .is_some_and(|(u, p)| u == self.opts.admin.0 && p == self.opts.admin.1),
        };
        if !allowed {
            let mut challenge = self.challenge(&scope);
            if bearer(&parts.headers).is_some() {
                challenge.push_str(",error=\"insufficient_scope\"");
            }
            let mut r = oci_error(401, "UNAUTHORIZED", "authentication required");
            r.headers_mut()
                .insert("www-authenticate", challenge.parse().expect("header"));
            return r;
        }
        let token = self.admin_token(repo);
        let list = self
            .http
            .get(format!("{}/v2/{repo}/tags/list", self.backend))
            .bearer_auth(&token)
            .send()
            .await;
        let tags: Vec<String> = match list {
            Ok(r) if r.status().is_success() => {
                let v: Value = r.json().await.unwrap_or_default();
                let mut t: Vec<String> = v["tags"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                t.sort();
                t
            }
            Ok(r) if r.status() == StatusCode::NOT_FOUND => {
                return json_response(
                    404,
                    &json!({"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known to registry", "detail": {"name": repo}}]}),
                );
            }
            Ok(r) => return oci_error(502, "UNAVAILABLE", &format!("backend: {}", r.status())),
            Err(e) => return oci_error(502, "UNAVAILABLE", &format!("backend: {e}")),
        };
        let q = query_pairs(&parts.uri);
        let n: usize = form_get(&q, "n")
            .and_then(|n| n.parse().ok())
            .unwrap_or(100)
            .clamp(1, 1000);
        let last = form_get(&q, "last").unwrap_or("").to_string();
        let mut heads = Vec::new();
        for tag in tags
            .iter()
            .filter(|t| last.is_empty() || t.as_str() > last.as_str())
        {
            let h = self
                .http
                .head(format!("{}/v2/{repo}/manifests/{tag}", self.backend))
                .header("accept", MANIFEST_ACCEPT)
                .bearer_auth(&token)
                .send()
                .await;
            let Ok(h) = h else { continue };
            let header = |n: &str| {
                h.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string()
            };
            heads.push((
                tag.clone(),
                header("docker-content-digest"),
                header("content-type"),
                header("content-length").parse::<u64>().unwrap_or(0),
            ));
        }
        let more = heads.len() > n;
        heads.truncate(n);
        let registry = self.addr.to_string();
        let attrs = json!({"deleteEnabled": true, "writeEnabled": true, "readEnabled": true, "listEnabled": true});
        let body = if what == "_tags" {
            let items: Vec<Value> = heads
                .iter()
                .map(|(tag, digest, _, _)| {
                    let (created, updated) = self.tag_time(repo, tag);
                    json!({"name": tag, "digest": digest, "createdTime": created,
                        "lastUpdateTime": updated, "signed": false, "changeableAttributes": attrs})
                })
                .collect();
            json!({"registry": registry, "imageName": repo, "tags": items})
        } else {
            let mut by_digest: BTreeMap<String, (Vec<String>, String, u64, String, String)> =
                BTreeMap::new();
            for (tag, digest, media, size) in &heads {
                let (created, updated) = self.tag_time(repo, tag);
                let e = by_digest.entry(digest.clone()).or_insert_with(|| {
                    (
                        Vec::new(),
                        media.clone(),
                        *size,
                        created.clone(),
                        updated.clone(),
                    )
                });
                e.0.push(tag.clone());
            }
            let items: Vec<Value> = by_digest
                .into_iter()
                .map(|(digest, (tags, media, size, created, updated))| {
                    json!({"digest": digest, "imageSize": size, "createdTime": created,
                        "lastUpdateTime": updated, "mediaType": media, "tags": tags,
                        "changeableAttributes": attrs})
                })
                .collect();
            json!({"registry": registry, "imageName": repo, "manifests": items})
        };
        let mut r = json_response(200, &body);
        if more {
            let last = heads.last().map(|h| h.0.clone()).unwrap_or_default();
            let link = format!("</acr/v1/{repo}/{what}?last={last}&n={n}&orderby=>; rel=\"next\"");
            r.headers_mut()
                .insert("link", link.parse().expect("header"));
        }
        r
    }

    /// `GET /acr/v1/_catalog` (`n`/`last` paging, `Link`), with a `registry:catalog:*`
    /// token or the admin user, from the backend's own catalog.
    async fn acr_catalog(&self, parts: &hyper::http::request::Parts) -> Response<RespBody> {
        let scope = "registry:catalog:*";
        let allowed = match bearer(&parts.headers) {
            Some(t) => self
                .access
                .lock()
                .expect("access")
                .get(&t)
                .is_some_and(|s| s.iter().any(|g| g == scope)),
            None => basic(&parts.headers)
                .is_some_and(|(u, p)| u == self.opts.admin.0 && p == self.opts.admin.1),
        };
        if !allowed {
            let mut r = oci_error(401, "UNAUTHORIZED", "authentication required");
            r.headers_mut().insert(
                "www-authenticate",
                self.challenge(scope).parse().expect("header"),
            );
            return r;
        }
        let token = self.tokens.mint("acr-stand-in", &[scope]);
        let mut names: Vec<String> = Vec::new();
        let mut url = format!("{}/v2/_catalog?n=1000", self.backend);
        // The backend pages its catalog; bounded like any loop of the harness.
        for _ in 0..1000 {
            let r = match self.http.get(&url).bearer_auth(&token).send().await {
                Ok(r) if r.status().is_success() => r,
                Ok(r) => return oci_error(502, "UNAVAILABLE", &format!("backend: {}", r.status())),
                Err(e) => return oci_error(502, "UNAVAILABLE", &format!("backend: {e}")),
            };
            let next = r
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(|l| l.split_once('<'))
                .and_then(|(_, rest)| rest.split_once('>'))
                .map(|(target, _)| format!("{}{target}", self.backend));
            let v: Value = r.json().await.unwrap_or_default();
            names.extend(
                v["repositories"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str().map(str::to_string)),
            );
            match next {
                Some(n) => url = n,
                None => break,
            }
        }
        names.sort();
        let q = query_pairs(&parts.uri);
        let n: usize = form_get(&q, "n")
            .and_then(|n| n.parse().ok())
            .unwrap_or(100)
            .clamp(1, 1000);
        let last = form_get(&q, "last").unwrap_or("").to_string();
        let mut page: Vec<String> = names
            .into_iter()
            .filter(|r| last.is_empty() || r.as_str() > last.as_str())
            .collect();
        let more = page.len() > n;
        page.truncate(n);
        let mut r = json_response(200, &json!({ "repositories": page }));
        if more {
            let last = page.last().cloned().unwrap_or_default();
            let link = format!("</acr/v1/_catalog?last={last}&n={n}>; rel=\"next\"");
            r.headers_mut()
                .insert("link", link.parse().expect("header"));
        }
        r
    }

    // ---- ARM ----

    async fn arm(
        self: &Arc<Self>,
        parts: &hyper::http::request::Parts,
        body: &[u8],
    ) -> Response<RespBody> {
        let q = query_pairs(&parts.uri);
        let Some(token) = bearer(&parts.headers) else {
            return arm_error(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            );
        };
        if !self
            .valid_entra(&token)
            .is_some_and(|aud| is_arm_audience(&aud))
        {
            return arm_error(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
            );
        }
        if form_get(&q, "api-version").is_none() {
            return arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            );
        }
        let path = parts.uri.path();
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let o = &self.opts;
        let sub_ok = |s: &str| s.eq_ignore_ascii_case(&o.subscription_id);
        let registry_id = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ContainerRegistry/registries/{}",
            o.subscription_id, o.resource_group, o.registry_name
        );
        match (parts.method.as_str(), segs.as_slice()) {
            ("GET", ["subscriptions"]) => json_response(
                200,
                &json!({"value": [{"id": format!("/subscriptions/{}", o.subscription_id),
                    "subscriptionId": o.subscription_id, "tenantId": o.tenant_id,
                    "displayName": "acr-sync stand-in", "state": "Enabled"}]}),
            ),
            ("GET", ["subscriptions", sub, "providers", ns, "registries"])
                if ns.eq_ignore_ascii_case("Microsoft.ContainerRegistry") =>
            {
                if !sub_ok(sub) {
                    let foreign: Vec<Value> = self
                        .foreign
                        .lock()
                        .expect("foreign")
                        .iter()
                        .filter(|f| f.subscription_id.eq_ignore_ascii_case(sub))
                        .map(|f| json!({"id": f.id, "name": f.name,
                            "type": "Microsoft.ContainerRegistry/registries", "location": "eastus",
                            "sku": {"name": "Premium", "tier": "Premium"},
                            "properties": {"loginServer": f.login_server, "provisioningState": "Succeeded"}}))
                        .collect();
                    if !foreign.is_empty() {
                        return json_response(200, &json!({ "value": foreign }));
                    }
                    return arm_error(
                        404,
                        "SubscriptionNotFound",
                        &format!("The subscription '{sub}' could not be found."),
                    );
                }
                json_response(
                    200,
                    &json!({"value": [{"id": registry_id, "name": o.registry_name,
                        "type": "Microsoft.ContainerRegistry/registries", "location": "westus",
                        "sku": {"name": "Premium", "tier": "Premium"},
                        "properties": {"loginServer": self.addr.to_string(), "provisioningState": "Succeeded",
                            "adminUserEnabled": true}}]}),
                )
            }
            (
                "POST",
                [
                    "subscriptions",
                    sub,
                    "resourceGroups",
                    rg,
                    "providers",
                    ns,
                    "registries",
                    name,
                    "importImage",
                ],
            ) if ns.eq_ignore_ascii_case("Microsoft.ContainerRegistry") => {
                if !sub_ok(sub)
                    || !rg.eq_ignore_ascii_case(&o.resource_group)
                    || !name.eq_ignore_ascii_case(&o.registry_name)
                {
                    return arm_error(
                        404,
                        "ResourceNotFound",
                        &format!(
                            "The Resource 'Microsoft.ContainerRegistry/registries/{name}' under resource group '{rg}' was not found."
                        ),
                    );
                }
                if self.import_forbidden.load(Ordering::SeqCst) {
                    return arm_error(
                        403,
                        "AuthorizationFailed",
                        &format!(
                            "The client '{}' with object id '{}' does not have authorization to perform action 'Microsoft.ContainerRegistry/registries/importImage/action' over scope '{registry_id}' or the scope is invalid.",
                            o.client_id, o.client_id
                        ),
                    );
                }
                self.import(body).await
            }
            ("GET", ["subscriptions", _, "providers", _, "locations", _, kind, id])
                if *kind == "operationResults" || *kind == "operationStatuses" =>
            {
                self.operation(kind, id)
            }
            _ => arm_error(
                404,
                "InvalidResourceType",
                &format!("The stand-in does not serve {} {path}", parts.method),
            ),
        }
    }

    async fn import(self: &Arc<Self>, body: &[u8]) -> Response<RespBody> {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return arm_error(
                400,
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized.",
            );
        };
        let Some(source_image) = v["source"]["sourceImage"].as_str() else {
            return arm_error(
                400,
                "InvalidParameter",
                "The parameter 'source.sourceImage' is required.",
            );
        };
        let base = if let Some(uri) = v["source"]["registryUri"].as_str() {
            let uri = uri.trim_end_matches('/');
            if uri.starts_with("http://") || uri.starts_with("https://") {
                uri.to_string()
            } else if uri.starts_with("127.") || uri.starts_with("localhost") {
                format!("http://{uri}")
            } else {
                format!("https://{uri}")
            }
        } else if let Some(id) = v["source"]["resourceId"].as_str() {
            let foreign = self
                .foreign
                .lock()
                .expect("foreign")
                .iter()
                .find(|f| f.id.eq_ignore_ascii_case(id))
                .map(|f| f.backend.clone());
            if let Some(backend) = foreign {
                backend
            } else if id.to_ascii_lowercase().ends_with(&format!(
                "/registries/{}",
                self.opts.registry_name.to_ascii_lowercase()
            )) {
                self.backend.clone()
            } else {
                return arm_error(
                    400,
                    "InvalidParameter",
                    &format!("The source registry '{id}' was not found."),
                );
            }
        } else {
            return arm_error(
                400,
                "InvalidParameter",
                "Either source.registryUri or source.resourceId is required.",
            );
        };
        let own = base == self.backend;
        let mut logged = json!({"source": v["source"].clone(), "mode": v["mode"].clone()});
        if let Some(src) = logged["source"].as_object_mut() {
            src.remove("credentials");
        }
        self.import_bodies.lock().expect("bodies").push(logged);
        let creds = match (
            v["source"]["credentials"]["username"].as_str(),
            v["source"]["credentials"]["password"].as_str(),
        ) {
            (Some(u), Some(p)) => Some((u.to_string(), p.to_string())),
            _ => None,
        };
        let mode = v["mode"].as_str().unwrap_or("NoForce");
        if mode != "NoForce" && mode != "Force" {
            return arm_error(
                400,
                "InvalidParameter",
                "The mode must be NoForce or Force.",
            );
        }
        let mut targets = Vec::new();
        for t in v["targetTags"].as_array().cloned().unwrap_or_default() {
            let Some(t) = t.as_str() else { continue };
            let (repo, tag) = t.split_once(':').unwrap_or((t, "latest"));
            targets.push((repo.to_string(), tag.to_string()));
        }
        if targets.is_empty() {
            return arm_error(
                400,
                "InvalidParameter",
                "targetTags is required by the stand-in.",
            );
        }
        let id = format!(
            "registries-{:08x}-{:04x}-{:012x}",
            rand_like::next() as u32,
            self.next_id.fetch_add(1, Ordering::SeqCst),
            rand_like::next() & 0xffff_ffff_ffff
        );
        self.operations.lock().expect("ops").insert(
            id.clone(),
            Operation {
                state: OpState::Running,
                polls: 0,
            },
        );
        self.imports.fetch_add(1, Ordering::SeqCst);
        let state = self.clone();
        let op = id.clone();
        let image = source_image.to_string();
        let no_force = mode == "NoForce";
        tokio::spawn(async move {
            // NoForce fails the operation before anything is copied, as ACR does: the
            // 202 comes first, the conflict shows when the operation is polled.
            if no_force {
                if let Some((repo, tag)) = state.first_existing(&targets).await {
                    let o = &state.opts;
                    let message = format!(
                        "Operation {op} failed. Resource /subscriptions/{}/resourceGroups/{}/providers/Microsoft.ContainerRegistry/registries/{} {repo}:{tag} Tag {repo}:{tag} already exists in target registry.",
                        o.subscription_id, o.resource_group, o.registry_name
                    );
                    if let Some(o) = state.operations.lock().expect("ops").get_mut(&op) {
                        o.state = OpState::Failed {
                            status: 409,
                            code: "Conflict".into(),
                            message,
                        };
                    }
                    return;
                }
            }
            let source = Source {
                base,
                creds,
                own,
                basic: false,
                tokens: HashMap::new(),
            };
            let result = state.copy(source, &image, &targets).await;
            let final_state = match result {
                Ok(()) => {
                    for (repo, tag) in &targets {
                        state.touch_tag(repo, tag);
                    }
                    OpState::Succeeded
                }
                Err((status, code, message)) => OpState::Failed {
                    status,
                    code,
                    message,
                },
            };
            if let Some(o) = state.operations.lock().expect("ops").get_mut(&op) {
                o.state = final_state;
            }
        });
        self.accepted(&id)
    }

    /// The first target tag that already exists.
    async fn first_existing(&self, targets: &[(String, String)]) -> Option<(String, String)> {
        for (repo, tag) in targets {
            let h = self
                .http
                .head(format!("{}/v2/{repo}/manifests/{tag}", self.backend))
                .header("accept", MANIFEST_ACCEPT)
                .bearer_auth(self.admin_token(repo))
                .send()
                .await;
            if h.is_ok_and(|r| r.status().is_success()) {
                return Some((repo.clone(), tag.clone()));
            }
        }
        None
    }

    fn op_urls(&self, id: &str) -> (String, String) {
        let base = format!(
            "http://{}/subscriptions/{}/providers/Microsoft.ContainerRegistry/locations/westus",
            self.addr, self.opts.subscription_id
        );
        (
            format!("{base}/operationResults/{id}?api-version=2023-07-01"),
            format!("{base}/operationStatuses/{id}?api-version=2023-07-01"),
        )
    }

    fn accepted(&self, id: &str) -> Response<RespBody> {
        let (location, status) = self.op_urls(id);
        let mut b = Response::builder()
            .status(202)
            .header("location", location)
            .header("retry-after", self.opts.retry_after.to_string());
        if self.opts.async_operation {
            b = b.header("azure-asyncoperation", status);
        }
        b.body(full(Bytes::new())).expect("response")
    }

    fn operation(&self, kind: &str, id: &str) -> Response<RespBody> {
        let state = {
            let mut ops = self.operations.lock().expect("ops");
            let Some(op) = ops.get_mut(id) else {
                return arm_error(
                    404,
                    "OperationNotFound",
                    &format!("Operation {id} not found."),
                );
            };
            op.polls += 1;
            match &op.state {
                // A finished copy still reads as running until it was polled enough.
                _ if op.polls <= self.opts.polls_before_done => OpState::Running,
                s => s.clone(),
            }
        };
        if kind == "operationStatuses" {
            let (status, error) = match &state {
                OpState::Running => ("InProgress", Value::Null),
                OpState::Succeeded => ("Succeeded", Value::Null),
                OpState::Failed { code, message, .. } => {
                    ("Failed", json!({"code": code, "message": message}))
                }
            };
            let mut body = json!({"id": id, "name": id, "status": status, "startTime": crate::image::rfc3339_from_unix(now_secs())});
            if !error.is_null() {
                body["error"] = error;
            }
            let mut r = json_response(200, &body);
            if matches!(state, OpState::Running) {
                r.headers_mut().insert(
                    "retry-after",
                    self.opts.retry_after.to_string().parse().expect("header"),
                );
            }
            return r;
        }
        match state {
            OpState::Running => self.accepted(id),
            OpState::Succeeded => Response::builder()
                .status(200)
                .body(full(Bytes::new()))
                .expect("response"),
            OpState::Failed {
                status,
                code,
                message,
            } => arm_error(status, &code, &message),
        }
    }

    // ---- the copy behind importImage ----

    async fn copy(
        &self,
        mut source: Source,
        image: &str,
        targets: &[(String, String)],
    ) -> Result<(), (u16, String, String)> {
        let (repo, reference) = match image.split_once('@') {
            Some((r, d)) => (r.to_string(), d.to_string()),
            None => match image.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
                _ => (image.to_string(), "latest".to_string()),
            },
        };
        let (media, bytes) = self
            .source_get(&mut source, &repo, &format!("manifests/{reference}"))
            .await?;
        let parsed: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let children: Vec<String> = parsed["manifests"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["digest"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let count = children.len() + 1;
        if count > MAX_MANIFESTS {
            return Err((
                400,
                "InvalidParameters".into(),
                format!(
                    "The source image {image} has {count} manifests: images with more than {MAX_MANIFESTS} manifests cannot be imported."
                ),
            ));
        }
        let mut manifests = Vec::new();
        for child in &children {
            let (m, b) = self
                .source_get(&mut source, &repo, &format!("manifests/{child}"))
                .await?;
            manifests.push((child.clone(), m, b));
        }
        for (_, _, b) in manifests.iter().chain(std::iter::once(&(
            String::new(),
            media.clone(),
            bytes.clone(),
        ))) {
            let v: Value = serde_json::from_slice(b).unwrap_or_default();
            for layer in v["layers"].as_array().into_iter().flatten() {
                if layer["size"].as_u64().unwrap_or(0) > MAX_LAYER {
                    return Err((
                        400,
                        "InvalidParameters".into(),
                        format!(
                            "The source image {image} has a layer whose layer size exceeds 2 GiB."
                        ),
                    ));
                }
            }
        }
        for (repo_t, tag) in targets {
            let token = self.admin_token(repo_t);
            for (digest, m, b) in &manifests {
                self.copy_blobs(&mut source, &repo, repo_t, &token, b)
                    .await?;
                self.put_manifest(repo_t, digest, m, b.clone(), &token)
                    .await?;
            }
            self.copy_blobs(&mut source, &repo, repo_t, &token, &bytes)
                .await?;
            self.put_manifest(repo_t, tag, &media, bytes.clone(), &token)
                .await?;
        }
        Ok(())
    }

    async fn copy_blobs(
        &self,
        source: &mut Source,
        repo: &str,
        target: &str,
        token: &str,
        manifest: &[u8],
    ) -> Result<(), (u16, String, String)> {
        let v: Value = serde_json::from_slice(manifest).unwrap_or_default();
        let mut digests: Vec<String> = v["config"]["digest"]
            .as_str()
            .map(str::to_string)
            .into_iter()
            .collect();
        for l in v["layers"].as_array().into_iter().flatten() {
            if let Some(d) = l["digest"].as_str() {
                digests.push(d.to_string());
            }
        }
        let backend = |e: String| {
            (
                500,
                "InternalServerError".to_string(),
                format!("writing to the registry: {e}"),
            )
        };
        for digest in digests {
            let exists = self
                .http
                .head(format!("{}/v2/{target}/blobs/{digest}", self.backend))
                .bearer_auth(token)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if exists {
                continue;
            }
            let (_, blob) = self
                .source_get(source, repo, &format!("blobs/{digest}"))
                .await?;
            let start = self
                .http
                .post(format!("{}/v2/{target}/blobs/uploads/", self.backend))
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| backend(e.to_string()))?;
            let location = start
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| backend(format!("upload start answered {}", start.status())))?
                .to_string();
            let location = if location.starts_with("http") {
                location
            } else {
                format!("{}{location}", self.backend)
            };
            let sep = if location.contains('?') { '&' } else { '?' };
            let put = self
                .http
                .put(format!("{location}{sep}digest={digest}"))
                .bearer_auth(token)
                .header("content-type", "application/octet-stream")
                .body(blob)
                .send()
                .await
                .map_err(|e| backend(e.to_string()))?;
            if !put.status().is_success() {
                return Err(backend(format!("blob upload answered {}", put.status())));
            }
        }
        Ok(())
    }

    async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media: &str,
        bytes: Bytes,
        token: &str,
    ) -> Result<(), (u16, String, String)> {
        let r = self
            .http
            .put(format!("{}/v2/{repo}/manifests/{reference}", self.backend))
            .bearer_auth(token)
            .header("content-type", media)
            .body(bytes)
            .send()
            .await
            .map_err(|e| (500, "InternalServerError".to_string(), e.to_string()))?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err((
                500,
                "InternalServerError".into(),
                format!("manifest upload answered {}", r.status()),
            ))
        }
    }

    /// GET from the source registry, answering its challenge (Bearer with the given
    /// credentials, or Basic) once. Failures carry the source's status in the message.
    async fn source_get(
        &self,
        source: &mut Source,
        repo: &str,
        what: &str,
    ) -> Result<(String, Bytes), (u16, String, String)> {
        let url = format!("{}/v2/{repo}/{what}", source.base);
        let fail = |status: u16, detail: String| {
            let reason = StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            (
                400,
                "InvalidParameters".to_string(),
                format!(
                    "Failed to pull {repo} from the source registry {}: {status} {reason}: {detail}",
                    source
                        .base
                        .trim_start_matches("http://")
                        .trim_start_matches("https://")
                ),
            )
        };
        for attempt in 0..2 {
            let mut b = self.http.get(&url).header("accept", MANIFEST_ACCEPT);
            if source.own {
                b = b.bearer_auth(self.admin_token(repo));
            } else if let Some(t) = source.tokens.get(repo) {
                b = b.bearer_auth(t);
            } else if let (Some((u, p)), true) = (&source.creds, source.basic) {
                b = b.basic_auth(u, Some(p));
            }
            let r = b.send().await.map_err(|e| fail(502, e.to_string()))?;
            let status = r.status().as_u16();
            if r.status().is_success() {
                let media = r
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let bytes = r.bytes().await.map_err(|e| fail(502, e.to_string()))?;
                return Ok((media, bytes));
            }
            if status == 401 && attempt == 0 {
                let challenge = r
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                if challenge.to_ascii_lowercase().starts_with("basic") {
                    source.basic = true;
                    continue;
                }
                let param = |name: &str| {
                    challenge
                        .split(&format!("{name}=\""))
                        .nth(1)
                        .and_then(|v| v.split('"').next())
                        .map(str::to_string)
                };
                if let Some(realm) = param("realm") {
                    let mut tb = self
                        .http
                        .get(&realm)
                        .query(&[("scope", format!("repository:{repo}:pull"))]);
                    if let Some(service) = param("service") {
                        tb = tb.query(&[("service", service)]);
                    }
                    if let Some((u, p)) = &source.creds {
                        tb = tb.basic_auth(u, Some(p));
                    }
                    let tr = tb.send().await.map_err(|e| fail(502, e.to_string()))?;
                    if !tr.status().is_success() {
                        return Err(fail(tr.status().as_u16(), "authentication required".into()));
                    }
                    let v: Value = tr.json().await.unwrap_or_default();
                    let token = v["token"]
                        .as_str()
                        .or(v["access_token"].as_str())
                        .unwrap_or("")
                        .to_string();
                    source.tokens.insert(repo.to_string(), token);
                    continue;
                }
            }
            let body = r.text().await.unwrap_or_default();
            let detail: Value = serde_json::from_str(&body).unwrap_or_default();
            let code = detail["errors"][0]["code"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let detail = match status {
                429 => format!("toomanyrequests: {code}"),
                401 => "authentication required".to_string(),
                _ => code,
            };
            return Err(fail(status, detail));
        }
        Err(fail(401, "authentication required".into()))
    }
}

struct Source {
    base: String,
    creds: Option<(String, String)>,
    own: bool,
    /// The source asked for Basic credentials.
    basic: bool,
    tokens: HashMap<String, String>,
}

/// `(repo, reference)` of `/v2/<repo>/manifests/<reference>`.
fn manifest_path(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/v2/")?;
    let (repo, reference) = rest.rsplit_once("/manifests/")?;
    Some((repo.to_string(), reference.to_string()))
}

/// The repository of a `/v2/<repo>/{manifests,blobs,tags}/...` path.
fn repo_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    for marker in ["/manifests/", "/blobs/", "/tags/"] {
        if let Some((repo, _)) = rest.split_once(marker) {
            return Some(repo.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_audiences() {
        assert_eq!(
            manifest_path("/v2/a/b/manifests/v1"),
            Some(("a/b".into(), "v1".into()))
        );
        assert_eq!(repo_of("/v2/a/b/blobs/uploads/x"), Some("a/b".into()));
        assert_eq!(
            audience("https://management.azure.com/.default"),
            "https://management.azure.com/"
        );
        assert_eq!(
            audience("https://management.azure.com"),
            "https://management.azure.com/"
        );
        assert!(random_token("x") != random_token("x"));
    }
}
