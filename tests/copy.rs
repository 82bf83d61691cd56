//! The copy engine against real docker-registry processes (and skopeo as an independent
//! reader): digests preserved, shared layers mounted, corrupt sources refused, re-runs
//! free, and OCI layouts that skopeo reads.

#[path = "common/copy.rs"]
mod helpers;

use acr_sync::copy::CopyOptions;
use acr_sync::store::{Layout, REF_NAME};
use acr_sync_testkit::{
    Fault, FaultProxy, ImageBuilder, MediaKind, Registry, RegistryOptions, TestImage, TestIndex,
};

use helpers::{
    CopyTo, To, copier, mounts_of, reference, skopeo, skopeo_raw_registry, to_layout, to_registry,
    upload_puts, upload_starts, uploads_of,
};

async fn registries() -> (Registry, Registry) {
    let (a, b) = tokio::join!(
        Registry::start(RegistryOptions::anonymous()),
        Registry::start(RegistryOptions::anonymous())
    );
    (a, b)
}

/// Two images whose single layer is the same blob (same seed and platform, different
/// configs): a shared base layer.
fn sharing_a_layer() -> (TestImage, TestImage) {
    let build = |app: &str| {
        ImageBuilder::new(5)
            .random_layer(300_000)
            .label("app", app)
            .build()
    };
    let (a, b) = (build("a"), build("b"));
    assert_eq!(a.layers[0].digest, b.layers[0].digest);
    assert_ne!(a.digest, b.digest);
    (a, b)
}

#[tokio::test]
async fn a_multi_arch_index_keeps_every_digest() {
    let (upstream, target) = registries().await;
    for (i, kind) in [MediaKind::Oci, MediaKind::Docker].into_iter().enumerate() {
        let index = TestIndex::multi_arch(40 + i as u64, kind, kind == MediaKind::Oci);
        let repo = format!("vendor/app{i}");
        upstream.pusher().push_index(&repo, "1.0", &index).await;

        let copied = copier(CopyOptions::default())
            .copy_to(
                &reference(&upstream.host(), &repo, "1.0"),
                &to_registry(&target.host(), &repo, "1.0"),
            )
            .await
            .unwrap();

        assert_eq!(copied.digest.to_string(), index.digest);
        let children = index.children();
        assert_eq!(copied.manifests_written, children.len() + 1);
        let blobs: usize = children.iter().map(|c| c.blobs().len()).sum();
        assert_eq!(copied.blobs_copied, blobs);
        // skopeo reads back the exact bytes: the index under the tag, each child by digest.
        let raw = skopeo_raw_registry(&target.host(), &format!("{repo}:1.0"));
        assert_eq!(raw, index.manifest.to_vec(), "index bytes differ");
        for child in children {
            let raw = skopeo_raw_registry(&target.host(), &format!("{repo}@{}", child.digest));
            assert_eq!(
                raw,
                child.manifest.to_vec(),
                "child {} differs",
                child.digest
            );
            for blob in child.blobs() {
                assert!(target.pusher().blob_exists(&repo, &blob.digest).await);
            }
        }
    }
}

#[tokio::test]
async fn a_shared_base_layer_is_mounted_not_uploaded_again() {
    let (upstream, target) = registries().await;
    let (a, b) = sharing_a_layer();
    upstream.pusher().push_image("vendor/a", "1", &a).await;
    upstream.pusher().push_image("vendor/b", "1", &b).await;
    let shared = a.layers[0].digest.clone();
    let copier = copier(CopyOptions::default());
    let mark = target.log_mark().await;

    let first = copier
        .copy_to(
            &reference(&upstream.host(), "vendor/a", "1"),
            &to_registry(&target.host(), "runwhen/a", "1"),
        )
        .await
        .unwrap();
    let second = copier
        .copy_to(
            &reference(&upstream.host(), "vendor/b", "1"),
            &to_registry(&target.host(), "runwhen/b", "1"),
        )
        .await
        .unwrap();

    assert_eq!((first.blobs_copied, first.blobs_mounted), (2, 0));
    assert_eq!(
        (second.blobs_copied, second.blobs_mounted),
        (1, 1),
        "{second:?}"
    );
    assert_eq!(second.bytes, b.config.size());
    let requests = target.requests_since(mark).await;
    assert_eq!(
        uploads_of(&requests, &shared),
        1,
        "the shared layer was uploaded once"
    );
    assert_eq!(
        mounts_of(&requests, &shared),
        1,
        "and mounted into the second repository"
    );
    assert!(target.pusher().blob_exists("runwhen/b", &shared).await);
    assert_eq!(copier.bytes_transferred(), first.bytes + second.bytes);
}

