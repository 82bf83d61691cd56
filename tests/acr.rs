//! An ACR target through the harness's Azure stand-in: the SLI check with only Entra
//! credentials in the environment, one `_tags` request per repository, and importImage
//! syncing what the check found outdated until the target holds identical digests.

mod common;

use std::sync::Arc;
use std::time::Duration;

use acr_sync::config::Settings;
use acr_sync::plan::TargetImage;
use acr_sync::plan::{Reason, Status};
use acr_sync::report;
use acr_sync::store::Store;
use acr_sync_azure::{AcrImporter, ImportError, ImportMode};
use acr_sync_testkit::{
    AzureOptions, AzureStandIn, ImageBuilder, MediaKind, Registry, RegistryOptions, TestIndex,
};
use chrono::{TimeZone, Utc};

use common::{client, run_check, settings_with_env};

struct Fixture {
    az: AzureStandIn,
    upstream: Registry,
    app1: TestIndex,
    app2: TestIndex,
    tool: TestIndex,
    dir: tempfile::TempDir,
}

/// Upstream `team/app:1.0`, `team/app:2.0` and `team/tool:3`; the ACR already holds
/// `runwhen/app:1.0` (identical) and `runwhen/tool:3` at another digest.
async fn fixture() -> Fixture {
    let az = AzureStandIn::start(AzureOptions {
        retry_after: 0,
        ..AzureOptions::default()
    })
    .await;
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    let app1 = TestIndex::multi_arch(41, MediaKind::Oci, true);
    let app2 = TestIndex::multi_arch(42, MediaKind::Docker, false);
    let tool = TestIndex::multi_arch(43, MediaKind::Oci, false);
    let up = upstream.pusher();
    up.push_index("team/app", "1.0", &app1).await;
    up.push_index("team/app", "2.0", &app2).await;
    up.push_index("team/tool", "3", &tool).await;
    let target = az.registry().pusher();
    target.push_index("runwhen/app", "1.0", &app1).await;
    let stale = ImageBuilder::new(44).build();
    target.push_image("runwhen/tool", "3", &stale).await;
    Fixture {
        az,
        upstream,
        app1,
        app2,
        tool,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Fixture {
    fn yaml(&self) -> String {
        let up = self.upstream.host();
        format!(
            "target:\n  registry: \"{}\"\n  repository_path: runwhen\n  acr: {{name: {}, arm_endpoint: \"{}\"}}\n\
             images:\n  - ref: \"{up}/team/app\"\n    tag: \"1.0\"\n  - ref: \"{up}/team/app\"\n    tag: \"2.0\"\n  - ref: \"{up}/team/tool:3\"\n\
             network: {{retry_for: 2s}}\n\
             output_dir: \"{}\"\n",
            self.az.login_server(),
            self.az.options().registry_name,
            self.az.arm_endpoint(),
            self.dir.path().display()
        )
    }

    /// Settings with only the Entra client-secret environment (no registry credentials).
    fn settings(&self) -> Settings {
        let env = self.az.client_secret_env();
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        settings_with_env(self.dir.path(), &self.yaml(), &pairs)
    }

    fn importer(&self, s: &Settings) -> AcrImporter {
        let Some((name, login_server)) = s.target.registry.acr_name() else {
            panic!("the target is an ACR: {:?}", s.target.registry);
        };
        let credential = s.azure.credential.clone().expect("Entra credential");
        AcrImporter::new(Arc::clone(&credential), name.as_str(), login_server)
            .resource_group(s.azure.resource_group.clone())
            .subscription(s.target.subscription_id.clone())
            .timeout(Duration::from_secs(60))
    }
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap()
}

#[tokio::test]
async fn the_check_reads_one_tag_listing_per_repository_with_entra_only() {
    let f = fixture().await;
    let s = f.settings();
    assert!(s.target.registry.acr_name().is_some());
    let plan = run_check(&s, &client(&s), now()).await;
    assert!(plan.is_complete(), "{plan:#?}");
    assert_eq!(plan.outdated(), 2, "{plan:#?}");
    let by_tag = |repo: &str, tag: &str| {
        plan.entries
            .iter()
            .find(|e| {
                e.target
                    .as_ref()
                    .is_some_and(|t| t.repository == repo && t.tag == tag)
            })
            .unwrap_or_else(|| panic!("{repo}:{tag} in {plan:#?}"))
    };
    assert_eq!(by_tag("runwhen/app", "1.0").status, Status::UpToDate);
    assert_eq!(
        by_tag("runwhen/app", "2.0").status,
        Status::Outdated {
            reason: Reason::MissingTag
        }
    );
    let tool = by_tag("runwhen/tool", "3");
    assert_eq!(
        tool.status,
        Status::Outdated {
            reason: Reason::DigestDiffers
        }
    );
    assert!(tool.target_created.is_some(), "the listing's date is used");

    // One `_tags` answer per repository, and nothing else read from the target's /v2/.
    // A 401 comes first only while the client has not yet learnt the registry's
    // challenge (first contact; the two repositories are read concurrently).
    let listings = |repo: &str, status: u16| {
        f.az.requests()
            .iter()
            .filter(|r| r.path == format!("/acr/v1/{repo}/_tags") && r.status == status)
            .count()
    };
    for repo in ["runwhen/app", "runwhen/tool"] {
        assert_eq!(listings(repo, 200), 1, "{repo}: {:#?}", f.az.requests());
        assert!(listings(repo, 401) <= 1, "{repo}: {:#?}", f.az.requests());
    }
    assert_eq!(
        f.az.requests()
            .iter()
            .filter(|r| r.path.starts_with("/acr/v1/"))
            .count(),
        2 + listings("runwhen/app", 401) + listings("runwhen/tool", 401)
    );
    assert_eq!(f.az.count("HEAD", "/v2/runwhen/"), 0);
    assert_eq!(f.az.count("GET", "/v2/runwhen/"), 0);
    assert_eq!(f.az.count("POST", "/oauth2/exchange"), 1);

    let output = format!(
        "{plan:#?}\n{s:?}\n{}",
        report::summary(&plan, &s.target.registry, false)
    );
    for secret in f.az.secrets() {
        assert!(!output.contains(&secret), "secret leaked: {output}");
    }
}

#[tokio::test]
async fn import_image_syncs_the_outdated_images_to_identical_digests() {
    // The test runs on one thread: everything the library logs on the way is captured.
    let (logs, _guard) = acr_sync_testkit::CapturedLogs::start();
    let f = fixture().await;
    let s = f.settings();
    let c = client(&s);
    let plan = run_check(&s, &c, now()).await;
    let importer = f.importer(&s);
    let mut errors = Vec::new();
    for entry in plan.entries.iter().filter(|e| e.is_outdated()) {
        let target = entry.target.as_ref().unwrap();
        let source = entry
            .source
            .with_digest(entry.source_digest.clone().unwrap());
        // A tag holding other content is a re-tagged upstream: it must be replaced.
        let mode = match entry.status {
            Status::Outdated {
                reason: Reason::DigestDiffers,
            } => ImportMode::Force,
            _ => ImportMode::NoForce,
        };
        let first = importer
            .import_image(&source, &target.repository, &target.tag, mode)
            .await;
        if let Err(e) = first {
            errors.push(e.to_string());
        }
    }
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(f.az.imports(), 2);

    let again = run_check(&s, &client(&s), now()).await;
    assert_eq!(again.outdated(), 0, "{again:#?}");
    let pusher = f.az.registry().pusher();
    for (repo, tag, index) in [
        ("runwhen/app", "1.0", &f.app1),
        ("runwhen/app", "2.0", &f.app2),
        ("runwhen/tool", "3", &f.tool),
    ] {
        let got = pusher.get_manifest(repo, tag).await.unwrap();
        assert_eq!(got.digest, index.digest, "{repo}:{tag}");
    }

    // NoForce on a tag that now exists is a clear per-image error naming it.
    let source = plan.entries[0].source.clone();
    let err = importer
        .import_image(&source, "runwhen/app", "1.0", ImportMode::NoForce)
        .await
        .unwrap_err();
    assert!(matches!(err, ImportError::TagExists { .. }), "{err:?}");
    assert!(err.to_string().contains("runwhen/app:1.0"), "{err}");
    let text = format!("{err}\n{err:?}\n{importer:?}\n{s:?}\n{}", logs.text());
    let logged = logs.text();
    assert!(
        logged.contains("importImage"),
        "logs were captured: {logged}"
    );
    assert!(logged.contains("ACR refresh token exchanged"), "{logged}");
    for secret in f.az.secrets() {
        assert!(!text.contains(&secret), "secret leaked: {text}");
    }
}

#[tokio::test]
async fn basic_admin_credentials_also_work_for_the_check() {
    let f = fixture().await;
    let (user, password) = f.az.options().admin.clone();
    let yaml = format!(
        "{}registries:\n  \"{}\": {{username: {user}, password_env: ACR_ADMIN_PASSWORD}}\n",
        f.yaml(),
        f.az.login_server()
    );
    let s = settings_with_env(
        f.dir.path(),
        &yaml,
        &[("ACR_ADMIN_PASSWORD", password.as_str())],
    );
    assert!(
        s.azure.credential.is_none(),
        "no Entra identity in the environment"
    );
    let plan = run_check(&s, &client(&s), now()).await;
    assert!(plan.is_complete(), "{plan:#?}");
    assert_eq!(plan.outdated(), 2);
    assert_eq!(f.az.count("POST", "/oauth2/exchange"), 0);
}

#[tokio::test]
async fn auto_falls_back_to_the_copy_engine_for_more_than_50_manifests() {
    use acr_sync::copy::{Copier, CopyOptions};
    use acr_sync_azure::FallbackReason;
    use acr_sync_testkit::IndexBuilder;

    let f = fixture().await;
    let mut b = IndexBuilder::new(MediaKind::Oci);
    for i in 0..51 {
        b = b.image(
            ImageBuilder::new(200 + i)
                .platform("linux", &format!("arch{i}"))
                .build(),
        );
    }
    let big = b.build();
    f.upstream.pusher().push_index("team/big", "1", &big).await;
    let s = f.settings();
    let c = client(&s);
    let importer = f.importer(&s);
    let source =
        acr_sync::registry::Reference::parse(&format!("{}/team/big:1", f.upstream.host())).unwrap();
    let reason = importer.precheck(&c, &source).await.unwrap_err();
    assert_eq!(reason, FallbackReason::TooManyManifests(52));
    assert!(reason.to_string().contains("at most 50"), "{reason}");

    // The copy engine pushes through the same client: Entra credentials, exchanged.
    let copied = Copier::new(c.clone(), CopyOptions::default())
        .copy(
            &source,
            &Store::open(&s.target.registry, &c),
            &TargetImage {
                repository: "runwhen/big".into(),
                tag: "1".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(copied.digest.to_string(), big.digest);
    assert_eq!(f.az.imports(), 0, "ARM was not asked");
    let got =
        f.az.registry()
            .pusher()
            .get_manifest("runwhen/big", "1")
            .await
            .unwrap();
    assert_eq!(got.digest, big.digest);
}

#[tokio::test]
async fn a_pull_only_identity_reads_the_target_through_the_distribution_api() {
    // The identity may pull but not list (no metadata_read): the store falls back to a
    // HEAD per tag and leaves dates unknown, rather than failing the check.
    let az = AzureStandIn::start(AzureOptions {
        grant_metadata_read: false,
        ..AzureOptions::default()
    })
    .await;
    let img = ImageBuilder::new(8).build();
    let digest = az
        .registry()
        .pusher()
        .push_image("team/app", "v1", &img)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "target:\n  registry: \"{}\"\n  acr: {{name: {}, arm_endpoint: \"{}\"}}\n",
        az.login_server(),
        az.options().registry_name,
        az.arm_endpoint()
    );
    let env = az.client_secret_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let s = settings_with_env(dir.path(), &yaml, &pairs);
    let store = Store::open(&s.target.registry, &client(&s));
    let image = |tag: &str| TargetImage {
        repository: "team/app".into(),
        tag: tag.into(),
    };
    let found = store.tag_digest(&image("v1")).await.unwrap().unwrap();
    assert_eq!(found.to_string(), digest);
    assert!(store.tag_digest(&image("v2")).await.unwrap().is_none());
    assert!(store.holds_digest("team/app", &found).await.unwrap());
    let platform = acr_sync::registry::Platform::linux("amd64");
    assert!(
        store
            .created(&image("v1"), &platform)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        az.count("GET", "/acr/v1/team/app/_tags") >= 1,
        "the listing was tried"
    );
}
