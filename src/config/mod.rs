//! Settings: the config file, the seed's environment variables over it, and defaults.
//!
//! Precedence, highest first: environment variables (the seed's names), the config file
//! (`--config`, `ACR_SYNC_CONFIG`, or `./workspace.yaml` when present), RunWhen's
//! `workspaceInfo.yaml` (for the target name only), built-in defaults. With no config file
//! at all the seed's own image set is checked, so the tool does the seed's job as is.

mod env;
mod error;
mod file;
mod target;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use acr_sync_registry::{ClientConfig, Credentials, Reference, RegistrySettings, Secret, Tls};

pub use env::Env;
pub use error::{ConfigError, Origin};
pub use target::{TargetError, TargetRegistry};

use file::{ChartSection, FileConfig, ImageSection, RegistrySection, TlsMode, WorkspaceInfo};

/// The default upstream prefix of RunWhen's code collection images.
pub const DEFAULT_CODECOLLECTION_SOURCE: &str =
    "us-west1-docker.pkg.dev/runwhen-nonprod-beta/public-images";
const DEFAULT_CONFIG_FILE: &str = "workspace.yaml";
/// Used when no config file exists: the seed's image set, no target.
const SEED_DEFAULTS: &str = include_str!("seed_defaults.yaml");

/// Everything a run needs to know, resolved from all sources.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where images go.
    pub target: Target,
    /// Code collection images, if configured.
    pub codecollections: Option<CodeCollections>,
    /// Helm charts whose rendered images are sources.
    pub charts: Vec<ChartSpec>,
    /// Explicit upstream repositories with a tag rule.
    pub images: Vec<ImageSpec>,
    /// What a run does.
    pub sync: SyncSettings,
    /// Per-registry access: TLS, CA and credentials.
    pub registries: BTreeMap<String, RegistrySettings>,
    /// Docker Hub credentials, present only when `USE_DOCKER_AUTH` is on.
    pub docker_hub: Option<Credentials>,
    /// Time limits for registry requests.
    pub network: Network,
    /// Where the JSON files are written.
    pub output_dir: PathBuf,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Azure: endpoints and the Entra credential, for an ACR target.
    pub azure: AzureSettings,
}

/// Azure settings: where the cloud's endpoints are, and the Entra ID credential read from
/// the environment (`AZURE_CLIENT_ID`...) when the target is an ACR.
#[derive(Debug, Clone)]
pub struct AzureSettings {
    /// Cloud and endpoints (with `AZURE_AUTHORITY_HOST` and `target.acr.*` overrides).
    pub endpoints: acr_sync_azure::Endpoints,
    /// The target ACR's resource group, when configured.
    pub resource_group: Option<String>,
    /// `AZURE_SUBSCRIPTION_ID` (the Entra identity's subscription): where the target ACR
    /// is looked for when `target.subscription_id` is not set.
    pub subscription_id: Option<String>,
    /// The Entra credential for an ACR target: present when the environment names an
    /// identity (client secret, workload identity, App Service), or asks for IMDS
    /// managed identity with `AZURE_CLIENT_ID` or `IMDS_ENDPOINT`.
    pub credential: Option<Arc<acr_sync_azure::Credential>>,
}

/// Time limits for registry requests.
#[derive(Debug, Clone)]
pub struct Network {
    /// How long a failing request is retried before its image is reported as failed.
    pub retry_for: std::time::Duration,
    /// The limit for one request.
    pub request_timeout: std::time::Duration,
    /// The slowest a blob may arrive, averaged over a window; None for no minimum.
    pub min_transfer_rate: Option<acr_sync_registry::MinTransferRate>,
}

/// The target registry and where images go in it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The registry.
    pub registry: TargetRegistry,
    /// Prefix of every target repository.
    pub repository_path: String,
    /// Subscription of a target ACR, when known.
    pub subscription_id: Option<String>,
    /// True when no setting named a target and the default layout is used.
    pub is_default: bool,
}

/// The code collection images and how their tags are chosen.
#[derive(Debug, Clone)]
pub struct CodeCollections {
    /// Upstream repository prefix.
    pub source: String,
    /// The branch whose `${ref}-latest` is followed.
    pub git_ref: String,
    /// Architecture whose digest identifies a build.
    pub architecture: String,
    /// Image names under `source`.
    pub images: Vec<String>,
}

