//! Entra ID credentials, read from the environment as the Azure SDKs read them.
//!
//! The first configured source wins, in the SDKs' order: a client secret
//! (`AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_CLIENT_SECRET`), workload identity
//! (`AZURE_FEDERATED_TOKEN_FILE` with the same id and tenant; the file is re-read at every
//! token request because the kubelet rotates it), then managed identity: App Service's
//! `IDENTITY_ENDPOINT` / `IDENTITY_HEADER` when set, else the VM's IMDS. The source is
//! chosen once, from the environment, so a misconfigured secret fails loudly instead of
//! silently falling through to another identity.
//!
//! Tokens are cached per scope until five minutes before they expire (half their life
//! when they live less than ten minutes).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use acr_sync_registry::Secret;
use reqwest::header::{self, HeaderValue};
use serde::Deserialize;
use url::Url;

use crate::cloud::Endpoints;

/// An Entra ID access token and when it stops being used.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The bearer token.
    pub token: Secret,
    /// When the cache drops it (before its real expiry).
    pub refresh_at: SystemTime,
}

/// Which kind of identity a [`Credential`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A service principal with a client secret.
    ClientSecret,
    /// Workload identity federation (a projected service account token).
    WorkloadIdentity,
    /// App Service / Functions managed identity.
    AppServiceManagedIdentity,
    /// A VM's managed identity through IMDS.
    ImdsManagedIdentity,
}

impl CredentialKind {
    /// Whether the environment named this identity explicitly (anything but IMDS, which
    /// is only a guess that the run is on an Azure VM).
    pub fn is_explicit(self) -> bool {
        self != CredentialKind::ImdsManagedIdentity
    }
}

/// A token request failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Entra ID token ({kind:?}) from {endpoint}: {message}")]
pub struct CredentialError {
    /// The identity that was used.
    pub kind: CredentialKind,
    /// The endpoint asked (scheme, host and path; never a query).
    pub endpoint: String,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// What went wrong: the Entra error code and description, without secrets.
    pub message: String,
}

#[derive(Debug, Clone)]
enum Source {
    ClientSecret {
        tenant: String,
        client_id: String,
        secret: Secret,
    },
    Workload {
        tenant: String,
        client_id: String,
        token_file: PathBuf,
    },
    AppService {
        endpoint: Url,
        header: Secret,
        client_id: Option<String>,
    },
    Imds {
        client_id: Option<String>,
    },
}

/// An Entra ID credential with its token cache. Share it (`Arc`) between ARM and ACR.
#[derive(Debug)]
pub struct Credential {
    source: Source,
    endpoints: Endpoints,
    http: reqwest::Client,
    cache: tokio::sync::Mutex<HashMap<String, AccessToken>>,
}

