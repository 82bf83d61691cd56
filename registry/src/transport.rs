//! Sending requests to registries: per-host HTTP clients, scheme choice, authentication,
//! retries and request statistics. The layers above build [`Request`]s and read
//! responses; they never see a 401 or a retry.
//!
//! Which requests are retried:
//! - bodies held in memory ([`Body::Bytes`], [`Body::Empty`]) are resent after connection
//!   errors, timeouts and 408/429/500/502/503/504, within the policy's time budget;
//! - requests marked [`Replay::IfNotSent`] (upload chunks, whose partial arrival would
//!   move the registry's upload offset) are resent only after a failure to connect,
//!   never after an error in the middle of sending nor after an error status (the
//!   registry may have taken part of the chunk); the upload then fails and is restarted;
//! - no request body is ever a stream, since a stream is gone once read and could not
//!   be resent: uploads cut the caller's stream into in-memory chunks instead, and a
//!   failure of a whole upload is for the caller to restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use url::Url;

use crate::auth::{Access, AuthCache, HostAuth, TokenResponse, parse_challenges, scopes};
use crate::config::{ClientConfig, Credentials, Tls, is_loopback};
use crate::docker_config::DockerConfig;
use crate::error::{Error, ErrorKind, parse_error_body, truncate};
use crate::reference::api_host;
use crate::retry::{Retrier, is_retryable_status, parse_retry_after};
use crate::secret::Secret;
use crate::stats::{RegistryStats, Stats};

/// The most of an error body that is read to explain a failure.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// A request body.
pub(crate) enum Body {
    /// No body.
    Empty,
    /// A body in memory, which can be resent.
    Bytes(Bytes),
}

/// When a request may be sent again after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Any retryable failure.
    Always,
    /// Only when nothing reached the registry (the connection failed): never after an
    /// error in the middle of sending, nor after an error status.
    IfNotSent,
}

/// One request to a registry's API.
pub(crate) struct Request {
    pub method: Method,
    /// The registry as named in references (stats, credentials, messages).
    pub registry: String,
    /// The repository, for scopes and messages.
    pub repository: String,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Body,
    pub access: Access,
    pub mount_from: Option<String>,
    pub replay: Replay,
    /// Statuses handed back to the caller although they are not 2xx (404 for HEAD...).
    pub pass_through: &'static [u16],
    /// What is asked for, for a 404 message (`manifest latest`).
    pub what: String,
    /// No overall timeout: the body is a blob that may take long, only pauses count.
    pub long: bool,
}

impl Request {
    pub(crate) fn new(
        method: Method,
        registry: &str,
        repository: &str,
        url: Url,
        what: String,
    ) -> Request {
        Request {
            method,
            registry: registry.to_string(),
            repository: repository.to_string(),
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
            access: Access::Pull,
            mount_from: None,
            replay: Replay::Always,
            pass_through: &[],
            what,
            long: false,
        }
    }
}

/// A registry's HTTP client and base URL.
struct Host {
    http: reqwest::Client,
    /// `scheme://api-host/`
    base: Url,
}

/// Sends requests with authentication and retries; shared by all clones of a client.
pub(crate) struct Transport {
    config: ClientConfig,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    auth: AuthCache,
    stats: Stats,
    docker_config: Option<DockerConfig>,
    credentials: tokio::sync::Mutex<HashMap<String, Option<Credentials>>>,
    /// The HTTP client of every registry without a CA of its own. Building one loads the
    /// system's trust store, which costs more than a whole up-to-date check of a
    /// registry, so registries share it (each keeps its own connections inside).
    shared_http: std::sync::OnceLock<reqwest::Client>,
}

impl Transport {
    pub(crate) fn new(config: ClientConfig) -> Result<Transport, Error> {
        let docker_config = match &config.docker_config {
            Some(path) => Some(DockerConfig::load(path)?),
            None => None,
        };
        let transport = Transport {
            config,
            hosts: Mutex::new(HashMap::new()),
            auth: AuthCache::default(),
            stats: Stats::default(),
            docker_config,
            credentials: tokio::sync::Mutex::new(HashMap::new()),
            shared_http: std::sync::OnceLock::new(),
        };
        // Build configured hosts now so that a bad CA PEM fails at start, not mid-run.
        let names: Vec<String> = transport.config.registries.keys().cloned().collect();
        for name in names {
            transport.host(&name)?;
        }
        Ok(transport)
    }

