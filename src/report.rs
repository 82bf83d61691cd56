//! What a check tells people and programs: the two JSON files of the seed, a readable
//! summary whose last line is the count, and one JSON document for `--format json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::atomic;
use crate::config::TargetRegistry;
use crate::failure::FailureClass;
use crate::plan::{Category, Plan, PlanEntry, Stage, Status, TargetImage};

/// The code collection file's name, as the seed's scripts wrote it.
pub const CC_FILE: &str = "cc_images_to_update.json";
/// The chart and explicit image file's name, as the seed's scripts wrote it.
pub const IMAGES_FILE: &str = "images_to_update.json";

/// Writing an output file failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source} (check that its directory exists and is writable)", path.display())]
pub struct WriteError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// The full target name of an entry, as users see it (the one spelling:
/// [`TargetRegistry::image_name`]).
fn destination(target: &TargetRegistry, image: &TargetImage) -> String {
    target.image_name(&image.repository, Some(&image.tag))
}

/// One element of `cc_images_to_update.json`.
#[derive(Debug, Serialize)]
struct CcRecord<'a> {
    slug: &'a str,
    source: String,
    destination: Option<String>,
    #[serde(flatten)]
    detail: Detail<'a>,
}

/// One value of `images_to_update.json`, keyed by the qualified upstream reference.
#[derive(Debug, Serialize)]
struct ImageRecord<'a> {
    private_image: Option<String>,
    /// `null` when the image could not be checked.
    update_required: Option<bool>,
    category: Category,
    slug: &'a str,
    #[serde(flatten)]
    detail: Detail<'a>,
}

#[derive(Debug, Serialize)]
struct Detail<'a> {
    source_digest: Option<String>,
    target_digest: Option<String>,
    source_created: Option<String>,
    target_created: Option<String>,
    lag_seconds: Option<i64>,
    #[serde(flatten)]
    status: &'a Status,
}

fn detail(entry: &PlanEntry) -> Detail<'_> {
    Detail {
        source_digest: entry.source_digest.as_ref().map(ToString::to_string),
        target_digest: entry.target_digest.as_ref().map(ToString::to_string),
        source_created: entry.source_created.map(|d| d.to_rfc3339()),
        target_created: entry.target_created.map(|d| d.to_rfc3339()),
        lag_seconds: entry.lag_seconds(),
        status: &entry.status,
    }
}

/// `cc_images_to_update.json`: code collections that are outdated or could not be checked.
pub fn cc_json(plan: &Plan, target: &TargetRegistry) -> serde_json::Value {
    let records: Vec<CcRecord> = plan
        .entries
        .iter()
        .filter(|e| e.category == Category::Codecollection && !matches!(e.status, Status::UpToDate))
        .map(|e| CcRecord {
            slug: &e.slug,
            source: e.source.to_string(),
            destination: e.target.as_ref().map(|t| destination(target, t)),
            detail: detail(e),
        })
        .collect();
    serde_json::to_value(records).expect("records serialise")
}

/// `images_to_update.json`: every chart and explicit image, with `update_required`, and
/// every chart that did not render, keyed `chart:<name>` with `update_required: null`, so
/// that a broken chart never reads as "nothing to update".
pub fn images_json(plan: &Plan, target: &TargetRegistry) -> serde_json::Value {
    let mut value = images_records(plan, target);
    for failure in &plan.source_failures {
        value[format!("{}:{}", failure.category.as_str(), failure.slug)] = serde_json::json!({
            "private_image": null,
            "update_required": null,
            "category": failure.category,
            "slug": failure.slug,
            "status": "failed",
            "stage": failure.stage,
            "error": failure.error,
        });
    }
    value
}

fn images_records(plan: &Plan, target: &TargetRegistry) -> serde_json::Value {
    let records: BTreeMap<String, ImageRecord> = plan
        .entries
        .iter()
        .filter(|e| e.category != Category::Codecollection)
        .map(|e| {
            let record = ImageRecord {
                private_image: e.target.as_ref().map(|t| destination(target, t)),
                update_required: match e.status {
                    Status::UpToDate => Some(false),
                    Status::Outdated { .. } => Some(true),
                    Status::Failed { .. } => None,
                },
                category: e.category,
                slug: &e.slug,
                detail: detail(e),
            };
            (e.source.to_string(), record)
        })
        .collect();
    serde_json::to_value(records).expect("records serialise")
}

