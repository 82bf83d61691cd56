//! `acr-sync-sli serve`: the check on a schedule, behind a Prometheus endpoint.
//!
//! One check runs at start, then one per interval, one at a time: the next starts only
//! when the previous has ended (a check slower than the interval delays the next one; it
//! never overlaps it). A check that exceeds its time limit is abandoned and counted as an
//! error; the metrics keep the last values known. Settings and the registry client are
//! made once at start, so request counters cover the process's life; a changed config
//! needs a restart. Serve never imports, whatever `SYNC_IMAGES` says.
//!
//! Endpoints: `GET /metrics` (text format 0.0.4), `GET /healthz` (200 while the process
//! serves), `GET /readyz` (503 until a check has finished with a plan, 200 after, whatever
//! that plan says: failures are in the metrics, which is where they belong). A check that
//! timed out produced no plan, so it does not make the exporter ready, and until one has,
//! `acr_sync_images_outdated` and the `image_*` series are absent: the SLI never reads 0
//! when nothing has been checked.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;

use acr_sync::check::check;
use acr_sync::config::Settings;
use acr_sync::registry::Client;
use acr_sync::store::Store;
use acr_sync_cli::metrics::{CheckFailure, Metrics};
use acr_sync_cli::{Exit, Run};

/// How long in-flight requests may take to finish once a shutdown signal came.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What `serve` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Time from the start of one check to the start of the next.
    pub interval: Duration,
    /// A check running longer than this is abandoned.
    pub check_timeout: Duration,
}

/// What the HTTP handlers and the check loop share.
struct Shared {
    metrics: Metrics,
    /// A check has finished with a plan (a timeout does not count).
    ready: AtomicBool,
}

/// Serves until SIGTERM or SIGINT; exit 0 then, 1 when it cannot listen.
pub async fn run(run: Run, options: Options) -> Exit {
    let Run {
        settings,
        client,
        store,
    } = run;
    let metrics = match Metrics::new(env!("CARGO_PKG_VERSION"), &settings.target) {
        Ok(metrics) => metrics,
        Err(e) => {
            eprintln!("acr-sync-sli: {e}");
            return Exit::Usage;
        }
    };
    let shared = Arc::new(Shared {
        metrics,
        ready: AtomicBool::new(false),
    });
    let listener = match tokio::net::TcpListener::bind(options.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "acr-sync-sli: cannot listen on {} (--listen): {e}",
                options.listen
            );
            return Exit::Usage;
        }
    };
    let addr = listener.local_addr().unwrap_or(options.listen);
    eprintln!(
        "acr-sync-sli: serving http://{addr}/metrics, /healthz and /readyz; checking {} every {:?}",
        settings.target.registry, options.interval
    );
    if settings.sync.enabled == Some(true) {
        eprintln!(
            "acr-sync-sli: serve only checks and never imports: SYNC_IMAGES / sync.enabled is ignored here"
        );
    }

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = router(Arc::clone(&shared));
    let shutdown = async {
        let _ = stopped.await;
    };
    let mut server = tokio::spawn(acr_sync_cli::http::serve(
        listener,
        app,
        acr_sync_cli::http::Limits::default(),
        shutdown,
        SHUTDOWN_GRACE,
    ));

    tokio::select! {
        () = check_loop(&shared, &settings, &client, &store, &options) => {}
        signal = shutdown_signal() => eprintln!("acr-sync-sli: {signal}: shutting down"),
        ended = &mut server => {
            eprintln!("acr-sync-sli: the HTTP server stopped: {}", describe(ended));
            return Exit::Usage;
        }
    }
    let _ = stop.send(());
    match tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(1), &mut server).await {
        Ok(_) => {}
        Err(_) => {
            eprintln!("acr-sync-sli: requests still open after {SHUTDOWN_GRACE:?}; closing them");
            server.abort();
        }
    }
    Exit::Done
}

fn describe(ended: Result<std::io::Result<()>, tokio::task::JoinError>) -> String {
    match ended {
        Ok(Ok(())) => "without an error".to_string(),
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    }
}

/// Checks now and then once per interval, forever; never two checks at once.
async fn check_loop(
    shared: &Shared,
    settings: &Settings,
    client: &Client,
    store: &Store,
    options: &Options,
) {
    let mut ticker = tokio::time::interval(options.interval);
    // A check slower than the interval delays the next tick instead of bunching them.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        check_once(shared, settings, client, store, options.check_timeout).await;
    }
}

async fn check_once(
    shared: &Shared,
    settings: &Settings,
    client: &Client,
    store: &Store,
    limit: Duration,
) {
    let started = Instant::now();
    match tokio::time::timeout(limit, check(settings, client, store, Utc::now())).await {
        Ok(plan) => {
            let elapsed = started.elapsed();
            let result = shared.metrics.record_check(&plan, elapsed, Utc::now());
            eprintln!(
                "acr-sync-sli: check {}: {} outdated, {} could not be checked ({:.1}s)",
                result.as_str(),
                plan.outdated(),
                plan.failed(),
                elapsed.as_secs_f64()
            );
            shared.ready.store(true, Ordering::Release);
        }
        Err(_) => {
            shared
                .metrics
                .record_failed_check(CheckFailure::Timeout, started.elapsed());
            let kept = if shared.ready.load(Ordering::Acquire) {
                "the metrics keep the last values"
            } else {
                "no check has finished yet, so there is no SLI value and /readyz stays 503"
            };
            eprintln!(
                "acr-sync-sli: check error: abandoned after {limit:?} (--check-timeout); {kept}"
            );
        }
    }
    shared.metrics.record_registry_stats(&client.stats());
}

/// The name of the signal that asked to stop.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return "SIGINT";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/", get(index))
        .with_state(shared)
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    match shared.metrics.encode() {
        Ok(text) => (
            [(header::CONTENT_TYPE, acr_sync_cli::metrics::CONTENT_TYPE)],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "no check has finished yet\n",
        )
            .into_response()
    }
}

async fn index() -> &'static str {
    "acr-sync-sli exporter: /metrics, /healthz, /readyz\n"
}
