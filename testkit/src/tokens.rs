//! The Bearer token server: checks basic credentials of known users and signs RS256 JWTs that
//! docker-registry's `auth: token` accepts.
//!
//! The JWT header carries `"x5c": [base64 DER of the signing certificate]`; that certificate is
//! self-signed and its PEM is the registry's `rootcertbundle`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SigningKey};
use serde::Serialize;

use crate::net::{self, Background, BoxError, RespBody};

/// What a token request without `Authorization` gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AnonymousAccess {
    /// 401 from the token server.
    Reject,
    /// A token with no access at all (the registry then answers 401 to anything but `/v2/`).
    #[default]
    NoAccess,
    /// A token with `pull` on every requested repository.
    Pull,
}

/// A user known to the token server, with the actions it may be granted.
#[derive(Clone, Debug)]
pub struct TokenUser {
    /// User name.
    pub name: String,
    /// Password (checked on the token request's basic credentials).
    pub password: String,
    /// Actions granted on repositories: `pull`, `push`, `delete`, or `*` for everything (including
    /// `registry:catalog:*`).
    pub actions: Vec<String>,
    /// Repository name prefixes the grants are limited to; `None`: every repository.
    pub repos: Option<Vec<String>>,
}

impl TokenUser {
    /// A user that may pull and push every repository.
    pub fn new(name: &str, password: &str) -> TokenUser {
        TokenUser {
            name: name.into(),
            password: password.into(),
            actions: vec!["pull".into(), "push".into()],
            repos: None,
        }
    }

    /// A user that may only pull.
    pub fn pull_only(name: &str, password: &str) -> TokenUser {
        TokenUser::new(name, password).actions(&["pull"])
    }

    /// A user that may do everything (`*`), including deletes and the catalog.
    pub fn admin(name: &str, password: &str) -> TokenUser {
        TokenUser::new(name, password).actions(&["*"])
    }

    /// Replaces the granted actions.
    pub fn actions(mut self, actions: &[&str]) -> TokenUser {
        self.actions = actions.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Limits grants to repositories whose name starts with one of `prefixes`.
    pub fn repos(mut self, prefixes: &[&str]) -> TokenUser {
        self.repos = Some(prefixes.iter().map(|p| p.to_string()).collect());
        self
    }

    fn allows(&self, scope: &Scope) -> Vec<String> {
        let all = self.actions.iter().any(|a| a == "*");
        if scope.kind != "repository" {
            return if all {
                scope.actions.clone()
            } else {
                Vec::new()
            };
        }
        if let Some(prefixes) = &self.repos {
            if !prefixes.iter().any(|p| scope.name.starts_with(p.as_str())) {
                return Vec::new();
            }
        }
        scope
            .actions
            .iter()
            .filter(|a| all || self.actions.iter().any(|g| g == *a))
            .cloned()
            .collect()
    }
}

/// Settings of a [`TokenServer`].
#[derive(Clone, Debug)]
pub struct TokenServerOptions {
    /// Known users.
    pub users: Vec<TokenUser>,
    /// What anonymous requests get.
    pub anonymous: AnonymousAccess,
    /// `expires_in` of issued tokens, seconds (also their `exp - iat`).
    pub expires_in: u64,
    /// When true, an authenticated request for an action the user lacks is answered 403 instead of
    /// a token with the granted subset (the default, as Docker Hub does).
    pub forbid_missing_grants: bool,
    /// The `service` (JWT `aud`).
    pub service: String,
    /// The `issuer` (JWT `iss`).
    pub issuer: String,
}

impl Default for TokenServerOptions {
    fn default() -> Self {
        TokenServerOptions {
            users: Vec::new(),
            anonymous: AnonymousAccess::NoAccess,
            expires_in: 300,
            forbid_missing_grants: false,
            service: "acr-sync-testkit-registry".into(),
            issuer: "acr-sync-testkit-token-issuer".into(),
        }
    }
}

impl TokenServerOptions {
    /// No users, anonymous gets no access, tokens valid 300 s.
    pub fn new() -> TokenServerOptions {
        TokenServerOptions::default()
    }

