//! Charts in memory and loading them from a directory or a `.tgz` archive, with
//! their subcharts from `charts/`. Fetching what `charts/` lacks is `crate::fetch`'s job.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::template::value::yaml_key;

/// A dependency as `Chart.yaml` (or a v1 chart's `requirements.yaml`) declares it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dependency {
    /// Chart name.
    pub name: String,
    /// Version or semver constraint.
    pub version: String,
    /// Repository URL (`https://...`, `oci://...`, `file://...`) or empty.
    pub repository: String,
    /// Comma-separated values paths whose first boolean enables the subchart.
    pub condition: String,
    /// Tags: `tags.<tag>` in the parent's values enables or disables it.
    pub tags: Vec<String>,
    /// Name the subchart is used under.
    pub alias: String,
    /// Values to copy from the subchart into the parent.
    pub import_values: Vec<ImportValue>,
}

impl Dependency {
    /// The name the subchart goes by in the parent (alias, else name).
    pub fn effective_name(&self) -> &str {
        if self.alias.is_empty() {
            &self.name
        } else {
            &self.alias
        }
    }
}

/// One `import-values` entry.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportValue {
    /// `- data`: the child's `exports.data` goes to the parent's top level.
    Exports(String),
    /// `- {child: a.b, parent: c}`.
    Path {
        /// Path in the child's values.
        child: String,
        /// Path in the parent's values.
        parent: String,
    },
}

/// `Chart.yaml`, with the fields rendering needs typed and the rest kept.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// Chart name.
    pub name: String,
    /// Chart version.
    pub version: String,
    /// `application` or `library`.
    pub chart_type: String,
    /// Declared dependencies.
    pub dependencies: Vec<Dependency>,
    /// Annotations (e.g. `artifacthub.io/images`).
    pub annotations: BTreeMap<String, String>,
    /// The whole document, for `.Chart`.
    pub raw: yaml_serde::Mapping,
}

/// A loaded chart.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// `Chart.yaml`.
    pub metadata: Metadata,
    /// `values.yaml` as written (empty when absent); read with Helm's YAML 1.1 typing at render time.
    pub values: String,
    /// Templates: path in the chart (`templates/x.yaml`) and source.
    pub templates: Vec<(String, String)>,
    /// Other files, for `.Files`.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Subcharts found in `charts/` or fetched.
    pub subcharts: Vec<Chart>,
    /// `values.schema.json`, when the chart has one.
    pub schema: Option<Vec<u8>>,
}

impl Chart {
    /// Whether this is a library chart (templates only define, never render).
    pub fn is_library(&self) -> bool {
        self.metadata.chart_type == "library"
    }

    /// Loads a chart directory or a `.tgz` file.
    pub fn load(path: &Path) -> Result<Chart, Error> {
        if path.is_dir() {
            let mut files = BTreeMap::new();
            read_dir_into(path, path, &mut files)?;
            Chart::from_files(files, &path.display().to_string())
        } else {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            Chart::from_archive(&bytes, &path.display().to_string())
        }
    }

    /// Loads a chart from a gzipped tar archive (`mychart/Chart.yaml`, ...), within the
    /// [`limits`](crate::limits): what expands past them is refused, as are paths that
    /// leave the chart (`..`, absolute). Links and other special entries are skipped.
    pub fn from_archive(bytes: &[u8], origin: &str) -> Result<Chart, Error> {
        use crate::limits::{self, Bounded, MAX_CHART_BYTES, MAX_FILE_BYTES, MAX_FILES};
        let arch = |m: String| Error::Archive {
            origin: origin.to_string(),
            message: m,
        };
        let io = |e: std::io::Error| {
            if e.to_string().contains(limits::EXPANDS_PAST) {
                arch(format!(
                    "it expands past {} (a decompression bomb?); charts are read up to that size",
                    limits::mib(MAX_CHART_BYTES)
                ))
            } else {
                arch(e.to_string())
            }
        };
        // Tar headers and padding count against the whole too.
        let stream = Bounded::new(
            flate2::read::GzDecoder::new(bytes),
            MAX_CHART_BYTES + (MAX_FILES as u64) * 1024,
        );
        let mut tar = tar::Archive::new(stream);
        let mut files = BTreeMap::new();
        let (mut count, mut total) = (0usize, 0u64);
        for entry in tar.entries().map_err(io)? {
            let entry = entry.map_err(io)?;
            count += 1;
            if count > MAX_FILES {
                return Err(arch(format!("it has more than {MAX_FILES} entries")));
            }
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry
                .path()
                .map_err(io)?
                .to_string_lossy()
                .replace('\\', "/");
            if path.starts_with('/') || path.split('/').any(|p| p == "..") {
                return Err(arch(format!(
                    "chart illegally references a path outside the chart: {path}"
                )));
            }
            let mut buf = Vec::new();
            entry
                .take(MAX_FILE_BYTES + 1)
                .read_to_end(&mut buf)
                .map_err(io)?;
            if buf.len() as u64 > MAX_FILE_BYTES {
                return Err(arch(format!(
                    "{path} is larger than {} once expanded",
                    limits::mib(MAX_FILE_BYTES)
                )));
            }
            total += buf.len() as u64;
            if total > MAX_CHART_BYTES {
                return Err(arch(format!(
                    "its files are larger than {} once expanded",
                    limits::mib(MAX_CHART_BYTES)
                )));
            }
            // Drop the top directory (the chart's name), as Helm does.
            let Some((_, rel)) = path.split_once('/') else {
                continue;
            };
            files.insert(rel.to_string(), buf);
        }
        Chart::from_files(files, origin)
    }

