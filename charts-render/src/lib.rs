//! Renders Helm charts natively, without the `helm` binary, and lists the container
//! images they deploy.
//!
//! It loads a chart from a directory, a `.tgz`, an HTTP chart repository or an
//! `oci://` reference (fetching dependencies that `charts/` lacks), merges values in
//! Helm's order, executes the templates with a Go `text/template` engine carrying
//! Helm's and Sprig's functions, and orders the manifests as `helm template` prints
//! them. [`images`] then reads every container image out of the result, qualified as
//! docker qualifies names.
//!
//! It is *not* a Helm replacement: it never talks to a cluster (`lookup` returns an
//! empty map), does not install, upgrade or run hooks, does not validate against
//! `values.schema.json`, and implements the Sprig functions charts commonly use,
//! not every one (a missing one is a clear "function not defined" error).
//!
//! ```
//! use charts_render::{Chart, RenderOptions, render, values::parse_values};
//! use std::collections::BTreeMap;
//!
//! let mut files = BTreeMap::new();
//! files.insert("Chart.yaml".to_string(), b"apiVersion: v2\nname: demo\nversion: 0.1.0\n".to_vec());
//! files.insert("values.yaml".to_string(), b"image: {repository: nginx, tag: '1.27'}\n".to_vec());
//! files.insert(
//!     "templates/pod.yaml".to_string(),
//!     b"apiVersion: v1\nkind: Pod\nmetadata: {name: {{ .Release.Name }}}\nspec:\n  containers:\n  - name: web\n    image: {{ .Values.image.repository }}:{{ .Values.image.tag }}\n".to_vec(),
//! );
//! let chart = Chart::from_files(files, "demo").unwrap();
//! let manifests = render(&chart, &parse_values("").unwrap(), &RenderOptions::default()).unwrap();
//! assert!(charts_render::format_manifests(&manifests).starts_with("---\n# Source: demo/templates/pod.yaml\n"));
//! let images = charts_render::images_of(&chart, &manifests).unwrap();
//! assert_eq!(images[0].to_string(), "docker.io/library/nginx:1.27");
//! ```
#![deny(missing_docs)]

pub mod chart;
mod error;
pub mod fetch;
mod images;
pub mod limits;
pub mod render;
pub mod repo;
mod schema;
pub mod template;
pub mod values;

pub use acr_sync_registry::Reference;
pub use chart::Chart;
pub use error::Error;
pub use fetch::{ChartSource, OciPuller, Options, images, load, template};
pub use render::{Manifest, RenderOptions, format_manifests, render};

/// The images of a rendered chart: from its manifests (document order, hooks
/// last), then those the chart's own `artifacthub.io/images` annotation declares,
/// each once. Subcharts' annotations are not read: a subchart may be disabled, and
/// its rendered manifests already name its images.
pub fn images_of(chart: &Chart, manifests: &[Manifest]) -> Result<Vec<Reference>, Error> {
    let mut raw = images::raw_images(manifests)?;
    if let Some(a) = chart.metadata.annotations.get("artifacthub.io/images") {
        let origin = format!("{}/Chart.yaml", chart.metadata.name);
        raw.extend(
            images::annotated_images(a)
                .into_iter()
                .map(|i| (i, origin.clone())),
        );
    }
    images::qualify(&raw)
}