    /// Adds a user.
    pub fn user(mut self, user: TokenUser) -> TokenServerOptions {
        self.users.push(user);
        self
    }

    /// Sets what anonymous requests get.
    pub fn anonymous(mut self, anonymous: AnonymousAccess) -> TokenServerOptions {
        self.anonymous = anonymous;
        self
    }

    /// Sets `expires_in`, seconds.
    pub fn expires_in(mut self, secs: u64) -> TokenServerOptions {
        self.expires_in = secs;
        self
    }

    /// Answer 403 when a known user asks for an action it lacks (instead of a reduced token).
    pub fn forbid_missing_grants(mut self, yes: bool) -> TokenServerOptions {
        self.forbid_missing_grants = yes;
        self
    }
}

/// One `access` entry of a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Repository name (or `catalog`).
    pub name: String,
    /// Granted actions.
    pub actions: Vec<String>,
}

/// A request the token server answered.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// The authenticated user, `None` for anonymous (or a failed login).
    pub user: Option<String>,
    /// The `scope` parameters, as sent.
    pub scopes: Vec<String>,
    /// `service` parameter.
    pub service: Option<String>,
    /// Status answered: 200, 401 or 403.
    pub status: u16,
    /// What the issued token grants (empty unless 200).
    pub granted: Vec<AccessEntry>,
}

#[derive(Debug, Clone)]
struct Scope {
    kind: String,
    name: String,
    actions: Vec<String>,
}

fn parse_scope(s: &str) -> Option<Scope> {
    let (kind, rest) = s.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some(Scope {
        kind: kind.into(),
        name: name.into(),
        actions: actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(String::from)
            .collect(),
    })
}

/// The RSA signing key and its self-signed certificate, generated once per test process (RSA key
/// generation is the slow part).
struct SigningMaterial {
    key: KeyPair,
    cert_der: Vec<u8>,
    cert_pem: String,
}

fn signing_material() -> &'static SigningMaterial {
    static MATERIAL: OnceLock<SigningMaterial> = OnceLock::new();
    MATERIAL.get_or_init(|| {
        let key =
            KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("generate the RSA token key");
        let mut params =
            CertificateParams::new(vec!["acr-sync-testkit-token".to_string()]).expect("params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "acr-sync testkit token signer");
        params.distinguished_name = dn;
        let cert = params
            .self_signed(&key)
            .expect("self-sign the token certificate");
        SigningMaterial {
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            key,
        }
    })
}

struct Inner {
    opts: TokenServerOptions,
    issued: AtomicUsize,
    minted: AtomicUsize,
    jti: AtomicU64,
    log: Mutex<Vec<TokenRequest>>,
}