    /// Builds a chart from its files, keyed by path relative to the chart root.
    pub fn from_files(mut files: BTreeMap<String, Vec<u8>>, origin: &str) -> Result<Chart, Error> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let chart_yaml = files.remove("Chart.yaml").ok_or_else(|| Error::NotAChart {
            origin: origin.to_string(),
        })?;
        let mut metadata = parse_metadata(&text(&chart_yaml), &format!("{origin}/Chart.yaml"))?;
        if let Some(req) = files
            .remove("requirements.yaml")
            .filter(|_| metadata.dependencies.is_empty())
        {
            let doc: yaml_serde::Value = yaml_serde::from_str(&text(&req))
                .map_err(|e| Error::yaml(format!("{origin}/requirements.yaml"), e))?;
            metadata.dependencies = dependencies(&doc);
        }
        let values = files
            .remove("values.yaml")
            .map(|v| text(&v))
            .unwrap_or_default();
        crate::values::parse_values(&values).map_err(|message| Error::Yaml {
            file: format!("{origin}/values.yaml"),
            message,
        })?;
        let ignore = files
            .get(".helmignore")
            .map(|b| HelmIgnore::parse(&text(b)))
            .unwrap_or_default();
        let schema = files.remove("values.schema.json");
        let mut chart = Chart {
            metadata,
            values,
            schema,
            ..Chart::default()
        };
        let mut sub_files: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
        for (path, bytes) in files {
            if ignore.ignored(&path) {
                continue;
            }
            if let Some(rest) = path.strip_prefix("charts/") {
                match rest.split_once('/') {
                    Some((dir, inner)) => {
                        sub_files
                            .entry(dir.to_string())
                            .or_default()
                            .insert(inner.to_string(), bytes);
                    }
                    None if rest.ends_with(".tgz") => chart
                        .subcharts
                        .push(Chart::from_archive(&bytes, &format!("{origin}/{path}"))?),
                    None => {}
                }
            } else if path.starts_with("templates/") {
                // Test hooks (`templates/tests/`) are kept: helm prints them, and their
                // `define`s are visible to every template.
                chart.templates.push((path, text(&bytes)));
            } else if !matches!(
                path.as_str(),
                "Chart.lock" | "requirements.lock" | "values.schema.json" | ".helmignore"
            ) {
                chart.files.insert(path, bytes);
            }
        }
        for (dir, files) in sub_files {
            if files.contains_key("Chart.yaml") {
                chart
                    .subcharts
                    .push(Chart::from_files(files, &format!("{origin}/charts/{dir}"))?);
            }
        }
        Ok(chart)
    }
}

