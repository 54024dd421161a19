//! Shapes shared by list responses: cursor pages and `{type, id}` references.

use serde::Deserialize;

use super::null_default;

/// `pages` of a list or search response. The next cursor is `next.starting_after`; when `next`
/// is absent there are no more results (API_FACTS §5).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Pages {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
    pub total_pages: Option<i64>,
    pub next: Option<Next>,
}

impl Pages {
    /// The cursor for the next page, if there is one.
    pub fn next_cursor(&self) -> Option<&str> {
        match &self.next {
            Some(Next::Cursor { starting_after, .. }) => starting_after.as_deref(),
            _ => None,
        }
    }
}

/// `pages.next`: a cursor object on cursor-paged endpoints, a URL on the older page-numbered ones.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Next {
    Cursor {
        #[serde(default)]
        per_page: Option<i64>,
        #[serde(default)]
        starting_after: Option<String>,
    },
    Url(String),
}

/// A `{type, id}` pointer to another object (`assigned_to`, `applied_by`, a contact's tags…).
/// `id` may be `null` (an unassignment is `{type:"nobody_admin", id:null}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Reference {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "super::opt_id")]
    pub id: Option<String>,
    pub name: Option<String>,
}

/// `{type:"list", data:[{type, id}], total_count, has_more}` as embedded in a contact.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RefList {
    #[serde(deserialize_with = "null_default")]
    pub data: Vec<Reference>,
    pub total_count: Option<i64>,
    pub has_more: Option<bool>,
}
