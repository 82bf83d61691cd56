//! The `docker-registry` process: configuration, start, readiness, logs, stop.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::log::{LoggedRequest, parse_access_log};
use crate::net::free_port;
use crate::push::{PushAuth, Pusher};
use crate::tls::TestCa;
use crate::tokens::{TokenServer, TokenServerOptions, TokenUser};

/// The identity [`Registry::pusher`] uses: added to the htpasswd file, and to the token server's users
/// with every action.
const ADMIN_USER: &str = "testkit-admin";
const ADMIN_PASSWORD: &str = "testkit-admin-secret";

/// How long [`Registry::start`] waits for `GET /v2/` to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
enum Auth {
    Anonymous,
    Basic(Vec<(String, String)>),
    Token(TokenServerOptions),
}

/// What kind of registry to start. Build with [`RegistryOptions::anonymous`],
/// [`RegistryOptions::basic`] or [`RegistryOptions::token`], then optionally `.tls()` and
/// `.delete_enabled()`.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    auth: Auth,
    tls: bool,
    delete: bool,
}

impl RegistryOptions {
    /// No authentication.
    pub fn anonymous() -> RegistryOptions {
        RegistryOptions {
            auth: Auth::Anonymous,
            tls: false,
            delete: false,
        }
    }

    /// htpasswd basic auth with these `(user, password)` pairs (stored as bcrypt), plus the
    /// harness's admin identity.
    pub fn basic(users: &[(&str, &str)]) -> RegistryOptions {
        RegistryOptions {
            auth: Auth::Basic(
                users
                    .iter()
                    .map(|(u, p)| (u.to_string(), p.to_string()))
                    .collect(),
            ),
            ..RegistryOptions::anonymous()
        }
    }

    /// Bearer token auth backed by a [`TokenServer`] started with these options (the harness's
    /// admin identity is added to its users).
    pub fn token(opts: TokenServerOptions) -> RegistryOptions {
        RegistryOptions {
            auth: Auth::Token(opts),
            ..RegistryOptions::anonymous()
        }
    }

    /// Serve HTTPS with a certificate for 127.0.0.1/localhost signed by a fresh [`TestCa`].
    pub fn tls(mut self) -> RegistryOptions {
        self.tls = true;
        self
    }

    /// `storage.delete.enabled: true`.
    pub fn delete_enabled(mut self) -> RegistryOptions {
        self.delete = true;
        self
    }
}

/// Path of the `docker-registry` binary: `$ACR_SYNC_DOCKER_REGISTRY` when set, else the first
/// `docker-registry` on `PATH`, else `/usr/bin/docker-registry`. Panics, saying how to install it,
/// when there is none.
pub fn docker_registry_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("ACR_SYNC_DOCKER_REGISTRY") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return p;
        }
        panic!(
            "ACR_SYNC_DOCKER_REGISTRY={} is not a file; unset it or install the registry: \
             apt-get install -y docker-registry",
            p.display()
        );
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("docker-registry"))
            .find(|p| p.is_file())
    });
    if let Some(p) = on_path {
        return p;
    }
    let fallback = PathBuf::from("/usr/bin/docker-registry");
    if fallback.is_file() {
        return fallback;
    }
    panic!(
        "the integration tests need the CNCF distribution registry (`docker-registry`, 2.8), which is \
         not installed: run `apt-get install -y docker-registry` (Debian/Ubuntu), or point \
         ACR_SYNC_DOCKER_REGISTRY at the binary"
    );
}

/// A running `docker-registry` on 127.0.0.1, with its own storage; killed and reaped on drop.
pub struct Registry {
    // Declared first: the process is killed before its storage is removed.
    proc: Proc,
    dir: tempfile::TempDir,
    port: u16,
    ca: Option<TestCa>,
    token: Option<TokenServer>,
    basic: bool,
    client: reqwest::Client,
}

impl Registry {
    /// Starts a registry and waits (bounded) until `GET /v2/` answers. Panics with the registry's log
    /// tail if it never comes up.
    pub async fn start(opts: RegistryOptions) -> Registry {
        let binary = docker_registry_binary();
        let dir = tempfile::Builder::new()
            .prefix("acr-sync-testkit-registry-")
            .tempdir()
            .expect("temporary directory for a registry");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).expect("registry storage directory");

