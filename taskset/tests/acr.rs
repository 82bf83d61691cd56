//! The taskset against an ACR target, through the harness's Azure stand-in (Entra token
//! endpoint, ARM importImage really copying into a docker-registry, ACR's token exchange
//! and listing API), with only Entra credentials in the environment.

mod common;

/// Runs the taskset with an environment of owned pairs (the stand-in's).
fn taskset(dir: &Path, args: &[&str], env: &[(String, String)]) -> Output {
    common::command(dir)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("acr-sync-taskset runs")
}

use std::path::Path;
use std::process::Output;

use acr_sync_testkit::{
    AzureOptions, AzureStandIn, Fault, FaultProxy, ImageBuilder, IndexBuilder, MediaKind, Registry,
    RegistryOptions, TestIndex,
};

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn config(dir: &Path, az: &AzureStandIn, upstream_host: &str, images: &[&str]) {
    let mut yaml = format!(
        "target:\n  registry: \"{}\"\n  repository_path: runwhen\n  acr: {{name: {}, arm_endpoint: \"{}\"}}\nnetwork: {{retry_for: 2s}}\nimages:\n",
        az.login_server(),
        az.options().registry_name,
        az.arm_endpoint()
    );
    for image in images {
        yaml.push_str(&format!("  - ref: \"{upstream_host}/{image}\"\n"));
    }
    std::fs::write(dir.join("workspace.yaml"), yaml).unwrap();
}

async fn stand_in() -> AzureStandIn {
    AzureStandIn::start(AzureOptions {
        retry_after: 0,
        ..AzureOptions::default()
    })
    .await
}

fn assert_no_secret(az: &AzureStandIn, output: &str) {
    for secret in az.secrets() {
        assert!(
            !output.contains(&secret),
            "a secret reached the output:\n{output}"
        );
    }
}

#[tokio::test]
async fn acr_import_syncs_to_identical_digests_without_printing_secrets() {
    let az = stand_in().await;
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    let app = TestIndex::multi_arch(71, MediaKind::Oci, true);
    let tool = TestIndex::multi_arch(72, MediaKind::Docker, false);
    upstream.pusher().push_index("team/app", "1.0", &app).await;
    upstream.pusher().push_index("team/tool", "3", &tool).await;
    // The ACR holds the tool's tag at other content: it must be replaced (mode Force).
    let stale = ImageBuilder::new(73).build();
    az.registry()
        .pusher()
        .push_image("runwhen/tool", "3", &stale)
        .await;
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        &az,
        &upstream.host(),
        &["team/app:1.0", "team/tool:3"],
    );

    let env = az.client_secret_env();
    let out = taskset(dir.path(), &["--importer", "acr-import", "-vvv"], &env);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("2 imported"), "{all}");
    assert!(all.contains("imported by ACR importImage"), "{all}");
    assert_eq!(az.imports(), 2);
    let target = az.registry().pusher();
    assert_eq!(
        target
            .get_manifest("runwhen/app", "1.0")
            .await
            .unwrap()
            .digest,
        app.digest
    );
    assert_eq!(
        target
            .get_manifest("runwhen/tool", "3")
            .await
            .unwrap()
            .digest,
        tool.digest
    );
    for child in app.children() {
        assert!(
            target
                .get_manifest("runwhen/app", &child.digest)
                .await
                .is_some()
        );
    }
    assert_no_secret(&az, &all);

    // Nothing left to do: no import is started.
    let out = taskset(dir.path(), &["--importer", "acr-import"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(az.imports(), 2);
}

#[tokio::test]
async fn a_rate_limited_source_is_a_per_image_error_with_exit_2() {
    let az = stand_in().await;
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    let app = TestIndex::multi_arch(74, MediaKind::Oci, false);
    let tool = TestIndex::multi_arch(75, MediaKind::Oci, false);
    upstream.pusher().push_index("team/app", "1.0", &app).await;
    upstream.pusher().push_index("team/tool", "3", &tool).await;
    // The check reads tags with HEAD; ACR's import GETs the manifest: only that is refused.
    let proxy = FaultProxy::start(&upstream.base_url()).await;
    proxy.add(
        Fault::too_many_requests(30, 1000)
            .method("GET")
            .path("/team/app/manifests/"),
    );
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        &az,
        &proxy.host(),
        &["team/app:1.0", "team/tool:3"],
    );

    let out = taskset(
        dir.path(),
        &["--importer", "acr-import"],
        &az.client_secret_env(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("1 imported") && all.contains("1 failed"),
        "{all}"
    );
    let failed = all
        .lines()
        .find(|l| l.starts_with("failed"))
        .unwrap_or_default();
    assert!(failed.contains("team/app"), "{all}");
    assert!(failed.to_lowercase().contains("rate"), "{all}");
    assert_no_secret(&az, &all);
}

#[tokio::test]
async fn auto_copies_what_import_image_cannot_take_and_says_why() {
    let az = stand_in().await;
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    let mut big = IndexBuilder::new(MediaKind::Oci);
    for i in 0..51 {
        big = big.image(
            ImageBuilder::new(300 + i)
                .platform("linux", &format!("arch{i}"))
                .build(),
        );
    }
    let big = big.build();
    let small = TestIndex::multi_arch(76, MediaKind::Oci, false);
    upstream.pusher().push_index("team/big", "1", &big).await;
    upstream
        .pusher()
        .push_index("team/small", "1", &small)
        .await;
    let dir = tempfile::tempdir().unwrap();
    config(
        dir.path(),
        &az,
        &upstream.host(),
        &["team/big:1", "team/small:1"],
    );
    let report = dir.path().join("report.md");

    let out = taskset(
        dir.path(),
        &["--report", report.to_str().unwrap()],
        &az.client_secret_env(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert_eq!(
        az.imports(),
        1,
        "only the small image goes through importImage"
    );
    let target = az.registry().pusher();
    assert_eq!(
        target
            .get_manifest("runwhen/big", "1")
            .await
            .unwrap()
            .digest,
        big.digest
    );
    assert_eq!(
        target
            .get_manifest("runwhen/small", "1")
            .await
            .unwrap()
            .digest,
        small.digest
    );
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(
        md.contains("copied through this machine") && md.contains("52 manifests"),
        "{md}"
    );
    assert_no_secret(&az, &all);
}

#[test]
fn acr_import_without_an_acr_target_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("workspace.yaml"),
        "target: {registry: \"127.0.0.1:9\"}\n",
    )
    .unwrap();
    let out = taskset(dir.path(), &["--importer", "acr-import"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("Entra ID identity"), "{}", text(&out));
}
