//! Prometheus metrics of the SLI: what checks found, how they went, and what the
//! registry client saw, as one [`prometheus::Registry`] in the text format 0.0.4.
//!
//! One [`Metrics`] lives as long as the process. One-shot mode feeds it a single check and
//! writes or pushes the result; `acr-sync-sli serve` feeds it every check and serves it,
//! so it keeps state across checks: the last known verdict of every image, the counters,
//! and the request counts of the registry client already exported.
//!
//! # Names and labels
//! All names start with `acr_sync_`; those of the contract, plus two that say which images
//! could not be checked (`images_check_failed`, `image_check_failed`).
//!
//! - `source` is the upstream repository without tag or digest (`ghcr.io/org/app`), and
//!   `target` the target repository, with its registry, without tag
//!   (`myacr.azurecr.io/runwhen/app`). Tags are left out on purpose: a code collection's
//!   stable tag changes with every build and a semver rule moves, so one series per
//!   configured image, not per tag seen, keeps the cardinality bounded by the config.
//!   Several images of one configured repository (a rule with `latest: N`) share a series:
//!   it reads 1 when any of them is outdated, and their largest lag.
//! - `images_outdated` counts images (tags), like the last line of the one-shot summary.
//!   It, `images_check_failed` and the `image_*` series are absent until a check has
//!   returned a plan: a check that could not run at all (a timeout) knows nothing, and the
//!   SLI must never read 0 before anything has been checked.
//! - An image that could not be checked keeps the verdict and lag of its last check, never
//!   reads 0 as if up to date, and reads 1 in `image_check_failed`; one never checked
//!   successfully has no `image_outdated` series until it is. Each such image counts once in
//!   `check_errors_total{stage}` (`source`, `resolve`, `target`), and so does a check that
//!   could not run at all (`timeout`).
//! - `checks_total{result}`: `success` (every image checked), `partial` (some could not be;
//!   the exit code 2 of one-shot mode), `error` (no image could be checked, or the check
//!   timed out). `check_last_success_timestamp_seconds` is the end of the last `success`.
//! - `image_lag_seconds` is upstream created minus target created: 0 for an image that is up
//!   to date, absent while an outdated image's dates are unknown (Docker Hub dates are not
//!   read by checks).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus::{
    Encoder, Gauge, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use acr_sync::config::{Target, TargetRegistry};
use acr_sync::plan::{Category, Plan, PlanEntry, Stage, Status};
use acr_sync::resolve::Placement;
use acr_sync_registry::RegistryStats;

/// The `Content-Type` of the exposition: Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// The label values of a family without labels.
const NO_LABELS: [&str; 0] = [];

/// Making or encoding the metrics failed.
#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// How a check went, as `checks_total{result}` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckResult {
    /// Every configured image was checked.
    Success,
    /// Some images or sources could not be checked; the rest were.
    Partial,
    /// No image could be checked, or the check did not finish.
    Error,
}

impl CheckResult {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckResult::Success => "success",
            CheckResult::Partial => "partial",
            CheckResult::Error => "error",
        }
    }

    /// How `plan` went: an empty plan (nothing configured) is a success.
    pub fn of(plan: &Plan) -> CheckResult {
        let checked = plan.entries.iter().filter(|e| !e.is_failed()).count();
        match (plan.failed(), checked) {
            (0, _) => CheckResult::Success,
            (_, 0) => CheckResult::Error,
            _ => CheckResult::Partial,
        }
    }
}

/// A check that produced no plan at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckFailure {
    /// It took longer than its time limit and was abandoned.
    Timeout,
}

impl CheckFailure {
    /// The `check_errors_total{stage}` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckFailure::Timeout => "timeout",
        }
    }
}

/// The identity of one image series: bounded by the configuration, never by tags.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ImageKey {
    category: Category,
    source: String,
    target: String,
}

/// What the metrics say about one image series.
#[derive(Debug, Clone, Default)]
struct ImageState {
    /// Outdated images (tags) of the series; `None` while never known.
    outdated: Option<usize>,
    /// Largest lag in seconds; `None` while unknown.
    lag: Option<f64>,
    /// The last check could not check (all of) it.
    failed: bool,
}

/// One check's findings for one image series.
#[derive(Debug, Default)]
struct Tally {
    outdated: usize,
    failed: usize,
    lags: Vec<i64>,
    lag_unknown: bool,
}