    pub(crate) fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub(crate) fn stats(&self) -> Vec<RegistryStats> {
        self.stats.snapshot()
    }

    /// `scheme://api-host/v2/<path>` for `registry`.
    pub(crate) fn url(&self, registry: &str, path: &str) -> Result<Url, Error> {
        let host = self.host(registry)?;
        host.base.join(&format!("v2/{path}")).map_err(|e| {
            Error::new(
                registry,
                None,
                ErrorKind::Config(format!("cannot build a URL for {path:?}: {e}")),
            )
        })
    }

    /// Resolves a `Location` or `Link` target against the registry's base URL. A target
    /// on another origin is allowed, but `send` only attaches credentials and tokens to
    /// requests for the registry's own origin.
    pub(crate) fn resolve(
        &self,
        registry: &str,
        repository: &str,
        target: &str,
    ) -> Result<Url, Error> {
        let host = self.host(registry)?;
        let url = host.base.join(target).map_err(|_| {
            Error::new(
                registry,
                Some(repository),
                ErrorKind::InvalidResponse(format!("invalid location {:?}", truncate(target, 200))),
            )
        })?;
        Ok(url)
    }

    /// Resolves a `Link` target (a next page) against the registry's base URL, refusing
    /// one on another origin, as go-containerregistry does: a page must not send us, and
    /// our credentials' tokens, elsewhere.
    pub(crate) fn resolve_link(
        &self,
        registry: &str,
        repository: &str,
        target: &str,
    ) -> Result<Url, Error> {
        let host = self.host(registry)?;
        let url = self.resolve(registry, repository, target)?;
        if !same_origin(&url, &host.base) {
            return Err(Error::new(
                registry,
                Some(repository),
                ErrorKind::InvalidResponse(format!(
                    "the next page link points to another host ({}); refused",
                    url_host(&url)
                )),
            ));
        }
        Ok(url)
    }

    fn settings(&self, registry: &str) -> Option<&crate::config::RegistrySettings> {
        self.config
            .registries
            .get(registry)
            .or_else(|| self.config.registries.get(api_host(registry)))
    }

