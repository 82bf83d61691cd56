//! The Kubernetes example in `deploy/`: every document is the kind it should be, the pieces
//! fit together (ports, probes, config), and the alert rules are what `promtool` accepts and
//! fire when they should (`promtool check rules`, `promtool test rules`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_serde::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Every document of every YAML file in deploy/.
fn documents() -> Vec<Value> {
    let mut docs = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(deploy_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for part in text.split("\n---\n") {
            let doc: Value =
                yaml_serde::from_str(part).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(
                doc["metadata"]["name"].as_str().is_some(),
                "{}: a named object",
                file.display()
            );
            docs.push(doc);
        }
    }
    docs
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind}"))
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

#[test]
fn the_manifests_are_the_expected_kinds_and_fit_together() {
    let docs = documents();
    let kinds: BTreeSet<(String, String)> = docs
        .iter()
        .map(|d| {
            (
                text(&d["apiVersion"]).to_string(),
                text(&d["kind"]).to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("v1", "ConfigMap"),
        ("v1", "ServiceAccount"),
        ("apps/v1", "Deployment"),
        ("v1", "Service"),
        ("batch/v1", "CronJob"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
    ]
    .iter()
    .map(|(a, k)| (a.to_string(), k.to_string()))
    .collect();
    assert_eq!(kinds, expected);

    let deployment = find(&docs, "Deployment");
    let pod = &deployment["spec"]["template"];
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        pod["metadata"]["labels"]["app.kubernetes.io/name"]
    );
    let container = &pod["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert_eq!(args[0], "serve");
    assert!(args.contains(&"--listen=0.0.0.0:9464"), "{args:?}");
    assert_eq!(container["ports"][0]["containerPort"].as_u64(), Some(9464));
    assert_eq!(
        text(&container["readinessProbe"]["httpGet"]["path"]),
        "/readyz"
    );
    assert_eq!(
        text(&container["livenessProbe"]["httpGet"]["path"]),
        "/healthz"
    );

    let service = find(&docs, "Service");
    let annotations = &service["metadata"]["annotations"];
    assert_eq!(text(&annotations["prometheus.io/scrape"]), "true");
    assert_eq!(text(&annotations["prometheus.io/port"]), "9464");
    assert_eq!(text(&annotations["prometheus.io/path"]), "/metrics");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"],
        container["ports"][0]["name"]
    );

    let cron = find(&docs, "CronJob");
    assert_eq!(text(&cron["spec"]["concurrencyPolicy"]), "Forbid");
    let job = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(text(&job["command"][0]), "acr-sync-taskset");

    // The ConfigMap's workspace.yaml is a valid acr-sync configuration.
    let config = find(&docs, "ConfigMap");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workspace.yaml");
    std::fs::write(&path, text(&config["data"]["workspace.yaml"])).unwrap();
    let settings = acr_sync::config::Settings::load(
        Some(&path),
        &acr_sync::config::Env::from_pairs(std::iter::empty::<(String, String)>()),
    )
    .unwrap_or_else(|e| panic!("deploy/config.yaml: {e}"));
    assert_eq!(settings.target.registry.to_string(), "myacr.azurecr.io");
}

/// promtool's expansion of the few template forms the rules use.
fn expand(template: &str, value: &str, human: &str, instance: &str) -> String {
    template
        .replace("{{ $value | humanizeDuration }}", human)
        .replace("{{ $value }}", value)
        .replace("{{ $labels.instance }}", instance)
}

#[test]
fn the_alert_rules_pass_promtool_and_fire_when_they_should() {
    let docs = documents();
    let rule = find(&docs, "PrometheusRule");
    let dir = tempfile::tempdir().unwrap();
    let mut group = Value::Mapping(Default::default());
    group["groups"] = rule["spec"]["groups"].clone();
    std::fs::write(
        dir.path().join("rules.yaml"),
        yaml_serde::to_string(&group).unwrap(),
    )
    .unwrap();

    let out = Command::new("promtool")
        .args(["check", "rules", "rules.yaml"])
        .current_dir(dir.path())
        .output()
        .expect("promtool runs (apt-get install -y prometheus)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let rules = rule["spec"]["groups"][0]["rules"].as_sequence().unwrap();
    let annotations = |name: &str, value: &str, human: &str| {
        let r = rules
            .iter()
            .find(|r| r["alert"].as_str() == Some(name))
            .unwrap();
        let mut out = Value::Mapping(Default::default());
        for key in ["summary", "description"] {
            out[key] = Value::String(expand(text(&r["annotations"][key]), value, human, "a"));
        }
        yaml_serde::to_string(&out).unwrap()
    };
    let indent = |yaml: String| {
        yaml.lines()
            .map(|l| format!("              {l}\n"))
            .collect::<String>()
    };
    // Instance "a": 2 images outdated, never a complete check (last success long ago).
    // Instance "b": up to date, a complete check every minute.
    let tests = format!(
        r#"rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'acr_sync_images_outdated{{instance="a"}}'
        values: '2x40'
      - series: 'acr_sync_images_outdated{{instance="b"}}'
        values: '0x40'
      - series: 'acr_sync_check_last_success_timestamp_seconds{{instance="a"}}'
        values: '-10000x40'
      - series: 'acr_sync_check_last_success_timestamp_seconds{{instance="b"}}'
        values: '0+60x40'
    alert_rule_test:
      - eval_time: 19m
        alertname: AcrSyncImagesOutdated
        exp_alerts: []
      - eval_time: 21m
        alertname: AcrSyncImagesOutdated
        exp_alerts:
          - exp_labels: {{severity: warning, instance: a}}
            exp_annotations:
{outdated}
      - eval_time: 9m
        alertname: AcrSyncChecksFailing
        exp_alerts: []
      - eval_time: 15m
        alertname: AcrSyncChecksFailing
        exp_alerts:
          - exp_labels: {{severity: warning, instance: a}}
            exp_annotations:
{failing}
"#,
        outdated = indent(annotations("AcrSyncImagesOutdated", "2", "")),
        failing = indent(annotations("AcrSyncChecksFailing", "10900", "3h 1m 40s")),
    );
    std::fs::write(dir.path().join("tests.yaml"), tests).unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules", "tests.yaml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
