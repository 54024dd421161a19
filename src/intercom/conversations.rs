//! Conversation operations: search, list, retrieve, reply, manage (close/snooze/open/assign),
//! tag and untag.

use reqwest::Method;

use super::{
    IntercomClient, IntercomError,
    models::{Conversation, ConversationList, Tag, TagId},
    requests::{AdminReply, AttachTag, DetachTag, ManageConversation},
    search::SearchRequest,
    transport::{Call, CallKind, segment},
};
use crate::ids::{AdminId, ConversationId};

/// Largest page the conversation list and search endpoints serve.
pub const MAX_PER_PAGE: u32 = 150;

impl IntercomClient {
    /// `POST /conversations/search`. The query is checked against the documented limits
    /// first and sent in the shape the schema accepts ([`SearchRequest::for_wire`]).
    /// List items carry no parts.
    #[tracing::instrument(skip_all)]
    pub async fn search_conversations(
        &self,
        request: &SearchRequest,
    ) -> Result<ConversationList, IntercomError> {
        let body = request
            .for_wire()
            .map_err(|e| IntercomError::InvalidRequest(e.to_string()))?;
        let call = Call::with_body(
            Method::POST,
            "/conversations/search".to_owned(),
            CallKind::Read,
            &body,
        )?;
        self.execute(call).await
    }

    /// `GET /conversations` (newest first), `per_page` clamped to 1..=150.
    #[tracing::instrument(skip_all)]
    pub async fn list_conversations(
        &self,
        per_page: Option<u32>,
        starting_after: Option<&str>,
    ) -> Result<ConversationList, IntercomError> {
        let mut call = Call::get("/conversations".to_owned());
        if let Some(n) = per_page {
            call = call.query("per_page", n.clamp(1, MAX_PER_PAGE).to_string());
        }
        if let Some(cursor) = starting_after {
            call = call.query("starting_after", cursor);
        }
        self.execute(call).await
    }

    /// `GET /conversations/{id}`: the conversation with its 500 newest parts. `plaintext` asks for
    /// plain-text bodies (`display_as=plaintext`) instead of HTML.
    #[tracing::instrument(skip_all, fields(conversation_id = %id))]
    pub async fn retrieve_conversation(
        &self,
        id: &ConversationId,
        plaintext: bool,
    ) -> Result<Conversation, IntercomError> {
        self.execute(retrieve_call(id, plaintext)?).await
    }

    /// `POST /conversations/{id}/reply` as an admin (comment or note). Returns the conversation;
    /// its parts hold the new one.
    #[tracing::instrument(skip_all, fields(conversation_id = %id, kind = ?reply.message_type))]
    pub async fn reply(
        &self,
        id: &ConversationId,
        reply: &AdminReply,
    ) -> Result<Conversation, IntercomError> {
        let path = format!(
            "/conversations/{}/reply",
            segment("conversation", id.as_str())?
        );
        self.execute(Call::with_body(Method::POST, path, CallKind::Write, reply)?)
            .await
    }

    /// `POST /conversations/{id}/parts`: close, snooze, open or assign.
    #[tracing::instrument(skip_all, fields(conversation_id = %id, action = action.action()))]
    pub async fn manage_conversation(
        &self,
        id: &ConversationId,
        action: &ManageConversation,
    ) -> Result<Conversation, IntercomError> {
        self.execute(manage_call(id, action)?).await
    }

    /// `POST /conversations/{id}/tags`.
    #[tracing::instrument(skip_all, fields(conversation_id = %id, tag_id = %tag))]
    pub async fn attach_tag(
        &self,
        id: &ConversationId,
        tag: &TagId,
        admin_id: &AdminId,
    ) -> Result<Tag, IntercomError> {
        self.execute(attach_tag_call(id, tag, admin_id)?).await
    }

    /// `DELETE /conversations/{id}/tags/{tag_id}` with the JSON body `{admin_id}` it requires.
    #[tracing::instrument(skip_all, fields(conversation_id = %id, tag_id = %tag))]
    pub async fn detach_tag(
        &self,
        id: &ConversationId,
        tag: &TagId,
        admin_id: &AdminId,
    ) -> Result<Tag, IntercomError> {
        self.execute(detach_tag_call(id, tag, admin_id)?).await
    }
}

pub(super) fn retrieve_call(id: &ConversationId, plaintext: bool) -> Result<Call, IntercomError> {
    let mut call = Call::get(format!(
        "/conversations/{}",
        segment("conversation", id.as_str())?
    ));
    if plaintext {
        call = call.query("display_as", "plaintext");
    }
    Ok(call)
}

pub(super) fn manage_call(
    id: &ConversationId,
    action: &ManageConversation,
) -> Result<Call, IntercomError> {
    let path = format!(
        "/conversations/{}/parts",
        segment("conversation", id.as_str())?
    );
    Call::with_body(Method::POST, path, CallKind::Write, action)
}

pub(super) fn attach_tag_call(
    id: &ConversationId,
    tag: &TagId,
    admin_id: &AdminId,
) -> Result<Call, IntercomError> {
    let path = format!(
        "/conversations/{}/tags",
        segment("conversation", id.as_str())?
    );
    let body = AttachTag {
        id: tag.clone(),
        admin_id: admin_id.clone(),
    };
    Call::with_body(Method::POST, path, CallKind::Write, &body)
}

pub(super) fn detach_tag_call(
    id: &ConversationId,
    tag: &TagId,
    admin_id: &AdminId,
) -> Result<Call, IntercomError> {
    let path = format!(
        "/conversations/{}/tags/{}",
        segment("conversation", id.as_str())?,
        segment("tag", tag.as_str())?
    );
    let body = DetachTag {
        admin_id: admin_id.clone(),
    };
    Call::with_body(Method::DELETE, path, CallKind::Write, &body)
}
