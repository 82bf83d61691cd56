//! Token requests of a whole run against token-auth registries (distribution's Bearer
//! flow, as Docker Hub, GHCR and ACR use): one token request per distinct scope set,
//! however many requests share it and however many images run at once.

mod common;

use common::{taskset, text};

use std::collections::BTreeMap;

use acr_sync_testkit::{
    ImageBuilder, Registry, RegistryOptions, TestImage, TokenRequest, TokenServerOptions, TokenUser,
};

const IMAGES: usize = 10;

/// How many times each scope set was asked for by `user`.
fn by_scope_set(requests: &[TokenRequest], user: &str) -> BTreeMap<Vec<String>, usize> {
    let mut counts = BTreeMap::new();
    for r in requests.iter().filter(|r| r.user.as_deref() == Some(user)) {
        let mut scopes = r.scopes.clone();
        scopes.sort();
        *counts.entry(scopes).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn one_token_request_per_distinct_scope_in_a_ten_image_run() {
    let upstream = Registry::start(RegistryOptions::token(
        TokenServerOptions::new().user(TokenUser::pull_only("reader", "up-pw-T1")),
    ))
    .await;
    let target = Registry::start(RegistryOptions::token(
        TokenServerOptions::new().user(TokenUser::new("writer", "down-pw-T2")),
    ))
    .await;
    let mut images: Vec<TestImage> = Vec::new();
    for i in 0..IMAGES {
        // Three layers each, so that every image has blobs copied side by side.
        let image = ImageBuilder::new(700 + i as u64)
            .random_layer(16 * 1024)
            .random_layer(16 * 1024)
            .random_layer(16 * 1024)
            .build();
        upstream
            .pusher()
            .push_image(&format!("team/app{i}"), "1.0", &image)
            .await;
        images.push(image);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = format!(
        "target: {{registry: \"{}\", repository_path: mirror}}\n\
         network: {{retry_for: 5s}}\n\
         registries:\n  \"{}\": {{username: reader, password_env: UP_PASSWORD}}\n  \"{}\": {{username: writer, password_env: DOWN_PASSWORD}}\n\
         images:\n",
        target.host(),
        upstream.host(),
        target.host()
    );
    for i in 0..IMAGES {
        yaml.push_str(&format!(
            "  - ref: \"{}/team/app{i}:1.0\"\n",
            upstream.host()
        ));
    }
    std::fs::write(dir.path().join("workspace.yaml"), yaml).unwrap();
    let env = [("UP_PASSWORD", "up-pw-T1"), ("DOWN_PASSWORD", "down-pw-T2")];

    let out = taskset(dir.path(), &["--concurrency", "10"], &env);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains(&format!("{IMAGES} imported")), "{stdout}");
    for (i, image) in images.iter().enumerate() {
        let got = target
            .pusher()
            .get_manifest(&format!("mirror/app{i}"), "1.0")
            .await
            .expect("mirrored");
        assert_eq!(got.digest, image.digest);
    }

    let up = by_scope_set(&upstream.token_server().unwrap().requests(), "reader");
    assert!(
        up.values().all(|&n| n == 1),
        "a scope set asked twice: {up:#?}"
    );
    assert_eq!(up.len(), IMAGES, "one pull scope per repository: {up:#?}");

    let down = by_scope_set(&target.token_server().unwrap().requests(), "writer");
    assert!(
        down.values().all(|&n| n == 1),
        "a scope set asked twice: {down:#?}"
    );
    // At most a pull token (the check) and a push token (the copy) per repository.
    assert!(down.len() <= 2 * IMAGES, "{down:#?}");
    assert!(
        down.keys()
            .filter(|s| s.iter().any(|s| s.ends_with(":pull,push")))
            .count()
            == IMAGES,
        "{down:#?}"
    );
}
