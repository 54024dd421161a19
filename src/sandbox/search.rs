//! The search query language of `POST /conversations/search` and `POST /contacts/search`
//! (API_FACTS §5): filters `{field, operator, value}` and groups `{operator: AND|OR, value: [...]}`,
//! at most 2 levels of nesting and 15 filters per group.
//!
//! Pure: a [`Fields`] implementation says what values a record has for a field; this module decides
//! whether it matches. `source.body` matches single words (a multi-word value never matches), as
//! Intercom does; `>` and `<` are inclusive for conversations (the spec says "greater (or equal)").

use serde_json::Value;

use super::text::words;

/// One value a record has for a field.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Int(i64),
    Bool(bool),
    Null,
}

/// Field access for a searchable record.
pub trait Fields {
    /// The values of `field` (several for list fields such as `tag_ids`), or `None` when the field
    /// is not searchable.
    fn values(&self, field: &str) -> Option<Vec<Val>>;
    /// Fields matched word by word (e.g. `source.body`).
    fn is_text(&self, field: &str) -> bool;
}

const MAX_FILTERS: usize = 15;
const MAX_DEPTH: usize = 2;

/// Whether `record` matches `query`; `Err` is a message for a 400 answer.
pub fn matches(query: &Value, record: &dyn Fields) -> Result<bool, String> {
    eval(query, record, 0)
}

fn eval(q: &Value, record: &dyn Fields, depth: usize) -> Result<bool, String> {
    let op = q
        .get("operator")
        .and_then(Value::as_str)
        .ok_or("each query needs an operator")?;
    if op == "AND" || op == "OR" {
        if depth >= MAX_DEPTH {
            return Err(format!("queries may nest at most {MAX_DEPTH} levels"));
        }
        let items = q
            .get("value")
            .and_then(Value::as_array)
            .ok_or("AND/OR needs a value array")?;
        if items.len() > MAX_FILTERS {
            return Err(format!("at most {MAX_FILTERS} filters per AND/OR group"));
        }
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            results.push(eval(item, record, depth + 1)?);
        }
        return Ok(if op == "AND" {
            results.iter().all(|r| *r)
        } else {
            results.iter().any(|r| *r)
        });
    }
    let field = q
        .get("field")
        .and_then(Value::as_str)
        .ok_or("a filter needs a field")?;
    let value = q.get("value").ok_or("a filter needs a value")?;
    let have = record
        .values(field)
        .ok_or_else(|| format!("field {field:?} is not searchable in the sandbox"))?;
    if record.is_text(field) {
        return text_match(op, value, &have);
    }
    let wanted: Vec<Val> = match (op, value) {
        ("IN" | "NIN", Value::Array(list)) => list.iter().map(to_val).collect(),
        ("IN" | "NIN", _) => return Err(format!("{op} takes an array")),
        (_, Value::Array(_)) => return Err(format!("{op} takes a single value")),
        _ => vec![to_val(value)],
    };
    let any = |f: &dyn Fn(&Val, &Val) -> bool| have.iter().any(|h| wanted.iter().any(|w| f(h, w)));
    let ok = match op {
        "=" | "IN" => any(&|h, w| equal(h, w)),
        "!=" | "NIN" => !any(&|h, w| equal(h, w)),
        ">" | ">=" => any(&|h, w| int(h).zip(int(w)).is_some_and(|(h, w)| h >= w)),
        "<" | "<=" => any(&|h, w| int(h).zip(int(w)).is_some_and(|(h, w)| h <= w)),
        "~" => any(&|h, w| {
            str_of(h)
                .zip(str_of(w))
                .is_some_and(|(h, w)| h.contains(&w))
        }),
        "!~" => !any(&|h, w| {
            str_of(h)
                .zip(str_of(w))
                .is_some_and(|(h, w)| h.contains(&w))
        }),
        "^" => any(&|h, w| {
            str_of(h)
                .zip(str_of(w))
                .is_some_and(|(h, w)| h.starts_with(&w))
        }),
        "$" => any(&|h, w| {
            str_of(h)
                .zip(str_of(w))
                .is_some_and(|(h, w)| h.ends_with(&w))
        }),
        other => return Err(format!("unknown operator {other:?}")),
    };
    Ok(ok)
}

/// Single-word matching for text fields: `=` and `~` find a word, `!=`/`!~` its absence.
fn text_match(op: &str, value: &Value, have: &[Val]) -> Result<bool, String> {
    let needle = value
        .as_str()
        .ok_or("text fields take a string")?
        .trim()
        .to_lowercase();
    let single = words(&needle).count() == 1;
    let found = single
        && have.iter().any(|h| match h {
            Val::Str(text) => words(text).any(|w| w == needle),
            _ => false,
        });
    match op {
        "=" | "~" => Ok(found),
        "!=" | "!~" => Ok(!found),
        other => Err(format!(
            "operator {other:?} is not supported on text fields"
        )),
    }
}

