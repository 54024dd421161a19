//! Search queries for `POST /conversations/search` and `POST /contacts/search` (API_FACTS §5),
//! checked against the documented limits before anything is sent: at most 2 levels of nesting
//! and at most 15 filters per AND/OR group; `IN`/`NIN` take arrays.

use serde::Serialize;

/// The most group levels a query may have (a group inside a group).
pub const MAX_NESTING: usize = 2;

/// The most entries one AND/OR group may hold.
pub const MAX_FILTERS_PER_GROUP: usize = 15;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Operator {
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "IN")]
    In,
    #[serde(rename = "NIN")]
    Nin,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    /// Contains.
    #[serde(rename = "~")]
    Contains,
    #[serde(rename = "!~")]
    NotContains,
    #[serde(rename = "^")]
    StartsWith,
    #[serde(rename = "$")]
    EndsWith,
}

/// How a group combines its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum GroupOperator {
    #[serde(rename = "AND")]
    And,
    #[serde(rename = "OR")]
    Or,
}

/// A query: one filter or a group of queries.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SearchQuery {
    Filter {
        field: String,
        operator: Operator,
        /// A string, number, boolean or (for `IN`/`NIN`) an array of them.
        value: serde_json::Value,
    },
    Group {
        operator: GroupOperator,
        value: Vec<SearchQuery>,
    },
}

/// Why a query was refused before sending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("search query nests {depth} levels of groups; Intercom allows at most {MAX_NESTING}")]
    TooDeep { depth: usize },
    #[error("a search group has {count} entries; Intercom allows at most {MAX_FILTERS_PER_GROUP}")]
    TooManyFilters { count: usize },
    #[error("a search group is empty")]
    EmptyGroup,
    #[error("operator IN/NIN on {field:?} needs an array value")]
    NotAnArray { field: String },
}

impl SearchQuery {
    /// `field operator value`.
    pub fn filter(
        field: impl Into<String>,
        operator: Operator,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        Self::Filter {
            field: field.into(),
            operator,
            value: value.into(),
        }
    }

    /// `field = value`.
    pub fn eq(field: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        Self::filter(field, Operator::Eq, value)
    }

    /// All of `queries`.
    pub fn and(queries: impl IntoIterator<Item = SearchQuery>) -> Self {
        Self::Group {
            operator: GroupOperator::And,
            value: queries.into_iter().collect(),
        }
    }

    /// Any of `queries`.
    pub fn or(queries: impl IntoIterator<Item = SearchQuery>) -> Self {
        Self::Group {
            operator: GroupOperator::Or,
            value: queries.into_iter().collect(),
        }
    }

    /// Group levels: 0 for a lone filter, 1 for a group of filters, 2 for a group of groups.
    pub fn depth(&self) -> usize {
        match self {
            Self::Filter { .. } => 0,
            Self::Group { value, .. } => 1 + value.iter().map(Self::depth).max().unwrap_or(0),
        }
    }

    /// Checks the documented limits.
    pub fn validate(&self) -> Result<(), QueryError> {
        let depth = self.depth();
        if depth > MAX_NESTING {
            return Err(QueryError::TooDeep { depth });
        }
        self.validate_entries()
    }

    /// The same query in the shape the 2.16 schema accepts (`SPEC#multiple_filter_search_request`:
    /// a group's `value` is an array of filters *or* an array of groups, never both). A filter
    /// beside a group is wrapped in a one-filter group with the parent's operator, which means the
    /// same. Only a top-level group can mix within the 2-level limit, so a query that passed
    /// [`Self::validate`] stays within it.
    pub fn normalized(&self) -> Self {
        let Self::Group { operator, value } = self else {
            return self.clone();
        };
        let value: Vec<SearchQuery> = value.iter().map(Self::normalized).collect();
        let has_group = value.iter().any(|q| matches!(q, Self::Group { .. }));
        let has_filter = value.iter().any(|q| matches!(q, Self::Filter { .. }));
        let value = if has_group && has_filter {
            value
                .into_iter()
                .map(|q| match q {
                    filter @ Self::Filter { .. } => Self::Group {
                        operator: *operator,
                        value: vec![filter],
                    },
                    group => group,
                })
                .collect()
        } else {
            value
        };
        Self::Group {
            operator: *operator,
            value,
        }
    }

    fn validate_entries(&self) -> Result<(), QueryError> {
        match self {
            Self::Filter {
                field,
                operator,
                value,
            } => match operator {
                Operator::In | Operator::Nin if !value.is_array() => Err(QueryError::NotAnArray {
                    field: field.clone(),
                }),
                _ => Ok(()),
            },
            Self::Group { value, .. } => {
                if value.is_empty() {
                    return Err(QueryError::EmptyGroup);
                }
                if value.len() > MAX_FILTERS_PER_GROUP {
                    return Err(QueryError::TooManyFilters { count: value.len() });
                }
                value.iter().try_for_each(Self::validate_entries)
            }
        }
    }
}

