//! The loop guard: when the bot has replied too often on one conversation within the hour (sent
//! or drafted), it stops, says why in an internal note, and assigns the conversation to a human
//! team, so the customer is not left in silence and a teammate knows. It never replies.

use serde_json::json;

use super::Triage;
use crate::{
    ids::TeamId,
    playbook::{Mode, Playbook, Step, Target},
    runner::RunError,
    store::leases::Lease,
    tools::{
        ToolName,
        guard::Scope,
        toolbox::{CallStatus, Toolbox},
    },
};

/// The team a playbook's fallback hands conversations to, if it names one.
fn fallback_team(playbook: &Playbook) -> Option<String> {
    playbook.fallback.iter().find_map(|step| match step {
        Step::Assign(Target::TeamName(t) | Target::TeamId(TeamId(t)))
        | Step::HandOff(Target::TeamName(t) | Target::TeamId(TeamId(t))) => Some(t.clone()),
        _ => None,
    })
}

impl Triage {
    /// Leaves the note and the assignment, and marks the conversation handed off. The writes are
    /// internal, so they are performed in `draft` mode too (`shadow` only records them); they
    /// are keyed by the run like any write, so a retried run does not repeat them.
    pub(super) async fn trip_loop_guard(
        &self,
        playbook: &Playbook,
        conversation_id: &str,
        run_id: i64,
        lease: Option<&Lease>,
        replies: i64,
    ) -> Result<(), RunError> {
        let team = self
            .loop_guard_team
            .clone()
            .or_else(|| fallback_team(playbook));
        let mode = if playbook.mode == Mode::Shadow {
            Mode::Shadow
        } else {
            Mode::Live
        };
        let scope = Scope::conversation(conversation_id, Vec::new());
        let mut toolbox = Toolbox::new(
            self.intercom.clone(),
            self.db.clone(),
            self.bot.clone(),
            run_id,
            mode,
            scope,
        );
        if let Some(lease) = lease {
            toolbox.fence(lease.clone());
        }
        let whom = match &team {
            Some(team) => format!("Assigned to {team} for a human to take over."),
            None => "No team is configured for this (TRIAGED_LOOP_GUARD_TEAM, or a team in the \
                     playbook's fallback): please pick it up."
                .to_owned(),
        };
        let note = format!(
            "triaged stopped answering this conversation (loop guard): the bot already replied \
             {replies} time(s) in the last hour, the limit is {limit} \
             (TRIAGED_MAX_BOT_REPLIES_PER_HOUR). Playbook «{playbook}». {whom}",
            limit = self.max_replies_per_hour,
            playbook = playbook.name,
        );
        let mut calls = vec![(
            ToolName::AddNote,
            json!({"conversation_id": conversation_id, "body": note}),
        )];
        if let Some(team) = &team {
            calls.push((
                ToolName::AssignConversation,
                json!({"conversation_id": conversation_id, "team": team}),
            ));
        }
        for (tool, args) in calls {
            let out = toolbox.step(tool, args).await;
            match out.status {
                CallStatus::Ok => {}
                CallStatus::Transient => return Err(RunError::Transient(out.content)),
                _ => tracing::error!(
                    conversation_id,
                    tool = tool.as_str(),
                    detail = %out.content,
                    "loop guard: a write failed"
                ),
            }
        }
        self.db
            .hand_off(
                conversation_id,
                "loop guard: too many bot replies in the last hour",
            )
            .await?;
        Ok(())
    }
}
