//! Issue 13: operations (supervision, retention), live playbook reload, LLM cost, and the console.

mod cost;
mod operations;
mod reload;
