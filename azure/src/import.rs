//! The `acr-import` importer: ARM `importImage`, which moves the bytes server-side.
//!
//! `POST .../registries/{name}/importImage?api-version=2023-07-01` with the source
//! (`registryUri` and optional credentials, or the `resourceId` of an ACR the identity
//! can see), `targetTags` and `mode`. ARM answers 200 when done, or 202 and a long-running
//! operation: `Azure-AsyncOperation` (a status document) is polled when sent, else
//! `Location` (202 while running), each wait honouring `Retry-After`, all within an
//! overall timeout.
//!
//! ACR's import cannot serve every image; [`can_import`] says when the copy engine must
//! take over (over 50 manifests, a layer over 2 GiB, a source ACR cannot reach).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use acr_sync_registry::reference::DOCKER_HUB;
use acr_sync_registry::{Credentials, Reference, is_loopback};
use reqwest::Method;
use serde_json::json;

use crate::arm::{
    Arm, ArmError, ArmResponse, REGISTRY_API_VERSION, RegistryResource, error_code_and_message,
};
use crate::cloud::{Cloud, Endpoints};
use crate::credential::Credential;

/// ACR's import refuses images with more manifests than this (an index and its children).
pub const MAX_MANIFESTS: usize = 50;
/// ACR's import refuses layers larger than this.
pub const MAX_LAYER_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// The default limit of one import, polling included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// What to do when a target tag already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImportMode {
    /// Fail before copying anything (ARM `NoForce`), the default.
    #[default]
    NoForce,
    /// Overwrite the tag (ARM `Force`): `--force`, or a re-tagged upstream.
    Force,
}

impl ImportMode {
    /// `Force` with `--force`, or when the target tag holds other content (a re-tagged
    /// upstream must replace it); `NoForce` otherwise, so that a tag someone else moved
    /// meanwhile is never overwritten silently.
    pub fn choose(force: bool, target_tag_differs: bool) -> ImportMode {
        if force || target_tag_differs {
            ImportMode::Force
        } else {
            ImportMode::NoForce
        }
    }

    fn as_arm(self) -> &'static str {
        match self {
            ImportMode::NoForce => "NoForce",
            ImportMode::Force => "Force",
        }
    }
}

/// Why an image goes through the copy engine instead of importImage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FallbackReason {
    /// More manifests than ACR imports at once.
    TooManyManifests(usize),
    /// A layer larger than ACR imports.
    LayerTooLarge(u64),
    /// ACR cannot reach the source (private network, another cloud).
    SourceUnreachable {
        /// The source registry.
        registry: String,
        /// Why.
        why: &'static str,
    },
}

impl fmt::Display for FallbackReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FallbackReason::TooManyManifests(n) => write!(
                f,
                "the image has {n} manifests and ACR imports at most {MAX_MANIFESTS}"
            ),
            FallbackReason::LayerTooLarge(size) => write!(
                f,
                "a layer of {size} bytes exceeds ACR's import limit of 2 GiB"
            ),
            FallbackReason::SourceUnreachable { registry, why } => {
                write!(f, "ACR cannot reach the source registry {registry}: {why}")
            }
        }
    }
}

/// Whether importImage can serve an image; `Err` says why the copy engine must.
///
/// `endpoints` is where ARM runs: a loopback ARM (a test stand-in) reaches loopback
/// registries, real Azure does not.
pub fn can_import(
    manifest_count: usize,
    largest_layer: u64,
    source_registry: &str,
    endpoints: &Endpoints,
) -> Result<(), FallbackReason> {
    if manifest_count > MAX_MANIFESTS {
        return Err(FallbackReason::TooManyManifests(manifest_count));
    }
    if largest_layer > MAX_LAYER_BYTES {
        return Err(FallbackReason::LayerTooLarge(largest_layer));
    }
    let unreachable = |why| {
        Err(FallbackReason::SourceUnreachable {
            registry: source_registry.to_string(),
            why,
        })
    };
    if let Some(cloud) = Cloud::from_login_server(host_of(source_registry)) {
        if cloud != endpoints.cloud {
            return unreachable("it is in another Azure cloud");
        }
        return Ok(());
    }
    if is_loopback(source_registry) {
        return if endpoints.is_local() {
            Ok(())
        } else {
            unreachable("it is a loopback address of this machine")
        };
    }
    if is_private(host_of(source_registry)) {
        return unreachable("it is a private address");
    }
    Ok(())
}

fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.split(':').next().unwrap_or(registry)
}

/// Private addresses and names that only resolve inside a network.
fn is_private(host: &str) -> bool {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return match ip {
            std::net::IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
            std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
        };
    }
    let lower = host.to_ascii_lowercase();
    !lower.contains('.')
        || [".local", ".internal", ".lan", ".corp", ".home.arpa"]
            .iter()
            .any(|s| lower.ends_with(s))
}

/// What [`can_import`] needs to know about a source image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageShape {
    /// Manifests importImage would copy: the top manifest and an index's children.
    pub manifests: usize,
    /// The largest layer of a single-platform image; 0 for an index, whose children are
    /// not read (ACR's own refusal of a large layer then triggers the fallback).
    pub largest_layer: u64,
}

/// Reads the source's top manifest only (one GET, which Docker Hub counts as one pull):
/// the manifest count of an index, or the layer sizes of an image.
pub async fn inspect(
    client: &acr_sync_registry::Client,
    source: &Reference,
) -> Result<ImageShape, acr_sync_registry::Error> {
    let manifest = client.get_manifest(source).await?;
    let context = |e: acr_sync_registry::Error| e.with_registry(source);
    if manifest.is_index() {
        let children = manifest.children().map_err(context)?;
        return Ok(ImageShape {
            manifests: 1 + children.len(),
            largest_layer: 0,
        });
    }
    let largest_layer = manifest
        .blobs()
        .map_err(context)?
        .iter()
        .map(|b| b.size)
        .max()
        .unwrap_or(0);
    Ok(ImageShape {
        manifests: 1,
        largest_layer,
    })
}

/// Adds the source's registry and repository to an error about given bytes.
trait WithRegistry {
    fn with_registry(self, source: &Reference) -> Self;
}

impl WithRegistry for acr_sync_registry::Error {
    fn with_registry(self, source: &Reference) -> Self {
        if self.registry().is_some() {
            return self;
        }
        acr_sync_registry::Error::new(
            source.registry(),
            Some(source.repository()),
            self.kind().clone(),
        )
    }
}

/// A finished import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// `repository:tag` in the target.
    pub target: String,
    /// How long it took, polling included.
    pub elapsed: Duration,
    /// How many times the operation was polled.
    pub polls: u32,
}

/// An import failed. Every variant names the target registry and the image.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ImportError {
    /// The target tag exists and the mode is NoForce.
    #[error(
        "ACR {registry}: import of {image} as {target}: the tag already exists and the import mode is NoForce; run with --force to replace it"
    )]
    TagExists {
        /// The target registry.
        registry: String,
        /// The source image.
        image: String,
        /// `repository:tag`.
        target: String,
    },
    /// The source registry refused ACR's credentials (or wants some).
    #[error(
        "ACR {registry}: import of {image}: the source registry refused access (HTTP {status}): {message}; give credentials for it (USE_DOCKER_AUTH for docker.io, registries.<host> otherwise)"
    )]
    SourceUnauthorized {
        /// The target registry.
        registry: String,
        /// The source image.
        image: String,
        /// The HTTP status of ARM's answer.
        status: u16,
        /// ARM's message.
        message: String,
    },
    /// The source registry rate-limited ACR.
    #[error(
        "ACR {registry}: import of {image}: the source registry is rate-limiting (HTTP {status}): {message}; retry later or set USE_DOCKER_AUTH for docker.io"
    )]
    SourceRateLimited {
        /// The target registry.
        registry: String,
        /// The source image.
        image: String,
        /// The HTTP status of ARM's answer.
        status: u16,
        /// ARM's message.
        message: String,
    },
    /// The source image does not exist.
    #[error(
        "ACR {registry}: import of {image}: the source image was not found (HTTP {status}): {message}"
    )]
    SourceNotFound {
        /// The target registry.
        registry: String,
        /// The source image.
        image: String,
        /// The HTTP status of ARM's answer.
        status: u16,
        /// ARM's message.
        message: String,
    },
    /// The registry's storage quota is reached.
    #[error(
        "ACR {registry}: import of {image}: the registry quota is exceeded (HTTP {status}): {message}"
    )]
    Quota {
        /// The target registry.
        registry: String,
        /// The source image.
        image: String,
        /// The HTTP status of ARM's answer.
        status: u16,
        /// ARM's message.
        message: String,
    },
    /// The identity may not import into the registry.
    #[error(
        "ACR {registry}: import of {image}: the identity lacks permission for Microsoft.ContainerRegistry/registries/importImage/action (HTTP {status}: {message}); assign it the Contributor role, or a custom role with that action, on the registry"
    )]
    MissingRole {
        /// The target registry.
        registry: String,
        /// The source image.
        image: String,
        /// The HTTP status of ARM's answer.
        status: u16,
        /// ARM's message.
        message: String,
    },
    /// ACR cannot import this image; the copy engine can.
    #[error("ACR {registry}: import of {image}: {reason}")]
    Unsupported {
        /// The target registry.
        registry: String,
        /// The source image.
        image: String,
        /// Why.
        reason: FallbackReason,
    },
    /// Any other failure ARM reported.
    #[error("ACR {registry}: import of {image}: HTTP {status} {code}: {message}")]
    Failed {
        /// The target registry.
        registry: String,
        /// The source image.
        image: String,
        /// The HTTP status.
        status: u16,
        /// ARM's error code.
        code: String,
        /// ARM's message.
        message: String,
    },
    /// The operation did not finish in time.
    #[error(
        "ACR {registry}: import of {image}: not finished after {waited:?}; it may still complete in Azure"
    )]
    Timeout {
        /// The target registry.
        registry: String,
        /// The source image.
        image: String,
        /// How long it was polled.
        waited: Duration,
    },
    /// ARM itself failed (token, discovery, network).
    #[error("ACR {registry}: import of {image}: {error}")]
    Arm {
        /// The target registry.
        registry: String,
        /// The source image.
        image: String,
        /// The ARM error.
        error: ArmError,
    },
}