impl Inner {
    fn sign(&self, subject: &str, access: &[AccessEntry]) -> String {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'a str,
            typ: &'a str,
            x5c: Vec<String>,
        }
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            sub: &'a str,
            aud: &'a str,
            exp: u64,
            nbf: u64,
            iat: u64,
            jti: String,
            access: &'a [AccessEntry],
        }
        let material = signing_material();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let header = Header {
            alg: "RS256",
            typ: "JWT",
            x5c: vec![STANDARD.encode(&material.cert_der)],
        };
        let claims = Claims {
            iss: &self.opts.issuer,
            sub: subject,
            aud: &self.opts.service,
            exp: now + self.opts.expires_in,
            nbf: now.saturating_sub(10),
            iat: now,
            jti: format!("testkit-{}", self.jti.fetch_add(1, Ordering::Relaxed)),
            access,
        };
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header json")),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims json")),
        );
        let signature = material
            .key
            .sign(signing_input.as_bytes())
            .expect("RS256 signature");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn authenticate(&self, req: &Request<Incoming>) -> Result<Option<&TokenUser>, ()> {
        let Some(value) = req.headers().get(hyper::header::AUTHORIZATION) else {
            return Ok(None);
        };
        let value = value.to_str().map_err(|_| ())?;
        let (scheme, b64) = value.split_once(' ').ok_or(())?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(());
        }
        let decoded = STANDARD.decode(b64.trim()).map_err(|_| ())?;
        let decoded = String::from_utf8(decoded).map_err(|_| ())?;
        let (user, password) = decoded.split_once(':').ok_or(())?;
        self.opts
            .users
            .iter()
            .find(|u| u.name == user && u.password == password)
            .map(Some)
            .ok_or(())
    }

    fn handle(&self, req: Request<Incoming>) -> Response<RespBody> {
        let json = |status: StatusCode, body: serde_json::Value| {
            let mut resp = Response::new(net::full(body.to_string()));
            *resp.status_mut() = status;
            resp.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            resp
        };
        if req.method() != Method::GET {
            return json(
                StatusCode::METHOD_NOT_ALLOWED,
                serde_json::json!({"error": "method not allowed"}),
            );
        }
        let mut scopes = Vec::new();
        let mut service = None;
        for (k, v) in url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()) {
            match &*k {
                "scope" => scopes.extend(v.split(' ').filter(|s| !s.is_empty()).map(String::from)),
                "service" => service = Some(v.into_owned()),
                _ => {}
            }
        }
        let record = |user: Option<String>, status: u16, granted: Vec<AccessEntry>| {
            self.log.lock().expect("token log").push(TokenRequest {
                user,
                scopes: scopes.clone(),
                service: service.clone(),
                status,
                granted,
            });
        };
        let user = match self.authenticate(&req) {
            Ok(user) => user,
            Err(()) => {
                record(None, 401, Vec::new());
                let mut resp = json(
                    StatusCode::UNAUTHORIZED,
                    serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}),
                );
                resp.headers_mut().insert(
                    hyper::header::WWW_AUTHENTICATE,
                    hyper::header::HeaderValue::from_static("Basic realm=\"acr-sync-testkit\""),
                );
                return resp;
            }
        };
        if user.is_none() && self.opts.anonymous == AnonymousAccess::Reject {
            record(None, 401, Vec::new());
            let mut resp = json(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}),
            );
            resp.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                hyper::header::HeaderValue::from_static("Basic realm=\"acr-sync-testkit\""),
            );
            return resp;
        }
        let mut granted = Vec::new();
        let mut missing = false;
        for scope in scopes.iter().filter_map(|s| parse_scope(s)) {
            let actions: Vec<String> = match user {
                Some(u) => u.allows(&scope),
                None if self.opts.anonymous == AnonymousAccess::Pull
                    && scope.kind == "repository" =>
                {
                    scope
                        .actions
                        .iter()
                        .filter(|a| *a == "pull")
                        .cloned()
                        .collect()
                }
                None => Vec::new(),
            };
            let wanted: BTreeSet<&String> = scope.actions.iter().collect();
            if wanted.len() > actions.len() {
                missing = true;
            }
            if !actions.is_empty() {
                granted.push(AccessEntry {
                    kind: scope.kind.clone(),
                    name: scope.name.clone(),
                    actions,
                });
            }
        }
        let user_name = user.map(|u| u.name.clone());
        if missing && user.is_some() && self.opts.forbid_missing_grants {
            record(user_name, 403, Vec::new());
            return json(
                StatusCode::FORBIDDEN,
                serde_json::json!({"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]}),
            );
        }
        let token = self.sign(user_name.as_deref().unwrap_or(""), &granted);
        self.issued.fetch_add(1, Ordering::SeqCst);
        record(user_name, 200, granted);
        json(
            StatusCode::OK,
            serde_json::json!({
                "token": token,
                "access_token": token,
                "expires_in": self.opts.expires_in,
                "issued_at": now_rfc3339(),
            }),
        )
    }
}

