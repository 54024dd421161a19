//! Per-run count of Intercom requests by route (`GET /conversations/{id}`), for `runs show`.
//!
//! The runner wraps a run in [`Tally::scope`]; every request the client sends inside it (on the
//! same task) is counted here by the transport, retries included, since each one spends budget.
//! Outside a scope nothing is counted.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{Arc, Mutex},
};

tokio::task_local! {
    static CURRENT: Tally;
}

/// The requests one run sent, by route. Cheap to clone; clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct Tally(Arc<Mutex<BTreeMap<String, u32>>>);

impl Tally {
    /// Runs `work` with this tally counting its Intercom requests.
    pub async fn scope<F: Future>(&self, work: F) -> F::Output {
        CURRENT.scope(self.clone(), work).await
    }

    /// The counts so far, by route.
    pub fn counts(&self) -> BTreeMap<String, u32> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Counts one request in the current scope, if any.
    pub(super) fn count(method: &reqwest::Method, path: &str) {
        let _ = CURRENT.try_with(|tally| {
            if let Ok(mut counts) = tally.0.lock() {
                *counts.entry(route(method, path)).or_default() += 1;
            }
        });
    }
}

/// `GET /conversations/123?x=1` → `GET /conversations/{id}`: a path segment holding a digit is an id.
fn route(method: &reqwest::Method, path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path
        .split('/')
        .map(|s| {
            if s.chars().any(|c| c.is_ascii_digit()) {
                "{id}"
            } else {
                s
            }
        })
        .collect();
    format!("{method} {}", segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_queries_are_folded_into_the_route() {
        assert_eq!(
            route(
                &reqwest::Method::GET,
                "/conversations/215?display_as=plaintext"
            ),
            "GET /conversations/{id}"
        );
        assert_eq!(
            route(&reqwest::Method::POST, "/conversations/215/parts"),
            "POST /conversations/{id}/parts"
        );
        assert_eq!(route(&reqwest::Method::GET, "/tags"), "GET /tags");
        assert_eq!(
            route(&reqwest::Method::GET, "/contacts/6571a0b2e4b0c1d2e3f40001"),
            "GET /contacts/{id}"
        );
    }

    #[tokio::test]
    async fn requests_count_only_inside_their_own_scope() {
        Tally::count(&reqwest::Method::GET, "/tags");
        let tally = Tally::default();
        let other = Tally::default();
        tally
            .scope(async {
                Tally::count(&reqwest::Method::GET, "/conversations/1");
                Tally::count(&reqwest::Method::GET, "/conversations/2");
                Tally::count(&reqwest::Method::POST, "/conversations/2/reply");
            })
            .await;
        other
            .scope(async { Tally::count(&reqwest::Method::GET, "/tags") })
            .await;
        let counts = tally.counts();
        assert_eq!(counts.get("GET /conversations/{id}"), Some(&2));
        assert_eq!(counts.get("POST /conversations/{id}/reply"), Some(&1));
        assert_eq!(counts.len(), 2, "{counts:?}");
        assert_eq!(other.counts().len(), 1);
    }
}