/// Writes both JSON files into `dir`, each atomically (a temporary file renamed over it).
pub fn write_files(plan: &Plan, target: &TargetRegistry, dir: &Path) -> Result<(), WriteError> {
    write_atomically(&dir.join(CC_FILE), &cc_json(plan, target))?;
    write_atomically(&dir.join(IMAGES_FILE), &images_json(plan, target))
}

/// Writes `value` as pretty JSON to `path` so that readers never see a partial file.
pub fn write_atomically(path: &Path, value: &serde_json::Value) -> Result<(), WriteError> {
    let mut text = serde_json::to_vec_pretty(value).expect("JSON values serialise");
    text.push(b'\n');
    write_bytes_atomically(path, &text)
}

/// Checks up front that `path` can be written (see [`atomic::check_writable`]).
pub fn check_writable(path: &Path) -> Result<(), WriteError> {
    atomic::check_writable(path).map_err(|source| WriteError {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to `path` atomically and readable by all (see [`atomic::write`]).
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    atomic::write(path, bytes).map_err(|source| WriteError {
        path: path.to_path_buf(),
        source,
    })
}

/// When every image of the plan failed at the target for the same cause (credentials,
/// permission, an unreachable registry), one line saying so and what to do, so that
/// the cause is read once rather than once per image.
pub fn common_target_failure(plan: &Plan, target: &TargetRegistry) -> Option<String> {
    let mut classes = plan.entries.iter().map(|e| match &e.status {
        Status::Failed {
            stage: Stage::Target,
            failure: Some(class),
            ..
        } => Some(*class),
        _ => None,
    });
    let first = classes.next()??;
    if plan.entries.len() < 2 || !classes.all(|c| c == Some(first)) {
        return None;
    }
    let credentials = match target.acr_name() {
        Some(_) => format!(
            "the Entra ID identity (AZURE_CLIENT_ID with AZURE_TENANT_ID and AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE, or a managed identity) and its AcrPull/AcrPush roles, or registries.\"{target}\".username with password_env"
        ),
        None => format!("registries.\"{target}\".username with password_env or password_file"),
    };
    let advice = match first {
        FailureClass::Unauthorized => {
            format!("the target refused the credentials; check {credentials}")
        }
        FailureClass::Forbidden => {
            format!("the credentials lack permission on the target; check {credentials}")
        }
        FailureClass::Unreachable | FailureClass::Timeout => format!(
            "the target {target} cannot be reached; check the name, the network path (DNS, proxy, private endpoint) and registries.\"{target}\".tls / ca_file"
        ),
        _ => return None,
    };
    Some(format!(
        "every image failed for the same cause ({first}): {advice}"
    ))
}

/// The readable summary; its last line is the count alone: outdated images plus those
/// that could not be checked ([`Plan::not_known_current`]).
pub fn summary(plan: &Plan, target: &TargetRegistry, target_is_default: bool) -> String {
    let mut out = String::new();
    out.push_str(&format!("target: {target}"));
    if target_is_default {
        out.push_str(" (the default; set REGISTRY_NAME or target.registry to use a registry)");
    }
    out.push('\n');
    if let Some(cause) = common_target_failure(plan, target) {
        out.push_str(&cause);
        out.push('\n');
    }
    for entry in &plan.entries {
        out.push_str(&summary_line(entry, target));
        out.push('\n');
    }
    for failure in &plan.source_failures {
        out.push_str(&format!(
            "failed      {} {} [{}]: {}\n",
            failure.category.as_str(),
            failure.slug,
            failure.stage.as_str(),
            failure.error
        ));
    }
    let checked = plan.entries.len();
    out.push_str(&format!(
        "{} of {checked} images outdated, {} could not be checked",
        plan.outdated(),
        plan.failed()
    ));
    if !plan.is_complete() {
        out.push_str(&format!(
            "; the count below includes those {} (not known to be mirrored)",
            plan.failed()
        ));
    }
    out.push_str(&format!("\n{}\n", plan.not_known_current()));
    out
}

fn summary_line(entry: &PlanEntry, target: &TargetRegistry) -> String {
    let dest = entry
        .target
        .as_ref()
        .map(|t| destination(target, t))
        .unwrap_or_else(|| "?".to_string());
    match &entry.status {
        Status::UpToDate => format!("up to date  {} = {dest}", entry.source),
        Status::Outdated { reason } => format!("outdated    {} -> {dest} ({reason})", entry.source),
        Status::Failed { stage, error, .. } if error.contains(&entry.source.to_string()) => {
            format!("failed      [{}] {error}", stage.as_str())
        }
        Status::Failed { stage, error, .. } => {
            format!("failed      [{}] {}: {error}", stage.as_str(), entry.source)
        }
    }
}

/// The `--format json` document of a check.
pub fn document(
    plan: &Plan,
    target: &TargetRegistry,
    target_is_default: bool,
) -> serde_json::Value {
    let entries: Vec<serde_json::Value> = plan
        .entries
        .iter()
        .map(|e| {
            let mut value = serde_json::to_value(e).expect("entries serialise");
            value["destination"] = e.target.as_ref().map(|t| destination(target, t)).into();
            value["lag_seconds"] = e.lag_seconds().into();
            value
        })
        .collect();
    serde_json::json!({
        "target": target.to_string(),
        "target_is_default": target_is_default,
        "outdated": plan.outdated(),
        "failed": plan.failed(),
        "entries": entries,
        "source_failures": plan.source_failures,
    })
}

/// The taskset's readable summary: one line per image, then the totals.
pub fn import_summary(records: &[crate::execute::Record], dry_run: bool) -> String {
    use crate::execute::Action;
    let mut out = String::new();
    for r in records {
        let target = r.target.as_deref().unwrap_or("?");
        let line = match r.action {
            Action::Imported => format!(
                "imported    {} -> {target} ({}, {:.1}s; {})",
                r.source,
                human_bytes(r.bytes),
                r.seconds,
                r.reason
            ),
            Action::WouldImport => format!("would import {} -> {target} ({})", r.source, r.reason),
            Action::UpToDate => format!("up to date  {} = {target}", r.source),
            Action::Failed => format!("failed      {} -> {target}: {}", r.source, r.reason),
            Action::NotChecked => format!("not checked {}: {}", r.source, r.reason),
        };
        out.push_str(&line);
        out.push('\n');
    }
    let count = |a: Action| records.iter().filter(|r| r.action == a).count();
    let moved = if dry_run {
        format!("{} would be imported", count(Action::WouldImport))
    } else {
        format!("{} imported", count(Action::Imported))
    };
    out.push_str(&format!(
        "{moved}, {} up to date, {} failed, {} not checked\n",
        count(Action::UpToDate),
        count(Action::Failed),
        count(Action::NotChecked)
    ));
    out
}

/// The taskset's Markdown report (`--report`).
pub fn import_markdown(
    records: &[crate::execute::Record],
    target: &TargetRegistry,
    dry_run: bool,
) -> String {
    let mut out = format!(
        "# acr-sync import report\n\nTarget: `{target}`{}\n\n| source | target | action | reason | digest | bytes | seconds |\n|---|---|---|---|---|---|---|\n",
        if dry_run {
            " (dry run: nothing was changed)"
        } else {
            ""
        }
    );
    for r in records {
        let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {:.1} |\n",
            r.source,
            r.target
                .as_deref()
                .map(|t| format!("`{t}`"))
                .unwrap_or_default(),
            serde_json::to_value(r.action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            cell(&r.reason),
            r.digest
                .as_deref()
                .map(|d| format!("`{d}`"))
                .unwrap_or_default(),
            r.bytes,
            r.seconds
        ));
    }
    out.push('\n');
    out.push_str(
        import_summary(records, dry_run)
            .lines()
            .last()
            .unwrap_or_default(),
    );
    out.push('\n');
    out
}

/// `12.3 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
