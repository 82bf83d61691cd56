//! Bulk transfer (seed 004): whole registries and repositories, ACR to ACR and any
//! registry to any registry or layout.
//!
//! Transfer is another *source* of the same plan, not a parallel copy engine:
//! [`discover`](discover::discover) lists the source catalog, selects repositories
//! ([`filter`], [`shard`]), reads every tag with its digest on both sides through the
//! two [`Store`]s and compares them into a [`Plan`] (a missing tag is
//! [`Reason::MissingTag`], another digest [`Reason::DigestDiffers`], the same digest
//! up to date). [`execute`] carries it out with the run's [`Importer`] (the copy
//! engine, or ARM importImage, which `ImportMode::choose` makes `Force` for re-tagged
//! tags), and [`report`] turns its records into the transfer's own records and summary.
//! Repository names are kept whole: `team/app` stays `team/app`. Untagged manifests are
//! never looked at.

pub mod discover;
pub mod filter;
pub mod shard;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::execute::{self, Action, ExecuteOptions, Importer, Progress, Record};
use crate::plan::{Plan, PlanEntry, Reason, Status};
use crate::store::Store;

pub use discover::{CatalogError, Discovery, Excluded, Selection, discover};

/// What happened to one tag, as the contract spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransferAction {
    /// Copied through this machine (a new tag, or `--force`).
    Copied,
    /// Imported by ACR importImage (a new tag, or `--force`).
    Imported,
    /// The target tag pointed at another digest and now points at the source's.
    Retagged,
    /// The target already holds the same digest.
    Skipped,
    /// It could not be read or transferred; the reason says why.
    Failed,
    /// Dry run: would be copied.
    WouldCopy,
    /// Dry run: would be imported by importImage.
    WouldImport,
    /// Dry run: the target tag points at another digest and would be replaced.
    WouldRetag,
}

impl TransferAction {
    /// The contract's name (`would-copy` ...): a metric label and report text.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferAction::Copied => "copied",
            TransferAction::Imported => "imported",
            TransferAction::Retagged => "retagged",
            TransferAction::Skipped => "skipped",
            TransferAction::Failed => "failed",
            TransferAction::WouldCopy => "would-copy",
            TransferAction::WouldImport => "would-import",
            TransferAction::WouldRetag => "would-retag",
        }
    }
}

/// One tag of a transfer.
#[derive(Debug, Clone, Serialize)]
pub struct TransferRecord {
    /// The repository, the same name on both sides.
    pub repository: String,
    /// The tag; None for a repository whose tags could not be listed.
    pub tag: Option<String>,
    /// What happened.
    pub action: TransferAction,
    /// The source manifest digest.
    pub source_digest: Option<String>,
    /// The digest the target held under the tag before this run (None: no such tag).
    pub target_digest: Option<String>,
    /// Why, or the error.
    pub reason: String,
    /// Blob bytes moved through this machine.
    pub bytes: u64,
    /// Time spent on it.
    pub seconds: f64,
}

impl TransferRecord {
    /// Whether it counts as a failure of the run (exit 2).
    pub fn is_failure(&self) -> bool {
        self.action == TransferAction::Failed
    }
}

/// The counts of a transfer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TransferSummary {
    /// The source registry.
    pub source: String,
    /// The target (`host`, or `oci-layout:DIR`).
    pub target: String,
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// `I/N` when sharded.
    pub shard: Option<String>,
    /// Repositories taken.
    pub repositories: usize,
    /// Repositories the selection left out.
    pub excluded_repositories: usize,
    /// Tag records.
    pub tags: usize,
    /// Records per action.
    pub actions: BTreeMap<TransferAction, usize>,
    /// Blob bytes moved through this machine.
    pub bytes: u64,
    /// Wall time of the whole run.
    pub seconds: f64,
}

/// Records and summary: the `--format json` document and the report file.
#[derive(Debug, Clone, Serialize)]
pub struct TransferReport {
    /// One record per tag, in repository and tag order.
    pub records: Vec<TransferRecord>,
    /// The counts.
    pub summary: TransferSummary,
    /// The repositories left out, and why.
    pub excluded: Vec<Excluded>,
}

impl TransferReport {
    /// Whether some tag failed.
    pub fn has_failures(&self) -> bool {
        self.records.iter().any(TransferRecord::is_failure)
    }

    /// The re-tagged tags (transferred or to be), for the warning lines.
    pub fn retagged(&self) -> impl Iterator<Item = &TransferRecord> {
        self.records.iter().filter(|r| {
            matches!(
                r.action,
                TransferAction::Retagged | TransferAction::WouldRetag
            ) || (r.action == TransferAction::Failed
                && r.target_digest.is_some()
                && r.target_digest != r.source_digest)
        })
    }
}

/// How a transfer is carried out.
#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// Dry run and concurrency, as for a sync.
    pub execute: ExecuteOptions,
    /// Pause between two imports (`--delay-seconds`); imports then go one at a time.
    pub delay: Duration,
}

