//! The config file's shape, exactly as users write it (`workspace.example.yaml`).
//!
//! Unknown keys are refused so that a typo is an error at its line, not a silently
//! ignored setting. Values that have a grammar (references, regexes, semver ranges) are
//! checked while deserialising, so their errors carry the file's line too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use acr_sync_registry::Reference;

use super::ConfigError;

/// Reads a YAML file into `T`, with errors that carry the file and line.
pub fn read_as<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// How entry-level errors quote the entry's `ref:` (see [`ValidImage`]).
const REF_MARKER: &str = "image ref ";

/// The line of the `ref:` an error message quotes, if any.
fn line_of_quoted_ref(text: &str, message: &str) -> Option<usize> {
    let quoted = message.split(REF_MARKER).nth(1)?;
    let value: String = serde_json::from_str(quoted.split(':').next()?.trim()).ok()?;
    text.lines()
        .position(|line| {
            let line = line.trim_start().trim_start_matches("- ").trim_start();
            line.strip_prefix("ref:")
                .map(|v| v.trim().trim_matches(['"', '\'']) == value)
                .unwrap_or(false)
        })
        .map(|i| i + 1)
}

/// Parses YAML text that came from `path`.
pub fn parse<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigError> {
    // An empty file is an empty mapping, not an error.
    let text = if text.trim().is_empty() { "{}" } else { text };
    yaml_serde::from_str(text).map_err(|e| {
        let location = e.location();
        let message = e.to_string();
        // yaml_serde appends " at line L column C"; the location goes in front instead.
        let message = match message.rfind(" at line ") {
            Some(i) if location.is_some() => message[..i].to_string(),
            _ => message,
        };
        let (line, column) = match line_of_quoted_ref(text, &message) {
            Some(line) => (Some(line), None),
            None => (
                location.as_ref().map(|l| l.line()),
                location.as_ref().map(|l| l.column()),
            ),
        };
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    })
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub target: TargetSection,
    pub codecollections: Option<CodeCollectionsSection>,
    #[serde(default)]
    pub charts: Vec<ChartSection>,
    #[serde(default)]
    pub images: Vec<ValidImage>,
    #[serde(default)]
    pub sync: SyncSection,
    #[serde(default)]
    pub registries: BTreeMap<String, RegistrySection>,
    #[serde(default)]
    pub network: NetworkSection,
    pub output_dir: Option<PathBuf>,
    /// A RunWhen `workspaceInfo.yaml` whose `custom:` block may name the target ACR.
    pub workspace_info: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    pub registry: Option<String>,
    pub repository_path: Option<String>,
    pub subscription_id: Option<String>,
    /// Azure settings of an ACR target (`target.acr`).
    pub acr: Option<AcrSection>,
}

