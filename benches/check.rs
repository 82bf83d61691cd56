//! What a check costs: requests and time against real loopback docker-registry processes.
//!
//! 1. A check of 50 images that are all up to date (upstream tag HEAD + target HEAD each).
//! 2. Sibling resolution of a code collection in a repository of 2,000 tags: without a
//!    digest map (candidates HEADed), and with the digest map Google's registries send in
//!    tags/list (stood in for by the harness's fault proxy).
//!
//! Run: `cargo bench --bench check`. It prints a table; the README quotes it.

use std::time::Instant;

use acr_sync::check::check;
use acr_sync::config::{Env, Settings};
use acr_sync::registry::Client;
use acr_sync_testkit::{Fault, FaultProxy, MediaKind, Registry, RegistryOptions, TestIndex};
use chrono::Utc;

const IMAGES: usize = 50;
const TAGS: usize = 2000;

fn settings(dir: &std::path::Path, yaml: &str) -> Settings {
    let path = dir.join("workspace.yaml");
    std::fs::write(&path, yaml).unwrap();
    Settings::load(Some(&path), &Env::default()).unwrap()
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Registry::start(RegistryOptions::anonymous()).await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    up_to_date_check(&dir, &upstream, &target).await;
    sibling_resolution(&dir, &upstream, &target).await;
}

async fn up_to_date_check(dir: &tempfile::TempDir, upstream: &Registry, target: &Registry) {
    let index = TestIndex::multi_arch(1, MediaKind::Oci, false);
    let mut images = String::new();
    for i in 0..IMAGES {
        let repo = format!("vendor/app{i}");
        upstream.pusher().push_index(&repo, "1.0.0", &index).await;
        target
            .pusher()
            .push_index(&format!("runwhen/app{i}"), "1.0.0", &index)
            .await;
        images.push_str(&format!("  - ref: \"{}/{repo}:1.0.0\"\n", upstream.host()));
    }
    let s = settings(
        dir.path(),
        &format!(
            "target: {{registry: \"{}\"}}\nimages:\n{images}",
            target.host()
        ),
    );
    let client = Client::new(s.client_config()).unwrap();
    let (up_mark, target_mark) = (upstream.log_mark().await, target.log_mark().await);
    let started = Instant::now();
    let store = acr_sync::store::Store::open(&s.target.registry, &client);
    let plan = check(&s, &client, &store, Utc::now()).await;
    let elapsed = started.elapsed();
    assert_eq!((plan.outdated(), plan.failed()), (0, 0));
    let count = |reqs: Vec<acr_sync_testkit::LoggedRequest>| {
        reqs.iter().filter(|r| r.path != "/v2/").count()
    };
    let up = count(upstream.requests_since(up_mark).await);
    let tgt = count(target.requests_since(target_mark).await);
    println!(
        "check of {IMAGES} up-to-date images: {:.1} ms, {up} upstream + {tgt} target requests ({:.2} per image per side)",
        elapsed.as_secs_f64() * 1e3,
        (up + tgt) as f64 / (2 * IMAGES) as f64
    );
}

async fn sibling_resolution(dir: &tempfile::TempDir, upstream: &Registry, target: &Registry) {
    let latest = TestIndex::multi_arch(2, MediaKind::Oci, false);
    let old = TestIndex::multi_arch(3, MediaKind::Oci, false);
    let p = upstream.pusher();
    p.push_index("cc/big", "main-latest", &latest).await;
    p.push_index("cc/big", "0.0.0", &old).await;
    // 2,000 tags: most are older builds under `main-<hash>`, the match sits in the middle.
    let tags: Vec<String> = (0..TAGS)
        .map(|i| format!("main-{:07x}", i * 7919 + 0x100000))
        .collect();
    p.tags_many("cc/big", &old.digest, &tags).await;
    p.tag("cc/big", &latest.digest, &tags[TAGS / 2]).await;
    for (label, fault) in [
        ("no digest map", Fault::paginate_tags(Some(1000))),
        (
            "Google digest map",
            Fault::google_tags_map(1_700_000_000_000),
        ),
    ] {
        resolve_big(dir, upstream, target, label, fault, &tags[TAGS / 2]).await;
    }
}

async fn resolve_big(
    dir: &tempfile::TempDir,
    upstream: &Registry,
    target: &Registry,
    label: &str,
    fault: Fault,
    expected: &str,
) {
    let proxy = FaultProxy::start(&upstream.base_url()).await;
    proxy.add(fault);
    let s = settings(
        dir.path(),
        &format!(
            "target: {{registry: \"{}\"}}\ncodecollections: {{source: \"{}/cc\", images: [big]}}\n",
            target.host(),
            proxy.host()
        ),
    );
    let client = Client::new(s.client_config()).unwrap();
    let started = Instant::now();
    let store = acr_sync::store::Store::open(&s.target.registry, &client);
    let plan = check(&s, &client, &store, Utc::now()).await;
    let elapsed = started.elapsed();
    assert_eq!(plan.entries[0].source.tag(), Some(expected), "{plan:#?}");
    let seen = proxy.seen();
    let lists = seen
        .iter()
        .filter(|r| r.path.contains("/tags/list"))
        .count();
    let heads = seen.iter().filter(|r| r.method == "HEAD").count();
    println!(
        "sibling resolution in {TAGS} tags ({label}): {:.1} ms, {lists} tags/list pages + {heads} HEADs",
        elapsed.as_secs_f64() * 1e3
    );
}
