//! Conversation writes through the REST API: reply (admin comment/note, contact reply), manage
//! (close, snooze, open, assign), tag and untag. Parts made here carry the calling app's
//! `app_package_code` (the sandbox's own, or a second app's: see `Sandbox::add_app`).
//! Bodies are parsed strictly enough to answer Intercom's errors.

use axum::{Extension, Json, body::Bytes};
use serde_json::{Value, json};

use super::{S, id_field, str_field};
use crate::sandbox::{
    actions::{self, AdminAction, Via},
    error::{ApiError, parse_body},
    extract::Ids,
    http::App,
    lock,
    model::{AppliedTag, Workspace},
};

/// `last` stands for the most recently updated conversation (of the contact, for contact replies).
fn resolve_last(ws: &Workspace, id: &str, contact_id: Option<&str>) -> String {
    if id != "last" {
        return id.to_owned();
    }
    ws.conversations
        .iter()
        .filter(|c| contact_id.is_none_or(|cid| c.contact_ids.iter().any(|x| x == cid)))
        .max_by_key(|c| c.updated_at)
        .map_or_else(|| id.to_owned(), |c| c.id.clone())
}

/// `POST /conversations/{id}/reply`.
pub async fn reply(
    state: S,
    Extension(App(app)): Extension<App>,
    Ids(id): Ids<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: Value = parse_body(&body)?;
    let kind = str_field(&body, "type").ok_or_else(|| ApiError::missing("type"))?;
    let message_type =
        str_field(&body, "message_type").ok_or_else(|| ApiError::missing("message_type"))?;
    let text = str_field(&body, "body").filter(|b| !b.trim().is_empty());
    match kind {
        "admin" => {
            let admin_id =
                id_field(&body, "admin_id").ok_or_else(|| ApiError::missing("admin_id"))?;
            let note = match message_type {
                "comment" => false,
                "note" => true,
                "quick_reply" => {
                    return Err(ApiError::invalid(
                        "quick_reply is not supported by the sandbox",
                    ));
                }
                other => {
                    return Err(ApiError::invalid(format!(
                        "message_type {other:?} must be comment, note or quick_reply"
                    )));
                }
            };
            let text = text.ok_or_else(|| ApiError::missing("body"))?;
            let id = resolve_last(&lock(&state.ws), &id, None);
            let action = AdminAction::Reply {
                note,
                body: text.to_owned(),
            };
            actions::admin_action(&state, &id, &admin_id, action, Via::App(&app)).map(Json)
        }
        "user" | "contact" | "lead" => {
            if message_type != "comment" {
                return Err(ApiError::invalid(
                    "a contact reply's message_type must be comment",
                ));
            }
            let text = text.ok_or_else(|| ApiError::missing("body"))?;
            let (contact_id, id) = {
                let ws = lock(&state.ws);
                let contact = if let Some(cid) = id_field(&body, "intercom_user_id") {
                    ws.contact(&cid)
                } else if let Some(uid) = id_field(&body, "user_id") {
                    ws.contacts
                        .iter()
                        .find(|c| c.external_id.as_deref() == Some(uid.as_str()))
                } else if let Some(email) = str_field(&body, "email") {
                    ws.contacts
                        .iter()
                        .find(|c| c.email.eq_ignore_ascii_case(email) && c.merged_into.is_none())
                } else {
                    return Err(ApiError::missing("intercom_user_id, user_id or email"));
                };
                let contact_id = contact
                    .map(|c| c.id.clone())
                    .ok_or_else(|| ApiError::not_found("not_found", "User Not Found"))?;
                let id = resolve_last(&ws, &id, Some(&contact_id));
                (contact_id, id)
            };
            actions::contact_reply(&state, &id, Some(&contact_id), text, Via::App(&app)).map(Json)
        }
        other => Err(ApiError::invalid(format!(
            "type {other:?} must be admin or user"
        ))),
    }
}

