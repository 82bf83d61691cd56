//! Registry authentication: `WWW-Authenticate` challenges, scopes and the token cache.
//!
//! The HTTP side (asking the realm for a token) lives in the transport; this module
//! is pure data so that it can be tested without a server.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::secret::Secret;

/// One challenge of a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// The scheme, lower-cased (`bearer`, `basic`).
    pub scheme: String,
    /// Parameter names lower-cased, values unquoted.
    pub params: BTreeMap<String, String>,
}

/// Parses a `WWW-Authenticate` value into its challenges (RFC 9110 §11.6.1), honouring
/// quoted strings with commas and backslash escapes.
pub(crate) fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut p = Parser {
        chars: header.chars().collect(),
        pos: 0,
    };
    let mut out: Vec<Challenge> = Vec::new();
    loop {
        p.skip_separators();
        let Some(token) = p.token() else {
            // A stray `=` or quote where a token belongs: skip it rather than lose the
            // challenges after it.
            if p.peek().is_none() {
                break;
            }
            p.pos += 1;
            continue;
        };
        p.skip_spaces();
        if p.peek() == Some('=') {
            // `name=value` continues the current challenge's parameters.
            p.pos += 1;
            p.skip_spaces();
            let value = p.value();
            if let Some(current) = out.last_mut() {
                current.params.insert(token.to_ascii_lowercase(), value);
            }
        } else {
            out.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
        }
    }
    out
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | ',')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> Option<String> {
        // A stray quote where a token belongs is skipped.
        while self.peek() == Some('"') {
            self.pos += 1;
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == '=' || c == ',' || c == ' ' || c == '\t' || c == '"' {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return None;
        }
        Some(self.chars[start..self.pos].iter().collect())
    }

    fn value(&mut self) -> String {
        if self.peek() != Some('"') {
            // An unquoted value runs to the next separator and may hold `=` (a URL's
            // query, or the padding of a token68 read as `name=value`).
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c == ',' || c == ' ' || c == '\t' {
                    break;
                }
                self.pos += 1;
            }
            return self.chars[start..self.pos].iter().collect();
        }
        self.pos += 1;
        let mut value = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '"' => break,
                '\\' => {
                    if let Some(next) = self.peek() {
                        value.push(next);
                        self.pos += 1;
                    }
                }
                _ => value.push(c),
            }
        }
        value
    }
}

/// What a request needs to be allowed to do on a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read.
    Pull,
    /// Read and write.
    Push,
    /// Registry-specific actions (ACR's `metadata_read` for its listing API).
    Actions(&'static str),
    /// The registry's repository list (`registry:catalog:*`).
    Catalog,
}

/// The token scopes for an operation: `repository:<repo>:pull[,push]`, plus a pull on
/// the source repository of a cross-repository mount, so that one token serves both.
pub(crate) fn scopes(repository: &str, access: Access, mount_from: Option<&str>) -> Vec<String> {
    let actions = match access {
        Access::Catalog => return vec!["registry:catalog:*".to_string()],
        Access::Pull => "pull",
        Access::Push => "pull,push",
        Access::Actions(actions) => actions,
    };
    let mut scopes = vec![format!("repository:{repository}:{actions}")];
    if let Some(from) = mount_from.filter(|f| *f != repository) {
        scopes.push(format!("repository:{from}:pull"));
    }
    scopes
}

/// A token endpoint's answer.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    token: Option<Secret>,
    #[serde(default)]
    access_token: Option<Secret>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The default token life when the endpoint does not say (the distribution spec's 60s).
const DEFAULT_EXPIRES_IN: u64 = 60;
/// Tokens are dropped this long before they expire, so a request never carries one
/// that runs out on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

impl TokenResponse {
    /// The token (`token`, else `access_token`) and how long it may be used.
    pub(crate) fn into_token(self) -> Option<(Secret, Duration)> {
        let token = self
            .token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))?;
        let life = Duration::from_secs(
            self.expires_in
                .filter(|&e| e > 0)
                .unwrap_or(DEFAULT_EXPIRES_IN),
        );
        // Keep at least half the life when the margin would eat it all.
        let usable = life
            .checked_sub(EXPIRY_MARGIN)
            .filter(|u| *u >= life / 2)
            .unwrap_or(life / 2);
        Some((token, usable))
    }
}

