//! `/healthz`, `/readyz` and `/metrics` on plain HTTP/1.1.
//!
//! - `/healthz`: 200 while the process serves requests.
//! - `/readyz`: 200 when Kafka's metadata can be read and the events topic is there with
//!   partitions; 503 with the reason otherwise, and from the moment shutdown begins.
//! - `/metrics`: Prometheus text exposition ([`crate::metrics`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::service::Shared;

/// How long `/readyz` waits for Kafka metadata.
pub const READY_TIMEOUT: Duration = Duration::from_secs(3);

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
    if *shared.shutdown.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    let sink = shared.sink.clone();
    let status =
        tokio::task::spawn_blocking(move || sink.topic_status_blocking(READY_TIMEOUT)).await;
    match status {
        Ok(Ok(s)) => (
            StatusCode::OK,
            format!(
                "ready: topic {} has {} partitions\n",
                shared.sink.topic(),
                s.partitions
            ),
        )
            .into_response(),
        Ok(Err(e)) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "not ready: check failed\n").into_response(),
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let m = &shared.metrics;
    m.in_flight.set(shared.in_flight.current() as i64);
    m.in_flight_limit.set(shared.in_flight.limit() as i64);
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(now_us),
    )
        .into_response()
}
