//! Azure Resource Manager: authenticated requests, ARM's error shape, and finding a
//! registry's subscription and resource group from its name.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use serde::Deserialize;
use url::Url;

use crate::credential::{Credential, CredentialError};

/// The API version of the container registry resource provider used here.
pub const REGISTRY_API_VERSION: &str = "2023-07-01";
/// The API version of the subscriptions list.
const SUBSCRIPTIONS_API_VERSION: &str = "2022-12-01";
/// Throttling (429) and 5xx answers of ARM are retried this many times.
const RETRIES: u32 = 4;

/// An ARM request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ArmError {
    /// No Entra token for ARM.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// ARM could not be reached.
    #[error("Azure Resource Manager {endpoint}: {message}")]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// The transport error, without URLs.
        message: String,
    },
    /// ARM answered with an error (`{"error":{"code","message"}}`).
    #[error("Azure Resource Manager: HTTP {status} {code}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// ARM's error code (`AuthorizationFailed`, `ResourceNotFound`...).
        code: String,
        /// ARM's message, first line.
        message: String,
    },
    /// ARM answered something unusable.
    #[error("Azure Resource Manager: invalid response: {0}")]
    Invalid(String),
    /// The registry is in none of the subscriptions the identity can see.
    #[error(
        "registry {name}: not found in the subscriptions the identity can read ({searched}); set target.subscription_id / AZURE_RESOURCE_SUBSCRIPTION_ID and target.acr.resource_group, or grant the identity Reader on the registry"
    )]
    RegistryNotFound {
        /// The registry name.
        name: String,
        /// The subscriptions searched.
        searched: String,
    },
}

/// The `error` of an ARM error body.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct ArmErrorBody {
    /// The code.
    #[serde(default)]
    pub code: String,
    /// The message.
    #[serde(default)]
    pub message: String,
}

/// Parses `{"error":{"code","message"}}`; None when the body is not one.
pub fn parse_error(body: &[u8]) -> Option<ArmErrorBody> {
    #[derive(Deserialize)]
    struct Wrapper {
        error: ArmErrorBody,
    }
    serde_json::from_slice::<Wrapper>(body)
        .ok()
        .map(|w| w.error)
}

/// A registry resource as ARM knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryResource {
    /// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}`.
    pub id: String,
    /// The resource name.
    pub name: String,
    /// The subscription.
    pub subscription_id: String,
    /// The resource group.
    pub resource_group: String,
    /// The login server (`myacr.azurecr.io`).
    pub login_server: Option<String>,
}

impl RegistryResource {
    /// The resource at a known subscription and resource group.
    pub fn new(subscription_id: &str, resource_group: &str, name: &str) -> RegistryResource {
        RegistryResource {
            id: format!(
                "/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/Microsoft.ContainerRegistry/registries/{name}"
            ),
            name: name.to_string(),
            subscription_id: subscription_id.to_string(),
            resource_group: resource_group.to_string(),
            login_server: None,
        }
    }

    /// Parses a resource id; None when it is not a registry's.
    pub fn from_id(id: &str) -> Option<RegistryResource> {
        let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
        match parts.as_slice() {
            [s, sub, rg, group, p, ns, kind, name]
                if s.eq_ignore_ascii_case("subscriptions")
                    && rg.eq_ignore_ascii_case("resourceGroups")
                    && p.eq_ignore_ascii_case("providers")
                    && ns.eq_ignore_ascii_case("Microsoft.ContainerRegistry")
                    && kind.eq_ignore_ascii_case("registries") =>
            {
                let mut r = RegistryResource::new(sub, group, name);
                r.id = id.to_string();
                Some(r)
            }
            _ => None,
        }
    }
}

/// An ARM client: one endpoint, one credential.
#[derive(Debug, Clone)]
pub struct Arm {
    http: reqwest::Client,
    endpoint: Url,
    credential: Arc<Credential>,
}

/// An ARM answer: status, headers and body.
#[derive(Debug)]
pub struct ArmResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: header::HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Arm {
    /// A client for the credential's ARM endpoint.
    pub fn new(credential: Arc<Credential>) -> Arm {
        Arm {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
            endpoint: credential.endpoints().resource_manager.clone(),
            credential,
        }
    }

    /// The credential.
    pub fn credential(&self) -> &Arc<Credential> {
        &self.credential
    }