/// `POST /conversations/{id}/parts`: close, snoozed, open, assignment.
pub async fn manage(
    state: S,
    Extension(App(app)): Extension<App>,
    Ids(id): Ids<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: Value = parse_body(&body)?;
    let message_type =
        str_field(&body, "message_type").ok_or_else(|| ApiError::missing("message_type"))?;
    let admin_id = id_field(&body, "admin_id").ok_or_else(|| ApiError::missing("admin_id"))?;
    let text = str_field(&body, "body")
        .filter(|b| !b.trim().is_empty())
        .map(str::to_owned);
    let action = match message_type {
        "close" => AdminAction::Close { body: text },
        "open" => AdminAction::Open,
        "snoozed" => {
            let until = body
                .get("snoozed_until")
                .and_then(Value::as_i64)
                .ok_or_else(|| ApiError::missing("snoozed_until"))?;
            AdminAction::Snooze { until }
        }
        "assignment" => {
            let team = match str_field(&body, "type") {
                Some("admin") => false,
                Some("team") => true,
                Some(other) => {
                    return Err(ApiError::invalid(format!(
                        "type {other:?} must be admin or team"
                    )));
                }
                None => return Err(ApiError::missing("type")),
            };
            let assignee_id =
                id_field(&body, "assignee_id").ok_or_else(|| ApiError::missing("assignee_id"))?;
            AdminAction::Assign {
                team,
                assignee_id,
                body: text,
            }
        }
        "snooze" => {
            return Err(ApiError::invalid(
                "message_type \"snooze\" is unknown: use \"snoozed\"",
            ));
        }
        other => {
            return Err(ApiError::invalid(format!(
                "message_type {other:?} must be close, snoozed, open or assignment"
            )));
        }
    };
    actions::admin_action(&state, &id, &admin_id, action, Via::App(&app)).map(Json)
}

/// `POST /conversations/{id}/tags` `{id, admin_id}` → the tag.
pub async fn tag(state: S, Ids(id): Ids<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: Value = parse_body(&body)?;
    let tag_id = id_field(&body, "id").ok_or_else(|| ApiError::missing("id"))?;
    let admin_id = id_field(&body, "admin_id").ok_or_else(|| ApiError::missing("admin_id"))?;
    let now = state.clock.now();
    let mut ws = lock(&state.ws);
    if ws.admin(&admin_id).is_none() {
        return Err(ApiError::not_found("admin_not_found", "Admin not found"));
    }
    let tag = ws
        .tag(&tag_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("tag_not_found", "Tag not found"))?;
    let conv = ws
        .conversation_mut(&id)
        .ok_or_else(|| ApiError::not_found("not_found", "Conversation not found"))?;
    if !conv.tags.iter().any(|t| t.tag_id == tag.id) {
        conv.tags.push(AppliedTag {
            tag_id: tag.id.clone(),
            applied_at: now,
            applied_by: admin_id,
        });
        conv.updated_at = now;
    }
    Ok(Json(json!({"type": "tag", "id": tag.id, "name": tag.name})))
}

/// `DELETE /conversations/{id}/tags/{tag_id}` with JSON body `{admin_id}` → the tag.
pub async fn untag(
    state: S,
    Ids((id, tag_id)): Ids<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: Value = parse_body(&body)?;
    let admin_id = id_field(&body, "admin_id").ok_or_else(|| ApiError::missing("admin_id"))?;
    let now = state.clock.now();
    let mut ws = lock(&state.ws);
    if ws.admin(&admin_id).is_none() {
        return Err(ApiError::not_found("admin_not_found", "Admin not found"));
    }
    let tag = ws
        .tag(&tag_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("tag_not_found", "Tag not found"))?;
    let conv = ws
        .conversation_mut(&id)
        .ok_or_else(|| ApiError::not_found("not_found", "Conversation not found"))?;
    let before = conv.tags.len();
    conv.tags.retain(|t| t.tag_id != tag.id);
    if conv.tags.len() == before {
        return Err(ApiError::not_found(
            "tag_not_found",
            "Tag not found on this conversation",
        ));
    }
    conv.updated_at = now;
    Ok(Json(json!({"type": "tag", "id": tag.id, "name": tag.name})))
}
