//! `acr-sync-sli`: counts the upstream images the target registry lacks.
//!
//! One-shot by default: a summary whose last line is the count, and the seed's two JSON
//! files; the metrics optionally go to a textfile and a Pushgateway too
//! ([`acr_sync_cli::outputs`]).
//! `serve` runs the same check on a schedule behind a Prometheus endpoint ([`serve`]).

mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use acr_sync::check::check;
use acr_sync::config::Settings;
use acr_sync::execute::{ExecuteOptions, within};
use acr_sync::registry::Client;
use acr_sync::report;
use acr_sync_cli::metrics::Metrics;
use acr_sync_cli::outputs::MetricsOutputs;
use acr_sync_cli::{self as cli, Exit, Format, GlobalArgs, Run};
use chrono::Utc;

#[derive(Debug, Parser)]
#[command(
    name = "acr-sync-sli",
    version,
    about = "Count the upstream images a private registry lacks",
    after_help = "Environment (one-shot --pushgateway):\n  PUSHGATEWAY_USERNAME, PUSHGATEWAY_PASSWORD  basic-auth credentials for the Pushgateway;\n                                              never put them in the --pushgateway URL"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(flatten)]
    check: CheckArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check once and report (the default)
    Check,
    /// Serve Prometheus metrics, checking at start and then on an interval.
    ///
    /// Never imports, whatever SYNC_IMAGES or sync.enabled say: remediation is
    /// acr-sync-taskset's job. Settings are read once, at start.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// One-shot: also write the metrics to this file (atomically), for node_exporter's textfile collector (name it *.prom)
    #[arg(long, global = true, value_name = "PATH")]
    textfile: Option<PathBuf>,
    /// One-shot: also push the metrics to this Pushgateway (PUT: the job's group is replaced).
    /// Basic auth comes from PUSHGATEWAY_USERNAME and PUSHGATEWAY_PASSWORD; a URL with a
    /// password in it is refused
    #[arg(long, global = true, value_name = "URL")]
    pushgateway: Option<String>,
    /// The Pushgateway job name
    #[arg(
        long,
        global = true,
        default_value = "acr_sync_sli",
        value_name = "NAME"
    )]
    push_job: String,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to serve /metrics, /healthz and /readyz on
    #[arg(long, default_value = "0.0.0.0:9464", value_name = "ADDR")]
    listen: std::net::SocketAddr,
    /// Time between checks (e.g. 30s, 15m, 1h)
    #[arg(long, default_value = "1h", value_parser = cli::args::duration, value_name = "DURATION")]
    interval: Duration,
    /// A check running longer than this is abandoned and counted as an error [default: the interval]
    #[arg(long, value_parser = cli::args::duration, value_name = "DURATION")]
    check_timeout: Option<Duration>,
}

fn main() -> ExitCode {
    let cli: Cli = match cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::logging::init(cli.global.verbose);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("acr-sync-sli: cannot start the async runtime: {e}");
            return Exit::Usage.into();
        }
    };
    let exit = match &cli.command {
        None | Some(Command::Check) => runtime.block_on(check_once(&cli)),
        Some(Command::Serve(args)) => runtime.block_on(serve_command(&cli, args)),
    };
    // An abandoned check may leave blocking work behind (name resolution): not worth waiting
    // for once the answer is known.
    runtime.shutdown_timeout(Duration::from_secs(1));
    exit.into()
}

async fn serve_command(cli: &Cli, args: &ServeArgs) -> Exit {
    if cli.check.textfile.is_some() || cli.check.pushgateway.is_some() {
        eprintln!(
            "acr-sync-sli: --textfile and --pushgateway are for one-shot mode; serve exposes /metrics instead"
        );
        return Exit::Usage;
    }
    let run = match cli::load(&cli.global, "acr-sync-sli") {
        Ok(run) => run,
        Err(exit) => return exit,
    };
    let options = serve::Options {
        listen: args.listen,
        interval: args.interval,
        check_timeout: args.check_timeout.unwrap_or(args.interval),
    };
    serve::run(run, options).await
}

