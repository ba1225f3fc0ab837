//! `/healthz`, `/readyz` and `/metrics` on plain HTTP/1.1.
//!
//! - `/healthz`: 200 while the process runs its loop.
//! - `/readyz`: 200 once the schema is migrated and the consumer subscribed, while ClickHouse
//!   takes inserts; 503 with the reason otherwise (starting, ClickHouse down: consumption is
//!   paused, shutting down).
//! - `/metrics`: Prometheus text exposition ([`super::metrics`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::Shared;

/// A flush waiting longer than this for ClickHouse makes the service not ready.
pub const STALLED: Duration = Duration::from_secs(5);

/// The router of the three endpoints.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let unavailable = |why: &str| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
    };
    if *shared.stopping.borrow() {
        return unavailable("shutting down").into_response();
    }
    if !*shared.ready.borrow() {
        return unavailable("starting (migrating the schema, joining the group)").into_response();
    }
    let waited = shared.store_wait();
    if waited > STALLED {
        return unavailable(&format!(
            "ClickHouse has not taken the current flush for {} s; consumption is paused",
            waited.as_secs()
        ))
        .into_response();
    }
    (
        StatusCode::OK,
        format!("ready: {} partitions\n", shared.metrics.partitions.get()),
    )
        .into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    shared
        .metrics
        .store_wait_seconds
        .set(shared.store_wait().as_secs_f64());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.encode(),
    )
        .into_response()
}
