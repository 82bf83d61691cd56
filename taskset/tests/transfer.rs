//! `acr-sync-taskset transfer` against real docker-registry processes: which
//! repositories it takes, what it compares and writes, dry runs, re-tags, --force,
//! no-op re-runs and shards.

mod common;

use common::{taskset, text};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use acr_sync_testkit::{
    AzureOptions, AzureStandIn, ImageBuilder, LoggedRequest, Registry, RegistryOptions, TestImage,
};
use serde_json::Value;

/// The source's 30 repositories: nested paths as in the seed's examples, and flat ones
/// for the letter filter.
const REPOSITORIES: [&str; 30] = [
    "team/app",
    "team/web",
    "myrepo/foo/foo",
    "myrepo/a/b",
    "myrepo/bar",
    "myrepo/x/x",
    "myrepowithsubfolders/a/b",
    "myrepowithsubfolders/c",
    "gitrepo/tool",
    "apps/nested/deep/one",
    "alpha",
    "beta",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
];

fn small(seed: u64) -> TestImage {
    ImageBuilder::new(seed).random_layer(2048).build()
}

/// A network setting that keeps failing runs short.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("workspace.yaml"),
        "network: {retry_for: 1s}\n",
    )
    .unwrap();
    dir
}

/// Runs `transfer SRC DST ARGS --format json` and returns the exit code and document.
fn transfer(dir: &Path, src: &str, dst: &str, args: &[&str]) -> (i32, Value, String) {
    transfer_env(dir, src, dst, args, &[])
}

fn transfer_env(
    dir: &Path,
    src: &str,
    dst: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, Value, String) {
    let mut all = vec![
        "transfer",
        "--source-registry-name",
        src,
        "--target-registry-name",
        dst,
        "--format",
        "json",
    ];
    all.extend_from_slice(args);
    let out = taskset(dir, &all, env);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    let doc = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"));
    (out.status.code().unwrap_or(-1), doc, stderr)
}

fn records(doc: &Value) -> Vec<&Value> {
    doc["records"].as_array().expect("records").iter().collect()
}

fn repositories(doc: &Value) -> BTreeSet<String> {
    records(doc)
        .iter()
        .map(|r| r["repository"].as_str().unwrap().to_string())
        .collect()
}

