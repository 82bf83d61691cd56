//! Two acr-sync-taskset processes writing one target at the same time, as two CronJob
//! runs that overlap would: nothing is lost and neither fails because of the other.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use acr_sync_testkit::{ImageBuilder, Registry, RegistryOptions};

const IMAGES: usize = 16;

/// Upstream `vendor/app<i>:1` for i in 0..16, small single-arch images sharing a base.
async fn upstream() -> Registry {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let p = reg.pusher();
    for i in 0..IMAGES {
        let image = ImageBuilder::new(600 + i as u64)
            .random_layer(64 * 1024)
            .build();
        p.push_image(&format!("vendor/app{i}"), "1", &image).await;
    }
    reg
}

/// A config in `dir` mirroring `images` of `upstream` into `target`.
fn config(dir: &Path, upstream: &str, target: &str, images: impl Iterator<Item = usize>) {
    let mut yaml = format!(
        "target: {{registry: \"{target}\", repository_path: mirror}}\nnetwork: {{retry_for: 20s}}\nimages:\n"
    );
    for i in images {
        yaml.push_str(&format!("  - ref: \"{upstream}/vendor/app{i}:1\"\n"));
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("workspace.yaml"), yaml).unwrap();
}

fn spawn(dir: &Path) -> Child {
    Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_acr-sync-taskset"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("acr-sync-taskset runs")
}

/// Runs two processes at once and asserts that both exited 0.
fn run_both(a: &Path, b: &Path) {
    let (first, second) = (spawn(a), spawn(b));
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn ref_names(layout: &Path) -> Vec<String> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut names: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["annotations"]["org.opencontainers.image.ref.name"].to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn two_runs_into_one_layout_keep_every_tag() {
    let up = upstream().await;
    let work = tempfile::tempdir().unwrap();
    for trial in 0..10 {
        let layout: PathBuf = work.path().join(format!("mirror{trial}"));
        let target = format!("oci-layout:{}", layout.display());
        let (a, b) = (work.path().join("a"), work.path().join("b"));
        config(&a, &up.host(), &target, 0..IMAGES / 2);
        config(&b, &up.host(), &target, IMAGES / 2..IMAGES);
        run_both(&a, &b);
        let names = ref_names(&layout);
        assert_eq!(names.len(), IMAGES, "trial {trial}: {names:?}");
    }
}

#[tokio::test]
async fn two_runs_of_the_same_images_into_one_registry_both_succeed() {
    let up = upstream().await;
    let work = tempfile::tempdir().unwrap();
    // Uploads of the same blob by both runs at once race inside docker-registry (one
    // gets 400 DIGEST_INVALID): the copy finds the blob written by the other run.
    for trial in 0..4 {
        let target = Registry::start(RegistryOptions::anonymous()).await;
        let (a, b) = (work.path().join("a"), work.path().join("b"));
        config(&a, &up.host(), &target.host(), 0..IMAGES);
        config(&b, &up.host(), &target.host(), (0..IMAGES).rev());
        run_both(&a, &b);
        let pusher = target.pusher();
        for i in 0..IMAGES {
            let repo = format!("mirror/app{i}");
            assert!(
                pusher.get_manifest(&repo, "1").await.is_some(),
                "trial {trial}: {repo}:1 missing"
            );
        }
    }
}
