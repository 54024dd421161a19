//! Workspace objects other than conversations and people: tags, tickets and ticket types,
//! companies (retrieve and scroll) and help-center article search.
//!
//! The scroll errors' codes are not documented by Intercom (UNVERIFIED): a second scroll answers
//! 400 `scroll_exists`, an expired or finished `scroll_param` 400 `parameter_invalid`.

use axum::{Json, body::Bytes, http::StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{S, id_field, str_field};
use crate::sandbox::{
    error::{ApiError, parse_body, uuid_like},
    extract::{Ids, Params},
    lock,
    model::{Contact, Tag, Ticket},
    render,
    scroll::ScrollError,
    text::words,
};

/// `GET /tags`.
pub async fn list_tags(state: S) -> Json<Value> {
    let ws = lock(&state.ws);
    let data: Vec<Value> = ws.tags.iter().map(render::tag).collect();
    Json(json!({"type": "list", "data": data}))
}

/// `POST /tags {name}`: creates the tag, or returns the one with that name (case-insensitive).
pub async fn create_tag(state: S, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: Value = parse_body(&body)?;
    let name = str_field(&body, "name")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::missing("name"))?;
    let mut ws = lock(&state.ws);
    if let Some(tag) = ws.tags.iter().find(|t| t.name.eq_ignore_ascii_case(name)) {
        return Ok(Json(render::tag(tag)));
    }
    let tag = Tag {
        id: ws.new_id(),
        name: name.to_owned(),
    };
    let out = render::tag(&tag);
    ws.tags.push(tag);
    Ok(Json(out))
}

/// `POST /tickets`.
pub async fn create_ticket(state: S, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: Value = parse_body(&body)?;
    let type_id =
        id_field(&body, "ticket_type_id").ok_or_else(|| ApiError::missing("ticket_type_id"))?;
    let contacts = body
        .get("contacts")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::missing("contacts"))?;
    let [contact_ref] = contacts.as_slice() else {
        return Err(ApiError::invalid("contacts must hold exactly one contact"));
    };
    let attributes: Map<String, Value> = match body.get("ticket_attributes") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(ApiError::invalid("ticket_attributes must be an object")),
    };
    let now = state.clock.now();
    let mut ws = lock(&state.ws);
    let ticket_type = ws
        .ticket_type(&type_id)
        .cloned()
        .ok_or_else(|| ApiError::invalid(format!("ticket_type_id {type_id} does not exist")))?;
    for name in attributes.keys() {
        if !ticket_type.attributes.iter().any(|a| &a.name == name) {
            return Err(ApiError::invalid(format!(
                "ticket attribute {name:?} does not exist on ticket type {}",
                ticket_type.name
            )));
        }
    }
    if let Some(missing) = ticket_type
        .attributes
        .iter()
        .find(|a| a.required_to_create && attributes.get(&a.name).is_none_or(Value::is_null))
    {
        return Err(ApiError::invalid(format!(
            "ticket attribute {:?} is required",
            missing.name
        )));
    }
    let contact_id = if let Some(id) = id_field(contact_ref, "id") {
        ws.contact(&id).map(|c| c.id.clone())
    } else if let Some(ext) = id_field(contact_ref, "external_id") {
        ws.contacts
            .iter()
            .find(|c| c.external_id.as_deref() == Some(ext.as_str()))
            .map(|c| c.id.clone())
    } else if let Some(email) = str_field(contact_ref, "email") {
        // An unknown email creates a contact.
        let existing = ws
            .contacts
            .iter()
            .find(|c| c.email.eq_ignore_ascii_case(email))
            .map(|c| c.id.clone());
        Some(existing.unwrap_or_else(|| {
            let id = format!("6762f1261bb69f9f2{:07}", ws.new_id());
            ws.contacts.push(Contact {
                id: id.clone(),
                external_id: None,
                role: "lead".to_owned(),
                email: email.to_owned(),
                name: None,
                phone: None,
                custom_attributes: Map::new(),
                company_ids: Vec::new(),
                tag_ids: Vec::new(),
                created_at: now,
                merged_into: None,
            });
            id
        }))
    } else {
        return Err(ApiError::invalid(
            "each contact needs id, external_id or email",
        ));
    };
    let contact_id =
        contact_id.ok_or_else(|| ApiError::not_found("not_found", "User Not Found"))?;
    let link = id_field(&body, "conversation_to_link_id");
    if let Some(cid) = &link
        && ws.conversation(cid).is_none()
    {
        return Err(ApiError::not_found("not_found", "Conversation not found"));
    }
    let id = ws.new_id();
    let ticket_id = (ws.tickets.len() + 1).to_string();
    if let Some(conv) = link.as_deref().and_then(|cid| ws.conversation_mut(cid)) {
        conv.linked_ticket_ids.push(id.clone());
        conv.updated_at = now;
    }
    let ticket = Ticket {
        id,
        ticket_id,
        ticket_type_id: type_id,
        contact_ids: vec![contact_id],
        attributes,
        linked_conversation_ids: link.into_iter().collect(),
        created_at: now,
    };
    let out = render::ticket(&ws, &ticket);
    ws.tickets.push(ticket);
    Ok(Json(out))
}