/// State kept across checks, behind one lock so that a scrape never sees half an update.
#[derive(Debug, Default)]
struct State {
    images: BTreeMap<ImageKey, ImageState>,
    /// Request counts already added to `registry_requests_total`, per (registry, method, code).
    requests_seen: BTreeMap<(String, String, String), u64>,
    /// A check has returned a plan: until then the image counts are unknown, not 0.
    planned: bool,
}

/// The metric families, registered in `registry`.
struct Families {
    /// No labels: a vector only so that it has no sample until a plan is known.
    images_outdated: IntGaugeVec,
    /// Likewise.
    images_check_failed: IntGaugeVec,
    image_outdated: IntGaugeVec,
    image_check_failed: IntGaugeVec,
    image_lag_seconds: GaugeVec,
    check_duration_seconds: Gauge,
    check_last_success_timestamp_seconds: Gauge,
    checks_total: IntCounterVec,
    check_errors_total: IntCounterVec,
    registry_requests_total: IntCounterVec,
    registry_ratelimit_remaining: IntGaugeVec,
    build_info: IntGaugeVec,
}

/// The SLI's metrics, in a registry of their own (no process or global metrics).
pub struct Metrics {
    registry: Registry,
    families: Families,
    labels: TargetLabels,
    state: Mutex<State>,
}

/// What the `target` label is made of, fixed for the life of the process.
struct TargetLabels {
    registry: TargetRegistry,
    placement: Placement,
}

impl TargetLabels {
    fn key(&self, entry: &PlanEntry) -> ImageKey {
        // An entry that could not be resolved has no target yet; placing its source gives
        // the same repository a resolved one gets, so the series survives failures.
        let repository = match &entry.target {
            Some(t) => t.repository.clone(),
            None => self.placement.place(&entry.source).0.repository,
        };
        ImageKey {
            category: entry.category,
            source: entry.source.repository_url(),
            target: self.registry.image_name(&repository, None),
        }
    }
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("acr_sync")
}

impl Families {
    fn new(registry: &Registry) -> Result<Families, prometheus::Error> {
        let image = &["category", "source", "target"];
        let f = Families {
            images_outdated: IntGaugeVec::new(
                opts(
                    "images_outdated",
                    "Upstream images (tags) that the target registry lacks: the SLI value. Images that could not be checked keep their last known state; absent until a check has returned a plan.",
                ),
                &[],
            )?,
            images_check_failed: IntGaugeVec::new(
                opts(
                    "images_check_failed",
                    "Images or sources that could not be checked in the last check; absent until a check has returned a plan.",
                ),
                &[],
            )?,
            image_outdated: IntGaugeVec::new(
                opts(
                    "image_outdated",
                    "1 when the target lacks an image of this configured source, 0 when it holds them all; kept from the last check that could tell.",
                ),
                image,
            )?,
            image_check_failed: IntGaugeVec::new(
                opts(
                    "image_check_failed",
                    "1 when the last check could not check this configured source.",
                ),
                image,
            )?,
            image_lag_seconds: GaugeVec::new(
                opts(
                    "image_lag_seconds",
                    "Upstream image creation time minus target image creation time; 0 when up to date, absent when unknown.",
                ),
                &["source", "target"],
            )?,
            check_duration_seconds: Gauge::with_opts(opts(
                "check_duration_seconds",
                "Wall-clock duration of the last check.",
            ))?,
            check_last_success_timestamp_seconds: Gauge::with_opts(opts(
                "check_last_success_timestamp_seconds",
                "Unix time at which the last check that checked every image ended; 0 when none has.",
            ))?,
            checks_total: IntCounterVec::new(
                opts(
                    "checks_total",
                    "Checks run, by result: success, partial or error.",
                ),
                &["result"],
            )?,
            check_errors_total: IntCounterVec::new(
                opts(
                    "check_errors_total",
                    "Images or sources that could not be checked, and checks that could not finish, by the stage that failed.",
                ),
                &["stage"],
            )?,
            registry_requests_total: IntCounterVec::new(
                opts(
                    "registry_requests_total",
                    "HTTP requests made to each registry, by method and status code (\"error\" when no response came).",
                ),
                &["registry", "method", "code"],
            )?,
            registry_ratelimit_remaining: IntGaugeVec::new(
                opts(
                    "registry_ratelimit_remaining",
                    "The last ratelimit-remaining value a registry sent (Docker Hub pulls left).",
                ),
                &["registry"],
            )?,
            build_info: IntGaugeVec::new(
                opts("build_info", "Always 1; the version of acr-sync."),
                &["version"],
            )?,
        };
        registry.register(Box::new(f.images_outdated.clone()))?;
        registry.register(Box::new(f.images_check_failed.clone()))?;
        registry.register(Box::new(f.image_outdated.clone()))?;
        registry.register(Box::new(f.image_check_failed.clone()))?;
        registry.register(Box::new(f.image_lag_seconds.clone()))?;
        registry.register(Box::new(f.check_duration_seconds.clone()))?;
        registry.register(Box::new(f.check_last_success_timestamp_seconds.clone()))?;
        registry.register(Box::new(f.checks_total.clone()))?;
        registry.register(Box::new(f.check_errors_total.clone()))?;
        registry.register(Box::new(f.registry_requests_total.clone()))?;
        registry.register(Box::new(f.registry_ratelimit_remaining.clone()))?;
        registry.register(Box::new(f.build_info.clone()))?;
        Ok(f)
    }

