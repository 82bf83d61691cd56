//! The HTTP server of the binaries' endpoints (`/metrics`, `/healthz`, `/readyz`), with
//! the limits a server listening on `0.0.0.0` needs: a client that opens a connection
//! and sends nothing, or a header a byte at a time, is closed after
//! [`Limits::header_read_timeout`]; no connection lives longer than
//! [`Limits::max_connection_age`]; at most [`Limits::max_connections`] are served at
//! once (more are closed on accept); and running out of file descriptors pauses the
//! accept loop instead of ending it. So idle or half-sent sockets cannot take the
//! endpoint down for long, whatever the descriptor limit.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long the accept loop waits after running out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The server's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request's head must arrive within this (and the first one within this of the
    /// connection opening).
    pub header_read_timeout: Duration,
    /// Connections served at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// The longest any one connection is kept.
    pub max_connection_age: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(5),
            max_connections: 256,
            max_connection_age: Duration::from_secs(120),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open requests finish
/// for up to `grace`. Returns an error only when accepting fails for good.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_resource_exhaustion(&e) => {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => return Err(e),
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        let age = limits.max_connection_age;
        tokio::spawn(async move {
            // A connection's errors (a client gone, a timed-out header) concern only it.
            let _ = tokio::time::timeout(age, connection).await;
            drop(slot);
        });
    }
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
    Ok(())
}

/// Out of descriptors or memory: worth waiting for, the load passes.
fn is_resource_exhaustion(e: &std::io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM.
    matches!(e.raw_os_error(), Some(24 | 23 | 105 | 12))
}

/// An error of the one connection being accepted (reset before accept).
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    )
}
