//! Rendering a chart as `helm template` does: dependency conditions, tags, aliases
//! and `import-values`; values coalescing; executing every template with its own
//! `.Values`/`.Chart`/`.Template`; splitting and ordering the manifests.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::Error;
use crate::chart::{Chart, Dependency, ImportValue};
use crate::template::{TemplateSet, Value};
use crate::values::{
    coalesce_defaults, coalesce_globals, coalesce_tables, empty_map, lookup_path, parse_values,
};

/// Settings that `helm template` takes from its flags and its build.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// `.Release.Name` (`helm template NAME`).
    pub release_name: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// `.Capabilities.KubeVersion.Version`.
    pub kube_version: String,
    /// Extra entries for `.Capabilities.APIVersions` (`--api-versions`).
    pub api_versions: Vec<String>,
}

impl Default for RenderOptions {
    fn default() -> RenderOptions {
        RenderOptions {
            release_name: "release-name".into(),
            namespace: "default".into(),
            // What helm 3.17 reports without a cluster.
            kube_version: "v1.32.0".into(),
            api_versions: Vec::new(),
        }
    }
}

/// One rendered Kubernetes document, as `helm template` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The template it came from (`mychart/templates/deploy.yaml`).
    pub source: String,
    /// The document text (without `---`).
    pub content: String,
    /// Its `kind`.
    pub kind: String,
    /// Whether it is a hook (`helm.sh/hook` annotation); hooks print after the rest.
    pub hook: bool,
    /// Whether it is a test hook (`helm.sh/hook: test`), which `helm template
    /// --skip-tests` leaves out.
    pub test: bool,
}

/// Prints manifests (in [`render`]'s order) exactly as `helm template` lays them out.
pub fn format_manifests(manifests: &[Manifest]) -> String {
    let mut out = String::new();
    for m in manifests {
        out.push_str(&format!("---\n# Source: {}\n{}\n", m.source, m.content));
    }
    out
}

/// A chart ready to render: values as template values, dependencies resolved.
struct Node<'c> {
    name: String,
    chart: &'c Chart,
    values: Value,
    deps: Vec<Dependency>,
    subs: Vec<Node<'c>>,
}

/// Builds the tree, applying aliases (a subchart may appear under several).
fn tree<'c>(chart: &'c Chart, name: String) -> Result<Node<'c>, Error> {
    let mut subs = Vec::new();
    let deps = chart.metadata.dependencies.clone();
    // Subcharts that Chart.yaml does not mention are always included.
    for sub in &chart.subcharts {
        if !deps.iter().any(|d| matches_dependency(d, sub)) {
            subs.push(tree(sub, sub.metadata.name.clone())?);
        }
    }
    for d in &deps {
        if let Some(sub) = chart.subcharts.iter().find(|s| matches_dependency(d, s)) {
            subs.push(tree(sub, d.effective_name().to_string())?);
        }
    }
    let values = parse_values(&chart.values).map_err(|message| Error::Yaml {
        file: format!("{name}/values.yaml"),
        message,
    })?;
    Ok(Node {
        name,
        chart,
        values,
        deps,
        subs,
    })
}

/// Helm's `IsCompatibleRange`: a subchart stands for a dependency only when its
/// version satisfies the dependency's constraint (an empty constraint never does);
/// otherwise it renders as a chart Chart.yaml does not mention, without alias.
fn matches_dependency(d: &Dependency, sub: &Chart) -> bool {
    if d.name != sub.metadata.name || d.version.trim().is_empty() {
        return false;
    }
    let Some(v) = crate::template::loose_version(&sub.metadata.version) else {
        return false;
    };
    crate::repo::parse_constraint(&d.version).is_ok_and(|c| c.matches_loose(&v))
}

