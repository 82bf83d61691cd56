//! Carrying out a plan: import every outdated image, one failure never stopping the rest.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::config::TargetRegistry;
use crate::copy::{Copier, CopyTarget};
use crate::layout::Layout;
use crate::plan::{Plan, PlanEntry, Status};
use crate::report::destination;

/// How a plan is carried out.
#[derive(Debug, Clone)]
pub struct ExecuteOptions {
    /// Report what would be done; change nothing.
    pub dry_run: bool,
    /// Images imported at once.
    pub concurrency: usize,
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

/// The copy destination of a target image.
pub fn copy_target(target: &TargetRegistry, repository: &str, tag: &str) -> CopyTarget {
    match target {
        TargetRegistry::Layout { dir } => CopyTarget::Layout {
            layout: Layout::new(dir.clone()),
            repository: repository.to_string(),
            tag: tag.to_string(),
        },
        registry => CopyTarget::Registry {
            host: registry
                .host()
                .expect("registry targets have a host")
                .to_string(),
            repository: repository.to_string(),
            tag: tag.to_string(),
        },
    }
}

/// Imports what `plan` says is outdated (everything checked, when the copier forces), in plan order
/// in the report, `options.concurrency` images at a time.
pub async fn execute(
    plan: &Plan,
    target: &TargetRegistry,
    copier: &Copier,
    options: &ExecuteOptions,
    progress: &Progress,
) -> Vec<Record> {
    let force = copier.options().force;
    let todo = plan
        .entries
        .iter()
        .filter(|e| wants_import(e, force))
        .count();
    progress.total.store(todo, Ordering::Relaxed);
    let mut records: Vec<Record> = stream::iter(&plan.entries)
        .map(|entry| async move {
            let record = one(entry, target, copier, options).await;
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
    target: &TargetRegistry,
    copier: &Copier,
    options: &ExecuteOptions,
) -> Record {
    let mut record = Record {
        source: entry.source.to_string(),
        target: entry.target.as_ref().map(|t| destination(target, t)),
        action: Action::UpToDate,
        reason: String::new(),
        digest: entry.source_digest.as_ref().map(ToString::to_string),
        bytes: 0,
        seconds: 0.0,
    };
    match &entry.status {
        Status::Failed { error, .. } => {
            record.action = Action::NotChecked;
            record.reason = error.clone();
            return record;
        }
        Status::UpToDate if !copier.options().force => {
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
    let result = copier
        .copy(&source, &copy_target(target, &image.repository, &image.tag))
        .await;
    record.seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(copied) if copied.manifests_written == 0 => {
            record.action = Action::UpToDate;
            record.reason = "the target already held this digest".to_string();
            record.digest = Some(copied.digest.to_string());
        }
        Ok(copied) => {
            record.action = Action::Imported;
            record.digest = Some(copied.digest.to_string());
            record.bytes = copied.bytes;
        }
        Err(e) => {
            record.action = Action::Failed;
            record.reason = e.to_string();
        }
    }
    record
}
