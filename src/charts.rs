//! Chart sources: the images a configured Helm chart deploys, rendered natively by
//! `charts-render`. OCI charts are pulled with the run's registry client, so they get the
//! same credentials, TLS settings, retries and request statistics as images.

use std::collections::BTreeMap;
use std::sync::Arc;

use acr_sync_registry::{Client, Reference};
use charts_render::fetch::oci::RegistryOci;
use charts_render::{ChartSource, Options};

use crate::config::ChartSpec;

/// The name a chart is reported under.
pub fn chart_name(spec: &ChartSpec) -> String {
    match (&spec.name, &spec.chart) {
        (Some(name), _) => name.clone(),
        (None, Some(chart)) if chart.contains("://") => chart.clone(),
        (None, Some(path)) => std::path::Path::new(path)
            .file_name()
            .map_or_else(|| path.clone(), |n| n.to_string_lossy().into_owned()),
        (None, None) => "chart".to_string(),
    }
}

/// The images `spec` renders, qualified as docker does, each once, in a stable order.
pub async fn chart_images(
    spec: &ChartSpec,
    client: &Client,
) -> Result<Vec<Reference>, charts_render::Error> {
    let options = Options {
        oci: Arc::new(RegistryOci::new(client.clone())),
        ..Options::default()
    };
    charts_render::images(&source(spec), &options).await
}

fn source(spec: &ChartSpec) -> ChartSource {
    ChartSource {
        repo: spec.repo.clone(),
        name: spec
            .name
            .clone()
            .or_else(|| spec.chart.clone())
            .unwrap_or_default(),
        version: spec.version.clone(),
        values: spec.values.clone(),
        values_files: spec.values_files.clone(),
        set: set_expressions(&spec.set),
        set_string: set_expressions(&spec.set_string),
    }
}

/// `--set` expressions; Helm splits them on commas, and each config entry is one value.
fn set_expressions(pairs: &BTreeMap<String, String>) -> Vec<String> {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(',', "\\,")))
        .collect()
}
