//! The acr-sync-sli binary as users and schedulers see it: stdout, files, exit codes.
//! Upstream and target are real docker-registry processes.

use std::path::Path;
use std::process::{Command, Output};

use acr_sync_testkit::{MediaKind, Registry, RegistryOptions, TestIndex};

fn sli(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_acr-sync-sli"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("acr-sync-sli runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn upstream_with_codecollection() -> (Registry, TestIndex) {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let index = TestIndex::multi_arch(5, MediaKind::Oci, false);
    let p = reg.pusher();
    p.push_index("images/cc-a", "main-latest", &index).await;
    p.tag("images/cc-a", &index.digest, "main-abcdef0").await;
    p.push_index("images/cc-gone", "main-1234567", &index).await;
    (reg, index)
}

fn config(dir: &Path, upstream: &Registry, target: &Registry, images: &str) {
    let yaml = format!(
        "target: {{registry: \"{}\"}}\ncodecollections:\n  source: \"{}/images\"\n  images: [{images}]\nnetwork: {{retry_for: 1s}}\n",
        target.host(),
        upstream.host()
    );
    std::fs::write(dir.join("workspace.yaml"), yaml).unwrap();
}

#[tokio::test]
async fn a_partial_check_exits_2_names_the_image_and_ends_with_the_count() {
    let (upstream, _) = upstream_with_codecollection().await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &upstream, &target, "cc-a, cc-gone");

    let out = sli(dir.path(), &[], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}\n{}", stderr(&out));
    // One outdated, one that could not be checked: both count in the last line.
    assert_eq!(text.lines().last(), Some("2"), "{text}");
    assert!(text.contains("images/cc-gone:main-latest"), "{text}");
    assert!(
        text.contains(&format!("{}/runwhen/cc-a:main-abcdef0", target.host())),
        "{text}"
    );

    let cc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("cc_images_to_update.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        cc.as_array().unwrap().len(),
        2,
        "outdated and failed entries: {cc:#}"
    );
    assert_eq!(cc[1]["slug"], "cc-gone");
    assert_eq!(cc[1]["status"], "failed");
    assert!(cc[1]["error"].as_str().unwrap().contains("main-latest"));
    let images = std::fs::read_to_string(dir.path().join("images_to_update.json")).unwrap();
    assert_eq!(images.trim(), "{}");
}

#[tokio::test]
async fn a_complete_check_exits_0_whatever_the_count_and_json_is_one_document() {
    let (upstream, _) = upstream_with_codecollection().await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &upstream, &target, "cc-a");
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();

    let out = sli(
        dir.path(),
        &["--format", "json"],
        &[
            ("OUTPUT_DIR", out_dir.to_str().unwrap()),
            ("REGISTRY_REPOSITORY_PATH", "mirror"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["outdated"], 1);
    assert_eq!(doc["failed"], 0);
    assert_eq!(
        doc["entries"][0]["destination"],
        format!("{}/mirror/cc-a:main-abcdef0", target.host())
    );
    assert!(out_dir.join("cc_images_to_update.json").is_file());
    assert!(
        !dir.path().join("cc_images_to_update.json").exists(),
        "OUTPUT_DIR is honoured"
    );
}

#[test]
fn bad_configuration_exits_1_names_the_setting_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("workspace.yaml"),
        "target:\n  registry: \"bad host\"\n",
    )
    .unwrap();
    let out = sli(dir.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("workspace.yaml:2: target.registry"), "{err}");
    assert!(!dir.path().join("cc_images_to_update.json").exists());

    let out = sli(dir.path(), &["--no-such-flag"], &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "usage errors are exit 1, not clap's 2"
    );

    let out = sli(dir.path(), &["--config", "missing.yaml"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.yaml"));

    let out = sli(
        dir.path(),
        &[],
        &[("REGISTRY_NAME", "127.0.0.1:1"), ("SYNC_IMAGES", "perhaps")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("SYNC_IMAGES"));
}

#[test]
fn help_and_version_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["--help"][..], &["--version"], &["serve", "--help"]] {
        let out = sli(dir.path(), args, &[]);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty());
    }
}

#[tokio::test]
async fn sync_images_true_imports_as_the_taskset_does() {
    let (upstream, index) = upstream_with_codecollection().await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &upstream, &target, "cc-a");

    let out = sli(dir.path(), &[], &[("SYNC_IMAGES", "true")]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("1 imported"), "{text}");
    assert_eq!(
        text.lines().last(),
        Some("1"),
        "the count is the check's: {text}"
    );
    let got = target
        .pusher()
        .get_manifest("runwhen/cc-a", "main-abcdef0")
        .await
        .unwrap();
    assert_eq!(got.digest, index.digest);

    let out = sli(dir.path(), &[], &[]);
    assert_eq!(stdout(&out).lines().last(), Some("0"));
}