/// How a registry host wants to be authenticated, learnt from its first 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostAuth {
    /// Nothing learnt yet: one request goes first, without credentials, and the others
    /// wait for what its answer teaches.
    Unknown,
    /// A request without credentials went through: send nothing until a 401 asks.
    Anonymous,
    /// `Basic`: send the credentials on every request.
    Basic,
    /// `Bearer`: get tokens from `realm` for `service`.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// A gate that lets one task do a piece of work (learn a challenge, fetch a token)
/// while the others wait for its result.
type Gate = Arc<tokio::sync::Mutex<()>>;

/// Tokens and schemes per registry host; tokens are keyed by host and sorted scopes.
#[derive(Debug, Default)]
pub(crate) struct AuthCache {
    hosts: Mutex<HashMap<String, HostAuth>>,
    tokens: Mutex<HashMap<(String, String), (Secret, Instant)>>,
    /// Per host: held by the request that learns the host's challenge.
    learning: Mutex<HashMap<String, Gate>>,
    /// Per host and scope set: held by the task fetching that token.
    fetching: Mutex<HashMap<(String, String), Gate>>,
}

impl AuthCache {
    pub(crate) fn host(&self, host: &str) -> HostAuth {
        let hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts.get(host).cloned().unwrap_or(HostAuth::Unknown)
    }

    pub(crate) fn set_host(&self, host: &str, auth: HostAuth) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts.insert(host.to_string(), auth);
    }

    /// Marks a host anonymous unless something else was learnt meanwhile.
    pub(crate) fn set_anonymous_if_unknown(&self, host: &str) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts.entry(host.to_string()).or_insert(HostAuth::Anonymous);
    }

    /// While the host's scheme is unknown: the gate that the one request learning it
    /// holds. None once it is known.
    pub(crate) async fn learning_turn(
        &self,
        host: &str,
    ) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        if self.host(host) != HostAuth::Unknown {
            return None;
        }
        let gate = {
            let mut gates = self.learning.lock().unwrap_or_else(|e| e.into_inner());
            gates.entry(host.to_string()).or_default().clone()
        };
        let guard = gate.lock_owned().await;
        // Whoever held the gate before may have learnt it.
        (self.host(host) == HostAuth::Unknown).then_some(guard)
    }

    /// The gate of one token: held while it is fetched, so that concurrent requests for
    /// the same scopes wait for one token request instead of each sending their own.
    pub(crate) async fn fetching_turn(
        &self,
        host: &str,
        scopes: &[String],
    ) -> tokio::sync::OwnedMutexGuard<()> {
        let gate = {
            let mut gates = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
            gates
                .entry((host.to_string(), scope_key(scopes)))
                .or_default()
                .clone()
        };
        gate.lock_owned().await
    }

    /// A live token for `scopes`: the one fetched for exactly these, else one fetched
    /// for scopes that cover them (a `pull,push` token serves `pull`).
    pub(crate) fn token(&self, host: &str, scopes: &[String]) -> Option<Secret> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let live = |(token, until): &(Secret, Instant)| (now < *until).then(|| token.clone());
        if let Some(t) = tokens
            .get(&(host.to_string(), scope_key(scopes)))
            .and_then(live)
        {
            return Some(t);
        }
        let wanted: Vec<Scope> = scopes.iter().filter_map(|s| Scope::parse(s)).collect();
        if wanted.len() != scopes.len() {
            return None;
        }
        tokens
            .iter()
            .filter(|((h, _), _)| h == host)
            .filter(|((_, key), _)| {
                let have: Vec<Scope> = key.split(' ').filter_map(Scope::parse).collect();
                wanted.iter().all(|w| have.iter().any(|h| h.covers(w)))
            })
            .find_map(|(_, entry)| live(entry))
    }

    /// A live token fetched for exactly `scopes`.
    pub(crate) fn token_exact(&self, host: &str, scopes: &[String]) -> Option<Secret> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let (token, until) = tokens.get(&(host.to_string(), scope_key(scopes)))?;
        (Instant::now() < *until).then(|| token.clone())
    }

    pub(crate) fn store_token(&self, host: &str, scopes: &[String], token: Secret, life: Duration) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.insert(
            (host.to_string(), scope_key(scopes)),
            (token, Instant::now() + life),
        );
    }

    /// Forgets `token` wherever it is cached: the registry refused it.
    pub(crate) fn drop_token(&self, host: &str, token: &Secret) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.retain(|(h, _), (t, _)| !(h == host && t == token));
    }
}