impl Node<'_> {
    /// `CoalesceValues`: `v` gets this chart's defaults and, under each subchart's
    /// key, the subchart's (with the parent's globals).
    fn coalesce(&self, v: &Value) {
        let subs: Vec<&str> = self.subs.iter().map(|s| s.name.as_str()).collect();
        coalesce_defaults(v, &self.values, &subs);
        for sub in &self.subs {
            let entry = match v.get(&sub.name) {
                e @ Value::Map(_) => e,
                Value::Nil => {
                    let e = empty_map();
                    if let Value::Map(m) = v {
                        m.borrow_mut().insert(sub.name.clone(), e.clone());
                    }
                    e
                }
                _ => continue,
            };
            coalesce_globals(&entry, v);
            sub.coalesce(&entry);
        }
    }

    /// `ValidateAgainstSchema`: this chart's schema against `values`, then each
    /// enabled subchart's against its section.
    fn validate_schemas(&self, values: &Value, out: &mut String) {
        if let Some(schema) = &self.chart.schema {
            let json = serde_json::from_str(&crate::template::gojson_marshal(values))
                .unwrap_or(serde_json::Value::Null);
            if let Err(lines) = crate::schema::validate(schema, &json) {
                out.push_str(&format!("{}:\n{lines}", self.chart.metadata.name));
            }
        }
        for sub in &self.subs {
            let v = match values.get(&sub.name) {
                v @ Value::Map(_) => v,
                _ => empty_map(),
            };
            sub.validate_schemas(&v, out);
        }
    }

    /// Drops subcharts disabled by `condition` or `tags` (tags read from the top level).
    fn process_enabled(&mut self, user: &Value, top: Option<&Value>) {
        let cvals = user.deep_copy();
        self.coalesce(&cvals);
        let top = top.cloned().unwrap_or_else(|| cvals.clone());
        let tags = top.get("tags");
        let disabled: Vec<String> = self
            .deps
            .iter()
            .filter(|d| !enabled(d, &cvals, &tags))
            .map(|d| d.effective_name().to_string())
            .collect();
        self.subs.retain(|s| !disabled.contains(&s.name));
        self.deps
            .retain(|d| !disabled.iter().any(|n| n == d.effective_name()));
        for sub in &mut self.subs {
            let v = match cvals.get(&sub.name) {
                v @ Value::Map(_) => v,
                _ => empty_map(),
            };
            sub.process_enabled(&v, Some(&top));
        }
    }

    /// `import-values`: children first, then copy from each child into this chart's
    /// values, this chart's own values winning.
    fn process_imports(&mut self) {
        for sub in &mut self.subs {
            sub.process_imports();
        }
        if !self.deps.iter().any(|d| !d.import_values.is_empty()) {
            return;
        }
        let cvals = empty_map();
        self.coalesce(&cvals);
        let imported = empty_map();
        for d in &self.deps {
            for iv in &d.import_values {
                let (child, parent) = match iv {
                    ImportValue::Exports(e) => (format!("exports.{e}"), ".".to_string()),
                    ImportValue::Path { child, parent } => (child.clone(), parent.clone()),
                };
                let table = lookup_path(&cvals, &format!("{}.{child}", d.effective_name()));
                if matches!(table, Value::Map(_)) {
                    coalesce_tables(&imported, &path_to_map(&parent, table));
                }
            }
        }
        coalesce_tables(&cvals, &imported);
        self.values = cvals;
    }
}

fn path_to_map(path: &str, data: Value) -> Value {
    if path == "." {
        return data;
    }
    path.split('.')
        .rev()
        .filter(|p| !p.is_empty())
        .fold(data, |acc, k| Value::map([(k.to_string(), acc)].into()))
}

fn enabled(d: &Dependency, cvals: &Value, tags: &Value) -> bool {
    let mut on = true;
    let flags: Vec<bool> = d
        .tags
        .iter()
        .filter_map(|t| match tags.get(t) {
            Value::Bool(b) => Some(b),
            _ => None,
        })
        .collect();
    if !flags.is_empty() {
        on = flags.contains(&true);
    }
    for cond in d
        .condition
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        if let Value::Bool(b) = lookup_path(cvals, cond) {
            return b;
        }
    }
    on
}

