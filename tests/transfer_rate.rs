//! A blob that trickles in is abandoned: `request_timeout` bounds each pause, so a link
//! that sends a little before every time-out would otherwise never end a run. The
//! minimum transfer rate (`network.min_transfer_rate` over `min_transfer_window`) ends it
//! within one window, naming the blob, the registry and the rate.

use std::time::{Duration, Instant};

use acr_sync::registry::{
    Client, ClientConfig, Digest, ErrorKind, MinTransferRate, RegistrySettings, RetryPolicy,
};
use acr_sync_testkit::{Fault, FaultProxy, ImageBuilder, Registry, RegistryOptions};
use futures::StreamExt;

fn client(host: &str, min: MinTransferRate) -> Client {
    Client::new(ClientConfig {
        registries: [(host.to_string(), RegistrySettings::default())].into(),
        retry: RetryPolicy::none(),
        request_timeout: Duration::from_secs(5),
        min_transfer_rate: Some(min),
        ..ClientConfig::default()
    })
    .unwrap()
}

/// Reads a whole blob; the error, if any, and how long it took.
async fn download(
    c: &Client,
    host: &str,
    digest: &Digest,
) -> (Result<u64, acr_sync::registry::Error>, Duration) {
    let started = Instant::now();
    let mut stream = match c.get_blob(host, "team/app", digest).await {
        Ok(s) => s,
        Err(e) => return (Err(e), started.elapsed()),
    };
    let mut total = 0;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => total += c.len() as u64,
            Err(e) => return (Err(e), started.elapsed()),
        }
    }
    (Ok(total), started.elapsed())
}

#[tokio::test]
async fn a_trickling_blob_is_abandoned_within_one_window() {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let image = ImageBuilder::new(41).random_layer(512 * 1024).build();
    reg.pusher().push_image("team/app", "1.0", &image).await;
    let proxy = FaultProxy::start(&reg.base_url()).await;
    // 1 KiB every 100 ms: 10 KiB/s, each pause far below the 5 s request timeout.
    proxy.add(Fault::trickle_blobs(1024, Duration::from_millis(100)));
    let layer: Digest = image.layers[0].digest.parse().unwrap();

    let min = MinTransferRate {
        bytes_per_second: 64 * 1024,
        window: Duration::from_secs(1),
    };
    let (result, took) = download(&client(&proxy.host(), min), &proxy.host(), &layer).await;
    let e = result.expect_err("too slow");
    assert!(matches!(e.kind(), ErrorKind::TooSlow { .. }), "{e:?}");
    assert!(e.is_transient(), "a restart may find a better link");
    assert!(
        took < Duration::from_millis(2500),
        "abandoned after {took:?}"
    );
    let text = e.to_string();
    for needle in [
        layer.to_string(),
        format!("registry {}", proxy.host()),
        "65536 bytes/s".to_string(),
        "network.min_transfer_rate".to_string(),
    ] {
        assert!(text.contains(&needle), "{needle:?} in {text}");
    }
}

#[tokio::test]
async fn a_slow_but_steady_blob_above_the_minimum_arrives() {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let image = ImageBuilder::new(42).random_layer(64 * 1024).build();
    reg.pusher().push_image("team/app", "1.0", &image).await;
    let proxy = FaultProxy::start(&reg.base_url()).await;
    // 4 KiB every 100 ms, about 40 KiB/s: over a second and a half, across windows.
    proxy.add(Fault::trickle_blobs(4096, Duration::from_millis(100)));
    let layer: Digest = image.layers[0].digest.parse().unwrap();
    let min = MinTransferRate {
        bytes_per_second: 8 * 1024,
        window: Duration::from_millis(500),
    };
    let (result, took) = download(&client(&proxy.host(), min), &proxy.host(), &layer).await;
    assert_eq!(result.expect("arrives"), image.layers[0].size());
    assert!(took > Duration::from_millis(1000), "it was slow: {took:?}");
}