/// A Helm chart source, as configured.
#[derive(Debug, Clone)]
pub struct ChartSpec {
    /// An HTTP chart repository URL, with `name`.
    pub repo: Option<String>,
    /// Chart name in `repo`.
    pub name: Option<String>,
    /// `oci://...`, a `.tgz` or a directory (paths resolved against the config file).
    pub chart: Option<String>,
    /// Exact version or constraint; empty means newest.
    pub version: String,
    /// Inline values.
    pub values: Option<yaml_serde::Value>,
    /// Values files, resolved against the config file.
    pub values_files: Vec<PathBuf>,
    /// `--set` pairs.
    pub set: BTreeMap<String, String>,
    /// `--set-string` pairs.
    pub set_string: BTreeMap<String, String>,
}

/// An explicit upstream repository and its tag rule.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// The upstream repository (its tag, if any, is ignored: the rule decides).
    pub repository: Reference,
    /// Which tags to mirror.
    pub rule: TagRule,
}

/// Which tags of a repository to mirror.
#[derive(Debug, Clone)]
pub enum TagRule {
    /// Exactly this tag.
    Exact(String),
    /// The newest `newest` tags whose version satisfies `range`.
    Semver {
        /// The range.
        range: semver::VersionReq,
        /// How many of the newest matches.
        newest: usize,
    },
    /// The newest `newest` tags matching an include pattern and no exclude pattern.
    Pattern {
        /// Tags must match one of these (all tags when empty).
        include: Vec<regex::Regex>,
        /// Tags matching any of these are dropped.
        exclude: Vec<regex::Regex>,
        /// How many of the newest matches.
        newest: usize,
    },
}

/// What a run does besides checking.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Import as well as report; `None` lets each binary pick its default.
    pub enabled: Option<bool>,
    /// Import an upstream `latest` under a UTC date tag.
    pub date_tag: bool,
    /// Use Docker Hub credentials for docker.io.
    pub docker_auth: bool,
    /// Images processed at once.
    pub concurrency: usize,
    /// The longest a whole run (check and imports) may take; images not done by then
    /// fail as timed out, so that a stuck run ends instead of holding its CronJob slot.
    pub deadline: Option<std::time::Duration>,
}

impl std::fmt::Display for TagRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |rs: &[regex::Regex]| {
            rs.iter()
                .map(|r| format!("{:?}", r.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            TagRule::Exact(tag) => write!(f, "tag {tag:?}"),
            TagRule::Semver { range, newest } => write!(f, "semver \"{range}\" (newest {newest})"),
            TagRule::Pattern {
                include,
                exclude,
                newest,
            } => {
                write!(
                    f,
                    "include [{}] exclude [{}] (newest {newest})",
                    list(include),
                    list(exclude)
                )
            }
        }
    }
}

