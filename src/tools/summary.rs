//! One-line summaries of tool input schemas, for error messages: the model (or a person at
//! `tools call`) learns which fields exist, their types and which are required, without a page of
//! JSON Schema pasted onto the line. Pure.

use serde_json::Value;

/// `an object with `conversation_id` (string, required), `body` (string, required)`, or `no
/// arguments ({})`.
pub fn schema_summary(schema: &Value) -> String {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let fields: Vec<String> = schema["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(name, p)| {
                    let need = if required.contains(&name.as_str()) {
                        ", required"
                    } else {
                        ""
                    };
                    format!("`{name}` ({}{need})", type_of(p))
                })
                .collect()
        })
        .unwrap_or_default();
    if fields.is_empty() {
        "no arguments ({})".to_owned()
    } else {
        format!("an object with {}", fields.join(", "))
    }
}

/// A field's type in words: `string`, `integer`, `one of "open", "closed"`, `list of string`.
fn type_of(p: &Value) -> String {
    if let Some(values) = p["enum"].as_array() {
        let values: Vec<String> = values.iter().map(Value::to_string).collect();
        return format!("one of {}", values.join(", "));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alternatives) = p[key].as_array() {
            let types: Vec<String> = alternatives
                .iter()
                .filter(|a| a["type"] != "null")
                .map(type_of)
                .collect();
            return types.join(" or ");
        }
    }
    match &p["type"] {
        Value::String(t) if t == "array" => format!("list of {}", type_of(&p["items"])),
        Value::String(t) => t.clone(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ if p.get("properties").is_some() => "object".to_owned(),
        _ => "any value".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_schema_is_summarised_as_its_fields_types_and_required_marks() {
        let schema = json!({
            "type": "object",
            "properties": {
                "conversation_id": {"type": "string"},
                "state": {"enum": ["open", "closed"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "limit": {"type": ["integer", "null"]}
            },
            "required": ["conversation_id"]
        });
        assert_eq!(
            schema_summary(&schema),
            "an object with `conversation_id` (string, required), `limit` (integer), `state` \
             (one of \"open\", \"closed\"), `tags` (list of string)"
        );
        assert_eq!(
            schema_summary(&json!({"type": "object", "properties": {}})),
            "no arguments ({})"
        );
    }

    #[test]
    fn every_tool_schema_summarises_to_one_short_line_without_schema_keywords() {
        for tool in super::super::ALL {
            let line = schema_summary(&tool.input_schema());
            assert!(
                !line.contains('\n') && line.len() < 600,
                "{}: {line}",
                tool.as_str()
            );
            assert!(!line.contains("additionalProperties"), "{line}");
            assert!(!line.contains("any value"), "{}: {line}", tool.as_str());
        }
    }
}
