//! Where images go: an Azure Container Registry, any OCI registry, or an OCI layout on disk.

use std::fmt;
use std::path::PathBuf;

/// The target as given by `REGISTRY_NAME` / `target.registry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetRegistry {
    /// An Azure Container Registry, by its resource name and login server.
    Acr {
        /// The registry resource name (`myacr`).
        name: String,
        /// The data-plane host (`myacr.azurecr.io`).
        login_server: String,
    },
    /// Any registry that speaks the OCI distribution API, by `host[:port]`.
    Oci {
        /// `host[:port]`.
        host: String,
    },
    /// An OCI image layout directory on disk.
    Layout {
        /// The layout's root directory.
        dir: PathBuf,
    },
}

/// The login-server suffixes of ACR in the public, China and US Government clouds.
const ACR_SUFFIXES: [&str; 3] = [".azurecr.io", ".azurecr.cn", ".azurecr.us"];

/// Why a target registry setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid target registry {input:?}: {reason} (expected `myacr`, `myacr.azurecr.io`, `host[:port]` or `oci-layout:DIR`)"
)]
pub struct TargetError {
    input: String,
    reason: &'static str,
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
        let err = |reason| TargetError {
            input: input.to_string(),
            reason,
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
        let lower = host.to_ascii_lowercase();
        if let Some(suffix) = ACR_SUFFIXES.iter().find(|s| lower.ends_with(*s)) {
            let name = &lower[..lower.len() - suffix.len()];
            return acr(name, lower.clone()).ok_or_else(|| err("invalid ACR name"));
        }
        if !host.contains(['.', ':']) && lower != "localhost" {
            // A bare name is an ACR resource name in the public cloud, as `az acr` takes it.
            return acr(&lower, format!("{lower}.azurecr.io"))
                .ok_or_else(|| err("an ACR name is 5 to 50 letters and digits"));
        }
        let probe = format!("{host}/probe");
        acr_sync_registry::Reference::parse(&probe).map_err(|_| err("not a valid host[:port]"))?;
        Ok(TargetRegistry::Oci {
            host: host.to_string(),
        })
    }

    /// The registry host images are pushed to, or `None` for a layout.
    pub fn host(&self) -> Option<&str> {
        match self {
            TargetRegistry::Acr { login_server, .. } => Some(login_server),
            TargetRegistry::Oci { host } => Some(host),
            TargetRegistry::Layout { .. } => None,
        }
    }
}

fn acr(name: &str, login_server: String) -> Option<TargetRegistry> {
    let valid = (5..=50).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric());
    valid.then(|| TargetRegistry::Acr {
        name: name.to_string(),
        login_server,
    })
}

impl fmt::Display for TargetRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetRegistry::Acr { login_server, .. } => f.write_str(login_server),
            TargetRegistry::Oci { host } => f.write_str(host),
            TargetRegistry::Layout { dir } => write!(f, "oci-layout:{}", dir.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let acr = |name: &str, server: &str| TargetRegistry::Acr {
            name: name.into(),
            login_server: server.into(),
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
            (
                "registry.internal:5000",
                TargetRegistry::Oci {
                    host: "registry.internal:5000".into(),
                },
            ),
            (
                "127.0.0.1:5000",
                TargetRegistry::Oci {
                    host: "127.0.0.1:5000".into(),
                },
            ),
            (
                "localhost",
                TargetRegistry::Oci {
                    host: "localhost".into(),
                },
            ),
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
