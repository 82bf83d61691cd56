//! Fixtures shared by the integration tests: settings from YAML, a client, upstream
//! content for code collections.
#![allow(dead_code)]

use std::path::Path;

use acr_sync::config::{Env, Settings};
use acr_sync::registry::Client;
use acr_sync_testkit::{MediaKind, Registry, TestIndex};

/// Settings read from `yaml` written to `dir/workspace.yaml`, with no environment.
pub fn settings(dir: &Path, yaml: &str) -> Settings {
    settings_with_env(dir, yaml, &[])
}

/// Settings read from `yaml` with these environment variables.
pub fn settings_with_env(dir: &Path, yaml: &str, env: &[(&str, &str)]) -> Settings {
    let path = dir.join("workspace.yaml");
    std::fs::write(&path, yaml).unwrap();
    Settings::load(Some(&path), &Env::from_pairs(env.iter().copied()))
        .unwrap_or_else(|e| panic!("test config is valid: {e}"))
}

/// A client for `settings`.
pub fn client(settings: &Settings) -> Client {
    Client::new(settings.client_config()).expect("client config is valid")
}

/// A check of `settings` with `client`, the target opened with the same client, as the
/// binaries do it.
pub async fn run_check(
    settings: &Settings,
    client: &Client,
    now: chrono::DateTime<chrono::Utc>,
) -> acr_sync::plan::Plan {
    let store = acr_sync::store::Store::open(&settings.target.registry, client);
    acr_sync::check::check(settings, client, &store, now).await
}

/// The upstream content of the code collection tests, with what each tag holds.
pub struct CodeCollections {
    /// `cc-one:main-latest`, also `main-aaaaaaa`: a multi-arch OCI index.
    pub one: TestIndex,
    /// `cc-two:main-latest`: a Docker manifest list whose amd64 child is `main-ddddddd`.
    pub two: TestIndex,
    /// An older build: `cc-one:main-bbbbbbb`, `cc-two:main-eeeeeee` and the filler tags.
    pub old: TestIndex,
}

/// Pushes the code collection repositories to `reg`:
/// - `public-images/cc-one`: `main-latest` and `main-aaaaaaa` (same index), `main-bbbbbbb`
///   (older build), decoys `amd64-main-ccccccc` / `arm64-main-ccccccc` holding the
///   matching platform images, and `filler` tags so the list spans several pages;
/// - `public-images/cc-two`: `main-latest` (index), `main-ddddddd` (its amd64 child alone),
///   `main-eeeeeee` (older build);
/// - `public-images/cc-nolatest`: only `main-1234567`.
pub async fn push_codecollections(reg: &Registry, filler: usize) -> CodeCollections {
    let p = reg.pusher();
    let one = TestIndex::multi_arch(11, MediaKind::Oci, true);
    let two = TestIndex::multi_arch(22, MediaKind::Docker, false);
    let old = TestIndex::multi_arch(33, MediaKind::Oci, false);

    p.push_index("public-images/cc-one", "main-latest", &one)
        .await;
    p.tag("public-images/cc-one", &one.digest, "main-aaaaaaa")
        .await;
    p.push_index("public-images/cc-one", "main-bbbbbbb", &old)
        .await;
    p.push_image(
        "public-images/cc-one",
        "amd64-main-ccccccc",
        one.image_for("linux", "amd64").unwrap(),
    )
    .await;
    p.push_image(
        "public-images/cc-one",
        "arm64-main-ccccccc",
        one.image_for("linux", "arm64").unwrap(),
    )
    .await;
    let filler_tags: Vec<String> = (0..filler).map(|i| format!("0.0.{i}")).collect();
    p.tags_many("public-images/cc-one", &old.digest, &filler_tags)
        .await;

    p.push_index("public-images/cc-two", "main-latest", &two)
        .await;
    p.push_image(
        "public-images/cc-two",
        "main-ddddddd",
        two.image_for("linux", "amd64").unwrap(),
    )
    .await;
    p.push_index("public-images/cc-two", "main-eeeeeee", &old)
        .await;

    p.push_index("public-images/cc-nolatest", "main-1234567", &old)
        .await;
    CodeCollections { one, two, old }
}
