//! `acr-sync-taskset transfer`: seed 004's bulk transfer of whole registries and
//! repositories, through the library's discovery, plan and execute.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;

use acr_sync::config::{Env, Settings, TargetRegistry};
use acr_sync::execute::{ExecuteOptions, Importer, Progress, within};
use acr_sync::registry::Client;
use acr_sync::report;
use acr_sync::store::Store;
use acr_sync::transfer::filter::{self, Letters, RepositoryFilter};
use acr_sync::transfer::shard::{JOB_COMPLETION_INDEX, Shard};
use acr_sync::transfer::{self, Selection, TransferOptions, TransferReport, TransferSummary};
use acr_sync_cli::outputs::MetricsOutputs;
use acr_sync_cli::{self as cli, Exit, Format, GlobalArgs};

use super::{PROGRAM, SyncArgs};

/// `transfer`'s own flags; `--dry-run`, `--force`, `--concurrency`, `--importer`,
/// `--report` and `--format` are the taskset's global ones.
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Source registry: an ACR name (myacr) or login server, or any host[:port]
    #[arg(long, value_name = "SRC")]
    source_registry_name: String,
    /// Target: an ACR name or login server, any host[:port], or oci-layout:DIR
    #[arg(long, value_name = "DST")]
    target_registry_name: String,
    /// Transfer this one repository (letters do not apply; ignore patterns do)
    #[arg(long, value_name = "R")]
    repository: Option<String>,
    /// First letters of the repositories to take: letters and ranges, such as a-c,e,g
    #[arg(long, value_name = "FILTER")]
    letters: Option<String>,
    /// Leave out repositories matching this fnmatch glob (`*` crosses `/`) or `re:` regex;
    /// repeatable, and globs may be comma lists
    #[arg(long, value_name = "PATTERN")]
    ignore_pattern: Vec<String>,
    /// A JSON array of further ignore patterns
    #[arg(long, value_name = "PATH")]
    ignore_config: Option<PathBuf>,
    /// At most this many repositories (in name order, after filters and shard)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_repositories: Option<u32>,
    /// Pause between two imports, in seconds; imports then go one at a time
    #[arg(long, value_name = "SECONDS", value_parser = parse_delay)]
    delay_seconds: Option<f64>,
    /// Azure subscription of the source ACR
    #[arg(long, value_name = "ID")]
    source_subscription_id: Option<String>,
    /// Azure subscription of the target ACR
    #[arg(long, value_name = "ID")]
    target_subscription_id: Option<String>,
    /// Take shard I of N (0-based) of the source repositories, by a stable hash of the name
    #[arg(long, value_name = "I/N", conflicts_with = "shards")]
    shard: Option<String>,
    /// Also write the run's metrics to this file (atomically), for node_exporter's textfile collector (name it *.prom)
    #[arg(long, value_name = "PATH")]
    textfile: Option<PathBuf>,
    /// Also push the run's metrics to this Pushgateway (PUT to the job's group, one group
    /// per shard). Basic auth comes from PUSHGATEWAY_USERNAME and PUSHGATEWAY_PASSWORD
    #[arg(long, value_name = "URL")]
    pushgateway: Option<String>,
    /// The Pushgateway job name
    #[arg(long, default_value = "acr_sync_transfer", value_name = "NAME")]
    push_job: String,
    /// Take shard JOB_COMPLETION_INDEX of N (a Kubernetes Indexed Job)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    shards: Option<u32>,
}

fn parse_delay(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => Ok(s),
        _ => Err("expected seconds from 0 to 86400, such as 2 or 0.5".to_string()),
    }
}

fn usage(message: impl std::fmt::Display) -> Exit {
    eprintln!("{PROGRAM}: {message}");
    Exit::Usage
}

/// Everything a transfer needs, checked before anything is sent.
struct Prepared {
    settings: Settings,
    source: TargetRegistry,
    selection: Selection,
}

