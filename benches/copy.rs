//! What a copy costs, against skopeo, with real loopback docker-registry processes.
//!
//! Dataset: 20 multi-arch images (linux/amd64 and linux/arm64); every platform image has
//! the same two 4 MiB base layers and two 2 MiB layers of its own. It is copied into an
//! empty registry by our engine and by `skopeo sync --all --preserve-digests` (one
//! process, 20 images), each into its own registry; then both run again (no-op). Last,
//! the peak RSS of copying one image with a single 1 GiB layer (`/usr/bin/time -v`).
//!
//! Our side is the `acr-sync-taskset` binary itself (check, then import), given a config
//! that lists the 20 images. Run: `scripts/bench-copy.sh` (builds the release taskset,
//! then runs this with `ACR_SYNC_TASKSET_BIN` pointing at it). Prints each run's wall and CPU
//! time, then a table of medians and the ratios. Knobs: `BENCH_ROUNDS` (3; each round
//! copies into two fresh registries), `BENCH_CONCURRENCY` (images at once, 4, the
//! taskset's default),
//! `BENCH_VERBOSE` (print our tool's summary line).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use acr_sync::registry::digest::{Algorithm, Hasher};
use acr_sync_testkit::{Pusher, Registry, RegistryOptions, sha256_digest};

const IMAGES: usize = 20;
const ARCHES: [&str; 2] = ["amd64", "arm64"];
const MIB: usize = 1024 * 1024;
const BIG: usize = 1024 * MIB;
/// Images at once (the taskset's default `sync.concurrency`); `BENCH_CONCURRENCY` overrides.
const CONCURRENCY: usize = 4;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[tokio::main]
async fn main() {
    let tool = tool_binary();
    let source = Registry::start(RegistryOptions::anonymous()).await;
    let ours = Registry::start(RegistryOptions::anonymous()).await;
    let theirs = Registry::start(RegistryOptions::anonymous()).await;
    let started = Instant::now();
    let images = push_dataset(&source).await;
    println!(
        "dataset: {IMAGES} images x {} platforms pushed in {:.1}s",
        ARCHES.len(),
        started.elapsed().as_secs_f64()
    );

    // Each round copies into two fresh registries, ours then skopeo's; the medians
    // are reported (the machine may be busy with other work).
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let yaml = skopeo_sync_yaml(&source.host(), &images);
    let (mut ours_first, mut ours_again, mut theirs_first, mut theirs_again) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let ours = Registry::start(RegistryOptions::anonymous()).await;
        let theirs = Registry::start(RegistryOptions::anonymous()).await;
        let pairs: Vec<(String, String)> = images
            .iter()
            .map(|(repo, _)| {
                (
                    format!("{}/{repo}:1", source.host()),
                    format!(
                        "{}/runwhen/{}:1",
                        ours.host(),
                        repo.rsplit('/').next().unwrap()
                    ),
                )
            })
            .collect();
        ours_first.push(run_our_tool(&tool, &pairs));
        ours_again.push(run_our_tool(&tool, &pairs));
        for (repo, digest) in &images {
            let got = ours
                .pusher()
                .get_manifest(
                    &format!("runwhen/{}", repo.rsplit('/').next().unwrap()),
                    "1",
                )
                .await
                .expect("copied");
            assert_eq!(&got.digest, digest, "our copy of {repo} keeps the digest");
        }
        theirs_first.push(run_skopeo_sync(&yaml, &theirs.host()));
        theirs_again.push(run_skopeo_sync(&yaml, &theirs.host()));
    }
    let (ours_first, ours_again) = (median(ours_first), median(ours_again));
    let (theirs_first, theirs_again) = (median(theirs_first), median(theirs_again));

    let big = push_big_image(&source).await;
    let big_config = taskset_config(&ours.host(), &[format!("{}/big/one:1", source.host())]);
    let rss_ours = peak_rss_kib(&tool, &["--config", big_config.path().to_str().unwrap()]);
    let rss_skopeo = peak_rss_kib(
        Path::new("skopeo"),
        &[
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{}/big/one:1", source.host()),
            &format!("docker://{}/big/skopeo:1", theirs.host()),
        ],
    );
    let got = ours
        .pusher()
        .get_manifest("runwhen/one", "1")
        .await
        .expect("big image copied");
    assert_eq!(got.digest, big);

    let secs = |d: Duration| d.as_secs_f64();
    println!();
    println!("| step | acr-sync | skopeo | skopeo / acr-sync | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| first copy, {IMAGES} images | {:.2} s | {:.2} s | {:.1}x | >= 2x |",
        secs(ours_first),
        secs(theirs_first),
        secs(theirs_first) / secs(ours_first)
    );
    println!(
        "| no-op re-run | {:.3} s | {:.2} s | {:.1}x | >= 10x |",
        secs(ours_again),
        secs(theirs_again),
        secs(theirs_again) / secs(ours_again)
    );
    println!(
        "| peak RSS, 1 GiB layer | {:.1} MiB | {:.1} MiB | | < 64 MiB |",
        rss_ours as f64 / 1024.0,
        rss_skopeo as f64 / 1024.0
    );
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The taskset binary: `ACR_SYNC_TASKSET_BIN`, else the release build.
fn tool_binary() -> PathBuf {
    std::env::var_os("ACR_SYNC_TASKSET_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/acr-sync-taskset"),
        PathBuf::from,
    )
}

