//! The HTTP side both services share: `/health`, `/metrics`, and serving with graceful shutdown.

use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

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

/// Serves `app` until `shutdown` fires, then lets in-flight requests finish for up to
/// [`SHUTDOWN_DRAIN`]: a client that sent half a request, or never reads, can't hold the
/// process past its stop timeout.
pub async fn serve(listener: TcpListener, app: Router, shutdown: Shutdown) -> io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "HTTP server listening");
    }
    let graceful = axum::serve(listener, app).with_graceful_shutdown({
        let shutdown = shutdown.clone();
        async move { shutdown.wait().await }
    });
    tokio::select! {
        served = graceful.into_future() => served,
        () = async {
            shutdown.wait().await;
            tokio::time::sleep(SHUTDOWN_DRAIN).await;
        } => {
            tracing::warn!(drain = ?SHUTDOWN_DRAIN, "connections still open after shutdown; dropping them");
            Ok(())
        }
    }
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
