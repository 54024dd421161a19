//! The seed file's format: what a workspace YAML may say. Unknown fields are refused so a typo
//! never silently drops data. Types only; [`super::load`] builds the workspace from them.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeedFile {
    pub(super) app_name: String,
    pub(super) admins: Vec<SeedAdmin>,
    #[serde(default)]
    pub(super) teams: Vec<SeedTeam>,
    #[serde(default)]
    pub(super) companies: Vec<SeedCompany>,
    #[serde(default)]
    pub(super) contacts: Vec<SeedContact>,
    #[serde(default)]
    pub(super) visitors: Vec<SeedVisitor>,
    #[serde(default)]
    pub(super) tags: Vec<SeedTag>,
    #[serde(default)]
    pub(super) ticket_types: Vec<SeedTicketType>,
    #[serde(default)]
    pub(super) conversations: Vec<SeedConversation>,
    #[serde(default)]
    pub(super) articles: Vec<SeedArticle>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeedAdmin {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) email: String,
    #[serde(default)]
    pub(super) job_title: String,
    #[serde(default)]
    pub(super) bot: bool,
    #[serde(default)]
    pub(super) away: bool,
    #[serde(default)]
    pub(super) team_ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeedTeam {
    pub(super) id: String,
    pub(super) name: String,
    #[serde(default)]
    pub(super) admin_ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeedCompany {
    pub(super) id: String,
    pub(super) company_id: String,
    pub(super) name: String,
    pub(super) plan: Option<String>,
    #[serde(default)]
    pub(super) size: i64,
    #[serde(default)]
    pub(super) website: String,
    #[serde(default)]
    pub(super) industry: String,
    #[serde(default)]
    pub(super) monthly_spend: i64,
    #[serde(default)]
    pub(super) custom_attributes: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeedContact {
    pub(super) id: String,
    pub(super) external_id: Option<String>,
    pub(super) role: String,
    pub(super) name: Option<String>,
    pub(super) email: String,
    pub(super) phone: Option<String>,
    #[serde(default)]
    pub(super) custom_attributes: Map<String, Value>,
    #[serde(default)]
    pub(super) companies: Vec<String>,
    #[serde(default)]
    pub(super) tags: Vec<String>,
    pub(super) merged_into: Option<String>,
    #[serde(default)]
    pub(super) minutes_ago: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeedVisitor {
    pub(super) id: String,
    pub(super) user_id: String,
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) email: String,
    #[serde(default)]
    pub(super) minutes_ago: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeedTag {
    pub(super) id: String,
    pub(super) name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeedTicketType {
    pub(super) id: String,
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) icon: String,
    pub(super) category: String,
    pub(super) attributes: Vec<SeedTicketAttribute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeedTicketAttribute {
    pub(super) id: String,
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default = "string_type")]
    pub(super) data_type: String,
    #[serde(default)]
    pub(super) required_to_create: bool,
    #[serde(default)]
    pub(super) default: bool,
}

pub(super) fn string_type() -> String {
    "string".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeedConversation {
    pub(super) id: String,
    pub(super) contact: String,
    pub(super) minutes_ago: i64,
    pub(super) body: String,
    pub(super) title: Option<String>,
    #[serde(default)]
    pub(super) subject: String,
    pub(super) state: Option<String>,
    pub(super) admin_assignee: Option<String>,
    pub(super) team_assignee: Option<String>,
    #[serde(default)]
    pub(super) tags: Vec<String>,
    #[serde(default)]
    pub(super) parts: Vec<SeedPart>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeedPart {
    pub(super) contact: Option<String>,
    pub(super) admin: Option<String>,
    pub(super) minutes_ago: i64,
    pub(super) body: Option<String>,
    /// Part type; `comment` by default.
    #[serde(rename = "type")]
    pub(super) part_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SeedArticle {
    pub(super) id: String,
    pub(super) title: String,
    #[serde(default)]
    pub(super) description: String,
    pub(super) author: String,
    pub(super) body: String,
}
