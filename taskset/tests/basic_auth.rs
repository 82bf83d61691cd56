//! Registries with HTTP Basic auth (htpasswd; ACR's admin user and repository tokens,
//! Harbor, Nexus behave alike), as upstream and as target, with many images at once:
//! every request sent before the host's challenge was learnt must still end with the
//! right credentials, never as "the registry rejected the credentials".

mod common;

use common::{taskset, text};

use std::path::Path;
use std::process::Output;

use acr_sync_testkit::{ImageBuilder, Registry, RegistryOptions, TestImage};

const IMAGES: usize = 8;

/// `IMAGES` single images, each in its own repository `team/appN:1.0`.
async fn push_images(reg: &Registry) -> Vec<TestImage> {
    let mut images = Vec::new();
    for i in 0..IMAGES {
        let image = ImageBuilder::new(900 + i as u64)
            .random_layer(32 * 1024)
            .build();
        reg.pusher()
            .push_image(&format!("team/app{i}"), "1.0", &image)
            .await;
        images.push(image);
    }
    images
}

/// A workspace naming every image, with basic credentials for each registry given.
fn write_config(dir: &Path, upstream: &str, target: &str, credentials: &[(&str, &str, &str)]) {
    let mut yaml = format!(
        "target: {{registry: \"{target}\", repository_path: mirror}}\n\
         network: {{retry_for: 5s}}\n\
         sync: {{concurrency: {IMAGES}}}\nimages:\n"
    );
    for i in 0..IMAGES {
        yaml.push_str(&format!("  - ref: \"{upstream}/team/app{i}:1.0\"\n"));
    }
    if !credentials.is_empty() {
        yaml.push_str("registries:\n");
        for (host, user, env) in credentials {
            yaml.push_str(&format!(
                "  \"{host}\": {{username: {user}, password_env: {env}}}\n"
            ));
        }
    }
    std::fs::write(dir.join("workspace.yaml"), yaml).unwrap();
}

async fn assert_mirrored(target: &Registry, images: &[TestImage]) {
    for (i, image) in images.iter().enumerate() {
        let got = target
            .pusher()
            .get_manifest(&format!("mirror/app{i}"), "1.0")
            .await
            .unwrap_or_else(|| panic!("mirror/app{i}:1.0 is in the target"));
        assert_eq!(got.digest, image.digest, "mirror/app{i}");
    }
}

fn assert_all_imported(out: &Output) {
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("{IMAGES} imported")),
        "{stdout}\n{stderr}"
    );
    assert!(
        !stdout.contains("401") && !stderr.contains("401"),
        "{stdout}\n{stderr}"
    );
}

#[tokio::test]
async fn eight_images_at_once_from_and_to_basic_auth_registries() {
    let upstream = Registry::start(RegistryOptions::basic(&[("reader", "up-pw-8Q")])).await;
    let target = Registry::start(RegistryOptions::basic(&[("writer", "down-pw-3Z")])).await;
    let images = push_images(&upstream).await;
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &upstream.host(),
        &target.host(),
        &[
            (&upstream.host(), "reader", "UP_PASSWORD"),
            (&target.host(), "writer", "DOWN_PASSWORD"),
        ],
    );
    let env = [("UP_PASSWORD", "up-pw-8Q"), ("DOWN_PASSWORD", "down-pw-3Z")];

    let out = taskset(
        dir.path(),
        &["sync", "--concurrency", &IMAGES.to_string()],
        &env,
    );
    assert_all_imported(&out);
    assert_mirrored(&target, &images).await;

    // The next run checks all of them at once again, and finds nothing to do.
    let out = taskset(dir.path(), &[], &env);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("0 imported, {IMAGES} up to date")),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_basic_auth_upstream_alone_and_a_basic_auth_target_alone() {
    // Each side on its own, so that a failure says which side it is.
    let upstream = Registry::start(RegistryOptions::basic(&[("reader", "up-pw-8Q")])).await;
    let open_target = Registry::start(RegistryOptions::anonymous()).await;
    let images = push_images(&upstream).await;
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &upstream.host(),
        &open_target.host(),
        &[(&upstream.host(), "reader", "UP_PASSWORD")],
    );
    let out = taskset(dir.path(), &[], &[("UP_PASSWORD", "up-pw-8Q")]);
    assert_all_imported(&out);
    assert_mirrored(&open_target, &images).await;

    let open_upstream = Registry::start(RegistryOptions::anonymous()).await;
    let target = Registry::start(RegistryOptions::basic(&[("writer", "down-pw-3Z")])).await;
    let images = push_images(&open_upstream).await;
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &open_upstream.host(),
        &target.host(),
        &[(&target.host(), "writer", "DOWN_PASSWORD")],
    );
    let out = taskset(dir.path(), &[], &[("DOWN_PASSWORD", "down-pw-3Z")]);
    assert_all_imported(&out);
    assert_mirrored(&target, &images).await;
}

#[tokio::test]
async fn a_wrong_password_is_still_reported_as_rejected() {
    let upstream = Registry::start(RegistryOptions::basic(&[("reader", "up-pw-8Q")])).await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    push_images(&upstream).await;
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &upstream.host(),
        &target.host(),
        &[(&upstream.host(), "reader", "UP_PASSWORD")],
    );
    let out = taskset(dir.path(), &[], &[("UP_PASSWORD", "wrong-pw")]);
    let all = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("rejected the credentials"), "{all}");
    assert!(!all.contains("wrong-pw"), "the password never shows: {all}");
}
