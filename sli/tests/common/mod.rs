//! What the exporter tests share: processes they start (acr-sync-sli serve, Pushgateway,
//! node_exporter), each killed and reaped on drop, bounded HTTP waits on loopback, a
//! reader for the text exposition, and `promtool check metrics`.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub use acr_sync_testkit::{Daemon, http_get as get};
use acr_sync_testkit::{MediaKind, Registry, TestIndex};

/// Starts `acr-sync-sli serve` in `dir` on a loopback port it picks, and reads the
/// address it prints.
pub async fn serve(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
    let mut all = vec!["serve".to_string(), "--listen".into(), "127.0.0.1:0".into()];
    all.extend(args.iter().map(|s| s.to_string()));
    let d = Daemon::spawn(
        "acr-sync-sli",
        Path::new(env!("CARGO_BIN_EXE_acr-sync-sli")),
        &all,
        dir,
        env,
    );
    d.listening("serving http://").await
}

/// [`serve`] under `prlimit --nofile=N`: at most `nofile` open descriptors.
pub async fn serve_with_nofile(dir: &Path, nofile: u32, args: &[&str]) -> Daemon {
    let mut all = vec![
        format!("--nofile={nofile}:{nofile}"),
        "--".to_string(),
        env!("CARGO_BIN_EXE_acr-sync-sli").to_string(),
        "serve".to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let d = Daemon::spawn("acr-sync-sli", Path::new("prlimit"), &all, dir, &[]);
    d.listening("serving http://").await
}

/// The value of the sample `series` (its name and labels exactly as the exposition writes
/// them), if present.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(s, _)| *s == series)
        .map(|(_, v)| v.parse().unwrap())
}

/// The sum of every sample of metric `name`, whatever its labels.
pub fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(_, v)| v.parse::<f64>().unwrap())
        .sum()
}

/// Passes an exposition through `promtool check metrics`, which must have nothing to say.
pub fn promtool_check_metrics(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (apt-get install -y prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}\n---\n{text}"
    );
}

/// Upstream code collections `images/cc-a` and `images/cc-b`: `main-latest` and its
/// stable sibling tag (`main-aaaaaaa`, `main-bbbbbbb`); returns the indexes.
pub async fn push_codecollections(upstream: &Registry) -> (TestIndex, TestIndex) {
    let p = upstream.pusher();
    let a = TestIndex::multi_arch(61, MediaKind::Oci, false);
    let b = TestIndex::multi_arch(62, MediaKind::Oci, false);
    p.push_index("images/cc-a", "main-latest", &a).await;
    p.tag("images/cc-a", &a.digest, "main-aaaaaaa").await;
    p.push_index("images/cc-b", "main-latest", &b).await;
    p.tag("images/cc-b", &b.digest, "main-bbbbbbb").await;
    (a, b)
}

/// `dir/workspace.yaml` for code collections `images` under `upstream_host`.
pub fn config(dir: &Path, upstream_host: &str, target: &Registry, images: &str) {
    let yaml = format!(
        "target: {{registry: \"{}\"}}\ncodecollections:\n  source: \"{upstream_host}/images\"\n  images: [{images}]\nnetwork: {{retry_for: 1s}}\n",
        target.host()
    );
    std::fs::write(dir.join("workspace.yaml"), yaml).unwrap();
}
