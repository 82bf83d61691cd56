//! One-shot metric outputs landing where they are read: a real Pushgateway process and a
//! real node_exporter's textfile collector, against real docker-registry processes.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use acr_sync_testkit::{Fault, FaultKind, FaultProxy, Registry, RegistryOptions};

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

fn sli_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_acr-sync-sli"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("acr-sync-sli runs")
}

const JSON_FILES: [&str; 2] = ["cc_images_to_update.json", "images_to_update.json"];

/// The check was done and reported, then the push failed: exit 2 (the run did something),
/// not 1; and neither the URL's user nor the environment's credentials are shown.
#[tokio::test]
async fn a_failed_push_is_reported_and_exits_2_without_credentials() {
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    push_codecollections(&upstream).await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &upstream.host(), &target, "cc-a");
    let port = acr_sync_testkit::free_port();
    let closed = format!("http://127.0.0.1:{port}");
    let env = [
        ("PUSHGATEWAY_USERNAME", "pg-robot-user"),
        ("PUSHGATEWAY_PASSWORD", "pg-s3cr3t-pw"),
    ];
    for url in [
        closed.clone(),
        format!("http://url-only-user@127.0.0.1:{port}"),
    ] {
        let started = std::time::Instant::now();
        let out = sli_env(dir.path(), &["--pushgateway", &url], &env);
        assert!(started.elapsed() < Duration::from_secs(60));
        let err = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("cannot push the metrics to") && err.contains(&closed),
            "{err}"
        );
        assert!(err.contains("refused"), "the cause is given: {err}");
        for secret in ["pg-robot-user", "pg-s3cr3t-pw", "url-only-user"] {
            assert!(
                !err.contains(secret) && !stdout.contains(secret),
                "{secret} shown: {err}\n{stdout}"
            );
        }
        assert_eq!(
            stdout.lines().last(),
            Some("1"),
            "the check itself was reported"
        );
        for file in JSON_FILES {
            assert!(dir.path().join(file).exists(), "{file} written");
        }
    }
}

/// A password in `--pushgateway` would be in the process arguments: refused (exit 1) before
/// anything runs, without repeating it; the environment is the way, and --help says so.
#[test]
fn a_password_in_the_pushgateway_url_is_refused_and_not_repeated() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "http://robot:pg-s3cr3t-pw@127.0.0.1:9091",
        "http://robot:pg-s3cr3t-pw@127.0.0.1:bad-port",
    ] {
        let out = sli_env(dir.path(), &["--pushgateway", url], &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("--pushgateway"), "{err}");
        assert!(!err.contains("pg-s3cr3t-pw"), "{err}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("pg-s3cr3t-pw"),
            "stdout"
        );
    }
    let out = sli_env(
        dir.path(),
        &["--pushgateway", "http://robot:pg-s3cr3t-pw@127.0.0.1:9091"],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PUSHGATEWAY_USERNAME") && err.contains("PUSHGATEWAY_PASSWORD"),
        "the message says what to use instead: {err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
    let out = sli_env(
        dir.path(),
        &["--pushgateway", "http://127.0.0.1:9091"],
        &[("PUSHGATEWAY_PASSWORD", "pg-s3cr3t-pw")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a password without a user: {err}"
    );
    assert!(
        err.contains("PUSHGATEWAY_USERNAME") && !err.contains("pg-s3cr3t-pw"),
        "{err}"
    );
    let help = sli_env(dir.path(), &["--help"], &[]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("PUSHGATEWAY_USERNAME") && help.contains("PUSHGATEWAY_PASSWORD"),
        "{help}"
    );
}

/// A Pushgateway stand-in that answers one PUT with 200 and hands back its request head.
async fn one_put_server() -> (String, tokio::task::JoinHandle<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        let mut buf = [0u8; 8192];
        let head_end = loop {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the request ended early");
            received.extend_from_slice(&buf[..n]);
            if let Some(i) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .unwrap_or(0);
        while received.len() < head_end + length {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the body ended early");
            received.extend_from_slice(&buf[..n]);
        }
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        socket.shutdown().await.unwrap();
        head
    });
    (url, served)
}

#[tokio::test]
async fn the_push_sends_the_environments_credentials_as_basic_auth() {
    use base64::Engine;
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    push_codecollections(&upstream).await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &upstream.host(), &target, "cc-a");
    let (url, served) = one_put_server().await;
    // Run off the runtime's thread, which the stand-in needs.
    let cwd = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        sli_env(
            &cwd,
            &["--pushgateway", &url],
            &[
                ("PUSHGATEWAY_USERNAME", "pg-robot-user"),
                ("PUSHGATEWAY_PASSWORD", "pg-s3cr3t-pw"),
            ],
        )
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let head = tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .unwrap()
        .unwrap();
    assert!(head.starts_with("PUT /metrics/job/acr_sync_sli "), "{head}");
    let expected = base64::engine::general_purpose::STANDARD.encode("pg-robot-user:pg-s3cr3t-pw");
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case(&format!("authorization: Basic {expected}"))),
        "{head}"
    );
}

/// Outputs that cannot work are found before the check runs: exit 1, no registry asked,
/// nothing written.
#[tokio::test]
async fn unusable_outputs_are_refused_before_the_check_runs() {
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    push_codecollections(&upstream).await;
    let proxy = FaultProxy::start(&upstream.base_url()).await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &proxy.host(), &target, "cc-a");

    let out = sli_env(dir.path(), &["--textfile", "missing/acr_sync.prom"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--textfile") && err.contains("missing"),
        "{err}"
    );

    let out = sli_env(dir.path(), &["--textfile", "."], &[]);
    assert_eq!(out.status.code(), Some(1));

    let out = sli_env(dir.path(), &[], &[("OUTPUT_DIR", "no-such-dir")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("OUTPUT_DIR") && err.contains("no-such-dir"),
        "{err}"
    );

    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = sli_env(dir.path(), &[], &[("OUTPUT_DIR", "a-file")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("OUTPUT_DIR"), "{err}");

    assert!(proxy.seen().is_empty(), "no registry was asked anything");
    for file in JSON_FILES {
        assert!(!dir.path().join(file).exists(), "{file} written");
    }
}

/// The textfile's directory goes away while the check runs: the check is still reported,
/// the write error is printed, and the exit code is 2.
#[tokio::test]
async fn a_textfile_failing_after_the_check_exits_2() {
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    push_codecollections(&upstream).await;
    let proxy = FaultProxy::start(&upstream.base_url()).await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    let textfiles = dir.path().join("textfiles");
    std::fs::create_dir(&textfiles).unwrap();
    config(dir.path(), &proxy.host(), &target, "cc-a");
    // Every upstream request is slow, so that the check is still running once the first
    // one has been answered.
    proxy.add(Fault::new(FaultKind::Delay(Duration::from_secs(1))));

    let child = Command::new(env!("CARGO_BIN_EXE_acr-sync-sli"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .args(["--textfile", "textfiles/acr_sync.prom"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while proxy.seen().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the check never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::remove_dir(&textfiles).unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--textfile"), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().last(),
        Some("1"),
        "the check itself was reported"
    );
    for file in JSON_FILES {
        assert!(dir.path().join(file).exists(), "{file} written");
    }
}
