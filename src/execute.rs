//! Carrying out a plan: import every outdated image, one failure never stopping the rest.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use acr_sync_azure::{AcrImporter, ImportError, ImportMode};
use acr_sync_registry::{Client, Reference};

use crate::copy::{Copier, CopyError};
use crate::failure::FailureClass;
use crate::plan::{Plan, PlanEntry, Reason, Status, TargetImage};
use crate::store::Store;

/// How a plan is carried out.
#[derive(Debug, Clone)]
pub struct ExecuteOptions {
    /// Report what would be done; change nothing.
    pub dry_run: bool,
    /// Images imported at once.
    pub concurrency: usize,
    /// When the run must be over (`sync.deadline`): an import still going then is
    /// abandoned before its tag moves, and images not started are not started.
    pub deadline: Option<tokio::time::Instant>,
}

/// What happened to one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Copied into the target.
    Imported,
    /// Would be copied (dry run).
    WouldImport,
    /// Already up to date; nothing done.
    UpToDate,
    /// The import failed.
    Failed,
    /// The image could not be checked, so it was not imported.
    NotChecked,
}

/// One image of the run, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// The upstream image.
    pub source: String,
    /// The target image.
    pub target: Option<String>,
    /// What happened.
    pub action: Action,
    /// Why it was (or was not) imported, or the error.
    pub reason: String,
    /// The class of the failure, for a failed or unchecked image when it is known.
    pub failure: Option<FailureClass>,
    /// The manifest digest that the target tag now holds (or would).
    pub digest: Option<String>,
    /// Blob bytes moved for it.
    pub bytes: u64,
    /// Time spent on it.
    pub seconds: f64,
}

impl Record {
    /// Whether this image counts as a failure of the run.
    pub fn is_failure(&self) -> bool {
        matches!(self.action, Action::Failed | Action::NotChecked)
    }
}

/// Progress of a run, read by a display while the run goes on.
#[derive(Debug, Default)]
pub struct Progress {
    /// Images to import.
    pub total: AtomicUsize,
    /// Images finished (imported or failed).
    pub done: AtomicUsize,
}

/// How images get into the target.
pub enum Importer {
    /// Streamed registry to registry through this machine.
    Copy(Copier),
    /// ARM importImage: the bytes move inside Azure.
    Acr {
        /// The ARM importer of the target ACR.
        importer: Box<AcrImporter>,
        /// Reads source manifests for the pre-check.
        client: Client,
        /// `auto`: images importImage cannot take are copied instead.
        fallback: Option<Copier>,
        /// Replace tags that already exist (`--force`).
        force: bool,
    },
}