/// `pagination` of a search body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pagination {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_after: Option<String>,
}

/// Sort order of a contact search: the full words are required (`asc` is a 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Ascending,
    Descending,
}

/// `sort` of a contact search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sort {
    pub field: String,
    pub order: SortOrder,
}

/// The body of a search request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchRequest {
    pub query: SearchQuery,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
    /// Contact search only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<Sort>,
}

impl SearchRequest {
    /// A first page of results for `query`.
    pub fn new(query: SearchQuery) -> Self {
        Self {
            query,
            pagination: None,
            sort: None,
        }
    }

    /// Checks the query's documented limits and returns the body to send (query
    /// [`SearchQuery::normalized`]).
    pub fn for_wire(&self) -> Result<Self, QueryError> {
        self.query.validate()?;
        Ok(Self {
            query: self.query.normalized(),
            ..self.clone()
        })
    }

    /// Sets the page size and the cursor from the previous page's `pages.next.starting_after`.
    pub fn page(mut self, per_page: Option<u32>, starting_after: Option<String>) -> Self {
        self.pagination = Some(Pagination {
            per_page,
            starting_after,
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_nested_query_serializes_in_intercom_syntax() {
        let q = SearchQuery::and([
            SearchQuery::eq("open", true),
            SearchQuery::or([
                SearchQuery::filter("tag_ids", Operator::In, json!(["1", "2"])),
                SearchQuery::filter("created_at", Operator::Gt, 1_700_000_000),
            ]),
        ]);
        assert_eq!(q.validate(), Ok(()));
        let body = SearchRequest::new(q).page(Some(50), Some("cursor".into()));
        assert_eq!(
            serde_json::to_value(&body).unwrap_or_else(|e| panic!("{e}")),
            json!({
                "query": {"operator": "AND", "value": [
                    {"field": "open", "operator": "=", "value": true},
                    {"operator": "OR", "value": [
                        {"field": "tag_ids", "operator": "IN", "value": ["1", "2"]},
                        {"field": "created_at", "operator": ">", "value": 1700000000}
                    ]}
                ]},
                "pagination": {"per_page": 50, "starting_after": "cursor"}
            })
        );
    }

    #[test]
    fn a_filter_beside_a_group_is_wrapped_so_each_group_holds_one_kind() {
        let q = SearchQuery::and([
            SearchQuery::eq("open", true),
            SearchQuery::or([
                SearchQuery::eq("state", "open"),
                SearchQuery::eq("read", false),
            ]),
        ]);
        let wire = SearchRequest::new(q)
            .for_wire()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(wire.query.validate(), Ok(()));
        assert_eq!(
            serde_json::to_value(&wire.query).unwrap_or_else(|e| panic!("{e}")),
            json!({"operator": "AND", "value": [
                {"operator": "AND", "value": [{"field": "open", "operator": "=", "value": true}]},
                {"operator": "OR", "value": [
                    {"field": "state", "operator": "=", "value": "open"},
                    {"field": "read", "operator": "=", "value": false}
                ]}
            ]})
        );
        let plain = SearchQuery::or([SearchQuery::eq("id", "1"), SearchQuery::eq("id", "2")]);
        assert_eq!(
            plain.normalized(),
            plain,
            "a group of filters is left alone"
        );
    }

    #[test]
    fn three_levels_of_groups_are_refused() {
        let q = SearchQuery::and([SearchQuery::or([SearchQuery::and([SearchQuery::eq(
            "open", true,
        )])])]);
        assert_eq!(q.validate(), Err(QueryError::TooDeep { depth: 3 }));
    }

    #[test]
    fn sixteen_filters_in_one_group_are_refused_and_fifteen_pass() {
        let filters = |n: usize| (0..n).map(|i| SearchQuery::eq("id", i.to_string()));
        assert_eq!(SearchQuery::or(filters(15)).validate(), Ok(()));
        assert_eq!(
            SearchQuery::or(filters(16)).validate(),
            Err(QueryError::TooManyFilters { count: 16 })
        );
        let nested = SearchQuery::and([SearchQuery::or(filters(16))]);
        assert_eq!(
            nested.validate(),
            Err(QueryError::TooManyFilters { count: 16 })
        );
    }

    #[test]
    fn in_without_an_array_and_empty_groups_are_refused() {
        assert!(matches!(
            SearchQuery::filter("state", Operator::In, "open").validate(),
            Err(QueryError::NotAnArray { .. })
        ));
        assert_eq!(SearchQuery::and([]).validate(), Err(QueryError::EmptyGroup));
    }

    #[test]
    fn contact_sort_uses_the_full_words() {
        let sort = Sort {
            field: "created_at".into(),
            order: SortOrder::Descending,
        };
        assert_eq!(
            serde_json::to_value(&sort).unwrap_or_else(|e| panic!("{e}")),
            json!({"field": "created_at", "order": "descending"})
        );
    }
}