/// Carries the discovered plan out through [`execute::execute`]. With a delay, entries
/// go through it one at a time with the pause after each import, as the seed spaces
/// its `az acr import` calls.
pub async fn execute(
    plan: &Plan,
    store: &Store,
    importer: &Importer,
    options: &TransferOptions,
    progress: &Progress,
) -> Vec<Record> {
    if options.delay.is_zero() || options.execute.dry_run {
        return execute::execute(plan, store, importer, &options.execute, progress).await;
    }
    let mut records = Vec::with_capacity(plan.entries.len() + plan.source_failures.len());
    let mut imported_before = false;
    for entry in &plan.entries {
        let one = Plan {
            entries: vec![entry.clone()],
            source_failures: Vec::new(),
        };
        let wants_import = match entry.status {
            Status::Outdated { .. } => true,
            Status::UpToDate => importer.force(),
            Status::Failed { .. } => false,
        };
        if wants_import && imported_before {
            tokio::time::sleep(options.delay).await;
        }
        imported_before |= wants_import;
        records.extend(execute::execute(&one, store, importer, &options.execute, progress).await);
    }
    let failures = Plan {
        entries: Vec::new(),
        source_failures: plan.source_failures.clone(),
    };
    records.extend(execute::execute(&failures, store, importer, &options.execute, progress).await);
    records
}

/// Builds the transfer's records from the plan and the records `execute` returned for
/// it (one per entry in plan order, then one per source failure).
pub fn report(
    discovery: &Discovery,
    records: &[Record],
    importer: &Importer,
    summary: TransferSummary,
) -> TransferReport {
    let plan = &discovery.plan;
    let by_acr = matches!(importer, Importer::Acr { .. });
    let mut out: Vec<TransferRecord> = plan
        .entries
        .iter()
        .zip(records)
        .map(|(entry, record)| tag_record(entry, record, by_acr))
        .collect();
    out.extend(plan.source_failures.iter().map(|f| TransferRecord {
        repository: f.slug.clone(),
        tag: None,
        action: TransferAction::Failed,
        source_digest: None,
        target_digest: None,
        reason: f.error.clone(),
        bytes: 0,
        seconds: 0.0,
    }));
    let mut actions = BTreeMap::new();
    for r in &out {
        *actions.entry(r.action).or_default() += 1;
    }
    TransferReport {
        summary: TransferSummary {
            repositories: discovery.repositories.len(),
            excluded_repositories: discovery.excluded.len(),
            tags: out.len(),
            bytes: out.iter().map(|r| r.bytes).sum(),
            actions,
            ..summary
        },
        records: out,
        excluded: discovery.excluded.clone(),
    }
}

fn tag_record(entry: &PlanEntry, record: &Record, by_acr: bool) -> TransferRecord {
    let retag = matches!(
        entry.status,
        Status::Outdated {
            reason: Reason::DigestDiffers
        }
    );
    // importImage with `auto` may hand an image to the copy engine; its note says so
    // and the bytes moved show it.
    let copied_here = !by_acr || record.bytes > 0 || record.reason.contains("copied through");
    let action = match record.action {
        Action::Imported if retag => TransferAction::Retagged,
        Action::Imported if copied_here => TransferAction::Copied,
        Action::Imported => TransferAction::Imported,
        Action::WouldImport if retag => TransferAction::WouldRetag,
        Action::WouldImport if by_acr => TransferAction::WouldImport,
        Action::WouldImport => TransferAction::WouldCopy,
        Action::UpToDate => TransferAction::Skipped,
        Action::Failed | Action::NotChecked => TransferAction::Failed,
    };
    TransferRecord {
        repository: entry.slug.clone(),
        tag: entry.target.as_ref().map(|t| t.tag.clone()),
        action,
        source_digest: entry.source_digest.as_ref().map(ToString::to_string),
        target_digest: entry.target_digest.as_ref().map(ToString::to_string),
        reason: record.reason.clone(),
        bytes: record.bytes,
        seconds: record.seconds,
    }
}

/// The Markdown form of a report (`--report PATH` not ending in `.json`).
pub fn markdown(report: &TransferReport) -> String {
    let s = &report.summary;
    let mut out = format!(
        "# acr-sync transfer{}\n\n{} -> {}{}\n\n",
        if s.dry_run { " (dry run)" } else { "" },
        s.source,
        s.target,
        s.shard
            .as_ref()
            .map(|sh| format!(", shard {sh}"))
            .unwrap_or_default()
    );
    out.push_str(&format!(
        "{} repositories ({} left out), {} tags: {}\n\n",
        s.repositories,
        s.excluded_repositories,
        s.tags,
        counts(&s.actions)
    ));
    out.push_str("| repository | tag | action | source digest | target digest | reason |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for r in &report.records {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            cell(&r.repository),
            cell(r.tag.as_deref().unwrap_or("")),
            r.action.as_str(),
            r.source_digest.as_deref().unwrap_or(""),
            r.target_digest.as_deref().unwrap_or(""),
            cell(&r.reason)
        ));
    }
    out
}

/// `copied 3, skipped 2` in action order.
pub fn counts(actions: &BTreeMap<TransferAction, usize>) -> String {
    if actions.is_empty() {
        return "nothing to do".to_string();
    }
    actions
        .iter()
        .map(|(a, n)| format!("{} {n}", a.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The registry client's settings for a transfer: the run's (which already reach the
/// target, an ACR one through Entra ID), plus Entra ID access to a source ACR, whose
/// catalog and tag listings need a token too.
pub fn client_config(
    settings: &crate::config::Settings,
    source: &crate::config::TargetRegistry,
) -> acr_sync_registry::ClientConfig {
    let mut config = settings.client_config();
    if let (Some((_, login_server)), Some(credential)) =
        (source.acr_name(), &settings.azure.credential)
    {
        let has_basic = settings
            .registries
            .get(login_server)
            .is_some_and(|r| r.credentials.is_some());
        if !has_basic {
            config
                .credential_providers
                .entry(login_server.to_string())
                .or_insert_with(|| {
                    acr_sync_registry::ProvidedCredentials(std::sync::Arc::new(
                        acr_sync_azure::AcrCredentials::new(credential.clone(), login_server),
                    ))
                });
        }
    }
    config
}