    /// `endpoint` joined with a path (and query) that starts at `/subscriptions`, or an
    /// absolute URL (a `Location` to poll) taken as it is.
    pub fn url(&self, path_or_url: &str) -> Result<Url, ArmError> {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            return Url::parse(path_or_url).map_err(|e| ArmError::Invalid(e.to_string()));
        }
        self.endpoint
            .join(path_or_url.trim_start_matches('/'))
            .map_err(|e| ArmError::Invalid(e.to_string()))
    }

    /// Sends a request with an ARM token, retrying throttling and 5xx (honouring
    /// `Retry-After`). Any status is returned; callers decide what is an error.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<ArmResponse, ArmError> {
        let scope = self.credential.endpoints().arm_scope();
        let mut attempt = 0;
        loop {
            let token = self.credential.token(&scope).await?;
            let mut value =
                header::HeaderValue::from_str(&format!("Bearer {}", token.token.expose()))
                    .map_err(|_| ArmError::Invalid("the ARM token is not a header value".into()))?;
            value.set_sensitive(true);
            let mut b = self
                .http
                .request(method.clone(), url.clone())
                .header(header::AUTHORIZATION, value);
            if let Some(body) = body {
                b = b.json(body);
            }
            let resp = b.send().await.map_err(|e| ArmError::Unreachable {
                endpoint: self.endpoint.to_string(),
                message: e.without_url().to_string(),
            });
            let resp = match resp {
                Ok(r) => r,
                Err(e) if attempt < RETRIES => {
                    tracing::debug!("{e}; retrying");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let status = resp.status();
            if (status.as_u16() == 429 || status.is_server_error()) && attempt < RETRIES {
                let wait = retry_after(resp.headers())
                    .unwrap_or(Duration::from_millis(500 << attempt))
                    .min(Duration::from_secs(60));
                attempt += 1;
                tokio::time::sleep(wait).await;
                continue;
            }
            let headers = resp.headers().clone();
            let body = resp
                .bytes()
                .await
                .map_err(|e| ArmError::Unreachable {
                    endpoint: self.endpoint.to_string(),
                    message: e.without_url().to_string(),
                })?
                .to_vec();
            return Ok(ArmResponse {
                status,
                headers,
                body,
            });
        }
    }

    /// `GET` a JSON document; non-2xx answers are [`ArmError::Status`].
    pub async fn get_json(&self, path_or_url: &str) -> Result<serde_json::Value, ArmError> {
        let resp = self.send(Method::GET, self.url(path_or_url)?, None).await?;
        if !resp.status.is_success() {
            return Err(status_error(&resp));
        }
        serde_json::from_slice(&resp.body).map_err(|e| ArmError::Invalid(e.to_string()))
    }

    /// Every item of a paged ARM list (`value` and `nextLink`).
    pub async fn list(&self, path: &str) -> Result<Vec<serde_json::Value>, ArmError> {
        let mut out = Vec::new();
        let mut next = Some(path.to_string());
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 1000 {
                return Err(ArmError::Invalid("the list pagination loops".into()));
            }
            let page = self.get_json(&url).await?;
            if let Some(items) = page["value"].as_array() {
                out.extend(items.iter().cloned());
            }
            next = page["nextLink"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string);
        }
        Ok(out)
    }

    /// The subscriptions the identity can see.
    pub async fn subscriptions(&self) -> Result<Vec<String>, ArmError> {
        let items = self
            .list(&format!(
                "/subscriptions?api-version={SUBSCRIPTIONS_API_VERSION}"
            ))
            .await?;
        Ok(items
            .iter()
            .filter_map(|s| s["subscriptionId"].as_str().map(str::to_string))
            .collect())
    }

    /// The container registries of a subscription.
    pub async fn registries(&self, subscription: &str) -> Result<Vec<RegistryResource>, ArmError> {
        let items = self
            .list(&format!(
                "/subscriptions/{subscription}/providers/Microsoft.ContainerRegistry/registries?api-version={REGISTRY_API_VERSION}"
            ))
            .await?;
        Ok(items
            .iter()
            .filter_map(|r| {
                let mut found = RegistryResource::from_id(r["id"].as_str()?)?;
                found.login_server = r["properties"]["loginServer"].as_str().map(str::to_string);
                Some(found)
            })
            .collect())
    }

    /// Finds the registry `name` (case-insensitive) in `subscription`, or in every
    /// subscription the identity can see when None.
    pub async fn find_registry(
        &self,
        name: &str,
        subscription: Option<&str>,
    ) -> Result<RegistryResource, ArmError> {
        let subscriptions = match subscription {
            Some(s) => vec![s.to_string()],
            None => self.subscriptions().await?,
        };
        for sub in &subscriptions {
            if let Some(found) = self
                .registries(sub)
                .await?
                .into_iter()
                .find(|r| r.name.eq_ignore_ascii_case(name))
            {
                return Ok(found);
            }
        }
        Err(ArmError::RegistryNotFound {
            name: name.to_string(),
            searched: if subscriptions.is_empty() {
                "none".into()
            } else {
                subscriptions.join(", ")
            },
        })
    }
}

/// The `{"error":{"code","message"}}` of a failed answer; the HTTP reason stands in for
/// a missing code.
pub fn error_code_and_message(resp: &ArmResponse) -> (String, String) {
    let parsed = parse_error(&resp.body).unwrap_or_default();
    let code = if parsed.code.is_empty() {
        resp.status
            .canonical_reason()
            .unwrap_or("Error")
            .to_string()
    } else {
        parsed.code
    };
    (code, parsed.message)
}

/// [`ArmError::Status`] from a failed answer.
pub fn status_error(resp: &ArmResponse) -> ArmError {
    let (code, message) = error_code_and_message(resp);
    ArmError::Status {
        status: resp.status.as_u16(),
        code,
        message: message.lines().next().unwrap_or("").to_string(),
    }
}

/// `Retry-After` in seconds (ARM sends seconds, not dates).
pub fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_and_error_bodies() {
        let r = RegistryResource::from_id(
            "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries/myacr",
        )
        .unwrap();
        assert_eq!(
            (
                r.subscription_id.as_str(),
                r.resource_group.as_str(),
                r.name.as_str()
            ),
            ("s1", "rg1", "myacr")
        );
        assert!(RegistryResource::from_id("/subscriptions/s1").is_none());
        let e = parse_error(br#"{"error":{"code":"AuthorizationFailed","message":"no"}}"#).unwrap();
        assert_eq!(e.code, "AuthorizationFailed");
        assert!(parse_error(b"{}").is_none());
    }
}
