//! The discoverer's HTTP endpoints: http_sd, readiness, the skip report, health and metrics.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use stack_common::http::base_router;

use crate::explain;
use crate::output::SharedState;

/// `GET /prometheus-targets` and `/targets` (http_sd), `/ready`, `/debug/skipped`, `/health`,
/// `/metrics`.
pub fn app(state: Arc<SharedState>, registry: Arc<Registry>) -> Router {
    let routes = Router::new()
        .route("/prometheus-targets", get(http_sd))
        .route("/targets", get(http_sd))
        .route("/ready", get(ready))
        .route("/debug/skipped", get(skipped))
        .with_state(state);
    base_router(registry).merge(routes)
}

async fn http_sd(State(state): State<Arc<SharedState>>) -> Response {
    match state.http_sd() {
        Some(Ok(body)) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Some(Err(error)) => {
            tracing::error!(%error, "http_sd: the targets could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the targets could not be rendered: {error}\n"),
            )
                .into_response()
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no successful discovery cycle yet\n",
        )
            .into_response(),
    }
}

async fn ready(State(state): State<Arc<SharedState>>) -> Response {
    if state.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "no successful discovery cycle yet\n",
        )
            .into_response()
    }
}

#[derive(Debug, Deserialize)]
struct SkippedQuery {
    format: Option<String>,
}

async fn skipped(
    State(state): State<Arc<SharedState>>,
    Query(query): Query<SkippedQuery>,
) -> Response {
    let skipped = state.skipped();
    if query.format.as_deref() == Some("json") {
        axum::Json(explain::views(&skipped)).into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            explain::text(&skipped, None),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use crate::label_set::LabelSet;
    use crate::resolve::{Convention, Interval, Origin, Skip, SkipReason, Target};

    async fn get(app: Router, path: &str) -> (StatusCode, String, Option<String>) {
        let response = app
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or_default().to_string());
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (
            status,
            String::from_utf8_lossy(&body).into_owned(),
            content_type,
        )
    }

    #[tokio::test]
    async fn http_sd_answers_500_not_an_empty_list_when_the_targets_cannot_be_rendered() {
        let state = Arc::new(SharedState::default());
        state.publish_unrenderable("key must be a string");
        for path in ["/prometheus-targets", "/targets"] {
            let (status, body, _) = get(app(state.clone(), Arc::default()), path).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}: {body}");
            assert!(body.contains("key must be a string"), "{body}");
        }
    }

    #[tokio::test]
    async fn http_sd_is_503_until_the_first_cycle_then_serves_groups() {
        let state = Arc::new(SharedState::default());
        let registry = Arc::new(Registry::default());
        assert_eq!(
            get(app(state.clone(), registry.clone()), "/prometheus-targets")
                .await
                .0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            get(app(state.clone(), registry.clone()), "/ready").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );

        let target = Target {
            origin: Origin::Ecs,
            interval: Some(Interval::S30),
            address: "10.0.0.1:80".into(),
            labels: LabelSet::from_pairs(vec![("job".into(), "app".into())]),
        };
        let skip = Skip {
            cluster: "c".into(),
            service: None,
            task_arn: "t".into(),
            container: "x".into(),
            convention: Convention::DockerLabel,
            reason: SkipReason::NoNetworkBinding,
        };
        state.publish(Arc::new(vec![Arc::new(target)]), Arc::new(vec![skip]));
        for path in ["/prometheus-targets", "/targets"] {
            let (status, body, content_type) =
                get(app(state.clone(), registry.clone()), path).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(content_type.as_deref(), Some("application/json"));
            let value: serde_json::Value = serde_json::from_str(&body).expect("json");
            assert_eq!(
                value,
                serde_json::json!([{"targets": ["10.0.0.1:80"], "labels": {"job": "app", "__scrape_interval__": "30s"}}])
            );
        }
        assert_eq!(
            get(app(state.clone(), registry.clone()), "/ready").await.0,
            StatusCode::OK
        );
        let (_, text, _) = get(app(state.clone(), registry.clone()), "/debug/skipped").await;
        assert!(
            text.contains("container=x") && text.contains("no_network_binding"),
            "{text}"
        );
        let (_, json, _) = get(app(state, registry), "/debug/skipped?format=json").await;
        assert!(
            json.contains("\"reason_code\":\"no_network_binding\""),
            "{json}"
        );
    }
}
