//! Stage: **triage** — what a conversation event makes the bot do.
//!
//! The conversation is fetched once per attempt (the run's *snapshot*, for matching and for the
//! agent's prompt). The bot acts when the customer wrote something newer than its watermark
//! ([`seen`]), or when the run resumes its own earlier attempt; it stays silent on conversations
//! handed off or taken over by a human ([`rules::skip_reason`]). Else the first playbook matching
//! every new customer message runs ([`crate::agent::playbook`]) through a [`Toolbox`] scoped to
//! this conversation and fenced by the run's lease. Errors are classified for the runner:
//! transient (try the run again later) or permanent (the run fails with a reason).
//!
//! Triage never writes the run's end, the watermark or the event: the runner does, in one
//! transaction, from the [`Seen`] it returns.

mod loop_guard;
pub mod rules;
pub mod seen;
mod usage;

use usage::record_usage;

use std::sync::{Arc, OnceLock};

use crate::{
    agent::{Usage, playbook as run_playbook, record::Recorder},
    ids::{AdminId, ConversationId},
    intercom::{IntercomClient, IntercomError},
    llm::Llm,
    playbook::LivePlaybooks,
    runner::{Outcome, RunError, Seen},
    store::{Db, events::EventRow, leases::Lease, runs::RunStatus},
    tools::{ToolName, guard::Scope, timeline, toolbox::Toolbox},
};

/// Everything triage needs, shared by all runs.
#[derive(Debug)]
pub struct Triage {
    pub db: Db,
    pub intercom: IntercomClient,
    pub llm: Option<Llm>,
    /// The running playbook set; each run takes it once and keeps it (live reload).
    pub playbooks: Arc<LivePlaybooks>,
    /// `TRIAGED_LLM_DAILY_BUDGET`: estimated USD per UTC day after which agent steps take their
    /// fallback with reason `budget`.
    pub llm_daily_budget: Option<f64>,
    /// The admin the bot acts as.
    pub bot: AdminId,
    /// This app's `app_package_code`, when configured; else learned from the bot's own parts.
    pub package_code: Option<String>,
    /// Bot replies per conversation per hour before the loop guard hands it to humans.
    pub max_replies_per_hour: u32,
    /// The team the loop guard assigns to (else the playbook's fallback team).
    pub loop_guard_team: Option<String>,
    /// The domains a reply's URLs may link to (`TRIAGED_REPLY_LINK_DOMAINS`).
    pub reply_links: crate::tools::reply_html::ReplyLinks,
    learned_package_code: OnceLock<String>,
}

/// What the runner knows about the attempt it hands to [`Triage::handle`].
#[derive(Debug, Clone, Default)]
pub struct Attempt<'a> {
    /// 1 for the first attempt.
    pub number: u32,
    /// Events this attempt's claim coalesced into it.
    pub covered: &'a [i64],
    /// The run's lease, when the event has a conversation.
    pub lease: Option<&'a Lease>,
    /// No attempt follows this one (`TRIAGED_RETRY_FOR` or `TRIAGED_MAX_ATTEMPTS` is spent): a
    /// transient failure takes the playbook's fallback, so a human is told.
    pub last: bool,
}

impl Triage {
    pub fn new(
        db: Db,
        intercom: IntercomClient,
        llm: Option<Llm>,
        playbooks: Arc<LivePlaybooks>,
        bot: AdminId,
        max_replies_per_hour: u32,
    ) -> Self {
        Self {
            db,
            intercom,
            llm,
            playbooks,
            llm_daily_budget: None,
            bot,
            package_code: None,
            max_replies_per_hour,
            loop_guard_team: None,
            learned_package_code: OnceLock::new(),
            reply_links: Default::default(),
        }
    }

    /// Who the bot is, as far as it knows now.
    pub fn me(&self) -> rules::Me {
        rules::Me {
            admin: self.bot.clone(),
            package_code: self
                .package_code
                .clone()
                .or_else(|| self.learned_package_code.get().cloned()),
        }
    }