/// What an ARM failure means for an import, from its status, code and message. The
/// codes ACR uses are not all documented, so messages are read too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The tag exists (NoForce).
    TagExists,
    /// The source refused access.
    SourceUnauthorized,
    /// The source rate-limited.
    SourceRateLimited,
    /// The source image is missing.
    SourceNotFound,
    /// Quota.
    Quota,
    /// The identity lacks a role.
    MissingRole,
    /// Over 50 manifests.
    TooManyManifests,
    /// A layer over 2 GiB.
    LayerTooLarge,
    /// Anything else.
    Other,
}

/// Classifies an ARM failure (see [`FailureKind`]).
pub fn classify(status: u16, code: &str, message: &str) -> FailureKind {
    let code_l = code.to_ascii_lowercase();
    let msg = message.to_ascii_lowercase();
    let has = |needles: &[&str]| {
        needles
            .iter()
            .any(|n| msg.contains(n) || code_l.contains(n))
    };
    if code_l == "authorizationfailed" || code_l == "linkedauthorizationfailed" || status == 403 {
        return FailureKind::MissingRole;
    }
    if has(&["tagalreadyexists", "already exists"]) || (status == 409 && code_l == "conflict") {
        return FailureKind::TagExists;
    }
    if has(&["quota"]) {
        return FailureKind::Quota;
    }
    if has(&[
        "toomanyrequests",
        "too many requests",
        "rate limit",
        "ratelimit",
        " 429",
    ]) {
        return FailureKind::SourceRateLimited;
    }
    if has(&["more than 50 manifests", "manifest count"]) {
        return FailureKind::TooManyManifests;
    }
    if has(&["layer size", "exceeds 2 gib", "larger than 2"]) {
        return FailureKind::LayerTooLarge;
    }
    if has(&[
        "unauthorized",
        "authentication required",
        "denied",
        "invalid username or password",
        " 401",
    ]) {
        return FailureKind::SourceUnauthorized;
    }
    if has(&["not found", "manifest unknown", "name unknown", " 404"]) {
        return FailureKind::SourceNotFound;
    }
    FailureKind::Other
}

