//! The crate's error type: each variant keeps the input that was wrong.

use std::path::Path;

use crate::template::TemplateError;

/// Everything that can go wrong loading, rendering or reading a chart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Neither a chart directory nor a chart archive (no `Chart.yaml`).
    #[error("{origin}: Chart.yaml file is missing")]
    NotAChart {
        /// Where it was looked for.
        origin: String,
    },
    /// A `.tgz` could not be read.
    #[error("{origin}: invalid chart archive: {message}")]
    Archive {
        /// The archive.
        origin: String,
        /// Why.
        message: String,
    },
    /// A YAML file (Chart.yaml, values) is malformed.
    #[error("{file}: {message}")]
    Yaml {
        /// The file.
        file: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// `Chart.yaml` lacks something required.
    #[error("{file}: {message}")]
    Metadata {
        /// The file.
        file: String,
        /// What is missing.
        message: String,
    },
    /// A `--set` expression is malformed.
    #[error(transparent)]
    Set(#[from] crate::values::SetError),
    /// The values do not satisfy a chart's `values.schema.json`; `message` lists each
    /// chart's errors as Helm does.
    #[error(
        "values don't meet the specifications of the schema(s) in the following chart(s):\n{message}"
    )]
    Schema {
        /// `NAME:` and `- field: description` lines.
        message: String,
    },
    /// A template failed to parse or execute (worded as helm words it).
    #[error("{}", .0.helm_message())]
    Template(TemplateError),
    /// A rendered document is not YAML.
    #[error("YAML parse error on {source_file}: {message}")]
    Manifest {
        /// The template that produced it.
        source_file: String,
        /// The parser's message.
        message: String,
    },
    /// A rendered image is not a valid reference.
    #[error("{source_file}: {source}")]
    Image {
        /// The template that produced it.
        source_file: String,
        /// The image string.
        image: String,
        /// Why it is invalid.
        source: acr_sync_registry::ReferenceError,
    },
    /// A repository index could not be used.
    #[error("{url}: {source}")]
    Index {
        /// The index URL.
        url: String,
        /// Why.
        source: crate::repo::IndexError,
    },
    /// A download failed.
    #[error("fetching {url}: {message}")]
    Http {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// A download does not have the digest it was announced with.
    #[error("{url}: digest mismatch: expected sha256:{expected}, got sha256:{actual}")]
    Digest {
        /// The URL.
        url: String,
        /// Announced.
        expected: String,
        /// Received.
        actual: String,
    },
    /// A dependency could not be resolved.
    #[error("chart {chart}: dependency {dependency:?}: {message}")]
    Dependency {
        /// The depending chart.
        chart: String,
        /// The dependency.
        dependency: String,
        /// Why.
        message: String,
    },
    /// An OCI chart reference could not be pulled.
    #[error("{reference}: {message}")]
    Oci {
        /// The `oci://` reference.
        reference: String,
        /// Why.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn yaml(file: String, e: yaml_serde::Error) -> Error {
        Error::Yaml {
            file,
            message: e.to_string(),
        }
    }
}
