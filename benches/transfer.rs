//! What transfer discovery and comparison cost: requests and time for 500 repositories
//! of 20 tags each (`TRANSFER_BENCH_REPOS`, `TRANSFER_BENCH_TAGS` change the sizes),
//! every tag present on both sides (the most a comparison has to read).
//!
//! 1. Registry to registry: two real loopback docker-registry processes.
//! 2. ACR to ACR: both sides read through the harness's ACR stand-in (`/acr/v1/_catalog`
//!    and `_tags`), as two stores of one registry.
//!
//! Run: `cargo bench --bench transfer`. It prints a table; the README quotes it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use acr_sync::config::TargetRegistry;
use acr_sync::registry::{Client, ClientConfig, Credentials, RegistrySettings};
use acr_sync::store::Store;
use acr_sync::transfer::{self, Selection};
use acr_sync_testkit::{
    AzureOptions, AzureStandIn, ImageBuilder, Pusher, Registry, RegistryOptions,
};
use futures::stream::{self, StreamExt as _};

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `repos` repositories (`team{i}/app`) of `tags` tags each, one image per repository.
async fn fill(pusher: &Pusher, repos: usize, tags: usize) {
    stream::iter(0..repos)
        .map(|i| async move {
            let repo = format!("team{i:03}/app");
            let image = ImageBuilder::new(i as u64).random_layer(256).build();
            let digest = pusher.push_image(&repo, "t00", &image).await;
            let more: Vec<String> = (1..tags).map(|t| format!("t{t:02}")).collect();
            pusher.tags_many(&repo, &digest, &more).await;
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
}

struct Row {
    what: &'static str,
    took: Duration,
    entries: usize,
    up_to_date: usize,
    requests: String,
}

#[tokio::main]
async fn main() {
    let repos = size("TRANSFER_BENCH_REPOS", 500);
    let tags = size("TRANSFER_BENCH_TAGS", 20);
    eprintln!("filling {repos} repositories x {tags} tags on each side ...");
    let rows = vec![
        registry_to_registry(repos, tags).await,
        acr_to_acr(repos, tags).await,
    ];
    println!("\n{repos} repositories x {tags} tags, every tag on both sides\n");
    println!("| what | time | tags compared | up to date | requests |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.2} s | {} | {} | {} |",
            r.what,
            r.took.as_secs_f64(),
            r.entries,
            r.up_to_date,
            r.requests
        );
    }
}

async fn registry_to_registry(repos: usize, tags: usize) -> Row {
    let (source, target) = tokio::join!(
        Registry::start(RegistryOptions::anonymous()),
        Registry::start(RegistryOptions::anonymous())
    );
    let (sp, tp) = (source.pusher(), target.pusher());
    tokio::join!(fill(&sp, repos, tags), fill(&tp, repos, tags));
    let client = Client::new(ClientConfig::default()).unwrap();
    let src = Store::open(&TargetRegistry::parse(&source.host()).unwrap(), &client);
    let dst = Store::open(&TargetRegistry::parse(&target.host()).unwrap(), &client);
    let (smark, tmark) = (source.log_mark().await, target.log_mark().await);
    let started = Instant::now();
    let discovery = transfer::discover(&src, &dst, &Selection::default())
        .await
        .unwrap();
    let took = started.elapsed();
    let kinds = |requests: Vec<acr_sync_testkit::LoggedRequest>| {
        let mut by: BTreeMap<&'static str, usize> = BTreeMap::new();
        for r in &requests {
            let kind = if r.path.contains("/_catalog") {
                "catalog"
            } else if r.path.contains("/tags/list") {
                "tags/list"
            } else if r.method == "HEAD" {
                "HEAD"
            } else {
                "other"
            };
            *by.entry(kind).or_default() += 1;
        }
        by.iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let requests = format!(
        "source: {}; target: {}",
        kinds(source.requests_since(smark).await),
        kinds(target.requests_since(tmark).await)
    );
    summarize("registry to registry", took, &discovery, requests)
}

async fn acr_to_acr(repos: usize, tags: usize) -> Row {
    let az = AzureStandIn::start(AzureOptions::default()).await;
    fill(&az.registry().pusher(), repos, tags).await;
    let login_server = az.login_server();
    let (user, password) = az.options().admin.clone();
    let mut config = ClientConfig::default();
    config.registries.insert(
        login_server.clone(),
        RegistrySettings {
            credentials: Some(Credentials::new(user, password)),
            ..RegistrySettings::default()
        },
    );
    let client = Client::new(config).unwrap();
    let name = acr_sync_azure::AcrName::parse(&az.options().registry_name).unwrap();
    let acr = TargetRegistry::acr(name, login_server);
    let (src, dst) = (Store::open(&acr, &client), Store::open(&acr, &client));
    let before = az.requests().len();
    let started = Instant::now();
    let discovery = transfer::discover(&src, &dst, &Selection::default())
        .await
        .unwrap();
    let took = started.elapsed();
    let requests: Vec<_> = az.requests().into_iter().skip(before).collect();
    let answered = |needle: &str| {
        requests
            .iter()
            .filter(|r| r.path.contains(needle) && r.status != 401)
            .count()
    };
    let challenges = requests.iter().filter(|r| r.status == 401).count();
    let tokens = requests
        .iter()
        .filter(|r| r.path == "/oauth2/token")
        .count();
    let v2 = requests
        .iter()
        .filter(|r| r.path.starts_with("/v2/"))
        .count();
    let requests = format!(
        "{} _catalog + {} _tags (both sides), {} /v2/; plus {} 401 challenges and {} token requests (one per repository scope)",
        answered("/_catalog"),
        answered("/_tags"),
        v2,
        challenges,
        tokens
    );
    summarize("ACR to ACR (`_tags`)", took, &discovery, requests)
}

fn summarize(
    what: &'static str,
    took: Duration,
    discovery: &transfer::Discovery,
    requests: String,
) -> Row {
    let entries = discovery.plan.entries.len();
    let up_to_date = discovery
        .plan
        .entries
        .iter()
        .filter(|e| matches!(e.status, acr_sync::plan::Status::UpToDate))
        .count();
    assert!(
        discovery.plan.source_failures.is_empty(),
        "{:?}",
        discovery.plan.source_failures
    );
    Row {
        what,
        took,
        entries,
        up_to_date,
        requests,
    }
}