fn prepare(global: &GlobalArgs, args: &TransferArgs) -> Result<Prepared, Exit> {
    let source = TargetRegistry::parse(&args.source_registry_name)
        .map_err(|e| usage(format!("--source-registry-name: {e}")))?;
    if !matches!(source, TargetRegistry::Registry { .. }) {
        return Err(usage(
            "--source-registry-name: the source must be a registry (an ACR name, a login server or host[:port]), not a layout",
        ));
    }
    let target = TargetRegistry::parse(&args.target_registry_name)
        .map_err(|e| usage(format!("--target-registry-name: {e}")))?;
    let mut settings =
        Settings::load(global.config.as_deref(), &Env::from_process()).map_err(usage)?;
    // The config's target keeps its `target.acr` (a `host[:port]` ACR, its ARM
    // endpoint) when it is the same registry.
    if settings.target.registry.host() != target.host() || target.host().is_none() {
        settings.target.registry = target;
    }
    settings.target.is_default = false;
    if let Some(id) = &args.target_subscription_id {
        settings.target.subscription_id = Some(id.clone());
    }
    Ok(Prepared {
        settings,
        source,
        selection: selection(args)?,
    })
}

fn selection(args: &TransferArgs) -> Result<Selection, Exit> {
    let letters = args
        .letters
        .as_deref()
        .map(Letters::parse)
        .transpose()
        .map_err(usage)?;
    let mut patterns = filter::split_pattern_args(args.ignore_pattern.iter().map(String::as_str));
    if let Some(path) = &args.ignore_config {
        patterns.extend(filter::read_ignore_config(path).map_err(usage)?);
    }
    let ignore = filter::compile(&patterns).map_err(usage)?;
    let shard = match (&args.shard, args.shards) {
        (Some(value), _) => Some(Shard::parse(value).map_err(usage)?),
        (None, Some(count)) => {
            let index = std::env::var(JOB_COMPLETION_INDEX).ok();
            Some(Shard::from_job_index(count, index.as_deref()).map_err(usage)?)
        }
        (None, None) => None,
    };
    if let Some(repository) = &args.repository
        && repository.trim().is_empty()
    {
        return Err(usage("--repository: the name is empty"));
    }
    Ok(Selection {
        repository: args.repository.clone(),
        filter: RepositoryFilter { letters, ignore },
        shard,
        max_repositories: args.max_repositories.map(|n| n as usize),
    })
}

/// Runs `transfer`.
pub async fn run(global: &GlobalArgs, sync: &SyncArgs, args: &TransferArgs) -> Exit {
    let started = Instant::now();
    let Prepared {
        settings,
        source,
        selection,
    } = match prepare(global, args) {
        Ok(prepared) => prepared,
        Err(exit) => return exit,
    };
    if let Some(path) = &sync.report
        && let Err(e) = report::check_writable(path)
    {
        return usage(format!("--report: {e}"));
    }
    let shard = selection.shard.map(|s| s.to_string());
    let grouping: Vec<(&str, &str)> = shard.iter().map(|s| ("shard", s.as_str())).collect();
    let outputs = match MetricsOutputs::prepare(
        PROGRAM,
        args.textfile.as_deref(),
        args.pushgateway.as_deref(),
        &args.push_job,
        &grouping,
    ) {
        Ok(outputs) => outputs,
        Err(e) => return usage(e),
    };
    let client = match Client::new(transfer::client_config(&settings, &source)) {
        Ok(client) => client,
        Err(e) => return usage(e),
    };
    let mut importer = match cli::importer(&settings, &client, sync.importer, sync.force, PROGRAM) {
        Ok(importer) => importer,
        Err(exit) => return exit,
    };
    // ACR to ACR: importImage reads the source by its resourceId, in its own subscription.
    if let (Importer::Acr { importer, .. }, Some(host)) = (&mut importer, source.host())
        && (source.acr_name().is_some() || args.source_subscription_id.is_some())
    {
        importer.set_source_acr(host, args.source_subscription_id.clone());
    }
    let source_store = Store::open(&source, &client);
    let target_store = Store::open(&settings.target.registry, &client);
    let deadline = cli::deadline(&settings, sync.deadline);
    let discovery = match within(
        deadline,
        transfer::discover(&source_store, &target_store, &selection),
    )
    .await
    {
        None => {
            eprintln!(
                "{PROGRAM}: the run's deadline (sync.deadline or --deadline) passed while listing the repositories and tags; nothing was transferred. Give the run more time, or split it with --shard"
            );
            return Exit::Partial;
        }
        Some(Ok(discovery)) => discovery,
        Some(Err(e)) => {
            eprintln!("{PROGRAM}: {e}");
            return Exit::Partial;
        }
    };
    let dry_run = sync.dry_run || settings.sync.enabled == Some(false);
    let options = TransferOptions {
        execute: ExecuteOptions {
            dry_run,
            concurrency: sync
                .concurrency
                .map_or(settings.sync.concurrency, usize::from),
            deadline,
        },
        delay: Duration::from_secs_f64(args.delay_seconds.unwrap_or(0.0)),
    };
    let progress = Progress::default();
    let run = transfer::execute(
        &discovery.plan,
        &target_store,
        &importer,
        &options,
        &progress,
    );
    let records =
        cli::args::run_with_progress(run, &progress, &importer, global.format, dry_run).await;
    let summary = TransferSummary {
        source: source.to_string(),
        target: settings.target.registry.to_string(),
        dry_run,
        shard,
        seconds: started.elapsed().as_secs_f64(),
        ..TransferSummary::default()
    };
    let report = transfer::report(&discovery, &records, &importer, summary);
    let mut exit = if report.has_failures() {
        Exit::Partial
    } else {
        Exit::Done
    };
    print_report(&report, global.format);
    if let Some(path) = &sync.report
        && let Err(e) = write_report(path, &report)
    {
        eprintln!("{PROGRAM}: --report: {e}");
        exit = Exit::Partial;
    }
    if !outputs.is_empty() {
        let errors = send_metrics(&outputs, &report).await;
        for e in &errors {
            eprintln!("{PROGRAM}: {e}");
        }
        if !errors.is_empty() {
            exit = Exit::Partial;
        }
    }
    exit
}

