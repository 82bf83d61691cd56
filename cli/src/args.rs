//! The command line both binaries share (global options, output format, exit codes),
//! and the run's objects built from it: settings, the registry client, the target store
//! and the importer.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::{Args, ValueEnum};

use acr_sync::config::{Env, Settings};
use acr_sync::copy::{Copier, CopyOptions};
use acr_sync::execute::{ExecuteOptions, Importer, Progress, Record, execute};
use acr_sync::plan::Plan;
use acr_sync::registry::Client;
use acr_sync::report;
use acr_sync::store::Store;

/// `--config`, `--format` and `--verbose`, accepted before or after a subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Config file [default: ./workspace.yaml when present]
    #[arg(long, global = true, env = "ACR_SYNC_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Output format on stdout
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// More detail on stderr (-v: info, -vv: debug, -vvv: trace)
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// How images get into the target (`--importer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImporterChoice {
    /// ARM importImage for an ACR target with an Entra ID identity, copy otherwise
    Auto,
    /// ARM importImage (server-side, ACR only)
    AcrImport,
    /// Registry-to-registry copy through this machine
    Copy,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A readable summary.
    Text,
    /// One JSON document.
    Json,
}

/// The exit codes of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The run did what was asked.
    Done,
    /// Bad usage or configuration; nothing was changed.
    Usage,
    /// Some images failed or could not be checked; the rest were done.
    Partial,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        match exit {
            Exit::Done => ExitCode::SUCCESS,
            Exit::Usage => ExitCode::from(1),
            Exit::Partial => ExitCode::from(2),
        }
    }
}

/// Parses the command line, mapping clap's usage errors to exit code 1 (clap's own is 2,
/// which the contract reserves for partial failures).
pub fn parse<T: clap::Parser>() -> Result<T, ExitCode> {
    T::try_parse().map_err(|e| {
        let code = if e.use_stderr() { 1 } else { 0 };
        // Printing can only fail when stdout/stderr are closed; nothing to do then.
        let _ = e.print();
        ExitCode::from(code)
    })
}

/// A duration option (`90s`, `15m`, `1h30m`), for clap's `value_parser`; never zero.
pub fn duration(text: &str) -> Result<std::time::Duration, String> {
    match acr_sync::duration::parse(text) {
        Ok(d) if d.is_zero() => Err("the duration must be more than 0".to_string()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// When a run that starts now must be over: `flag` (`--deadline`) over `sync.deadline`.
pub fn deadline(
    settings: &Settings,
    flag: Option<std::time::Duration>,
) -> Option<tokio::time::Instant> {
    let limit = flag.or(settings.sync.deadline)?;
    Some(tokio::time::Instant::now() + limit)
}

/// What a run is made of, built once by [`load`].
#[derive(Debug)]
pub struct Run {
    /// The settings.
    pub settings: Settings,
    /// The registry client every registry is reached with.
    pub client: Client,
    /// The target, opened with `client`.
    pub store: Store,
}

/// Loads settings, builds the registry client and opens the target store, printing a
/// configuration error as `program: message` and mapping it to exit 1.
pub fn load(global: &GlobalArgs, program: &str) -> Result<Run, Exit> {
    let settings = Settings::load(global.config.as_deref(), &Env::from_process()).map_err(|e| {
        eprintln!("{program}: {e}");
        Exit::Usage
    })?;
    let client = Client::new(settings.client_config()).map_err(|e| {
        eprintln!("{program}: {e}");
        Exit::Usage
    })?;
    let store = Store::open(&settings.target.registry, &client);
    Ok(Run {
        settings,
        client,
        store,
    })
}

/// The importer `choice` asks for; `acr-import` without an ACR target and an Entra
/// identity is a usage error (exit 1), found before anything runs.
pub fn importer(
    settings: &Settings,
    client: &Client,
    choice: ImporterChoice,
    force: bool,
    program: &str,
) -> Result<Importer, Exit> {
    let copier = || {
        let options = CopyOptions {
            force,
            ..CopyOptions::default()
        };
        Copier::new(client.clone(), options)
    };
    let acr = |importer, fallback| Importer::Acr {
        importer: Box::new(importer),
        client: client.clone(),
        fallback,
        force,
    };
    match (choice, settings.acr_importer()) {
        (ImporterChoice::Copy, _) | (ImporterChoice::Auto, None) => Ok(Importer::Copy(copier())),
        (ImporterChoice::Auto, Some(importer)) => Ok(acr(importer, Some(copier()))),
        (ImporterChoice::AcrImport, Some(importer)) => Ok(acr(importer, None)),
        (ImporterChoice::AcrImport, None) => {
            eprintln!(
                "{program}: --importer acr-import needs an ACR target (REGISTRY_NAME) and an Entra ID identity (AZURE_CLIENT_ID with AZURE_TENANT_ID and AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE, or a managed identity); use --importer copy otherwise"
            );
            Err(Exit::Usage)
        }
    }
}

/// Carries out `plan` with a progress line on a terminal and writes the Markdown report
/// when asked. Returns the records and the exit code they call for; a report that cannot
/// be written after the imports ran is reported and makes it a partial run (exit 2), since
/// exit 1 promises that nothing changed.
pub async fn import(
    plan: &Plan,
    store: &Store,
    importer: &Importer,
    options: &ExecuteOptions,
    format: Format,
    report_path: Option<&std::path::Path>,
    program: &str,
) -> (Vec<Record>, Exit) {
    let progress = Progress::default();
    let run = execute(plan, store, importer, options, &progress);
    let records = run_with_progress(run, &progress, importer, format, options.dry_run).await;
    let mut exit = if records.iter().any(Record::is_failure) {
        Exit::Partial
    } else {
        Exit::Done
    };
    if let Some(path) = report_path {
        let text = report::import_markdown(&records, store.target(), options.dry_run);
        if let Err(e) = report::write_bytes_atomically(path, text.as_bytes()) {
            eprintln!("{program}: --report: {e}");
            exit = Exit::Partial;
        }
    }
    (records, exit)
}

/// Runs `run`, redrawing its progress line on stderr while it goes when a person watches:
/// stdout is a terminal, the text format, and not a dry run (which moves nothing).
pub async fn run_with_progress<F: std::future::Future<Output = Vec<Record>>>(
    run: F,
    progress: &Progress,
    importer: &Importer,
    format: Format,
    dry_run: bool,
) -> Vec<Record> {
    if std::io::stdout().is_terminal() && format == Format::Text && !dry_run {
        with_progress(run, progress, importer).await
    } else {
        run.await
    }
}

/// Redraws `[done/total] images, bytes` on stderr until `run` finishes.
async fn with_progress<F: std::future::Future<Output = Vec<Record>>>(
    run: F,
    progress: &Progress,
    importer: &Importer,
) -> Vec<Record> {
    let mut run = std::pin::pin!(run);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        tokio::select! {
            records = &mut run => {
                eprint!("\r\x1b[K");
                return records;
            }
            _ = tick.tick() => {
                eprint!(
                    "\r\x1b[K[{}/{}] images, {}",
                    progress.done.load(Ordering::Relaxed),
                    progress.total.load(Ordering::Relaxed),
                    report::human_bytes(importer.bytes_transferred())
                );
            }
        }
    }
}
