//! Conversation reads: list (query-parameter paging), search (body query and paging), retrieve
//! (`display_as=plaintext`, 500 newest parts). Read-only.

use axum::{Json, body::Bytes};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Paging, S, paginate};
use crate::sandbox::{
    error::{ApiError, parse_body},
    extract::{Ids, Params},
    lock,
    model::{Conversation, Workspace},
    render::{self, Parts, int_id},
    search::{self, Fields, Val},
};

/// Newest first, ties by id, so cursors stay valid across calls.
fn ordered(ws: &Workspace) -> Vec<&Conversation> {
    let mut list: Vec<&Conversation> = ws.conversations.iter().collect();
    list.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| int_id(Some(&b.id)).cmp(&int_id(Some(&a.id))))
    });
    list
}

fn list_body(ws: &Workspace, page: &[&Conversation], total: usize, pages: Value) -> Value {
    let items: Vec<Value> = page
        .iter()
        .map(|c| render::conversation(ws, c, Parts::Omit, false))
        .collect();
    json!({"type": "conversation.list", "conversations": items, "total_count": total, "pages": pages})
}

/// `GET /conversations?per_page=&starting_after=`.
pub async fn list(state: S, Params(paging): Params<Paging>) -> Result<Json<Value>, ApiError> {
    let ws = lock(&state.ws);
    let (page, total, pages) = paginate(ordered(&ws), |c| c.id.as_str(), &paging, 20)?;
    Ok(Json(list_body(&ws, &page, total, pages)))
}

#[derive(Debug, Deserialize)]
struct SearchBody {
    query: Option<Value>,
    #[serde(default)]
    pagination: Option<Paging>,
}

/// `POST /conversations/search`.
pub async fn search(state: S, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: SearchBody = parse_body(&body)?;
    let query = body.query.ok_or_else(|| ApiError::missing("query"))?;
    let paging = body.pagination.unwrap_or_default();
    let ws = lock(&state.ws);
    let mut found = Vec::new();
    for c in ordered(&ws) {
        if search::matches(&query, &ConversationFields { c }).map_err(ApiError::invalid)? {
            found.push(c);
        }
    }
    let (page, total, pages) = paginate(found, |c| c.id.as_str(), &paging, 20)?;
    Ok(Json(list_body(&ws, &page, total, pages)))
}

#[derive(Debug, Deserialize)]
pub struct RetrieveQuery {
    display_as: Option<String>,
}

/// `GET /conversations/{id}[?display_as=plaintext]`.
pub async fn retrieve(
    state: S,
    Ids(id): Ids<String>,
    Params(q): Params<RetrieveQuery>,
) -> Result<Json<Value>, ApiError> {
    let plaintext = q.display_as.as_deref() == Some("plaintext");
    let ws = lock(&state.ws);
    let c = ws
        .conversation(&id)
        .ok_or_else(|| ApiError::not_found("not_found", "Resource Not Found"))?;
    Ok(Json(render::conversation(&ws, c, Parts::Capped, plaintext)))
}

/// The searchable fields of a conversation.
struct ConversationFields<'a> {
    c: &'a Conversation,
}

impl Fields for ConversationFields<'_> {
    fn values(&self, field: &str) -> Option<Vec<Val>> {
        let c = self.c;
        let s = |v: &str| Val::Str(v.to_owned());
        let opt_int = |v: Option<i64>| v.map_or(Val::Null, Val::Int);
        Some(match field {
            "id" => vec![s(&c.id)],
            "state" => vec![s(c.state.as_str())],
            "open" => vec![Val::Bool(c.state != crate::sandbox::model::State::Closed)],
            "read" => vec![Val::Bool(c.read)],
            "priority" => vec![s("none")],
            "title" => vec![c.title.as_deref().map_or(Val::Null, s)],
            "contact_ids" => c.contact_ids.iter().map(|i| s(i)).collect(),
            "teammate_ids" => c.teammate_ids.iter().map(|i| s(i)).collect(),
            "tag_ids" => c.tags.iter().map(|t| s(&t.tag_id)).collect(),
            "admin_assignee_id" => vec![Val::Int(int_id(c.admin_assignee_id.as_deref()))],
            "team_assignee_id" => vec![Val::Int(int_id(c.team_assignee_id.as_deref()))],
            "created_at" => vec![Val::Int(c.created_at)],
            "updated_at" => vec![Val::Int(c.updated_at)],
            "waiting_since" => vec![opt_int(c.waiting_since)],
            "snoozed_until" => vec![opt_int(c.snoozed_until)],
            "source.id" => vec![s(&c.source.id)],
            "source.type" => vec![s("conversation")],
            "source.delivered_as" => vec![s(&c.source.delivered_as)],
            "source.subject" => vec![s(&c.source.subject)],
            "source.body" => vec![s(&c.source.body)],
            "source.author.id" => vec![s(&c.source.author.id)],
            "source.author.type" => vec![s(&c.source.author.kind)],
            "source.author.email" => vec![s(&c.source.author.email)],
            "source.author.name" => vec![c.source.author.name.as_deref().map_or(Val::Null, s)],
            "ai_agent_participated" => vec![Val::Bool(false)],
            _ => return None,
        })
    }

    fn is_text(&self, field: &str) -> bool {
        field == "source.body"
    }
}
