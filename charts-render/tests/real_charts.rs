//! The seed's own chart, RunWhen Local, rendered from its real sources by
//! `charts-render template` and by helm 3.17.1: the output must be byte-identical.
//!
//! Its files cannot be committed here, so the test runs when `RUNWHEN_CHART_DIR`
//! names a local checkout of `charts/runwhen-local` (runwhen-contrib/helm-charts)
//! whose `charts/` holds the opentelemetry-collector version its Chart.yaml asks
//! for; the README says how to prepare one. Without it the test says so and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

const CASES: &[&[&str]] = &[
    &[],
    &["runner.enabled=true"],
    &[
        "runner.enabled=true",
        "registryOverride=myacr.azurecr.io/runwhen",
    ],
];

fn helm() -> Option<PathBuf> {
    let p = std::env::var_os("HELM_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/helm-oracle/helm"));
    p.is_file().then_some(p)
}

fn run(bin: &Path, chart: &Path, set: &[&str]) -> String {
    let mut cmd = Command::new(bin);
    cmd.args(["template", "rel"])
        .arg(chart)
        .args(["--namespace", "runwhen-local"]);
    for s in set {
        cmd.args(["--set", s]);
    }
    let out = cmd
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("helm-oracle-cache"),
        )
        .output()
        .expect("run the renderer");
    assert!(
        out.status.success(),
        "{} {set:?}: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn runwhen_local_renders_exactly_as_helm_does() {
    let Some(dir) = std::env::var_os("RUNWHEN_CHART_DIR").map(PathBuf::from) else {
        eprintln!(
            "\n!!! RUNWHEN_CHART_DIR is not set: the RunWhen Local comparison is SKIPPED.\n!!! See charts-render/README.md (\"The seed's chart\") to prepare a checkout.\n"
        );
        return;
    };
    let Some(helm) = helm() else {
        eprintln!("\n!!! helm oracle not found: the RunWhen Local comparison is SKIPPED.\n");
        return;
    };
    let ours = Path::new(env!("CARGO_BIN_EXE_charts-render"));
    for set in CASES {
        let expected = run(&helm, &dir, set);
        let got = run(ours, &dir, set);
        assert!(
            expected.contains("kind: Deployment"),
            "helm rendered no Deployment for {set:?}"
        );
        if got != expected {
            let line = got
                .lines()
                .zip(expected.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(got.lines().count().min(expected.lines().count()));
            panic!(
                "{set:?}: output differs from helm's at line {}:\n ours: {:?}\nhelm: {:?}",
                line + 1,
                got.lines().nth(line),
                expected.lines().nth(line)
            );
        }
        eprintln!(
            "runwhen-local {set:?}: {} bytes identical to helm's",
            got.len()
        );
    }
}
