//! Transfer's discovery and execution (library level) against real docker-registry
//! processes: what each side is asked, and that execution is the plan's own execute.

use std::collections::BTreeSet;

use acr_sync::config::TargetRegistry;
use acr_sync::copy::{Copier, CopyOptions};
use acr_sync::execute::{ExecuteOptions, Importer, Progress};
use acr_sync::plan::{Reason, Status};
use acr_sync::registry::{Client, ClientConfig};
use acr_sync::store::Store;
use acr_sync::transfer::{self, Selection, TransferAction, TransferOptions, TransferSummary};
use acr_sync_testkit::{ImageBuilder, LoggedRequest, Registry, RegistryOptions};

fn reads(requests: &[LoggedRequest], method: &str, needle: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.matches(method, needle))
        .count()
}

/// Carries `discovery` out into `dst` with the copy engine, as a transfer does, and
/// builds its report.
async fn copy_all(
    discovery: &transfer::Discovery,
    dst: &Store,
    client: &Client,
) -> transfer::TransferReport {
    let importer = Importer::Copy(Copier::new(client.clone(), CopyOptions::default()));
    let options = options(4, std::time::Duration::ZERO);
    let records = transfer::execute(
        &discovery.plan,
        dst,
        &importer,
        &options,
        &Progress::default(),
    )
    .await;
    transfer::report(discovery, &records, &importer, TransferSummary::default())
}

/// A transfer's options: `concurrency` images at once, `delay` between imports.
fn options(concurrency: usize, delay: std::time::Duration) -> TransferOptions {
    TransferOptions {
        execute: ExecuteOptions {
            dry_run: false,
            concurrency,
            deadline: None,
        },
        delay,
    }
}

#[tokio::test]
async fn discovery_costs_one_list_and_one_head_per_tag_on_each_side() {
    let (source, target) = tokio::join!(
        Registry::start(RegistryOptions::anonymous()),
        Registry::start(RegistryOptions::anonymous())
    );
    let (sp, tp) = (source.pusher(), target.pusher());
    let image = ImageBuilder::new(1).random_layer(1024).build();
    let other = ImageBuilder::new(2).random_layer(1024).build();
    let repos = ["team/app", "team/web", "tools/a/b"];
    for repo in repos {
        sp.push_image(repo, "1", &image).await;
        let digest = image.digest.clone();
        let tags: Vec<String> = (2..=5).map(|t| t.to_string()).collect();
        sp.tags_many(repo, &digest, &tags).await;
    }
    // The target holds two tags of team/app: one identical, one re-tagged, and a tag
    // the source lacks (never asked about).
    tp.push_image("team/app", "1", &image).await;
    tp.push_image("team/app", "2", &other).await;
    tp.push_image("team/app", "only-here", &other).await;

    let client = Client::new(ClientConfig::default()).unwrap();
    let src = Store::open(&TargetRegistry::parse(&source.host()).unwrap(), &client);
    let dst = Store::open(&TargetRegistry::parse(&target.host()).unwrap(), &client);
    let (smark, tmark) = (source.log_mark().await, target.log_mark().await);
    let discovery = transfer::discover(&src, &dst, &Selection::default())
        .await
        .unwrap();
    let (sreq, treq) = (
        source.requests_since(smark).await,
        target.requests_since(tmark).await,
    );

    assert_eq!(
        discovery.repositories,
        ["team/app", "team/web", "tools/a/b"]
    );
    assert_eq!(discovery.plan.entries.len(), 15);
    assert_eq!(reads(&sreq, "GET", "/v2/_catalog"), 1);
    assert_eq!(reads(&sreq, "GET", "/tags/list"), 3);
    assert_eq!(
        reads(&sreq, "HEAD", "/manifests/"),
        15,
        "one HEAD per source tag"
    );
    assert_eq!(reads(&treq, "GET", "/tags/list"), 3, "{treq:?}");
    assert_eq!(
        reads(&treq, "HEAD", "/manifests/"),
        2,
        "only target tags the source has are read"
    );
    let statuses: Vec<(String, Status)> = discovery
        .plan
        .entries
        .iter()
        .filter(|e| e.slug == "team/app")
        .map(|e| (e.target.as_ref().unwrap().tag.clone(), e.status.clone()))
        .collect();
    assert_eq!(statuses[0], ("1".into(), Status::UpToDate));
    assert_eq!(
        statuses[1],
        (
            "2".into(),
            Status::Outdated {
                reason: Reason::DigestDiffers
            }
        )
    );
    assert!(
        discovery
            .plan
            .entries
            .iter()
            .all(|e| e.source.digest() == e.source_digest.as_ref()),
        "sources are pinned by digest"
    );

    // Executed by the plan's execute with the copy engine.
    let report = copy_all(&discovery, &dst, &client).await;
    let count = |a| report.summary.actions.get(&a).copied().unwrap_or(0);
    assert_eq!(count(TransferAction::Skipped), 1);
    assert_eq!(count(TransferAction::Retagged), 1);
    assert_eq!(count(TransferAction::Copied), 13);
    let held: BTreeSet<String> = tp.tags("team/web").await.into_iter().collect();
    assert_eq!(held.len(), 5);
    assert_eq!(
        tp.get_manifest("team/app", "2").await.unwrap().digest,
        image.digest
    );
    assert_eq!(
        tp.get_manifest("team/app", "only-here")
            .await
            .unwrap()
            .digest,
        other.digest,
        "tags only the target has are left alone"
    );
}

