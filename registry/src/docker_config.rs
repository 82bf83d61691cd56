//! Credentials from a docker `config.json`: inline `auths`, `credHelpers` and `credsStore`.
//!
//! Credential helpers run as `docker-credential-<name> get` with the server URL on
//! standard input, as docker runs them; secrets never appear in process arguments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::AsyncWriteExt;

use crate::config::Credentials;
use crate::error::{Error, ErrorKind};
use crate::reference::{DOCKER_HUB, DOCKER_HUB_API_HOST};
use crate::secret::Secret;

/// The user name docker writes for an identity token (a credential helper answers it
/// with the token as its `Secret`); it is read here into [`Credentials::IdentityToken`]
/// and nowhere else.
const DOCKER_IDENTITY_TOKEN_USER: &str = "<token>";
/// The key docker uses for Docker Hub in `config.json`.
const DOCKER_HUB_CONFIG_KEY: &str = "https://index.docker.io/v1/";
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// Where docker keeps its config: `$DOCKER_CONFIG/config.json`, else
/// `$HOME/.docker/config.json`. For binaries; the library itself reads no environment.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".docker").join("config.json"))
}

/// The parts of docker's `config.json` that hold credentials.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    /// Where to look for helpers instead of PATH (tests).
    #[serde(skip)]
    helper_dir: Option<PathBuf>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<Secret>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<Secret>,
    /// An OAuth2 refresh token (`docker login` to ACR with Entra ID writes one).
    #[serde(default)]
    identitytoken: Option<Secret>,
}

#[derive(serde::Deserialize)]
struct HelperOutput {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: Secret,
}

impl DockerConfig {
    /// Reads `path`; a missing file is an empty config.
    pub(crate) fn load(path: &Path) -> Result<DockerConfig, Error> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DockerConfig::default());
            }
            Err(e) => {
                return Err(credentials_error(format!("{}: {e}", path.display())));
            }
        };
        // serde_json's messages quote the offending value, which here may be a
        // credential: say where and what kind of error, never the text itself.
        serde_json::from_slice(&text).map_err(|e| {
            credentials_error(format!(
                "{}:{}:{}: not a valid docker config ({:?} error); fix or remove the file",
                path.display(),
                e.line(),
                e.column(),
                e.classify()
            ))
        })
    }

    /// The credentials for `registry` (as named in references), if any.
    pub(crate) async fn credentials_for(
        &self,
        registry: &str,
    ) -> Result<Option<Credentials>, Error> {
        let keys = candidate_keys(registry);
        for key in &keys {
            if let Some(helper) = self.cred_helpers.get(key) {
                return self.run_helper(helper, &keys[0]).await;
            }
        }
        if let Some(entry) = self.find_auth(registry, &keys) {
            if let Some(creds) = entry.credentials()? {
                return Ok(Some(creds));
            }
        }
        match &self.creds_store {
            Some(store) if !store.is_empty() => self.run_helper(store, &keys[0]).await,
            _ => Ok(None),
        }
    }

    fn find_auth(&self, registry: &str, keys: &[String]) -> Option<&AuthEntry> {
        keys.iter().find_map(|k| self.auths.get(k)).or_else(|| {
            // Keys may be full URLs with paths (`https://host/v1/`): compare hosts.
            let wanted: Vec<&str> = keys.iter().map(|k| host_of(k)).collect();
            self.auths
                .iter()
                .find(|(k, _)| wanted.contains(&host_of(k)) || host_of(k) == registry)
                .map(|(_, v)| v)
        })
    }
}

impl AuthEntry {
    fn credentials(&self) -> Result<Option<Credentials>, Error> {
        if let Some(token) = self.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials::identity_token(token.clone())));
        }
        if let Some(auth) = self.auth.as_ref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.expose().trim())
                .map_err(|_| credentials_error("an `auth` entry is not valid base64".into()))?;
            let text = String::from_utf8(decoded)
                .map_err(|_| credentials_error("an `auth` entry is not UTF-8".into()))?;
            let (user, pass) = text.split_once(':').ok_or_else(|| {
                credentials_error("an `auth` entry is not `username:password`".into())
            })?;
            return Ok(Some(basic_or_token(user, pass.into())));
        }
        match (&self.username, &self.password) {
            (Some(u), Some(p)) if !u.is_empty() => Ok(Some(basic_or_token(u, p.clone()))),
            _ => Ok(None),
        }
    }
}

/// The config keys docker may have used for `registry`, the canonical one first.
fn candidate_keys(registry: &str) -> Vec<String> {
    let hub = [DOCKER_HUB, DOCKER_HUB_API_HOST, "index.docker.io"];
    if hub.contains(&registry) {
        let mut keys = vec![DOCKER_HUB_CONFIG_KEY.to_string()];
        keys.extend(hub.iter().map(|h| h.to_string()));
        keys.push("https://index.docker.io".into());
        return keys;
    }
    vec![
        registry.to_string(),
        format!("https://{registry}"),
        format!("http://{registry}"),
    ]
}

