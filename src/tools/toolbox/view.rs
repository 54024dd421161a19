//! The run's own conversation and contact, read from Intercom at most once per run.
//!
//! Triage hands the toolbox the conversation it fetched for the run (the *snapshot*). The model's
//! `get_conversation` on that conversation is answered from it while it is still true: the run has
//! not written to the conversation (its own tag writes are applied to it instead, since Intercom's
//! tag response carries no conversation) and no newer event for it has arrived. Otherwise it is
//! read afresh, and the fresh copy becomes the snapshot. The answer is the whole timeline either
//! way: a short "see your prompt" line instead made small models ask again and again.
//! Outside a run (the CLI, MCP) there is no copy: the conversation and its contact are read.
//!
//! The contact is fetched only when something needs it — a condition (triage fetches it then), a
//! template that names it, or the model's `get_contact` — and once: every later use takes the copy.
//! Never shared across runs.

use super::{Stop, Toolbox};
use crate::{
    ids::{ContactId, ConversationId},
    intercom::{
        IntercomError,
        models::{Contact, Conversation, PartType, Tag, TagId},
    },
    tools::{html, timeline},
};

/// What the run knows of its conversation and contact.
#[derive(Debug, Default)]
pub(super) struct View {
    /// The run's copy of its conversation.
    conversation: Option<Conversation>,
    /// The newest event (id) of the conversation the copy already reflects.
    newest_event: i64,
    /// The run wrote to the conversation after the copy was read.
    stale: bool,
    /// `Some` once the contact was fetched (`Some(None)`: it could not be).
    contact: Option<Option<Contact>>,
}

impl View {
    /// The run wrote to its conversation: the next read goes to Intercom.
    pub(super) fn wrote(&mut self) {
        self.stale = true;
    }

    /// The run added or removed a tag: the copy says so too.
    pub(super) fn tagged(&mut self, id: &str, name: &str, adding: bool) {
        let Some(conversation) = self.conversation.as_mut() else {
            return;
        };
        let tags = &mut conversation.tags.tags;
        tags.retain(|t| t.id.as_str() != id);
        if adding {
            tags.push(Tag {
                id: TagId::from(id),
                name: Some(name.to_owned()),
                applied_at: Some(jiff::Timestamp::now().as_second()),
                applied_by: None,
            });
        }
    }
}

impl Toolbox {
    /// The conversation triage fetched for this run, which covers its events up to
    /// `newest_event`; and the contact, when triage needed it already.
    pub fn know(
        &mut self,
        conversation: Conversation,
        newest_event: i64,
        contact: Option<Option<Contact>>,
    ) {
        if let Some(Some(c)) = &contact {
            self.learn_contact(c);
        }
        self.view = View {
            conversation: Some(conversation),
            newest_event,
            contact,
            ..View::default()
        };
    }

    /// The run's conversation as a timeline for the model's prompt (names from the directory, the
    /// contact when the run has it).
    pub async fn prompt_timeline(&mut self) -> String {
        let directory = self.directory().await;
        let Some(conversation) = self.view.conversation.as_ref() else {
            return String::new();
        };
        let contact = self.view.contact.as_ref().and_then(Option::as_ref);
        let text = timeline::render(conversation, &directory, contact, timeline::DEFAULT_CAP);
        self.learn_own_conversation(&directory);
        text
    }

    /// Whether the run holds a copy of its conversation (never outside a run).
    pub(super) fn view_has_conversation(&self) -> bool {
        self.view.conversation.is_some()
    }

    /// What the model is shown of its own conversation, a reply may quote (egress check) — but
    /// not a teammate's internal note: a reply may not repeat one, and what only a note mentions
    /// is not quotable. The bot's own notes (draft reviews, hand-off notes) are its own words.
    pub(super) fn learn_own_conversation(&mut self, directory: &timeline::Directory) {
        let Some(conversation) = self.view.conversation.as_ref() else {
            return;
        };
        let mut visible = conversation.clone();
        for part in visible
            .conversation_parts
            .iter_mut()
            .flat_map(|l| l.conversation_parts.iter_mut())
        {
            let by_bot = part
                .author
                .as_ref()
                .and_then(|a| a.id.as_deref())
                .is_some_and(|id| id == self.bot.as_str());
            if part.part_type == PartType::Note
                && !by_bot
                && let Some(body) = part.body.take()
            {
                self.known.add_note(&html::to_text(&body));
            }
        }
        let contact = self.view.contact.as_ref().and_then(Option::as_ref);
        self.known
            .add(&timeline::render(&visible, directory, contact, usize::MAX));
    }

