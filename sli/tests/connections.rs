//! The exporter listens on 0.0.0.0 by default: sockets that are opened and left idle, or
//! that send half a request, must not take /metrics down, even when there are more of
//! them than the process may open descriptors.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use acr_sync_testkit::{Registry, RegistryOptions};

use common::{config, get, push_codecollections};

const IDLE: usize = 150;
const NOFILE: u32 = 128;

#[tokio::test]
async fn metrics_answer_with_more_idle_sockets_open_than_descriptors() {
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    push_codecollections(&upstream).await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &upstream.host(), &target, "cc-a");
    let sli = common::serve_with_nofile(dir.path(), NOFILE, &["--interval", "1h"]).await;
    let addr = sli.base_url.trim_start_matches("http://").to_string();

    // Idle sockets, and some that send half a request head and stop.
    let mut sockets = Vec::new();
    for i in 0..IDLE {
        let mut s = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))
            .expect("connect");
        if i % 10 == 0 {
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n");
        }
        sockets.push(s);
    }

    // /metrics answers again within a few header timeouts (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    let answered = loop {
        if let Some((200, body)) = get(&format!("{}/metrics", sli.base_url)).await {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "/metrics never answered with {IDLE} idle sockets:\n{}",
            sli.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(answered.contains("acr_sync_build_info"), "{answered}");

    // The idle sockets the server accepted were closed by it, not left open forever.
    let mut closed = 0;
    for s in sockets.iter_mut().take(20) {
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut buf = [0u8; 64];
        if matches!(s.read(&mut buf), Ok(0) | Err(_)) {
            closed += 1;
        }
    }
    assert_eq!(closed, 20, "idle sockets are closed by the server");
}