#[tokio::test]
async fn a_blob_two_images_need_at_once_is_uploaded_once() {
    let (upstream, target) = registries().await;
    let (a, b) = sharing_a_layer();
    upstream.pusher().push_image("vendor/a", "1", &a).await;
    upstream.pusher().push_image("vendor/b", "1", &b).await;
    let copier = copier(CopyOptions::default());
    let mark = target.log_mark().await;

    let (sa, sb) = (
        reference(&upstream.host(), "vendor/a", "1"),
        reference(&upstream.host(), "vendor/b", "1"),
    );
    let (ta, tb) = (
        to_registry(&target.host(), "runwhen/a", "1"),
        to_registry(&target.host(), "runwhen/b", "1"),
    );
    let (ra, rb) = tokio::join!(copier.copy_to(&sa, &ta), copier.copy_to(&sb, &tb));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());

    let requests = target.requests_since(mark).await;
    assert_eq!(uploads_of(&requests, &a.layers[0].digest), 1);
    assert_eq!(
        upload_puts(&requests),
        3,
        "two configs and the shared layer"
    );
    assert_eq!(ra.blobs_mounted + rb.blobs_mounted, 1);
    for (repo, img) in [("runwhen/a", &a), ("runwhen/b", &b)] {
        let got = target.pusher().get_manifest(repo, "1").await.unwrap();
        assert_eq!(got.digest, img.digest);
    }
}

#[tokio::test]
async fn a_corrupt_blob_aborts_the_image_and_leaves_the_tag_alone() {
    let (upstream, target) = registries().await;
    let index = TestIndex::multi_arch(7, MediaKind::Oci, false);
    let old = TestIndex::multi_arch(8, MediaKind::Oci, false);
    upstream
        .pusher()
        .push_index("vendor/app", "2.0", &index)
        .await;
    target
        .pusher()
        .push_index("runwhen/app", "kept", &old)
        .await;
    let proxy = FaultProxy::start(&upstream.base_url()).await;
    let layer = &index.images[1].layers[0].digest;
    proxy.add(Fault::corrupt_blob(100).path(layer));
    let source = reference(&proxy.host(), "vendor/app", "2.0");

    for tag in ["2.0", "kept"] {
        let err = copier(CopyOptions::default())
            .copy_to(&source, &to_registry(&target.host(), "runwhen/app", tag))
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "copy of {source} to {}/runwhen/app:{tag} failed:",
                target.host()
            )),
            "{message}"
        );
        assert!(message.contains(&format!("blob {layer}")), "{message}");
        assert!(message.contains("digest mismatch"), "{message}");
        assert!(
            message.ends_with("the target tag was left untouched"),
            "{message}"
        );
        assert!(err.is_digest_mismatch() && err.tag_untouched());
        assert!(err.registry_error().is_some());
    }
    assert!(
        target
            .pusher()
            .get_manifest("runwhen/app", "2.0")
            .await
            .is_none(),
        "the new tag is absent"
    );
    let kept = target
        .pusher()
        .get_manifest("runwhen/app", "kept")
        .await
        .unwrap();
    assert_eq!(
        kept.digest, old.digest,
        "the existing tag still holds the old image"
    );
    assert!(!target.pusher().blob_exists("runwhen/app", layer).await);
    assert!(proxy.count("GET", layer) >= 1);

    // Into a layout: no tag, no blob file, no temporary file left behind.
    let dir = tempfile::tempdir().unwrap();
    let err = copier(CopyOptions::default())
        .copy_to(&source, &to_layout(dir.path(), "runwhen/app", "2.0"))
        .await
        .unwrap_err();
    assert!(err.is_digest_mismatch(), "{err}");
    let layout = Layout::new(dir.path());
    assert_eq!(layout.tag_digest("runwhen/app", "2.0").unwrap(), None);
    // Blobs in flight when the copy stopped finish their file task, then remove their
    // temporary file: wait for that, bounded.
    let leftovers = || -> Vec<String> {
        std::fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.') || n == layer.trim_start_matches("sha256:"))
            .collect()
    };
    for _ in 0..50 {
        if leftovers().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}

