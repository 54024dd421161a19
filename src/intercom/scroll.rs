//! The company scroll (`GET /companies/scroll`), as a `next_page().await` iterator.
//!
//! Intercom rules (API_FACTS §6): one open scroll per app; a `scroll_param` expires after one
//! minute unused; the end is an empty page; a network timeout on Intercom's side is a 500
//! "Please restart the scroll operation", after which only a restart from the beginning works.
//!
//! Behaviour: the scroll keeps its `scroll_param` between pages (the caller must ask for the next
//! page within a minute). On a 5xx, or an error on a page after the first (an expired param), it
//! restarts from the beginning, at most [`MAX_RESTARTS`] times, and never yields a company twice
//! (ids already yielded are remembered). An error on the first page — including Intercom's
//! "one scroll per app" refusal — is returned as is: the other scroll may belong to another
//! process and only frees itself after a minute, so waiting here would block a worker.
//! Within this process only one scroll may be open; a second one gets
//! [`IntercomError::RetryLater`] at once.

use std::{collections::HashSet, time::Duration};

use tokio::sync::OwnedMutexGuard;

use super::{
    IntercomClient, IntercomError,
    models::{Company, CompanyId, CompanyScrollPage},
    transport::Call,
};

/// Restarts allowed after a scroll broke; more means Intercom keeps failing, so give up.
pub const MAX_RESTARTS: u32 = 3;

/// How long an unused `scroll_param` lives: the wait suggested when a scroll is already open.
pub const SCROLL_EXPIRY: Duration = Duration::from_secs(60);

/// What to do after a scroll request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScrollStep {
    /// Start again from the first page (already-yielded companies will be skipped).
    Restart,
    /// Give the error to the caller.
    Fail,
}

/// The pure part of a scroll: the cursor, the ids already yielded, the restarts so far.
#[derive(Debug, Clone, Default)]
pub struct ScrollState {
    param: Option<String>,
    seen: HashSet<CompanyId>,
    restarts: u32,
    done: bool,
}

impl ScrollState {
    /// Whether the end was reached.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The `scroll_param` to send next (`None`: the first page).
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }

    /// Takes a page: remembers its cursor, returns the companies not yielded before. An empty
    /// page is the end.
    pub fn accept(&mut self, page: CompanyScrollPage) -> Vec<Company> {
        if page.data.is_empty() {
            self.done = true;
            self.param = None;
            return Vec::new();
        }
        self.param = page.scroll_param;
        if self.param.is_none() {
            // No cursor to continue with: this was the last page.
            self.done = true;
        }
        page.data
            .into_iter()
            .filter(|c| self.seen.insert(c.id.clone()))
            .collect()
    }

    /// Decides between restarting and failing after `error`.
    pub fn on_error(&mut self, error: &IntercomError) -> ScrollStep {
        let broken = match error {
            IntercomError::Server { .. } => true,
            // A refused cursor: it expired (unused for a minute) or the scroll was reset.
            IntercomError::NotFound { .. } | IntercomError::Invalid { .. } => self.param.is_some(),
            _ => false,
        };
        if !broken || self.restarts >= MAX_RESTARTS {
            return ScrollStep::Fail;
        }
        self.restarts += 1;
        self.param = None;
        ScrollStep::Restart
    }
}

/// An open company scroll; holds this process's scroll slot until dropped.
#[derive(Debug)]
pub struct CompanyScroll {
    client: IntercomClient,
    state: ScrollState,
    _slot: OwnedMutexGuard<()>,
}

impl IntercomClient {
    /// Opens a company scroll (no request is made until the first `next_page`).
    pub fn scroll_companies(&self) -> Result<CompanyScroll, IntercomError> {
        let slot = self
            .inner
            .scroll_lock
            .clone()
            .try_lock_owned()
            .map_err(|_| IntercomError::RetryLater {
                after: SCROLL_EXPIRY,
            })?;
        Ok(CompanyScroll {
            client: self.clone(),
            state: ScrollState::default(),
            _slot: slot,
        })
    }
}