fn to_val(v: &Value) -> Val {
    match v {
        Value::String(s) => Val::Str(s.clone()),
        Value::Number(n) => n.as_i64().map_or(Val::Str(n.to_string()), Val::Int),
        Value::Bool(b) => Val::Bool(*b),
        _ => Val::Null,
    }
}

fn int(v: &Val) -> Option<i64> {
    match v {
        Val::Int(i) => Some(*i),
        Val::Str(s) => s.parse().ok(),
        _ => None,
    }
}

fn str_of(v: &Val) -> Option<String> {
    match v {
        Val::Str(s) => Some(s.to_lowercase()),
        Val::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Ids come as strings or numbers, booleans as `true` or `"true"`: compare loosely.
fn equal(h: &Val, w: &Val) -> bool {
    match (h, w) {
        (Val::Null, Val::Null) => true,
        (Val::Bool(a), Val::Bool(b)) => a == b,
        (Val::Bool(a), Val::Str(s)) | (Val::Str(s), Val::Bool(a)) => {
            s == if *a { "true" } else { "false" }
        }
        (Val::Int(a), Val::Int(b)) => a == b,
        (Val::Null, _) | (_, Val::Null) | (Val::Bool(_), _) | (_, Val::Bool(_)) => false,
        _ => str_of(h).zip(str_of(w)).is_some_and(|(a, b)| a == b),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct Rec;

    impl Fields for Rec {
        fn values(&self, field: &str) -> Option<Vec<Val>> {
            Some(match field {
                "id" => vec![Val::Str("42".into())],
                "state" => vec![Val::Str("open".into())],
                "open" => vec![Val::Bool(true)],
                "tag_ids" => vec![Val::Str("7".into()), Val::Str("8".into())],
                "created_at" => vec![Val::Int(1000)],
                "source.body" => vec![Val::Str("<p>I need support with checkout</p>".into())],
                _ => return None,
            })
        }
        fn is_text(&self, field: &str) -> bool {
            field == "source.body"
        }
    }

    fn m(q: serde_json::Value) -> Result<bool, String> {
        matches(&q, &Rec)
    }

    #[test]
    fn single_filters_compare_ids_loosely_and_dates_inclusively() {
        assert_eq!(
            m(json!({"field": "id", "operator": "=", "value": 42})),
            Ok(true)
        );
        assert_eq!(
            m(json!({"field": "open", "operator": "=", "value": true})),
            Ok(true)
        );
        assert_eq!(
            m(json!({"field": "tag_ids", "operator": "IN", "value": ["1", "8"]})),
            Ok(true)
        );
        assert_eq!(
            m(json!({"field": "tag_ids", "operator": "NIN", "value": ["8"]})),
            Ok(false)
        );
        assert_eq!(
            m(json!({"field": "created_at", "operator": ">", "value": 1000})),
            Ok(true)
        );
        assert_eq!(
            m(json!({"field": "created_at", "operator": "<", "value": 999})),
            Ok(false)
        );
    }

    #[test]
    fn source_body_matches_single_words_only() {
        assert_eq!(
            m(json!({"field": "source.body", "operator": "~", "value": "Support"})),
            Ok(true)
        );
        assert_eq!(
            m(json!({"field": "source.body", "operator": "=", "value": "checkout"})),
            Ok(true)
        );
        assert_eq!(
            m(json!({"field": "source.body", "operator": "~", "value": "need support"})),
            Ok(false)
        );
        assert_eq!(
            m(json!({"field": "source.body", "operator": "~", "value": "supp"})),
            Ok(false)
        );
    }

    #[test]
    fn groups_combine_and_limits_are_enforced() {
        let q = json!({"operator": "AND", "value": [
            {"field": "state", "operator": "=", "value": "open"},
            {"operator": "OR", "value": [
                {"field": "tag_ids", "operator": "=", "value": "99"},
                {"field": "id", "operator": "=", "value": "42"}]}]});
        assert_eq!(m(q), Ok(true));
        let too_deep = json!({"operator": "AND", "value": [{"operator": "OR", "value": [
            {"operator": "AND", "value": [{"field": "id", "operator": "=", "value": "1"}]}]}]});
        assert!(m(too_deep).is_err());
        let many: Vec<_> = (0..16)
            .map(|_| json!({"field": "id", "operator": "=", "value": "42"}))
            .collect();
        assert!(m(json!({"operator": "OR", "value": many})).is_err());
        assert!(m(json!({"field": "nope", "operator": "=", "value": 1})).is_err());
    }
}
