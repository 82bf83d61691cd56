//! A run whose upstream trickles a blob ends, with the image failed and its tag not
//! written, instead of hanging for as long as the trickle lasts.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use acr_sync_testkit::{Fault, FaultProxy, ImageBuilder, Registry, RegistryOptions};

/// Runs the taskset in `dir` with `config` as its workspace file: its exit code, stdout
/// and stderr together, and how long it took.
fn run(dir: &Path, config: &str) -> (Option<i32>, String, Duration) {
    std::fs::write(dir.join("workspace.yaml"), config).unwrap();
    let started = Instant::now();
    let out = common::command(dir)
        .output()
        .expect("acr-sync-taskset runs");
    let text = format!(
        "{}\n{}",
        common::text(&out.stdout),
        common::text(&out.stderr)
    );
    (out.status.code(), text, started.elapsed())
}

#[tokio::test]
async fn a_trickling_upstream_blob_fails_its_image_within_the_minimum_rate() {
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    let image = ImageBuilder::new(61).random_layer(256 * 1024).build();
    upstream
        .pusher()
        .push_image("team/app", "1.0", &image)
        .await;
    let proxy = FaultProxy::start(&upstream.base_url()).await;
    // 64 bytes every 200 ms: 320 bytes/s, each pause well inside the request timeout.
    proxy.add(Fault::trickle_blobs(64, Duration::from_millis(200)).path(&image.layers[0].digest));
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    let (code, text, took) = run(
        dir.path(),
        &format!(
            "target: {{registry: \"{}\", repository_path: mirror}}\n\
             images:\n  - ref: \"{}/team/app:1.0\"\n\
             network: {{request_timeout: 5s, retry_for: 1s, min_transfer_rate: 16KiB/s, min_transfer_window: 1s}}\n",
            target.host(),
            proxy.host()
        ),
    );
    assert_eq!(code, Some(2), "{text}");
    // The whole blob would take over 13 minutes at this pace; the copy may restart it
    // a few times, each abandoned after a one-second window.
    assert!(took < Duration::from_secs(20), "took {took:?}: {text}");
    assert!(text.contains("arrived too slowly"), "{text}");
    assert!(text.contains(&image.layers[0].digest), "{text}");
    assert!(text.contains("16384 bytes/s"), "{text}");
    assert!(
        target
            .pusher()
            .get_manifest("mirror/app", "1.0")
            .await
            .is_none(),
        "the tag was not written"
    );
}

#[tokio::test]
async fn the_run_deadline_ends_a_run_that_no_per_request_limit_would() {
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    let slow = ImageBuilder::new(62).random_layer(256 * 1024).build();
    let quick = ImageBuilder::new(63).random_layer(1024).build();
    let pusher = upstream.pusher();
    pusher.push_image("team/slow", "1.0", &slow).await;
    pusher.push_image("team/quick", "1.0", &quick).await;
    let proxy = FaultProxy::start(&upstream.base_url()).await;
    // 64 bytes every 200 ms: each read well inside the request timeout, and no minimum
    // rate configured, so only the run's deadline can end it.
    proxy.add(Fault::trickle_blobs(64, Duration::from_millis(200)).path(&slow.layers[0].digest));
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    let (code, text, took) = run(
        dir.path(),
        &format!(
            "target: {{registry: \"{}\", repository_path: mirror}}\n\
             images:\n  - ref: \"{host}/team/slow:1.0\"\n  - ref: \"{host}/team/quick:1.0\"\n\
             sync: {{deadline: 4s}}\n\
             network: {{request_timeout: 5s, min_transfer_rate: \"0\"}}\n",
            target.host(),
            host = proxy.host()
        ),
    );
    assert_eq!(code, Some(2), "{text}");
    // The trickle alone would last over 13 minutes.
    assert!(took < Duration::from_secs(30), "took {took:?}: {text}");
    assert!(text.contains("deadline"), "{text}");
    assert!(
        text.contains("1 imported"),
        "the quick image is done: {text}"
    );
    let target = target.pusher();
    assert!(target.get_manifest("mirror/slow", "1.0").await.is_none());
    assert_eq!(
        target
            .get_manifest("mirror/quick", "1.0")
            .await
            .unwrap()
            .digest,
        quick.digest
    );

    // --deadline overrides the setting; too short for even the check, it says so.
    let out = common::command(dir.path())
        .args(["--deadline", "1ms"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("passed while checking"), "{stderr}");
}
