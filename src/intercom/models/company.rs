//! Companies (`GET /companies/{id}`, `GET /companies/scroll`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{CompanyId, TagList, null_default, opt_id};

/// A company.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Company {
    /// Intercom's id (the one `GET /companies/{id}` takes).
    pub id: CompanyId,
    /// The workspace's own id for the company.
    #[serde(default, deserialize_with = "opt_id")]
    pub company_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub website: Option<String>,
    #[serde(default)]
    pub industry: Option<String>,
    #[serde(default)]
    pub size: Option<i64>,
    #[serde(default)]
    pub monthly_spend: Option<f64>,
    #[serde(default)]
    pub session_count: Option<i64>,
    #[serde(default)]
    pub user_count: Option<i64>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub updated_at: Option<i64>,
    #[serde(default)]
    pub last_request_at: Option<i64>,
    #[serde(default, deserialize_with = "null_default")]
    pub plan: CompanyPlan,
    #[serde(default, deserialize_with = "null_default")]
    pub tags: TagList,
    #[serde(default, deserialize_with = "null_default")]
    pub custom_attributes: BTreeMap<String, serde_json::Value>,
}

/// The company's plan; `{}` when it has none.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CompanyPlan {
    #[serde(deserialize_with = "opt_id")]
    pub id: Option<String>,
    pub name: Option<String>,
}

/// One page of `GET /companies/scroll`. An empty `data` is the end of the scroll.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CompanyScrollPage {
    #[serde(deserialize_with = "null_default")]
    pub data: Vec<Company>,
    pub scroll_param: Option<String>,
}
