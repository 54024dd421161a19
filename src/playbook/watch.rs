//! What makes the daemon reload its playbooks: a change in `TRIAGED_PLAYBOOKS` (a file-system
//! watcher, `notify`), `SIGHUP`, and, as a safety net for file systems that send no events, a
//! check every 30 s (`POLL_EVERY`; a no-op when nothing changed).
//!
//! Kubernetes ConfigMap volumes never edit a file in place: they write a new `..2026_…` directory
//! and atomically swap the `..data` symlink the files point through. The watcher listens to the
//! directory itself, so the swap (a rename inside it) is an event like any edit; a burst of events
//! is collapsed into one reload once the directory has been quiet for `SETTLE`. Only changes
//! count: the watcher also reports files being opened and closed, and a reload reads every file,
//! so an access that wrote nothing is no reason to reload (it would reload forever).

use std::{sync::Arc, time::Duration};

use notify::{
    EventKind, RecursiveMode, Watcher,
    event::{AccessKind, AccessMode},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::live::LivePlaybooks;

/// How long the directory must be quiet before a burst of events turns into one reload.
const SETTLE: Duration = Duration::from_millis(150);
/// The safety-net check for file systems without change events (network volumes).
const POLL_EVERY: Duration = Duration::from_secs(30);

/// Watches `live`'s directory until `shutdown`, reloading on changes and on SIGHUP. The watch
/// and the signal handler are in place when this returns (before the future first runs), so a
/// change made right after the daemon started is seen at once, not by the 30 s check.
pub fn run(
    live: Arc<LivePlaybooks>,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.as_ref().is_ok_and(|e| !is_change(&e.kind)) {
            return;
        }
        let _ = tx.send(event.is_ok());
    })
    .and_then(|mut w| {
        w.watch(live.dir(), RecursiveMode::NonRecursive)?;
        Ok(w)
    });
    let watcher = match watcher {
        Ok(w) => Some(w),
        Err(error) => {
            tracing::warn!(%error, dir = %live.dir().display(),
                "cannot watch the playbook directory; reloading on SIGHUP and every 30s only");
            None
        }
    };
    let mut hangup = hangup();
    async move {
        // Keep the watcher alive for as long as this task runs.
        let _watcher = watcher;
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.tick().await;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                Some(_) = rx.recv() => {
                    // Let the burst (a ConfigMap swap is several events) finish first.
                    while let Ok(Some(_)) = tokio::time::timeout(SETTLE, rx.recv()).await {}
                    reload(&live, "the playbook directory changed");
                }
                Some(()) = recv(&mut hangup) => reload(&live, "SIGHUP"),
                _ = poll.tick() => reload(&live, "periodic check"),
            }
        }
    }
}

/// Whether an event may have changed what the directory holds: anything but an access that
/// wrote nothing (an error, which says nothing, counts: one reload too many is harmless).
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

fn reload(live: &LivePlaybooks, why: &'static str) {
    let done = live.reload();
    tracing::debug!(why, ?done, "playbook reload");
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

#[cfg(unix)]
fn hangup() -> Hangup {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

#[cfg(not(unix))]
fn hangup() -> Hangup {
    None
}

#[cfg(unix)]
async fn recv(signal: &mut Hangup) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn recv(_: &mut Hangup) -> Option<()> {
    std::future::pending().await
}