    /// Whether some playbook of the current set listens to `topic`.
    pub fn listens_to(&self, topic: &str) -> bool {
        self.playbooks
            .current()
            .iter()
            .any(|p| p.trigger.topics.iter().any(|t| t == topic))
    }

    /// Every topic some playbook of the current set listens to.
    pub fn listened_topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self
            .playbooks
            .current()
            .iter()
            .flat_map(|p| p.trigger.topics.iter().cloned())
            .collect();
        topics.sort();
        topics.dedup();
        topics
    }

    /// Whether the event is Intercom's echo of the bot's own write (no run at all).
    pub fn is_own_echo(&self, event: &EventRow) -> bool {
        is_own_echo(
            event.topic.as_deref().unwrap_or_default(),
            &event.raw_body,
            &self.me(),
        )
    }

    /// The snapshot answered by a reply a crash left unconfirmed that landed all the same (see
    /// [`seen::landed_snapshot`]): its run may never finish (its event covered by a newer one), so
    /// nothing else tells the bot it has seen that far.
    async fn landed_unconfirmed(
        &self,
        conversation: &crate::intercom::models::Conversation,
        conversation_id: &str,
        me: &rules::Me,
    ) -> Result<Option<String>, RunError> {
        let replies: Vec<seen::Unconfirmed> = self
            .db
            .unconfirmed_replies(conversation_id)
            .await?
            .into_iter()
            .filter_map(|r| {
                let arguments: serde_json::Value = serde_json::from_str(&r.arguments).ok()?;
                let body = arguments["body"].as_str()?;
                Some(seen::Unconfirmed {
                    snapshot: r.snapshot,
                    // The text the reply tool sends, as the conversation shows it.
                    text: crate::tools::html::to_text(&crate::tools::reply_html::to_html(
                        body,
                        &self.reply_links,
                    )),
                    since: crate::tools::toolbox::started_second(&r.started_at)
                        .map_or(i64::MIN, |s| s - crate::tools::toolbox::CLOCK_SLACK),
                })
            })
            .collect();
        Ok(seen::landed_snapshot(conversation, me, &replies))
    }

    /// Works on the event's conversation.
    pub async fn handle(
        &self,
        event: &EventRow,
        run_id: i64,
        attempt: &Attempt<'_>,
    ) -> Result<Outcome, RunError> {
        let Some(conversation_id) = event.conversation_id.as_deref() else {
            return Ok(outcome(RunStatus::Succeeded, "no_playbook", None, None));
        };
        let topic = event.topic.as_deref().unwrap_or_default();
        // This run keeps the set it starts with, whatever a reload does meanwhile.
        let playbooks = self.playbooks.current();
        if !playbooks
            .iter()
            .any(|p| p.trigger.topics.iter().any(|t| t == topic))
        {
            // No playbook listens to this topic: no need to ask Intercom anything.
            return Ok(outcome(RunStatus::Succeeded, "no_playbook", None, None));
        }
        let conversation = self
            .intercom
            .retrieve_conversation(&ConversationId::from(conversation_id), true)
            .await
            .map_err(intercom_error)?;
        if self.package_code.is_none()
            && self.learned_package_code.get().is_none()
            && let Some(code) = rules::own_package_code(&conversation, &self.me())
        {
            tracing::info!(app_package_code = %code, "learned this app's package code");
            let _ = self.learned_package_code.set(code);
        }
        let me = self.me();
        let replied = seen::later(
            &conversation,
            self.db.replied_snapshot(conversation_id).await?,
            self.landed_unconfirmed(&conversation, conversation_id, &me)
                .await?,
        );
        let watermark = seen::later(
            &conversation,
            self.db.watermark(conversation_id).await?,
            replied,
        );
        let snapshot = self
            .db
            .note_snapshot(run_id, &seen::newest_part(&conversation))
            .await?;
        let mut covered_parts = Vec::new();
        for id in attempt.covered.iter().copied().chain([event.id]) {
            if let Some(e) = self.db.event(id).await? {
                covered_parts.push(rules::payload_parts(&e.raw_body));
            }
        }
        let seen = Seen {
            due_again: seen::due_again(&conversation, &snapshot, &covered_parts, &me),
            watermark: snapshot,
        };
        let unseen = seen::unseen(&conversation, watermark.as_deref(), &me);
        let new_messages = unseen.customer_texts(&conversation, &me);
        let earlier_replies = self.db.run_replies(run_id).await?;
        let resuming = attempt.number > 1 || !self.db.run_actions(run_id).await?.is_empty();
        let handed_off = self.db.conversation_status(conversation_id).await? == "handed_off";
        let quiet = rules::skip_reason(
            &conversation,
            &me,
            handed_off,
            unseen.has_customer_part(&conversation, &me),
            resuming,
        );
        if let Some(reason) = quiet {
            // Nothing new is never a reason to run; a human's conversation only for a playbook
            // that explicitly re-engages.
            let can_reengage = matches!(reason, "handed_off" | "human_active" | "human_assigned")
                && playbooks.iter().any(|p| p.trigger.reengage);
            if !can_reengage {
                return Ok(skipped(reason).seeing(seen));
            }
        }
        // The contact only when a condition looks at it; templates and tools fetch it (once)
        // when they need it.
        let contact_matters = playbooks.iter().any(|p| {
            p.trigger.topics.iter().any(|t| t == topic) && p.trigger.conditions.use_contact()
        });
        let contact = match conversation.contact_ids().next() {
            Some(id) if contact_matters => match self.intercom.retrieve_contact(id).await {
                Ok(c) => Some(c),
                Err(e) if e.is_transient() => return Err(intercom_error(e)),
                Err(_) => None,
            },
            _ => None,
        };
        let recorder = Recorder::new(self.db.clone(), run_id).await;
        let mut scope = Scope::conversation(
            conversation_id,
            conversation.contact_ids().map(|c| c.to_string()).collect(),
        )
        .replies(1);
        // Team names for matching come from the same per-run cache the tools use.
        let mut probe = Toolbox::new(
            self.intercom.clone(),
            self.db.clone(),
            self.bot.clone(),
            run_id,
            crate::playbook::Mode::Shadow,
            scope.clone(),
        );
        let directory = if conversation.team_assignee_id.is_some() {
            probe.directory().await
        } else {
            timeline::Directory::default()
        };
        let team_name = conversation
            .team_assignee_id
            .as_ref()
            .and_then(|t| directory.teams.get(t.as_str()).cloned());
        let ctx = rules::match_context(
            topic,
            &conversation,
            &new_messages,
            contact.as_ref(),
            team_name,
            jiff::Timestamp::now().as_second(),
        );
        let playbook = match quiet {
            None => playbooks.first_match(&ctx),
            Some(reason) => {
                let Some(playbook) = playbooks
                    .iter()
                    .find(|p| p.trigger.reengage && crate::playbook::matches(p, &ctx))
                else {
                    return Ok(skipped(reason).seeing(seen));
                };
                tracing::info!(reason, playbook = %playbook.name, "a playbook re-engages the bot");
                if handed_off {
                    self.db.reactivate(conversation_id).await?;
                }
                Some(playbook)
            }
        };
        let Some(playbook) = playbook else {
            return Ok(outcome(RunStatus::Succeeded, "no_playbook", None, None).seeing(seen));
        };
        let replies = self.db.bot_replies_last_hour(conversation_id).await?
            - i64::try_from(earlier_replies.len()).unwrap_or_default();
        if replies >= i64::from(self.max_replies_per_hour) {
            // Something keeps making the bot answer: stop, say so, and leave it to humans.
            self.trip_loop_guard(playbook, conversation_id, run_id, attempt.lease, replies)
                .await?;
            tracing::warn!(
                conversation_id,
                replies,
                "loop guard: too many bot replies; handed off"
            );
            metrics::counter!("triaged_runs_skipped_total", "reason" => "loop_guard").increment(1);
            return Ok(outcome(
                RunStatus::Skipped,
                "skipped",
                Some(playbook.name.clone()),
                Some("loop_guard".to_owned()),
            )
            .seeing(seen));
        }
        if let Some(agent) = playbook.agent() {
            scope.allowed = agent
                .tools
                .iter()
                .filter_map(|t| ToolName::parse(t))
                .collect();
            scope.max_replies = agent.max_replies;
            scope.reads = agent.reads;
        }
        let mut toolbox = Toolbox::new(
            self.intercom.clone(),
            self.db.clone(),
            self.bot.clone(),
            run_id,
            playbook.mode,
            scope,
        );
        if let Some(lease) = attempt.lease {
            toolbox.fence(lease.clone());
        }
        toolbox.reply_links(self.reply_links.clone());
        toolbox.resume(earlier_replies);
        let newest_event = attempt.covered.iter().copied().fold(event.id, i64::max);
        toolbox.know(
            conversation.clone(),
            newest_event,
            contact_matters.then(|| contact.clone()),
        );
        let over_budget = self.over_budget().await?;
        let subject = run_playbook::Subject {
            playbook,
            ctx: &ctx,
            conversation_id,
            topic,
            timeline: toolbox.prompt_timeline().await,
            over_budget,
            last_attempt: attempt.last,
        };
        let mut usage = Usage::default();
        let ending = run_playbook::execute(
            self.llm.as_ref(),
            &subject,
            &mut toolbox,
            &recorder,
            &mut usage,
        )
        .await;
        record_usage(&self.db, run_id, playbook, &usage).await?;
        match ending {
            run_playbook::Ending::Succeeded { outcome: o } => {
                Ok(
                    outcome(RunStatus::Succeeded, o, Some(playbook.name.clone()), None)
                        .seeing(seen),
                )
            }
            run_playbook::Ending::Failed { reason, detail } => {
                Err(RunError::Permanent { reason, detail })
            }
            run_playbook::Ending::Retry { detail } => Err(RunError::Transient(detail)),
        }
    }
}