/// The run's metrics to the textfile and Pushgateway asked for; the errors of those that
/// failed.
async fn send_metrics(outputs: &MetricsOutputs, report: &TransferReport) -> Vec<String> {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    match cli::metrics::transfer::transfer_exposition(report, now) {
        Ok(text) => outputs.send(&text).await,
        Err(e) => vec![e.to_string()],
    }
}

fn print_report(report: &TransferReport, format: Format) {
    for r in report.retagged() {
        eprintln!(
            "{PROGRAM}: warning: re-tagged: {}:{} is {} in the source but {} in the target; {}",
            r.repository,
            r.tag.as_deref().unwrap_or(""),
            r.source_digest.as_deref().unwrap_or("?"),
            r.target_digest.as_deref().unwrap_or("?"),
            if report.summary.dry_run {
                "it would be replaced"
            } else {
                "replacing it"
            }
        );
    }
    match format {
        Format::Json => println!("{}", document(report)),
        Format::Text => print!("{}", text(report)),
    }
}

fn document(report: &TransferReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn text(report: &TransferReport) -> String {
    let mut out = String::new();
    for r in &report.records {
        if r.action == transfer::TransferAction::Skipped {
            continue;
        }
        let name = match &r.tag {
            Some(tag) => format!("{}:{tag}", r.repository),
            None => r.repository.clone(),
        };
        out.push_str(&format!("{:<12} {name}  {}\n", r.action.as_str(), r.reason));
    }
    let s = &report.summary;
    out.push_str(&format!(
        "{} -> {}{}: {} repositories ({} left out), {} tags: {}; {} in {:.1}s\n",
        s.source,
        s.target,
        s.shard
            .as_ref()
            .map(|sh| format!(" (shard {sh})"))
            .unwrap_or_default(),
        s.repositories,
        s.excluded_repositories,
        s.tags,
        transfer::counts(&s.actions),
        report::human_bytes(s.bytes),
        s.seconds
    ));
    out
}

/// `PATH.json` gets the JSON document (what shard reports are merged from), any other
/// name the Markdown table.
fn write_report(path: &Path, report: &TransferReport) -> Result<(), report::WriteError> {
    let body = if path.extension().is_some_and(|e| e == "json") {
        document(report) + "\n"
    } else {
        transfer::markdown(report)
    };
    report::write_bytes_atomically(path, body.as_bytes())
}
