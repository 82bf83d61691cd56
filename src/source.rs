//! Sources: the upstream images the configuration asks for, before any tag is chosen.

use acr_sync_registry::Reference;

use crate::config::{Settings, TagRule};
use crate::plan::{Category, SourceFailure, Stage};

/// One configured upstream image whose tag is still to be chosen.
#[derive(Debug, Clone)]
pub struct Source {
    /// The kind of source.
    pub category: Category,
    /// The configured name, for reports.
    pub slug: String,
    /// How its tags are chosen.
    pub kind: SourceKind,
}

/// How a source's tags are chosen.
#[derive(Debug, Clone)]
pub enum SourceKind {
    /// Follow `<git_ref>-latest` to its stable sibling tag by the `architecture` digest.
    CodeCollection {
        /// The repository, tagged `<git_ref>-latest`.
        latest: Reference,
        /// The branch.
        git_ref: String,
        /// Whose digest identifies the build.
        architecture: String,
    },
    /// An explicit repository and its rule.
    Rule {
        /// The repository.
        repository: Reference,
        /// The rule.
        rule: TagRule,
    },
    /// One exact image (a chart renders these).
    Exact(Reference),
}

/// The sources of `settings`, in configuration order, and the ones that could not be
/// formed (a chart that does not render), which are reported, never dropped.
pub fn sources(settings: &Settings) -> (Vec<Source>, Vec<SourceFailure>) {
    let mut found = Vec::new();
    let mut failed = Vec::new();
    if let Some(cc) = &settings.codecollections {
        for name in &cc.images {
            let text = format!("{}/{name}:{}-latest", cc.source, cc.git_ref);
            match Reference::parse(&text) {
                Ok(latest) => found.push(Source {
                    category: Category::Codecollection,
                    slug: name.clone(),
                    kind: SourceKind::CodeCollection {
                        latest,
                        git_ref: cc.git_ref.clone(),
                        architecture: cc.architecture.clone(),
                    },
                }),
                Err(e) => failed.push(SourceFailure {
                    category: Category::Codecollection,
                    slug: name.clone(),
                    stage: Stage::Source,
                    error: format!("codecollections.images: {e}"),
                }),
            }
        }
    }
    for image in &settings.images {
        found.push(Source {
            category: Category::Image,
            slug: image.repository.repository_url(),
            kind: match &image.rule {
                TagRule::Exact(tag) => SourceKind::Exact(
                    image
                        .repository
                        .with_tag(tag)
                        .expect("tags are validated when the config is read"),
                ),
                rule => SourceKind::Rule {
                    repository: image.repository.clone(),
                    rule: rule.clone(),
                },
            },
        });
    }
    for chart in &settings.charts {
        let name = chart
            .name
            .clone()
            .or_else(|| chart.chart.clone())
            .unwrap_or_else(|| "chart".to_string());
        failed.push(SourceFailure {
            category: Category::Chart,
            slug: name,
            stage: Stage::Source,
            error:
                "chart sources are not rendered by this build yet; their images were not checked"
                    .to_string(),
        });
    }
    (found, failed)
}
