//! The review note of a draft run: one internal note listing everything the run would have done
//! and what it did that only the team sees, written once per run under its own action key.

use serde_json::json;

use super::{Toolbox, writes::new_part};
use crate::{ids::ConversationId, intercom::requests::AdminReply, playbook::Mode, store::actions};

impl Toolbox {
    /// The review note of a draft run: one internal note listing everything the run would have
    /// done. Returns whether one was written.
    pub async fn flush_drafts(&mut self, playbook: &str) -> Result<bool, String> {
        if self.mode != Mode::Draft || self.drafts.is_empty() {
            return Ok(false);
        }
        let mut body = format!(
            "triaged · draft by playbook «{playbook}» — nothing was sent to the customer. \
             It would have:\n"
        );
        for (i, d) in self.drafts.iter().enumerate() {
            body.push_str(&format!("{}. {d}\n", i + 1));
        }
        if !self.performed.is_empty() {
            body.push_str("\nDone already (only the team sees these):\n");
            for d in &self.performed {
                body.push_str(&format!("- {d}\n"));
            }
        }
        let conversation = self.scope.conversation_id.clone();
        let key = actions::key(
            self.run_id,
            "draft_note",
            &json!({"conversation_id": conversation}),
        );
        if let Ok(Some(a)) = self.db.action(&key).await
            && a.status == "done"
        {
            return Ok(true);
        }
        let claim = self
            .db
            .claim_action(
                &actions::NewAction {
                    key: &key,
                    run_id: self.run_id,
                    conversation_id: &conversation,
                    tool: "draft_note",
                    arguments: &json!({}),
                    mode: "draft",
                    status: "started",
                },
                self.fence.as_ref(),
            )
            .await
            .map_err(|e| e.to_string())?;
        match claim {
            actions::ActionClaim::Claimed { .. } => {}
            actions::ActionClaim::Done { .. } => return Ok(true),
            actions::ActionClaim::Fenced => {
                return Err("the run lost its conversation lease; the note is not sent".to_owned());
            }
        }
        let conv = ConversationId::from(conversation.as_str());
        self.view.wrote();
        match self
            .client
            .reply(&conv, &AdminReply::note(self.bot.clone(), body.trim_end()))
            .await
        {
            Ok(c) => {
                let part = new_part(&c);
                let _ = self
                    .db
                    .end_action(&key, "done", part.reference.as_deref(), None, None)
                    .await;
                Ok(true)
            }
            Err(e) => {
                let _ = self
                    .db
                    .end_action(&key, "failed", None, None, Some(&e.to_string()))
                    .await;
                Err(e.to_string())
            }
        }
    }
}