/// Why one import failed: the copy engine's error or ARM's, kept typed until the
/// record is built.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    /// The copy through this machine failed.
    #[error(transparent)]
    Copy(#[from] CopyError),
    /// ARM importImage failed.
    #[error(transparent)]
    Arm(#[from] ImportError),
}

impl ImportFailure {
    /// The class of the failure.
    pub fn class(&self) -> FailureClass {
        match self {
            ImportFailure::Copy(e) => e.class(),
            ImportFailure::Arm(e) => FailureClass::of_import(e),
        }
    }
}

/// What one import did.
struct Outcome {
    digest: Option<String>,
    bytes: u64,
    /// How it was done, when that is worth saying (a fallback, and why).
    note: Option<String>,
}

impl Importer {
    /// Whether up-to-date images are imported again.
    pub fn force(&self) -> bool {
        match self {
            Importer::Copy(copier) => copier.options().force,
            Importer::Acr { force, .. } => *force,
        }
    }

    /// Blob bytes moved through this machine so far.
    pub fn bytes_transferred(&self) -> u64 {
        match self {
            Importer::Copy(copier) => copier.bytes_transferred(),
            Importer::Acr { fallback, .. } => {
                fallback.as_ref().map_or(0, Copier::bytes_transferred)
            }
        }
    }

    async fn import(
        &self,
        entry: &PlanEntry,
        source: &Reference,
        store: &Store,
        image: &TargetImage,
    ) -> Result<Outcome, ImportFailure> {
        let (importer, client, fallback, force) = match self {
            Importer::Copy(copier) => return copy(copier, source, store, image, None).await,
            Importer::Acr {
                importer,
                client,
                fallback,
                force,
            } => (importer, client, fallback, *force),
        };
        if let Some(copier) = fallback
            && let Err(reason) = importer.precheck(client, source).await
        {
            return copy(copier, source, store, image, Some(reason.to_string())).await;
        }
        let differs = matches!(
            entry.status,
            Status::Outdated {
                reason: Reason::DigestDiffers
            }
        );
        let mode = ImportMode::choose(force, differs);
        match importer
            .import_image(source, &image.repository, &image.tag, mode)
            .await
        {
            Ok(_) => Ok(Outcome {
                digest: source.digest().map(ToString::to_string),
                bytes: 0,
                note: Some("imported by ACR importImage".to_string()),
            }),
            Err(e) => match (e.wants_fallback(), fallback) {
                (Some(reason), Some(copier)) => {
                    copy(copier, source, store, image, Some(reason.to_string())).await
                }
                _ => Err(e.into()),
            },
        }
    }
}

async fn copy(
    copier: &Copier,
    source: &Reference,
    store: &Store,
    image: &TargetImage,
    fallback: Option<String>,
) -> Result<Outcome, ImportFailure> {
    // The plan compared the target tag moments ago; the copy need not read it again.
    let copied = copier.copy_outdated(source, store, image).await?;
    Ok(Outcome {
        digest: Some(copied.digest.to_string()),
        bytes: copied.bytes,
        note: fallback.map(|why| format!("copied through this machine: {why}")),
    })
}

/// Imports what `plan` says is outdated (everything checked, when the copier forces), in plan order
/// in the report, `options.concurrency` images at a time.
pub async fn execute(
    plan: &Plan,
    store: &Store,
    importer: &Importer,
    options: &ExecuteOptions,
    progress: &Progress,
) -> Vec<Record> {
    let force = importer.force();
    let todo = plan
        .entries
        .iter()
        .filter(|e| wants_import(e, force))
        .count();
    // Added, not set: a caller may run a plan in parts (transfer's --delay-seconds).
    progress.total.fetch_add(todo, Ordering::Relaxed);
    let mut records: Vec<Record> = stream::iter(&plan.entries)
        .map(|entry| async move {
            let record = one(entry, store, importer, options).await;
            if wants_import(entry, force) {
                progress.done.fetch_add(1, Ordering::Relaxed);
            }
            record
        })
        .buffered(options.concurrency.max(1))
        .collect()
        .await;
    records.extend(plan.source_failures.iter().map(|f| Record {
        source: format!("{} {}", f.category.as_str(), f.slug),
        target: None,
        action: Action::NotChecked,
        reason: f.error.clone(),
        failure: None,
        digest: None,
        bytes: 0,
        seconds: 0.0,
    }));
    records
}

fn wants_import(entry: &PlanEntry, force: bool) -> bool {
    match entry.status {
        Status::Outdated { .. } => true,
        Status::UpToDate => force,
        Status::Failed { .. } => false,
    }
}

async fn one(
    entry: &PlanEntry,
    store: &Store,
    importer: &Importer,
    options: &ExecuteOptions,
) -> Record {
    let mut record = Record {
        source: entry.source.to_string(),
        target: entry.target.as_ref().map(|t| store.name(t)),
        action: Action::UpToDate,
        reason: String::new(),
        failure: None,
        digest: entry.source_digest.as_ref().map(ToString::to_string),
        bytes: 0,
        seconds: 0.0,
    };
    match &entry.status {
        Status::Failed { error, failure, .. } => {
            record.action = Action::NotChecked;
            record.reason = error.clone();
            record.failure = *failure;
            return record;
        }
        Status::UpToDate if !importer.force() => {
            record.reason = "the target holds the same digest".to_string();
            return record;
        }
        Status::UpToDate => record.reason = "forced".to_string(),
        Status::Outdated { reason } => record.reason = reason.to_string(),
    }
    if options.dry_run {
        record.action = Action::WouldImport;
        return record;
    }
    let image = entry
        .target
        .as_ref()
        .expect("checked entries have a target");
    // Copy the exact manifest that was checked, so the tag gets the digest the plan saw
    // even if the upstream tag moves meanwhile.
    let source = match &entry.source_digest {
        Some(digest) => entry.source.with_digest(digest.clone()),
        None => entry.source.clone(),
    };
    let started = Instant::now();
    let result = within(
        options.deadline,
        importer.import(entry, &source, store, image),
    )
    .await;
    record.seconds = started.elapsed().as_secs_f64();
    match result {
        None => {
            record.action = Action::Failed;
            record.failure = Some(FailureClass::Timeout);
            record.reason = DEADLINE_PASSED.to_string();
        }
        Some(Ok(outcome)) => {
            record.action = Action::Imported;
            if let Some(note) = outcome.note {
                record.reason = format!("{}; {note}", record.reason);
            }
            record.digest = outcome.digest.or(record.digest);
            record.bytes = outcome.bytes;
        }
        Some(Err(error)) => {
            record.action = Action::Failed;
            record.failure = Some(error.class());
            record.reason = error.to_string();
        }
    }
    record
}

/// Why an image was abandoned at the deadline; its tag was not moved (a tag moves only
/// after its content is verified), so the next run takes it up.
pub const DEADLINE_PASSED: &str = "the run's deadline (sync.deadline or --deadline) passed before this image was done; its target tag was left as it was, the next run continues";

/// `work`, unless `deadline` passes first (`None` then). A deadline already past does
/// not even start it: nothing half-begun is left for a registry to expire.
pub async fn within<F: std::future::Future>(
    deadline: Option<tokio::time::Instant>,
    work: F,
) -> Option<F::Output> {
    match deadline {
        None => Some(work.await),
        Some(at) if tokio::time::Instant::now() >= at => None,
        Some(at) => tokio::time::timeout_at(at, work).await.ok(),
    }
}