/// One scope, `type:name:action,action`; the name may hold colons (a registry's
/// scopes never do today, but nothing here depends on that).
struct Scope<'a> {
    kind: &'a str,
    name: &'a str,
    actions: Vec<&'a str>,
}

impl<'a> Scope<'a> {
    fn parse(text: &'a str) -> Option<Scope<'a>> {
        let (kind, rest) = text.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        Some(Scope {
            kind,
            name,
            actions: actions.split(',').filter(|a| !a.is_empty()).collect(),
        })
    }

    /// Whether a token granted for `self` may be used for `other`: same resource, and
    /// every action `other` needs is among ours (`*` is all of them).
    fn covers(&self, other: &Scope<'_>) -> bool {
        self.kind == other.kind
            && self.name == other.name
            && other
                .actions
                .iter()
                .all(|a| self.actions.contains(a) || self.actions.contains(&"*"))
    }
}

fn scope_key(scopes: &[String]) -> String {
    let mut sorted: Vec<&str> = scopes.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_with_quoted_commas() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].params["realm"], "https://auth.docker.io/token");
        assert_eq!(c[0].params["service"], "registry.docker.io");
        assert_eq!(c[0].params["scope"], "repository:a/b:pull,push");
    }

    #[test]
    fn parses_several_challenges_spaces_escapes_and_tokens() {
        let c = parse_challenges(
            r#"Basic realm="Registry \"R\"", Bearer realm = "http://127.0.0.1:1/t" , service=svc,error="insufficient_scope""#,
        );
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].params["realm"], "Registry \"R\"");
        assert_eq!(c[1].params["realm"], "http://127.0.0.1:1/t");
        assert_eq!(c[1].params["service"], "svc");
        assert_eq!(c[1].params["error"], "insufficient_scope");
        assert!(parse_challenges("").is_empty());
        assert_eq!(parse_challenges("Basic")[0].scheme, "basic");
        // Garbage never panics.
        for junk in ["\"", "=", "a=\"unterminated", ",,,", "Bearer realm=\"x\\"] {
            let _ = parse_challenges(junk);
        }
    }

    #[test]
    fn token68_and_unquoted_values_with_equals_keep_later_challenges() {
        let c = parse_challenges(
            r#"Negotiate abc==, Bearer realm="https://auth.example/token",service="svc""#,
        );
        let bearer = c.iter().find(|c| c.scheme == "bearer").expect("bearer");
        assert_eq!(bearer.params["realm"], "https://auth.example/token");
        assert_eq!(bearer.params["service"], "svc");
        assert_eq!(c[0].scheme, "negotiate");

        let c = parse_challenges("Negotiate YIIB+w==,Bearer realm=https://a/t?x=1,service=s");
        let bearer = c.iter().find(|c| c.scheme == "bearer").expect("bearer");
        assert_eq!(bearer.params["realm"], "https://a/t?x=1");
        assert_eq!(bearer.params["service"], "s");

        let c = parse_challenges(r#"Basic realm=a=b, Bearer realm="r""#);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].params["realm"], "a=b");
        assert_eq!(c[1].params["realm"], "r");

        // A stray `=` or quote does not end the parse.
        let c = parse_challenges(r#"= "x", Bearer realm="r""#);
        assert_eq!(c.last().unwrap().params["realm"], "r");
        for junk in ["==", "a==", "Negotiate =", "x = = y"] {
            let _ = parse_challenges(junk);
        }
    }

    #[test]
    fn scopes_for_pull_push_and_mount() {
        assert_eq!(scopes("a/b", Access::Pull, None), ["repository:a/b:pull"]);
        assert_eq!(
            scopes("a/b", Access::Push, Some("c/d")),
            ["repository:a/b:pull,push", "repository:c/d:pull"]
        );
        assert_eq!(scopes("a/b", Access::Push, Some("a/b")).len(), 1);
    }

    #[test]
    fn token_responses() {
        let t: TokenResponse = serde_json::from_str(r#"{"access_token":"x"}"#).unwrap();
        let (tok, life) = t.into_token().unwrap();
        assert_eq!(tok.expose(), "x");
        assert_eq!(life, Duration::from_secs(50));
        let t: TokenResponse =
            serde_json::from_str(r#"{"token":"a","access_token":"b","expires_in":300}"#).unwrap();
        let (tok, life) = t.into_token().unwrap();
        assert_eq!((tok.expose(), life), ("a", Duration::from_secs(290)));
        let t: TokenResponse = serde_json::from_str(r#"{"token":"a","expires_in":4}"#).unwrap();
        assert_eq!(t.into_token().unwrap().1, Duration::from_secs(2));
        let t: TokenResponse = serde_json::from_str(r#"{"token":""}"#).unwrap();
        assert!(t.into_token().is_none());
    }

    #[test]
    fn token_cache_is_per_host_and_scope_set() {
        let cache = AuthCache::default();
        let s = scopes("a/b", Access::Push, Some("c"));
        cache.store_token("h", &s, Secret::new("t"), Duration::from_secs(60));
        let reversed: Vec<String> = s.iter().rev().cloned().collect();
        assert_eq!(cache.token("h", &reversed).unwrap().expose(), "t");
        // A scope set it does not cover (see the next test for those it does).
        assert!(cache.token("h", &scopes("c", Access::Push, None)).is_none());
        assert!(cache.token("other", &s).is_none());
        cache.store_token("h", &s, Secret::new("old"), Duration::ZERO);
        assert!(cache.token("h", &s).is_none());
    }

    #[test]
    fn a_wider_token_serves_narrower_scopes_and_a_refused_one_is_forgotten() {
        let cache = AuthCache::default();
        let push = scopes("a/b", Access::Push, Some("c/d"));
        cache.store_token("h", &push, Secret::new("wide"), Duration::from_secs(60));
        for narrower in [
            scopes("a/b", Access::Pull, None),
            scopes("c/d", Access::Pull, None),
            scopes("a/b", Access::Push, None),
        ] {
            assert_eq!(cache.token("h", &narrower).unwrap().expose(), "wide");
        }
        // Not covered: another repository, another action, another host.
        assert!(
            cache
                .token("h", &scopes("c/d", Access::Push, None))
                .is_none()
        );
        assert!(
            cache
                .token("h", &scopes("a/bc", Access::Pull, None))
                .is_none()
        );
        assert!(
            cache
                .token("h", &scopes("a/b", Access::Actions("delete"), None))
                .is_none()
        );
        assert!(
            cache
                .token("g", &scopes("a/b", Access::Pull, None))
                .is_none()
        );
        // A `*` grant covers every action; junk scopes are never served.
        let all = vec!["repository:x:*".to_string()];
        cache.store_token("h", &all, Secret::new("star"), Duration::from_secs(60));
        assert_eq!(
            cache
                .token("h", &scopes("x", Access::Actions("delete"), None))
                .unwrap()
                .expose(),
            "star"
        );
        assert!(cache.token("h", &["junk".to_string()]).is_none());
        cache.drop_token("h", &Secret::new("wide"));
        assert!(
            cache
                .token("h", &scopes("a/b", Access::Pull, None))
                .is_none()
        );
    }

    #[tokio::test]
    async fn one_learner_at_a_time_until_the_scheme_is_known() {
        let cache = Arc::new(AuthCache::default());
        let first = cache.learning_turn("h").await.expect("the first learns");
        let waiter = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.learning_turn("h").await.is_some() })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "the second waits for the first");
        cache.set_host("h", HostAuth::Basic);
        drop(first);
        assert!(!waiter.await.unwrap(), "then finds the scheme learnt");
        assert!(cache.learning_turn("h").await.is_none());
    }
}