/// `repository:tag` -> action.
fn actions(doc: &Value) -> BTreeMap<String, String> {
    records(doc)
        .iter()
        .map(|r| {
            (
                format!(
                    "{}:{}",
                    r["repository"].as_str().unwrap(),
                    r["tag"].as_str().unwrap_or("")
                ),
                r["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn writes(requests: &[LoggedRequest]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn all_but(left_out: &[&str]) -> BTreeSet<String> {
    let out = set(left_out);
    REPOSITORIES
        .iter()
        .map(|s| s.to_string())
        .filter(|r| !out.contains(r))
        .collect()
}

async fn thirty_repositories() -> Registry {
    let source = Registry::start(RegistryOptions::anonymous()).await;
    let p = source.pusher();
    for (i, repo) in REPOSITORIES.iter().enumerate() {
        p.push_image(repo, "1.0", &small(100 + i as u64)).await;
    }
    source
}

#[tokio::test]
async fn the_seeds_filters_select_and_exclude_repositories_as_its_examples_say() {
    let source = thirty_repositories().await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = workdir();
    let (src, dst) = (source.host(), target.host());
    let run = |args: &[&str]| {
        let (code, doc, stderr) = transfer(
            dir.path(),
            &src,
            &dst,
            &["--dry-run"]
                .iter()
                .chain(args)
                .copied()
                .collect::<Vec<_>>(),
        );
        assert_eq!(code, 0, "{args:?}: {stderr}");
        repositories(&doc)
    };

    assert_eq!(run(&[]), all_but(&[]), "no filter takes the whole catalog");
    assert_eq!(
        run(&["--letters", "a-c,e,g"]),
        set(&[
            "alpha",
            "apps/nested/deep/one",
            "beta",
            "charlie",
            "echo",
            "gitrepo/tool",
            "golf"
        ])
    );
    // fnmatch: `*` crosses `/`, so `myRepo/*` is everything under myrepo/, however deep.
    assert_eq!(
        run(&["--ignore-pattern", "myRepo/*"]),
        all_but(&["myrepo/foo/foo", "myrepo/a/b", "myrepo/bar", "myrepo/x/x"])
    );
    assert_eq!(
        run(&["--ignore-pattern", "myRepoWithSubFolders/*/*"]),
        all_but(&["myrepowithsubfolders/a/b"])
    );
    assert_eq!(
        run(&["--ignore-pattern", "*repo/*"]),
        all_but(&[
            "myrepo/foo/foo",
            "myrepo/a/b",
            "myrepo/bar",
            "myrepo/x/x",
            "gitrepo/tool"
        ])
    );
    // The backreference: second and third segments identical.
    assert_eq!(
        run(&["--ignore-pattern", r"re:^myRepo/([^/]+)/\1$"]),
        all_but(&["myrepo/foo/foo", "myrepo/x/x"])
    );
    // Repeatable, and comma lists.
    assert_eq!(
        run(&[
            "--ignore-pattern",
            "team/*,alpha",
            "--ignore-pattern",
            "beta"
        ]),
        all_but(&["team/app", "team/web", "alpha", "beta"])
    );
    // The seed's ignore-config.json example.
    let config = dir.path().join("ignore-repos.json");
    std::fs::write(
        &config,
        r#"["myRepo/*", "myRepoWithSubFolders/*/*", "re:^myRepo/([^/]+)/\\1$"]"#,
    )
    .unwrap();
    assert_eq!(
        run(&["--ignore-config", config.to_str().unwrap()]),
        all_but(&[
            "myrepo/foo/foo",
            "myrepo/a/b",
            "myrepo/bar",
            "myrepo/x/x",
            "myrepowithsubfolders/a/b"
        ])
    );
    // Letters and patterns together, then the first N in name order.
    assert_eq!(
        run(&["--letters", "m", "--ignore-pattern", "myRepo/*"]),
        set(&["mike", "myrepowithsubfolders/a/b", "myrepowithsubfolders/c"])
    );
    assert_eq!(
        run(&["--max-repositories", "3"]),
        set(&["alpha", "apps/nested/deep/one", "beta"])
    );
    // --repository overrides the letters.
    assert_eq!(
        run(&["--repository", "team/app", "--letters", "z"]),
        set(&["team/app"])
    );

    // Usage errors are exit 1 and name the flag.
    for (args, needle) in [
        (&["--letters", "c-a"][..], "--letters"),
        (&["--ignore-pattern", "re:(unclosed"][..], "re:(unclosed"),
        (&["--shard", "2/2"][..], "--shard"),
        (&["--shards", "2"][..], "JOB_COMPLETION_INDEX"),
    ] {
        let mut all = vec![
            "transfer",
            "--source-registry-name",
            &src,
            "--target-registry-name",
            &dst,
        ];
        all.extend_from_slice(args);
        let out = taskset(dir.path(), &all, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out.stderr).contains(needle),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    assert!(
        writes(&target.requests_settled().await).is_empty(),
        "dry runs wrote to the target"
    );
}

#[tokio::test]
async fn transfers_compare_by_digest_replace_retags_and_rerun_as_no_ops() {
    let source = Registry::start(RegistryOptions::anonymous()).await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let (sp, tp) = (source.pusher(), target.pusher());
    let (app1, app2, old, web) = (small(1), small(2), small(3), small(4));
    sp.push_image("team/app", "1.0", &app1).await;
    sp.push_image("team/app", "2.0", &app2).await;
    sp.push_image("team/app", "same", &app1).await;
    sp.push_image("myrepo/foo/foo", "v1", &web).await;
    // The source also holds an untagged manifest, which is left alone.
    sp.push_image_untagged("team/app", &small(5)).await;
    // The target: `same` identical, `2.0` re-tagged (another image), the rest missing.
    tp.push_image("team/app", "same", &app1).await;
    tp.push_image("team/app", "2.0", &old).await;
    let dir = workdir();
    let (src, dst) = (source.host(), target.host());

    // A dry run lists every planned action and writes nothing.
    let mark = target.log_mark().await;
    let (code, doc, stderr) = transfer(dir.path(), &src, &dst, &["--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    let planned: BTreeMap<String, String> = [
        ("myrepo/foo/foo:v1", "would-copy"),
        ("team/app:1.0", "would-copy"),
        ("team/app:2.0", "would-retag"),
        ("team/app:same", "skipped"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(actions(&doc), planned);
    assert_eq!(doc["summary"]["dry_run"], true);
    assert!(stderr.contains("re-tagged: team/app:2.0"), "{stderr}");
    let written = writes(&target.requests_since(mark).await);
    assert!(written.is_empty(), "the dry run wrote: {written:?}");
    assert_eq!(tp.tags("team/app").await.len(), 2);

    // The transfer: new tags copied, the re-tagged one replaced, the same one skipped.
    let (code, doc, stderr) = transfer(dir.path(), &src, &dst, &[]);
    assert_eq!(code, 0, "{stderr}");
    let done: BTreeMap<String, String> = [
        ("myrepo/foo/foo:v1", "copied"),
        ("team/app:1.0", "copied"),
        ("team/app:2.0", "retagged"),
        ("team/app:same", "skipped"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(actions(&doc), done);
    let retagged = records(&doc)
        .into_iter()
        .find(|r| r["tag"] == "2.0")
        .unwrap()
        .clone();
    assert_eq!(retagged["source_digest"], app2.digest.as_str());
    assert_eq!(retagged["target_digest"], old.digest.as_str());
    assert!(
        stderr.contains("warning: re-tagged: team/app:2.0"),
        "{stderr}"
    );
    for (repo, tag, image) in [
        ("team/app", "1.0", &app1),
        ("team/app", "2.0", &app2),
        ("myrepo/foo/foo", "v1", &web),
    ] {
        let got = tp.get_manifest(repo, tag).await.unwrap();
        assert_eq!(
            got.digest, image.digest,
            "{repo}:{tag} kept whole, same digest"
        );
    }
    assert_eq!(doc["summary"]["actions"]["copied"], 2);
    assert!(doc["summary"]["bytes"].as_u64().unwrap() > 0);

    // A re-run straight after sends no write request.
    let mark = target.log_mark().await;
    let (code, doc, stderr) = transfer(dir.path(), &src, &dst, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(records(&doc).iter().all(|r| r["action"] == "skipped"));
    let written = writes(&target.requests_since(mark).await);
    assert!(written.is_empty(), "the re-run wrote: {written:?}");

    // The source tag moves: detected and replaced.
    let moved = small(6);
    sp.push_image("team/app", "1.0", &moved).await;
    let (code, doc, _) = transfer(dir.path(), &src, &dst, &["--repository", "team/app"]);
    assert_eq!(code, 0);
    assert_eq!(actions(&doc)["team/app:1.0"], "retagged");
    assert_eq!(
        tp.get_manifest("team/app", "1.0").await.unwrap().digest,
        moved.digest
    );

    // --force writes identical tags again (manifests, no blob upload).
    let mark = target.log_mark().await;
    let (code, doc, _) = transfer(
        dir.path(),
        &src,
        &dst,
        &["--force", "--repository", "team/app"],
    );
    assert_eq!(code, 0);
    assert!(
        records(&doc).iter().all(|r| r["action"] == "copied"),
        "{doc:#}"
    );
    let written = writes(&target.requests_since(mark).await);
    assert!(
        written
            .iter()
            .any(|w| w.starts_with("PUT") && w.contains("/manifests/")),
        "{written:?}"
    );
    assert!(
        !written.iter().any(|w| w.contains("/blobs/uploads")),
        "{written:?}"
    );
}

#[tokio::test]
async fn two_shards_together_transfer_the_whole_set_each_tag_once() {
    let source = thirty_repositories().await;
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = workdir();
    let (src, dst) = (source.host(), target.host());
    let report0 = dir.path().join("shard-0.json");
    let report1 = dir.path().join("shard-1.json");
    let textfile = dir.path().join("transfer.prom");
    let pushgateway =
        acr_sync_testkit::Daemon::prometheus_tool("prometheus-pushgateway", &[], dir.path()).await;
    let (code, _, stderr) = transfer(
        dir.path(),
        &src,
        &dst,
        &[
            "--shard",
            "0/2",
            "--report",
            report0.to_str().unwrap(),
            "--textfile",
            textfile.to_str().unwrap(),
            "--pushgateway",
            &pushgateway.base_url,
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    // The second as a Kubernetes Indexed Job pod would run it.
    let (code, _, stderr) = transfer_env(
        dir.path(),
        &src,
        &dst,
        &[
            "--shards",
            "2",
            "--report",
            report1.to_str().unwrap(),
            "--pushgateway",
            &pushgateway.base_url,
        ],
        &[("JOB_COMPLETION_INDEX", "1")],
    );
    assert_eq!(code, 0, "{stderr}");
    let mut copied = Vec::new();
    for path in [&report0, &report1] {
        let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert!(doc["summary"]["shard"].is_string());
        assert!(
            !records(&doc).is_empty(),
            "each shard has work: {}",
            path.display()
        );
        for r in records(&doc) {
            assert_eq!(r["action"], "copied", "{r}");
            copied.push(format!(
                "{}:{}",
                r["repository"].as_str().unwrap(),
                r["tag"].as_str().unwrap()
            ));
        }
    }
    let unique: BTreeSet<&String> = copied.iter().collect();
    assert_eq!(
        unique.len(),
        copied.len(),
        "a tag was copied twice: {copied:?}"
    );
    let whole: BTreeSet<String> = REPOSITORIES.iter().map(|r| format!("{r}:1.0")).collect();
    assert_eq!(copied.iter().cloned().collect::<BTreeSet<_>>(), whole);
    for repo in REPOSITORIES {
        assert_eq!(target.pusher().tags(repo).await, ["1.0"], "{repo}");
    }
    // Shard 0's metrics: its copied tags, by the shard label, valid for promtool.
    let doc0: Value = serde_json::from_slice(&std::fs::read(&report0).unwrap()).unwrap();
    let metrics = std::fs::read_to_string(&textfile).unwrap();
    let line = format!(
        "acr_sync_transfer_tags{{action=\"copied\",shard=\"0/2\"}} {}",
        records(&doc0).len()
    );
    assert!(metrics.contains(&line), "{metrics}");
    // Both shards pushed, each into its own group: neither replaced the other's.
    let (_, pushed) = acr_sync_testkit::http_get(&format!("{}/metrics", pushgateway.base_url))
        .await
        .expect("the Pushgateway answers");
    for (shard, report) in [("0/2", &report0), ("1/2", &report1)] {
        let doc: Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
        let series = format!(
            "acr_sync_transfer_tags{{action=\"copied\",instance=\"\",job=\"acr_sync_transfer\",shard=\"{shard}\"}} {}",
            records(&doc).len()
        );
        assert!(pushed.contains(&series), "{series} in:\n{pushed}");
    }
    let promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&textfile).unwrap())
        .output()
        .expect("promtool runs");
    assert!(
        promtool.status.success(),
        "{}{}",
        text(&promtool.stdout),
        text(&promtool.stderr)
    );
}

#[tokio::test]
async fn a_registry_transfers_into_an_oci_layout() {
    let source = Registry::start(RegistryOptions::anonymous()).await;
    let sp = source.pusher();
    let (a, b) = (small(11), small(12));
    sp.push_image("team/app", "1.0", &a).await;
    sp.push_image("myrepo/a/b", "x", &b).await;
    let dir = workdir();
    let layout = dir.path().join("mirror");
    let dst = format!("oci-layout:{}", layout.display());
    let (code, doc, stderr) = transfer(dir.path(), &source.host(), &dst, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        records(&doc).iter().all(|r| r["action"] == "copied"),
        "{doc:#}"
    );
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let names: BTreeMap<String, String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(names["team/app:1.0"], a.digest);
    assert_eq!(names["myrepo/a/b:x"], b.digest);
    // Read back from the layout: a second run skips both.
    let (code, doc, _) = transfer(dir.path(), &source.host(), &dst, &[]);
    assert_eq!(code, 0);
    assert!(
        records(&doc).iter().all(|r| r["action"] == "skipped"),
        "{doc:#}"
    );
}

#[tokio::test]
async fn acr_to_acr_goes_through_import_image_by_resource_id_across_subscriptions() {
    let az = AzureStandIn::start(AzureOptions {
        retry_after: 0,
        ..AzureOptions::default()
    })
    .await;
    // The source ACR lives in another subscription; ARM knows it by resource id.
    let source = Registry::start(RegistryOptions::anonymous()).await;
    let source_sub = "99999999-8888-4777-8666-555555555555";
    let source_id = az.add_foreign_registry(source_sub, "rg-source", "sourceacr", &source);
    let sp = source.pusher();
    let (app1, app2, old, b) = (small(21), small(22), small(23), small(24));
    sp.push_image("team/app", "1.0", &app1).await;
    sp.push_image("team/app", "2.0", &app2).await;
    sp.push_image("myrepo/a/b", "x", &b).await;
    // The target holds team/app:2.0 at other content: re-tagged.
    az.registry()
        .pusher()
        .push_image("team/app", "2.0", &old)
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("workspace.yaml"),
        format!(
            "target:\n  registry: \"{}\"\n  acr: {{name: {}, arm_endpoint: \"{}\"}}\nnetwork: {{retry_for: 2s}}\n",
            az.login_server(),
            az.options().registry_name,
            az.arm_endpoint()
        ),
    )
    .unwrap();
    let env: Vec<(String, String)> = az.client_secret_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let args = [
        "--importer",
        "acr-import",
        "--source-subscription-id",
        source_sub,
        "--target-subscription-id",
        &az.options().subscription_id,
    ];
    let (code, doc, stderr) =
        transfer_env(dir.path(), &source.host(), &az.login_server(), &args, &env);
    assert_eq!(code, 0, "{stderr}");
    let expected: BTreeMap<String, String> = [
        ("myrepo/a/b:x", "imported"),
        ("team/app:1.0", "imported"),
        ("team/app:2.0", "retagged"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(actions(&doc), expected, "{doc:#}");
    assert_eq!(
        doc["summary"]["bytes"], 0,
        "nothing moved through this machine"
    );
    // Every import named the source by resourceId; NoForce for new tags, Force for the
    // re-tagged one.
    let bodies = az.import_requests();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    for body in &bodies {
        assert_eq!(body["source"]["resourceId"], source_id.as_str(), "{body}");
        assert!(body["source"]["registryUri"].is_null(), "{body}");
        let image = body["source"]["sourceImage"].as_str().unwrap();
        let mode = if image.starts_with("team/app@") && image.ends_with(&app2.digest[7..]) {
            "Force"
        } else {
            "NoForce"
        };
        assert_eq!(body["mode"], mode, "{body}");
    }
    assert_eq!(
        az.count("POST", "/blobs/uploads"),
        0,
        "no blob was uploaded from this machine"
    );
    // The target side was read with ACR's listing, one request per repository.
    let listings: Vec<_> = az
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/_tags"))
        .collect();
    // One answered listing per repository (404: not in the target yet), each after the
    // 401 challenge that tells the client which token to get for it.
    let answered = listings.iter().filter(|r| r.status != 401).count();
    assert_eq!(answered, 2, "{listings:?}");
    assert!(listings.len() <= 4, "{listings:?}");
    let target = az.registry().pusher();
    for (repo, tag, image) in [
        ("team/app", "1.0", &app1),
        ("team/app", "2.0", &app2),
        ("myrepo/a/b", "x", &b),
    ] {
        assert_eq!(
            target.get_manifest(repo, tag).await.unwrap().digest,
            image.digest,
            "{repo}:{tag}"
        );
    }
    // Nothing left: no import is started.
    let (code, doc, _) = transfer_env(dir.path(), &source.host(), &az.login_server(), &args, &env);
    assert_eq!(code, 0);
    assert!(
        records(&doc).iter().all(|r| r["action"] == "skipped"),
        "{doc:#}"
    );
    assert_eq!(az.imports(), 3);
}

#[tokio::test]
async fn a_transfer_draws_its_progress_on_a_terminal_only() {
    let source = Registry::start(RegistryOptions::anonymous()).await;
    for (i, repo) in ["team/a", "team/b", "team/c"].iter().enumerate() {
        source
            .pusher()
            .push_image(repo, "1.0", &small(300 + i as u64))
            .await;
    }
    let target = Registry::start(RegistryOptions::anonymous()).await;
    let dir = workdir();
    let command = format!(
        "{} transfer --source-registry-name {} --target-registry-name {}",
        env!("CARGO_BIN_EXE_acr-sync-taskset"),
        source.host(),
        target.host()
    );
    let out = common::on_terminal(dir.path(), &command);
    let screen = text(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains("/3] images,"),
        "no progress line: {screen:?}"
    );
    // Through a pipe (a CronJob's log) there is none.
    let (code, _, stderr) = transfer(dir.path(), &source.host(), &target.host(), &["--force"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("images,"), "{stderr}");
}
