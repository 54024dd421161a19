//! The exactly-once write path shared by every write tool: the mode decides (`draft` collects a
//! description for the review note, `shadow` only records); in `live` the write is recorded
//! `started` under its idempotency key before the call and `done` after it. A key found `done`
//! returns the recorded result without calling Intercom again; one found `started` (or a call whose
//! response was lost) is first reconciled by reading the conversation.

use std::future::Future;

use serde_json::Value;

use super::{Stop, Toolbox};
use crate::{
    ids::{AdminId, ConversationId},
    intercom::{IntercomClient, IntercomError, models::ConversationState},
    playbook::Mode,
    store::actions::{self, ActionClaim},
    tools::ToolName,
};

/// How the landing of a write whose outcome is unknown is recognised.
pub(super) enum Landed {
    /// A part by the bot admin with this plain text, created after the action was started.
    Part(String),
    /// The conversation is in this state.
    State(&'static str),
    /// Cannot be told from the conversation (tickets, tags): not retried blindly.
    Unknowable,
}

/// What a write produced.
pub(super) struct Done {
    pub(super) reference: Option<String>,
    pub(super) text: String,
}

impl Toolbox {
    /// The mode a write of `tool` really runs in. In `draft`, only what the customer would see or
    /// feel (a reply, a close, a snooze, a reopen, a ticket) is collected for review; what only
    /// the team sees (notes, tags, assignment, hand-off) is performed, so a draft lands with the
    /// right team and tags and a failed run's fallback still tells a human. `shadow` writes
    /// nothing at all.
    pub(super) fn mode_for(&self, tool: ToolName) -> Mode {
        match self.mode {
            Mode::Draft if !tool.reaches_customer() => Mode::Live,
            mode => mode,
        }
    }

    /// Runs one write through the mode and the idempotency record.
    pub(super) async fn perform<F, Fut>(
        &mut self,
        tool: ToolName,
        conversation: &str,
        canonical: Value,
        describe: String,
        landed: Landed,
        op: F,
    ) -> Result<Done, Stop>
    where
        F: FnOnce(IntercomClient, AdminId, ConversationId) -> Fut,
        Fut: Future<Output = Result<Done, IntercomError>>,
    {
        self.tally.writes += 1;
        let key = actions::key(self.run_id, tool.as_str(), &canonical);
        let effective = self.mode_for(tool);
        let (mode, status) = match effective {
            Mode::Live => ("live", "started"),
            Mode::Draft => ("draft", "drafted"),
            Mode::Shadow => ("shadow", "shadowed"),
        };
        let record = actions::NewAction {
            key: &key,
            run_id: self.run_id,
            conversation_id: conversation,
            tool: tool.as_str(),
            arguments: &canonical,
            mode,
            status,
        };
        match effective {
            Mode::Draft | Mode::Shadow => {
                self.claim(&record).await?;
                let text = if effective == Mode::Draft {
                    self.drafts.push(describe.clone());
                    format!("Draft mode: not sent. Recorded for the team's review: {describe}")
                } else {
                    format!("Shadow mode: not sent, only recorded: {describe}")
                };
                return Ok(Done {
                    reference: None,
                    text,
                });
            }
            Mode::Live => {}
        }
        if self.mode == Mode::Draft {
            // An internal write of a draft run is performed; the review note says so.
            self.performed.push(describe.clone());
        }
        if let Some(previous) = self.db.action(&key).await? {
            if previous.status == "done" {
                return Ok(Done {
                    reference: previous.result_ref.clone(),
                    text: format!("Already done earlier in this run: {describe}"),
                });
            }
            if previous.status == "started"
                && let Some(reference) = self
                    .landed(conversation, &landed, started_second(&previous.started_at))
                    .await?
            {
                self.db
                    .end_action(&key, "done", Some(&reference), None, None)
                    .await?;
                return Ok(Done {
                    reference: Some(reference),
                    text: format!("Already done (found in the conversation): {describe}"),
                });
            }
        }
        let started = jiff::Timestamp::now().as_second();
        let until = match self.claim(&record).await? {
            ActionClaim::Claimed { until } => until,
            ActionClaim::Done { result_ref } => {
                return Ok(Done {
                    reference: result_ref,
                    text: format!("Already done by an earlier attempt: {describe}"),
                });
            }
            ActionClaim::Fenced => return Err(fenced()),
        };
        if !matches!(
            tool,
            ToolName::TagConversation | ToolName::UntagConversation
        ) {
            // The run's copy of the conversation no longer says what Intercom has (a tag write
            // is applied to the copy instead, once done).
            self.view.wrote();
        }
        if until.is_some_and(|until| std::time::Instant::now() >= until) {
            // Paused between the claim and the call for most of the lease (SIGSTOP, a stalled
            // host): another process may be taking over. Left `started`, so whichever attempt
            // runs next first checks the conversation.
            return Err(fenced());
        }
        let conv = ConversationId::from(conversation);
        match op(self.client.clone(), self.bot.clone(), conv).await {
            Ok(done) => {
                self.db
                    .end_action(
                        &key,
                        "done",
                        done.reference.as_deref(),
                        Some(&done.text),
                        None,
                    )
                    .await?;
                let text = if done.text.is_empty() {
                    format!("Done: {describe}")
                } else {
                    done.text
                };
                Ok(Done {
                    reference: done.reference,
                    text,
                })
            }
            Err(error @ IntercomError::UnknownOutcome { .. }) => {
                // The response was lost, or a gateway answered 5xx: find out whether the write
                // landed before anything else.
                if let Some(reference) = self.landed(conversation, &landed, Some(started)).await? {
                    self.db
                        .end_action(&key, "done", Some(&reference), None, None)
                        .await?;
                    return Ok(Done {
                        reference: Some(reference),
                        text: format!("Done (confirmed by reading the conversation): {describe}"),
                    });
                }
                // Left `started`: a later attempt reconciles again before sending.
                Err(Stop::Intercom(error))
            }
            Err(error) => {
                self.db
                    .end_action(&key, "failed", None, None, Some(&error.to_string()))
                    .await?;
                Err(Stop::Intercom(error))
            }
        }
    }

