//! The acr-sync-taskset binary against real docker-registry processes: what it imports,
//! what it prints and writes, and its exit codes.

mod common;

use common::{taskset, text};

use std::path::Path;
use std::process::Command;

use acr_sync_testkit::{
    Fault, FaultProxy, ImageBuilder, MediaKind, Registry, RegistryOptions, TestIndex,
};

/// Upstream content: a code collection (multi-arch index) and an explicit single image.
async fn upstream() -> (Registry, TestIndex, acr_sync_testkit::TestImage) {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let index = TestIndex::multi_arch(21, MediaKind::Oci, true);
    let p = reg.pusher();
    p.push_index("images/cc-a", "main-latest", &index).await;
    p.tag("images/cc-a", &index.digest, "main-abcdef0").await;
    let tool = ImageBuilder::new(22)
        .docker()
        .random_layer(300 * 1024)
        .build();
    p.push_image("vendor/tool", "1.0", &tool).await;
    (reg, index, tool)
}

fn config(dir: &Path, upstream_host: &str, target: &str) {
    let yaml = format!(
        "target: {{registry: \"{target}\", repository_path: mirror}}\n\
         codecollections:\n  source: \"{upstream_host}/images\"\n  images: [cc-a]\n\
         images:\n  - ref: \"{upstream_host}/vendor/tool:1.0\"\n\
         network: {{retry_for: 1s}}\n"
    );
    std::fs::write(dir.join("workspace.yaml"), yaml).unwrap();
}