    fn host(&self, registry: &str) -> Result<Arc<Host>, Error> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(host) = hosts.get(registry) {
            return Ok(host.clone());
        }
        let host = Arc::new(self.build_host(registry)?);
        hosts.insert(registry.to_string(), host.clone());
        Ok(host)
    }

    fn build_host(&self, registry: &str) -> Result<Host, Error> {
        let settings = self.settings(registry).cloned().unwrap_or_default();
        let config_error = |m: String| Error::new(registry, None, ErrorKind::Config(m));
        let api = api_host(registry);
        let https = match settings.tls {
            Tls::Enabled => true,
            Tls::Disabled => false,
            Tls::Default => !is_loopback(api),
        };
        let http = match &settings.ca_pem {
            Some(pem) => self.http_client(Some(pem)).map_err(config_error)?,
            None => match self.shared_http.get() {
                Some(http) => http.clone(),
                None => {
                    let http = self.http_client(None).map_err(config_error)?;
                    self.shared_http.get_or_init(|| http).clone()
                }
            },
        };
        let scheme = if https { "https" } else { "http" };
        let base = Url::parse(&format!("{scheme}://{api}/"))
            .map_err(|e| config_error(format!("invalid registry host {api:?}: {e}")))?;
        Ok(Host { http, base })
    }

    /// An HTTP client trusting the system's roots and `ca_pem`'s certificates.
    fn http_client(&self, ca_pem: Option<&str>) -> Result<reqwest::Client, String> {
        let timeout = self.config.request_timeout;
        let mut builder = reqwest::Client::builder()
            .user_agent(self.config.user_agent.clone())
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            .read_timeout(timeout);
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| format!("the CA PEM is invalid: {e}"))?;
            if certs.is_empty() {
                return Err("the CA PEM holds no certificate".into());
            }
            builder = builder.tls_certs_merge(certs);
        }
        builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", error_chain(&e)))
    }

    /// The credentials for `registry`: its provider, else its settings, else the docker
    /// config.
    async fn credentials(&self, registry: &str) -> Result<Option<Credentials>, Error> {
        let provider = self
            .config
            .credential_providers
            .get(registry)
            .or_else(|| self.config.credential_providers.get(api_host(registry)));
        if let Some(provider) = provider {
            let found = provider
                .0
                .credentials()
                .await
                .map_err(|e| e.with_context(registry, None))?;
            return Ok(Some(found));
        }
        if let Some(c) = self.settings(registry).and_then(|s| s.credentials.clone()) {
            return Ok(Some(c));
        }
        let Some(docker) = &self.docker_config else {
            return Ok(None);
        };
        let mut cache = self.credentials.lock().await;
        if let Some(c) = cache.get(registry) {
            return Ok(c.clone());
        }
        let found = docker
            .credentials_for(registry)
            .await
            .map_err(|e| e.with_context(registry, None))?;
        cache.insert(registry.to_string(), found.clone());
        Ok(found)
    }

    /// Sends `req`, authenticating and retrying as needed. Returns 2xx responses and
    /// those in `req.pass_through`; every other outcome is an [`Error`].
    pub(crate) async fn send(&self, req: Request) -> Result<Response, Error> {
        let host = self.host(&req.registry)?;
        let creds = self.credentials(&req.registry).await?;
        let scopes = scopes(&req.repository, req.access, req.mount_from.as_deref());
        let host_key = api_host(&req.registry).to_string();
        let mut retry = Retrier::new(&self.config.retry);
        let mut auth = AuthAttempts::default();
        loop {
            // While nobody knows the host's scheme, one request asks and the others wait
            // for its answer: sent all at once, they would all get a 401 without
            // credentials (issue: basic-auth registries rejecting all but one image).
            let learning = self.auth.learning_turn(&host_key).await;
            let scheme = self.auth.host(&host_key);
            let refused = auth.refused_token.take();
            let mut sent = self
                .authorization(
                    &host,
                    &req,
                    &host_key,
                    &scheme,
                    creds.as_ref(),
                    &scopes,
                    refused,
                )
                .await?;
            let mut builder = host
                .http
                .request(req.method.clone(), req.url.clone())
                .headers(req.headers.clone());
            match &req.body {
                Body::Empty => {}
                Body::Bytes(b) => builder = builder.body(reqwest::Body::from(b.clone())),
            }
            if !req.long {
                builder = builder.timeout(self.timeout_for(&req.body));
            }
            if !same_origin(&req.url, &host.base) {
                sent = Sent::Nothing;
            }
            if let Some(value) = sent.header() {
                builder = builder.header(header::AUTHORIZATION, value);
            }
            let result = builder.send().await;
            let failure = match result {
                Err(e) => {
                    drop(learning);
                    self.stats.record(&req.registry, req.method.as_str(), None);
                    let not_sent = e.is_connect();
                    let kind = transport_error_kind(&e);
                    let replay_ok = (req.replay == Replay::Always || not_sent) && !is_final(&kind);
                    (kind, None, replay_ok)
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    self.record(&req, &resp);
                    if resp.status().is_success() || req.pass_through.contains(&status) {
                        // Only the registry's own answer tells about the registry.
                        if learning.is_some() && same_origin(&req.url, &host.base) {
                            self.auth.set_anonymous_if_unknown(&host_key);
                        }
                        return Ok(resp);
                    }
                    if status == 401 {
                        let next = self.after_401(
                            &resp,
                            &host_key,
                            &scheme,
                            &sent,
                            creds.is_some(),
                            &mut auth,
                        );
                        drop(learning);
                        match next {
                            After401::Retry => continue,
                            After401::Forbidden if creds.is_some() => {
                                return Err(self.insufficient_scope(&req, &scopes));
                            }
                            After401::Forbidden | After401::Verdict => {
                                let with_credentials = match sent {
                                    Sent::Nothing => false,
                                    Sent::Basic(_) => true,
                                    Sent::Token(_) => creds.is_some(),
                                };
                                return Err(self
                                    .error_from_response(
                                        &req,
                                        resp,
                                        with_credentials,
                                        retry.attempts(),
                                    )
                                    .await);
                            }
                        }
                    }
                    drop(learning);
                    if !is_retryable_status(status) {
                        return Err(self
                            .error_from_response(&req, resp, creds.is_some(), retry.attempts())
                            .await);
                    }
                    let (kind, retry_after) = retryable_failure(&resp, status);
                    // A chunk answered with an error may have been taken in part: sending
                    // it again could only end in 416, so the upload fails instead.
                    let replay_ok = req.replay == Replay::Always;
                    (kind, Some((resp, retry_after)), replay_ok)
                }
            };
            let (kind, response, replay_ok) = failure;
            let retry_after = response.as_ref().and_then(|(_, r)| *r);
            if replay_ok {
                let what = format!("{} {}", req.method, req.what);
                if retry.wait(retry_after, &req.registry, &what, &kind).await {
                    continue;
                }
            }
            return Err(match response {
                Some((resp, _)) => {
                    self.error_from_response(&req, resp, creds.is_some(), retry.attempts())
                        .await
                }
                None => retry.give_up(self.err(&req, kind)),
            });
        }
    }

    /// Counts a response under its registry, with the rate-limit figure it tells.
    fn record(&self, req: &Request, resp: &Response) {
        let status = resp.status().as_u16();
        self.stats
            .record(&req.registry, req.method.as_str(), Some(status));
        if let Some(v) = resp
            .headers()
            .get("ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
        {
            self.stats.record_ratelimit(&req.registry, v);
        }
    }

    /// What a 401 means. It is a verdict only when what it refused was credentials (or
    /// a token fetched anew): a request sent without any, or under a scheme the registry
    /// has since changed, is sent again with what the challenge asks for.
    fn after_401(
        &self,
        resp: &Response,
        host_key: &str,
        scheme: &HostAuth,
        sent: &Sent,
        have_creds: bool,
        auth: &mut AuthAttempts,
    ) -> After401 {
        let challenges: Vec<_> = resp
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        let learnt = host_auth_from(&challenges);
        if learnt == Some(HostAuth::Basic) && !have_creds {
            // Nothing to answer it with: learn it for the others, and say so now.
            self.auth.set_host(host_key, HostAuth::Basic);
            return After401::Verdict;
        }
        // A bounded number of scheme changes: a registry flipping its challenge on every
        // answer must not keep us looping.
        if let Some(new) = learnt.filter(|new| new != scheme) {
            if auth.challenges_followed < 3 {
                auth.challenges_followed += 1;
                self.auth.set_host(host_key, new);
                return After401::Retry;
            }
        }
        match sent {
            // Nothing was sent although the scheme is known: nothing we have answers it
            // (Basic without credentials, or a redirect to another origin).
            Sent::Nothing => After401::Verdict,
            Sent::Basic(_) => After401::Verdict,
            Sent::Token(token) => {
                // A token may expire or be revoked on the way, and a cached token
                // fetched for wider scopes may have been granted fewer: one fresh
                // token, fetched for exactly these scopes, before a verdict.
                if !auth.fresh_tried {
                    auth.fresh_tried = true;
                    self.auth.drop_token(host_key, token);
                    auth.refused_token = Some(token.clone());
                    return After401::Retry;
                }
                if challenges.iter().any(|c| {
                    c.params
                        .get("error")
                        .is_some_and(|e| e == "insufficient_scope")
                }) {
                    return After401::Forbidden;
                }
                After401::Verdict
            }
        }
    }

    /// The token endpoint took the credentials, but the token does not carry the rights
    /// asked for: a permission problem, not a login one.
    fn insufficient_scope(&self, req: &Request, scopes: &[String]) -> Error {
        self.err(
            req,
            ErrorKind::Forbidden {
                message: Some(format!(
                    "insufficient_scope: the token endpoint did not grant {}",
                    scopes.join(" ")
                )),
            },
        )
    }

    /// What to send with a request under `scheme`, fetching a token when needed.
    #[allow(clippy::too_many_arguments)]
    async fn authorization(
        &self,
        host: &Host,
        req: &Request,
        host_key: &str,
        scheme: &HostAuth,
        creds: Option<&Credentials>,
        scopes: &[String],
        refused: Option<Secret>,
    ) -> Result<Sent, Error> {
        match scheme {
            HostAuth::Unknown | HostAuth::Anonymous => Ok(Sent::Nothing),
            HostAuth::Basic => match creds {
                None => Ok(Sent::Nothing),
                Some(Credentials::Basic { username, password }) => {
                    Ok(Sent::Basic(basic_header(username, password)))
                }
                Some(Credentials::IdentityToken(_)) => Err(self.err(
                    req,
                    ErrorKind::Credentials(
                        "the registry asks for Basic authentication, but its credentials are an identity token, which only a registry with a token endpoint (Bearer) can exchange; give a user name and password instead".into(),
                    ),
                )),
            },
            HostAuth::Bearer { realm, service } => {
                let cached = |auth: &AuthCache| match &refused {
                    // After a refusal only a token fetched since then will do.
                    Some(old) => auth
                        .token_exact(host_key, scopes)
                        .filter(|t| t != old),
                    None => auth.token(host_key, scopes),
                };
                if refused.is_none() {
                    if let Some(token) = cached(&self.auth) {
                        return Ok(Sent::Token(token));
                    }
                }
                // One token request per scope set at a time; those who waited take
                // what it brought.
                let _turn = self.auth.fetching_turn(host_key, scopes).await;
                if let Some(token) = cached(&self.auth) {
                    return Ok(Sent::Token(token));
                }
                let (token, life) = self
                    .fetch_token(host, req, realm, service.as_deref(), scopes, creds)
                    .await?;
                self.auth.store_token(host_key, scopes, token.clone(), life);
                Ok(Sent::Token(token))
            }
        }
    }

    /// `GET realm?service=..&scope=..`, with basic credentials when known.
    async fn fetch_token(
        &self,
        host: &Host,
        req: &Request,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        creds: Option<&Credentials>,
    ) -> Result<(Secret, Duration), Error> {
        let realm_url = Url::parse(realm).map_err(|_| {
            self.err(
                req,
                ErrorKind::InvalidResponse(format!(
                    "the token realm {:?} is not a URL",
                    truncate(realm, 200)
                )),
            )
        })?;
        // A registry reached over HTTPS that points its challenge at plain HTTP would have
        // our credentials sent in clear text: refuse, unless the user already chose plain
        // HTTP for the registry itself (loopback, `tls: disabled`).
        if creds.is_some() && realm_url.scheme() != "https" && host.base.scheme() == "https" {
            return Err(self.err(
                req,
                ErrorKind::Credentials(format!(
                    "the registry asks for credentials at {}://{}, which is not HTTPS; they were not sent",
                    realm_url.scheme(),
                    realm_url.host_str().unwrap_or("?")
                )),
            ));
        }
        let mut url = realm_url.clone();
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            for scope in scopes {
                query.append_pair("scope", scope);
            }
        }
        let mut retry = Retrier::new(&self.config.retry);
        loop {
            let (builder, method) = match creds {
                Some(Credentials::IdentityToken(token)) => (
                    refresh_token_request(&host.http, &realm_url, service, scopes, token),
                    "POST",
                ),
                Some(Credentials::Basic { username, password }) => (
                    host.http
                        .get(url.clone())
                        .header(header::AUTHORIZATION, basic_header(username, password)),
                    "GET",
                ),
                None => (host.http.get(url.clone()), "GET"),
            };
            let builder = builder.timeout(self.config.request_timeout);
            // Token requests count under the registry too: Docker Hub's auth.docker.io
            // traffic is part of what a run costs.
            let sent = builder.send().await;
            let code = sent.as_ref().ok().map(|r| r.status().as_u16());
            self.stats.record(&req.registry, method, code);
            let (kind, retry_after) = match sent {
                Err(e) => (transport_error_kind(&e), None),
                Ok(resp) if resp.status().is_success() => {
                    let body = resp
                        .bytes()
                        .await
                        .map_err(|e| self.err(req, transport_error_kind(&e)))?;
                    let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
                        self.err(
                            req,
                            ErrorKind::InvalidResponse(
                                "the token endpoint answered something that is not a token".into(),
                            ),
                        )
                    })?;
                    return parsed.into_token().ok_or_else(|| {
                        self.err(
                            req,
                            ErrorKind::InvalidResponse(
                                "the token endpoint answered no token".into(),
                            ),
                        )
                    });
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if matches!(status, 401 | 403) {
                        // Refused credentials or permissions: the usual messages fit.
                        return Err(self
                            .error_from_response(req, resp, creds.is_some(), retry.attempts())
                            .await);
                    }
                    if !is_retryable_status(status) {
                        let kind = token_endpoint_error(&realm_url, resp).await;
                        return Err(retry.give_up(self.err(req, kind)));
                    }
                    let (_, retry_after) = retryable_failure(&resp, status);
                    let kind = if status == 429 {
                        ErrorKind::RateLimited { retry_after }
                    } else {
                        ErrorKind::TokenEndpoint {
                            host: url_host(&realm_url),
                            status,
                            message: None,
                        }
                    };
                    (kind, retry_after)
                }
            };
            if is_final(&kind)
                || !retry
                    .wait(retry_after, &req.registry, "token request", &kind)
                    .await
            {
                return Err(retry.give_up(self.err(req, kind)));
            }
        }
    }

    /// The overall limit for a request: the configured one, stretched for large
    /// bodies (an upload chunk) so that a slow but moving link (64 KiB/s) still makes it.
    fn timeout_for(&self, body: &Body) -> Duration {
        let len = match body {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
        };
        self.config.request_timeout + Duration::from_secs(len / (64 * 1024))
    }

    fn err(&self, req: &Request, kind: ErrorKind) -> Error {
        Error::new(&req.registry, Some(&req.repository), kind)
    }

    /// Turns a failed response into an error, reading (a bounded part of) its body.
    pub(crate) async fn error_from_response(
        &self,
        req: &Request,
        resp: Response,
        with_credentials: bool,
        attempts: u32,
    ) -> Error {
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = read_limited(resp, ERROR_BODY_LIMIT).await;
        let parsed = parse_error_body(&body);
        let message = parsed
            .as_ref()
            .map(|(c, m)| match (c.is_empty(), m.is_empty()) {
                (false, false) => format!("{c}: {m}"),
                (false, true) => c.clone(),
                _ => m.clone(),
            });
        let kind = match status {
            StatusCode::UNAUTHORIZED => ErrorKind::Unauthorized {
                with_credentials,
                message,
            },
            StatusCode::FORBIDDEN => ErrorKind::Forbidden { message },
            StatusCode::NOT_FOUND => ErrorKind::NotFound {
                what: req.what.clone(),
            },
            StatusCode::TOO_MANY_REQUESTS => ErrorKind::RateLimited { retry_after },
            _ => {
                let plain = String::from_utf8_lossy(&body);
                let (code, message) = match parsed {
                    Some((c, m)) => (
                        Some(c).filter(|c| !c.is_empty()),
                        Some(m).filter(|m| !m.is_empty()),
                    ),
                    None => (
                        None,
                        Some(truncate(&plain, crate::redact::DEFAULT_CAP))
                            .filter(|m| !m.is_empty()),
                    ),
                };
                ErrorKind::Status {
                    status: status.as_u16(),
                    code,
                    message,
                }
            }
        };
        self.err(req, kind).with_attempts(attempts)
    }
}

