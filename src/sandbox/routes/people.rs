//! People: the bot admin (`/me`), admins, teams, contacts (retrieve with the merged-contact 410,
//! search) and visitors. Read-only.
//!
//! Contact search compares dates as Unix seconds; Intercom compares them by calendar day in the
//! workspace's timezone (API_FACTS §5), which the sandbox does not simulate.

use axum::{
    Json,
    body::Bytes,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Paging, S, paginate};
use crate::sandbox::{
    error::{ApiError, parse_body},
    extract::{Ids, Params},
    lock,
    model::Contact,
    render,
    search::{self, Fields, Val},
};

/// `GET /me`: the bot admin with its app.
pub async fn me(state: S) -> Result<Json<Value>, ApiError> {
    let ws = lock(&state.ws);
    let bot = ws.bot().ok_or_else(ApiError::unauthorized)?;
    Ok(Json(render::admin_with_app(&ws, bot)))
}

/// `GET /admins`.
pub async fn admins(state: S) -> Json<Value> {
    let ws = lock(&state.ws);
    let admins: Vec<Value> = ws.admins.iter().map(render::admin).collect();
    Json(json!({"type": "admin.list", "admins": admins}))
}

/// `GET /admins/{id}`.
pub async fn admin(state: S, Ids(id): Ids<String>) -> Result<Json<Value>, ApiError> {
    let ws = lock(&state.ws);
    ws.admin(&id)
        .map(|a| Json(render::admin(a)))
        .ok_or_else(|| ApiError::not_found("admin_not_found", "Admin not found"))
}

/// `GET /teams`.
pub async fn teams(state: S) -> Json<Value> {
    let ws = lock(&state.ws);
    let teams: Vec<Value> = ws.teams.iter().map(render::team).collect();
    Json(json!({"type": "team.list", "teams": teams}))
}

/// How many merges a `Link` follows (Intercom resolves chains of up to 3 hops).
const MAX_MERGE_HOPS: usize = 3;

/// `GET /contacts/{id}`; a merged contact answers 410 `contact_merged` with
/// `Link: </contacts/{canonical}>; rel="canonical"`.
pub async fn contact(state: S, Ids(id): Ids<String>) -> Result<Response, ApiError> {
    let ws = lock(&state.ws);
    let c = ws
        .contact(&id)
        .ok_or_else(|| ApiError::not_found("not_found", "User Not Found"))?;
    let Some(mut canonical) = c.merged_into.clone() else {
        return Ok(Json(render::contact(&ws, c)).into_response());
    };
    for _ in 1..MAX_MERGE_HOPS {
        match ws.contact(&canonical).and_then(|c| c.merged_into.clone()) {
            Some(next) => canonical = next,
            None => break,
        }
    }
    let mut response = ApiError::new(
        StatusCode::GONE,
        "contact_merged",
        "Contact has been merged into another contact",
    )
    .into_response();
    if let Ok(link) = HeaderValue::from_str(&format!("</contacts/{canonical}>; rel=\"canonical\""))
    {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
struct ContactSearch {
    query: Option<Value>,
    pagination: Option<Paging>,
    sort: Option<Sort>,
}

#[derive(Debug, Deserialize)]
struct Sort {
    field: String,
    order: Option<String>,
}

/// `POST /contacts/search` (merged-away contacts are left out, as Intercom does).
pub async fn search_contacts(state: S, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: ContactSearch = parse_body(&body)?;
    let query = body.query.ok_or_else(|| ApiError::missing("query"))?;
    let ws = lock(&state.ws);
    let mut found: Vec<&Contact> = Vec::new();
    for c in ws.contacts.iter().filter(|c| c.merged_into.is_none()) {
        if search::matches(&query, &ContactFields(c)).map_err(ApiError::invalid)? {
            found.push(c);
        }
    }
    if let Some(sort) = body.sort {
        let descending = match sort.order.as_deref() {
            None | Some("ascending") => false,
            Some("descending") => true,
            Some(other) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_sort_order",
                    format!("sort order {other:?} must be ascending or descending"),
                ));
            }
        };
        let key = |c: &Contact| {
            ContactFields(c)
                .values(&sort.field)
                .and_then(|v| v.into_iter().next())
        };
        found.sort_by(|a, b| {
            let ord = sort_key(key(a)).cmp(&sort_key(key(b)));
            if descending { ord.reverse() } else { ord }
        });
    }
    let paging = body.pagination.unwrap_or_default();
    let (page, total, pages) = paginate(found, |c| c.id.as_str(), &paging, 50)?;
    let data: Vec<Value> = page.iter().map(|c| render::contact(&ws, c)).collect();
    Ok(Json(
        json!({"type": "list", "data": data, "total_count": total, "pages": pages}),
    ))
}

/// Orders missing values first, then numbers by value, then text case-insensitively.
fn sort_key(v: Option<Val>) -> (u8, i64, String) {
    match v {
        None | Some(Val::Null) => (0, 0, String::new()),
        Some(Val::Bool(b)) => (1, i64::from(b), String::new()),
        Some(Val::Int(i)) => (2, i, String::new()),
        Some(Val::Str(s)) => (3, 0, s.to_lowercase()),
    }
}

struct ContactFields<'a>(&'a Contact);

impl Fields for ContactFields<'_> {
    fn values(&self, field: &str) -> Option<Vec<Val>> {
        let c = self.0;
        let s = |v: &str| Val::Str(v.to_owned());
        let opt = |v: &Option<String>| v.as_deref().map_or(Val::Null, s);
        if let Some(name) = field.strip_prefix("custom_attributes.") {
            return Some(vec![match c.custom_attributes.get(name) {
                Some(Value::String(v)) => s(v),
                Some(Value::Number(n)) => n.as_i64().map_or(Val::Str(n.to_string()), Val::Int),
                Some(Value::Bool(b)) => Val::Bool(*b),
                _ => Val::Null,
            }]);
        }
        Some(match field {
            "id" => vec![s(&c.id)],
            "external_id" => vec![opt(&c.external_id)],
            "role" => vec![s(&c.role)],
            "email" => vec![s(&c.email)],
            "email_domain" => vec![s(c.email.split_once('@').map_or("", |(_, d)| d))],
            "name" => vec![opt(&c.name)],
            "phone" => vec![opt(&c.phone)],
            "created_at" | "updated_at" | "signed_up_at" => vec![Val::Int(c.created_at)],
            "tag_id" => c.tag_ids.iter().map(|t| s(t)).collect(),
            "company_id" | "companies.id" => c.company_ids.iter().map(|t| s(t)).collect(),
            _ => return None,
        })
    }

    fn is_text(&self, _field: &str) -> bool {
        false
    }
}

#[derive(Debug, Deserialize)]
pub struct VisitorQuery {
    user_id: Option<String>,
}

/// `GET /visitors?user_id=` (there is no `GET /visitors/{id}` in 2.16).
pub async fn visitor(state: S, Params(q): Params<VisitorQuery>) -> Result<Json<Value>, ApiError> {
    let user_id = q
        .user_id
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::missing("user_id"))?;
    let ws = lock(&state.ws);
    ws.visitors
        .iter()
        .find(|v| v.user_id == user_id)
        .map(|v| Json(render::visitor(v)))
        .ok_or_else(|| ApiError::not_found("not_found", "Visitor Not Found"))
}
