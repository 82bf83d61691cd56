//! Renders every test chart with charts-render and with the real helm 3.17.1 and
//! compares the results: same `# Source:` sequence, equal parsed YAML documents, and
//! for charts that fail, the same error message.
//!
//! helm is found through `HELM_ORACLE` or at `/opt/helm-oracle/helm`
//! (`scripts/install-helm-oracle.sh` installs it there). Without it the comparison is
//! skipped, loudly; the renders themselves are still checked.

use std::path::{Path, PathBuf};
use std::process::Command;

use charts_render::{ChartSource, Options};

/// (chart, --set arguments). Each case is rendered by both.
const CASES: &[(&str, &[&str], bool)] = &[
    ("webapp", &[], false),
    ("webapp", &["redis.enabled=false"], false),
    ("webapp", &["tags.monitoring=false"], false),
    (
        "webapp",
        &["metrics.enabled=false,redis.architecture=replication,nameOverride=rel-app"],
        false,
    ),
    (
        "webapp",
        &[
            "global.imageRegistry=reg.example.com:5000",
            "image.digest=sha256:0123456789012345678901234567890123456789012345678901234567890123",
        ],
        false,
    ),
    (
        "webapp",
        &[
            "ingress.enabled=true,ingress.tls=true,replicaCount=5",
            "env.NEW=x",
            "sidecars[0].image=fluent/fluent-bit:3.2",
        ],
        false,
    ),
    (
        "webapp",
        &["image.tag=v9,cron.enabled=false,daemon.enabled=false,fullnameOverride=short"],
        false,
    ),
    // Fails in both: `len` of a nil list, reached through `include`.
    ("webapp", &["sidecars=null"], true),
    ("idioms", &[], false),
    ("idioms", &["level=1"], false),
    (
        "idioms",
        &["level=9,enabled=true", "yamlish.octal=0644"],
        false,
    ),
    ("idioms", &["items={a,b,c}", "name=x"], false),
    // Errors inside `tpl`: wrapped and located as Helm does.
    ("idioms", &["templated=x{{ .Values.nope.x }}"], true),
    ("idioms", &["templated=x{{ .Values.nope.x"], true),
    // toYaml/toJson layout, byte for byte (a checksum of an include).
    ("functions", &[], false),
    // values.schema.json, parent and subchart; a disabled subchart is not checked.
    ("schema", &[], false),
    ("schema", &["replicas=0"], true),
    ("schema", &["sub.port=70000"], true),
    ("schema", &["pullPolicy=Sometimes,sub.port=x"], true),
    ("schema", &["sub.enabled=false,sub.port=x"], false),
    ("schema", &["image.repository="], true),
    ("schema", &["image=null"], true),
    // Aliases and conditions apply only to subcharts whose version fits the constraint.
    ("depversions", &[], false),
    ("depversions", &["second.enabled=true,b.enabled=x"], false),
    ("umbrella", &[], false),
    ("umbrella", &["frontend.enabled=false"], false),
    ("umbrella", &["tags.extras=false"], false),
    // A user null removes the subchart default, so the second condition path decides.
    (
        "umbrella",
        &["global.frontend.enabled=false,frontend.enabled=null"],
        false,
    ),
    (
        "umbrella",
        &["global.registry=other.io", "backend.image.tag=2.0"],
        false,
    ),
    // Go number literals (hex floats as the opentelemetry-collector chart uses them).
    ("literals", &[], false),
    ("literals", &["memory={7Gi,64Mi}"], false),
    // `required` in NOTES.txt fails the render; `fail` is worded as helm words it.
    ("literals", &["notes.contact=null"], true),
    ("literals", &["failWith=stop here"], true),
    // Go's comparisons, printf verbs, else-with, break/continue.
    ("gosemantics", &[], false),
    ("gosemantics", &["replicas=5,name=api,empty=x"], false),
    ("gosemantics", &["broken.mixedEq=true"], true),
    ("gosemantics", &["broken.orderBools=true"], true),
    ("gosemantics", &["broken.rangeString=true"], true),
    // .Files.Glob ranged and counted, .Capabilities.APIVersions, .Subcharts, nil maps,
    // <no value>.
    ("objects", &[], false),
    ("objects", &["glob=files/*", "sub.suffix=db"], false),
    // A nil read straight from a field is no map for hasKey, as in Go.
    ("objects", &["broken=true"], true),
    // Kinds helm 3.17 does not order (webhook configurations, custom resources),
    // hooks, and test hooks (printed by `helm template`).
    ("ordering", &[], false),
    // Go's RE2 syntax where Rust's regex differs.
    ("regex", &[], false),
    ("regex", &["host=bad host", "csv=x;y"], false),
];