    /// Claims the write for this attempt, under the run's lease when it has one.
    pub(super) async fn claim(&self, record: &actions::NewAction<'_>) -> Result<ActionClaim, Stop> {
        let lease = self.fence.as_ref();
        Ok(self.db.claim_action(record, lease).await?)
    }

    /// Whether a write already landed, from the conversation as Intercom has it now. A part must
    /// be created no earlier than `started` (Unix seconds, less [`CLOCK_SLACK`]): the same text
    /// sent by an earlier run proves nothing about this write.
    async fn landed(
        &self,
        conversation: &str,
        landed: &Landed,
        started: Option<i64>,
    ) -> Result<Option<String>, Stop> {
        if matches!(landed, Landed::Unknowable) {
            return Ok(None);
        }
        let c = self
            .client
            .retrieve_conversation(&ConversationId::from(conversation), true)
            .await?;
        Ok(match landed {
            Landed::Part(text) => {
                let want = normalize(text);
                let since = started.map_or(i64::MIN, |s| s - CLOCK_SLACK);
                c.parts()
                    .iter()
                    .rev()
                    .find(|p| {
                        p.created_at.is_none_or(|t| t >= since)
                            && p.author.as_ref().and_then(|a| a.id.as_deref())
                                == Some(self.bot.as_str())
                            && p.body
                                .as_deref()
                                .map(|b| normalize(&crate::tools::html::to_text(b)))
                                == Some(want.clone())
                    })
                    .map(|p| p.id.clone())
            }
            Landed::State(state) => {
                let now = match &c.state {
                    Some(ConversationState::Open) => "open",
                    Some(ConversationState::Closed) => "closed",
                    Some(ConversationState::Snoozed) => "snoozed",
                    _ => "",
                };
                (now == *state).then(|| format!("state:{state}"))
            }
            Landed::Unknowable => None,
        })
    }
}

/// The stop of a run whose lease is gone: it writes nothing more.
fn fenced() -> Stop {
    Stop::Internal("the run lost its conversation lease; it stops without writing".to_owned())
}

/// How far Intercom's clock (a part's `created_at`, whole seconds) may be behind ours when telling
/// whether a part was created after an action started.
const CLOCK_SLACK: i64 = 5;

/// An action's `started_at` (`2026-12-02T05:40:00.123Z`) as Unix seconds; none if unreadable
/// (then any part with the text counts, as before the time was checked).
fn started_second(started_at: &str) -> Option<i64> {
    started_at
        .parse::<jiff::Timestamp>()
        .ok()
        .map(jiff::Timestamp::as_second)
}

fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
