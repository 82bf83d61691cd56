//! A minimal OCI distribution client for Helm charts: manifest and blob GETs,
//! anonymous or with a bearer token obtained from the registry's
//! `WWW-Authenticate` challenge. Loopback registries are reached over plain HTTP.

use super::{BoxFuture, OciPuller};
use crate::Error;

/// Helm's media type for the chart archive layer.
pub const CHART_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json";

/// The built-in puller.
#[derive(Debug, Clone)]
pub struct HttpOci {
    http: reqwest::Client,
}

impl HttpOci {
    /// A puller using `http`.
    pub fn new(http: reqwest::Client) -> HttpOci {
        HttpOci { http }
    }
}

/// `host[:port]`, `path`, and the tag or digest.
fn split(reference: &str) -> Result<(&str, &str, &str), Error> {
    let bad = || Error::Oci {
        reference: reference.to_string(),
        message: "expected host/path/chart:version".into(),
    };
    let (host, rest) = reference.split_once('/').ok_or_else(bad)?;
    let (path, selector) = match rest.split_once('@') {
        Some((p, d)) => (p, d),
        None => rest.rsplit_once(':').ok_or_else(bad)?,
    };
    Ok((host, path, selector))
}

fn base_url(host: &str) -> String {
    let scheme = if acr_sync_registry::is_loopback(host) {
        "http"
    } else {
        "https"
    };
    format!("{scheme}://{host}/v2")
}

impl HttpOci {
    /// GETs `url`, answering one bearer challenge if the registry asks.
    async fn get(&self, reference: &str, url: &str, accept: &str) -> Result<Vec<u8>, Error> {
        let fail = |m: String| Error::Oci {
            reference: reference.to_string(),
            message: m,
        };
        let resp = self
            .http
            .get(url)
            .header("Accept", accept)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let resp = if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            let challenge = resp
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let token = self.token(&challenge).await.map_err(fail)?;
            self.http
                .get(url)
                .header("Accept", accept)
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| fail(e.to_string()))?
        } else {
            resp
        };
        if !resp.status().is_success() {
            return Err(fail(format!("GET {url}: HTTP {}", resp.status())));
        }
        Ok(resp
            .bytes()
            .await
            .map_err(|e| fail(e.to_string()))?
            .to_vec())
    }

    /// Fetches an anonymous token from the challenge's realm.
    async fn token(&self, challenge: &str) -> Result<String, String> {
        let params = challenge
            .strip_prefix("Bearer ")
            .ok_or_else(|| format!("unsupported authentication challenge {challenge:?}"))?;
        let field = |name: &str| {
            params
                .split(',')
                .filter_map(|kv| kv.trim().split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.trim_matches('"').to_string())
        };
        let realm = field("realm").ok_or("challenge without realm")?;
        let mut query = Vec::new();
        for k in ["service", "scope"] {
            if let Some(v) = field(k) {
                query.push((k, v));
            }
        }
        let resp = self
            .http
            .get(&realm)
            .query(&query)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("token request to {realm}: HTTP {}", resp.status()));
        }
        let body: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .ok_or_else(|| "token response without token".into())
    }
}

