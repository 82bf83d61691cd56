use std::collections::BTreeMap;

use acr_sync_registry::{Digest, Reference, RegistryStats};
use chrono::TimeZone;

use super::*;
use acr_sync::config::TargetRegistry;
use acr_sync::plan::{Reason, SourceFailure, Status, TargetImage};

fn target() -> Target {
    Target {
        registry: TargetRegistry::parse("myacr.azurecr.io").unwrap(),
        repository_path: "runwhen".into(),
        subscription_id: None,
        is_default: false,
    }
}

fn metrics() -> Metrics {
    Metrics::new("1.2.3", &target()).unwrap()
}

fn digest(n: u8) -> Digest {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
        .parse()
        .unwrap()
}

fn entry(source: &str, status: Status) -> PlanEntry {
    let source = Reference::parse(source).unwrap();
    let resolved = !matches!(
        status,
        Status::Failed {
            stage: Stage::Resolve,
            ..
        }
    );
    PlanEntry {
        category: Category::Codecollection,
        slug: source.name().to_string(),
        target: resolved.then(|| TargetImage {
            repository: format!("runwhen/{}", source.name()),
            tag: source.tag().unwrap().to_string(),
        }),
        source_digest: resolved.then(|| digest(1)),
        target_digest: None,
        source_created: None,
        target_created: None,
        source,
        status,
    }
}

fn outdated(source: &str) -> PlanEntry {
    entry(
        source,
        Status::Outdated {
            reason: Reason::MissingTag,
        },
    )
}

fn failed(source: &str, stage: Stage) -> PlanEntry {
    entry(
        source,
        Status::Failed {
            stage,
            error: "down".into(),
            failure: None,
        },
    )
}

fn plan(entries: Vec<PlanEntry>) -> Plan {
    Plan {
        entries,
        source_failures: Vec::new(),
    }
}

fn ended() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap()
}

/// The value of the one sample whose line starts with `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    let mut found = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(s, _)| *s == series)
        .map(|(_, v)| v.parse::<f64>().unwrap());
    let first = found.next();
    assert!(found.next().is_none(), "{series} appears once");
    first
}

const A: &str = r#"category="codecollection",source="upstream.example/images/cc-a",target="myacr.azurecr.io/runwhen/cc-a""#;