/// `https://host:port/v1/` → `host:port`.
fn host_of(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

impl DockerConfig {
    async fn run_helper(&self, helper: &str, server: &str) -> Result<Option<Credentials>, Error> {
        if helper.is_empty()
            || !helper
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(credentials_error(format!(
                "invalid credential helper name {helper:?}"
            )));
        }
        let program = format!("docker-credential-{helper}");
        let path = match &self.helper_dir {
            Some(dir) => dir.join(&program),
            None => PathBuf::from(&program),
        };
        let mut child = tokio::process::Command::new(&path)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| credentials_error(format!("cannot run {program}: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(server.as_bytes())
                .await
                .map_err(|e| credentials_error(format!("{program}: {e}")))?;
        }
        let output = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| credentials_error(format!("{program} did not answer within 30s")))?
            .map_err(|e| credentials_error(format!("{program}: {e}")))?;
        if !output.status.success() {
            // Stdout is where a helper puts secrets, so only stderr is ever quoted.
            let stdout = String::from_utf8_lossy(&output.stdout).to_lowercase();
            let stderr = String::from_utf8_lossy(&output.stderr);
            // Helpers say this when they simply hold nothing for the server.
            if stdout.contains("credentials not found")
                || stderr.to_lowercase().contains("credentials not found")
            {
                return Ok(None);
            }
            return Err(credentials_error(format!(
                "{program} failed ({}): {}",
                output.status,
                crate::error::truncate(&stderr, 200)
            )));
        }
        let parsed: HelperOutput = serde_json::from_slice(&output.stdout).map_err(|_| {
            credentials_error(format!(
                "{program} printed something that is not its JSON answer"
            ))
        })?;
        if parsed.username.is_empty() && parsed.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(basic_or_token(&parsed.username, parsed.secret)))
    }
}

/// Docker's spelling of credentials into the type: the user `<token>` marks an identity
/// token (credential helpers answer ACR logins so).
fn basic_or_token(username: &str, secret: Secret) -> Credentials {
    if username == DOCKER_IDENTITY_TOKEN_USER {
        Credentials::identity_token(secret)
    } else {
        Credentials::new(username, secret)
    }
}

fn credentials_error(message: String) -> Error {
    Error::without_registry(ErrorKind::Credentials(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn config(json: &str) -> DockerConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_malformed_file_is_located_without_quoting_its_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"auths": {"ghcr.io": "dXNlcjpwYXNz"}}"#).unwrap();
        let msg = DockerConfig::load(&path).unwrap_err().to_string();
        assert!(msg.contains("config.json:1:"), "{msg}");
        assert!(!msg.contains("dXNlcjpwYXNz"), "{msg}");
    }

    #[tokio::test]
    async fn inline_auths() {
        let c = config(
            r#"{"auths":{
                "https://index.docker.io/v1/":{"auth":"Ym9iOnB3OmQ="},
                "ghcr.io":{"username":"al","password":"tok"},
                "https://reg.example.com/v2/":{"auth":"eDp5"},
                "empty.io":{}
            }}"#,
        );
        let hub = c.credentials_for("docker.io").await.unwrap().unwrap();
        assert_eq!(hub, Credentials::new("bob", "pw:d"));
        let gh = c.credentials_for("ghcr.io").await.unwrap().unwrap();
        assert_eq!(gh, Credentials::new("al", "tok"));
        let ex = c.credentials_for("reg.example.com").await.unwrap().unwrap();
        assert_eq!(ex.username(), Some("x"));
        assert!(c.credentials_for("empty.io").await.unwrap().is_none());
        let acr = config(
            r#"{"auths":{"my.azurecr.io":{"auth":"MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOg==","identitytoken":"refresh"}}}"#,
        );
        let t = acr.credentials_for("my.azurecr.io").await.unwrap().unwrap();
        assert_eq!(t, Credentials::identity_token("refresh"));
        // `docker login -u '<token>'` stores the token as a password: the same thing.
        let inline =
            config(r#"{"auths":{"my.azurecr.io":{"username":"<token>","password":"r2"}}}"#);
        let t = inline
            .credentials_for("my.azurecr.io")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(t, Credentials::identity_token("r2"));
        assert!(c.credentials_for("other.io").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn bad_base64_is_an_error_without_the_secret() {
        let c = config(r#"{"auths":{"x.io":{"auth":"!!!secretish"}}}"#);
        let e = c.credentials_for("x.io").await.unwrap_err();
        assert!(!e.to_string().contains("secretish"), "{e}");
    }

    /// A fake helper in a temp dir on PATH: it checks that the server URL arrives on
    /// stdin (not argv) and answers for one server only.
    #[tokio::test]
    async fn credential_helpers_get_the_server_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("docker-credential-fake");
        std::fs::write(
            &script,
            "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread server\n\
             if [ \"$server\" = \"https://index.docker.io/v1/\" ] || [ \"$server\" = \"ghcr.io\" ]; then\n\
             printf '{\"ServerURL\":\"%s\",\"Username\":\"hub\",\"Secret\":\"s3\"}' \"$server\"\n\
             else echo 'credentials not found in native keychain'; exit 1; fi\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let with_dir = |json: &str| DockerConfig {
            helper_dir: Some(dir.path().to_path_buf()),
            ..config(json)
        };
        let store = with_dir(r#"{"credsStore":"fake"}"#);
        let hub = store.credentials_for("docker.io").await.unwrap().unwrap();
        assert_eq!(hub, Credentials::new("hub", "s3"));
        assert!(store.credentials_for("nothing.io").await.unwrap().is_none());

        let helpers =
            with_dir(r#"{"credHelpers":{"ghcr.io":"fake"},"auths":{"ghcr.io":{"auth":"eDp5"}}}"#);
        let gh = helpers.credentials_for("ghcr.io").await.unwrap().unwrap();
        assert_eq!(gh.username(), Some("hub"));

        let missing = with_dir(r#"{"credsStore":"absent-helper"}"#);
        let e = missing.credentials_for("a.io").await.unwrap_err();
        assert!(
            e.to_string().contains("docker-credential-absent-helper"),
            "{e}"
        );
        assert!(
            config(r#"{"credsStore":"../evil"}"#)
                .credentials_for("a.io")
                .await
                .is_err()
        );
    }

    #[test]
    fn missing_file_is_empty_and_bad_json_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let c = DockerConfig::load(&dir.path().join("none.json")).unwrap();
        assert!(c.auths.is_empty());
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{").unwrap();
        assert!(DockerConfig::load(&bad).is_err());
    }
}
