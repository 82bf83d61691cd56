//! `acr-sync-sli serve` as Prometheus sees it: a real process checking real
//! docker-registry processes (the upstream behind the fault proxy), scraped over HTTP, its
//! exposition linted by `promtool check metrics`.

mod common;

use std::time::Duration;

use acr_sync_testkit::{Fault, FaultKind, FaultProxy, Registry, RegistryOptions};

use common::{Daemon, config, get, promtool_check_metrics, push_codecollections, sample, sum};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn serve_follows_the_target_survives_a_down_upstream_and_stops_on_sigterm() {
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    let (a, b) = push_codecollections(&upstream).await;
    let proxy = FaultProxy::start(&upstream.base_url()).await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &proxy.host(), &target, "cc-a, cc-b");
    // The first check is slow, so that /readyz can be seen saying "not yet".
    proxy.add(Fault::new(FaultKind::Delay(Duration::from_secs(3))).times(1));

    let mut sli = common::serve(
        dir.path(),
        &["--interval", "1s", "--check-timeout", "20s"],
        &[],
    )
    .await;
    assert_eq!(
        get(&format!("{}/readyz", sli.base_url)).await.unwrap().0,
        503,
        "no check has finished yet"
    );
    assert_eq!(
        get(&format!("{}/healthz", sli.base_url)).await.unwrap().0,
        200
    );
    sli.wait_until("/readyz says 200", WAIT, || {
        let url = format!("{}/readyz", sli.base_url);
        async move { get(&url).await.is_some_and(|(code, _)| code == 200) }
    })
    .await;

    // Scraped: the exposition is the 0.0.4 text format, lint-clean, with both images outdated.
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{}/metrics", sli.base_url))
        .send()
        .await
        .unwrap();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    promtool_check_metrics(&text);
    assert_eq!(
        sample(&text, "acr_sync_images_outdated"),
        Some(2.0),
        "{text}"
    );
    let series = |name: &str| {
        format!(
            "acr_sync_image_{name}{{category=\"codecollection\",source=\"{}/images/cc-a\",target=\"{}/runwhen/cc-a\"}}",
            proxy.host(),
            target.host()
        )
    };
    assert_eq!(sample(&text, &series("outdated")), Some(1.0), "{text}");
    assert!(
        !text.contains("main-aaaaaaa"),
        "no tag in any label: {text}"
    );
    let upstream_gets = format!(
        "acr_sync_registry_requests_total{{code=\"200\",method=\"GET\",registry=\"{}\"}}",
        proxy.host()
    );
    assert!(
        sample(&text, &upstream_gets).unwrap_or(0.0) > 0.0,
        "requests counted: {text}"
    );
    assert!(sample(&text, r#"acr_sync_checks_total{result="success"}"#).unwrap() >= 1.0);
    assert!(
        sample(&text, "acr_sync_check_duration_seconds").unwrap() > 0.0,
        "{text}"
    );
    assert!(sample(&text, "acr_sync_check_last_success_timestamp_seconds").unwrap() > 1.7e9);
    assert_eq!(
        sample(
            &text,
            &format!(
                "acr_sync_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        Some(1.0)
    );

    // A taskset run (the library calls acr-sync-taskset makes) fills the target; the next
    // checks see it.
    let settings = acr_sync::config::Settings::load(
        Some(&dir.path().join("workspace.yaml")),
        &acr_sync::config::Env::default(),
    )
    .unwrap();
    let client = acr_sync::registry::Client::new(settings.client_config()).unwrap();
    let store = acr_sync::store::Store::open(&settings.target.registry, &client);
    let plan = acr_sync::check::check(&settings, &client, &store, chrono::Utc::now()).await;
    let copier = acr_sync::copy::Copier::new(client, acr_sync::copy::CopyOptions::default());
    let options = acr_sync::execute::ExecuteOptions {
        dry_run: false,
        concurrency: 4,
        deadline: None,
    };
    let records = acr_sync::execute::execute(
        &plan,
        &store,
        &acr_sync::execute::Importer::Copy(copier),
        &options,
        &acr_sync::execute::Progress::default(),
    )
    .await;
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(
        records
            .iter()
            .all(|r| r.action == acr_sync::execute::Action::Imported),
        "{records:?}"
    );
    let t = target.pusher();
    assert_eq!(
        t.get_manifest("runwhen/cc-a", "main-aaaaaaa")
            .await
            .unwrap()
            .digest,
        a.digest
    );
    assert_eq!(
        t.get_manifest("runwhen/cc-b", "main-bbbbbbb")
            .await
            .unwrap()
            .digest,
        b.digest
    );
    let text = sli
        .metrics_until("images_outdated reaches 0", WAIT, |m| {
            sample(m, "acr_sync_images_outdated") == Some(0.0)
        })
        .await;
    assert_eq!(sample(&text, &series("outdated")), Some(0.0));

    // The upstream goes down: the exporter keeps serving and keeps the image series at their
    // last known values, marked as not checked, and counts the errors.
    let errors_before = sum(&text, "acr_sync_check_errors_total");
    proxy.add(Fault::new(FaultKind::Status(503)));
    let text = sli
        .metrics_until("a check against the down upstream", WAIT, |m| {
            sample(m, &series("check_failed")) == Some(1.0)
                && sum(m, "acr_sync_check_errors_total") >= errors_before + 2.0
        })
        .await;
    promtool_check_metrics(&text);
    assert_eq!(
        sample(&text, &series("outdated")),
        Some(0.0),
        "the series stays, at its last value: {text}"
    );
    assert_eq!(sample(&text, "acr_sync_images_outdated"), Some(0.0));
    assert_eq!(sample(&text, "acr_sync_images_check_failed"), Some(2.0));
    assert!(
        sample(&text, r#"acr_sync_check_errors_total{stage="resolve"}"#).unwrap() >= 2.0,
        "{text}"
    );
    assert!(
        sample(&text, r#"acr_sync_checks_total{result="error"}"#).unwrap() >= 1.0,
        "{text}"
    );
    let code_503 = format!(
        "acr_sync_registry_requests_total{{code=\"503\",method=\"HEAD\",registry=\"{}\"}}",
        proxy.host()
    );
    assert!(
        sample(&text, &code_503).is_some() || text.contains("code=\"503\""),
        "the 503s are counted: {text}"
    );
    assert_eq!(
        get(&format!("{}/readyz", sli.base_url)).await.unwrap().0,
        200
    );

    // Back up: the next check clears the mark.
    proxy.clear();
    sli.metrics_until("the upstream is checked again", WAIT, |m| {
        sample(m, &series("check_failed")) == Some(0.0)
    })
    .await;

    assert_eq!(
        sli.terminate(Duration::from_secs(10)),
        Some(0),
        "SIGTERM is a clean stop"
    );
    assert!(
        sli.log_text().contains("SIGTERM: shutting down"),
        "{}",
        sli.log_text()
    );
}

#[tokio::test]
async fn serve_refuses_one_shot_outputs_and_a_zero_interval() {
    let dir = tempfile::tempdir().unwrap();
    let sli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_acr-sync-sli"))
            .current_dir(dir.path())
            .env_clear()
            .args(args)
            .output()
            .unwrap()
    };
    let out = sli(&["serve", "--textfile", "x.prom"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("one-shot"));
    let out = sli(&["serve", "--interval", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let out = sli(&["serve", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Never imports"));
    let out = sli(&["--pushgateway", "not a url"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pushgateway"));
}

/// The first sample value of an instant query against a Prometheus server, if any.
async fn query(prometheus: &Daemon, expr: &str) -> Option<f64> {
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/query", prometheus.base_url))
        .query(&[("query", expr)])
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    let doc: serde_json::Value = response.error_for_status().ok()?.json().await.ok()?;
    doc["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_exporter() {
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    push_codecollections(&upstream).await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &upstream.host(), &target, "cc-a, cc-b");
    let sli = common::serve(dir.path(), &["--interval", "1h"], &[]).await;

    let exporter = sli.base_url.trim_start_matches("http://");
    let prometheus_yml = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: acr-sync\n    static_configs:\n      - targets: [\"{exporter}\"]\n"
    );
    std::fs::write(dir.path().join("prometheus.yml"), prometheus_yml).unwrap();
    let config_flag = format!(
        "--config.file={}",
        dir.path().join("prometheus.yml").display()
    );
    let storage_flag = format!("--storage.tsdb.path={}", dir.path().join("tsdb").display());
    let prometheus =
        Daemon::prometheus_tool("prometheus", &[&config_flag, &storage_flag], dir.path()).await;

    // Scraped and parsed by Prometheus itself: the target is up and the SLI is queryable.
    prometheus
        .wait_until(
            "Prometheus holds acr_sync_images_outdated == 2",
            WAIT,
            || async {
                query(&prometheus, r#"acr_sync_images_outdated{job="acr-sync"}"#).await == Some(2.0)
            },
        )
        .await;
    assert_eq!(query(&prometheus, r#"up{job="acr-sync"}"#).await, Some(1.0));
    let (_, targets) = get(&format!("{}/api/v1/targets", prometheus.base_url))
        .await
        .unwrap();
    let targets: serde_json::Value = serde_json::from_str(&targets).unwrap();
    let active = &targets["data"]["activeTargets"][0];
    assert_eq!(active["health"], "up", "{active:#}");
    assert_eq!(active["lastError"], "", "{active:#}");
    assert_eq!(
        query(
            &prometheus,
            r#"count(acr_sync_image_outdated{job="acr-sync"} == 1)"#
        )
        .await,
        Some(2.0),
        "one series per configured image"
    );
}

#[tokio::test]
async fn a_check_slower_than_its_limit_is_abandoned_and_counted() {
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    push_codecollections(&upstream).await;
    let proxy = FaultProxy::start(&upstream.base_url()).await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &proxy.host(), &target, "cc-a");
    proxy.add(Fault::new(FaultKind::Delay(Duration::from_secs(5))));

    let sli = common::serve(
        dir.path(),
        &["--interval", "1s", "--check-timeout", "1s"],
        &[],
    )
    .await;
    let text = sli
        .metrics_until("a timed-out check is counted", WAIT, |m| {
            sample(m, r#"acr_sync_check_errors_total{stage="timeout"}"#) >= Some(1.0)
        })
        .await;
    assert!(
        sample(&text, r#"acr_sync_checks_total{result="error"}"#) >= Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"acr_sync_checks_total{result="success"}"#),
        Some(0.0)
    );
    assert!(
        !text.contains("acr_sync_image_outdated{"),
        "nothing known, nothing claimed: {text}"
    );
    // The SLI is unknown, not 0: no sample at all, and not ready.
    assert_eq!(sample(&text, "acr_sync_images_outdated"), None, "{text}");
    assert!(!text.contains("acr_sync_images_outdated "), "{text}");
    assert!(!text.contains("acr_sync_image_"), "{text}");
    let (code, body) = get(&format!("{}/readyz", sli.base_url)).await.unwrap();
    assert_eq!(code, 503, "only timeouts so far: {body}");

    // Faster again: the next check succeeds, and both appear.
    proxy.clear();
    sli.metrics_until("a check succeeds after the slow ones", WAIT, |m| {
        sample(m, r#"acr_sync_checks_total{result="success"}"#) >= Some(1.0)
            && sample(m, "acr_sync_images_outdated") == Some(1.0)
    })
    .await;
    assert_eq!(
        get(&format!("{}/readyz", sli.base_url)).await.unwrap().0,
        200,
        "a check has returned a plan"
    );
}