    /// Counters start at 0 for every known label value, so that `increase()` sees the first
    /// failure, and alerts can name series that have not moved yet.
    fn initialise(&self, version: &str) {
        for result in [
            CheckResult::Success,
            CheckResult::Partial,
            CheckResult::Error,
        ] {
            self.checks_total.with_label_values(&[result.as_str()]);
        }
        for stage in [Stage::Source, Stage::Resolve, Stage::Target] {
            self.check_errors_total.with_label_values(&[stage.as_str()]);
        }
        self.check_errors_total
            .with_label_values(&[CheckFailure::Timeout.as_str()]);
        self.build_info.with_label_values(&[version]).set(1);
    }
}

impl Metrics {
    /// Metrics for checks against `target`, reporting `version` in `build_info`.
    pub fn new(version: &str, target: &Target) -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let families = Families::new(&registry)?;
        families.initialise(version);
        Ok(Metrics {
            registry,
            families,
            labels: TargetLabels {
                registry: target.registry.clone(),
                // Date tags change the tag only, never the repository: none needed here.
                placement: Placement {
                    repository_path: target.repository_path.clone(),
                    date_tag: None,
                },
            },
            state: Mutex::new(State::default()),
        })
    }

    /// Takes in a finished check that ended at `ended` after `duration`; returns how it went.
    pub fn record_check(
        &self,
        plan: &Plan,
        duration: Duration,
        ended: DateTime<Utc>,
    ) -> CheckResult {
        let result = CheckResult::of(plan);
        let mut state = self.lock();
        state.images = self.merge(&state.images, plan);
        for entry in &plan.entries {
            if let Status::Failed { stage, .. } = &entry.status {
                self.families
                    .check_errors_total
                    .with_label_values(&[stage.as_str()])
                    .inc();
            }
        }
        for failure in &plan.source_failures {
            self.families
                .check_errors_total
                .with_label_values(&[failure.stage.as_str()])
                .inc();
        }
        state.planned = true;
        self.families
            .images_check_failed
            .with_label_values(&NO_LABELS)
            .set(plan.failed() as i64);
        self.families
            .checks_total
            .with_label_values(&[result.as_str()])
            .inc();
        self.families
            .check_duration_seconds
            .set(duration.as_secs_f64());
        if result == CheckResult::Success {
            self.families
                .check_last_success_timestamp_seconds
                .set(ended.timestamp_millis() as f64 / 1000.0);
        }
        self.publish_images(&state);
        result
    }

    /// Takes in a check that produced nothing: every image keeps its last known state and is
    /// marked as not checked. Before any plan, the image counts and series stay absent.
    pub fn record_failed_check(&self, failure: CheckFailure, duration: Duration) {
        let mut state = self.lock();
        for image in state.images.values_mut() {
            image.failed = true;
        }
        self.families
            .check_errors_total
            .with_label_values(&[failure.as_str()])
            .inc();
        self.families
            .checks_total
            .with_label_values(&[CheckResult::Error.as_str()])
            .inc();
        self.families
            .check_duration_seconds
            .set(duration.as_secs_f64());
        // Nothing known before this either: the counts stay absent rather than read 0.
        if state.planned {
            self.families
                .images_check_failed
                .with_label_values(&NO_LABELS)
                .set(state.images.len() as i64);
        }
        self.publish_images(&state);
    }

    /// Takes in the registry client's counters (cumulative over the client's life).
    pub fn record_registry_stats(&self, stats: &[RegistryStats]) {
        let mut state = self.lock();
        for registry in stats {
            for ((method, code), &count) in &registry.requests {
                let key = (registry.registry.clone(), method.clone(), code.clone());
                let seen = state.requests_seen.entry(key).or_insert(0);
                // A count below the one seen means a new client: all of it is new.
                let new = if count >= *seen { count - *seen } else { count };
                *seen = count;
                self.families
                    .registry_requests_total
                    .with_label_values(&[&registry.registry, method, code])
                    .inc_by(new);
            }
            if let Some(remaining) = registry.ratelimit_remaining {
                self.families
                    .registry_ratelimit_remaining
                    .with_label_values(&[&registry.registry])
                    .set(i64::try_from(remaining).unwrap_or(i64::MAX));
            }
        }
    }

    /// The exposition, in the text format 0.0.4 ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> Result<String, MetricsError> {
        // Held so that the families are read between two updates, never during one.
        let _state = self.lock();
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8(out).expect("the text encoder writes UTF-8"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves values that are still valid numbers.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The image states after `plan`: series of this plan only (the configuration decides
    /// which exist), each carrying over what `previous` knew where this check could not tell.
    fn merge(
        &self,
        previous: &BTreeMap<ImageKey, ImageState>,
        plan: &Plan,
    ) -> BTreeMap<ImageKey, ImageState> {
        let mut tallies: BTreeMap<ImageKey, Tally> = BTreeMap::new();
        for entry in &plan.entries {
            let tally = tallies.entry(self.labels.key(entry)).or_default();
            if entry.is_failed() {
                tally.failed += 1;
            } else if entry.is_outdated() {
                tally.outdated += 1;
                match entry.lag_seconds() {
                    Some(lag) => tally.lags.push(lag),
                    None => tally.lag_unknown = true,
                }
            }
        }
        tallies
            .into_iter()
            .map(|(key, tally)| {
                let state = next_state(previous.get(&key), &tally);
                (key, state)
            })
            .collect()
    }

    /// Rewrites the image series from `state` (series of images no longer configured go).
    fn publish_images(&self, state: &State) {
        let f = &self.families;
        f.image_outdated.reset();
        f.image_check_failed.reset();
        f.image_lag_seconds.reset();
        let mut total = 0;
        let mut lags: BTreeMap<(&str, &str), f64> = BTreeMap::new();
        for (key, image) in &state.images {
            let labels = [
                key.category.as_str(),
                key.source.as_str(),
                key.target.as_str(),
            ];
            if let Some(outdated) = image.outdated {
                f.image_outdated
                    .with_label_values(&labels)
                    .set(i64::from(outdated > 0));
                total += outdated;
            }
            f.image_check_failed
                .with_label_values(&labels)
                .set(i64::from(image.failed));
            // The lag series has no category: two categories with one repository share it.
            if let Some(lag) = image.lag {
                let slot = lags
                    .entry((key.source.as_str(), key.target.as_str()))
                    .or_insert(lag);
                *slot = slot.max(lag);
            }
        }
        for ((source, target), lag) in lags {
            f.image_lag_seconds
                .with_label_values(&[source, target])
                .set(lag);
        }
        if state.planned {
            f.images_outdated
                .with_label_values(&NO_LABELS)
                .set(total as i64);
        }
    }
}

/// One series' state after a check that found `tally`, given what was known before.
fn next_state(previous: Option<&ImageState>, tally: &Tally) -> ImageState {
    if tally.failed == 0 {
        let lag = match (tally.outdated, tally.lag_unknown) {
            (0, _) => Some(0.0),
            (_, true) => None,
            (_, false) => tally.lags.iter().max().map(|&l| l as f64),
        };
        return ImageState {
            outdated: Some(tally.outdated),
            lag,
            failed: false,
        };
    }
    // Part of it (or all) could not be checked: keep what was known, and never report
    // fewer outdated images than this check did see.
    let before = previous.cloned().unwrap_or_default();
    let outdated = match before.outdated {
        Some(known) => Some(known.max(tally.outdated)),
        None => (tally.outdated > 0).then_some(tally.outdated),
    };
    ImageState {
        outdated,
        lag: before.lag,
        failed: true,
    }
}

#[cfg(test)]
mod tests;
pub mod transfer;