fn writes(requests: &[acr_sync_testkit::LoggedRequest]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test]
async fn imports_with_identical_digests_and_a_second_run_is_a_no_op() {
    let (up, index, tool) = upstream().await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &up.host(), &target.host());

    let out = taskset(dir.path(), &["sync"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("2 imported"), "{stdout}");
    let pushed = target.pusher();
    let got = pushed
        .get_manifest("mirror/cc-a", "main-abcdef0")
        .await
        .unwrap();
    assert_eq!(got.digest, index.digest, "the index arrives byte for byte");
    for child in index.children() {
        let got = pushed
            .get_manifest("mirror/cc-a", &child.digest)
            .await
            .unwrap();
        assert_eq!(got.digest, child.digest);
    }
    assert_eq!(
        pushed
            .get_manifest("mirror/tool", "1.0")
            .await
            .unwrap()
            .digest,
        tool.digest
    );

    let mark = target.log_mark().await;
    let out = taskset(dir.path(), &[], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 imported, 2 up to date"), "{stdout}");
    let requests = target.requests_since(mark).await;
    assert!(
        writes(&requests).is_empty(),
        "the second run wrote: {:?}",
        writes(&requests)
    );
    assert!(
        !requests.iter().any(|r| r.path.contains("/blobs/")),
        "no blob was touched"
    );

    // --force re-imports: manifests are written again, blobs are not sent again.
    let mark = target.log_mark().await;
    let out = taskset(dir.path(), &["--force"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("2 imported"), "{stdout}");
    let written = writes(&target.requests_since(mark).await);
    assert!(
        written
            .iter()
            .any(|w| w.starts_with("PUT") && w.contains("/manifests/")),
        "{written:?}"
    );
    assert!(
        !written.iter().any(|w| w.contains("/blobs/uploads")),
        "{written:?}"
    );
}

#[tokio::test]
async fn dry_run_and_sync_disabled_change_nothing() {
    let (up, _, _) = upstream().await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &up.host(), &target.host());
    let mark = target.log_mark().await;

    let out = taskset(dir.path(), &["--dry-run", "--format", "json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["dry_run"], true);
    let images = doc["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert!(
        images.iter().all(|i| i["action"] == "would_import"),
        "{doc:#}"
    );
    assert_eq!(
        images[0]["target"],
        format!("{}/mirror/cc-a:main-abcdef0", target.host())
    );

    let out = taskset(dir.path(), &[], &[("SYNC_IMAGES", "false")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("2 would be imported"),
        "{}",
        text(&out.stdout)
    );
    assert!(writes(&target.requests_since(mark).await).is_empty());
}

#[tokio::test]
async fn a_corrupt_blob_fails_its_image_only_and_leaves_its_tag_absent() {
    let (up, index, _) = upstream().await;
    let proxy = FaultProxy::start(&up.base_url()).await;
    // Every blob of the code collection comes back corrupted; the tool's are intact.
    proxy.add(Fault::corrupt_blob(1000).path("/images/cc-a/blobs/"));
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &proxy.host(), &target.host());
    let report = dir.path().join("report.md");

    let out = taskset(dir.path(), &["--report", report.to_str().unwrap()], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("failed") && stdout.contains("images/cc-a"),
        "{stdout}"
    );
    assert!(stdout.contains("1 imported"), "{stdout}");
    let pushed = target.pusher();
    assert!(
        pushed
            .get_manifest("mirror/cc-a", "main-abcdef0")
            .await
            .is_none(),
        "tag never moved"
    );
    assert!(
        pushed
            .get_manifest("mirror/cc-a", &index.digest)
            .await
            .is_none()
    );
    assert!(pushed.get_manifest("mirror/tool", "1.0").await.is_some());
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.contains("| failed |") && md.contains("cc-a"), "{md}");
}

#[test]
fn usage_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = taskset(dir.path(), &["--report", "/no/such/dir/report.md"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--report"),
        "{}",
        text(&out.stderr)
    );
    for args in [
        &["--concurrency", "0"][..],
        &["--importer", "teleport"],
        &["frobnicate"],
    ] {
        let out = taskset(dir.path(), args, &[]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    for args in [&["--help"][..], &["--version"], &["sync", "--help"]] {
        let out = taskset(dir.path(), args, &[]);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
    }
}

#[tokio::test]
async fn progress_is_drawn_on_a_terminal_only() {
    let (up, _, _) = upstream().await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &up.host(), &target.host());

    // A pipe: no progress line.
    let out = taskset(dir.path(), &["--dry-run"], &[]);
    assert!(
        !text(&out.stderr).contains("images,"),
        "{}",
        text(&out.stderr)
    );

    // A terminal: the progress line shows.
    let binary = env!("CARGO_BIN_EXE_acr-sync-taskset");
    let out = common::on_terminal(dir.path(), &format!("{binary} sync"));
    let screen = text(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains("images,"),
        "no progress line on a terminal: {screen:?}"
    );
    assert!(screen.contains("2 imported"), "{screen}");
}

#[tokio::test]
async fn an_oci_layout_target_needs_no_registry_and_skopeo_reads_it() {
    let (up, index, _) = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("mirror");
    let target = format!("oci-layout:{}", layout.display());
    config(dir.path(), &up.host(), &target);

    let out = taskset(dir.path(), &[], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("2 imported"),
        "{}",
        text(&out.stdout)
    );
    // The printed name is the one every report uses: skopeo's `oci:DIR:REF` form with
    // the target's own prefix.
    let name = format!("{target}:mirror/cc-a:main-abcdef0");
    assert!(
        text(&out.stdout).contains(&format!(" -> {name} (")),
        "{}",
        text(&out.stdout)
    );
    let inspected = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(name.replacen("oci-layout:", "oci:", 1))
        .output()
        .expect("skopeo runs");
    assert!(inspected.status.success(), "{}", text(&inspected.stderr));
    assert_eq!(
        acr_sync_testkit::sha256_digest(&inspected.stdout),
        index.digest
    );

    // The check reads the layout too: nothing is left to do.
    let out = taskset(dir.path(), &[], &[]);
    assert!(
        text(&out.stdout).contains("0 imported, 2 up to date"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains(&format!(" = {name}\n")),
        "{}",
        text(&out.stdout)
    );
}