async fn check_once(cli: &Cli) -> Exit {
    // What can be found wrong before any registry is asked anything is found now, while
    // exit 1 still means that nothing was done: the Pushgateway URL and credentials, the
    // textfile's directory and, once the settings are known, OUTPUT_DIR.
    let outputs = match MetricsOutputs::prepare(
        "acr-sync-sli",
        cli.check.textfile.as_deref(),
        cli.check.pushgateway.as_deref(),
        &cli.check.push_job,
        &[],
    ) {
        Ok(outputs) => outputs,
        Err(e) => {
            eprintln!("acr-sync-sli: {e}");
            return Exit::Usage;
        }
    };
    let Run {
        settings,
        client,
        store,
    } = match cli::load(&cli.global, "acr-sync-sli") {
        Ok(run) => run,
        Err(exit) => return exit,
    };
    if let Err(e) = cli::outputs::check_writable_dir(&settings.output_dir) {
        eprintln!("acr-sync-sli: OUTPUT_DIR (output_dir): {e}");
        return Exit::Usage;
    }
    let started = Instant::now();
    let deadline = cli::deadline(&settings, None);
    let Some(plan) = within(deadline, check(&settings, &client, &store, Utc::now())).await else {
        // No count line: a pipeline reading the last line must not read a number it
        // could not measure.
        eprintln!(
            "acr-sync-sli: the run's deadline (sync.deadline) passed before the check finished; no count was measured"
        );
        return Exit::Partial;
    };
    let duration = started.elapsed();
    let target = &settings.target;
    // Written before any import: when this fails nothing has been changed (exit 1), and
    // SYNC_IMAGES never imports what the files do not list.
    if let Err(e) = report::write_files(&plan, &target.registry, &settings.output_dir) {
        eprintln!("acr-sync-sli: {e}");
        return Exit::Usage;
    }
    // SYNC_IMAGES=true imports as the taskset does; its results come first so that the
    // last line stays the outdated count of the check.
    let imports = if settings.sync.enabled == Some(true) {
        let options = ExecuteOptions {
            dry_run: false,
            concurrency: settings.sync.concurrency,
            deadline,
        };
        let importer = match cli::importer(
            &settings,
            &client,
            cli::ImporterChoice::Auto,
            false,
            "acr-sync-sli",
        ) {
            Ok(importer) => importer,
            Err(exit) => return exit,
        };
        let format = cli.global.format;
        let (records, _) = cli::import(
            &plan,
            &store,
            &importer,
            &options,
            format,
            None,
            "acr-sync-sli",
        )
        .await;
        Some(records)
    } else {
        None
    };
    match cli.global.format {
        Format::Text => {
            if let Some(records) = &imports {
                print!("{}", report::import_summary(records, false));
            }
            print!(
                "{}",
                report::summary(&plan, &target.registry, target.is_default)
            )
        }
        Format::Json => {
            let mut doc = report::document(&plan, &target.registry, target.is_default);
            if let Some(records) = &imports {
                doc["imports"] = serde_json::json!(records);
            }
            println!("{doc:#}")
        }
    }
    // The check is done and reported (and imports may have run): a metric output failing
    // now is a partial result, exit 2, never a usage error.
    let mut outputs_failed = false;
    if !outputs.is_empty() {
        let errors = send_metrics(&outputs, &settings, &client, &plan, duration).await;
        for e in &errors {
            eprintln!("acr-sync-sli: {e}");
        }
        outputs_failed = !errors.is_empty();
    }
    let imports_failed = imports.iter().flatten().any(|r| r.is_failure());
    if plan.is_complete() && !imports_failed && !outputs_failed {
        Exit::Done
    } else {
        Exit::Partial
    }
}

/// The metrics of this one check, to the textfile and the Pushgateway that were asked for;
/// the errors of those that failed.
async fn send_metrics(
    outputs: &MetricsOutputs,
    settings: &Settings,
    client: &Client,
    plan: &acr_sync::plan::Plan,
    duration: Duration,
) -> Vec<String> {
    let exposition =
        Metrics::new(env!("CARGO_PKG_VERSION"), &settings.target).and_then(|metrics| {
            metrics.record_check(plan, duration, Utc::now());
            metrics.record_registry_stats(&client.stats());
            metrics.encode()
        });
    match exposition {
        Ok(text) => outputs.send(&text).await,
        Err(e) => vec![e.to_string()],
    }
}
