//! The workspace lists a run resolves names against (teams, admins, tags, ticket types).
//!
//! They come from the client's shared [`directory_cache`](crate::intercom::directory_cache) and
//! are kept for the rest of the run once read, so one run sees one consistent list. A name the
//! model gives that is not in a list makes the run fetch that list afresh, once per list and run,
//! before the name is refused: a tag or team a teammate created a moment ago is found.

use std::{collections::HashSet, time::Instant};

use super::{Stop, Toolbox};
use crate::{
    intercom::directory_cache::{DirectoryList, Entries},
    tools::{guard, timeline::Directory},
};

/// The lists this run has read, and those it already refreshed after a miss.
#[derive(Debug, Default)]
pub(super) struct Lists {
    teams: Option<Entries>,
    admins: Option<Entries>,
    tags: Option<Entries>,
    ticket_types: Option<Entries>,
    refreshed: HashSet<DirectoryList>,
}

impl Lists {
    fn get(&mut self, list: DirectoryList) -> &mut Option<Entries> {
        match list {
            DirectoryList::Teams => &mut self.teams,
            DirectoryList::Admins => &mut self.admins,
            DirectoryList::Tags => &mut self.tags,
            DirectoryList::TicketTypes => &mut self.ticket_types,
        }
    }
}

impl Toolbox {
    /// Admin and team names (from the shared cache); empty names when Intercom cannot be reached.
    pub async fn directory(&mut self) -> Directory {
        self.directory_inner().await.unwrap_or_default()
    }

    /// Admin and team names for timelines.
    pub(super) async fn directory_inner(&mut self) -> Result<Directory, Stop> {
        Ok(Directory {
            admins: self
                .list(DirectoryList::Admins)
                .await?
                .iter()
                .cloned()
                .collect(),
            teams: self
                .list(DirectoryList::Teams)
                .await?
                .iter()
                .cloned()
                .collect(),
        })
    }

    /// The run's copy of `list` (read from the shared cache on first use).
    pub(super) async fn list(&mut self, list: DirectoryList) -> Result<Entries, Stop> {
        if let Some(entries) = self.lists.get(list) {
            return Ok(entries.clone());
        }
        let entries = self.client.directory_list(list, None).await?;
        *self.lists.get(list) = Some(entries.clone());
        Ok(entries)
    }

    /// The id of `given` (an id or a name) in `list`. On a miss the list is fetched afresh (once
    /// per list and run) before the name is refused with the valid choices.
    pub(super) async fn resolve(
        &mut self,
        list: DirectoryList,
        kind: &'static str,
        label: &'static str,
        given: &str,
    ) -> Result<String, Stop> {
        let entries = self.list(list).await?;
        let refusal = match guard::resolve(kind, label, given, &entries) {
            Ok(id) => return Ok(id.to_owned()),
            Err(refusal) => refusal,
        };
        if !self.lists.refreshed.insert(list) {
            return Err(refusal.into());
        }
        let missed = Instant::now();
        let fresh = self.client.directory_list(list, Some(missed)).await?;
        *self.lists.get(list) = Some(fresh.clone());
        Ok(guard::resolve(kind, label, given, &fresh)?.to_owned())
    }

    /// The tag list changed (triaged created a tag): every run reads it afresh.
    pub(super) async fn tags_changed(&mut self) {
        self.client.invalidate_directory(DirectoryList::Tags).await;
        self.lists.tags = None;
    }

    /// A team's name from the run's copy of the list, else its id.
    pub(super) fn name_of_team(&self, id: &str) -> String {
        self.name_in(DirectoryList::Teams, id)
            .unwrap_or_else(|| id.to_owned())
    }

    /// The name of `id` in the run's copy of `list`, if the run has read it.
    pub(super) fn name_in(&self, list: DirectoryList, id: &str) -> Option<String> {
        let entries = match list {
            DirectoryList::Teams => &self.lists.teams,
            DirectoryList::Admins => &self.lists.admins,
            DirectoryList::Tags => &self.lists.tags,
            DirectoryList::TicketTypes => &self.lists.ticket_types,
        };
        entries
            .as_deref()
            .and_then(|t| t.iter().find(|(tid, _)| tid == id))
            .map(|(_, n)| n.clone())
    }
}