#[tokio::test]
async fn copying_again_transfers_no_blob() {
    let (upstream, target) = registries().await;
    let index = TestIndex::multi_arch(9, MediaKind::Oci, true);
    upstream
        .pusher()
        .push_index("vendor/app", "3.0", &index)
        .await;
    let source = reference(&upstream.host(), "vendor/app", "3.0");
    let dest = to_registry(&target.host(), "runwhen/app", "3.0");
    let first = copier(CopyOptions::default())
        .copy_to(&source, &dest)
        .await
        .unwrap();
    assert!(first.blobs_copied > 0);

    // A new run (nothing remembered), forced to walk the image: every blob HEAD-skipped.
    let mark = target.log_mark().await;
    let forced = CopyOptions {
        force: true,
        ..CopyOptions::default()
    };
    let again = copier(forced).copy_to(&source, &dest).await.unwrap();
    assert_eq!(
        (again.blobs_copied, again.blobs_mounted, again.bytes),
        (0, 0, 0)
    );
    assert_eq!(again.blobs_present, first.blobs_copied);
    let requests = target.requests_since(mark).await;
    assert_eq!(upload_starts(&requests), 0);
    assert!(requests.iter().all(|r| !r.is_mount()));
    assert!(
        requests
            .iter()
            .all(|r| r.method != "PATCH" && !r.path.contains("/blobs/uploads/"))
    );

    // Unforced, with the digest known: one HEAD of the target tag, nothing else.
    let mark = target.log_mark().await;
    let pinned = source.with_digest(first.digest.clone());
    let noop = copier(CopyOptions::default())
        .copy_to(&pinned, &dest)
        .await
        .unwrap();
    assert_eq!((noop.manifests_written, noop.blobs_present), (0, 0));
    assert_eq!(noop.digest, first.digest);
    let requests = target.requests_since(mark).await;
    let work: Vec<_> = requests.iter().filter(|r| r.path != "/v2/").collect();
    assert_eq!(work.len(), 1, "{work:?}");
    assert_eq!(work[0].method, "HEAD");
}