/// `GET /tickets/{id}` (the internal `id`, not `ticket_id`).
pub async fn ticket(state: S, Ids(id): Ids<String>) -> Result<Json<Value>, ApiError> {
    let ws = lock(&state.ws);
    ws.tickets
        .iter()
        .find(|t| t.id == id)
        .map(|t| Json(render::ticket(&ws, t)))
        .ok_or_else(|| ApiError::not_found("ticket_not_found", "Ticket not found"))
}

/// `GET /ticket_types`.
pub async fn ticket_types(state: S) -> Json<Value> {
    let ws = lock(&state.ws);
    let data: Vec<Value> = ws.ticket_types.iter().map(render::ticket_type).collect();
    Json(json!({"type": "list", "data": data}))
}

/// `GET /companies/{id}` (Intercom's id, not `company_id`).
pub async fn company(state: S, Ids(id): Ids<String>) -> Result<Json<Value>, ApiError> {
    let ws = lock(&state.ws);
    ws.company(&id)
        .map(|c| Json(render::company(&ws, c)))
        .ok_or_else(|| ApiError::not_found("company_not_found", "Company Not Found"))
}

#[derive(Debug, Deserialize)]
pub struct ScrollQuery {
    scroll_param: Option<String>,
}

/// `GET /companies/scroll[?scroll_param=]`.
pub async fn scroll_companies(
    state: S,
    Params(q): Params<ScrollQuery>,
) -> Result<Json<Value>, ApiError> {
    let ws = lock(&state.ws);
    let now_ms = state.clock.now_ms();
    let param = q.scroll_param.filter(|p| !p.is_empty());
    let result = lock(&state.scrolls).next(param.as_deref(), ws.companies.len(), now_ms, uuid_like);
    let (range, param) = result.map_err(|e| match e {
        ScrollError::AlreadyOpen => ApiError::new(
            StatusCode::BAD_REQUEST,
            "scroll_exists",
            "A scroll is already open for this app: continue it with its scroll_param, or wait for it to expire",
        ),
        ScrollError::Expired => ApiError::invalid("scroll_param is expired, finished or unknown: restart the scroll"),
    })?;
    let data: Vec<Value> = ws.companies[range]
        .iter()
        .map(|c| render::company(&ws, c))
        .collect();
    Ok(Json(
        json!({"type": "list", "data": data, "pages": null, "total_count": null, "scroll_param": param}),
    ))
}

#[derive(Debug, Deserialize)]
pub struct ArticleQuery {
    phrase: Option<String>,
    state: Option<String>,
    /// Accepted (the spec lists it) and ignored: the sandbox has one help center.
    #[expect(
        dead_code,
        reason = "parsed so a malformed value is refused as Intercom does"
    )]
    help_center_id: Option<i64>,
    /// Accepted and ignored: highlights are always empty here.
    #[expect(
        dead_code,
        reason = "parsed so a malformed value is refused as Intercom does"
    )]
    highlight: Option<bool>,
}

/// `GET /articles/search[?phrase=&state=&help_center_id=&highlight=]`: articles sharing words (3+
/// letters) with the phrase, best first; every article without a phrase. Every seeded article is published.
pub async fn search_articles(
    state: S,
    Params(q): Params<ArticleQuery>,
) -> Result<Json<Value>, ApiError> {
    // `phrase` is optional in the spec: without one, every article matches.
    let phrase = q.phrase.unwrap_or_default();
    let wanted: Vec<String> = words(&phrase).filter(|w| w.chars().count() >= 3).collect();
    let ws = lock(&state.ws);
    let published = !matches!(q.state.as_deref(), Some("draft"));
    let mut scored: Vec<(usize, Value)> = ws
        .articles
        .iter()
        .filter(|_| published)
        .filter_map(|a| {
            let text: Vec<String> = words(&a.title).chain(words(&a.body)).collect();
            let score = wanted
                .iter()
                .filter(|w| text.iter().any(|t| t.starts_with(w.as_str())))
                .count();
            (score > 0 || wanted.is_empty()).then(|| (score, render::article(a)))
        })
        .collect();
    scored.sort_by_key(|s| std::cmp::Reverse(s.0));
    let articles: Vec<Value> = scored.into_iter().map(|(_, a)| a).collect();
    Ok(Json(json!({
        "type": "list",
        "total_count": articles.len(),
        "data": {"articles": articles, "highlights": []},
        "pages": {"type": "pages", "page": 1, "per_page": 10, "total_pages": 1},
    })))
}
