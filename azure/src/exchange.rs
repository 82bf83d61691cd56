//! ACR data-plane authentication: an Entra token exchanged for an ACR refresh token.
//!
//! `POST https://<login server>/oauth2/exchange` with `grant_type=access_token`, the
//! registry as `service`, the tenant and the Entra token answers `{"refresh_token"}`.
//! The registry client then trades that refresh token for scoped access tokens at
//! `POST /oauth2/token` (`grant_type=refresh_token`) whenever a `Bearer` challenge asks,
//! which it already does for docker's identity tokens: [`AcrCredentials`] hands it the
//! refresh token as a [`Credentials::IdentityToken`], renewed before it expires.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use acr_sync_registry::{Credentials, CredentialsProvider, ErrorKind, Secret, is_loopback};
use base64::Engine as _;
use futures::future::BoxFuture;
use reqwest::header;

use crate::credential::{Credential, CredentialError, form, usable};

/// ACR refresh tokens live three hours; used when the token does not say.
const DEFAULT_REFRESH_LIFE: Duration = Duration::from_secs(3 * 3600);

/// The exchange failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExchangeError {
    /// No Entra token.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The registry refused or failed the exchange.
    #[error("registry {registry}: the token exchange (POST /oauth2/exchange) failed: {message}")]
    Refused {
        /// The login server.
        registry: String,
        /// The HTTP status, when there was an answer.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
}

/// Refresh tokens for one ACR, obtained from an Entra [`Credential`] and cached until
/// shortly before they expire. Register it as the registry client's
/// [`CredentialsProvider`] for the login server.
#[derive(Debug)]
pub struct AcrCredentials {
    credential: Arc<Credential>,
    login_server: String,
    http: reqwest::Client,
    cached: tokio::sync::Mutex<Option<(Secret, SystemTime)>>,
}

impl AcrCredentials {
    /// Refresh tokens for the registry at `login_server` (`myacr.azurecr.io`, or a
    /// loopback `host:port` stand-in, reached over HTTP as docker does).
    pub fn new(credential: Arc<Credential>, login_server: &str) -> AcrCredentials {
        AcrCredentials {
            credential,
            login_server: login_server.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// The login server it serves.
    pub fn login_server(&self) -> &str {
        &self.login_server
    }

    /// A refresh token for the registry, exchanged now or taken from the cache.
    pub async fn refresh_token(&self) -> Result<Secret, ExchangeError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if SystemTime::now() < *until {
                return Ok(token.clone());
            }
        }
        let (token, life) = self.exchange().await?;
        tracing::debug!(registry = %self.login_server, life_secs = life.as_secs(), "ACR refresh token exchanged");
        *cached = Some((token.clone(), SystemTime::now() + usable(life)));
        Ok(token)
    }

    async fn exchange(&self) -> Result<(Secret, Duration), ExchangeError> {
        let scope = self.credential.endpoints().arm_scope();
        let entra = self.credential.token(&scope).await?;
        let url = format!("{}/oauth2/exchange", base_url(&self.login_server));
        let service = self.login_server.as_str();
        let mut pairs = vec![
            ("grant_type", "access_token"),
            ("service", service),
            ("access_token", entra.token.expose()),
        ];
        if let Some(tenant) = self.credential.tenant() {
            pairs.push(("tenant", tenant));
        }
        let refused = |status: Option<u16>, message: String| ExchangeError::Refused {
            registry: self.login_server.clone(),
            status,
            message,
        };
        let resp = self
            .http
            .post(&url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(&pairs))
            .send()
            .await
            .map_err(|e| refused(None, e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            let hint = match status {
                401 | 403 => {
                    "; the Entra identity was refused: check that it has a role on the registry (AcrPull, AcrPush) and the tenant"
                }
                _ => "",
            };
            return Err(refused(
                Some(status),
                format!("HTTP {status}{}{hint}", oci_message(&body)),
            ));
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            refresh_token: Secret,
        }
        let answer: Answer = serde_json::from_slice(&body)
            .map_err(|_| refused(Some(status), "the answer holds no refresh_token".into()))?;
        let life = jwt_life(answer.refresh_token.expose()).unwrap_or(DEFAULT_REFRESH_LIFE);
        Ok((answer.refresh_token, life))
    }
}

impl CredentialsProvider for AcrCredentials {
    fn credentials(&self) -> BoxFuture<'_, Result<Credentials, acr_sync_registry::Error>> {
        Box::pin(async move {
            let token = self.refresh_token().await.map_err(|e| {
                acr_sync_registry::Error::new(
                    &self.login_server,
                    None,
                    ErrorKind::Credentials(e.to_string()),
                )
            })?;
            Ok(Credentials::identity_token(token))
        })
    }
}

/// `http://` for loopback registries (as docker does), `https://` otherwise.
pub(crate) fn base_url(login_server: &str) -> String {
    let scheme = if is_loopback(login_server) {
        "http"
    } else {
        "https"
    };
    format!("{scheme}://{login_server}")
}

/// `: CODE: message` of an OCI error body, or nothing.
fn oci_message(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let first = &v["errors"][0];
    match (first["code"].as_str(), first["message"].as_str()) {
        (Some(c), Some(m)) => format!(": {c}: {m}"),
        (Some(c), None) => format!(": {c}"),
        _ => String::new(),
    }
}

/// The remaining life of a JWT from its `exp` claim (not verified: only used to know
/// when to renew it).
fn jwt_life(token: &str) -> Option<Duration> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = v["exp"].as_u64()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(exp.saturating_sub(now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_life_reads_exp() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{{\"exp\":{}}}", now + 100));
        let life = jwt_life(&format!("h.{payload}.s")).unwrap();
        assert!(life.as_secs() > 90 && life.as_secs() <= 100);
        assert!(jwt_life("opaque").is_none());
        assert_eq!(base_url("127.0.0.1:5"), "http://127.0.0.1:5");
        assert_eq!(base_url("a.azurecr.io"), "https://a.azurecr.io");
    }
}
