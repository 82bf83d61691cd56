//! The metrics of one `acr-sync-taskset transfer` run, for `--textfile`: tags by
//! action, bytes, repositories and duration, labelled with the shard so that the files
//! (or pushed groups) of an Indexed Job's pods sit side by side.
//!
//! - `acr_sync_transfer_tags{action,shard}`: tag records per action (`copied`,
//!   `imported`, `retagged`, `skipped`, `failed`, and the dry run's `would-*`); every
//!   action is present, 0 when none, so that rates and alerts need no `absent()`.
//! - `acr_sync_transfer_bytes{shard}`: blob bytes moved through this machine.
//! - `acr_sync_transfer_repositories{shard}`: repositories taken.
//! - `acr_sync_transfer_duration_seconds{shard}`: wall time of the run.
//! - `acr_sync_transfer_last_run_timestamp_seconds{shard}`: when it ended.

use prometheus::{Encoder, GaugeVec, IntGaugeVec, Opts, Registry, TextEncoder};

use acr_sync::transfer::{TransferAction, TransferReport};

use super::MetricsError;

/// Every action, in the order of the contract.
const ACTIONS: [TransferAction; 8] = [
    TransferAction::Copied,
    TransferAction::Imported,
    TransferAction::Retagged,
    TransferAction::Skipped,
    TransferAction::Failed,
    TransferAction::WouldCopy,
    TransferAction::WouldImport,
    TransferAction::WouldRetag,
];

/// The exposition (text format 0.0.4) of one transfer run, ended at `now` (unix seconds).
pub fn transfer_exposition(report: &TransferReport, now: f64) -> Result<String, MetricsError> {
    let registry = Registry::new();
    let shard = report.summary.shard.clone().unwrap_or_default();
    let tags = IntGaugeVec::new(
        Opts::new(
            "acr_sync_transfer_tags",
            "Tags of the last transfer run, by action.",
        ),
        &["action", "shard"],
    )?;
    let gauge = |name: &str, help: &str| GaugeVec::new(Opts::new(name, help), &["shard"]);
    let bytes = gauge(
        "acr_sync_transfer_bytes",
        "Blob bytes the last transfer run moved through this machine.",
    )?;
    let repositories = gauge(
        "acr_sync_transfer_repositories",
        "Repositories the last transfer run took.",
    )?;
    let duration = gauge(
        "acr_sync_transfer_duration_seconds",
        "Wall time of the last transfer run.",
    )?;
    let ended = gauge(
        "acr_sync_transfer_last_run_timestamp_seconds",
        "When the last transfer run ended (unix time).",
    )?;
    for family in [&bytes, &repositories, &duration, &ended] {
        registry.register(Box::new(family.clone()))?;
    }
    registry.register(Box::new(tags.clone()))?;
    for action in ACTIONS {
        let n = report.summary.actions.get(&action).copied().unwrap_or(0);
        tags.with_label_values(&[action.as_str(), shard.as_str()])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    bytes
        .with_label_values(&[shard.as_str()])
        .set(report.summary.bytes as f64);
    repositories
        .with_label_values(&[shard.as_str()])
        .set(report.summary.repositories as f64);
    duration
        .with_label_values(&[shard.as_str()])
        .set(report.summary.seconds);
    ended.with_label_values(&[shard.as_str()]).set(now);
    let mut out = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut out)?;
    Ok(String::from_utf8(out).expect("the text encoder writes UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use acr_sync::transfer::TransferSummary;

    #[test]
    fn every_action_is_a_series_and_the_shard_a_label() {
        let mut summary = TransferSummary {
            shard: Some("1/4".into()),
            bytes: 2048,
            repositories: 3,
            seconds: 1.5,
            ..TransferSummary::default()
        };
        summary.actions.insert(TransferAction::Copied, 5);
        summary.actions.insert(TransferAction::Retagged, 1);
        let report = TransferReport {
            records: Vec::new(),
            summary,
            excluded: Vec::new(),
        };
        let text = transfer_exposition(&report, 1_700_000_000.0).unwrap();
        assert!(
            text.contains(r#"acr_sync_transfer_tags{action="copied",shard="1/4"} 5"#),
            "{text}"
        );
        assert!(text.contains(r#"acr_sync_transfer_tags{action="would-retag",shard="1/4"} 0"#));
        assert!(text.contains(r#"acr_sync_transfer_bytes{shard="1/4"} 2048"#));
        assert!(text.contains("# TYPE acr_sync_transfer_duration_seconds gauge"));
    }
}