        let ca = opts.tls.then(TestCa::new);
        let mut tls_lines = String::new();
        if let Some(ca) = &ca {
            let (cert, key) = ca.loopback_cert();
            let cert_path = dir.path().join("server.crt");
            let key_path = dir.path().join("server.key");
            std::fs::write(&cert_path, cert).expect("write server certificate");
            std::fs::write(&key_path, key).expect("write server key");
            std::fs::write(dir.path().join("ca.crt"), ca.cert_pem()).expect("write CA certificate");
            let _ = write!(
                tls_lines,
                "  tls:\n    certificate: {}\n    key: {}\n",
                yaml_str(&cert_path),
                yaml_str(&key_path)
            );
        }

        let mut token = None;
        let auth_lines = match &opts.auth {
            Auth::Anonymous => String::new(),
            Auth::Basic(users) => {
                let mut htpasswd = String::new();
                for (u, p) in users
                    .iter()
                    .map(|(u, p)| (u.as_str(), p.as_str()))
                    .chain([(ADMIN_USER, ADMIN_PASSWORD)])
                {
                    let hash = bcrypt::hash(p, 4).expect("bcrypt hash");
                    let _ = writeln!(htpasswd, "{u}:{hash}");
                }
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, htpasswd).expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: acr-sync-testkit\n    path: {}\n",
                    yaml_str(&path)
                )
            }
            Auth::Token(topts) => {
                let topts = topts
                    .clone()
                    .user(TokenUser::admin(ADMIN_USER, ADMIN_PASSWORD));
                let server = TokenServer::start(topts);
                let bundle = dir.path().join("token-root.crt");
                std::fs::write(&bundle, server.root_cert_pem()).expect("write token root cert");
                let lines = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    server.realm(),
                    server.service(),
                    server.issuer(),
                    yaml_str(&bundle)
                );
                token = Some(server);
                lines
            }
        };

        let mut builder = reqwest::Client::builder().no_proxy();
        if let Some(ca) = &ca {
            let cert = reqwest::Certificate::from_pem(ca.cert_pem().as_bytes())
                .expect("parse the generated CA");
            builder = builder.tls_certs_only([cert]);
        }
        let client = builder.build().expect("reqwest client");
        let scheme = if ca.is_some() { "https" } else { "http" };

        let mut last_failure = String::new();
        for attempt in 0..4 {
            let port = free_port();
            let config = format!(
                "version: 0.1\n\
                 log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: {delete}\n\
                 \x20 maintenance:\n    uploadpurging:\n      enabled: false\n\
                 http:\n  addr: 127.0.0.1:{port}\n  secret: acr-sync-testkit-secret\n{tls_lines}\
                 {auth_lines}",
                storage = yaml_str(&storage),
                delete = opts.delete,
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).expect("write registry config");
            let log_path = dir.path().join(format!("registry-{attempt}.log"));
            let log = std::fs::File::create(&log_path).expect("registry log file");
            let mut child = Command::new("/bin/sh")
                .arg("-c")
                .arg(WATCHDOG)
                .arg(&binary)
                .arg(&config_path)
                .stdin(Stdio::piped())
                .stdout(log.try_clone().expect("clone log handle"))
                .stderr(log)
                .env_remove("REGISTRY_HTTP_ADDR")
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {} under /bin/sh: {e}", binary.display()));
            let lifeline = child.stdin.take();
            let mut proc = Proc {
                child,
                lifeline,
                log_path,
                host: format!("127.0.0.1:{port}"),
            };
            match wait_ready(
                &mut proc,
                &client,
                &format!("{scheme}://127.0.0.1:{port}/v2/"),
            )
            .await
            {
                Ok(()) => {
                    return Registry {
                        proc,
                        dir,
                        port,
                        ca,
                        token,
                        basic: matches!(opts.auth, Auth::Basic(_)),
                        client,
                    };
                }
                Err(why) => {
                    let tail = proc.log_tail(40);
                    last_failure = format!("{why}\n--- registry log (tail) ---\n{tail}");
                    proc.stop();
                    if !tail.contains("address already in use") {
                        break;
                    }
                }
            }
        }
        panic!("docker-registry did not come up: {last_failure}");
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`, or `https://` with TLS.
    pub fn base_url(&self) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The CA PEM a client must trust (TLS registries only).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca.as_ref().map(|c| c.cert_pem())
    }

    /// Path of a file holding [`Registry::ca_pem`] (TLS registries only).
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.ca.as_ref().map(|_| self.dir.path().join("ca.crt"))
    }

    /// The token server (token-auth registries only).
    pub fn token_server(&self) -> Option<&TokenServer> {
        self.token.as_ref()
    }

    /// The admin identity the harness added (basic and token registries): `(user, password)`.
    pub fn admin_credentials(&self) -> Option<(&'static str, &'static str)> {
        (self.basic || self.token.is_some()).then_some((ADMIN_USER, ADMIN_PASSWORD))
    }

    /// The registry's storage root (`storage.filesystem.rootdirectory`).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Removes a tag, leaving its manifest (and other tags) in place. docker-registry 2.8 has no API
    /// for this (`DELETE /v2/<repo>/manifests/<tag>` answers 400), so it is done in storage: the
    /// filesystem driver sees it at once. Panics if the tag does not exist.
    pub fn untag(&self, repo: &str, tag: &str) {
        let dir = self
            .storage_dir()
            .join("docker/registry/v2/repositories")
            .join(repo)
            .join("_manifests/tags")
            .join(tag);
        std::fs::remove_dir_all(&dir)
            .unwrap_or_else(|e| panic!("untag {repo}:{tag}: cannot remove {}: {e}", dir.display()));
    }

    /// A reqwest client that trusts this registry's CA (no proxy from the environment).
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    /// A [`Pusher`] authenticated as the harness's admin identity.
    pub fn pusher(&self) -> Pusher {
        let auth = if let Some(ts) = &self.token {
            PushAuth::Token(ts.clone())
        } else if self.basic {
            PushAuth::Basic {
                user: ADMIN_USER.into(),
                password: ADMIN_PASSWORD.into(),
            }
        } else {
            PushAuth::Anonymous
        };
        Pusher::new(&self.base_url(), self.client.clone(), auth)
    }

    /// The whole log (stdout and stderr: application log and access log).
    pub fn log_text(&self) -> String {
        self.proc.log_text()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        self.proc.log_tail(n)
    }

    /// Path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.proc.log_path
    }

    /// Every request in the access log so far, in order.
    ///
    /// The registry writes a line just after it answers, so a request whose response was just read
    /// may not be there yet: use [`Registry::requests_settled`] after a run.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        parse_access_log(&self.log_text())
    }

    /// A mark for [`Registry::requests_since`]: the number of requests logged so far (settled).
    pub async fn log_mark(&self) -> usize {
        self.requests_settled().await.len()
    }

    /// The requests logged after `mark` (settled).
    pub async fn requests_since(&self, mark: usize) -> Vec<LoggedRequest> {
        let all = self.requests_settled().await;
        all.into_iter().skip(mark).collect()
    }

    /// [`Registry::requests`] once the log has stopped growing for 100 ms (bounded to 3 s).
    pub async fn requests_settled(&self) -> Vec<LoggedRequest> {
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut last = self.log_text().len();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.log_text().len();
            if now == last || Instant::now() > deadline {
                return self.requests();
            }
            last = now;
        }
    }

    /// Counts logged requests with this method whose path contains `needle`.
    pub fn count(&self, method: &str, needle: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.matches(method, needle))
            .count()
    }
}