/// Imports images into one ACR through ARM.
#[derive(Debug)]
pub struct AcrImporter {
    arm: Arm,
    registry_name: String,
    login_server: String,
    subscription: Option<String>,
    resource_group: Option<String>,
    resource: tokio::sync::OnceCell<RegistryResource>,
    siblings: tokio::sync::OnceCell<Vec<RegistryResource>>,
    /// A bulk transfer's source ACR: login server and the subscription it is in.
    source_acr: Option<(String, Option<String>)>,
    source_acr_id: tokio::sync::OnceCell<Option<String>>,
    source_credentials: BTreeMap<String, Credentials>,
    timeout: Duration,
    min_poll: Duration,
}

impl AcrImporter {
    /// An importer for the ACR `registry_name` whose login server is `login_server`,
    /// authenticated by `credential` (its endpoints say where ARM is).
    pub fn new(
        credential: Arc<Credential>,
        registry_name: &str,
        login_server: &str,
    ) -> AcrImporter {
        AcrImporter {
            arm: Arm::new(credential),
            registry_name: registry_name.to_string(),
            login_server: login_server.to_string(),
            subscription: None,
            resource_group: None,
            resource: tokio::sync::OnceCell::new(),
            siblings: tokio::sync::OnceCell::new(),
            source_acr: None,
            source_acr_id: tokio::sync::OnceCell::new(),
            source_credentials: BTreeMap::new(),
            timeout: DEFAULT_TIMEOUT,
            min_poll: Duration::from_millis(250),
        }
    }

    /// The subscription, when known (else discovered).
    pub fn subscription(mut self, subscription: Option<String>) -> AcrImporter {
        self.subscription = subscription;
        self
    }

    /// The resource group, when known (else discovered from the registry name).
    pub fn resource_group(mut self, resource_group: Option<String>) -> AcrImporter {
        self.resource_group = resource_group;
        self
    }

    /// Credentials sent to ACR for source registries (`docker.io` with USE_DOCKER_AUTH),
    /// keyed by registry as written in references.
    pub fn source_credentials(mut self, credentials: BTreeMap<String, Credentials>) -> AcrImporter {
        self.source_credentials = credentials;
        self
    }

    /// Names the ACR a bulk transfer reads from, by login server, and the subscription
    /// it is in (None: the target's). Its images are imported by `resourceId`, found
    /// through ARM once, so that importImage pulls with the identity, across
    /// subscriptions, whatever the login server looks like.
    pub fn set_source_acr(&mut self, login_server: &str, subscription: Option<String>) {
        self.source_acr = Some((login_server.to_ascii_lowercase(), subscription));
    }

    /// The overall limit of one import (default 30 minutes).
    pub fn timeout(mut self, timeout: Duration) -> AcrImporter {
        self.timeout = timeout;
        self
    }

    /// The ARM endpoints in use.
    pub fn endpoints(&self) -> &Endpoints {
        self.arm.credential().endpoints()
    }

    /// The registry's resource: configured, or found by name through ARM (once).
    pub async fn resource(&self) -> Result<&RegistryResource, ArmError> {
        self.resource
            .get_or_try_init(|| async {
                match (&self.subscription, &self.resource_group) {
                    (Some(s), Some(rg)) => Ok(RegistryResource::new(s, rg, &self.registry_name)),
                    (s, _) => {
                        self.arm
                            .find_registry(&self.registry_name, s.as_deref())
                            .await
                    }
                }
            })
            .await
    }

    /// Whether importImage can take `source` (see [`can_import`]), reading its top
    /// manifest once with `client`. When the manifest cannot be read from here, ARM is
    /// let try: Azure may reach what this machine cannot, and says so if not.
    pub async fn precheck(
        &self,
        client: &acr_sync_registry::Client,
        source: &Reference,
    ) -> Result<(), FallbackReason> {
        let shape = match inspect(client, source).await {
            Ok(shape) => shape,
            Err(e) => {
                tracing::debug!("cannot inspect {source} before importing: {e}");
                ImageShape {
                    manifests: 1,
                    largest_layer: 0,
                }
            }
        };
        can_import(
            shape.manifests,
            shape.largest_layer,
            source.registry(),
            self.endpoints(),
        )
    }