impl Credential {
    /// The credential the environment describes; `env` reads a variable (empty values
    /// count as unset). Never fails: with nothing set it is IMDS managed identity, which
    /// fails at the first token request when the run is not on an Azure VM.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>, endpoints: Endpoints) -> Credential {
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let client_id = get("AZURE_CLIENT_ID");
        let tenant = get("AZURE_TENANT_ID");
        let source = match (&client_id, &tenant, get("AZURE_CLIENT_SECRET")) {
            (Some(id), Some(tenant), Some(secret)) => Source::ClientSecret {
                tenant: tenant.clone(),
                client_id: id.clone(),
                secret: Secret::new(secret),
            },
            _ => match (&client_id, &tenant, get("AZURE_FEDERATED_TOKEN_FILE")) {
                (Some(id), Some(tenant), Some(file)) => Source::Workload {
                    tenant: tenant.clone(),
                    client_id: id.clone(),
                    token_file: PathBuf::from(file),
                },
                _ => match (
                    get("IDENTITY_ENDPOINT").and_then(|e| Url::parse(&e).ok()),
                    get("IDENTITY_HEADER"),
                ) {
                    (Some(endpoint), Some(header)) => Source::AppService {
                        endpoint,
                        header: Secret::new(header),
                        client_id,
                    },
                    _ => Source::Imds { client_id },
                },
            },
        };
        Credential {
            source,
            endpoints,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            cache: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Which identity it uses.
    pub fn kind(&self) -> CredentialKind {
        match self.source {
            Source::ClientSecret { .. } => CredentialKind::ClientSecret,
            Source::Workload { .. } => CredentialKind::WorkloadIdentity,
            Source::AppService { .. } => CredentialKind::AppServiceManagedIdentity,
            Source::Imds { .. } => CredentialKind::ImdsManagedIdentity,
        }
    }

    /// The tenant, when the environment names one (the ACR exchange passes it on).
    pub fn tenant(&self) -> Option<&str> {
        match &self.source {
            Source::ClientSecret { tenant, .. } | Source::Workload { tenant, .. } => Some(tenant),
            _ => None,
        }
    }

    /// The endpoints it was made with.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// A token for `scope` (`https://management.azure.com/.default`), from the cache
    /// when it is still fresh. The lock is held while asking so that concurrent callers
    /// make one request, not one each.
    pub async fn token(&self, scope: &str) -> Result<AccessToken, CredentialError> {
        let mut cache = self.cache.lock().await;
        if let Some(t) = cache
            .get(scope)
            .filter(|t| SystemTime::now() < t.refresh_at)
        {
            return Ok(t.clone());
        }
        let fresh = self.request(scope).await?;
        cache.insert(scope.to_string(), fresh.clone());
        Ok(fresh)
    }

    async fn request(&self, scope: &str) -> Result<AccessToken, CredentialError> {
        let resource = scope.strip_suffix(".default").unwrap_or(scope);
        let (endpoint, builder) = match &self.source {
            Source::ClientSecret {
                tenant,
                client_id,
                secret,
            } => {
                let url = self.token_url(tenant)?;
                let form = form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", secret.expose()),
                    ("scope", scope),
                ]);
                (url.clone(), self.post_form(url, form))
            }
            Source::Workload {
                tenant,
                client_id,
                token_file,
            } => {
                let url = self.token_url(tenant)?;
                // Re-read every time: the projected token is rotated on disk.
                let assertion = std::fs::read_to_string(token_file).map_err(|e| {
                    self.error(
                        url.as_str(),
                        None,
                        format!(
                            "cannot read AZURE_FEDERATED_TOKEN_FILE {}: {e}",
                            token_file.display()
                        ),
                    )
                })?;
                let form = form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.trim()),
                    ("scope", scope),
                ]);
                (url.clone(), self.post_form(url, form))
            }
            Source::AppService {
                endpoint,
                header,
                client_id,
            } => {
                let mut url = endpoint.clone();
                url.query_pairs_mut()
                    .append_pair("api-version", "2019-08-01")
                    .append_pair("resource", resource);
                if let Some(id) = client_id {
                    url.query_pairs_mut().append_pair("client_id", id);
                }
                let mut value = HeaderValue::from_str(header.expose())
                    .unwrap_or_else(|_| HeaderValue::from_static(""));
                value.set_sensitive(true);
                let b = self.http.get(url).header("X-IDENTITY-HEADER", value);
                (endpoint.clone(), b)
            }
            Source::Imds { client_id } => {
                let mut url = self
                    .endpoints
                    .imds
                    .join("metadata/identity/oauth2/token")
                    .map_err(|e| self.error(self.endpoints.imds.as_str(), None, e.to_string()))?;
                let base = url.clone();
                url.query_pairs_mut()
                    .append_pair("api-version", "2018-02-01")
                    .append_pair("resource", resource);
                if let Some(id) = client_id {
                    url.query_pairs_mut().append_pair("client_id", id);
                }
                (base, self.http.get(url).header("Metadata", "true"))
            }
        };
        let shown = format!(
            "{}://{}{}",
            endpoint.scheme(),
            endpoint.host_str().unwrap_or(""),
            endpoint.port().map(|p| format!(":{p}")).unwrap_or_default()
        ) + endpoint.path();
        // IMDS and the token endpoints throttle with 429 and hiccup with 5xx: a few
        // short retries, since every later step needs this token.
        let mut attempt = 0;
        loop {
            let Some(b) = builder.try_clone() else {
                return Err(self.error(&shown, None, "request cannot be repeated".into()));
            };
            let resp = match b.send().await {
                Ok(r) => r,
                Err(e) if attempt < 3 => {
                    tracing::debug!("Entra token request failed, retrying: {}", e.without_url());
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    continue;
                }
                Err(e) => {
                    return Err(self.error(&shown, None, format!("{}", e.without_url())));
                }
            };
            let status = resp.status().as_u16();
            if (status == 429 || status >= 500) && attempt < 3 {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                continue;
            }
            let body = resp.bytes().await.unwrap_or_default();
            if !(200..300).contains(&status) {
                return Err(self.error(&shown, Some(status), describe_error(status, &body)));
            }
            let parsed: TokenBody = serde_json::from_slice(&body).map_err(|_| {
                self.error(
                    &shown,
                    Some(status),
                    "the answer is not a token response".into(),
                )
            })?;
            return parsed
                .into_token()
                .ok_or_else(|| self.error(&shown, Some(status), "the answer has no token".into()));
        }
    }

    fn token_url(&self, tenant: &str) -> Result<Url, CredentialError> {
        self.endpoints
            .authority_host
            .join(&format!("{tenant}/oauth2/v2.0/token"))
            .map_err(|e| {
                self.error(
                    self.endpoints.authority_host.as_str(),
                    None,
                    format!("invalid tenant {tenant:?}: {e}"),
                )
            })
    }

    fn post_form(&self, url: Url, body: String) -> reqwest::RequestBuilder {
        self.http
            .post(url)
            .header(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded".to_string(),
            )
            .body(body)
    }

    fn error(&self, endpoint: &str, status: Option<u16>, message: String) -> CredentialError {
        CredentialError {
            kind: self.kind(),
            endpoint: endpoint.to_string(),
            status,
            message,
        }
    }
}

pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    let mut f = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        f.append_pair(k, v);
    }
    f.finish()
}

/// `HTTP 401: invalid_client: AADSTS7000215: Invalid client secret provided.` Only the
/// first line of the description: the rest is trace and correlation ids.
fn describe_error(status: u16, body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct E {
        #[serde(default)]
        error: serde_json::Value,
        #[serde(default)]
        error_description: Option<String>,
    }
    let mut out = format!("HTTP {status}");
    if let Ok(e) = serde_json::from_slice::<E>(body) {
        match &e.error {
            serde_json::Value::String(code) => out.push_str(&format!(": {code}")),
            // Managed identity endpoints sometimes nest ARM-style errors.
            serde_json::Value::Object(o) => {
                if let Some(code) = o.get("code").and_then(|c| c.as_str()) {
                    out.push_str(&format!(": {code}"));
                }
                if let Some(m) = o.get("message").and_then(|c| c.as_str()) {
                    out.push_str(&format!(": {}", m.lines().next().unwrap_or("")));
                }
            }
            _ => {}
        }
        if let Some(d) = e.error_description {
            out.push_str(&format!(": {}", d.lines().next().unwrap_or("")));
        }
    }
    out
}

/// The token answers of Entra (`expires_in` a number), IMDS (`expires_in` a string)
/// and App Service (`expires_on` epoch seconds as a string).
#[derive(Deserialize)]
struct TokenBody {
    access_token: Secret,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    expires_on: Option<serde_json::Value>,
}

fn number(v: &serde_json::Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.trim().parse().ok())
}

impl TokenBody {
    fn into_token(self) -> Option<AccessToken> {
        if self.access_token.is_empty() {
            return None;
        }
        let now = SystemTime::now();
        let now_secs = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
        let life = self
            .expires_in
            .as_ref()
            .and_then(number)
            .or_else(|| {
                self.expires_on
                    .as_ref()
                    .and_then(number)
                    .map(|on| on.saturating_sub(now_secs))
            })
            .unwrap_or(3600);
        Some(AccessToken {
            token: self.access_token,
            refresh_at: now + usable(Duration::from_secs(life)),
        })
    }
}

/// How long a token of this life is used: five minutes less, or half of it when short.
pub(crate) fn usable(life: Duration) -> Duration {
    let margin = Duration::from_secs(300);
    if life >= 2 * margin {
        life - margin
    } else {
        life / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;

    fn cred(pairs: &[(&str, &str)]) -> Credential {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Credential::from_env(
            &|k| map.get(k).cloned(),
            Endpoints::for_cloud(Cloud::Public),
        )
    }

    #[test]
    fn sources_are_chosen_in_the_sdk_order() {
        let all = [
            ("AZURE_CLIENT_ID", "id"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_SECRET", "s3cret"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi"),
            ("IDENTITY_HEADER", "h"),
        ];
        assert_eq!(cred(&all).kind(), CredentialKind::ClientSecret);
        assert_eq!(cred(&all[..2]).kind(), CredentialKind::ImdsManagedIdentity);
        let mut no_secret = all.to_vec();
        no_secret.remove(2);
        assert_eq!(cred(&no_secret).kind(), CredentialKind::WorkloadIdentity);
        assert_eq!(
            cred(&all[4..]).kind(),
            CredentialKind::AppServiceManagedIdentity
        );
        assert_eq!(cred(&[]).kind(), CredentialKind::ImdsManagedIdentity);
        assert!(!CredentialKind::ImdsManagedIdentity.is_explicit());
        // The secret never shows in Debug.
        assert!(!format!("{:?}", cred(&all)).contains("s3cret"));
    }

    #[test]
    fn token_lives_and_error_descriptions() {
        assert_eq!(usable(Duration::from_secs(3600)), Duration::from_secs(3300));
        assert_eq!(usable(Duration::from_secs(60)), Duration::from_secs(30));
        let b: TokenBody =
            serde_json::from_str(r#"{"access_token":"x","expires_in":"3599"}"#).unwrap();
        assert!(b.into_token().is_some());
        let m = describe_error(
            401,
            br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret.\r\nTrace ID: 1"}"#,
        );
        assert_eq!(
            m,
            "HTTP 401: invalid_client: AADSTS7000215: Invalid client secret."
        );
    }
}