/// Runs the registry (`$0 serve $1`) under a small shell that kills it (SIGKILL) as soon as its
/// standard input closes: when [`Proc`] is dropped, and also when the test process dies in any way
/// (a time-out's SIGKILL, or a `Registry` kept in a `static` that is never dropped), so no registry
/// outlives its tests. The shell exits with the registry's status, so an early exit is seen.
const WATCHDOG: &str = r#"exec 3<&0
"$0" serve "$1" </dev/null 3<&- &
pid=$!
( read -r _ <&3; kill -9 "$pid" 2>/dev/null ) &
exec 3<&-
wait "$pid"
"#;

/// The child process (the watchdog shell) and its log; the registry is killed and everything reaped
/// on drop.
struct Proc {
    child: Child,
    /// The watchdog's standard input: closing it kills the registry.
    lifeline: Option<std::process::ChildStdin>,
    log_path: PathBuf,
    host: String,
}

impl Proc {
    fn log_text(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Kills the registry and reaps the shell (bounded: 5 s, then SIGKILL to the shell).
    fn stop(&mut self) {
        drop(self.lifeline.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "--- docker-registry on {} (log tail) ---\n{}",
                self.host,
                self.log_tail(30)
            );
        }
    }
}

/// Polls `url` until any HTTP answer (bounded by [`READY_TIMEOUT`]); fails early if the process
/// exits.
async fn wait_ready(proc: &mut Proc, client: &reqwest::Client, url: &str) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last = String::from("no attempt");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = proc.child.try_wait() {
            return Err(format!("docker-registry exited early with {status}"));
        }
        match tokio::time::timeout(Duration::from_secs(2), client.get(url).send()).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => last = format!("{e:?}"),
            Err(_) => last = "request timed out".into(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "GET {url} did not answer within {READY_TIMEOUT:?} (last error: {last})"
    ))
}

/// A path as a double-quoted YAML scalar.
fn yaml_str(p: &Path) -> String {
    let s = p.display().to_string();
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
