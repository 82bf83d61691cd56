//! The plan: for every source image, whether the target holds it, and why not.
//!
//! A plan is pure data. The SLI counts its outdated entries; the taskset executes them.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use acr_sync_registry::{Digest, Reference};

use crate::failure::FailureClass;

/// The kind of source an image came from; a metric label and the JSON file it goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// A RunWhen code collection (`${ref}-latest` followed to its stable tag).
    Codecollection,
    /// An image rendered from a Helm chart.
    Chart,
    /// An explicit `images:` entry.
    Image,
}

impl Category {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Codecollection => "codecollection",
            Category::Chart => "chart",
            Category::Image => "image",
        }
    }
}

/// Where an image goes in the target: repository and tag, registry-independent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TargetImage {
    /// `<repository_path>/<name>`.
    pub repository: String,
    /// The tag to hold (the upstream tag, or a date tag).
    pub tag: String,
}

/// One source image checked against the target.
#[derive(Debug, Clone, Serialize)]
pub struct PlanEntry {
    /// What kind of source it came from.
    pub category: Category,
    /// The configured name (code collection name, chart name, image repository).
    pub slug: String,
    /// The upstream image, with the tag chosen by its rule.
    pub source: Reference,
    /// Where it goes; `None` when the source could not even be resolved to a tag.
    pub target: Option<TargetImage>,
    /// The upstream manifest digest, once known.
    pub source_digest: Option<Digest>,
    /// The digest the target holds under the target tag, if any.
    pub target_digest: Option<Digest>,
    /// Upstream image creation date, when read and meaningful.
    pub source_created: Option<DateTime<Utc>>,
    /// Target image creation date, when read and meaningful.
    pub target_created: Option<DateTime<Utc>>,
    /// The verdict.
    pub status: Status,
}

/// The verdict on one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// The target holds the upstream digest under the target tag.
    UpToDate,
    /// The target lacks it.
    Outdated {
        /// Why.
        reason: Reason,
    },
    /// It could not be checked; never counted as up to date.
    Failed {
        /// Which step failed.
        stage: Stage,
        /// What happened, naming the image and registry.
        error: String,
        /// The class of the failure, when the step that failed knows it.
        #[serde(skip_serializing_if = "Option::is_none")]
        failure: Option<FailureClass>,
    },
}

/// Why an entry is outdated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The target has no such tag.
    MissingTag,
    /// The target tag points at another digest (the upstream tag moved).
    DigestDiffers,
    /// Date-tag mode: the upstream digest is under no tag of the target repository.
    DigestAbsent,
}

/// The step at which checking an entry failed; a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Turning the configuration into images (a chart that does not render).
    Source,
    /// Choosing the upstream tag and digest.
    Resolve,
    /// Reading the target.
    Target,
    /// Copying or importing (taskset only).
    Import,
}

impl Stage {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Source => "source",
            Stage::Resolve => "resolve",
            Stage::Target => "target",
            Stage::Import => "import",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::MissingTag => "the target has no such tag",
            Reason::DigestDiffers => "the target tag points at another digest",
            Reason::DigestAbsent => "the upstream digest is under no tag of the target repository",
        })
    }
}

impl PlanEntry {
    /// Whether the target lacks this image.
    pub fn is_outdated(&self) -> bool {
        matches!(self.status, Status::Outdated { .. })
    }

    /// Whether it could not be checked.
    pub fn is_failed(&self) -> bool {
        matches!(self.status, Status::Failed { .. })
    }

    /// Upstream created minus target created, when both are known.
    pub fn lag_seconds(&self) -> Option<i64> {
        Some((self.source_created? - self.target_created?).num_seconds())
    }
}

/// A configured source that did not even yield an image (a chart that does not render):
/// its images could not be checked.
#[derive(Debug, Clone, Serialize)]
pub struct SourceFailure {
    /// What kind of source.
    pub category: Category,
    /// The configured name.
    pub slug: String,
    /// Where it failed.
    pub stage: Stage,
    /// What happened, naming the chart, file and line where known.
    pub error: String,
}

/// All entries of one check, in configuration order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// One entry per upstream image.
    pub entries: Vec<PlanEntry>,
    /// Sources that yielded no image to check.
    pub source_failures: Vec<SourceFailure>,
}

impl Plan {
    /// How many images the target lacks: the SLI value.
    pub fn outdated(&self) -> usize {
        self.entries.iter().filter(|e| e.is_outdated()).count()
    }

    /// How many images or sources could not be checked.
    pub fn failed(&self) -> usize {
        self.entries.iter().filter(|e| e.is_failed()).count() + self.source_failures.len()
    }

    /// The one-shot SLI value, the summary's last line: images the target is not known
    /// to hold, i.e. the outdated ones plus those that could not be checked. A pipeline
    /// that pushes only this number must never read a mirror it could not see as
    /// healthy; the summary says which part is which.
    pub fn not_known_current(&self) -> usize {
        self.outdated() + self.failed()
    }

    /// Whether everything was checked.
    pub fn is_complete(&self) -> bool {
        self.failed() == 0
    }
}
