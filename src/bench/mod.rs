//! `triaged bench …`: load generators and benchmarks. Never part of the daemon.
//!
//! - [`webhooks`]: `bench webhooks`, the webhook receiver of a running daemon under load.
//! - [`pipeline`]: `bench pipeline`, the whole path (webhook → queue → playbook → model → Intercom)
//!   on an in-process daemon with the embedded sandbox and a zero-latency model stand-in
//!   ([`model`]).

pub mod model;
pub mod pipeline;
pub mod webhooks;

pub use webhooks::{BenchArgs, run};
