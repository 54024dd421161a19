//! triaged — a self-hosted, event-driven autonomous triage daemon for Intercom.
//!
//! # Layout
//! Data flows one way through these stages; a lower stage never imports a higher one.
//!
//! | module | stage |
//! |---|---|
//! | [`ingest`] | `POST /webhooks/intercom`: verify the signature, store the event and enqueue its job in one transaction, answer 200 |
//! | [`queue`] | durable jobs (apalis on SQLite): the job type, enqueueing, the worker, reconciliation and pruning |
//! | [`playbook`] | the YAML playbooks: format, checks, JSON Schema, pure trigger matching and templates |
//! | [`runner`] | what a job does: open a run, do the work, record the end (retries and failures included) |
//! | [`intercom`] | the typed Intercom REST client: operations, models, errors, the shared rate limiter, company scroll, start-up check |
//! | [`llm`] | chat completions against any OpenAI-compatible API |
//! | [`store`] | the database (SQLite, or PostgreSQL for several replicas): events, runs, access tokens, migrations |
//! | [`mcp`] | the tools for MCP clients over Streamable HTTP, and the access tokens that let them in |
//! | [`web`] | the HTTP surface: webhook routes and `/healthz`, `/readyz`, `/metrics` |
//! | [`config`] | every setting, read in one place |
//! | [`telemetry`] | logs and metrics |
//! | [`app`] | wiring: start every stage, stop them in order |
//! | [`supervise`] | wiring: background tasks watched; a dead one makes `/readyz` 503 and the process exit non-zero |
//! | [`cli`] | the `triaged` command line |
//! | [`ids`] | typed Intercom ids |
//! | [`mod@bench`] | `triaged bench webhooks`, a load generator (never part of the daemon) |
//! | [`sandbox`] | an Intercom simulator (REST 2.16 shapes, rate limits, faults, signed webhooks, control API) for rehearsals and tests |

pub mod agent;
pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod ids;
pub mod ingest;
pub mod intercom;
pub mod llm;
pub mod mcp;
pub mod playbook;
pub mod queue;
pub mod runner;
pub mod sandbox;
pub mod store;
pub mod supervise;
pub mod telemetry;
pub mod tools;
pub mod transcript;
pub mod triage;
pub mod web;

/// Installs ring as the process's rustls crypto provider (the only one compiled in). Call before
/// building any HTTP client; calling it again is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