/// A taskset config that mirrors `sources` into `<target_host>/runwhen`.
fn taskset_config(target_host: &str, sources: &[String]) -> tempfile::NamedTempFile {
    let mut yaml =
        format!("target: {{registry: \"{target_host}\", repository_path: runwhen}}\nimages:\n");
    for source in sources {
        yaml.push_str(&format!("  - ref: \"{source}\"\n"));
    }
    let file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("temp config");
    std::fs::write(file.path(), yaml).expect("write the config");
    file
}

/// Runs the taskset over every pair at once, as one process: the plan, then the imports.
fn run_our_tool(tool: &Path, pairs: &[(String, String)]) -> Duration {
    let target_host = pairs[0]
        .1
        .split('/')
        .next()
        .expect("targets are host/repo:tag");
    let sources: Vec<String> = pairs.iter().map(|(s, _)| s.clone()).collect();
    let config = taskset_config(target_host, &sources);
    let mut cmd = measured(tool);
    let concurrency =
        std::env::var("BENCH_CONCURRENCY").unwrap_or_else(|_| CONCURRENCY.to_string());
    cmd.arg("--config")
        .arg(config.path())
        .arg("--concurrency")
        .arg(concurrency);
    timed(&mut cmd, "acr-sync-taskset")
}

/// `skopeo sync --all --preserve-digests` of the images listed in `yaml`.
fn run_skopeo_sync(yaml: &Path, target_host: &str) -> Duration {
    let mut cmd = measured(Path::new("skopeo"));
    cmd.args([
        "sync",
        "--all",
        "--preserve-digests",
        "--src",
        "yaml",
        "--dest",
        "docker",
        "--dest-tls-verify=false",
    ])
    .arg(yaml)
    .arg(format!("{target_host}/runwhen"));
    timed(&mut cmd, "skopeo sync")
}

/// `program` under `/usr/bin/time`, which reports its CPU time and peak memory.
fn measured(program: &Path) -> Command {
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%e s wall, %U s user, %S s sys, %M KiB peak RSS"])
        .arg(program);
    cmd
}

fn timed(cmd: &mut Command, what: &str) -> Duration {
    let started = Instant::now();
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Some(line) = stderr.lines().last() {
        println!("{what}: {line}");
    }
    if let Some(line) = stdout
        .lines()
        .last()
        .filter(|_| std::env::var_os("BENCH_VERBOSE").is_some())
    {
        println!("{what}: {line}");
    }
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn skopeo_sync_yaml(source_host: &str, images: &[(String, String)]) -> PathBuf {
    let mut yaml = format!("{source_host}:\n  tls-verify: false\n  images:\n");
    for (repo, _) in images {
        yaml.push_str(&format!("    {repo}: [\"1\"]\n"));
    }
    let path = std::env::temp_dir().join(format!("acr-sync-bench-{}.yaml", std::process::id()));
    std::fs::write(&path, yaml).expect("write the sync file");
    path
}

/// Peak resident set size of a command, from `/usr/bin/time -v`.
fn peak_rss_kib(program: &Path, args: &[&str]) -> u64 {
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(program)
        .args(args)
        .output()
        .expect("/usr/bin/time runs (apt-get install -y time)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed: {stderr}",
        program.display()
    );
    let wall = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Elapsed (wall clock) time (h:mm:ss or m:ss):")
        })
        .unwrap_or("?");
    println!("{}, 1 GiB layer: {} wall", program.display(), wall.trim());
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in: {stderr}"))
}

