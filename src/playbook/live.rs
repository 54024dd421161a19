//! The playbook set the daemon runs, replaced whole while it runs.
//!
//! [`LivePlaybooks::reload`] reads the directory again; only when **every** file is valid does the
//! new set replace the old one (one atomic swap of an `Arc`), otherwise the last good set stays and
//! the problems (file:line:col) are kept for the console and the logs. A run takes the current set
//! once ([`LivePlaybooks::current`]) and keeps it to the end, so runs in flight finish on the
//! version they started with. Each playbook's version is the SHA-256 of its file ([`version_of`]).
//!
//! What triggers a reload (a file watcher, SIGHUP) lives in [`super::watch`]; this module only
//! loads and swaps, and never talks to Intercom or a model.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::{Diagnostic, PlaybookSet, load_dir};

/// The content hash that names a playbook's version: 12 hex digits of the file's SHA-256.
pub fn version_of(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))[..12].to_owned()
}

/// What the last reload did, for the console and tests.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    /// Successful reloads that changed the set (or cleared errors) since start.
    pub applied: u64,
    /// Reloads refused because a file was invalid.
    pub refused: u64,
    /// When the running set was loaded (RFC 3339, UTC).
    pub loaded_at: String,
    /// When the last reload was attempted, if any.
    pub last_attempt_at: Option<String>,
    /// The problems of the last refused reload; empty once a reload succeeds.
    pub errors: Vec<Diagnostic>,
}

/// What one reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// The set changed (names of playbooks added, changed or removed).
    Applied { changed: Vec<String> },
    /// Every file is valid and nothing changed.
    Unchanged,
    /// A file is invalid: the last good set stays.
    Refused { errors: usize },
}

/// The running playbook set and its reload history.
#[derive(Debug)]
pub struct LivePlaybooks {
    dir: PathBuf,
    set: watch::Sender<Arc<PlaybookSet>>,
    status: watch::Sender<ReloadStatus>,
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

impl LivePlaybooks {
    /// Starts with `set`, loaded from `dir`.
    pub fn new(dir: &Path, set: PlaybookSet) -> Self {
        Self {
            dir: dir.to_path_buf(),
            set: watch::Sender::new(Arc::new(set)),
            status: watch::Sender::new(ReloadStatus {
                loaded_at: now(),
                ..ReloadStatus::default()
            }),
        }
    }

    /// The directory the set is loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The set a new run uses; keep the `Arc` for the whole run.
    pub fn current(&self) -> Arc<PlaybookSet> {
        self.set.borrow().clone()
    }

    /// The reload history so far.
    pub fn status(&self) -> ReloadStatus {
        self.status.borrow().clone()
    }

    /// Changes of [`Self::status`] (tests and the console wait on this instead of sleeping).
    pub fn watch_status(&self) -> watch::Receiver<ReloadStatus> {
        self.status.subscribe()
    }

    /// Reads the directory again and swaps the set in if every file is valid (see the module doc).
    pub fn reload(&self) -> Reloaded {
        let attempt = now();
        match load_dir(&self.dir) {
            Err(errors) => {
                for d in &errors {
                    tracing::error!(problem = %d, "playbook reload refused: the last good set stays");
                }
                metrics::counter!("triaged_playbook_reloads_total", "result" => "error")
                    .increment(1);
                let count = errors.len();
                self.status.send_modify(|s| {
                    s.refused += 1;
                    s.last_attempt_at = Some(attempt);
                    s.errors = errors;
                });
                Reloaded::Refused { errors: count }
            }
            Ok(set) => {
                let changed = changes(&self.current(), &set);
                let had_errors = !self.status.borrow().errors.is_empty();
                if changed.is_empty() && !had_errors {
                    self.status
                        .send_modify(|s| s.last_attempt_at = Some(attempt));
                    return Reloaded::Unchanged;
                }
                let names: Vec<&str> = set.iter().map(|p| p.name.as_str()).collect();
                tracing::info!(
                    count = names.len(),
                    playbooks = %names.join(", "),
                    changed = %changed.join(", "),
                    "playbooks reloaded"
                );
                for warning in set.warnings() {
                    tracing::warn!(problem = %warning, "playbook warning");
                }
                if !changed.is_empty() {
                    self.set.send_replace(Arc::new(set));
                }
                metrics::counter!("triaged_playbook_reloads_total", "result" => "ok").increment(1);
                self.status.send_modify(|s| {
                    s.applied += 1;
                    s.loaded_at = attempt.clone();
                    s.last_attempt_at = Some(attempt);
                    s.errors.clear();
                });
                Reloaded::Applied { changed }
            }
        }
    }
}

/// Names of playbooks added, removed or whose version differs.
fn changes(old: &PlaybookSet, new: &PlaybookSet) -> Vec<String> {
    let mut changed: Vec<String> = new
        .iter()
        .filter(|p| old.get(&p.name).is_none_or(|o| o.version != p.version))
        .map(|p| p.name.clone())
        .collect();
    changed.extend(
        old.iter()
            .filter(|p| new.get(&p.name).is_none())
            .map(|p| p.name.clone()),
    );
    changed.sort();
    changed
}
