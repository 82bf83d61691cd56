//! `acr-sync-taskset`: imports the upstream images the target registry lacks.
//!
//! It computes the same plan as `acr-sync-sli` and carries it out; one failed image never
//! stops the others, and a second run straight after is a no-op.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use clap::{Args, Parser, Subcommand};

use acr_sync::check::check;
use acr_sync::execute::{ExecuteOptions, within};
use acr_sync::report;
use acr_sync_cli::{self as cli, Exit, Format, GlobalArgs, ImporterChoice, Run};

mod transfer;

const PROGRAM: &str = "acr-sync-taskset";

/// The run ended before its plan was known; nothing was imported.
const CHECK_DEADLINE: &str = "the run's deadline (sync.deadline or --deadline) passed while checking the images; nothing was imported. Give the run more time, or fewer images per run";

#[derive(Debug, Parser)]
#[command(
    name = "acr-sync-taskset",
    version,
    about = "Import the upstream images a private registry lacks"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(flatten)]
    sync: SyncArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compute the plan and carry it out (the default)
    Sync,
    /// Copy whole registries or repositories, tag by tag, compared by digest (seed 004)
    Transfer(Box<transfer::TransferArgs>),
}

#[derive(Debug, Args)]
struct SyncArgs {
    /// Report what would be done, change nothing
    #[arg(long, global = true)]
    dry_run: bool,
    /// Re-import even tags whose digest already matches
    #[arg(long, global = true)]
    force: bool,
    /// Images imported at once [default: sync.concurrency, 4]
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: Option<u16>,
    /// How images get into the target
    #[arg(long, global = true, value_enum, default_value_t = ImporterChoice::Auto)]
    importer: ImporterChoice,
    /// Write a Markdown report to this file
    #[arg(long, global = true, value_name = "PATH")]
    report: Option<PathBuf>,
    /// End the run after this long, images not done counting as failed [default: sync.deadline, none]
    #[arg(long, global = true, value_name = "DURATION", value_parser = cli::args::duration)]
    deadline: Option<std::time::Duration>,
}

fn main() -> ExitCode {
    let cli: Cli = match cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::logging::init(cli.global.verbose);
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime
            .block_on(async {
                match &cli.command {
                    Some(Command::Transfer(args)) => {
                        transfer::run(&cli.global, &cli.sync, args).await
                    }
                    Some(Command::Sync) | None => sync(&cli).await,
                }
            })
            .into(),
        Err(e) => {
            eprintln!("{PROGRAM}: cannot start the async runtime: {e}");
            Exit::Usage.into()
        }
    }
}

async fn sync(cli: &Cli) -> Exit {
    let Run {
        settings,
        client,
        store,
    } = match cli::load(&cli.global, PROGRAM) {
        Ok(run) => run,
        Err(exit) => return exit,
    };
    if let Some(path) = &cli.sync.report
        && let Err(e) = report::check_writable(path)
    {
        eprintln!("{PROGRAM}: --report: {e}");
        return Exit::Usage;
    }
    let importer = match cli::importer(
        &settings,
        &client,
        cli.sync.importer,
        cli.sync.force,
        PROGRAM,
    ) {
        Ok(importer) => importer,
        Err(exit) => return exit,
    };
    // SYNC_IMAGES=false turns the taskset into a report, as in the seed.
    let dry_run = cli.sync.dry_run || settings.sync.enabled == Some(false);
    let deadline = cli::deadline(&settings, cli.sync.deadline);
    let Some(plan) = within(deadline, check(&settings, &client, &store, Utc::now())).await else {
        eprintln!("{PROGRAM}: {CHECK_DEADLINE}");
        return Exit::Partial;
    };
    if let Some(cause) = report::common_target_failure(&plan, store.target()) {
        eprintln!("{PROGRAM}: {cause}");
    }
    let options = ExecuteOptions {
        dry_run,
        concurrency: cli
            .sync
            .concurrency
            .map_or(settings.sync.concurrency, usize::from),
        deadline,
    };
    let (records, exit) = cli::import(
        &plan,
        &store,
        &importer,
        &options,
        cli.global.format,
        cli.sync.report.as_deref(),
        PROGRAM,
    )
    .await;
    match cli.global.format {
        Format::Text => print!("{}", report::import_summary(&records, dry_run)),
        Format::Json => println!(
            "{:#}",
            serde_json::json!({ "dry_run": dry_run, "target": settings.target.registry.to_string(), "images": records })
        ),
    }
    exit
}