/// Renders `chart` with `user` values (already merged from `-f` files and `--set`).
/// The manifests come in `helm template`'s order: by file path, then stably by
/// kind in install order, hooks last.
pub fn render(chart: &Chart, user: &Value, opts: &RenderOptions) -> Result<Vec<Manifest>, Error> {
    check_kube_version(chart, opts)?;
    let mut root = tree(chart, chart.metadata.name.clone())?;
    root.process_enabled(user, None);
    root.process_imports();
    let values = user.deep_copy();
    root.coalesce(&values);
    let mut schema_errors = String::new();
    root.validate_schemas(&values, &mut schema_errors);
    if !schema_errors.is_empty() {
        return Err(Error::Schema {
            message: schema_errors,
        });
    }
    let mut jobs = Vec::new();
    let shared = Shared {
        release: release(opts),
        caps: capabilities(opts),
    };
    collect(&root, &root.name, values, &shared, &mut jobs);
    let mut set = TemplateSet::new();
    // Deepest paths first and, at one depth, in reverse order, so that a parent's
    // `define` replaces a subchart's of the same name, as in Helm.
    jobs.sort_by(|a, b| {
        depth(&b.path)
            .cmp(&depth(&a.path))
            .then_with(|| b.path.cmp(&a.path))
    });
    for j in &jobs {
        set.add(&j.path, j.src).map_err(Error::Template)?;
    }
    let mut outputs = BTreeMap::new();
    for j in jobs.iter().filter(|j| j.renders) {
        let dot = context(j);
        let out = set.render(&j.path, dot).map_err(Error::Template)?;
        // NOTES.txt is rendered, so its errors fail the render as in helm, but
        // `helm template` does not print it.
        if !j.path.ends_with("NOTES.txt") {
            outputs.insert(j.path.clone(), out);
        }
    }
    sort_manifests(outputs)
}

fn depth(p: &str) -> usize {
    p.matches('/').count()
}

/// One template file with what its execution needs.
struct Job<'c> {
    path: String,
    src: &'c str,
    renders: bool,
    /// The chart's objects (`.Values .Chart .Files .Subcharts`...), without `.Template`.
    objects: Value,
    base: String,
}

/// What every chart's templates see alike.
struct Shared {
    release: Value,
    caps: Value,
}

/// Adds `node`'s templates to `jobs` and returns its objects, which its parent
/// sees as `.Subcharts.<name>` (Helm 3.15+).
fn collect<'c>(
    node: &Node<'c>,
    prefix: &str,
    values: Value,
    shared: &Shared,
    jobs: &mut Vec<Job<'c>>,
) -> Value {
    let mut subcharts = BTreeMap::new();
    for sub in &node.subs {
        let v = match values.get(&sub.name) {
            v @ Value::Map(_) => v,
            _ => empty_map(),
        };
        let sub_prefix = format!("{prefix}/charts/{}", sub.name);
        let objects = collect(sub, &sub_prefix, v, shared, jobs);
        subcharts.insert(sub.name.clone(), objects);
    }
    let objects = Value::map(
        [
            ("Values".to_string(), values),
            ("Chart".to_string(), chart_value(node, prefix)),
            ("Release".to_string(), shared.release.clone()),
            ("Capabilities".to_string(), shared.caps.clone()),
            (
                "Files".to_string(),
                Value::Files(Rc::new(node.chart.files.clone())),
            ),
            ("Subcharts".to_string(), Value::map(subcharts)),
        ]
        .into(),
    );
    for (path, src) in &node.chart.templates {
        let base_name = path.rsplit('/').next().unwrap_or(path);
        jobs.push(Job {
            path: format!("{prefix}/{path}"),
            src,
            renders: !node.chart.is_library() && !base_name.starts_with('_'),
            objects: objects.clone(),
            base: format!("{prefix}/templates"),
        });
    }
    objects
}