impl CompanyScroll {
    /// The next companies not yielded before, or `None` at the end.
    #[tracing::instrument(skip_all)]
    pub async fn next_page(&mut self) -> Result<Option<Vec<Company>>, IntercomError> {
        loop {
            if self.state.is_done() {
                return Ok(None);
            }
            let mut call = Call::get("/companies/scroll".to_owned());
            if let Some(param) = self.state.param() {
                call = call.query("scroll_param", param);
            }
            // A broken scroll must restart, not repeat the same request.
            call.server_retries = false;
            match self.client.execute::<CompanyScrollPage>(call).await {
                Ok(page) => {
                    let fresh = self.state.accept(page);
                    if !fresh.is_empty() {
                        return Ok(Some(fresh));
                    }
                }
                Err(error) => match self.state.on_error(&error) {
                    ScrollStep::Restart => {
                        tracing::warn!(code = error.code(), "company scroll broke; restarting");
                    }
                    ScrollStep::Fail => return Err(error),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(ids: &[&str], param: Option<&str>) -> CompanyScrollPage {
        let data = ids
            .iter()
            .map(|id| {
                serde_json::from_value(serde_json::json!({"type": "company", "id": id}))
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        CompanyScrollPage {
            data,
            scroll_param: param.map(str::to_owned),
        }
    }

    fn ids(companies: &[Company]) -> Vec<&str> {
        companies.iter().map(|c| c.id.as_str()).collect()
    }

    fn server_500() -> IntercomError {
        IntercomError::Server {
            status: 500,
            message: Some("Request failed due to an internal network error. Please restart the scroll operation.".into()),
        }
    }

    #[test]
    fn a_scroll_restarted_after_a_500_yields_every_company_exactly_once() {
        let mut s = ScrollState::default();
        let mut yielded = Vec::new();
        yielded.extend(
            ids(&s.accept(page(&["a", "b"], Some("p1"))))
                .iter()
                .map(|s| s.to_string()),
        );
        assert_eq!(s.param(), Some("p1"));
        yielded.extend(
            ids(&s.accept(page(&["c"], Some("p2"))))
                .iter()
                .map(|s| s.to_string()),
        );
        assert_eq!(s.on_error(&server_500()), ScrollStep::Restart);
        assert_eq!(s.param(), None);
        // From the beginning again; the order changed and a new company appeared.
        yielded.extend(
            ids(&s.accept(page(&["b", "a"], Some("q1"))))
                .iter()
                .map(|s| s.to_string()),
        );
        yielded.extend(
            ids(&s.accept(page(&["c", "d"], Some("q2"))))
                .iter()
                .map(|s| s.to_string()),
        );
        assert!(s.accept(page(&[], Some("q3"))).is_empty());
        assert!(s.is_done());
        assert_eq!(yielded, ["a", "b", "c", "d"]);
    }

    #[test]
    fn an_expired_param_restarts_but_an_error_on_the_first_page_fails() {
        let not_found = IntercomError::NotFound {
            code: "not_found".into(),
            message: "scroll parameter not found".into(),
        };
        let mut s = ScrollState::default();
        assert_eq!(s.on_error(&not_found), ScrollStep::Fail);
        s.accept(page(&["a"], Some("p1")));
        assert_eq!(s.on_error(&not_found), ScrollStep::Restart);
        assert_eq!(
            s.on_error(&IntercomError::Unauthorized {
                code: "unauthorized".into()
            }),
            ScrollStep::Fail
        );
    }

    #[test]
    fn restarts_are_bounded() {
        let mut s = ScrollState::default();
        for _ in 0..MAX_RESTARTS {
            assert_eq!(s.on_error(&server_500()), ScrollStep::Restart);
        }
        assert_eq!(s.on_error(&server_500()), ScrollStep::Fail);
    }

    #[test]
    fn a_page_without_a_cursor_is_the_last() {
        let mut s = ScrollState::default();
        assert_eq!(s.accept(page(&["a"], None)).len(), 1);
        assert!(s.is_done());
    }
}
