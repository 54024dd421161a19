//! Contacts (users and leads) and visitors.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Pages, RefList, TagList, null_default, opt_id, unassigned};
use crate::ids::{AdminId, ContactId};

/// A contact (`GET /contacts/{id}`, `POST /contacts/search`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Contact {
    pub id: ContactId,
    #[serde(default, deserialize_with = "opt_id")]
    pub external_id: Option<String>,
    #[serde(default)]
    pub workspace_id: Option<String>,
    /// `user` or `lead`.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// A string in 2.16, an integer in 2.15; `None` when unowned.
    #[serde(default, deserialize_with = "unassigned")]
    pub owner_id: Option<AdminId>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub updated_at: Option<i64>,
    #[serde(default)]
    pub signed_up_at: Option<i64>,
    #[serde(default)]
    pub last_seen_at: Option<i64>,
    #[serde(default)]
    pub last_replied_at: Option<i64>,
    #[serde(default)]
    pub language_override: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub location: Location,
    #[serde(default, deserialize_with = "null_default")]
    pub custom_attributes: BTreeMap<String, serde_json::Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub tags: RefList,
    #[serde(default, deserialize_with = "null_default")]
    pub companies: RefList,
}

/// Where a contact was last seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Location {
    pub country: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub country_code: Option<String>,
}

/// `{type:"list", data:[contact], total_count, pages}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ContactList {
    #[serde(deserialize_with = "null_default")]
    pub data: Vec<Contact>,
    pub total_count: Option<i64>,
    #[serde(deserialize_with = "null_default")]
    pub pages: Pages,
}

/// A visitor (`GET /visitors?user_id=`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Visitor {
    #[serde(deserialize_with = "crate::ids::string_or_number")]
    pub id: String,
    #[serde(default, deserialize_with = "opt_id")]
    pub user_id: Option<String>,
    #[serde(default)]
    pub anonymous: Option<bool>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub pseudonym: Option<String>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub last_request_at: Option<i64>,
    #[serde(default, deserialize_with = "null_default")]
    pub tags: TagList,
    #[serde(default, deserialize_with = "null_default")]
    pub custom_attributes: BTreeMap<String, serde_json::Value>,
}