    /// Imports `source` as `target_repository:tag`, waiting for the operation to end.
    pub async fn import_image(
        &self,
        source: &Reference,
        target_repository: &str,
        tag: &str,
        mode: ImportMode,
    ) -> Result<Imported, ImportError> {
        let started = Instant::now();
        let source_name = source.to_string();
        let arm_err = |error: ArmError| ImportError::Arm {
            registry: self.login_server.clone(),
            image: source_name.clone(),
            error,
        };
        let resource = self.resource().await.map_err(arm_err)?.clone();
        let body = self
            .body(source, target_repository, tag, mode, &resource)
            .await;
        let url = self
            .arm
            .url(&format!(
                "{}/importImage?api-version={REGISTRY_API_VERSION}",
                resource.id
            ))
            .map_err(arm_err)?;
        let resp = self
            .arm
            .send(Method::POST, url, Some(&body))
            .await
            .map_err(arm_err)?;
        let target = format!("{target_repository}:{tag}");
        tracing::debug!(
            registry = %self.login_server,
            source = %source,
            target = %target,
            mode = mode.as_arm(),
            status = resp.status.as_u16(),
            "importImage"
        );
        let mut polls = 0;
        match resp.status.as_u16() {
            200 | 201 | 204 => {}
            202 => {
                self.wait(&resp, source, &target, started, &mut polls)
                    .await?;
            }
            _ => return Err(self.failure(&resp, source, &target)),
        }
        Ok(Imported {
            target,
            elapsed: started.elapsed(),
            polls,
        })
    }

    async fn body(
        &self,
        source: &Reference,
        target_repository: &str,
        tag: &str,
        mode: ImportMode,
        resource: &RegistryResource,
    ) -> serde_json::Value {
        let image = match (source.digest(), source.tag()) {
            (Some(d), _) => format!("{}@{d}", source.repository()),
            (None, Some(t)) => format!("{}:{t}", source.repository()),
            (None, None) => source.repository().to_string(),
        };
        let mut src = json!({ "sourceImage": image });
        let registry = source.registry();
        let id = match self.source_acr_id(registry, resource).await {
            Some(id) => Some(id),
            None => self.sibling_id(registry, resource).await,
        };
        if let Some(id) = id {
            // An ACR the identity can see: ARM pulls with the identity, no secret needed.
            src["resourceId"] = json!(id);
        } else {
            src["registryUri"] = json!(if registry == DOCKER_HUB {
                "docker.io"
            } else {
                registry
            });
            // ARM's import takes a user name and password; an identity token is only
            // good at a registry's own token endpoint, so it is not handed on.
            if let Some(Credentials::Basic { username, password }) =
                self.source_credentials.get(registry)
            {
                src["credentials"] = json!({ "username": username, "password": password.expose() });
            }
        }
        json!({
            "source": src,
            "targetTags": [format!("{target_repository}:{tag}")],
            "untaggedTargetRepositories": [],
            "mode": mode.as_arm(),
        })
    }

    /// The resource id of the transfer's source ACR when `registry` is it: the registry
    /// of its subscription whose login server is `registry` (read once per run).
    async fn source_acr_id(&self, registry: &str, resource: &RegistryResource) -> Option<String> {
        let (login_server, subscription) = self.source_acr.as_ref()?;
        if !registry.eq_ignore_ascii_case(login_server) {
            return None;
        }
        let subscription = subscription
            .clone()
            .unwrap_or_else(|| resource.subscription_id.clone());
        self.source_acr_id
            .get_or_init(|| async {
                match self.arm.registries(&subscription).await {
                    Ok(found) => found
                        .into_iter()
                        .find(|r| {
                            r.login_server
                                .as_deref()
                                .is_some_and(|l| l.eq_ignore_ascii_case(login_server))
                        })
                        .map(|r| r.id),
                    Err(e) => {
                        tracing::warn!("cannot list the registries of subscription {subscription}: {e}; importing {login_server} by its address");
                        None
                    }
                }
            })
            .await
            .clone()
    }

    /// The resource id of `registry` when it is an ACR of this cloud in the target's
    /// subscription (read once per run).
    async fn sibling_id(&self, registry: &str, resource: &RegistryResource) -> Option<String> {
        let cloud = self.endpoints().cloud;
        if !registry.to_ascii_lowercase().ends_with(cloud.acr_suffix()) {
            return None;
        }
        let siblings = self
            .siblings
            .get_or_init(|| async {
                self.arm
                    .registries(&resource.subscription_id)
                    .await
                    .unwrap_or_default()
            })
            .await;
        siblings
            .iter()
            .find(|r| {
                r.login_server
                    .as_deref()
                    .is_some_and(|l| l.eq_ignore_ascii_case(registry))
            })
            .map(|r| r.id.clone())
    }

