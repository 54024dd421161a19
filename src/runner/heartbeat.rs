//! The lease heartbeat of a run.

use std::time::Duration;

use crate::store::{Db, leases};

/// Renews a run's lease every third of its ttl until dropped. Dropping it stops the renewals
/// between two of them, never in the middle of one (an aborted database call can leave its
/// transaction open and the database locked).
pub(super) struct Heartbeat(tokio_util::sync::CancellationToken);

impl Heartbeat {
    pub(super) fn start(db: Db, lease: leases::Lease, ttl: Duration) -> Self {
        let stop = tokio_util::sync::CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(ttl / 3);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    () = stopped.cancelled() => return,
                    _ = tick.tick() => {}
                }
                match leases::renew(&db, &lease, ttl).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(
                            conversation_id = lease.conversation_id,
                            "the run lost its conversation lease; its writes are fenced"
                        );
                        return;
                    }
                    // The fence still holds: a lease nobody took over is renewed next time.
                    Err(error) => tracing::warn!(%error, "could not renew the conversation lease"),
                }
            }
        });
        Self(stop)
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.cancel();
    }
}
