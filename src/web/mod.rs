//! Stage: **web** — the HTTP surface: the webhook receiver plus `/healthz`, `/readyz`, `/metrics`,
//! and the console at `/ui` ([`ui`]).
//!
//! Handlers here answer quickly and never run triage work.

pub mod serve;
pub mod ui;

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    response::IntoResponse,
    routing::{get, post},
};
use tower_http::trace::TraceLayer;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use crate::{ingest::Ingest, queue, store::Db, supervise::Health};

/// Whether this process wants new traffic. Shutdown flips it to draining first, so `/readyz`
/// answers 503 (a load balancer stops routing here) while the receiver still stores every webhook
/// that reaches it until the runs in flight have finished.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    draining: Arc<AtomicBool>,
}

impl Readiness {
    /// From now on `/readyz` answers 503 `draining`.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether [`Self::set_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

/// The state of the ops endpoints.
#[derive(Debug, Clone)]
struct Ops {
    db: Db,
    readiness: Readiness,
    health: Health,
}

/// `POST|HEAD /webhooks/intercom`, the ops endpoints, and their state.
///
/// With `metrics_here` false, `/metrics` is left to [`metrics_router`] on its own address
/// (`TRIAGED_METRICS_LISTEN`), so the public port does not show it.
pub fn router(
    db: Db,
    ingest: Ingest,
    max_body_bytes: usize,
    readiness: Readiness,
    health: Health,
    metrics_here: bool,
) -> Router {
    let webhooks = Router::new()
        .route(
            "/webhooks/intercom",
            post(crate::ingest::receive).head(crate::ingest::head),
        )
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(ingest);
    let mut ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if metrics_here {
        ops = ops.route("/metrics", get(metrics));
    }
    let ops = ops.with_state(Ops {
        db,
        readiness,
        health,
    });
    webhooks
        .merge(ops)
        .layer(TraceLayer::new_for_http().make_span_with(
            |req: &axum::http::Request<_>| tracing::debug_span!("http", method = %req.method(), path = %req.uri().path()),
        ))
}

/// `/metrics` alone, for a separate, private address (`TRIAGED_METRICS_LISTEN`).
pub fn metrics_router(db: Db, readiness: Readiness, health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(Ops {
            db,
            readiness,
            health,
        })
}

/// 200 while the process runs.
async fn healthz() -> &'static str {
    "ok"
}

/// 200 when the database and the queue answer and every background task runs, else 503 with the
/// reason (`draining` once shutdown has begun, `worker task stopped` when a task died).
async fn readyz(
    State(Ops {
        db,
        readiness,
        health,
    }): State<Ops>,
) -> impl IntoResponse {
    if readiness.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining".to_owned());
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
    if let Some(reason) = health.failure() {
        return (StatusCode::SERVICE_UNAVAILABLE, reason);
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