#[tokio::test]
async fn delay_seconds_spaces_imports() {
    let (source, target) = tokio::join!(
        Registry::start(RegistryOptions::anonymous()),
        Registry::start(RegistryOptions::anonymous())
    );
    let image = ImageBuilder::new(3).random_layer(512).build();
    for tag in ["a", "b", "c"] {
        source.pusher().push_image("app", tag, &image).await;
    }
    let client = Client::new(ClientConfig::default()).unwrap();
    let src = Store::open(&TargetRegistry::parse(&source.host()).unwrap(), &client);
    let dst = Store::open(&TargetRegistry::parse(&target.host()).unwrap(), &client);
    let discovery = transfer::discover(&src, &dst, &Selection::default())
        .await
        .unwrap();
    let importer = Importer::Copy(Copier::new(client.clone(), CopyOptions::default()));
    let options = options(8, std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let records = transfer::execute(
        &discovery.plan,
        &dst,
        &importer,
        &options,
        &Progress::default(),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(records.len(), 3);
    assert!(
        took >= std::time::Duration::from_millis(600),
        "two pauses between three imports: {took:?}"
    );
    assert_eq!(target.pusher().tags("app").await.len(), 3);
}

/// An ACR as the source, read through its data plane (`/acr/v1/_catalog`, `_tags` with
/// digests) on the Azure stand-in, behind a fault proxy that throttles the first tag
/// listing as ACR does (429 with `Retry-After`); the target a plain registry.
#[tokio::test]
async fn an_acr_source_is_listed_by_its_data_plane_and_its_429s_are_waited_out() {
    use acr_sync::registry::{Credentials, RegistrySettings};
    use acr_sync_testkit::{AzureOptions, AzureStandIn, Fault, FaultProxy};

    let az = AzureStandIn::start(AzureOptions::default()).await;
    let sp = az.registry().pusher();
    let (a, b) = (
        ImageBuilder::new(31).random_layer(1024).build(),
        ImageBuilder::new(32).random_layer(1024).build(),
    );
    sp.push_image("team/app", "1.0", &a).await;
    sp.push_image("team/app", "2.0", &b).await;
    sp.push_image("tools/cli", "1", &b).await;
    let proxy = FaultProxy::start(&az.base_url()).await;
    proxy.add(Fault::too_many_requests(1, 1).path("/_tags"));
    let target = Registry::start(RegistryOptions::anonymous()).await;

    let (user, password) = az.options().admin.clone();
    let mut config = ClientConfig::default();
    config.registries.insert(
        proxy.host(),
        RegistrySettings {
            credentials: Some(Credentials::new(user, password)),
            ..RegistrySettings::default()
        },
    );
    let client = Client::new(config).unwrap();
    let name = acr_sync_azure::AcrName::parse(&az.options().registry_name).unwrap();
    let src = Store::open(&TargetRegistry::acr(name, proxy.host()), &client);
    let dst = Store::open(&TargetRegistry::parse(&target.host()).unwrap(), &client);
    let started = std::time::Instant::now();
    let discovery = transfer::discover(&src, &dst, &Selection::default())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "the Retry-After was honoured"
    );
    assert_eq!(discovery.repositories, ["team/app", "tools/cli"]);
    assert_eq!(discovery.plan.entries.len(), 3);
    assert!(discovery.plan.source_failures.is_empty());
    // One answered catalog (after the 401 challenge), each repository's tags and
    // digests in one answered listing (the throttled one asked again), no tag read one
    // by one.
    let answered = |needle: &str| {
        proxy
            .seen()
            .iter()
            .filter(|r| r.path.contains(needle) && r.status == 200)
            .count()
    };
    assert_eq!(answered("/acr/v1/_catalog"), 1, "{:?}", proxy.seen());
    assert_eq!(answered("/_tags"), 2, "{:?}", proxy.seen());
    assert_eq!(
        proxy.count("GET", "/_tags"),
        3,
        "one listing throttled, asked once more"
    );
    assert_eq!(proxy.count("HEAD", "/manifests/"), 0);

    let report = copy_all(&discovery, &dst, &client).await;
    assert_eq!(
        report.summary.actions.get(&TransferAction::Copied),
        Some(&3)
    );
    let tp = target.pusher();
    assert_eq!(
        tp.get_manifest("team/app", "2.0").await.unwrap().digest,
        b.digest
    );
    assert_eq!(
        tp.get_manifest("tools/cli", "1").await.unwrap().digest,
        b.digest
    );
}
