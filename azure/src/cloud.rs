//! Azure clouds and their endpoints: public, China and US Government.
//!
//! Every endpoint can be overridden (`AZURE_AUTHORITY_HOST`, an ARM endpoint setting, an
//! IMDS endpoint) so that tests point them at local servers. The token *audience* always
//! stays the cloud's own: a local ARM stand-in still receives a token for
//! `https://management.azure.com/`, as real ARM would.

use std::fmt;

use url::Url;

/// An Azure cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    /// Azure public cloud (`AzureCloud`).
    #[default]
    Public,
    /// Azure operated by 21Vianet (`AzureChinaCloud`).
    China,
    /// Azure US Government (`AzureUSGovernment`).
    UsGovernment,
}

impl Cloud {
    /// Every cloud.
    pub const ALL: [Cloud; 3] = [Cloud::Public, Cloud::China, Cloud::UsGovernment];

    /// Parses the names `az cloud list` uses, and short forms: `public` / `AzureCloud`,
    /// `china` / `AzureChinaCloud`, `usgovernment` / `usgov` / `AzureUSGovernment`.
    pub fn parse(name: &str) -> Option<Cloud> {
        match name.trim().to_ascii_lowercase().as_str() {
            "public" | "azurecloud" | "azure" => Some(Cloud::Public),
            "china" | "azurechinacloud" => Some(Cloud::China),
            "usgovernment" | "usgov" | "azureusgovernment" => Some(Cloud::UsGovernment),
            _ => None,
        }
    }

    /// The cloud whose ACR suffix `login_server` ends with, if any.
    pub fn from_login_server(login_server: &str) -> Option<Cloud> {
        let lower = login_server.to_ascii_lowercase();
        Cloud::ALL
            .into_iter()
            .find(|c| lower.ends_with(c.acr_suffix()))
    }

    /// The Entra ID authority host.
    pub fn authority_host(self) -> &'static str {
        match self {
            Cloud::Public => "https://login.microsoftonline.com/",
            Cloud::China => "https://login.chinacloudapi.cn/",
            Cloud::UsGovernment => "https://login.microsoftonline.us/",
        }
    }

    /// The Azure Resource Manager endpoint, which is also the audience of ARM tokens.
    pub fn resource_manager(self) -> &'static str {
        match self {
            Cloud::Public => "https://management.azure.com/",
            Cloud::China => "https://management.chinacloudapi.cn/",
            Cloud::UsGovernment => "https://management.usgovcloudapi.net/",
        }
    }

    /// The login-server suffix of its registries (`.azurecr.io`).
    pub fn acr_suffix(self) -> &'static str {
        match self {
            Cloud::Public => ".azurecr.io",
            Cloud::China => ".azurecr.cn",
            Cloud::UsGovernment => ".azurecr.us",
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cloud::Public => "AzureCloud",
            Cloud::China => "AzureChinaCloud",
            Cloud::UsGovernment => "AzureUSGovernment",
        })
    }
}

/// The endpoints a run talks to: the cloud's, with overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The cloud (decides token audiences and the ACR suffix).
    pub cloud: Cloud,
    /// Entra ID authority host (`AZURE_AUTHORITY_HOST`).
    pub authority_host: Url,
    /// Azure Resource Manager.
    pub resource_manager: Url,
    /// The instance metadata service of a VM's managed identity.
    pub imds: Url,
}

/// An endpoint setting that is not a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {value:?} is not an http(s) URL")]
pub struct EndpointError {
    /// The setting that holds it.
    pub setting: String,
    /// The value given.
    pub value: String,
}

impl Endpoints {
    /// The cloud's own endpoints.
    pub fn for_cloud(cloud: Cloud) -> Endpoints {
        Endpoints {
            cloud,
            authority_host: parse_static(cloud.authority_host()),
            resource_manager: parse_static(cloud.resource_manager()),
            imds: parse_static("http://169.254.169.254/"),
        }
    }

    /// Replaces the authority host, ARM or IMDS endpoint; `setting` names where the value
    /// came from, for the error.
    pub fn with_override(
        mut self,
        which: EndpointKind,
        value: &str,
        setting: &str,
    ) -> Result<Endpoints, EndpointError> {
        let url = parse_base(value).ok_or_else(|| EndpointError {
            setting: setting.to_string(),
            value: value.to_string(),
        })?;
        match which {
            EndpointKind::Authority => self.authority_host = url,
            EndpointKind::ResourceManager => self.resource_manager = url,
            EndpointKind::Imds => self.imds = url,
        }
        Ok(self)
    }

    /// The scope of ARM tokens (`https://management.azure.com/.default`).
    pub fn arm_scope(&self) -> String {
        format!("{}.default", self.cloud.resource_manager())
    }

    /// The resource (v1 audience) of ARM tokens, as managed identity endpoints take it.
    pub fn arm_resource(&self) -> &'static str {
        self.cloud.resource_manager()
    }

    /// Whether ARM is a local stand-in (loopback): then loopback registries count as
    /// reachable from where importImage runs.
    pub fn is_local(&self) -> bool {
        self.resource_manager
            .host_str()
            .is_some_and(|h| acr_sync_registry::is_loopback(h.trim_matches(['[', ']'])))
    }
}

/// Which endpoint [`Endpoints::with_override`] replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// The Entra ID authority host.
    Authority,
    /// Azure Resource Manager.
    ResourceManager,
    /// The instance metadata service.
    Imds,
}

fn parse_static(s: &str) -> Url {
    Url::parse(s).expect("built-in endpoints are URLs")
}

/// A base URL with a trailing slash, so that joining keeps its path.
fn parse_base(value: &str) -> Option<Url> {
    let trimmed = value.trim();
    let with_slash = if trimmed.ends_with('/') {
        trimmed.to_string()
    } else {
        format!("{trimmed}/")
    };
    Url::parse(&with_slash)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_by_name_and_suffix() {
        assert_eq!(Cloud::parse("AzureChinaCloud"), Some(Cloud::China));
        assert_eq!(Cloud::parse("usgov"), Some(Cloud::UsGovernment));
        assert_eq!(Cloud::parse("mars"), None);
        assert_eq!(
            Cloud::from_login_server("x.azurecr.us"),
            Some(Cloud::UsGovernment)
        );
        assert_eq!(Cloud::from_login_server("127.0.0.1:5000"), None);
        let cn = Endpoints::for_cloud(Cloud::China);
        assert_eq!(
            cn.arm_scope(),
            "https://management.chinacloudapi.cn/.default"
        );
    }

    #[test]
    fn overrides_keep_the_audience() {
        let e = Endpoints::for_cloud(Cloud::Public)
            .with_override(EndpointKind::ResourceManager, "http://127.0.0.1:9/arm", "x")
            .unwrap();
        assert_eq!(e.resource_manager.as_str(), "http://127.0.0.1:9/arm/");
        assert_eq!(e.arm_scope(), "https://management.azure.com/.default");
        assert!(e.is_local());
        let err = Endpoints::for_cloud(Cloud::Public)
            .with_override(EndpointKind::Authority, "ftp://x", "AZURE_AUTHORITY_HOST")
            .unwrap_err();
        assert!(err.to_string().contains("AZURE_AUTHORITY_HOST"));
    }
}
