//! ACR's naming rules: a registry's resource name, and the login servers each cloud
//! gives it. Every other crate asks here rather than repeating the rules.

use std::fmt;

use crate::Cloud;

/// A valid ACR resource name (`myacr`): 5 to 50 ASCII letters and digits, kept in
/// lower case as Azure compares them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AcrName(String);

/// A name that breaks ACR's naming rule; keeps the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not an ACR name (5 to 50 letters and digits)")]
pub struct AcrNameError {
    input: String,
}

impl AcrNameError {
    /// The refused input.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl AcrName {
    /// Checks `name` against ACR's rule (case-insensitive).
    pub fn parse(name: &str) -> Result<AcrName, AcrNameError> {
        let valid =
            (5..=50).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric());
        if valid {
            Ok(AcrName(name.to_ascii_lowercase()))
        } else {
            Err(AcrNameError {
                input: name.to_string(),
            })
        }
    }

    /// The name, lower case.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The login server this registry has in `cloud` (`myacr.azurecr.cn`).
    pub fn login_server(&self, cloud: Cloud) -> String {
        format!("{}{}", self.0, cloud.acr_suffix())
    }

    /// Reads a login server (`myacr.azurecr.io`, any case): `None` when `host` ends
    /// with no cloud's ACR suffix, an error when it does but the name before it is not
    /// a valid ACR name.
    pub fn from_login_server(host: &str) -> Option<Result<(AcrName, Cloud), AcrNameError>> {
        let cloud = Cloud::from_login_server(host)?;
        let name = &host[..host.len() - cloud.acr_suffix().len()];
        Some(AcrName::parse(name).map(|n| (n, cloud)))
    }
}

impl fmt::Display for AcrName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_acr_rules() {
        assert_eq!(AcrName::parse("MyAcr01").unwrap().as_str(), "myacr01");
        assert!(AcrName::parse(&"a".repeat(50)).is_ok());
        for bad in ["", "abcd", "my-acr", "my_acr", &"a".repeat(51), "ácr12"] {
            let e = AcrName::parse(bad).unwrap_err();
            assert_eq!(e.input(), bad);
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn login_servers_name_their_cloud() {
        let (name, cloud) = AcrName::from_login_server("ChinaAcr.AzureCR.cn")
            .unwrap()
            .unwrap();
        assert_eq!((name.as_str(), cloud), ("chinaacr", Cloud::China));
        assert_eq!(
            name.login_server(Cloud::UsGovernment),
            "chinaacr.azurecr.us"
        );
        assert!(AcrName::from_login_server("a.azurecr.io").unwrap().is_err());
        assert!(AcrName::from_login_server("registry.internal:5000").is_none());
    }
}
