//! Sources: the upstream images the configuration asks for, before any tag is chosen.

use acr_sync_registry::{Client, Reference};
use futures::stream::{self, StreamExt};

use crate::charts::{chart_images, chart_name};
use crate::config::{Settings, TagRule};
use crate::plan::{Category, SourceFailure, Stage};

/// Charts rendered at once.
const CHARTS_AT_ONCE: usize = 4;

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
pub async fn sources(settings: &Settings, client: &Client) -> (Vec<Source>, Vec<SourceFailure>) {
    let mut found = Vec::new();
    let mut failed = Vec::new();
    if let Some(cc) = &settings.codecollections {
        for name in &cc.images {
            let text = format!("{}/{name}:{}-latest", cc.source, cc.git_ref);
            let latest = Reference::parse(&text).expect("checked when the config was read");
            found.push(Source {
                category: Category::Codecollection,
                slug: name.clone(),
                kind: SourceKind::CodeCollection {
                    latest,
                    git_ref: cc.git_ref.clone(),
                    architecture: cc.architecture.clone(),
                },
            });
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
    let rendered: Vec<_> = stream::iter(&settings.charts)
        .map(|spec| async move { (chart_name(spec), chart_images(spec, client).await) })
        .buffered(CHARTS_AT_ONCE)
        .collect()
        .await;
    for (name, images) in rendered {
        match images {
            Ok(images) => found.extend(images.into_iter().map(|image| Source {
                category: Category::Chart,
                slug: name.clone(),
                kind: SourceKind::Exact(image),
            })),
            Err(e) => failed.push(SourceFailure {
                category: Category::Chart,
                slug: name,
                stage: Stage::Source,
                error: format!("chart {e}; its images were not checked"),
            }),
        }
    }
    (found, failed)
}
