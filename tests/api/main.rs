//! The integration suite: one binary, the real app on 127.0.0.1:0 with a fresh SQLite file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod bench;
mod coalescing;
mod console;
mod contract;
mod conversation_model;
mod conversation_rules;
mod crash;
mod crash_loop;
mod daemon;
mod drafts;
mod edges;
mod efficiency;
mod faults;
mod fencing;
mod helpers;
mod hold_proxy;
mod intercom_client;
mod lifecycle;
mod llm;
mod llm_stub;
mod mcp;
mod playbook;
mod playbook_test;
mod postgres;
mod properties;
mod real_model;
mod replies;
mod retry_budget;
mod run_usage;
mod sandbox;
mod scenarios;
mod security;
mod tools;
mod webhooks;
