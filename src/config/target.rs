//! Where images go: an Azure Container Registry, any OCI registry, or an OCI layout on disk.

use std::fmt;
use std::path::PathBuf;

use acr_sync_azure::{AcrName, Cloud};

/// The target as given by `REGISTRY_NAME` / `target.registry`: a registry, which always
/// has a host, or a layout, which never has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetRegistry {
    /// A registry that speaks the OCI distribution API: an Azure Container Registry or
    /// any other.
    Registry {
        /// `host[:port]`; for an ACR its login server (`myacr.azurecr.io`).
        host: String,
        /// The ACR resource behind `host`, when it is one.
        acr: Option<AcrName>,
    },
    /// An OCI image layout directory on disk.
    Layout {
        /// The layout's root directory.
        dir: PathBuf,
    },
}

/// Why a target registry setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid target registry {input:?}: {reason} (expected `myacr`, `myacr.azurecr.io`, `host[:port]` or `oci-layout:DIR`)"
)]
pub struct TargetError {
    input: String,
    reason: String,
}

impl TargetRegistry {
    /// The default target, which needs no registry at all.
    pub fn default_layout() -> TargetRegistry {
        TargetRegistry::Layout {
            dir: PathBuf::from("./acr-sync-mirror"),
        }
    }

    /// Parses `myacr`, `myacr.azurecr.io`, `host[:port]` or `oci-layout:DIR`.
    pub fn parse(input: &str) -> Result<TargetRegistry, TargetError> {
        let err = |reason: &str| TargetError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let text = input.trim();
        if let Some(dir) = text.strip_prefix("oci-layout:") {
            if dir.is_empty() {
                return Err(err("the layout directory is empty"));
            }
            return Ok(TargetRegistry::Layout {
                dir: PathBuf::from(dir),
            });
        }
        if text.starts_with("http://") {
            return Err(err(
                "give the host without http://, and set `registries.\"HOST\".tls: disabled` for plain HTTP",
            ));
        }
        let host = text
            .strip_prefix("https://")
            .unwrap_or(text)
            .trim_end_matches('/');
        if host.is_empty() {
            return Err(err("it is empty"));
        }
        if host.contains('/') {
            return Err(err(
                "a registry has no path; put the path in REGISTRY_REPOSITORY_PATH",
            ));
        }
        if let Some(parsed) = AcrName::from_login_server(host) {
            let (name, _) = parsed.map_err(|e| err(&format!("invalid ACR name: {e}")))?;
            return Ok(TargetRegistry::acr(name, host.to_ascii_lowercase()));
        }
        if !host.contains(['.', ':']) && !host.eq_ignore_ascii_case("localhost") {
            // A bare name is an ACR resource name in the public cloud, as `az acr` takes it.
            let name = AcrName::parse(host).map_err(|e| err(&e.to_string()))?;
            let login_server = name.login_server(Cloud::Public);
            return Ok(TargetRegistry::acr(name, login_server));
        }
        let probe = format!("{host}/probe");
        acr_sync_registry::Reference::parse(&probe).map_err(|_| err("not a valid host[:port]"))?;
        Ok(TargetRegistry::Registry {
            host: host.to_string(),
            acr: None,
        })
    }

    /// The ACR `name` at `login_server`.
    pub fn acr(name: AcrName, login_server: String) -> TargetRegistry {
        TargetRegistry::Registry {
            host: login_server,
            acr: Some(name),
        }
    }

    /// The registry host images are pushed to, or `None` for a layout.
    pub fn host(&self) -> Option<&str> {
        match self {
            TargetRegistry::Registry { host, .. } => Some(host),
            TargetRegistry::Layout { .. } => None,
        }
    }

    /// The ACR resource name and its login server, when the target is an ACR.
    pub fn acr_name(&self) -> Option<(&AcrName, &str)> {
        match self {
            TargetRegistry::Registry {
                host,
                acr: Some(name),
            } => Some((name, host)),
            _ => None,
        }
    }

    /// How every report, record, metric label and error spells a target repository, or
    /// an image of it when `tag` is given: `host/repository[:tag]` for a registry, and
    /// `oci-layout:DIR:repository[:tag]` for a layout, the form skopeo reads
    /// (`oci:DIR:repository:tag`: the layout's ref names are `repository:tag`).
    pub fn image_name(&self, repository: &str, tag: Option<&str>) -> String {
        let mut name = match self {
            TargetRegistry::Registry { host, .. } => format!("{host}/{repository}"),
            TargetRegistry::Layout { dir } => {
                format!("oci-layout:{}:{repository}", dir.display())
            }
        };
        if let Some(tag) = tag {
            name.push(':');
            name.push_str(tag);
        }
        name
    }
}

impl fmt::Display for TargetRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetRegistry::Registry { host, .. } => f.write_str(host),
            TargetRegistry::Layout { dir } => write!(f, "oci-layout:{}", dir.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let acr = |name: &str, server: &str| {
            TargetRegistry::acr(AcrName::parse(name).unwrap(), server.into())
        };
        let oci = |host: &str| TargetRegistry::Registry {
            host: host.into(),
            acr: None,
        };
        let cases = [
            ("myacr", acr("myacr", "myacr.azurecr.io")),
            ("MyAcr01", acr("myacr01", "myacr01.azurecr.io")),
            ("myacr.azurecr.io", acr("myacr", "myacr.azurecr.io")),
            (
                "https://myacr.azurecr.io/",
                acr("myacr", "myacr.azurecr.io"),
            ),
            (
                "chinaacr.azurecr.cn",
                acr("chinaacr", "chinaacr.azurecr.cn"),
            ),
            ("govacr1.azurecr.us", acr("govacr1", "govacr1.azurecr.us")),
            ("registry.internal:5000", oci("registry.internal:5000")),
            ("127.0.0.1:5000", oci("127.0.0.1:5000")),
            ("localhost", oci("localhost")),
            (
                "oci-layout:/tmp/m",
                TargetRegistry::Layout {
                    dir: "/tmp/m".into(),
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(TargetRegistry::parse(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn refuses_bad_targets_quoting_them() {
        for input in [
            "",
            "ab",
            "my-acr",
            "a.azurecr.io",
            "host/path",
            "oci-layout:",
            "bad host:x",
        ] {
            let msg = TargetRegistry::parse(input).unwrap_err().to_string();
            assert!(msg.contains(&format!("{input:?}")), "{msg}");
        }
    }
}

#[cfg(test)]
mod naming {
    use super::*;

    #[test]
    fn one_spelling_for_each_kind() {
        let registry = TargetRegistry::parse("myacr.azurecr.io").unwrap();
        assert_eq!(
            registry.image_name("runwhen/app", Some("1.0")),
            "myacr.azurecr.io/runwhen/app:1.0"
        );
        assert_eq!(
            registry.image_name("runwhen/app", None),
            "myacr.azurecr.io/runwhen/app"
        );
        let plain = TargetRegistry::parse("127.0.0.1:5000").unwrap();
        assert_eq!(plain.image_name("a/b", Some("v2")), "127.0.0.1:5000/a/b:v2");
        let layout = TargetRegistry::parse("oci-layout:/srv/mirror").unwrap();
        assert_eq!(
            layout.image_name("runwhen/app", Some("1.0")),
            "oci-layout:/srv/mirror:runwhen/app:1.0"
        );
        assert_eq!(
            layout.image_name("runwhen/app", None),
            "oci-layout:/srv/mirror:runwhen/app"
        );
    }
}