/// `POST realm` with `grant_type=refresh_token`, as docker does for identity tokens
/// (ACR after `az acr login`). The token travels in the body, never in the URL.
fn refresh_token_request(
    http: &reqwest::Client,
    realm: &Url,
    service: Option<&str>,
    scopes: &[String],
    refresh_token: &Secret,
) -> reqwest::RequestBuilder {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token.expose())
        .append_pair("client_id", "acr-sync")
        .append_pair("scope", &scopes.join(" "));
    if let Some(service) = service {
        form.append_pair("service", service);
    }
    http.post(realm.clone())
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        )
        .body(form.finish())
}

/// What a request carried to authenticate.
enum Sent {
    /// Nothing.
    Nothing,
    /// Basic credentials.
    Basic(HeaderValue),
    /// A bearer token.
    Token(Secret),
}

impl Sent {
    fn header(&self) -> Option<HeaderValue> {
        match self {
            Sent::Nothing => None,
            Sent::Basic(value) => Some(value.clone()),
            Sent::Token(token) => Some(bearer_header(token)),
        }
    }
}

/// What one request has already done about 401s.
#[derive(Default)]
struct AuthAttempts {
    /// Scheme changes followed (bounded).
    challenges_followed: u32,
    /// Whether a refused token was replaced by a fresh one.
    fresh_tried: bool,
    /// The token the registry just refused: the next attempt fetches another.
    refused_token: Option<Secret>,
}

