//! Help-center articles (`GET /articles/search`).

use serde::Deserialize;

use super::{ArticleId, Pages, null_default, opt_id};

/// An article.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Article {
    pub id: ArticleId,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// HTML.
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    /// `published` or `draft`.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    pub author_id: Option<String>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub updated_at: Option<i64>,
}

/// `{type:"list", total_count, data:{articles, highlights}, pages}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ArticleSearch {
    pub total_count: Option<i64>,
    #[serde(deserialize_with = "null_default")]
    pub data: ArticleSearchData,
    #[serde(deserialize_with = "null_default")]
    pub pages: Pages,
}

/// The `data` of an article search.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ArticleSearchData {
    #[serde(deserialize_with = "null_default")]
    pub articles: Vec<Article>,
    #[serde(deserialize_with = "null_default")]
    pub highlights: Vec<ArticleHighlight>,
}

/// A search highlight; the highlighted title and summary are kept as returned (structured).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ArticleHighlight {
    #[serde(deserialize_with = "opt_id")]
    pub article_id: Option<String>,
    pub highlighted_title: Option<serde_json::Value>,
    pub highlighted_summary: Option<serde_json::Value>,
}
