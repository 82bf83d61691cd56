//! A run whose upstream trickles a blob ends, with the image failed and its tag not
//! written, instead of hanging for as long as the trickle lasts.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use acr_sync_testkit::{Fault, FaultProxy, ImageBuilder, Registry, RegistryOptions};

fn taskset(dir: &Path) -> Output {
    common::command(dir)
        .output()
        .expect("acr-sync-taskset runs")
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
    std::fs::write(
        dir.path().join("workspace.yaml"),
        format!(
            "target: {{registry: \"{}\", repository_path: mirror}}\n\
             images:\n  - ref: \"{}/team/app:1.0\"\n\
             network: {{request_timeout: 5s, retry_for: 1s, min_transfer_rate: 16KiB/s, min_transfer_window: 1s}}\n",
            target.host(),
            proxy.host()
        ),
    )
    .unwrap();
    let started = Instant::now();
    let out = taskset(dir.path());
    let took = started.elapsed();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
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