/// What to do after a 401.
enum After401 {
    /// Send again with what was learnt.
    Retry,
    /// The token was refused for lack of scope (`insufficient_scope`).
    Forbidden,
    /// The 401 is the answer.
    Verdict,
}

/// The scheme a 401's challenges ask for: `Bearer` with a realm first, else `Basic`.
fn host_auth_from(challenges: &[crate::auth::Challenge]) -> Option<HostAuth> {
    if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
        if let Some(realm) = bearer.params.get("realm") {
            return Some(HostAuth::Bearer {
                realm: realm.clone(),
                service: bearer.params.get("service").cloned(),
            });
        }
    }
    challenges
        .iter()
        .any(|c| c.scheme == "basic")
        .then_some(HostAuth::Basic)
}

/// Failures that will not heal by waiting: retrying them only delays the message.
fn is_final(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::UnknownHost { .. } | ErrorKind::TlsVerification { .. }
    )
}

/// `host[:port]` of a URL, for messages (never its path or query).
fn url_host(url: &Url) -> String {
    url[url::Position::BeforeHost..url::Position::AfterPort].to_string()
}

/// A token endpoint's error answer, named as such: its 404 is not the registry's.
async fn token_endpoint_error(realm: &Url, resp: Response) -> ErrorKind {
    let status = resp.status().as_u16();
    let body = read_limited(resp, ERROR_BODY_LIMIT).await;
    let message = match parse_error_body(&body) {
        Some((c, m)) => match (c.is_empty(), m.is_empty()) {
            (false, false) => Some(format!("{c}: {m}")),
            (false, true) => Some(c),
            (true, false) => Some(m),
            (true, true) => None,
        },
        None => Some(truncate(
            &String::from_utf8_lossy(&body),
            crate::redact::DEFAULT_CAP,
        ))
        .filter(|m| !m.is_empty()),
    };
    ErrorKind::TokenEndpoint {
        host: url_host(realm),
        status,
        message,
    }
}