#[test]
fn a_check_sets_the_sli_the_image_series_and_the_counters() {
    let m = metrics();
    let mut up = entry(
        "upstream.example/images/cc-b:main-1111111",
        Status::UpToDate,
    );
    up.category = Category::Image;
    let result = m.record_check(
        &plan(vec![
            outdated("upstream.example/images/cc-a:main-abcdef0"),
            up,
        ]),
        Duration::from_millis(1500),
        ended(),
    );
    assert_eq!(result, CheckResult::Success);
    let text = m.encode().unwrap();
    assert_eq!(
        value(&text, "acr_sync_images_outdated"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, &format!("acr_sync_image_outdated{{{A}}}")),
        Some(1.0),
        "{text}"
    );
    let b = r#"category="image",source="upstream.example/images/cc-b",target="myacr.azurecr.io/runwhen/cc-b""#;
    assert_eq!(
        value(&text, &format!("acr_sync_image_outdated{{{b}}}")),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"acr_sync_image_lag_seconds{source="upstream.example/images/cc-b",target="myacr.azurecr.io/runwhen/cc-b"}"#
        ),
        Some(0.0),
        "up to date: no lag"
    );
    assert!(
        !text.contains(r#"acr_sync_image_lag_seconds{source="upstream.example/images/cc-a""#),
        "unknown dates: no lag series"
    );
    assert!(
        !text.contains("main-abcdef0"),
        "tags are no label values: {text}"
    );
    assert_eq!(value(&text, "acr_sync_check_duration_seconds"), Some(1.5));
    assert_eq!(
        value(&text, "acr_sync_check_last_success_timestamp_seconds"),
        Some(ended().timestamp() as f64)
    );
    assert_eq!(
        value(&text, r#"acr_sync_checks_total{result="success"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"acr_sync_checks_total{result="error"}"#),
        Some(0.0),
        "initialised"
    );
    assert_eq!(
        value(&text, r#"acr_sync_check_errors_total{stage="resolve"}"#),
        Some(0.0),
        "initialised"
    );
    assert_eq!(
        value(&text, r#"acr_sync_build_info{version="1.2.3"}"#),
        Some(1.0)
    );
    assert!(text.contains("# HELP acr_sync_images_outdated "), "{text}");
    assert!(
        text.contains("# TYPE acr_sync_checks_total counter"),
        "{text}"
    );
}

#[test]
fn one_series_per_configured_image_whatever_the_tag() {
    let m = metrics();
    m.record_check(
        &plan(vec![outdated("upstream.example/images/cc-a:main-1111111")]),
        Duration::ZERO,
        ended(),
    );
    m.record_check(
        &plan(vec![outdated("upstream.example/images/cc-a:main-2222222")]),
        Duration::ZERO,
        ended(),
    );
    let text = m.encode().unwrap();
    assert_eq!(
        text.matches("acr_sync_image_outdated{").count(),
        1,
        "{text}"
    );

    // Two tags of one repository (a rule with `latest: 2`): one series, the SLI counts both.
    let mut lagging = outdated("upstream.example/images/cc-a:1.1");
    lagging.source_created = Some(ended());
    lagging.target_created = Some(ended() - chrono::Duration::seconds(90));
    m.record_check(
        &plan(vec![
            outdated("upstream.example/images/cc-a:1.0"),
            lagging.clone(),
        ]),
        Duration::ZERO,
        ended(),
    );
    let text = m.encode().unwrap();
    assert_eq!(
        text.matches("acr_sync_image_outdated{").count(),
        1,
        "{text}"
    );
    assert_eq!(value(&text, "acr_sync_images_outdated"), Some(2.0));
    assert!(
        !text.contains("acr_sync_image_lag_seconds{"),
        "one lag unknown: {text}"
    );

    let mut up = lagging.clone();
    up.source = Reference::parse("upstream.example/images/cc-a:1.0").unwrap();
    up.status = Status::UpToDate;
    m.record_check(&plan(vec![up, lagging]), Duration::ZERO, ended());
    let text = m.encode().unwrap();
    assert_eq!(
        value(
            &text,
            r#"acr_sync_image_lag_seconds{source="upstream.example/images/cc-a",target="myacr.azurecr.io/runwhen/cc-a"}"#
        ),
        Some(90.0),
        "{text}"
    );
}

#[test]
fn an_image_that_cannot_be_checked_keeps_its_last_value_and_is_counted() {
    let m = metrics();
    m.record_check(
        &plan(vec![outdated("upstream.example/images/cc-a:main-1111111")]),
        Duration::ZERO,
        ended(),
    );

    let result = m.record_check(
        &plan(vec![failed(
            "upstream.example/images/cc-a:main-latest",
            Stage::Resolve,
        )]),
        Duration::ZERO,
        ended() + chrono::Duration::hours(1),
    );
    assert_eq!(result, CheckResult::Error, "nothing could be checked");
    let text = m.encode().unwrap();
    assert_eq!(
        value(&text, &format!("acr_sync_image_outdated{{{A}}}")),
        Some(1.0),
        "kept: {text}"
    );
    assert_eq!(
        value(&text, &format!("acr_sync_image_check_failed{{{A}}}")),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "acr_sync_images_outdated"),
        Some(1.0),
        "the SLI keeps it too"
    );
    assert_eq!(value(&text, "acr_sync_images_check_failed"), Some(1.0));
    assert_eq!(
        value(&text, r#"acr_sync_check_errors_total{stage="resolve"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"acr_sync_checks_total{result="error"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "acr_sync_check_last_success_timestamp_seconds"),
        Some(ended().timestamp() as f64),
        "only a successful check moves it"
    );

    m.record_failed_check(CheckFailure::Timeout, Duration::from_secs(3));
    let text = m.encode().unwrap();
    assert_eq!(
        value(&text, &format!("acr_sync_image_outdated{{{A}}}")),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"acr_sync_check_errors_total{stage="timeout"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"acr_sync_checks_total{result="error"}"#),
        Some(2.0)
    );
}

#[test]
fn an_image_never_checked_reads_failed_not_up_to_date() {
    let m = metrics();
    let mut p = plan(vec![
        outdated("upstream.example/images/cc-a:main-1111111"),
        failed("upstream.example/images/cc-b:main-latest", Stage::Resolve),
    ]);
    p.source_failures.push(SourceFailure {
        category: Category::Chart,
        slug: "runwhen-local".into(),
        stage: Stage::Source,
        error: "not rendered".into(),
    });
    assert_eq!(
        m.record_check(&p, Duration::ZERO, ended()),
        CheckResult::Partial
    );
    let text = m.encode().unwrap();
    let b = r#"category="codecollection",source="upstream.example/images/cc-b",target="myacr.azurecr.io/runwhen/cc-b""#;
    assert_eq!(
        value(&text, &format!("acr_sync_image_outdated{{{b}}}")),
        None,
        "unknown, not 0: {text}"
    );
    assert_eq!(
        value(&text, &format!("acr_sync_image_check_failed{{{b}}}")),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "acr_sync_images_outdated"),
        Some(1.0),
        "as the one-shot summary says"
    );
    assert_eq!(value(&text, "acr_sync_images_check_failed"), Some(2.0));
    assert_eq!(
        value(&text, r#"acr_sync_check_errors_total{stage="source"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"acr_sync_checks_total{result="partial"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "acr_sync_check_last_success_timestamp_seconds"),
        Some(0.0)
    );
}

#[test]
fn registry_counters_add_what_the_client_counted_since_last_time() {
    let m = metrics();
    let stats = |n: u64, remaining: Option<u64>| {
        vec![RegistryStats {
            registry: "docker.io".into(),
            requests: BTreeMap::from([(("GET".to_string(), "200".to_string()), n)]),
            ratelimit_remaining: remaining,
        }]
    };
    m.record_registry_stats(&stats(3, Some(97)));
    m.record_registry_stats(&stats(5, None));
    let text = m.encode().unwrap();
    assert_eq!(
        value(
            &text,
            r#"acr_sync_registry_requests_total{code="200",method="GET",registry="docker.io"}"#
        ),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"acr_sync_registry_ratelimit_remaining{registry="docker.io"}"#
        ),
        Some(97.0)
    );
    // A new client starts again from 0: its counts are all new.
    m.record_registry_stats(&stats(2, Some(90)));
    let text = m.encode().unwrap();
    assert_eq!(
        value(
            &text,
            r#"acr_sync_registry_requests_total{code="200",method="GET",registry="docker.io"}"#
        ),
        Some(7.0)
    );
    assert_eq!(
        value(
            &text,
            r#"acr_sync_registry_ratelimit_remaining{registry="docker.io"}"#
        ),
        Some(90.0)
    );
}

#[test]
fn nothing_is_claimed_about_images_before_a_check_returns_a_plan() {
    let m = metrics();
    let text = m.encode().unwrap();
    assert_eq!(value(&text, "acr_sync_images_outdated"), None, "{text}");
    assert_eq!(value(&text, "acr_sync_images_check_failed"), None, "{text}");

    // The first check times out: counted, but the SLI is still unknown, not 0.
    m.record_failed_check(CheckFailure::Timeout, Duration::from_secs(3));
    let text = m.encode().unwrap();
    assert_eq!(value(&text, "acr_sync_images_outdated"), None, "{text}");
    assert_eq!(value(&text, "acr_sync_images_check_failed"), None, "{text}");
    assert!(!text.contains("acr_sync_image_"), "{text}");
    assert!(!text.contains("# HELP acr_sync_images_outdated "), "{text}");
    assert_eq!(
        value(&text, r#"acr_sync_check_errors_total{stage="timeout"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&text, r#"acr_sync_checks_total{result="error"}"#),
        Some(1.0)
    );

    // A plan comes: the SLI appears, and a later timeout keeps it.
    m.record_check(
        &plan(vec![outdated("upstream.example/images/cc-a:main-1111111")]),
        Duration::ZERO,
        ended(),
    );
    let text = m.encode().unwrap();
    assert_eq!(
        value(&text, "acr_sync_images_outdated"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value(&text, "acr_sync_images_check_failed"), Some(0.0));
    assert!(
        text.contains("# TYPE acr_sync_images_outdated gauge"),
        "{text}"
    );
    m.record_failed_check(CheckFailure::Timeout, Duration::from_secs(3));
    let text = m.encode().unwrap();
    assert_eq!(
        value(&text, "acr_sync_images_outdated"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value(&text, "acr_sync_images_check_failed"), Some(1.0));

    // An empty plan (nothing configured) is a plan: the SLI reads 0, truthfully.
    let m = metrics();
    m.record_check(&plan(vec![]), Duration::ZERO, ended());
    let text = m.encode().unwrap();
    assert_eq!(
        value(&text, "acr_sync_images_outdated"),
        Some(0.0),
        "{text}"
    );
}