/// Pseudo-random bytes (xorshift): incompressible and quick to make.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn descriptor(media_type: &str, digest: &str, size: usize) -> serde_json::Value {
    serde_json::json!({"mediaType": media_type, "digest": digest, "size": size})
}

/// Pushes a config and an OCI manifest over `layers` (already in `repo`); returns the
/// manifest digest and size.
async fn push_manifest(
    p: &Pusher,
    repo: &str,
    arch: &str,
    seed: u64,
    layers: &[(String, usize)],
) -> (String, usize) {
    let config = serde_json::json!({
        "architecture": arch, "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {"Labels": {"seed": seed.to_string()}},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>()},
    });
    let config = serde_json::to_vec(&config).expect("config json");
    let config_digest = p.put_blob(repo, &config).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config_digest, config.len()),
        "layers": layers.iter().map(|(d, s)| descriptor(OCI_LAYER, d, *s)).collect::<Vec<_>>(),
    });
    let manifest = serde_json::to_vec(&manifest).expect("manifest json");
    let digest = sha256_digest(&manifest);
    p.put_manifest_raw(repo, &digest, OCI_MANIFEST, &manifest)
        .await;
    (digest, manifest.len())
}

/// The dataset; returns `(repository, index digest)` per image.
async fn push_dataset(source: &Registry) -> Vec<(String, String)> {
    let p = source.pusher();
    let base: Vec<Vec<u8>> = (0..2).map(|i| random_bytes(1000 + i, 4 * MIB)).collect();
    let mut images = Vec::new();
    for i in 0..IMAGES {
        let repo = format!("bench/app{i}");
        let mut base_layers = Vec::new();
        for blob in &base {
            base_layers.push((p.put_blob(&repo, blob).await, blob.len()));
        }
        let mut children = Vec::new();
        for (a, arch) in ARCHES.iter().enumerate() {
            let mut layers = base_layers.clone();
            for l in 0..2 {
                let own = random_bytes((i * 100 + a * 10 + l) as u64 + 1, 2 * MIB);
                layers.push((p.put_blob(&repo, &own).await, own.len()));
            }
            let (digest, size) = push_manifest(&p, &repo, arch, i as u64, &layers).await;
            let mut d = descriptor(OCI_MANIFEST, &digest, size);
            d["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
            children.push(d);
        }
        let index = serde_json::to_vec(
            &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}),
        )
        .expect("index json");
        let digest = p.put_manifest_raw(&repo, "1", OCI_INDEX, &index).await;
        images.push((repo, digest));
    }
    images
}

/// Pushes `big/one:1`, one 1 GiB layer generated and uploaded in chunks (never whole in
/// memory); returns the manifest digest.
async fn push_big_image(source: &Registry) -> String {
    let repo = "big/one";
    let http = source.client();
    let base = source.base_url();
    let resp = http
        .post(format!("{base}/v2/{repo}/blobs/uploads/"))
        .header("content-length", "0")
        .send()
        .await
        .expect("start upload");
    assert_eq!(resp.status().as_u16(), 202, "start upload");
    let mut location = absolute(
        &base,
        resp.headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("location"),
    );
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let chunk = 8 * MIB;
    for (n, offset) in (0..BIG).step_by(chunk).enumerate() {
        let bytes = random_bytes(7_000 + n as u64, chunk);
        hasher.update(&bytes);
        let range = format!("{offset}-{}", offset + chunk - 1);
        let resp = http
            .patch(&location)
            .header("content-type", "application/octet-stream")
            .header("content-range", range)
            .body(bytes)
            .send()
            .await
            .expect("upload chunk");
        assert_eq!(resp.status().as_u16(), 202, "upload chunk");
        location = absolute(
            &base,
            resp.headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .expect("location"),
        );
    }
    let layer = hasher.finish().to_string();
    let sep = if location.contains('?') { '&' } else { '?' };
    let resp = http
        .put(format!("{location}{sep}digest={layer}"))
        .send()
        .await
        .expect("close upload");
    assert_eq!(resp.status().as_u16(), 201, "close upload");
    let (digest, _) = push_manifest(&source.pusher(), repo, "amd64", 1, &[(layer, BIG)]).await;
    let manifest = source
        .pusher()
        .get_manifest(repo, &digest)
        .await
        .expect("big manifest");
    source
        .pusher()
        .put_manifest_raw(repo, "1", OCI_MANIFEST, &manifest.bytes)
        .await;
    digest
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") {
        location.to_string()
    } else {
        format!("{base}{location}")
    }
}
