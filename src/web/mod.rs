//! Stage: **web** — the HTTP surface: the webhook receiver plus `/healthz`, `/readyz`, `/metrics`.
//!
//! Handlers here answer quickly and never run triage work.

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    response::IntoResponse,
    routing::{get, post},
};
use tower_http::trace::TraceLayer;

use crate::{ingest::Ingest, queue, store::Db, supervise::Health};

/// `POST|HEAD /webhooks/intercom`, the ops endpoints, and their state.
pub fn router(db: Db, health: Health, ingest: Ingest, max_body_bytes: usize) -> Router {
    let webhooks = Router::new()
        .route(
            "/webhooks/intercom",
            post(crate::ingest::receive).head(crate::ingest::head),
        )
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(ingest);
    let ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Ops { db, health });
    webhooks
        .merge(ops)
        .layer(TraceLayer::new_for_http().make_span_with(
            |req: &axum::http::Request<_>| tracing::debug_span!("http", method = %req.method(), path = %req.uri().path()),
        ))
}

/// 200 while the process runs.
async fn healthz() -> &'static str {
    "ok"
}

/// State of the ops endpoints.
#[derive(Debug, Clone)]
struct Ops {
    db: Db,
    health: Health,
}

/// 200 when the database and the queue answer and every background task runs, else 503 with the
/// reason.
async fn readyz(State(Ops { db, health }): State<Ops>) -> impl IntoResponse {
    if let Some(reason) = health.failure() {
        return (StatusCode::SERVICE_UNAVAILABLE, reason);
    }
    if let Err(error) = db.ping().await {
        tracing::warn!(%error, "readiness: database unreachable");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable".to_owned(),
        );
    }
    if let Err(error) = queue::depth(&db).await {
        tracing::warn!(%error, "readiness: queue unreachable");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "queue unreachable".to_owned(),
        );
    }
    (StatusCode::OK, "ready".to_owned())
}

/// Prometheus text format.
async fn metrics(State(Ops { db, .. }): State<Ops>) -> impl IntoResponse {
    if let Ok(depth) = queue::depth(&db).await {
        metrics::gauge!("triaged_queue_depth").set(depth as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::metrics().render(),
    )
}