/// `.Chart`: Chart.yaml with Go's field names (`appVersion` -> `AppVersion`).
fn chart_value(node: &Node, prefix: &str) -> Value {
    let mut m = BTreeMap::new();
    for k in [
        "Name",
        "Version",
        "AppVersion",
        "Description",
        "Type",
        "APIVersion",
        "Home",
        "Icon",
        "KubeVersion",
        "Condition",
        "Tags",
    ] {
        m.insert(k.to_string(), Value::str(""));
    }
    m.insert("Deprecated".into(), Value::Bool(false));
    for (k, v) in &node.chart.metadata.raw {
        let key = crate::template::value::yaml_key(k);
        let go = match key.as_str() {
            "apiVersion" => "APIVersion".to_string(),
            k => k[..1].to_uppercase() + &k[1..],
        };
        let val = match v {
            yaml_serde::Value::Number(_) => Value::Str(crate::template::value::yaml_key(v)),
            v => Value::from_yaml(v),
        };
        m.insert(go, val);
    }
    m.insert("Name".into(), Value::str(&node.name));
    m.insert("IsRoot".into(), Value::Bool(!prefix.contains('/')));
    Value::map(m)
}

fn context(j: &Job) -> Value {
    let template = Value::map(
        [
            ("Name".to_string(), Value::str(&j.path)),
            ("BasePath".to_string(), Value::str(&j.base)),
        ]
        .into(),
    );
    let Value::Map(objects) = &j.objects else {
        unreachable!("collect builds a map")
    };
    let mut m = objects.borrow().clone();
    m.insert("Template".to_string(), template);
    Value::map(m)
}

fn release(opts: &RenderOptions) -> Value {
    let s = |x: &str| Value::str(x);
    Value::map(
        [
            ("Name".to_string(), s(&opts.release_name)),
            ("Namespace".to_string(), s(&opts.namespace)),
            ("IsInstall".to_string(), Value::Bool(true)),
            ("IsUpgrade".to_string(), Value::Bool(false)),
            ("Revision".to_string(), Value::Int(1)),
            ("Service".to_string(), s("Helm")),
        ]
        .into(),
    )
}

/// The API versions a default (cluster-less) helm 3.17.1 knows, in its order
/// (`chartutil.DefaultVersionSet`, from client-go's scheme).
const API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "autoscaling/v2beta1",
    "autoscaling/v2beta2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1alpha1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha1",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1alpha1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

fn capabilities(opts: &RenderOptions) -> Value {
    let v = crate::template::loose_version(&opts.kube_version)
        .unwrap_or(semver::Version::new(1, 32, 0));
    let kube = Value::map(
        [
            ("Version".to_string(), Value::str(&opts.kube_version)),
            ("GitVersion".to_string(), Value::str(&opts.kube_version)),
            ("Major".to_string(), Value::Str(v.major.to_string())),
            ("Minor".to_string(), Value::Str(v.minor.to_string())),
        ]
        .into(),
    );
    let mut apis: Vec<String> = API_VERSIONS.iter().map(|s| s.to_string()).collect();
    apis.extend(opts.api_versions.iter().cloned());
    let helm = Value::map(
        [
            ("Version".to_string(), Value::str("v3.17.1")),
            ("GitTreeState".to_string(), Value::str("clean")),
        ]
        .into(),
    );
    Value::map(
        [
            ("KubeVersion".to_string(), kube),
            ("APIVersions".to_string(), Value::ApiVersions(Rc::new(apis))),
            ("HelmVersion".to_string(), helm),
        ]
        .into(),
    )
}

/// Helm 3.17's install order of kinds (`releaseutil.InstallOrder`); unknown kinds,
/// webhook configurations among them, go last, alphabetically.
const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

fn kind_rank(kind: &str) -> (usize, &str) {
    match INSTALL_ORDER.iter().position(|k| *k == kind) {
        Some(i) => (i, ""),
        None => (INSTALL_ORDER.len(), kind),
    }
}

