//! What makes the daemon reload its playbooks: a change in `TRIAGED_PLAYBOOKS` (a file-system
//! watcher, `notify`), `SIGHUP`, and, as a safety net for file systems that send no events, a
//! check every 30 s (`POLL_EVERY`; a no-op when nothing changed).
//!
//! Kubernetes ConfigMap volumes never edit a file in place: they write a new `..2026_…` directory
//! and atomically swap the `..data` symlink the files point through. The watcher listens to the
//! directory itself, so the swap (a rename inside it) is an event like any edit; a burst of events
//! is collapsed into one reload once the directory has been quiet for `SETTLE`.

use std::{sync::Arc, time::Duration};

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::live::LivePlaybooks;

/// How long the directory must be quiet before a burst of events turns into one reload.
const SETTLE: Duration = Duration::from_millis(150);
/// The safety-net check for file systems without change events (network volumes).
const POLL_EVERY: Duration = Duration::from_secs(30);

/// Watches `live`'s directory until `shutdown`, reloading on changes and on SIGHUP.
pub async fn run(live: Arc<LivePlaybooks>, shutdown: CancellationToken) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let _ = tx.send(event.is_ok());
    })
    .and_then(|mut w| {
        w.watch(live.dir(), RecursiveMode::NonRecursive)?;
        Ok(w)
    });
    // Keep the watcher alive for as long as this task runs.
    let _watcher = match watcher {
        Ok(w) => Some(w),
        Err(error) => {
            tracing::warn!(%error, dir = %live.dir().display(),
                "cannot watch the playbook directory; reloading on SIGHUP and every 30s only");
            None
        }
    };
    let mut hangup = hangup();
    let mut poll = tokio::time::interval(POLL_EVERY);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    poll.tick().await;
    loop {
        tokio::select! {
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
