//! Where a one-shot run (the SLI's check, a transfer) sends its metrics besides stdout: a
//! textfile for node_exporter's textfile collector, and a Pushgateway.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::metrics::CONTENT_TYPE;

/// A push that takes longer than this has failed: the run must not hang on a Pushgateway.
const PUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variables that hold the Pushgateway's basic-auth credentials.
pub const USERNAME_ENV: &str = "PUSHGATEWAY_USERNAME";
/// See [`USERNAME_ENV`].
pub const PASSWORD_ENV: &str = "PUSHGATEWAY_PASSWORD";

/// The `--textfile` and `--pushgateway` a run asked for, checked before the run sends
/// anything anywhere, so that exit 1 still means nothing was done.
#[derive(Debug, Default)]
pub struct MetricsOutputs {
    textfile: Option<PathBuf>,
    push: Option<PushTarget>,
}

impl MetricsOutputs {
    /// Checks the textfile's directory and the Pushgateway URL (with the credentials of
    /// [`USERNAME_ENV`] and [`PASSWORD_ENV`]) for the group of `job` and the `grouping`
    /// labels; `program` prefixes
    /// the warning about a textfile name node_exporter will not read.
    pub fn prepare(
        program: &str,
        textfile: Option<&Path>,
        pushgateway: Option<&str>,
        job: &str,
        grouping: &[(&str, &str)],
    ) -> Result<MetricsOutputs, String> {
        let push = match pushgateway {
            Some(url) => {
                let target = PushTarget::new(url, job, PushCredentials::from_env()?)?;
                Some(
                    grouping
                        .iter()
                        .fold(target, |t, (label, value)| t.grouped_by(label, value)),
                )
            }
            None => None,
        };
        if let Some(path) = textfile {
            check_textfile(path)?;
            if path.extension().and_then(|e| e.to_str()) != Some("prom") {
                eprintln!(
                    "{program}: warning: node_exporter's textfile collector reads only *.prom files, and {} is not one",
                    path.display()
                );
            }
        }
        Ok(MetricsOutputs {
            textfile: textfile.map(Path::to_path_buf),
            push,
        })
    }

    /// Whether any output was asked for.
    pub fn is_empty(&self) -> bool {
        self.textfile.is_none() && self.push.is_none()
    }

    /// Writes `exposition` to each output asked for; the errors of those that failed (one
    /// failing does not stop the other).
    pub async fn send(&self, exposition: &str) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(path) = &self.textfile {
            errors.extend(write_textfile(path, exposition).err());
        }
        if let Some(target) = &self.push {
            errors.extend(target.push(exposition.to_string()).await.err());
        }
        errors
    }
}

/// Refuses, before anything is checked, a textfile the run could not write: its directory
/// must exist and take a new file (where the atomic write puts its temporary file).
pub fn check_textfile(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!(
            "--textfile {}: is a directory; name a file (e.g. acr_sync.prom) in it",
            path.display()
        ));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    check_writable_dir(dir).map_err(|why| format!("--textfile {}: {why}", path.display()))
}

/// `Ok` when `dir` is an existing directory in which a file can be created (tried for
/// real, so read-only mounts, permissions and ACLs all count); the reason otherwise.
pub fn check_writable_dir(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Err(e) => return Err(format!("directory {} does not exist: {e}", dir.display())),
        Ok(meta) if !meta.is_dir() => {
            return Err(format!("{} is not a directory", dir.display()));
        }
        Ok(_) => {}
    }
    tempfile::Builder::new()
        .prefix(".acr-sync")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| format!("directory {} is not writable: {e}", dir.display()))
}

/// Writes the exposition to `path` atomically, readable by all, so node_exporter (which
/// usually runs as another user) never reads half a file.
pub fn write_textfile(path: &Path, exposition: &str) -> Result<(), String> {
    acr_sync::report::write_bytes_atomically(path, exposition.as_bytes())
        .map_err(|e| format!("{e} (--textfile)"))
}

/// Basic-auth credentials for the Pushgateway, from [`USERNAME_ENV`] and [`PASSWORD_ENV`].
#[derive(Clone)]
pub struct PushCredentials {
    username: String,
    password: Option<String>,
}

impl std::fmt::Debug for PushCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushCredentials")
            .field("username", &"<redacted>")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl PushCredentials {
    /// The credentials in the process environment, if any.
    pub fn from_env() -> Result<Option<PushCredentials>, String> {
        let read = |name: &str| match std::env::var(name) {
            Ok(value) if !value.is_empty() => Ok(Some(value)),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
        };
        PushCredentials::from_values(read(USERNAME_ENV)?, read(PASSWORD_ENV)?)
    }

    fn from_values(
        username: Option<String>,
        password: Option<String>,
    ) -> Result<Option<PushCredentials>, String> {
        match (username, password) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(format!(
                "{PASSWORD_ENV} is set but {USERNAME_ENV} is not: set both for the Pushgateway's basic auth"
            )),
            (Some(username), password) => Ok(Some(PushCredentials { username, password })),
        }
    }
}