/// `target.acr`: makes a `host[:port]` target an ACR, and sets where Azure is.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcrSection {
    /// The registry resource name (needed when the target is not `*.azurecr.*`).
    pub name: Option<String>,
    /// `public` (default), `china` or `usgovernment` (also `az cloud` names).
    pub cloud: Option<String>,
    /// The resource group; discovered from the registry name when absent.
    pub resource_group: Option<String>,
    /// Azure Resource Manager endpoint override.
    pub arm_endpoint: Option<String>,
    /// Entra ID authority host override (`AZURE_AUTHORITY_HOST` wins).
    pub authority_host: Option<String>,
    /// Managed identity (IMDS) endpoint override.
    pub imds_endpoint: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeCollectionsSection {
    pub source: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub architecture: Option<String>,
    #[serde(default)]
    pub images: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartSection {
    /// An HTTP chart repository (`index.yaml`), used with `name`.
    pub repo: Option<String>,
    /// The chart's name in `repo`.
    pub name: Option<String>,
    /// Instead of repo+name: `oci://host/path/chart`, a `.tgz` or a directory.
    pub chart: Option<String>,
    /// An exact version or a semver constraint; newest when empty.
    #[serde(default)]
    pub version: String,
    /// Inline values, merged over the chart's defaults.
    pub values: Option<yaml_serde::Value>,
    /// Values files, in order, relative to the config file.
    #[serde(default)]
    pub values_files: Vec<PathBuf>,
    /// `--set` pairs.
    #[serde(default, deserialize_with = "scalar_map")]
    pub set: BTreeMap<String, String>,
    /// `--set-string` pairs.
    #[serde(default, deserialize_with = "scalar_map")]
    pub set_string: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSection {
    #[serde(rename = "ref", deserialize_with = "image_ref")]
    pub reference: ImageRef,
    pub tag: Option<String>,
    #[serde(default, deserialize_with = "optional_semver")]
    pub semver: Option<semver::VersionReq>,
    #[serde(default, deserialize_with = "include_regexes")]
    pub include: Vec<regex::Regex>,
    #[serde(default, deserialize_with = "exclude_regexes")]
    pub exclude: Vec<regex::Regex>,
    pub latest: Option<usize>,
}

/// An `images:` entry whose rule has been checked while parsing, so that a conflict is
/// reported at the entry's line.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "ImageSection")]
pub struct ValidImage(pub ImageSection);

impl TryFrom<ImageSection> for ValidImage {
    type Error = String;

    fn try_from(image: ImageSection) -> Result<ValidImage, String> {
        // serde places errors of a converted entry at the start of the list; the
        // marker lets `parse` move it to the entry's own `ref:` line.
        let name = format!("{REF_MARKER}{:?}", image.reference.text);
        let patterns = !image.include.is_empty() || !image.exclude.is_empty();
        let rules = [image.tag.is_some(), image.semver.is_some(), patterns];
        if rules.iter().filter(|r| **r).count() > 1 {
            return Err(format!(
                "{name}: give one of `tag`, `semver` or `include`/`exclude`, not several"
            ));
        }
        if image.reference.explicit_tag && rules.iter().any(|r| *r) {
            return Err(format!(
                "{name}: the ref names a tag and a tag rule too; drop one of them"
            ));
        }
        if image.latest.is_some() && image.semver.is_none() && !patterns {
            return Err(format!(
                "{name}: `latest` counts tags chosen by `semver` or `include`; add one of them"
            ));
        }
        if image.latest == Some(0) {
            return Err(format!("{name}: `latest` must be at least 1"));
        }
        if let Some(tag) = &image.tag
            && !acr_sync_registry::reference::is_valid_tag(tag)
        {
            return Err(format!("{name}: invalid tag {tag:?}"));
        }
        Ok(ValidImage(image))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSection {
    pub enabled: Option<bool>,
    pub date_tag: Option<bool>,
    pub docker_auth: Option<bool>,
    pub concurrency: Option<usize>,
    /// The longest a whole run may take (`2h`).
    #[serde(default, deserialize_with = "deadline")]
    pub deadline: Option<std::time::Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// How long a failing request is retried (`2m`).
    #[serde(default, deserialize_with = "retry_for")]
    pub retry_for: Option<std::time::Duration>,
    /// The limit for one request (`60s`).
    #[serde(default, deserialize_with = "request_timeout")]
    pub request_timeout: Option<std::time::Duration>,
    /// The slowest a blob may arrive (`10KiB/s`; `0` for no minimum).
    #[serde(default, deserialize_with = "optional_rate")]
    pub min_transfer_rate: Option<u64>,
    /// The window that rate is averaged over (`30s`).
    #[serde(default, deserialize_with = "min_transfer_window")]
    pub min_transfer_window: Option<std::time::Duration>,
}

fn optional_rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let text = String::deserialize(d)?;
    parse_rate(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("min_transfer_rate: {e}")))
}

/// Bytes per second from `N`, `NB/s`, `NKiB/s`, `NKB/s`, `NMiB/s`, `NMB/s` (the `/s`
/// optional).
pub(crate) fn parse_rate(text: &str) -> Result<u64, String> {
    let err = || format!("{text:?} is not a rate; write e.g. 10KiB/s, 1MiB/s, or 0 for none");
    let t = text.trim();
    let t = t.strip_suffix("/s").unwrap_or(t).trim_end();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let number: u64 = t[..digits].parse().map_err(|_| err())?;
    let unit: u64 = match t[digits..].trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "KiB" => 1024,
        "MB" => 1000 * 1000,
        "MiB" => 1024 * 1024,
        _ => return Err(err()),
    };
    number.checked_mul(unit).ok_or_else(err)
}

fn retry_for<'de, D: Deserializer<'de>>(d: D) -> Result<Option<std::time::Duration>, D::Error> {
    named_duration(d, "retry_for")
}

fn request_timeout<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::time::Duration>, D::Error> {
    named_duration(d, "request_timeout")
}

fn deadline<'de, D: Deserializer<'de>>(d: D) -> Result<Option<std::time::Duration>, D::Error> {
    match named_duration(d, "deadline")? {
        Some(limit) if limit.is_zero() => Err(serde::de::Error::custom(
            "deadline: 0 would end every run before it starts; give a limit such as 2h",
        )),
        limit => Ok(limit),
    }
}

fn min_transfer_window<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::time::Duration>, D::Error> {
    named_duration(d, "min_transfer_window")
}

/// A duration whose error names its key: the error path stops at the section.
fn named_duration<'de, D: Deserializer<'de>>(
    d: D,
    key: &str,
) -> Result<Option<std::time::Duration>, D::Error> {
    let text = String::deserialize(d)?;
    crate::duration::parse(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("{key}: {e}")))
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySection {
    pub tls: Option<TlsMode>,
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    /// The name of an environment variable that holds the password, so that the
    /// config file itself carries no secret.
    pub password_env: Option<String>,
    /// A file whose content (trimmed) is the password.
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    Enabled,
    Disabled,
}

/// RunWhen's `workspaceInfo.yaml`: only its `custom:` block matters here.
#[derive(Debug, Default, Deserialize)]
pub struct WorkspaceInfo {
    #[serde(default)]
    pub custom: WorkspaceCustom,
}

#[derive(Debug, Default, Deserialize)]
pub struct WorkspaceCustom {
    pub private_registry: Option<String>,
    pub azure_acr_registry: Option<String>,
}

/// The `ref:` of an `images:` entry, remembering whether it named a tag itself.
#[derive(Debug, Clone)]
pub struct ImageRef {
    pub reference: Reference,
    pub explicit_tag: bool,
    /// As written, so that errors quote it and find its line.
    pub text: String,
}

fn image_ref<'de, D: Deserializer<'de>>(d: D) -> Result<ImageRef, D::Error> {
    let text = String::deserialize(d)?;
    let reference = Reference::parse(&text).map_err(serde::de::Error::custom)?;
    if reference.digest().is_some() {
        return Err(serde::de::Error::custom(format!(
            "image ref {text:?} pins a digest; give a repository with a tag or a tag rule instead"
        )));
    }
    let last_segment = text.rsplit('/').next().unwrap_or(&text);
    Ok(ImageRef {
        reference,
        explicit_tag: last_segment.contains(':'),
        text,
    })
}

fn optional_semver<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<semver::VersionReq>, D::Error> {
    let text = String::deserialize(d)?;
    semver::VersionReq::parse(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("invalid semver range {text:?}: {e}")))
}

fn include_regexes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<regex::Regex>, D::Error> {
    regex_list(d, "include")
}

fn exclude_regexes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<regex::Regex>, D::Error> {
    regex_list(d, "exclude")
}

fn regex_list<'de, D: Deserializer<'de>>(d: D, key: &str) -> Result<Vec<regex::Regex>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let patterns = match OneOrMany::deserialize(d)? {
        OneOrMany::One(p) => vec![p],
        OneOrMany::Many(ps) => ps,
    };
    patterns
        .iter()
        .map(|p| {
            regex::Regex::new(p)
                .map_err(|e| serde::de::Error::custom(format!("{key}: invalid regex {p:?}: {e}")))
        })
        .collect()
}

/// `--set` values may be written as YAML scalars of any type; Helm sees text.
fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, yaml_serde::Value>::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| {
            let text = match v {
                yaml_serde::Value::String(s) => s,
                yaml_serde::Value::Bool(b) => b.to_string(),
                yaml_serde::Value::Number(n) => n.to_string(),
                yaml_serde::Value::Null => "null".to_string(),
                _ => {
                    return Err(serde::de::Error::custom(format!(
                        "set.{k}: expected a scalar value"
                    )));
                }
            };
            Ok((k, text))
        })
        .collect()
}
