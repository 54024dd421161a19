//! Admins (teammates and bots), the current admin (`/me`) and teams.

use serde::Deserialize;

use super::null_default;
use crate::ids::{AdminId, TeamId};

/// An admin from `GET /admins`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Admin {
    pub id: AdminId,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub away_mode_enabled: Option<bool>,
    #[serde(default)]
    pub away_mode_reassign: Option<bool>,
    /// Whether the admin has a paid inbox seat (some features need one).
    #[serde(default)]
    pub has_inbox_seat: Option<bool>,
    #[serde(default, deserialize_with = "null_default")]
    pub team_ids: Vec<TeamId>,
}

/// `{type:"admin.list", admins:[…]}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AdminList {
    #[serde(deserialize_with = "null_default")]
    pub admins: Vec<Admin>,
}

/// `GET /me`: the admin owning the token, with its workspace.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AdminWithApp {
    pub id: AdminId,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub has_inbox_seat: Option<bool>,
    #[serde(default)]
    pub app: Option<App>,
}

/// The workspace (`app`) of `/me`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct App {
    /// The workspace id (e.g. `a86dr8yl`).
    pub id_code: Option<String>,
    pub name: Option<String>,
    /// `US`, `EU` or `AU`.
    pub region: Option<String>,
    pub timezone: Option<String>,
    pub created_at: Option<i64>,
}

/// A team from `GET /teams`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Team {
    pub id: TeamId,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub admin_ids: Vec<AdminId>,
}

/// `{type:"team.list", teams:[…]}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TeamList {
    #[serde(deserialize_with = "null_default")]
    pub teams: Vec<Team>,
}