impl OciPuller for HttpOci {
    fn chart_layer<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move {
            let (host, path, sel) = split(reference)?;
            let body = self
                .get(
                    reference,
                    &format!("{}/{path}/manifests/{sel}", base_url(host)),
                    MANIFEST_ACCEPT,
                )
                .await?;
            let fail = |m: &str| Error::Oci {
                reference: reference.to_string(),
                message: m.to_string(),
            };
            let manifest: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| fail(&e.to_string()))?;
            let layers = manifest
                .get("layers")
                .and_then(|l| l.as_array())
                .ok_or_else(|| fail("manifest has no layers"))?;
            let layer = layers
                .iter()
                .find(|l| l.get("mediaType").and_then(|m| m.as_str()) == Some(CHART_LAYER_MEDIA_TYPE))
                .ok_or_else(|| fail("not a Helm chart: no layer of type application/vnd.cncf.helm.chart.content.v1.tar+gzip"))?;
            let digest = layer.get("digest").and_then(|d| d.as_str()).unwrap_or("");
            digest
                .strip_prefix("sha256:")
                .map(str::to_string)
                .ok_or_else(|| fail(&format!("unsupported layer digest {digest:?}")))
        })
    }

    fn tags<'a>(&'a self, repository: &'a str) -> BoxFuture<'a, Result<Vec<String>, Error>> {
        Box::pin(async move {
            let (host, path) = repository.split_once('/').ok_or_else(|| Error::Oci {
                reference: repository.to_string(),
                message: "expected host/path/chart".into(),
            })?;
            let body = self
                .get(
                    repository,
                    &format!("{}/{path}/tags/list", base_url(host)),
                    "application/json",
                )
                .await?;
            let list: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| Error::Oci {
                    reference: repository.to_string(),
                    message: e.to_string(),
                })?;
            Ok(list
                .get("tags")
                .and_then(|t| t.as_array())
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect())
        })
    }

    fn blob<'a>(
        &'a self,
        reference: &'a str,
        digest_hex: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, Error>> {
        Box::pin(async move {
            let (host, path, _) = split(reference)?;
            self.get(
                reference,
                &format!("{}/{path}/blobs/sha256:{digest_hex}", base_url(host)),
                "*/*",
            )
            .await
        })
    }
}

/// The workspace's registry client as an [`OciPuller`]: brings its credentials,
/// per-registry TLS settings, retries and request statistics to chart pulls.
#[derive(Debug, Clone)]
pub struct RegistryOci {
    client: acr_sync_registry::Client,
}

/// Charts are small; anything larger than this is not a chart.
const CHART_LIMIT: usize = 64 * 1024 * 1024;

impl RegistryOci {
    /// Pulls through `client`.
    pub fn new(client: acr_sync_registry::Client) -> RegistryOci {
        RegistryOci { client }
    }
}

fn oci_err(reference: &str, e: impl std::fmt::Display) -> Error {
    Error::Oci {
        reference: reference.to_string(),
        message: e.to_string(),
    }
}

impl OciPuller for RegistryOci {
    fn chart_layer<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move {
            let r = acr_sync_registry::Reference::parse(reference)
                .map_err(|e| oci_err(reference, e))?;
            let manifest = self
                .client
                .get_manifest(&r)
                .await
                .map_err(|e| oci_err(reference, e))?;
            let blobs = manifest.blobs().map_err(|e| oci_err(reference, e))?;
            let layer = blobs
                .iter()
                .find(|d| d.media_type == CHART_LAYER_MEDIA_TYPE)
                .ok_or_else(|| oci_err(reference, "not a Helm chart: no layer of type application/vnd.cncf.helm.chart.content.v1.tar+gzip"))?;
            Ok(layer.digest.hex().to_string())
        })
    }

    fn tags<'a>(&'a self, repository: &'a str) -> BoxFuture<'a, Result<Vec<String>, Error>> {
        Box::pin(async move {
            let r = acr_sync_registry::Reference::parse(repository)
                .map_err(|e| oci_err(repository, e))?;
            let list = self
                .client
                .list_tags(r.registry(), r.repository())
                .await
                .map_err(|e| oci_err(repository, e))?;
            Ok(list.tags)
        })
    }

    fn blob<'a>(
        &'a self,
        reference: &'a str,
        digest_hex: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, Error>> {
        Box::pin(async move {
            let r = acr_sync_registry::Reference::parse(reference)
                .map_err(|e| oci_err(reference, e))?;
            let digest: acr_sync_registry::Digest = format!("sha256:{digest_hex}")
                .parse()
                .map_err(|e| oci_err(reference, e))?;
            let stream = self
                .client
                .get_blob(r.registry(), r.repository(), &digest)
                .await
                .map_err(|e| oci_err(reference, e))?;
            let bytes = stream
                .read_to_end(CHART_LIMIT)
                .await
                .map_err(|e| oci_err(reference, e))?;
            Ok(bytes.to_vec())
        })
    }
}
