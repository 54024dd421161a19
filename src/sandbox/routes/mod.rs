//! The REST routes the triaged client uses, behind the [`super::http::gate`]. Unknown paths and
//! methods answer 404 `not_found` as Intercom does. Handlers only read or change the workspace;
//! they never wait on the network.

mod conversations;
mod directory;
mod people;
mod writes;

use std::sync::Arc;

use axum::{
    Router, middleware,
    routing::{delete, get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Shared, error::ApiError, http};

/// Shorthand for handler state.
type S = axum::extract::State<Arc<Shared>>;

/// The REST API router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/me", get(people::me))
        .route("/admins", get(people::admins))
        .route("/admins/{id}", get(people::admin))
        .route("/teams", get(people::teams))
        .route("/conversations", get(conversations::list))
        .route("/conversations/search", post(conversations::search))
        .route("/conversations/{id}", get(conversations::retrieve))
        .route("/conversations/{id}/reply", post(writes::reply))
        .route("/conversations/{id}/parts", post(writes::manage))
        .route("/conversations/{id}/tags", post(writes::tag))
        .route("/conversations/{id}/tags/{tag_id}", delete(writes::untag))
        .route(
            "/tags",
            get(directory::list_tags).post(directory::create_tag),
        )
        .route("/tickets", post(directory::create_ticket))
        .route("/tickets/{id}", get(directory::ticket))
        .route("/ticket_types", get(directory::ticket_types))
        .route("/contacts/search", post(people::search_contacts))
        .route("/contacts/{id}", get(people::contact))
        .route("/visitors", get(people::visitor))
        .route("/companies/scroll", get(directory::scroll_companies))
        .route("/companies/{id}", get(directory::company))
        .route("/articles/search", get(directory::search_articles))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            http::count_endpoint,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), http::gate))
        .with_state(shared)
}

async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "Resource Not Found")
}

/// `pagination` in a search body, or the query parameters of a list.
#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    pub per_page: Option<u32>,
    pub starting_after: Option<String>,
}

/// Largest page Intercom serves.
const MAX_PER_PAGE: u32 = 150;

/// One page of `items` after the cursor, and the `pages` object (`next` only when more follow).
/// Cursors are opaque to clients: `sb1.<id of the last item>`.
pub fn paginate<T>(
    items: Vec<T>,
    id_of: impl Fn(&T) -> &str,
    paging: &Paging,
    default_per_page: u32,
) -> Result<(Vec<T>, usize, Value), ApiError> {
    let per_page = paging.per_page.unwrap_or(default_per_page);
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(ApiError::invalid(format!(
            "per_page must be between 1 and {MAX_PER_PAGE}"
        )));
    }
    let per_page = per_page as usize;
    let total = items.len();
    let start = match paging.starting_after.as_deref() {
        None | Some("") => 0,
        Some(cursor) => {
            let id = cursor.strip_prefix("sb1.").unwrap_or("\u{0}");
            items
                .iter()
                .position(|i| id_of(i) == id)
                .map(|p| p + 1)
                .ok_or_else(|| {
                    ApiError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "client_error",
                        "Invalid starting_after value",
                    )
                })?
        }
    };
    let page: Vec<T> = items.into_iter().skip(start).take(per_page).collect();
    let mut pages = json!({
        "type": "pages",
        "page": start / per_page + 1,
        "per_page": per_page,
        "total_pages": total.div_ceil(per_page).max(1),
    });
    if start + page.len() < total
        && let (Some(last), Some(map)) = (page.last(), pages.as_object_mut())
    {
        map.insert(
            "next".to_owned(),
            json!({"per_page": per_page, "starting_after": format!("sb1.{}", id_of(last))}),
        );
    }
    Ok((page, total, pages))
}

/// An id that may arrive as a JSON string or number.
pub fn id_field(body: &Value, name: &str) -> Option<String> {
    match body.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A string field.
pub fn str_field<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}
