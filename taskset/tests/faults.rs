//! The fault matrix: acr-sync-taskset against real docker-registry processes with a fault
//! proxy in front of the upstream or the target. For each fault: the exit code, the
//! message of the image, and what the target tag holds afterwards. Faults that heal
//! within the retry budget end 0 with the new content; faults that do not end 2, name
//! the image and the cause, and leave the target tag exactly as it was.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use acr_sync_testkit::{Fault, FaultKind, FaultProxy, ImageBuilder, Registry, RegistryOptions};

const REPO: &str = "vendor/app";
const TARGET_REPO: &str = "mirror/app";

fn taskset(dir: &Path) -> Output {
    Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_acr-sync-taskset"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .output()
        .expect("acr-sync-taskset runs")
}

/// Where a case runs: upstream `vendor/app:1` (new content), the target holding
/// `mirror/app:1` at an older digest, and a fault proxy before one of them.
struct Case {
    /// Kept alive for the case's length.
    _upstream: Registry,
    target: Registry,
    proxy: FaultProxy,
    old_digest: String,
    new_digest: String,
    /// The upstream host as the config names it.
    source_host: String,
    dir: tempfile::TempDir,
}

enum ProxyBefore {
    Upstream,
    Target,
}

async fn case(before: ProxyBefore, network: &str) -> Case {
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let new = ImageBuilder::new(901).random_layer(256 * 1024).build();
    let old = ImageBuilder::new(902).build();
    upstream.pusher().push_image(REPO, "1", &new).await;
    target.pusher().push_image(TARGET_REPO, "1", &old).await;
    let proxy = match before {
        ProxyBefore::Upstream => FaultProxy::start(&upstream.base_url()).await,
        ProxyBefore::Target => FaultProxy::start(&target.base_url()).await,
    };
    let (up_host, target_host) = match before {
        ProxyBefore::Upstream => (proxy.host(), target.host()),
        ProxyBefore::Target => (upstream.host(), proxy.host()),
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("workspace.yaml"),
        format!(
            "target: {{registry: \"{target_host}\", repository_path: mirror}}\n\
             images:\n  - ref: \"{up_host}/{REPO}:1\"\n\
             network: {network}\n"
        ),
    )
    .unwrap();
    Case {
        _upstream: upstream,
        target,
        proxy,
        old_digest: old.digest.clone(),
        new_digest: new.digest.clone(),
        source_host: up_host,
        dir,
    }
}

impl Case {
    async fn target_tag(&self) -> String {
        self.target
            .pusher()
            .get_manifest(TARGET_REPO, "1")
            .await
            .expect("the target tag exists")
            .digest
    }

    /// Runs the taskset; asserts its exit code and returns stdout and stderr together.
    fn run(&self, code: i32) -> String {
        let out = taskset(self.dir.path());
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "{text}");
        text
    }

    /// A fault that does not heal: exit 2, the image named after `action` (`failed`, or
    /// `not checked` when the upstream could not even be read), `cause` named, and the
    /// tag as it was.
    async fn fails(&self, action: &str, cause: &str) {
        let text = self.run(2);
        assert!(
            text.contains(&format!("{action} {}/{REPO}:1", self.source_host)),
            "the image is named: {text}"
        );
        assert!(text.contains(cause), "the cause ({cause}) is named: {text}");
        assert_eq!(self.target_tag().await, self.old_digest, "tag unchanged");
    }

    /// A fault that heals within the retry budget: exit 0 and the new digest.
    async fn heals(&self) {
        let text = self.run(0);
        assert!(text.contains("1 imported"), "{text}");
        assert_eq!(self.target_tag().await, self.new_digest);
    }
}

const QUICK: &str = "{retry_for: 10s, request_timeout: 2s}";

#[tokio::test]
async fn rate_limits_with_retry_after_heal() {
    let c = case(ProxyBefore::Upstream, QUICK).await;
    c.proxy
        .add(Fault::too_many_requests(1, 2).path("/manifests/"));
    c.heals().await;
    assert!(c.proxy.count("GET", "/manifests/") >= 1);
}

#[tokio::test]
async fn a_burst_of_503s_on_blobs_heals() {
    let c = case(ProxyBefore::Upstream, QUICK).await;
    c.proxy.add(Fault::status(503, 3).path("/blobs/"));
    c.heals().await;
}

#[tokio::test]
async fn a_connection_reset_on_a_blob_heals() {
    let c = case(ProxyBefore::Upstream, QUICK).await;
    c.proxy.add(Fault::drop_connection(2).path("/blobs/"));
    c.heals().await;
}

#[tokio::test]
async fn a_corrupted_blob_fails_and_leaves_the_tag() {
    let c = case(ProxyBefore::Upstream, QUICK).await;
    c.proxy.add(Fault::corrupt_blob(1000).path("/blobs/"));
    c.fails("failed     ", "content digest mismatch").await;
}

#[tokio::test]
async fn a_body_slower_than_the_request_timeout_fails_and_leaves_the_tag() {
    let c = case(
        ProxyBefore::Upstream,
        "{retry_for: 2s, request_timeout: 1s}",
    )
    .await;
    c.proxy.add(
        Fault::new(FaultKind::Delay(Duration::from_secs(3)))
            .method("GET")
            .path("/blobs/"),
    );
    c.fails("failed     ", "blob").await;
}

#[tokio::test]
async fn a_500_on_the_manifest_put_fails_and_leaves_the_tag() {
    let c = case(ProxyBefore::Target, "{retry_for: 2s, request_timeout: 5s}").await;
    c.proxy
        .add(Fault::status(500, 1000).method("PUT").path("/manifests/"));
    c.fails("failed     ", "HTTP 500").await;
}

#[tokio::test]
async fn upstream_down_for_good_fails_and_leaves_the_tag() {
    let c = case(
        ProxyBefore::Upstream,
        "{retry_for: 2s, request_timeout: 2s}",
    )
    .await;
    c.proxy.add(Fault::status(503, 100_000));
    c.fails("not checked", "HTTP 503").await;
}
