//! A first run that cannot work says so at once, and one that waits says what for: a name
//! that does not resolve and a certificate that fails verification are not retried; a
//! refused connection is, with a warning naming the registry, the cause and the deadline.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use acr_sync_testkit::{ImageBuilder, Registry, RegistryOptions, free_port};

fn taskset(dir: &Path, args: &[&str]) -> Output {
    common::command(dir)
        .args(args)
        .output()
        .expect("acr-sync-taskset runs")
}

fn all_text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One image from `upstream` into an anonymous loopback target, with the default retry
/// budget (two minutes) unless `network` says otherwise.
fn write_config(dir: &Path, upstream: &str, target: &str, extra: &str) {
    let yaml = format!(
        "target: {{registry: \"{target}\", repository_path: mirror}}\n\
         images:\n  - ref: \"{upstream}/team/app:1.0\"\n{extra}"
    );
    std::fs::write(dir.join("workspace.yaml"), yaml).unwrap();
}

#[tokio::test]
async fn an_unresolvable_upstream_fails_in_seconds_naming_the_host() {
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    // `.invalid` never resolves (RFC 6761).
    write_config(dir.path(), "upstream.acr-sync.invalid", &target.host(), "");
    let started = Instant::now();
    let out = taskset(dir.path(), &[]);
    let took = started.elapsed();
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(took < Duration::from_secs(5), "took {took:?}: {text}");
    assert!(text.contains("upstream.acr-sync.invalid"), "{text}");
    assert!(text.contains("does not resolve"), "{text}");
    assert!(!text.contains("retrying"), "{text}");
}

#[tokio::test]
async fn a_certificate_that_fails_verification_is_not_retried() {
    let upstream = Registry::start(RegistryOptions::anonymous().tls()).await;
    upstream
        .pusher()
        .push_image("team/app", "1.0", &ImageBuilder::new(5).build())
        .await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    // HTTPS to the loopback upstream, without its CA.
    let extra = format!("registries:\n  \"{}\": {{tls: enabled}}\n", upstream.host());
    write_config(dir.path(), &upstream.host(), &target.host(), &extra);
    let started = Instant::now();
    let out = taskset(dir.path(), &[]);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5), "{text}");
    assert!(text.contains("certificate failed verification"), "{text}");
    assert!(
        text.contains("ca_file"),
        "the message says what to do: {text}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_and_says_so_until_when() {
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there.
    let upstream = format!("127.0.0.1:{}", free_port());
    write_config(
        dir.path(),
        &upstream,
        &target.host(),
        "network: {retry_for: 2s}\n",
    );
    let out = taskset(dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{}", all_text(&out));
    let warning = stderr
        .lines()
        .find(|l| {
            l.contains(&format!(
                "registry {upstream}: connection refused, retrying until "
            ))
        })
        .unwrap_or_else(|| panic!("a warning at the default verbosity: {stderr}"));
    assert!(warning.contains("(attempt 2"), "{warning}");
    // `HH:MM:SS` after "until".
    let until = warning.split("retrying until ").nth(1).unwrap();
    let clock: Vec<&str> = until[..8].split(':').collect();
    assert!(
        clock.len() == 3
            && clock
                .iter()
                .all(|p| p.len() == 2 && p.parse::<u8>().is_ok()),
        "{warning}"
    );
}
