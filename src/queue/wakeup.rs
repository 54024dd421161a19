//! The in-process wake-up: ingest signals once it has committed new jobs, and an idle worker
//! claims them at once instead of on its next poll. The poll interval stays, for the jobs no
//! signal announces (delayed ones coming due, retries, another process's).
//!
//! Signals coalesce: any number of them while the worker is busy make one wake-up.

use std::{pin::Pin, sync::Arc};

use futures::Stream;
use tokio::sync::Notify;

/// Ingest's side: tells the worker there is new work.
#[derive(Debug, Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// Wakes the worker (or the next time it waits, if it is busy).
    pub fn wake(&self) {
        self.0.notify_one();
    }

    /// The worker's side: one item per wake-up.
    pub fn wakeups(&self) -> Pin<Box<dyn Stream<Item = ()> + Send + Sync>> {
        let notify = Arc::clone(&self.0);
        Box::pin(futures::stream::unfold(notify, |notify| async move {
            notify.notified().await;
            Some(((), notify))
        }))
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    #[tokio::test]
    async fn signals_while_nobody_waits_make_one_wake_up() {
        let wake = Wake::default();
        let mut wakeups = wake.wakeups();
        wake.wake();
        wake.wake();
        wake.wake();
        assert_eq!(wakeups.next().await, Some(()));
        let again = tokio::time::timeout(std::time::Duration::from_millis(20), wakeups.next());
        assert!(again.await.is_err(), "three signals coalesced into one");
        wake.wake();
        assert_eq!(wakeups.next().await, Some(()));
    }
}
