//! The HTTP side both services share: `/health`, `/metrics`, and serving with graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::shutdown::Shutdown;

/// OpenMetrics text, which Prometheus scrapes natively.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `/health` (200 while the process is up) and `/metrics` (the registry's metrics).
pub fn base_router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics).with_state(registry))
}

async fn metrics(State(registry): State<Arc<Registry>>) -> Response {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], body).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen on {addr}: {source} (choose another address with the listen option, or 'off')"
)]
pub struct BindError {
    pub addr: SocketAddr,
    #[source]
    pub source: io::Error,
}

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })
}

/// How long in-flight requests get after shutdown before their connections are dropped.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(3);

/// What one client may hold of the server. A scraper or http_sd client needs one connection
/// and sends its request header at once, so the bounds only bite on a client that misbehaves.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections served at once; beyond that, new ones wait in the kernel's accept queue
    /// and take no file handle of ours, so a flood can't starve the AWS clients of sockets.
    pub max_connections: usize,
    /// How long a client has to send a whole request header, for its first request and
    /// each one after on a kept-alive connection; then the connection is closed.
    pub header_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 128,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `app` with the default [`ConnectionLimits`]; see [`serve_with`].
pub async fn serve(listener: TcpListener, app: Router, shutdown: Shutdown) -> io::Result<()> {
    serve_with(listener, app, shutdown, ConnectionLimits::default()).await
}

/// Serves `app` until `shutdown` fires, then lets in-flight requests finish for up to
/// [`SHUTDOWN_DRAIN`]: a client that sent half a request, or never reads, can't hold the
/// process past its stop timeout.
///
/// hyper's own connection builder rather than `axum::serve`, because `axum::serve` sets
/// neither a header-read timeout nor a bound on connections.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    shutdown: Shutdown,
    limits: ConnectionLimits,
) -> io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, max_connections = limits.max_connections, "HTTP server listening");
    }
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_closed) => break,
            },
            () = shutdown.wait() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
            () = shutdown.wait() => break,
        };
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "HTTP connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_DRAIN) => {
            tracing::warn!(drain = ?SHUTDOWN_DRAIN, "connections still open after shutdown; dropping them");
        }
    }
    Ok(())
}

/// A failed accept is about one connection (reset before accepted) or about the process
/// (out of file handles); in the second case, back off instead of spinning on the error.
async fn accept_failed(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(%error, "cannot accept an HTTP connection; retrying in 1s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use prometheus_client::metrics::counter::Counter;
    use tower::ServiceExt;

    async fn get_body(app: Router, path: &str) -> (StatusCode, String) {
        let response = app
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, String::from_utf8(bytes.to_vec()).expect("utf8"))
    }

    #[tokio::test]
    async fn health_is_ok() {
        let (status, _) = get_body(base_router(Arc::new(Registry::default())), "/health").await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn metrics_renders_the_registry() {
        let mut registry = Registry::default();
        let counter: Counter = Counter::default();
        counter.inc();
        registry.register("demo_events", "Events seen", counter);
        let (status, body) = get_body(base_router(Arc::new(registry)), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("demo_events_total 1"), "{body}");
    }

    /// Serves `/health` on a loopback port with `limits`; the server stops when the returned
    /// handle is triggered, and the returned task ends when it has.
    async fn serving(
        limits: ConnectionLimits,
    ) -> (
        SocketAddr,
        Shutdown,
        tokio::task::JoinHandle<io::Result<()>>,
    ) {
        let listener = bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = Shutdown::new();
        let app = base_router(Arc::new(Registry::default()));
        let server = tokio::spawn(serve_with(listener, app, shutdown.clone(), limits));
        (addr, shutdown, server)
    }

    /// A connection that sent the start of a request header and never the rest.
    async fn half_a_header(addr: SocketAddr) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt;
        let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
        slow.write_all(b"GET /health HTTP/1.1\r\nHo")
            .await
            .expect("write");
        slow
    }

    /// Sends one GET /health and reads until the server closes; `None` if no answer in time.
    async fn health_within(addr: SocketAddr, wait: Duration) -> Option<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let attempt = async {
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .expect("write");
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.expect("read");
            answer
        };
        tokio::time::timeout(wait, attempt).await.ok()
    }

    #[tokio::test]
    async fn a_client_that_sends_half_a_header_is_disconnected() {
        use tokio::io::AsyncReadExt;
        let (addr, _shutdown, _server) = serving(ConnectionLimits {
            max_connections: 8,
            header_read_timeout: Duration::from_millis(300),
        })
        .await;
        let mut slow = half_a_header(addr).await;
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
        assert!(
            closed.is_ok(),
            "the half-header connection was still open after 5 s"
        );
    }

    #[tokio::test]
    async fn connections_beyond_the_bound_wait_for_a_free_slot() {
        let (addr, _shutdown, _server) = serving(ConnectionLimits {
            max_connections: 2,
            header_read_timeout: Duration::from_secs(60),
        })
        .await;
        let idle_one = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let idle_two = tokio::net::TcpStream::connect(addr).await.expect("connect");
        assert_eq!(
            health_within(addr, Duration::from_millis(500)).await,
            None,
            "a third connection was served while two idle ones held both slots"
        );
        drop(idle_one);
        let answer = health_within(addr, Duration::from_secs(5))
            .await
            .expect("served once a slot was free");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        drop(idle_two);
    }

    #[tokio::test]
    async fn shutdown_stops_serving_even_with_a_half_sent_request() {
        let (addr, shutdown, server) = serving(ConnectionLimits::default()).await;
        let _slow = half_a_header(addr).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        shutdown.trigger();
        let stopped = tokio::time::timeout(SHUTDOWN_DRAIN + Duration::from_secs(2), server).await;
        assert!(stopped.is_ok(), "the server outlived its drain");
    }

    #[tokio::test]
    async fn bind_error_names_the_address() {
        let taken = bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let addr = taken.local_addr().expect("addr");
        let err = bind(addr).await.expect_err("in use");
        assert!(err.to_string().contains(&addr.to_string()));
    }
}
