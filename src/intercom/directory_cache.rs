//! The workspace directory cache: the id/name lists of admins, teams, tags and ticket types, shared
//! by every clone of one [`IntercomClient`] (every run, every MCP call of the process).
//!
//! These lists change rarely, yet each run used to fetch the ones it needed (three or four calls
//! of a ten-call run). An entry is reused for the TTL (`TRIAGED_DIRECTORY_TTL`, default
//! [`DEFAULT_DIRECTORY_TTL`]); a caller that misses a name asks for a list fetched no earlier than
//! the miss ([`IntercomClient::directory_list`] with `not_before`), so a tag or team created a
//! moment ago in Intercom is found after one refresh instead of being refused. triaged invalidates
//! the tag list itself when it creates a tag.
//!
//! Only directories live here: conversations and contacts are never cached across runs (a run's
//! own snapshot is the run's business).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::Mutex;

use super::{IntercomClient, IntercomError};

/// How long a directory list is reused before it is fetched again: a teammate's new team or tag
/// is seen within this long even when no run misses it (a miss refreshes at once).
pub const DEFAULT_DIRECTORY_TTL: Duration = Duration::from_secs(5 * 60);

/// One of the workspace's directory lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirectoryList {
    Admins,
    Teams,
    Tags,
    /// Archived ticket types are left out.
    TicketTypes,
}

impl DirectoryList {
    fn slot(self) -> usize {
        match self {
            Self::Admins => 0,
            Self::Teams => 1,
            Self::Tags => 2,
            Self::TicketTypes => 3,
        }
    }
}

/// `(id, name)` pairs of one list, in Intercom's order.
pub type Entries = Arc<[(String, String)]>;

/// The cached lists; one lock per list, held while it is fetched so that concurrent misses make
/// one request.
#[derive(Debug)]
pub(super) struct DirectoryCache {
    ttl: Duration,
    slots: [Mutex<Option<Slot>>; 4],
}

#[derive(Debug)]
struct Slot {
    entries: Entries,
    fetched: Instant,
}

impl DirectoryCache {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slots: Default::default(),
        }
    }
}

impl IntercomClient {
    /// The `list`, from the cache when its copy is younger than the TTL and was fetched no
    /// earlier than `not_before` (a caller that just missed a name passes the moment of the miss);
    /// else fetched and cached.
    pub async fn directory_list(
        &self,
        list: DirectoryList,
        not_before: Option<Instant>,
    ) -> Result<Entries, IntercomError> {
        let cache = &self.inner.directory;
        let mut slot = cache.slots[list.slot()].lock().await;
        if let Some(s) = slot.as_ref()
            && s.fetched.elapsed() < cache.ttl
            && not_before.is_none_or(|t| s.fetched >= t)
        {
            return Ok(s.entries.clone());
        }
        let fetched = Instant::now();
        let entries = self.fetch_list(list).await?;
        *slot = Some(Slot {
            entries: entries.clone(),
            fetched,
        });
        Ok(entries)
    }

    /// Forgets the cached `list` (triaged changed it, e.g. created a tag).
    pub async fn invalidate_directory(&self, list: DirectoryList) {
        *self.inner.directory.slots[list.slot()].lock().await = None;
    }

    async fn fetch_list(&self, list: DirectoryList) -> Result<Entries, IntercomError> {
        Ok(match list {
            DirectoryList::Admins => self
                .list_admins()
                .await?
                .admins
                .into_iter()
                .map(|a| (a.id.to_string(), a.name.unwrap_or_default()))
                .collect(),
            DirectoryList::Teams => self
                .list_teams()
                .await?
                .teams
                .into_iter()
                .map(|t| (t.id.to_string(), t.name.unwrap_or_default()))
                .collect(),
            DirectoryList::Tags => self
                .list_tags()
                .await?
                .tags
                .into_iter()
                .map(|t| (t.id.to_string(), t.name.unwrap_or_default()))
                .collect(),
            DirectoryList::TicketTypes => self
                .list_ticket_types()
                .await?
                .data
                .into_iter()
                .filter(|t| t.archived != Some(true))
                .map(|t| (t.id.to_string(), t.name.unwrap_or_default()))
                .collect(),
        })
    }
}