    /// The conversation's contact, fetched on first use and kept for the run. `None` when the
    /// conversation has none or Intercom does not know it; an error only when worth retrying.
    pub async fn run_contact(&mut self) -> Result<Option<Contact>, IntercomError> {
        if let Some(known) = &self.view.contact {
            return Ok(known.clone());
        }
        let Some(id) = self.scope.contact_ids.first() else {
            self.view.contact = Some(None);
            return Ok(None);
        };
        let contact = match self
            .client
            .retrieve_contact(&ContactId::from(id.as_str()))
            .await
        {
            Ok(c) => Some(c),
            Err(e) if e.is_transient() => return Err(e),
            Err(_) => None,
        };
        if let Some(c) = &contact {
            self.learn_contact(c);
        }
        self.view.contact = Some(contact.clone());
        Ok(contact)
    }

    /// `get_contact`: the run's contact from its copy (fetched once), another from Intercom.
    pub(super) async fn contact_for_model(&mut self, id: &str) -> Result<Contact, Stop> {
        if self.scope.contact_ids.first().map(String::as_str) == Some(id)
            && let Some(contact) = self.run_contact().await?
        {
            return Ok(contact);
        }
        Ok(self.client.retrieve_contact(&ContactId::from(id)).await?)
    }

    /// `get_conversation`: the run's own conversation from its copy while that is still true,
    /// else (and any other conversation) from Intercom.
    pub(super) async fn conversation_for_model(&mut self, id: &str) -> Result<String, Stop> {
        let own = id == self.scope.conversation_id;
        if own
            && !self.view.stale
            && self.view.conversation.is_some()
            && self.db.newest_event(id).await?.unwrap_or(0) <= self.view.newest_event
        {
            return self.answer_from_copy().await;
        }
        let newest = if own {
            self.db.newest_event(id).await?
        } else {
            None
        };
        let conversation = self
            .client
            .retrieve_conversation(&ConversationId::from(id), true)
            .await?;
        let dir = self.directory_inner().await?;
        let in_run = self.view.conversation.is_some();
        let fetched;
        let contact = match &self.view.contact {
            Some(Some(c))
                if conversation
                    .contact_ids()
                    .any(|x| x.as_str() == c.id.as_str()) =>
            {
                Some(c)
            }
            // Outside a run nothing else reads the contact: the timeline shows it.
            _ if !in_run => {
                fetched = match conversation.contact_ids().next() {
                    Some(id) => self.client.retrieve_contact(id).await.ok(),
                    None => None,
                };
                fetched.as_ref()
            }
            _ => None,
        };
        let text = timeline::render(&conversation, &dir, contact, self.timeline_cap);
        if !own {
            // Another customer's conversation (`reads: workspace`): not to be repeated.
            let authors = conversation
                .source
                .iter()
                .filter_map(|s| s.author.as_ref())
                .chain(
                    conversation
                        .parts()
                        .iter()
                        .filter_map(|p| p.author.as_ref()),
                )
                .filter(|a| a.kind.is_customer())
                .filter_map(|a| a.name.as_deref());
            let values = [
                conversation.title.as_deref(),
                conversation
                    .source
                    .as_ref()
                    .and_then(|s| s.subject.as_deref()),
            ];
            let values: Vec<&str> = values.into_iter().flatten().chain(authors).collect();
            self.known.add_foreign(&text, values);
        }
        if own {
            self.view.conversation = Some(conversation);
            self.view.stale = false;
            self.view.newest_event = newest.unwrap_or(self.view.newest_event);
        }
        Ok(text)
    }

    /// The copy as a timeline (the contact in it only when the run has read it).
    async fn answer_from_copy(&mut self) -> Result<String, Stop> {
        let dir = self.directory_inner().await?;
        let Some(conversation) = self.view.conversation.as_ref() else {
            return Err(Stop::Internal(
                "the run has no copy of its conversation".into(),
            ));
        };
        let contact = self.view.contact.as_ref().and_then(Option::as_ref);
        Ok(timeline::render(
            conversation,
            &dir,
            contact,
            self.timeline_cap,
        ))
    }
}
