//! One-shot metric outputs landing where they are read: a real Pushgateway process and a
//! real node_exporter's textfile collector, against real docker-registry processes.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use acr_sync_testkit::{Registry, RegistryOptions};

use common::{Daemon, config, get, promtool_check_metrics, push_codecollections, sample};

fn sli(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_acr-sync-sli"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .args(args)
        .output()
        .expect("acr-sync-sli runs")
}

/// The value of `name` in the Pushgateway's exposition for job `job`.
fn pushed(text: &str, name: &str, job: &str) -> Option<f64> {
    sample(text, &format!("{name}{{instance=\"\",job=\"{job}\"}}"))
}

#[tokio::test]
async fn the_push_replaces_the_group_and_node_exporter_reads_the_textfile() {
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    let (a, _) = push_codecollections(&upstream).await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    let textfiles = dir.path().join("textfiles");
    std::fs::create_dir(&textfiles).unwrap();
    let pushgateway = Daemon::prometheus_tool("prometheus-pushgateway", &[], dir.path()).await;
    let collector = format!("--collector.textfile.directory={}", textfiles.display());
    let node_exporter = Daemon::prometheus_tool(
        "prometheus-node-exporter",
        &[
            "--collector.disable-defaults",
            "--collector.textfile",
            &collector,
        ],
        dir.path(),
    )
    .await;
    let outputs = [
        "--textfile",
        "textfiles/acr_sync.prom",
        "--pushgateway",
        &pushgateway.base_url,
        "--push-job",
        "acr_sync_sli",
    ];

    config(dir.path(), &upstream.host(), &target, "cc-a, cc-b");
    let out = sli(dir.path(), &outputs);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().last(),
        Some("2")
    );

    // The textfile: lint-clean, complete, and no temporary file left beside it.
    let text = std::fs::read_to_string(textfiles.join("acr_sync.prom")).unwrap();
    promtool_check_metrics(&text);
    assert_eq!(
        sample(&text, "acr_sync_images_outdated"),
        Some(2.0),
        "{text}"
    );
    let names: Vec<_> = std::fs::read_dir(&textfiles)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["acr_sync.prom"]);

    let (code, scraped) = get(&format!("{}/metrics", node_exporter.base_url))
        .await
        .unwrap();
    assert_eq!(code, 200);
    assert_eq!(
        sample(&scraped, "acr_sync_images_outdated"),
        Some(2.0),
        "{scraped}"
    );
    assert_eq!(
        sample(&scraped, "node_textfile_scrape_error"),
        Some(0.0),
        "{scraped}"
    );

    let (_, gateway) = get(&format!("{}/metrics", pushgateway.base_url))
        .await
        .unwrap();
    assert_eq!(
        pushed(&gateway, "acr_sync_images_outdated", "acr_sync_sli"),
        Some(2.0),
        "{gateway}"
    );
    assert!(gateway.contains("images/cc-b"), "{gateway}");

    // Next run: cc-a synced, cc-b no longer configured. PUT replaced the group, so cc-b's
    // series are gone from the Pushgateway rather than left stale.
    target
        .pusher()
        .push_index("runwhen/cc-a", "main-aaaaaaa", &a)
        .await;
    config(dir.path(), &upstream.host(), &target, "cc-a");
    let out = sli(dir.path(), &outputs);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, gateway) = get(&format!("{}/metrics", pushgateway.base_url))
        .await
        .unwrap();
    assert_eq!(
        pushed(&gateway, "acr_sync_images_outdated", "acr_sync_sli"),
        Some(0.0),
        "{gateway}"
    );
    assert!(
        !gateway.contains("images/cc-b"),
        "stale series stayed: {gateway}"
    );
    assert!(gateway.contains("images/cc-a"), "{gateway}");
    let (_, scraped) = get(&format!("{}/metrics", node_exporter.base_url))
        .await
        .unwrap();
    assert_eq!(
        sample(&scraped, "acr_sync_images_outdated"),
        Some(0.0),
        "{scraped}"
    );
}

#[tokio::test]
async fn a_failed_push_is_reported_and_exits_1() {
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    push_codecollections(&upstream).await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &upstream.host(), &target, "cc-a");
    let closed = format!("http://127.0.0.1:{}", acr_sync_testkit::free_port());
    let started = std::time::Instant::now();
    let out = sli(dir.path(), &["--pushgateway", &closed]);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot push the metrics to") && err.contains(&closed),
        "{err}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().last(),
        Some("1"),
        "the check itself was reported"
    );
}
