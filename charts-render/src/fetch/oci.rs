//! Pulling Helm charts from OCI registries with the workspace's registry client, so that
//! chart pulls get its authentication (anonymous, basic, Bearer challenges, docker config),
//! TLS settings and retries.

use super::{BoxFuture, OciPuller};
use crate::Error;

/// Helm's media type for the chart archive layer.
pub const CHART_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

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
