//! Tickets and ticket types.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{TicketId, TicketTypeId, null_default, opt_id, unassigned};
use crate::ids::{AdminId, TeamId};

/// A ticket (`POST /tickets`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Ticket {
    /// The internal id (what `GET /tickets/{id}` takes).
    pub id: TicketId,
    /// The number shown in the Inbox.
    #[serde(default, deserialize_with = "opt_id")]
    pub ticket_id: Option<String>,
    /// `Customer`, `Back-office` or `Tracker`.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub ticket_attributes: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub ticket_state: Option<TicketState>,
    #[serde(default)]
    pub ticket_type: Option<TicketType>,
    #[serde(default, deserialize_with = "unassigned")]
    pub admin_assignee_id: Option<AdminId>,
    #[serde(default, deserialize_with = "unassigned")]
    pub team_assignee_id: Option<TeamId>,
    #[serde(default)]
    pub open: Option<bool>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub updated_at: Option<i64>,
}

/// A ticket state; `category` is `submitted|in_progress|waiting_on_customer|resolved`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TicketState {
    #[serde(deserialize_with = "opt_id")]
    pub id: Option<String>,
    pub category: Option<String>,
    pub internal_label: Option<String>,
    pub external_label: Option<String>,
}

/// A ticket type (`GET /ticket_types`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TicketType {
    pub id: TicketTypeId,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub archived: Option<bool>,
    #[serde(default, deserialize_with = "null_default")]
    pub ticket_type_attributes: TicketTypeAttributes,
    #[serde(default, deserialize_with = "null_default")]
    pub ticket_states: TicketStateList,
}

/// The 2.16 schema (`SPEC#ticket_type_attribute_list`) puts the attributes under
/// `{type:"ticket_type_attributes.list", ticket_type_attributes:[attribute]}`; the spec's own
/// `listTicketTypes` example puts them under `{type:"list", data:[attribute]}`. Both are read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TicketTypeAttributes {
    #[serde(deserialize_with = "null_default", alias = "ticket_type_attributes")]
    pub data: Vec<TicketTypeAttribute>,
}

/// One attribute a ticket of this type carries.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TicketTypeAttribute {
    #[serde(deserialize_with = "opt_id")]
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub data_type: Option<String>,
    pub required_to_create: Option<bool>,
    pub visible_on_create: Option<bool>,
    /// Type-specific options (list choices, multiline…): open-ended.
    pub input_options: Option<serde_json::Value>,
}

/// `{type:"list", data:[ticket_state]}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TicketStateList {
    #[serde(deserialize_with = "null_default")]
    pub data: Vec<TicketState>,
}

/// `{type:"list", data:[ticket_type]}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TicketTypeList {
    #[serde(deserialize_with = "null_default")]
    pub data: Vec<TicketType>,
}