/// What a retryable status means for the retry loop: the error to report if the budget
/// runs out, and how long the registry asked us to wait.
fn retryable_failure(resp: &Response, status: u16) -> (ErrorKind, Option<Duration>) {
    let retry_after = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let kind = ErrorKind::Status {
        status,
        code: None,
        message: None,
    };
    (kind, retry_after)
}

async fn read_limited(mut resp: Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        out.extend_from_slice(&chunk);
        if out.len() >= limit {
            out.truncate(limit);
            break;
        }
    }
    out
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn basic_header(username: &str, password: &Secret) -> HeaderValue {
    let raw = format!("{username}:{}", password.expose());
    let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
    sensitive(&format!("Basic {encoded}"))
}

fn bearer_header(token: &Secret) -> HeaderValue {
    sensitive(&format!("Bearer {}", token.expose()))
}

fn sensitive(value: &str) -> HeaderValue {
    // A token with bytes a header cannot carry is unusable anyway: send nothing.
    let mut v = HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}

/// The kind of a reqwest error, described without its URL (which may hold a token
/// in a query string of a redirect target).
pub(crate) fn transport_error_kind(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    let detail = crate::redact::remote_text(error_chain(e).as_bytes(), crate::redact::DEFAULT_CAP);
    classify_unreachable(detail)
}

/// Tells apart, in a connection error's text, what no retry cures: a name the resolver
/// says does not exist (`EAI_NONAME`; a temporary resolver failure, `EAI_AGAIN`, is
/// retried), and a certificate that failed verification.
fn classify_unreachable(detail: String) -> ErrorKind {
    const NO_SUCH_NAME: &[&str] = &[
        "Name or service not known",
        "No address associated with hostname",
        "nodename nor servname provided",
        "Name does not resolve",
        "No such host is known",
    ];
    if detail.contains("dns error") && NO_SUCH_NAME.iter().any(|m| detail.contains(m)) {
        return ErrorKind::UnknownHost { detail };
    }
    if detail.contains("invalid peer certificate") || detail.contains("certificate verify failed") {
        return ErrorKind::TlsVerification { detail };
    }
    ErrorKind::Unreachable { detail }
}

fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    let top = if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "error reading the response body"
    } else if e.is_request() {
        "error sending the request"
    } else {
        "HTTP error"
    };
    if parts.is_empty() {
        top.to_string()
    } else {
        format!("{top}: {}", parts.join(": "))
    }
}
