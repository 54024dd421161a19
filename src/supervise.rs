//! Wiring: supervision of the daemon's background tasks (worker, ingest writer, janitor, playbook
//! watcher).
//!
//! Each task runs inside a supervised spawn: if it ends, panics or is aborted while the daemon is
//! not shutting down, [`Health`] records which task died and why. `/readyz` then answers 503 with
//! that reason and [`crate::app::App::run_until`] returns an error, so `triaged serve` exits
//! non-zero and Kubernetes restarts the pod. This module never restarts a task itself: a task that
//! died once left state nobody can vouch for; a fresh process is the honest recovery.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::{
    sync::watch,
    task::{AbortHandle, JoinHandle},
};
use tokio_util::sync::CancellationToken;

/// Whether every supervised task is alive; cheap to clone.
#[derive(Debug, Clone)]
pub struct Health {
    failure: Arc<watch::Sender<Option<String>>>,
    tasks: Arc<Mutex<BTreeMap<&'static str, AbortHandle>>>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            failure: Arc::new(watch::Sender::new(None)),
            tasks: Arc::default(),
        }
    }
}

impl Health {
    /// Why the daemon is unhealthy (`"worker task stopped"`), or `None` while every task runs.
    pub fn failure(&self) -> Option<String> {
        self.failure.borrow().clone()
    }

    /// Resolves with the reason once a supervised task has died.
    pub async fn failed(&self) -> String {
        let mut rx = self.failure.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            // The sender lives as long as `self`: unreachable, but never resolve by mistake.
            Err(_) => std::future::pending().await,
        }
    }

    fn fail(&self, reason: String) {
        tracing::error!(%reason, "a background task died: the daemon is no longer ready");
        metrics::counter!("triaged_task_failures_total").increment(1);
        self.failure.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// Spawns `task` named `name`. When it ends for any reason before `shutdown` fires, the daemon
    /// becomes unhealthy. The returned handle yields the task's output (`None` if it panicked or
    /// was aborted).
    pub fn spawn<T: Send + 'static>(
        &self,
        name: &'static str,
        shutdown: &CancellationToken,
        task: impl Future<Output = T> + Send + 'static,
    ) -> JoinHandle<Option<T>> {
        self.adopt(name, shutdown, tokio::spawn(task))
    }

    /// [`Self::spawn`] for a task already spawned (its handle is what gets aborted by a kill).
    pub fn adopt<T: Send + 'static>(
        &self,
        name: &'static str,
        shutdown: &CancellationToken,
        inner: JoinHandle<T>,
    ) -> JoinHandle<Option<T>> {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, inner.abort_handle());
        let health = self.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let result = inner.await;
            if !shutdown.is_cancelled() {
                health.fail(match &result {
                    Ok(_) => format!("{name} task stopped"),
                    Err(e) if e.is_panic() => format!("{name} task panicked"),
                    Err(_) => format!("{name} task was aborted"),
                });
            }
            result.ok()
        })
    }

    /// Test hook: aborts the supervised task `name` as if it had crashed. Returns whether such a
    /// task exists. Compiled only with the `test-hooks` feature (the integration tests enable it).
    #[cfg(feature = "test-hooks")]
    pub fn kill(&self, name: &str) -> bool {
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        match tasks.get(name) {
            Some(handle) => {
                handle.abort();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_that_ends_before_shutdown_makes_the_daemon_unhealthy() {
        let health = Health::default();
        let shutdown = CancellationToken::new();
        let quiet = health.spawn("quiet", &shutdown, async {});
        assert_eq!(quiet.await.ok().flatten(), Some(()));
        assert_eq!(health.failed().await, "quiet task stopped");
    }

    #[tokio::test]
    async fn a_task_that_ends_on_shutdown_is_fine() {
        let health = Health::default();
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let task = health.spawn("janitor", &shutdown, async move { stop.cancelled().await });
        shutdown.cancel();
        let _ = task.await;
        assert_eq!(health.failure(), None);
    }
}
