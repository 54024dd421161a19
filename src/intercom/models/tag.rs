//! Tags: `GET /tags`, `POST /tags`, and the tags embedded in conversations.

use serde::Deserialize;

use super::{Reference, TagId, null_default};

/// A tag. `applied_at`/`applied_by` are set when it is embedded in a tagged object.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tag {
    pub id: TagId,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub applied_at: Option<i64>,
    #[serde(default)]
    pub applied_by: Option<Reference>,
}

/// `{type:"tag.list", tags:[…]}` (in conversations) or `{type:"list", data:[…]}` (`GET /tags`):
/// both shapes land here.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TagList {
    #[serde(deserialize_with = "null_default", alias = "data")]
    pub tags: Vec<Tag>,
}