fn now_rfc3339() -> String {
    // RFC 3339 in UTC without a date crate: seconds since the epoch turned into a civil date.
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    crate::image::rfc3339_from_unix(secs)
}

/// An in-process token server on 127.0.0.1 (plain HTTP, its own thread). Cloning shares it; it
/// stops when the last clone is dropped.
#[derive(Clone)]
pub struct TokenServer {
    inner: Arc<Inner>,
    addr: SocketAddr,
    _server: Arc<Background>,
}

impl TokenServer {
    /// Starts a token server.
    pub fn start(opts: TokenServerOptions) -> TokenServer {
        let _ = signing_material();
        let inner = Arc::new(Inner {
            opts,
            issued: AtomicUsize::new(0),
            minted: AtomicUsize::new(0),
            jti: AtomicU64::new(1),
            log: Mutex::new(Vec::new()),
        });
        let (listener, addr) = net::bind_loopback();
        let handler_inner = inner.clone();
        let server = Background::spawn("testkit-token-server", listener, move |l| {
            net::serve_http1(l, move |req| {
                let inner = handler_inner.clone();
                async move { Ok::<_, BoxError>(inner.handle(req)) }
            })
        });
        TokenServer {
            inner,
            addr,
            _server: Arc::new(server),
        }
    }

    /// The realm URL: `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The `service` the registry is configured with (JWT `aud`).
    pub fn service(&self) -> &str {
        &self.inner.opts.service
    }

    /// The `issuer` the registry is configured with (JWT `iss`).
    pub fn issuer(&self) -> &str {
        &self.inner.opts.issuer
    }

    /// PEM of the signing certificate: the registry's `rootcertbundle`.
    pub fn root_cert_pem(&self) -> &str {
        &signing_material().cert_pem
    }

    /// The options it runs with.
    pub fn options(&self) -> &TokenServerOptions {
        &self.inner.opts
    }

    /// How many tokens it issued over HTTP (status 200). Tokens from [`TokenServer::mint`] are not
    /// counted here.
    pub fn issued(&self) -> usize {
        self.inner.issued.load(Ordering::SeqCst)
    }

    /// How many tokens [`TokenServer::mint`] made.
    pub fn minted(&self) -> usize {
        self.inner.minted.load(Ordering::SeqCst)
    }

    /// Every request it answered over HTTP, in order.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.inner.log.lock().expect("token log").clone()
    }

    /// Signs a token directly, without HTTP and without checking any user: `scopes` are
    /// `type:name:actions` strings such as `repository:a/b:pull,push`, granted as asked.
    pub fn mint(&self, subject: &str, scopes: &[&str]) -> String {
        let access: Vec<AccessEntry> = scopes
            .iter()
            .filter_map(|s| parse_scope(s))
            .map(|s| AccessEntry {
                kind: s.kind,
                name: s.name,
                actions: s.actions,
            })
            .collect();
        self.inner.minted.fetch_add(1, Ordering::SeqCst);
        self.inner.sign(subject, &access)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parsing_keeps_names_with_slashes() {
        let s = parse_scope("repository:a/b/c:pull,push").unwrap();
        assert_eq!(s.kind, "repository");
        assert_eq!(s.name, "a/b/c");
        assert_eq!(s.actions, vec!["pull", "push"]);
        let s = parse_scope("registry:catalog:*").unwrap();
        assert_eq!(s.name, "catalog");
    }

    #[test]
    fn grants_intersect_with_user_actions_and_prefixes() {
        let u = TokenUser::pull_only("r", "p").repos(&["team/"]);
        let s = parse_scope("repository:team/x:pull,push").unwrap();
        assert_eq!(u.allows(&s), vec!["pull"]);
        let s = parse_scope("repository:other/x:pull").unwrap();
        assert!(u.allows(&s).is_empty());
        let a = TokenUser::admin("a", "p");
        let s = parse_scope("registry:catalog:*").unwrap();
        assert_eq!(a.allows(&s), vec!["*"]);
    }
}