impl Settings {
    /// Loads settings from `config` (or `./workspace.yaml` when present) and `env`.
    pub fn load(config: Option<&Path>, env: &Env) -> Result<Settings, ConfigError> {
        let config_file = match config {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        let (path, text) = match &config_file {
            Some(path) => (path.clone(), read_text(path)?),
            None => (
                PathBuf::from("<built-in defaults>"),
                SEED_DEFAULTS.to_string(),
            ),
        };
        let file: FileConfig = file::parse(&text, &path)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut settings = build(file, &base, env).map_err(|e| e.in_file(&path, &text))?;
        settings.config_file = config_file;
        Ok(settings)
    }

    /// The ARM importer (`--importer acr-import`) for an ACR target with an Entra
    /// credential; None otherwise, and then `auto` means the copy engine.
    ///
    /// ACR is given source credentials only for the image's own registry: Docker Hub's
    /// with `USE_DOCKER_AUTH`, else those of `registries:`. The subscription is
    /// `target.subscription_id`, else `AZURE_SUBSCRIPTION_ID`, else discovered; the
    /// resource group is `target.acr.resource_group`, else discovered from the name.
    pub fn acr_importer(&self) -> Option<acr_sync_azure::AcrImporter> {
        let (name, login_server) = self.target.registry.acr_name()?;
        let credential = self.azure.credential.clone()?;
        let mut sources: BTreeMap<String, Credentials> = self
            .registries
            .iter()
            .filter_map(|(host, r)| Some((host.clone(), r.credentials.clone()?)))
            .collect();
        if let Some(hub) = &self.docker_hub {
            sources.insert(
                acr_sync_registry::reference::DOCKER_HUB.to_string(),
                hub.clone(),
            );
        }
        Some(
            acr_sync_azure::AcrImporter::new(credential, name.as_str(), login_server)
                .subscription(
                    self.target
                        .subscription_id
                        .clone()
                        .or_else(|| self.azure.subscription_id.clone()),
                )
                .resource_group(self.azure.resource_group.clone())
                .source_credentials(sources),
        )
    }

    /// The registry client's settings: per-registry access, with the Docker Hub
    /// credentials (when enabled) for docker.io only.
    pub fn client_config(&self) -> ClientConfig {
        let mut registries = self.registries.clone();
        if let Some(credentials) = &self.docker_hub {
            registries
                .entry(acr_sync_registry::reference::DOCKER_HUB.to_string())
                .or_default()
                .credentials = Some(credentials.clone());
        }
        let defaults = ClientConfig::default();
        let mut credential_providers = BTreeMap::new();
        if let (Some((_, login_server)), Some(credential)) =
            (self.target.registry.acr_name(), &self.azure.credential)
        {
            // Basic credentials configured for the ACR (admin user, repository token) win.
            let has_basic = registries
                .get(login_server)
                .is_some_and(|r| r.credentials.is_some());
            if !has_basic {
                credential_providers.insert(
                    login_server.to_string(),
                    acr_sync_registry::ProvidedCredentials(Arc::new(
                        acr_sync_azure::AcrCredentials::new(credential.clone(), login_server),
                    )),
                );
            }
        }
        ClientConfig {
            credential_providers,
            registries,
            docker_config: acr_sync_registry::docker_config_path(),
            retry: acr_sync_registry::RetryPolicy {
                max_elapsed: self.network.retry_for,
                ..defaults.retry
            },
            request_timeout: self.network.request_timeout,
            min_transfer_rate: self.network.min_transfer_rate,
            ..defaults
        }
    }
}

fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn build(file: FileConfig, base: &Path, env: &Env) -> Result<Settings, ConfigError> {
    let target = target(&file, base, env)?;
    let azure = azure(&file, &target, env)?;
    let sync = SyncSettings {
        enabled: env.bool("SYNC_IMAGES")?.or(file.sync.enabled),
        date_tag: env
            .bool("USE_DATE_TAG")?
            .or(file.sync.date_tag)
            .unwrap_or(false),
        docker_auth: env
            .bool("USE_DOCKER_AUTH")?
            .or(file.sync.docker_auth)
            .unwrap_or(false),
        concurrency: match file.sync.concurrency {
            Some(0) => {
                return Err(ConfigError::invalid(
                    Origin::key("sync.concurrency"),
                    "0 would import nothing; give 1 or more (default 4)",
                ));
            }
            n => n.unwrap_or(4),
        },
        deadline: file.sync.deadline,
    };
    let docker_hub = if sync.docker_auth {
        docker_hub(env)?
    } else {
        None
    };
    let registries = file
        .registries
        .iter()
        .map(|(host, section)| Ok((host.clone(), registry_access(host, section, base, env)?)))
        .collect::<Result<_, ConfigError>>()?;
    Ok(Settings {
        target,
        codecollections: codecollections(file.codecollections, env)?,
        charts: file
            .charts
            .into_iter()
            .enumerate()
            .map(|(i, c)| chart(c, base, i))
            .collect::<Result<_, _>>()?,
        images: file.images.into_iter().map(|v| image(v.0)).collect(),
        sync,
        registries,
        docker_hub,
        network: network(&file.network)?,
        output_dir: env
            .get("OUTPUT_DIR")
            .map(PathBuf::from)
            .or(file.output_dir)
            .unwrap_or_else(|| PathBuf::from(".")),
        config_file: None,
        azure,
    })
}

/// Cloud, endpoint overrides and the Entra credential. The cloud comes from
/// `target.acr.cloud`, else the login server's suffix, else public.
fn azure(file: &FileConfig, target: &Target, env: &Env) -> Result<AzureSettings, ConfigError> {
    use acr_sync_azure::{Cloud, EndpointKind, Endpoints};
    let section = file.target.acr.as_ref();
    let cloud = match section.and_then(|a| a.cloud.as_deref()) {
        Some(name) => Cloud::parse(name).ok_or_else(|| {
            ConfigError::invalid(
                Origin::key("target.acr.cloud"),
                format!("unknown cloud {name:?}; use public, china or usgovernment"),
            )
        })?,
        None => target
            .registry
            .host()
            .and_then(Cloud::from_login_server)
            .unwrap_or_default(),
    };
    let mut endpoints = Endpoints::for_cloud(cloud);
    let overrides = [
        (
            EndpointKind::Authority,
            env.get("AZURE_AUTHORITY_HOST")
                .map(|v| (v.to_string(), Origin::env("AZURE_AUTHORITY_HOST"))),
            section.and_then(|a| a.authority_host.clone()),
            "target.acr.authority_host",
        ),
        (
            EndpointKind::ResourceManager,
            None,
            section.and_then(|a| a.arm_endpoint.clone()),
            "target.acr.arm_endpoint",
        ),
        (
            EndpointKind::Imds,
            env.get("IMDS_ENDPOINT")
                .map(|v| (v.to_string(), Origin::env("IMDS_ENDPOINT"))),
            section.and_then(|a| a.imds_endpoint.clone()),
            "target.acr.imds_endpoint",
        ),
    ];
    for (kind, from_env, from_file, key) in overrides {
        let chosen = from_env.or_else(|| from_file.map(|v| (v, Origin::key(key))));
        if let Some((value, origin)) = chosen {
            let setting = origin.to_string();
            endpoints = endpoints
                .with_override(kind, &value, &setting)
                .map_err(|_| {
                    ConfigError::invalid(origin, format!("{value:?} is not an http(s) URL"))
                })?;
        }
    }
    let credential = match target.registry.acr_name() {
        Some(_) => {
            let lookup = |name: &str| env.get(name).map(str::to_string);
            let credential = acr_sync_azure::Credential::from_env(&lookup, endpoints.clone());
            let wanted = credential.kind().is_explicit()
                || env.get("AZURE_CLIENT_ID").is_some()
                || env.get("IMDS_ENDPOINT").is_some();
            wanted.then(|| Arc::new(credential))
        }
        None => None,
    };
    Ok(AzureSettings {
        endpoints,
        resource_group: section.and_then(|a| a.resource_group.clone()),
        subscription_id: env.get("AZURE_SUBSCRIPTION_ID").map(str::to_string),
        credential,
    })
}

fn target(file: &FileConfig, base: &Path, env: &Env) -> Result<Target, ConfigError> {
    let from_info = match &file.workspace_info {
        Some(path) => workspace_info_registry(&base.join(path))?,
        None => None,
    };
    let (text, origin) = match (env.get("REGISTRY_NAME"), &file.target.registry, from_info) {
        (Some(v), _, _) => (Some(v.to_string()), Origin::env("REGISTRY_NAME")),
        (None, Some(v), _) => (Some(v.clone()), Origin::key("target.registry")),
        (None, None, Some((v, path))) => {
            (Some(v), Origin::file_key(path, "custom.azure_acr_registry"))
        }
        (None, None, None) => (None, Origin::key("target.registry")),
    };
    let mut registry = match &text {
        Some(text) => {
            TargetRegistry::parse(text).map_err(|e| ConfigError::invalid(origin.clone(), e))?
        }
        None => TargetRegistry::default_layout(),
    };
    if let TargetRegistry::Layout { dir } = &registry {
        check_layout_dir(dir).map_err(|e| ConfigError::invalid(origin, e))?;
    }
    // A bare ACR name takes the configured cloud's suffix (`myacr` in China is
    // `myacr.azurecr.cn`); an invalid cloud is reported with the other Azure settings.
    let cloud = file
        .target
        .acr
        .as_ref()
        .and_then(|a| a.cloud.as_deref())
        .and_then(acr_sync_azure::Cloud::parse);
    if let (
        Some(cloud),
        TargetRegistry::Registry {
            host,
            acr: Some(name),
        },
    ) = (cloud, &mut registry)
        && text.as_deref().is_some_and(|t| !t.contains(['.', ':']))
    {
        *host = name.login_server(cloud);
    }
    if let Some(name) = file.target.acr.as_ref().and_then(|a| a.name.as_deref()) {
        // `target.acr.name` names the resource behind any login server (a private
        // endpoint's host, a loopback stand-in in tests).
        let name = acr_sync_azure::AcrName::parse(name)
            .map_err(|e| ConfigError::invalid(Origin::key("target.acr.name"), e))?;
        registry = match registry {
            TargetRegistry::Registry { host, .. } => TargetRegistry::acr(name, host),
            TargetRegistry::Layout { .. } => {
                return Err(ConfigError::invalid(
                    Origin::key("target.acr.name"),
                    "an OCI layout target is not an ACR; set target.registry to the login server",
                ));
            }
        };
    }
    let repository_path = env
        .get("REGISTRY_REPOSITORY_PATH")
        .map(str::to_string)
        .or_else(|| file.target.repository_path.clone())
        .unwrap_or_else(|| "runwhen".to_string());
    Ok(Target {
        registry,
        repository_path: repository_path.trim_matches('/').to_string(),
        subscription_id: env
            .get("AZURE_RESOURCE_SUBSCRIPTION_ID")
            .map(str::to_string)
            .or_else(|| file.target.subscription_id.clone()),
        is_default: text.is_none(),
    })
}

/// The ACR named by a workspaceInfo.yaml, when it says `private_registry: azure_acr`.
/// A layout directory must be a directory, or creatable: no path component may be a
/// regular file.
fn check_layout_dir(dir: &Path) -> Result<(), String> {
    for ancestor in dir.ancestors() {
        if ancestor.is_file() {
            return Err(if ancestor == dir {
                format!("the layout directory {} is a regular file", dir.display())
            } else {
                format!(
                    "the layout directory {} cannot be created: {} is a regular file",
                    dir.display(),
                    ancestor.display()
                )
            });
        }
    }
    Ok(())
}

fn workspace_info_registry(path: &Path) -> Result<Option<(String, PathBuf)>, ConfigError> {
    let info: WorkspaceInfo = file::read_as(path).map_err(|e| match e {
        ConfigError::Read { path, source } => ConfigError::invalid(
            Origin::key("workspace_info"),
            format!("cannot read {}: {source}", path.display()),
        ),
        other => other,
    })?;
    let custom = info.custom;
    let is_acr = custom.private_registry.as_deref() == Some("azure_acr");
    Ok(custom
        .azure_acr_registry
        .filter(|_| is_acr)
        .map(|name| (name, path.to_path_buf())))
}

fn codecollections(
    section: Option<file::CodeCollectionsSection>,
    env: &Env,
) -> Result<Option<CodeCollections>, ConfigError> {
    let Some(section) = section else {
        return Ok(None);
    };
    let (git_ref, ref_origin) = match env.get("REF") {
        Some(value) => (value.to_string(), Origin::env("REF")),
        None => (
            section.git_ref.unwrap_or_else(|| "main".to_string()),
            Origin::key("codecollections.ref"),
        ),
    };
    let cc = CodeCollections {
        source: section
            .source
            .unwrap_or_else(|| DEFAULT_CODECOLLECTION_SOURCE.to_string())
            .trim_end_matches('/')
            .to_string(),
        git_ref,
        architecture: env
            .get("IMAGE_ARCHITECTURE")
            .map(str::to_string)
            .or(section.architecture)
            .unwrap_or_else(|| "amd64".to_string()),
        images: section.images,
    };
    // Checked here, so that a bad setting stops the run (exit 1) instead of failing
    // every image during the check.
    let latest = format!("{}-latest", cc.git_ref);
    if !acr_sync_registry::reference::is_valid_tag(&latest) {
        return Err(ConfigError::invalid(
            ref_origin,
            format!(
                "{:?} cannot start a tag ({latest:?}); a branch name with `/` or spaces is not published as a tag",
                cc.git_ref
            ),
        ));
    }
    for name in &cc.images {
        let text = format!("{}/{name}:{latest}", cc.source);
        if let Err(e) = Reference::parse(&text) {
            let key = if name.is_empty()
                || name.contains(['/', ':', '@'])
                || name.to_lowercase() != *name
            {
                "codecollections.images"
            } else {
                "codecollections.source"
            };
            return Err(ConfigError::invalid(Origin::key(key), e));
        }
    }
    Ok(Some(cc))
}

/// A chart source; local files (a chart directory or `.tgz`, values files) must exist
/// now, so that a typo is a configuration error (exit 1), not a failed run.
fn chart(section: ChartSection, base: &Path, index: usize) -> Result<ChartSpec, ConfigError> {
    let must_exist = |key: &str, path: PathBuf| {
        if path.exists() {
            Ok(path)
        } else {
            Err(ConfigError::invalid(
                Origin::key(&format!("charts[{index}].{key}")),
                format!("{} does not exist", path.display()),
            ))
        }
    };
    let chart = match section.chart {
        Some(c)
            if c.starts_with("oci://") || c.starts_with("http://") || c.starts_with("https://") =>
        {
            Some(c)
        }
        Some(c) => Some(
            must_exist("chart", base.join(c))?
                .to_string_lossy()
                .into_owned(),
        ),
        None => None,
    };
    let values_files = section
        .values_files
        .iter()
        .map(|p| must_exist("values_files", base.join(p)))
        .collect::<Result<_, _>>()?;
    Ok(ChartSpec {
        repo: section.repo,
        name: section.name,
        chart,
        version: section.version,
        values: section.values,
        values_files,
        set: section.set,
        set_string: section.set_string,
    })
}

fn image(section: ImageSection) -> ImageSpec {
    // `file` has already refused conflicting rules, at their line.
    let newest = section.latest.unwrap_or(1);
    let rule = match (section.tag, section.semver) {
        (Some(tag), _) => TagRule::Exact(tag),
        (None, Some(range)) => TagRule::Semver { range, newest },
        (None, None) if section.include.is_empty() && section.exclude.is_empty() => TagRule::Exact(
            section
                .reference
                .reference
                .tag()
                .unwrap_or("latest")
                .to_string(),
        ),
        (None, None) => TagRule::Pattern {
            include: section.include,
            exclude: section.exclude,
            newest,
        },
    };
    ImageSpec {
        repository: section.reference.reference,
        rule,
    }
}

fn registry_access(
    host: &str,
    section: &RegistrySection,
    base: &Path,
    env: &Env,
) -> Result<RegistrySettings, ConfigError> {
    let key = |k: &str| Origin::key(&format!("registries.{host:?}.{k}"));
    let ca_pem = match &section.ca_file {
        Some(path) => {
            let path = base.join(path);
            Some(std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::invalid(
                    key("ca_file"),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?)
        }
        None => None,
    };
    let password = match (&section.password_env, &section.password_file) {
        (Some(var), _) => Some(Secret::new(env.get(var).map(str::to_string).ok_or_else(
            || {
                ConfigError::invalid(
                    key("password_env"),
                    format!("the environment variable {var} is not set"),
                )
            },
        )?)),
        (None, Some(path)) => {
            let path = base.join(path);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::invalid(
                    key("password_file"),
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            Some(Secret::new(text.trim().to_string()))
        }
        (None, None) => None,
    };
    let credentials = match (&section.username, password) {
        (Some(user), Some(password)) => Some(Credentials::new(user.clone(), password)),
        (None, None) => None,
        _ => {
            return Err(ConfigError::invalid(
                key("username"),
                "give both username and password_env (or password_file), or neither",
            ));
        }
    };
    let tls = match section.tls {
        Some(TlsMode::Disabled) => Tls::Disabled,
        Some(TlsMode::Enabled) => Tls::Enabled,
        None => Tls::Default,
    };
    Ok(RegistrySettings {
        tls,
        ca_pem,
        credentials,
    })
}

fn network(section: &file::NetworkSection) -> Result<Network, ConfigError> {
    let request_timeout = section
        .request_timeout
        .unwrap_or(std::time::Duration::from_secs(60));
    if request_timeout.is_zero() {
        return Err(ConfigError::invalid(
            Origin::key("network.request_timeout"),
            "0 would let a request wait forever; give a limit such as 60s",
        ));
    }
    let default_rate = acr_sync_registry::MinTransferRate::default();
    let window = section.min_transfer_window.unwrap_or(default_rate.window);
    let min_transfer_rate = match section.min_transfer_rate {
        Some(0) => None,
        rate => Some(acr_sync_registry::MinTransferRate {
            bytes_per_second: rate.unwrap_or(default_rate.bytes_per_second),
            window,
        }),
    };
    Ok(Network {
        retry_for: section
            .retry_for
            .unwrap_or(std::time::Duration::from_secs(120)),
        request_timeout,
        min_transfer_rate,
    })
}

fn docker_hub(env: &Env) -> Result<Option<Credentials>, ConfigError> {
    match (env.get("DOCKER_USERNAME"), env.get("DOCKER_TOKEN")) {
        (Some(user), Some(token)) => Ok(Some(Credentials::new(user, token))),
        _ => Err(ConfigError::invalid(
            Origin::env("USE_DOCKER_AUTH"),
            "USE_DOCKER_AUTH is true but DOCKER_USERNAME and DOCKER_TOKEN are not both set",
        )),
    }
}

#[cfg(test)]
mod tests;
