//! The SLI check against real docker-registry processes: one as upstream (behind the fault
//! proxy, which pages tags/list like a registry with a page limit), one as target.

mod common;

use acr_sync::failure::FailureClass;
use acr_sync::plan::{Reason, Stage, Status};
use acr_sync::report;
use acr_sync_testkit::{Fault, FaultProxy, MediaKind, Registry, RegistryOptions, TestIndex};
use chrono::{TimeZone, Utc};

use common::{CodeCollections, client, push_codecollections, run_check, settings};

struct Fixture {
    upstream: Registry,
    proxy: FaultProxy,
    target: Registry,
    content: CodeCollections,
    dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    let content = push_codecollections(&upstream, 250).await;
    let proxy = FaultProxy::start(&upstream.base_url()).await;
    proxy.add(Fault::paginate_tags(Some(100)));
    let target = Registry::start(RegistryOptions::anonymous()).await;
    Fixture {
        upstream,
        proxy,
        target,
        content,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Fixture {
    fn yaml(&self, images: &str) -> String {
        format!(
            "target: {{registry: \"{}\", repository_path: runwhen}}\n\
             codecollections:\n  source: \"{}/public-images\"\n  ref: main\n  architecture: amd64\n  images: [{images}]\n\
             network: {{retry_for: 2s}}\n\
             output_dir: \"{}\"\n",
            self.target.host(),
            self.proxy.host(),
            self.dir.path().display()
        )
    }
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap()
}

#[tokio::test]
async fn chooses_the_sibling_with_the_builds_digest_across_pages() {
    let f = fixture().await;
    let s = settings(f.dir.path(), &f.yaml("cc-one, cc-two"));
    let plan = run_check(&s, &client(&s), now()).await;

    assert_eq!(plan.entries.len(), 2, "{plan:#?}");
    let one = &plan.entries[0];
    assert_eq!(
        one.source.tag(),
        Some("main-aaaaaaa"),
        "same index digest as main-latest"
    );
    assert_eq!(
        one.source_digest.as_ref().unwrap().to_string(),
        f.content.one.digest
    );
    let two = &plan.entries[1];
    assert_eq!(
        two.source.tag(),
        Some("main-ddddddd"),
        "the amd64 child of main-latest"
    );
    let amd64 = f.content.two.image_for("linux", "amd64").unwrap();
    assert_eq!(
        two.source_digest.as_ref().unwrap().to_string(),
        amd64.digest
    );
    for entry in &plan.entries {
        assert_eq!(
            entry.status,
            Status::Outdated {
                reason: Reason::MissingTag
            }
        );
        let target = entry.target.as_ref().unwrap();
        assert_eq!(target.repository, format!("runwhen/{}", entry.slug));
        assert_eq!(Some(target.tag.as_str()), entry.source.tag());
    }
    // 255 tags in pages of 100: the whole list was read, through every page.
    assert!(f.proxy.count("GET", "/v2/public-images/cc-one/tags/list") >= 3);
    // The decoys were never read: candidates are only `main-<hex>` tags.
    assert_eq!(f.proxy.count("HEAD", "amd64-main"), 0);
    assert_eq!(f.proxy.count("GET", "amd64-main"), 0);
}

#[tokio::test]
async fn the_count_follows_the_state_of_the_target() {
    let f = fixture().await;
    let s = settings(f.dir.path(), &f.yaml("cc-one, cc-two"));
    let c = client(&s);
    let target = f.target.pusher();
    let amd64 = f.content.two.image_for("linux", "amd64").unwrap();

    assert_eq!(run_check(&s, &c, now()).await.outdated(), 2, "empty target");

    target
        .push_index("runwhen/cc-one", "main-aaaaaaa", &f.content.one)
        .await;
    let plan = run_check(&s, &c, now()).await;
    assert_eq!(plan.outdated(), 1, "partly synced: {plan:#?}");
    assert_eq!(plan.entries[0].status, Status::UpToDate);

    // The right tag at a wrong digest is outdated, and says what the target holds.
    let wrong = f.content.old.image_for("linux", "amd64").unwrap();
    target
        .push_image("runwhen/cc-two", "main-ddddddd", wrong)
        .await;
    let plan = run_check(&s, &c, now()).await;
    assert_eq!(plan.outdated(), 1);
    let two = &plan.entries[1];
    assert_eq!(
        two.status,
        Status::Outdated {
            reason: Reason::DigestDiffers
        }
    );
    assert_eq!(
        two.target_digest.as_ref().unwrap().to_string(),
        wrong.digest
    );
    assert!(
        two.source_created.is_some() && two.target_created.is_some(),
        "dates are read for outdated images"
    );

    // The JSON files of the seed, for this state.
    report::write_files(&plan, &s.target.registry, &s.output_dir).unwrap();
    let cc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.dir.path().join(report::CC_FILE)).unwrap())
            .unwrap();
    let records = cc.as_array().unwrap();
    assert_eq!(records.len(), 1, "{cc:#}");
    let record = &records[0];
    assert_eq!(record["slug"], "cc-two");
    assert_eq!(
        record["source"],
        format!("{}/public-images/cc-two:main-ddddddd", f.proxy.host())
    );
    assert_eq!(
        record["destination"],
        format!("{}/runwhen/cc-two:main-ddddddd", f.target.host())
    );
    assert_eq!(record["status"], "outdated");
    assert_eq!(record["reason"], "digest_differs");
    assert_eq!(record["source_digest"], amd64.digest);
    assert_eq!(record["target_digest"], wrong.digest);
    let images: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.dir.path().join(report::IMAGES_FILE)).unwrap())
            .unwrap();
    assert_eq!(images, serde_json::json!({}));

    target
        .push_image("runwhen/cc-two", "main-ddddddd", amd64)
        .await;
    let mark = f.target.log_mark().await;
    let plan = run_check(&s, &c, now()).await;
    assert_eq!(plan.outdated(), 0, "fully synced: {plan:#?}");
    assert!(plan.is_complete());
    // An up-to-date check reads the target with one HEAD per image, nothing else.
    let requests = f.target.requests_since(mark).await;
    let reads: Vec<_> = requests.iter().filter(|r| r.path != "/v2/").collect();
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert!(reads.iter().all(|r| r.method == "HEAD"), "{reads:?}");
}