fn read_dir_into(
    root: &Path,
    dir: &Path,
    out: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), Error> {
    use crate::limits::{self, MAX_CHART_BYTES, MAX_FILE_BYTES, MAX_FILES};
    let refused = |message: String| Error::Archive {
        origin: root.display().to_string(),
        message,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let rel = p
            .strip_prefix(root)
            .unwrap_or(&p)
            .to_string_lossy()
            .replace('\\', "/");
        // Links are followed, as helm does, but only within the chart.
        let is_link = p
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink());
        if is_link {
            let real = p.canonicalize().map_err(|e| Error::io(&p, e))?;
            let real_root = root.canonicalize().map_err(|e| Error::io(root, e))?;
            if !real.starts_with(&real_root) {
                return Err(refused(format!(
                    "{rel} links outside the chart, to {}",
                    real.display()
                )));
            }
        }
        if p.is_dir() {
            read_dir_into(root, &p, out)?;
            continue;
        }
        let size = std::fs::metadata(&p).map_err(|e| Error::io(&p, e))?.len();
        if size > MAX_FILE_BYTES {
            return Err(refused(format!(
                "{rel} is larger than {}",
                limits::mib(MAX_FILE_BYTES)
            )));
        }
        out.insert(rel, std::fs::read(&p).map_err(|e| Error::io(&p, e))?);
        let total: u64 = out.values().map(|v| v.len() as u64).sum();
        if out.len() > MAX_FILES || total > MAX_CHART_BYTES {
            return Err(refused(format!(
                "the chart has more than {MAX_FILES} files or {}",
                limits::mib(MAX_CHART_BYTES)
            )));
        }
    }
    Ok(())
}

fn scalar(v: Option<&yaml_serde::Value>) -> String {
    match v {
        Some(yaml_serde::Value::Null) | None => String::new(),
        Some(v) => yaml_key(v),
    }
}

/// Reads `Chart.yaml`.
pub(crate) fn parse_metadata(text: &str, file: &str) -> Result<Metadata, Error> {
    let doc: yaml_serde::Value =
        yaml_serde::from_str(text).map_err(|e| Error::yaml(file.to_string(), e))?;
    let raw = doc.as_mapping().cloned().unwrap_or_default();
    let annotations = doc
        .get("annotations")
        .and_then(|a| a.as_mapping())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (yaml_key(k), scalar(Some(v))))
                .collect()
        })
        .unwrap_or_default();
    let name = scalar(doc.get("name"));
    if name.is_empty() {
        return Err(Error::Metadata {
            file: file.to_string(),
            message: "chart.metadata.name is required".into(),
        });
    }
    Ok(Metadata {
        name,
        version: scalar(doc.get("version")),
        chart_type: scalar(doc.get("type")),
        dependencies: dependencies(&doc),
        annotations,
        raw,
    })
}

fn dependencies(doc: &yaml_serde::Value) -> Vec<Dependency> {
    let Some(list) = doc.get("dependencies").and_then(|d| d.as_sequence()) else {
        return Vec::new();
    };
    list.iter()
        .map(|d| Dependency {
            name: scalar(d.get("name")),
            version: scalar(d.get("version")),
            repository: scalar(d.get("repository")),
            condition: scalar(d.get("condition")),
            tags: d
                .get("tags")
                .and_then(|t| t.as_sequence())
                .map(|t| t.iter().map(|x| scalar(Some(x))).collect())
                .unwrap_or_default(),
            alias: scalar(d.get("alias")),
            import_values: d
                .get("import-values")
                .and_then(|t| t.as_sequence())
                .map(|t| {
                    t.iter()
                        .map(|x| match x {
                            yaml_serde::Value::Mapping(_) => ImportValue::Path {
                                child: scalar(x.get("child")),
                                parent: scalar(x.get("parent")),
                            },
                            other => ImportValue::Exports(scalar(Some(other))),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// A minimal `.helmignore`: glob lines matched against the path or its last part;
/// a trailing `/` matches a directory and everything under it.
#[derive(Debug, Default)]
struct HelmIgnore {
    patterns: Vec<(regex::Regex, bool)>,
}

impl HelmIgnore {
    fn parse(text: &str) -> HelmIgnore {
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
            .filter_map(|l| {
                let dir = l.ends_with('/');
                let glob = l.trim_end_matches('/').trim_start_matches('/');
                let re = glob.chars().fold(String::from("^"), |mut re, c| {
                    match c {
                        '*' => re.push_str("[^/]*"),
                        '?' => re.push_str("[^/]"),
                        c => re.push_str(&regex::escape(&c.to_string())),
                    }
                    re
                }) + "$";
                regex::Regex::new(&re).ok().map(|r| (r, dir))
            })
            .collect();
        HelmIgnore { patterns }
    }

    fn ignored(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        self.patterns.iter().any(|(re, dir)| {
            if *dir {
                // Any directory component (not the file itself).
                return (1..parts.len())
                    .any(|i| re.is_match(parts[i - 1]) || re.is_match(&parts[..i].join("/")));
            }
            re.is_match(path) || parts.iter().any(|p| re.is_match(p))
        })
    }
}
