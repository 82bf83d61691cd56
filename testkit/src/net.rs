//! Loopback networking shared by the in-process servers: free ports, a background runtime per
//! server, and a plain HTTP/1.1 accept loop.

use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::thread::JoinHandle;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type RespBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// A body made of the given bytes.
pub(crate) fn full(bytes: impl Into<Bytes>) -> RespBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A port on 127.0.0.1 that was free a moment ago (bound to port 0, read, released).
///
/// Another process may take it before it is used; [`crate::Registry::start`] retries with a new port
/// when the registry reports that its address is in use.
pub fn free_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("local address of a bound listener")
        .port()
}

/// Binds a listener on 127.0.0.1 with an ephemeral port, kept open (no race).
pub(crate) fn bind_loopback() -> (StdListener, SocketAddr) {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let addr = listener.local_addr().expect("local address");
    (listener, addr)
}

/// A server running on its own thread and tokio runtime; stopped when dropped.
pub(crate) struct Background {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Runs `serve(listener)` on a new thread until this value is dropped.
    pub(crate) fn spawn<F, Fut>(name: &str, listener: StdListener, serve: F) -> Background
    where
        F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let (tx, rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime for a testkit server");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("tokio listener from a std listener");
                    tokio::select! {
                        _ = serve(listener) => {}
                        _ = rx => {}
                    }
                });
                rt.shutdown_background();
            })
            .expect("spawn a testkit server thread");
        Background {
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves HTTP/1.1 on `listener` forever, one task per connection. A handler error closes the
/// connection without a response (that is how the fault proxy drops connections).
pub(crate) async fn serve_http1<H, Fut>(listener: tokio::net::TcpListener, handler: H)
where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Response<RespBody>, BoxError>> + Send + 'static,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors or similar: do not spin.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let svc = service_fn(handler);
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