#[tokio::test]
async fn missing_latest_and_unreachable_upstream_are_reported_not_dropped() {
    let f = fixture().await;
    let closed = acr_sync_testkit::free_port();
    let yaml = format!(
        "{}images:\n  - ref: \"127.0.0.1:{closed}/vendor/app:1.0\"\n",
        f.yaml("cc-one, cc-nolatest")
    );
    let s = settings(f.dir.path(), &yaml);
    let plan = run_check(&s, &client(&s), now()).await;

    assert_eq!(plan.entries.len(), 3, "{plan:#?}");
    assert_eq!(plan.outdated(), 1);
    assert_eq!(plan.failed(), 2);
    let missing = &plan.entries[1];
    let Status::Failed { stage, error, .. } = &missing.status else {
        panic!("{missing:?}")
    };
    assert_eq!(*stage, Stage::Resolve);
    assert!(
        error.contains("public-images/cc-nolatest:main-latest"),
        "{error}"
    );
    assert!(error.contains("REF"), "{error}");
    let unreachable = &plan.entries[2];
    let Status::Failed { error, .. } = &unreachable.status else {
        panic!("{unreachable:?}")
    };
    assert!(error.contains(&format!("127.0.0.1:{closed}")), "{error}");
    assert!(error.contains("vendor/app"), "{error}");

    let text = report::summary(&plan, &s.target.registry, false);
    // 1 outdated and 2 unknown: the last line never reads a mirror it could not see as
    // healthy, and the line above says which part is which.
    assert!(text.ends_with("\n3\n"), "{text}");
    assert!(
        text.contains(
            "1 of 3 images outdated, 2 could not be checked; the count below includes those 2"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn explicit_images_follow_their_rule() {
    let f = fixture().await;
    let p = f.upstream.pusher();
    let versions = ["0.149.0", "0.150.0", "0.150.1", "0.151.0-rc.1", "latest"];
    for (i, tag) in versions.iter().enumerate() {
        let index = TestIndex::multi_arch(100 + i as u64, MediaKind::Oci, false);
        p.push_index("otel/collector", tag, &index).await;
    }
    let yaml = format!(
        "{}images:\n  - ref: \"{}/otel/collector\"\n    semver: \">=0.150.0\"\n    latest: 2\n  - ref: \"{}/otel/collector:0.149.0\"\n",
        f.yaml(""),
        f.proxy.host(),
        f.proxy.host()
    );
    let s = settings(f.dir.path(), &yaml);
    let plan = run_check(&s, &client(&s), now()).await;
    let tags: Vec<_> = plan
        .entries
        .iter()
        .map(|e| e.source.tag().unwrap().to_string())
        .collect();
    assert_eq!(tags, ["0.150.1", "0.150.0", "0.149.0"]);
    assert_eq!(plan.outdated(), 3);
    let images = report::images_json(&plan, &s.target.registry);
    let key = format!("{}/otel/collector:0.150.1", f.proxy.host());
    assert_eq!(images[&key]["update_required"], true, "{images:#}");
    assert_eq!(
        images[&key]["private_image"],
        format!("{}/runwhen/collector:0.150.1", f.target.host())
    );
}

#[tokio::test]
async fn date_tags_count_the_digest_under_any_tag() {
    let f = fixture().await;
    let latest = TestIndex::multi_arch(7, MediaKind::Oci, false);
    f.upstream
        .pusher()
        .push_index("vendor/tool", "latest", &latest)
        .await;
    let yaml = format!(
        "{}images:\n  - ref: \"{}/vendor/tool\"\n",
        f.yaml(""),
        f.proxy.host()
    );
    let s = common::settings_with_env(f.dir.path(), &yaml, &[("USE_DATE_TAG", "true")]);
    let c = client(&s);

    let plan = run_check(&s, &c, now()).await;
    let entry = &plan.entries[0];
    assert_eq!(entry.target.as_ref().unwrap().tag, "20261124080000");
    assert_eq!(
        entry.status,
        Status::Outdated {
            reason: Reason::DigestAbsent
        }
    );

    // Imported earlier under another date tag: up to date, whatever today's tag is.
    f.target
        .pusher()
        .push_index("runwhen/tool", "20250101000000", &latest)
        .await;
    let plan = run_check(&s, &c, now()).await;
    assert_eq!(plan.entries[0].status, Status::UpToDate);
}

#[tokio::test]
async fn a_google_digest_map_resolves_siblings_without_heads() {
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    let content = push_codecollections(&upstream, 20).await;
    // Google Artifact Registry's tags/list, stood in for by the proxy.
    let proxy = FaultProxy::start(&upstream.base_url()).await;
    proxy.add(Fault::google_tags_map(1_700_000_000_000));
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture {
        upstream,
        proxy,
        target,
        content,
        dir,
    };
    let s = settings(f.dir.path(), &f.yaml("cc-one, cc-two"));
    let plan = run_check(&s, &client(&s), now()).await;

    assert_eq!(plan.entries[0].source.tag(), Some("main-aaaaaaa"));
    assert_eq!(plan.entries[1].source.tag(), Some("main-ddddddd"));
    let amd64 = f.content.two.image_for("linux", "amd64").unwrap();
    assert_eq!(
        plan.entries[1].source_digest.as_ref().unwrap().to_string(),
        amd64.digest
    );
    let created = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
    assert_eq!(
        plan.entries[0].source_created,
        Some(created),
        "dates come with the map"
    );

    let seen = f.proxy.seen();
    let one: Vec<_> = seen
        .iter()
        .filter(|r| r.path.contains("/cc-one/"))
        .collect();
    assert_eq!(one.len(), 1, "one tags/list and nothing else: {one:?}");
    let two: Vec<_> = seen
        .iter()
        .filter(|r| r.path.contains("/cc-two/"))
        .collect();
    assert_eq!(
        two.len(),
        2,
        "tags/list and the index, to learn its amd64 child: {two:?}"
    );
    assert!(seen.iter().all(|r| r.method != "HEAD"), "{seen:?}");
}

#[tokio::test]
async fn two_upstreams_for_one_target_tag_are_refused_and_duplicates_count_once() {
    let f = fixture().await;
    let image = TestIndex::multi_arch(40, MediaKind::Oci, false);
    let other = TestIndex::multi_arch(41, MediaKind::Oci, false);
    f.upstream
        .pusher()
        .push_index("vendor/app", "1.0", &image)
        .await;
    f.upstream
        .pusher()
        .push_index("other/app", "1.0", &other)
        .await;
    f.upstream
        .pusher()
        .push_index("vendor/solo", "2.0", &image)
        .await;
    let host = f.proxy.host();
    let yaml = format!(
        "{}images:\n  - ref: \"{host}/vendor/app:1.0\"\n  - ref: \"{host}/other/app:1.0\"\n  - ref: \"{host}/vendor/solo:2.0\"\n  - ref: \"{host}/vendor/solo\"\n    tag: \"2.0\"\n",
        f.yaml("")
    );
    let s = settings(f.dir.path(), &yaml);
    let plan = run_check(&s, &client(&s), now()).await;

    assert_eq!(
        plan.entries.len(),
        3,
        "the duplicate solo entry counts once: {plan:#?}"
    );
    assert_eq!(plan.outdated(), 1);
    for entry in &plan.entries[..2] {
        let Status::Failed { error, .. } = &entry.status else {
            panic!("{entry:?}")
        };
        assert!(error.contains(&format!("{host}/vendor/app:1.0")), "{error}");
        assert!(error.contains(&format!("{host}/other/app:1.0")), "{error}");
        assert!(error.contains("runwhen/app:1.0"), "{error}");
    }
}

#[tokio::test]
async fn chart_images_are_sources_and_a_broken_chart_is_reported() {
    let f = fixture().await;
    let web = TestIndex::multi_arch(50, MediaKind::Oci, false);
    f.upstream
        .pusher()
        .push_index("charts-images/web", "3.1", &web)
        .await;
    let chart = f.dir.path().join("webchart");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: webchart\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("values.yaml"),
        "image:\n  registry: docker.io\n  repository: charts-images/web\n  tag: \"3.1\"\nsidecar:\n  enabled: false\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/deploy.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: \"{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n{{- if .Values.sidecar.enabled }}\n        - name: sidecar\n          image: {{ required \"sidecar.image is required\" .Values.sidecar.image }}\n{{- end }}\n",
    )
    .unwrap();
    let yaml = format!(
        "{}charts:\n  - chart: webchart\n    set: {{image.registry: \"{}\"}}\n  - chart: webchart\n    set: {{sidecar.enabled: \"true\"}}\n",
        f.yaml(""),
        f.proxy.host()
    );
    // The second entry renders the same chart with the sidecar on and no sidecar image,
    // which `required` refuses.
    let s = settings(f.dir.path(), &yaml);
    let plan = run_check(&s, &client(&s), now()).await;

    assert_eq!(plan.entries.len(), 1, "{plan:#?}");
    let entry = &plan.entries[0];
    assert_eq!(entry.category, acr_sync::plan::Category::Chart);
    assert_eq!(
        entry.source.to_string(),
        format!("{}/charts-images/web:3.1", f.proxy.host())
    );
    assert_eq!(
        entry.status,
        Status::Outdated {
            reason: Reason::MissingTag
        }
    );
    assert_eq!(plan.source_failures.len(), 1);
    let failure = &plan.source_failures[0];
    assert!(
        failure.error.contains("templates/deploy.yaml:"),
        "{}",
        failure.error
    );
    assert!(
        failure.error.contains("sidecar.image is required"),
        "{}",
        failure.error
    );
    assert_eq!(plan.failed(), 1);
    let images = report::images_json(&plan, &s.target.registry);
    assert_eq!(
        images["chart:webchart"]["update_required"],
        serde_json::Value::Null,
        "{images:#}"
    );
    assert!(
        images["chart:webchart"]["error"]
            .as_str()
            .unwrap()
            .contains("required")
    );
}

#[tokio::test]
async fn a_sibling_index_with_the_same_architecture_image_matches() {
    use acr_sync_testkit::{ImageBuilder, IndexBuilder};
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    let amd64 = ImageBuilder::new(60).platform("linux", "amd64").build();
    let arm_a = ImageBuilder::new(61).platform("linux", "arm64").build();
    let arm_b = ImageBuilder::new(62).platform("linux", "arm64").build();
    let latest = IndexBuilder::new(MediaKind::Oci)
        .image(amd64.clone())
        .image(arm_a)
        .build();
    let rebuilt = IndexBuilder::new(MediaKind::Oci)
        .image(amd64)
        .image(arm_b)
        .build();
    let older = TestIndex::multi_arch(63, MediaKind::Oci, false);
    let p = upstream.pusher();
    p.push_index("public-images/cc-re", "main-latest", &latest)
        .await;
    p.push_index("public-images/cc-re", "main-1111111", &rebuilt)
        .await;
    p.push_index("public-images/cc-re", "main-2222222", &older)
        .await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    for google in [false, true] {
        let proxy = FaultProxy::start(&upstream.base_url()).await;
        if google {
            proxy.add(Fault::google_tags_map(1_700_000_000_000));
        }
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "target: {{registry: \"{}\"}}\ncodecollections: {{source: \"{}/public-images\", images: [cc-re]}}\nnetwork: {{retry_for: 2s}}\n",
            target.host(),
            proxy.host()
        );
        let s = settings(dir.path(), &yaml);
        let plan = run_check(&s, &client(&s), now()).await;
        let entry = &plan.entries[0];
        assert_eq!(
            entry.source.tag(),
            Some("main-1111111"),
            "google map: {google}: {plan:#?}"
        );
        assert_eq!(
            entry.source_digest.as_ref().unwrap().to_string(),
            rebuilt.digest
        );
    }
}

#[tokio::test]
async fn one_cause_for_every_image_is_said_once_at_the_top() {
    let f = fixture().await;
    let closed = acr_sync_testkit::free_port();
    let yaml = f
        .yaml("cc-one, cc-two")
        .replace(&f.target.host(), &format!("127.0.0.1:{closed}"))
        .replace("retry_for: 2s", "retry_for: 1s");
    let s = settings(f.dir.path(), &yaml);
    let plan = run_check(&s, &client(&s), now()).await;
    assert_eq!(plan.failed(), 2, "{plan:#?}");
    for entry in &plan.entries {
        let Status::Failed { failure, .. } = &entry.status else {
            panic!("{entry:?}")
        };
        assert_eq!(*failure, Some(FailureClass::Unreachable), "{entry:?}");
    }
    let text = report::summary(&plan, &s.target.registry, false);
    let first = text.lines().nth(1).unwrap();
    assert!(
        first.starts_with("every image failed for the same cause (unreachable)")
            && first.contains(&format!("127.0.0.1:{closed}")),
        "{text}"
    );
    assert_eq!(text.matches("every image failed").count(), 1, "{text}");
}
