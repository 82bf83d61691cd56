//! How a [`Client`](crate::Client) is set up: per-registry TLS, CA and credentials.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::retry::RetryPolicy;
use crate::secret::Secret;

/// Settings of a client; one client serves a whole run.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Per-registry settings, keyed by the registry as written in references
    /// (`docker.io`, `registry.internal:5000`).
    pub registries: BTreeMap<String, RegistrySettings>,
    /// A docker `config.json` to read credentials from (see
    /// [`docker_config_path`](crate::docker_config_path)); None reads none.
    pub docker_config: Option<PathBuf>,
    /// How failed requests are retried.
    pub retry: RetryPolicy,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The limit for one request without a streamed body, and for any pause while
    /// streaming a blob (a long download that keeps moving is never cut).
    pub request_timeout: Duration,
    /// Blobs up to this size are uploaded with one PUT; larger ones in PATCH chunks of
    /// this size (each chunk is held in memory so that it can be resent).
    pub upload_chunk_size: usize,
    /// Credentials obtained on demand, keyed like [`ClientConfig::registries`]; they win
    /// over both the registry's settings and the docker config. This is how an Azure
    /// Container Registry gets refresh tokens exchanged from Entra ID tokens, which expire
    /// and so cannot be fixed when the client is made.
    pub credential_providers: BTreeMap<String, ProvidedCredentials>,
    /// The slowest a blob download may go: a blob that brings fewer bytes than this
    /// rate over a whole window is abandoned with [`ErrorKind::TooSlow`](crate::ErrorKind::TooSlow)
    /// (transient: the caller may restart it). None: no minimum.
    pub min_transfer_rate: Option<MinTransferRate>,
}

/// A minimum transfer rate, averaged over windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinTransferRate {
    /// Bytes per second, averaged over `window`.
    pub bytes_per_second: u64,
    /// How long a window lasts: a slow moment shorter than this does no harm.
    pub window: Duration,
}

impl Default for MinTransferRate {
    /// 10 KiB/s over 30 s windows: far below any working link (a 1 Mbit/s line moves
    /// 125 KiB/s), far above a connection that has effectively died but still trickles.
    fn default() -> MinTransferRate {
        MinTransferRate {
            bytes_per_second: 10 * 1024,
            window: Duration::from_secs(30),
        }
    }
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            registries: BTreeMap::new(),
            docker_config: None,
            retry: RetryPolicy::default(),
            user_agent: concat!("acr-sync/", env!("CARGO_PKG_VERSION")).to_string(),
            request_timeout: Duration::from_secs(60),
            upload_chunk_size: 8 * 1024 * 1024,
            credential_providers: BTreeMap::new(),
            min_transfer_rate: Some(MinTransferRate::default()),
        }
    }
}

/// A source of credentials asked before every request to its registry: it caches what
/// it can and renews what expires. Errors should name what failed without any secret.
pub trait CredentialsProvider: Send + Sync {
    /// The credentials to use now (an ACR provider answers
    /// [`Credentials::IdentityToken`]s, exchanged at the registry's token endpoint).
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, crate::Error>>;
}

/// A shared [`CredentialsProvider`], as held in [`ClientConfig::credential_providers`].
#[derive(Clone)]
pub struct ProvidedCredentials(pub Arc<dyn CredentialsProvider>);

impl fmt::Debug for ProvidedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProvidedCredentials(..)")
    }
}

/// Settings for one registry.
#[derive(Debug, Clone, Default)]
pub struct RegistrySettings {
    /// Whether to use TLS.
    pub tls: Tls,
    /// A PEM bundle of CA certificates to trust for this registry, besides the system's.
    pub ca_pem: Option<String>,
    /// Credentials for this registry; they win over the docker config.
    pub credentials: Option<Credentials>,
}

/// Whether a registry is reached over HTTPS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// HTTPS, except plain HTTP for loopback hosts (as docker does).
    #[default]
    Default,
    /// HTTPS always, loopback included (a test registry with its own CA).
    Enabled,
    /// Plain HTTP.
    Disabled,
}

/// How to log in to a registry. Secrets are [`Secret`]s, so `Debug` never shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and a password (or an access token used as one): sent as HTTP Basic
    /// to a registry that asks for Basic, or to the token endpoint of a `Bearer` one.
    Basic {
        /// The user name.
        username: String,
        /// The password or access token.
        password: Secret,
    },
    /// An OAuth2 refresh token (docker's `identitytoken`, written by `docker login` to
    /// ACR with Entra ID, or ACR's exchanged refresh token). It is never sent to the
    /// registry itself: it is traded at the token endpoint for access tokens with
    /// `grant_type=refresh_token`, so it only works with `Bearer` registries.
    IdentityToken(Secret),
}

impl Credentials {
    /// Basic credentials: a user name and a password or access token.
    pub fn new(username: impl Into<String>, password: impl Into<Secret>) -> Credentials {
        Credentials::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// An identity (OAuth2 refresh) token.
    pub fn identity_token(token: impl Into<Secret>) -> Credentials {
        Credentials::IdentityToken(token.into())
    }

    /// The user name of basic credentials; None for an identity token.
    pub fn username(&self) -> Option<&str> {
        match self {
            Credentials::Basic { username, .. } => Some(username),
            Credentials::IdentityToken(_) => None,
        }
    }

    /// The password of basic credentials, or the identity token.
    pub fn secret(&self) -> &Secret {
        match self {
            Credentials::Basic { password, .. } => password,
            Credentials::IdentityToken(token) => token,
        }
    }
}

/// Whether `host` (`host[:port]`, as in references) is a loopback address.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:5000",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "docker.io",
            "10.0.0.1:5000",
            "ghcr.io",
            "[::2]:5000",
            "localhostx",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn credentials_debug_is_redacted() {
        let c = Credentials::new("bob", "s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(c.username(), Some("bob"));
        let t = Credentials::identity_token("refresh-xyz");
        assert!(!format!("{t:?}").contains("refresh-xyz"), "{t:?}");
        assert_eq!((t.username(), t.secret().expose()), (None, "refresh-xyz"));
    }
}
