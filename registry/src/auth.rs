//! Registry authentication: `WWW-Authenticate` challenges, scopes and the token cache.
//!
//! The HTTP side (asking the realm for a token) lives in the transport; this module
//! is pure data so that it can be tested without a server.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
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
    /// No challenge seen yet: send nothing.
    Unknown,
    /// `Basic`: send the credentials on every request.
    Basic,
    /// `Bearer`: get tokens from `realm` for `service`.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Tokens and schemes per registry host; tokens are keyed by host and sorted scopes.
#[derive(Debug, Default)]
pub(crate) struct AuthCache {
    hosts: Mutex<HashMap<String, HostAuth>>,
    tokens: Mutex<HashMap<(String, String), (Secret, Instant)>>,
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

    pub(crate) fn token(&self, host: &str, scopes: &[String]) -> Option<Secret> {
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
        assert!(
            cache
                .token("h", &scopes("a/b", Access::Pull, None))
                .is_none()
        );
        assert!(cache.token("other", &s).is_none());
        cache.store_token("h", &s, Secret::new("old"), Duration::ZERO);
        assert!(cache.token("h", &s).is_none());
    }
}