fn skipped(reason: &'static str) -> Outcome {
    metrics::counter!("triaged_runs_skipped_total", "reason" => reason).increment(1);
    outcome(RunStatus::Skipped, "skipped", None, Some(reason.to_owned()))
}

fn outcome(
    status: RunStatus,
    outcome: &'static str,
    playbook: Option<String>,
    reason: Option<String>,
) -> Outcome {
    Outcome {
        outcome,
        playbook,
        reason,
        status,
        seen: None,
    }
}

impl Outcome {
    fn seeing(self, seen: Seen) -> Self {
        Self {
            seen: Some(seen),
            ..self
        }
    }
}

/// Whether a notification of `topic` is the echo of the bot's own write; pure, for ingest too
/// (an echo is stored `ignored` and gets no job, so nothing is ever coalesced into it).
pub fn is_own_echo(topic: &str, raw_body: &[u8], me: &rules::Me) -> bool {
    (topic.starts_with("conversation.admin.") || topic.starts_with("conversation.operator."))
        && rules::is_own_echo(raw_body, me)
}

fn intercom_error(e: IntercomError) -> RunError {
    match e {
        e if e.is_transient() => RunError::Transient(e.to_string()),
        IntercomError::NotFound { .. } => RunError::Permanent {
            reason: "conversation_not_found".to_owned(),
            detail: e.to_string(),
        },
        e => RunError::Permanent {
            reason: e.code().to_owned(),
            detail: e.to_string(),
        },
    }
}