/// A rendered document as helm reads it: go-yaml v2 lets a repeated key's last
/// value win where `yaml_serde` refuses the document.
pub(crate) fn parse_manifest(doc: &str) -> Result<yaml_serde::Value, yaml_serde::Error> {
    match yaml_serde::from_str(doc) {
        Err(e) if e.to_string().contains("duplicate entry") => {
            let v = crate::template::yaml11::parse(doc)?;
            yaml_serde::to_value(v.to_json())
        }
        other => other,
    }
}

/// `releaseutil.SortManifests`: files in path order, documents in file order,
/// then a stable sort by kind.
fn sort_manifests(outputs: BTreeMap<String, String>) -> Result<Vec<Manifest>, Error> {
    let mut all = Vec::new();
    for (path, content) in outputs {
        if content.trim().is_empty() {
            continue;
        }
        for doc in split_manifests(&content) {
            let head = parse_manifest(&doc).map_err(|e| Error::Manifest {
                source_file: path.clone(),
                message: e.to_string(),
            })?;
            let kind = head
                .get("kind")
                .and_then(|k| k.as_str())
                .unwrap_or("")
                .to_string();
            let hook = head
                .get("metadata")
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get("helm.sh/hook"));
            // Helm reads the events as a comma-separated list; `test-success` is
            // the old name of `test`.
            let test = hook.and_then(|h| h.as_str()).is_some_and(|events| {
                events
                    .split(',')
                    .any(|e| matches!(e.trim(), "test" | "test-success"))
            });
            all.push(Manifest {
                source: path.clone(),
                content: doc,
                kind,
                hook: hook.is_some(),
                test,
            });
        }
    }
    all.sort_by(|a, b| kind_rank(&a.kind).cmp(&kind_rank(&b.kind)));
    // `helm template` prints hooks after everything else.
    let (mut out, hooks): (Vec<Manifest>, Vec<Manifest>) = all.into_iter().partition(|m| !m.hook);
    out.extend(hooks);
    Ok(out)
}

/// `releaseutil.SplitManifests`: split on `---` lines, trim, drop empty documents.
pub(crate) fn split_manifests(text: &str) -> Vec<String> {
    static SEP: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let sep = SEP.get_or_init(|| regex::Regex::new(r"(?:^|\s*\n)---\s*").expect("valid regex"));
    sep.split(text.trim())
        .filter(|d| !d.is_empty())
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .collect()
}

/// Helm refuses a chart whose `kubeVersion` the target Kubernetes does not satisfy.
fn check_kube_version(chart: &Chart, opts: &RenderOptions) -> Result<(), Error> {
    let Some(wanted) = chart
        .metadata
        .raw
        .get("kubeVersion")
        .and_then(|v| v.as_str())
    else {
        return Ok(());
    };
    let fail = |message: String| Error::Metadata {
        file: format!("{}/Chart.yaml", chart.metadata.name),
        message,
    };
    let constraint = crate::repo::parse_constraint(wanted).map_err(|e| fail(e.to_string()))?;
    let ok = crate::template::loose_version(&opts.kube_version)
        .is_some_and(|v| constraint.matches_loose(&v));
    if ok {
        return Ok(());
    }
    Err(fail(format!(
        "chart requires kubeVersion: {wanted} which is incompatible with Kubernetes {}",
        opts.kube_version
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_takes_the_last_value_as_helm_does() {
        let v = parse_manifest("kind: ConfigMap\ndata:\n  a: \"1\"\n  a: \"2\"\n").unwrap();
        assert_eq!(v.get("kind").and_then(|k| k.as_str()), Some("ConfigMap"));
        assert_eq!(
            v.get("data")
                .and_then(|d| d.get("a"))
                .and_then(|a| a.as_str()),
            Some("2")
        );
        assert!(parse_manifest("a: [").is_err());
    }
}
