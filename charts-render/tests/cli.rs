//! The `charts-render` binary: `template` and `images`, values from `-f` and `--set`,
//! and errors that name the chart, template file and line.

use std::path::PathBuf;
use std::process::{Command, Output};

fn chart(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/charts")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_charts-render"))
        .args(args)
        .output()
        .expect("run charts-render")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn images_lists_qualified_references_once_each() {
    let dir = chart("webapp");
    let o = run(&["images", "rel", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    let expected = [
        "quay.io/prometheus/node-exporter:v1.8.2",
        "docker.io/library/busybox:1.36",
        "docker.io/example/webapp:2.7.1",
        "docker.io/fluent/fluent-bit:3.1.4",
        "docker.io/envoyproxy/envoy:v1.31.0",
        "docker.io/bitnami/redis:7.2.5",
        "docker.io/prom/statsd-exporter:v0.27.1",
        "ghcr.io/example/migrator:0.9.0",
        "docker.io/library/busybox:latest",
        "docker.io/library/alpine:3.20",
        "docker.io/nicolaka/netshoot:latest",
        // From the chart's artifacthub.io/images annotation only.
        "ghcr.io/example/declared-only:1.0",
    ];
    assert_eq!(lines, expected);
}

#[test]
fn values_files_and_set_follow_helms_order() {
    let dir = chart("webapp");
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.yaml"), tmp.path().join("b.yaml"));
    std::fs::write(
        &a,
        "global: {imageRegistry: first.example}\nimage: {tag: from-a}\n",
    )
    .unwrap();
    std::fs::write(&b, "global: {imageRegistry: second.example}\n").unwrap();
    let o = run(&[
        "images",
        dir.to_str().unwrap(),
        "-f",
        a.to_str().unwrap(),
        "-f",
        b.to_str().unwrap(),
        "--set",
        "image.tag=from-set",
        "--set",
        "redis.enabled=false,tags.monitoring=false",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(
        out.contains("second.example/example/webapp:from-set\n"),
        "{out}"
    );
    assert!(
        out.contains("second.example/prometheus/node-exporter:v1.8.2\n"),
        "{out}"
    );
    assert!(!out.contains("redis") && !out.contains("statsd"), "{out}");
}

#[test]
fn template_prints_sources_in_helm_order() {
    let dir = chart("webapp");
    let o = run(&[
        "template",
        "rel",
        dir.to_str().unwrap(),
        "--set-string",
        "replicaCount=3",
    ]);
    assert!(o.status.success());
    let out = stdout(&o);
    let sources: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("# Source: "))
        .collect();
    assert_eq!(sources[0], "webapp/templates/configmap.yaml");
    assert_eq!(
        sources.last(),
        Some(&"webapp/templates/migrate-job.yaml"),
        "the hook comes last"
    );
    assert!(out.contains("  replicas: 3\n"));
}

#[test]
fn template_errors_name_chart_file_and_line() {
    let dir = chart("webapp");
    let o = run(&[
        "template",
        "rel",
        dir.to_str().unwrap(),
        "--set",
        "sidecars=null",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("template: webapp/templates/configmap.yaml:20:12: executing \"webapp/templates/configmap.yaml\" at <len .Values.sidecars>: error calling len: len of nil pointer"), "{err}");
    let o = run(&["template", "rel", dir.to_str().unwrap(), "--set", "a[x]=1"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("a[x]=1"));
}

#[test]
fn template_prints_test_hooks_unless_skipped_and_images_leaves_them_out() {
    let dir = chart("ordering");
    let dir = dir.to_str().unwrap();
    let all = run(&["template", "rel", dir]);
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    assert!(stdout(&all).contains("name: rel-test\n"));
    let skipped = run(&["template", "rel", dir, "--skip-tests"]);
    assert!(!stdout(&skipped).contains("name: rel-test"));
    assert!(stdout(&skipped).contains("name: rel-migrate"));
    let images = run(&["images", "rel", dir]);
    assert_eq!(stdout(&images), "docker.io/library/busybox:1.36\n");
}