#[tokio::test]
async fn a_layout_target_is_readable_by_skopeo() {
    let (upstream, _target) = registries().await;
    let index = TestIndex::multi_arch(12, MediaKind::Oci, true);
    let single = ImageBuilder::new(13).build();
    let docker = TestIndex::multi_arch(15, MediaKind::Docker, false);
    upstream
        .pusher()
        .push_index("vendor/legacy", "1", &docker)
        .await;
    upstream
        .pusher()
        .push_index("vendor/app", "1.0", &index)
        .await;
    upstream
        .pusher()
        .push_image("vendor/tool", "2", &single)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let copier = copier(CopyOptions::default());

    let copied = copier
        .copy_to(
            &reference(&upstream.host(), "vendor/app", "1.0"),
            &to_layout(dir.path(), "runwhen/app", "1.0"),
        )
        .await
        .unwrap();
    copier
        .copy_to(
            &reference(&upstream.host(), "vendor/tool", "2"),
            &to_layout(dir.path(), "runwhen/tool", "2"),
        )
        .await
        .unwrap();

    assert_eq!(copied.digest.to_string(), index.digest);
    let marker = std::fs::read_to_string(dir.path().join("oci-layout")).unwrap();
    assert_eq!(marker, r#"{"imageLayoutVersion":"1.0.0"}"#);
    let layout = dir.path().display().to_string();
    let raw = skopeo(&["inspect", "--raw", &format!("oci:{layout}:runwhen/app:1.0")]);
    assert_eq!(raw, index.manifest.to_vec());
    let raw = skopeo(&["inspect", "--raw", &format!("oci:{layout}:runwhen/tool:2")]);
    assert_eq!(raw, single.manifest.to_vec());
    let out = tempfile::tempdir().unwrap();
    let dest = format!("dir:{}", out.path().join("app").display());
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        &format!("oci:{layout}:runwhen/app:1.0"),
        &dest,
    ]);
    let amd64 = index.image_for("linux", "amd64").unwrap();
    let layer_file = out
        .path()
        .join("app")
        .join(amd64.layers[0].digest.trim_start_matches("sha256:"));
    assert_eq!(
        std::fs::read(layer_file).unwrap(),
        amd64.layers[0].bytes.to_vec()
    );

    // Docker media types are kept as they are (digests preserved, the entry says the
    // true type); skopeo 1.9 only addresses OCI-typed entries, so our reader checks it.
    let legacy = copier
        .copy_to(
            &reference(&upstream.host(), "vendor/legacy", "1"),
            &to_layout(dir.path(), "runwhen/legacy", "1"),
        )
        .await
        .unwrap();
    assert_eq!(legacy.digest.to_string(), docker.digest);
    let entries = reader_entries(dir.path());
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert!(entries.contains(&("runwhen/legacy:1".to_string(), docker.media_type.clone())));

    // The read side sees every name; copying again writes nothing.
    let reader = Layout::new(dir.path());
    assert_eq!(
        reader.tag_digest("runwhen/app", "1.0").unwrap(),
        Some(copied.digest.clone())
    );
    assert_eq!(
        reader
            .tag_digest("runwhen/tool", "2")
            .unwrap()
            .unwrap()
            .to_string(),
        single.digest
    );
    let again = copier
        .copy_to(
            &reference(&upstream.host(), "vendor/app", "1.0"),
            &to_layout(dir.path(), "runwhen/app", "1.0"),
        )
        .await
        .unwrap();
    assert_eq!(again.manifests_written, 0);
}

/// `(ref name, media type)` of every `index.json` entry.
fn reader_entries(dir: &std::path::Path) -> Vec<(String, String)> {
    let index = Layout::new(dir).index().unwrap();
    index
        .manifests
        .iter()
        .map(|e| (e.annotations[REF_NAME].clone(), e.media_type.clone()))
        .collect()
}

#[tokio::test]
async fn images_copied_at_once_into_one_layout_keep_every_tag() {
    let (upstream, _unused) = registries().await;
    let (a, b) = sharing_a_layer();
    upstream.pusher().push_image("vendor/a", "1", &a).await;
    upstream.pusher().push_image("vendor/b", "1", &b).await;
    let dir = tempfile::tempdir().unwrap();
    let copier = copier(CopyOptions::default());
    let targets: Vec<To> = (0..6)
        .map(|i| to_layout(dir.path(), &format!("runwhen/app{i}"), "1"))
        .collect();
    let sources = [
        reference(&upstream.host(), "vendor/a", "1"),
        reference(&upstream.host(), "vendor/b", "1"),
    ];
    let copies = targets
        .iter()
        .enumerate()
        .map(|(i, t)| copier.copy_to(&sources[i % 2], t));
    let results = futures::future::join_all(copies).await;
    let copied: usize = results
        .iter()
        .map(|r| r.as_ref().unwrap().blobs_copied)
        .sum();
    assert_eq!(
        copied, 3,
        "two configs and the shared layer, each written once"
    );

    let entries = reader_entries(dir.path());
    assert_eq!(entries.len(), 6, "{entries:?}");
    let layout = dir.path().display().to_string();
    for i in 0..6 {
        let raw = skopeo(&[
            "inspect",
            "--raw",
            &format!("oci:{layout}:runwhen/app{i}:1"),
        ]);
        let want = if i % 2 == 0 { &a } else { &b };
        assert_eq!(raw, want.manifest.to_vec());
    }
}
