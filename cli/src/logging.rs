//! Logging: tracing events of the libraries, sent to stderr.

use std::io::IsTerminal;

/// Sends logs to stderr at the level `--verbose` asks for (`RUST_LOG` wins when set).
pub fn init(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "acr_sync={level},acr_sync_registry={level},acr_sync_azure={level},charts_render={level}"
        ))
    });
    // A second call (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