/// A Pushgateway group: `<url>/metrics/job/<job>`.
#[derive(Debug, Clone)]
pub struct PushTarget {
    /// Never holds userinfo, so that it can be shown.
    url: url::Url,
    credentials: Option<PushCredentials>,
}

impl PushTarget {
    /// The group of `job` on the Pushgateway at `base`, pushed to with `credentials`;
    /// refuses what is not an http(s) URL, and a URL that carries a password (which would
    /// be in the process arguments for all to see).
    pub fn new(
        base: &str,
        job: &str,
        credentials: Option<PushCredentials>,
    ) -> Result<PushTarget, String> {
        let shown = redact(base);
        let invalid = |why: &str| {
            format!("--pushgateway {shown:?}: {why} (expected e.g. http://pushgateway:9091)")
        };
        let mut url = url::Url::parse(base).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(invalid("not an http or https URL"));
        }
        if url.password().is_some() {
            return Err(format!(
                "--pushgateway {shown:?}: the URL carries a password, which would show in the process arguments; remove it from the URL and set {USERNAME_ENV} and {PASSWORD_ENV} instead"
            ));
        }
        // A user name alone is no secret, but it is not shown either: it is sent as the
        // basic-auth user when the environment names none.
        let credentials = match (credentials, url.username()) {
            (Some(c), _) => Some(c),
            (None, "") => None,
            (None, user) => Some(PushCredentials {
                username: percent_decode(user),
                password: None,
            }),
        };
        let _ = url.set_username("");
        let _ = url.set_password(None);
        if job.is_empty() {
            return Err("--push-job: the job name is empty".to_string());
        }
        let (key, value) = group_segment("job", job);
        url.path_segments_mut()
            .map_err(|()| invalid("not a base URL"))?
            .pop_if_empty()
            .extend(["metrics", key.as_str(), value.as_str()]);
        Ok(PushTarget { url, credentials })
    }

    /// The group narrowed by `label="value"` (e.g. one per shard, so that shards pushing
    /// at once do not replace each other's metrics).
    pub fn grouped_by(mut self, label: &str, value: &str) -> PushTarget {
        let (key, value) = group_segment(label, value);
        if let Ok(mut segments) = self.url.path_segments_mut() {
            segments.extend([key.as_str(), value.as_str()]);
        }
        self
    }

    /// Replaces the group's metrics with `exposition` (PUT: series that are no longer
    /// pushed go, unlike POST).
    pub async fn push(&self, exposition: String) -> Result<(), String> {
        let failed = |why: String| format!("cannot push the metrics to {}: {why}", self.url);
        let client = reqwest::Client::builder()
            .timeout(PUSH_TIMEOUT)
            .build()
            .map_err(|e| failed(describe(e)))?;
        let mut request = client
            .put(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(exposition);
        if let Some(c) = &self.credentials {
            request = request.basic_auth(&c.username, c.password.as_deref());
        }
        let response = request.send().await.map_err(|e| failed(describe(e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = read_start(response, 64 * 1024).await;
        let text =
            acr_sync::registry::redact::remote_text(&body, acr_sync::registry::redact::DEFAULT_CAP);
        Err(failed(format!("{status}: {text}")))
    }
}

/// At most `limit` bytes of a body: an error page is quoted, never held whole.
async fn read_start(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        out.extend_from_slice(&chunk[..chunk.len().min(limit - out.len())]);
        if out.len() >= limit {
            break;
        }
    }
    out
}

/// A request error with its causes ("connection refused" is in a source), without the
/// URL, which the caller shows already.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `raw` with any userinfo (`user:password@`) replaced, for messages: it works on text
/// that does not even parse as a URL.
fn redact(raw: &str) -> String {
    let authority_start = raw.find("://").map_or(0, |i| i + 3);
    let rest = &raw[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!(
            "{}***{}",
            &raw[..authority_start],
            &raw[authority_start + at..]
        ),
        None => raw.to_string(),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `<label>/<value>`, or `<label>@base64/<encoded>` for a value a URL path segment cannot
/// carry as is (the Pushgateway's own convention, for `/` in particular).
fn group_segment(label: &str, value: &str) -> (String, String) {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if plain {
        (label.to_string(), value.to_string())
    } else {
        (format!("{label}@base64"), URL_SAFE_NO_PAD.encode(value))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_textfile_is_readable_by_node_exporter_whoever_runs_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acr_sync.prom");
        write_textfile(&path, "acr_sync_images_outdated 1\n").unwrap();
        write_textfile(&path, "acr_sync_images_outdated 0\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "acr_sync_images_outdated 0\n"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
        assert!(
            write_textfile(&dir.path().join("missing/x.prom"), "")
                .unwrap_err()
                .contains("--textfile")
        );
    }

    #[test]
    fn the_group_url_carries_the_job() {
        let t = PushTarget::new("http://127.0.0.1:9091", "acr_sync_sli", None).unwrap();
        assert_eq!(
            t.url.as_str(),
            "http://127.0.0.1:9091/metrics/job/acr_sync_sli"
        );
        let t = PushTarget::new("https://pg.example/prefix/", "team/sli", None).unwrap();
        assert_eq!(
            t.url.as_str(),
            "https://pg.example/prefix/metrics/job@base64/dGVhbS9zbGk"
        );
        assert!(PushTarget::new("pushgateway:9091", "j", None).is_err());
        assert!(PushTarget::new("ftp://x", "j", None).is_err());
        assert!(PushTarget::new("http://x", "", None).is_err());
        let t = PushTarget::new("http://127.0.0.1:9091", "acr_sync_transfer", None)
            .unwrap()
            .grouped_by("shard", "1/4");
        assert_eq!(
            t.url.as_str(),
            "http://127.0.0.1:9091/metrics/job/acr_sync_transfer/shard@base64/MS80"
        );
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_being_shown() {
        for url in [
            "http://me:s3cr3t-pw@pg.example:9091",
            "https://me:s3cr3t-pw@pg.example/prefix?x=1",
            "http://:s3cr3t-pw@pg.example",
        ] {
            let err = PushTarget::new(url, "j", None).unwrap_err();
            assert!(!err.contains("s3cr3t-pw"), "{err}");
            assert!(
                err.contains(USERNAME_ENV) && err.contains(PASSWORD_ENV),
                "{err}"
            );
        }
        // Not even a URL: still not shown.
        let err = PushTarget::new("me:s3cr3t-pw@pg example", "j", None).unwrap_err();
        assert!(!err.contains("s3cr3t-pw"), "{err}");
        let err = PushTarget::new("http://me:s3cr3t-pw@pg.example:99999", "j", None).unwrap_err();
        assert!(!err.contains("s3cr3t-pw"), "{err}");
    }

    #[test]
    fn a_user_name_in_the_url_is_sent_but_never_shown() {
        let t = PushTarget::new("http://robot%40x@pg.example:9091", "j", None).unwrap();
        assert_eq!(t.url.as_str(), "http://pg.example:9091/metrics/job/j");
        assert_eq!(t.credentials.unwrap().username, "robot@x");
        let env = PushCredentials::from_values(Some("env".into()), Some("pw".into())).unwrap();
        let t = PushTarget::new("http://robot@pg.example", "j", env).unwrap();
        assert_eq!(
            t.credentials.as_ref().unwrap().username,
            "env",
            "the environment wins"
        );
        let shown = format!("{t:?}");
        assert!(!shown.contains("pw\"") && !shown.contains("env"), "{shown}");
    }

    #[test]
    fn credentials_need_a_user_name() {
        assert!(PushCredentials::from_values(None, None).unwrap().is_none());
        let err = PushCredentials::from_values(None, Some("s3cr3t".into())).unwrap_err();
        assert!(
            err.contains(USERNAME_ENV) && !err.contains("s3cr3t"),
            "{err}"
        );
        let c = PushCredentials::from_values(Some("u".into()), None)
            .unwrap()
            .unwrap();
        assert_eq!((c.username.as_str(), c.password), ("u", None));
    }

    #[test]
    fn redact_hides_userinfo_only() {
        assert_eq!(redact("http://u:p@h:1/x@y"), "http://***@h:1/x@y");
        assert_eq!(redact("u:p@h"), "***@h");
        assert_eq!(redact("http://h/a@b"), "http://h/a@b");
        assert_eq!(redact("http://a@b:c@h"), "http://***@h");
    }

    #[test]
    fn the_textfile_directory_is_checked_up_front() {
        let dir = tempfile::tempdir().unwrap();
        check_textfile(&dir.path().join("acr_sync.prom")).unwrap();
        let err = check_textfile(&dir.path().join("missing/acr_sync.prom")).unwrap_err();
        assert!(
            err.contains("--textfile") && err.contains("does not exist"),
            "{err}"
        );
        assert!(
            check_textfile(dir.path())
                .unwrap_err()
                .contains("directory")
        );
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(
            check_writable_dir(&file)
                .unwrap_err()
                .contains("not a directory")
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "the probe leaves nothing behind"
        );
    }

    #[tokio::test]
    async fn a_pushgateway_error_page_is_redacted_and_capped() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut buf = [0u8; 64 * 1024];
            let _ = stream.read(&mut buf);
            let body = format!(
                "bad push from client with password=hunter2 {}",
                "x".repeat(5 * 1024 * 1024)
            );
            let head = format!(
                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        });
        let target = PushTarget::new(&format!("http://{addr}"), "acr-sync", None).unwrap();
        let e = target.push("m 1\n".into()).await.unwrap_err();
        assert!(e.contains("500"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        assert!(e.len() < 1024, "{} bytes", e.len());
        assert!(e.contains("bytes more)"), "{e}");
    }
}