fn charts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/charts")
}

fn helm() -> Option<PathBuf> {
    let p = std::env::var_os("HELM_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/helm-oracle/helm"));
    p.is_file().then_some(p)
}

/// The `# Source:` of each document and the document parsed.
fn documents(out: &str) -> Vec<(String, yaml_serde::Value)> {
    out.split("---\n# Source: ")
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            let (source, body) = d.split_once('\n').unwrap_or((d, ""));
            let value =
                yaml_serde::from_str(body).unwrap_or_else(|e| panic!("{source}: {e}\n{body}"));
            (source.to_string(), value)
        })
        .collect()
}

async fn ours(chart: &Path, set: &[&str]) -> Result<String, String> {
    ours_with(chart, set, true).await
}

async fn ours_with(chart: &Path, set: &[&str], include_tests: bool) -> Result<String, String> {
    let src = ChartSource {
        name: chart.display().to_string(),
        set: set.iter().map(|s| s.to_string()).collect(),
        ..ChartSource::default()
    };
    let mut opts = Options {
        cache_dir: None,
        include_tests,
        ..Options::default()
    };
    opts.render.release_name = "rel".into();
    charts_render::template(&src, &opts)
        .await
        .map_err(|e| e.to_string())
}

fn theirs(helm: &Path, chart: &Path, set: &[&str]) -> Result<String, String> {
    theirs_with(helm, chart, set, &[])
}

fn theirs_with(helm: &Path, chart: &Path, set: &[&str], flags: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new(helm);
    cmd.args(["template", "rel"]).arg(chart).args(flags);
    for s in set {
        cmd.args(["--set", s]);
    }
    let out = cmd
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("helm-oracle-cache"),
        )
        .output()
        .expect("run helm");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        // The message runs to the first blank line (schema errors take several).
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().take_while(|l| !l.is_empty()).collect();
        Err(lines.join("\n").trim_start_matches("Error: ").to_string())
    }
}

#[tokio::test]
async fn test_charts_render_as_helm_does() {
    let helm = helm();
    if helm.is_none() {
        eprintln!(
            "\n!!! helm oracle not found (HELM_ORACLE or /opt/helm-oracle/helm): differential comparison SKIPPED.\n!!! Run charts-render/scripts/install-helm-oracle.sh to enable it.\n"
        );
    }
    let mut identical = 0;
    for (chart, set, fails) in CASES {
        let dir = charts_dir().join(chart);
        let mine = ours(&dir, set).await;
        let Some(helm) = &helm else {
            assert_eq!(mine.is_err(), *fails, "{chart} {set:?}: {mine:?}");
            continue;
        };
        let expected = theirs(helm, &dir, set);
        match (&mine, &expected) {
            (Ok(m), Ok(h)) => {
                let (md, hd) = (documents(m), documents(h));
                let sources = |d: &[(String, yaml_serde::Value)]| {
                    d.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>()
                };
                assert_eq!(
                    sources(&md),
                    sources(&hd),
                    "{chart} {set:?}: document order"
                );
                for ((s, a), (_, b)) in md.iter().zip(hd.iter()) {
                    assert_eq!(a, b, "{chart} {set:?}: document from {s}");
                }
                identical += usize::from(m == h);
            }
            (Err(m), Err(h)) => assert_eq!(m.trim_end(), h, "{chart} {set:?}: error message"),
            _ => panic!("{chart} {set:?}: charts-render gave {mine:?}\nhelm gave {expected:?}"),
        }
    }
    if helm.is_some() {
        eprintln!(
            "differential: {} cases agree with helm ({identical} byte-identical)",
            CASES.len()
        );
    }
}

#[tokio::test]
async fn test_hooks_are_left_out_as_helm_skip_tests_does() {
    let dir = charts_dir().join("ordering");
    let mine = ours_with(&dir, &[], false).await.expect("renders");
    assert!(!mine.contains("helm.sh/hook\": test"), "{mine}");
    assert!(mine.contains("kind: Job"), "other hooks stay: {mine}");
    let Some(helm) = helm() else {
        eprintln!("\n!!! helm oracle not found: --skip-tests comparison SKIPPED.\n");
        return;
    };
    let expected = theirs_with(&helm, &dir, &[], &["--skip-tests"]).expect("helm renders");
    assert_eq!(mine, expected);
}