    async fn wait(
        &self,
        accepted: &ArmResponse,
        source: &Reference,
        target: &str,
        started: Instant,
        polls: &mut u32,
    ) -> Result<(), ImportError> {
        let header = |name: &str| {
            accepted
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let async_op = header("azure-asyncoperation");
        let Some(poll_url) = async_op.clone().or_else(|| header("location")) else {
            return Err(ImportError::Failed {
                registry: self.login_server.clone(),
                image: source.to_string(),
                status: 202,
                code: "InvalidResponse".into(),
                message: "202 Accepted without Location or Azure-AsyncOperation".into(),
            });
        };
        let arm_err = |error: ArmError| ImportError::Arm {
            registry: self.login_server.clone(),
            image: source.to_string(),
            error,
        };
        let url = self.arm.url(&poll_url).map_err(arm_err)?;
        let mut wait = crate::arm::retry_after(&accepted.headers).unwrap_or(Duration::from_secs(1));
        loop {
            let left = self.timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(ImportError::Timeout {
                    registry: self.login_server.clone(),
                    image: source.to_string(),
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(wait.max(self.min_poll).min(left)).await;
            *polls += 1;
            let resp = self
                .arm
                .send(Method::GET, url.clone(), None)
                .await
                .map_err(arm_err)?;
            wait = crate::arm::retry_after(&resp.headers).unwrap_or(Duration::from_secs(1));
            let status = resp.status.as_u16();
            tracing::trace!(registry = %self.login_server, target, status, polls = *polls, "importImage operation polled");
            if async_op.is_some() && resp.status.is_success() {
                let doc: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
                match doc["status"].as_str().unwrap_or("") {
                    "Succeeded" => return Ok(()),
                    "Failed" | "Canceled" | "Cancelled" => {
                        let code = doc["error"]["code"].as_str().unwrap_or("ImportFailed");
                        let message = doc["error"]["message"].as_str().unwrap_or("");
                        return Err(self.classified(400, code, message, source, target));
                    }
                    _ => continue,
                }
            }
            match status {
                202 => continue,
                200 | 201 | 204 => return Ok(()),
                _ => return Err(self.failure(&resp, source, target)),
            }
        }
    }

    fn failure(&self, resp: &ArmResponse, source: &Reference, target: &str) -> ImportError {
        let (code, message) = error_code_and_message(resp);
        self.classified(resp.status.as_u16(), &code, &message, source, target)
    }

    fn classified(
        &self,
        status: u16,
        code: &str,
        message: &str,
        source: &Reference,
        target: &str,
    ) -> ImportError {
        let registry = self.login_server.clone();
        let src = source.to_string();
        let message = message.lines().next().unwrap_or("").to_string();
        match classify(status, code, &message) {
            FailureKind::TagExists => ImportError::TagExists {
                registry,
                image: src,
                target: target.to_string(),
            },
            FailureKind::SourceUnauthorized => ImportError::SourceUnauthorized {
                registry,
                image: src,
                status,
                message,
            },
            FailureKind::SourceRateLimited => ImportError::SourceRateLimited {
                registry,
                image: src,
                status,
                message,
            },
            FailureKind::SourceNotFound => ImportError::SourceNotFound {
                registry,
                image: src,
                status,
                message,
            },
            FailureKind::Quota => ImportError::Quota {
                registry,
                image: src,
                status,
                message,
            },
            FailureKind::MissingRole => ImportError::MissingRole {
                registry,
                image: src,
                status,
                message,
            },
            FailureKind::TooManyManifests | FailureKind::LayerTooLarge => {
                ImportError::Unsupported {
                    registry,
                    image: src,
                    reason: if matches!(
                        classify(status, code, &message),
                        FailureKind::TooManyManifests
                    ) {
                        FallbackReason::TooManyManifests(MAX_MANIFESTS + 1)
                    } else {
                        FallbackReason::LayerTooLarge(MAX_LAYER_BYTES + 1)
                    },
                }
            }
            FailureKind::Other => ImportError::Failed {
                registry,
                image: src,
                status,
                code: code.to_string(),
                message,
            },
        }
    }
}

impl ImportError {
    /// Whether the copy engine should try the image instead (`auto` importer).
    pub fn wants_fallback(&self) -> Option<&FallbackReason> {
        match self {
            ImportError::Unsupported { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_reachability() {
        let public = Endpoints::for_cloud(Cloud::Public);
        assert_eq!(can_import(50, MAX_LAYER_BYTES, "ghcr.io", &public), Ok(()));
        assert_eq!(
            can_import(51, 1, "ghcr.io", &public),
            Err(FallbackReason::TooManyManifests(51))
        );
        assert!(matches!(
            can_import(1, MAX_LAYER_BYTES + 1, "ghcr.io", &public),
            Err(FallbackReason::LayerTooLarge(_))
        ));
        assert_eq!(can_import(1, 1, "other.azurecr.io", &public), Ok(()));
        for private in [
            "x.azurecr.cn",
            "127.0.0.1:5000",
            "10.1.2.3:5000",
            "registry.internal:5000",
            "myhost",
        ] {
            assert!(
                matches!(
                    can_import(1, 1, private, &public),
                    Err(FallbackReason::SourceUnreachable { .. })
                ),
                "{private}"
            );
        }
        let local = public
            .with_override(
                crate::cloud::EndpointKind::ResourceManager,
                "http://127.0.0.1:1",
                "t",
            )
            .unwrap();
        assert_eq!(can_import(1, 1, "127.0.0.1:5000", &local), Ok(()));
    }

    #[tokio::test]
    async fn the_request_body_follows_the_documented_shape() {
        let credential = Arc::new(Credential::from_env(
            &|_| None,
            Endpoints::for_cloud(Cloud::Public),
        ));
        let hub = BTreeMap::from([(DOCKER_HUB.to_string(), Credentials::new("bob", "hub-token"))]);
        let imp = AcrImporter::new(credential, "myacr", "myacr.azurecr.io").source_credentials(hub);
        let resource = RegistryResource::new("s", "rg", "myacr");
        let busybox = Reference::parse("busybox:1.36").unwrap();
        let body = imp
            .body(
                &busybox,
                "runwhen/busybox",
                "1.36",
                ImportMode::NoForce,
                &resource,
            )
            .await;
        assert_eq!(
            body,
            json!({
                "source": {
                    "registryUri": "docker.io",
                    "sourceImage": "library/busybox:1.36",
                    "credentials": {"username": "bob", "password": "hub-token"}
                },
                "targetTags": ["runwhen/busybox:1.36"],
                "untaggedTargetRepositories": [],
                "mode": "NoForce"
            })
        );
        assert!(!format!("{imp:?}").contains("hub-token"));
        let pinned = Reference::parse(
            "ghcr.io/o/app@sha256:92c7f9c92844bbbb5d0a101b22f7c2a7949e40f8ea90c8b3bc396879d95e899a",
        )
        .unwrap();
        let body = imp
            .body(&pinned, "runwhen/app", "v1", ImportMode::Force, &resource)
            .await;
        assert_eq!(body["source"]["registryUri"], "ghcr.io");
        assert_eq!(
            body["source"]["sourceImage"],
            "o/app@sha256:92c7f9c92844bbbb5d0a101b22f7c2a7949e40f8ea90c8b3bc396879d95e899a"
        );
        assert!(body["source"].get("credentials").is_none());
        assert_eq!(body["mode"], "Force");
    }

    #[test]
    fn failures_are_classified() {
        assert_eq!(
            classify(
                409,
                "Conflict",
                "Tag a:b already exists in target registry."
            ),
            FailureKind::TagExists
        );
        assert_eq!(
            classify(
                403,
                "AuthorizationFailed",
                "The client does not have authorization"
            ),
            FailureKind::MissingRole
        );
        assert_eq!(
            classify(
                400,
                "InvalidParameters",
                "pulling from source: 429 Too Many Requests: toomanyrequests"
            ),
            FailureKind::SourceRateLimited
        );
        assert_eq!(
            classify(
                400,
                "InvalidParameters",
                "source registry: 401 Unauthorized: authentication required"
            ),
            FailureKind::SourceUnauthorized
        );
        assert_eq!(
            classify(400, "QuotaExceeded", "storage"),
            FailureKind::Quota
        );
        assert_eq!(
            classify(500, "InternalServerError", "boom"),
            FailureKind::Other
        );
    }
}
