//! Contract tests: bodies checked against the official Intercom 2.16 OpenAPI spec
//! (`../shared/intercom/api.intercom.io.2.16.yaml`).
//!
//! The spec is OpenAPI 3.0: `nullable: true` and `$ref: '#/components/schemas/…'` (whose siblings
//! are ignored). [`translate`] turns it into JSON Schema 2020-12: every nullable schema becomes
//! `anyOf: [schema, {type: null}]`, refs point into `$defs`. [`validate_response`] and
//! [`validate_request`] are the reusable helpers (the client's request bodies are checked with the
//! latter).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use serde_json::{Map, Value, json};

/// The spec, parsed once per test binary, and the validators built so far.
struct Spec {
    paths: Value,
    defs: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/intercom/api.intercom.io.2.16.yaml"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let options = serde_saphyr::options! {
            budget: serde_saphyr::budget! { max_nodes: 5_000_000, max_events: 20_000_000 },
        };
        let doc: Value = serde_saphyr::from_str_with_options(&text, options)
            .unwrap_or_else(|e| panic!("parsing the spec: {e}"));
        let schemas = doc["components"]["schemas"]
            .as_object()
            .expect("components.schemas");
        let defs: Map<String, Value> = schemas
            .iter()
            .map(|(k, v)| (k.clone(), translate(v)))
            .collect();
        Spec {
            paths: doc["paths"].clone(),
            defs: Value::Object(defs),
            validators: Mutex::new(HashMap::new()),
        }
    })
}

/// OpenAPI 3.0 schema → JSON Schema 2020-12.
pub fn translate(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let nullable = map.get("nullable") == Some(&Value::Bool(true));
    let inner = if let Some(Value::String(r)) = map.get("$ref") {
        json!({ "$ref": r.replace("#/components/schemas/", "#/$defs/") })
    } else {
        let mut out = Map::new();
        for (key, value) in map {
            let translated = match key.as_str() {
                "nullable" | "example" | "examples" | "description" | "discriminator" | "xml"
                | "externalDocs" => continue,
                k if k.starts_with("x-") => continue,
                "properties" | "patternProperties" => Value::Object(
                    value
                        .as_object()
                        .map(|props| {
                            props
                                .iter()
                                .map(|(k, v)| (k.clone(), translate(v)))
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                "items" | "not" | "additionalProperties" => translate(value),
                "allOf" | "anyOf" | "oneOf" => Value::Array(
                    value
                        .as_array()
                        .map(|list| list.iter().map(translate).collect())
                        .unwrap_or_default(),
                ),
                _ => value.clone(),
            };
            out.insert(key.clone(), translated);
        }
        Value::Object(out)
    };
    if nullable {
        json!({ "anyOf": [inner, {"type": "null"}] })
    } else {
        inner
    }
}

fn validator(key: String, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
    let spec = spec();
    if let Some(v) = spec.validators.lock().unwrap().get(&key) {
        return Ok(v.clone());
    }
    let mut root = translate(schema);
    let wrapped = if root.get("$ref").is_some() || root.get("anyOf").is_some() {
        json!({ "allOf": [root.take()] })
    } else {
        root
    };
    let mut wrapped = wrapped;
    wrapped["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    wrapped["$defs"] = spec.defs.clone();
    let built = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&wrapped)
        .map_err(|e| format!("{key}: the translated schema does not compile: {e}"))?;
    let built = Arc::new(built);
    spec.validators.lock().unwrap().insert(key, built.clone());
    Ok(built)
}

fn operation<'a>(op_path: &str, method: &str) -> Result<&'a Value, String> {
    let op = &spec().paths[op_path][method.to_ascii_lowercase()];
    if op.is_null() {
        return Err(format!("the spec has no {method} {op_path}"));
    }
    Ok(op)
}

fn check(key: String, schema: &Value, body: &Value) -> Result<(), String> {
    let v = validator(key.clone(), schema)?;
    let errors: Vec<String> = v
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{key}: {}", errors.join("; ")))
    }
}

/// Validates `body` against the response schema of `method op_path` (spec path, e.g.
/// `/conversations/{conversation_id}`) for `status`.
pub fn validate_response(
    op_path: &str,
    method: &str,
    status: u16,
    body: &Value,
) -> Result<(), String> {
    let op = operation(op_path, method)?;
    let schema = &op["responses"][status.to_string()]["content"]["application/json"]["schema"];
    if schema.is_null() {
        return Err(format!(
            "the spec has no {status} JSON schema for {method} {op_path}"
        ));
    }
    check(format!("{method} {op_path} -> {status}"), schema, body)
}

/// The spec path template a concrete URL path falls under (`/companies/scroll` wins over
/// `/companies/{company_id}`: the template with the most literal segments).
pub fn spec_path_for(url_path: &str) -> Option<String> {
    let path = url_path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').collect();
    let paths = spec().paths.as_object()?;
    paths
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literal = 0;
            for (t, s) in parts.iter().zip(&segments) {
                if t.starts_with('{') && t.ends_with('}') {
                    if s.is_empty() {
                        return None;
                    }
                } else if t == s {
                    literal += 1;
                } else {
                    return None;
                }
            }
            Some((literal, template.clone()))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, template)| template)
}

/// Validates whatever the sandbox answered to `method url_path` when the spec documents a JSON
/// schema for that status. The spec leaves out many error statuses (e.g. 400 and 429) and has no
/// unknown paths: those are skipped, and checked as `error.list` by the tests themselves.
pub fn validate_served(
    method: &str,
    url_path: &str,
    status: u16,
    body: &Value,
) -> Result<(), String> {
    // Paths and methods the spec lacks (a test's deliberate 404) have no schema to meet.
    let Some(template) = spec_path_for(url_path) else {
        return Ok(());
    };
    let Ok(op) = operation(&template, method) else {
        return Ok(());
    };
    let schema = &op["responses"][status.to_string()]["content"]["application/json"]["schema"];
    if schema.is_null() {
        return Ok(());
    }
    check(format!("{method} {template} -> {status}"), schema, body)
}

/// Validates a request body against the request schema of `method op_path`.
pub fn validate_request(op_path: &str, method: &str, body: &Value) -> Result<(), String> {
    let op = operation(op_path, method)?;
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    if schema.is_null() {
        return Err(format!(
            "the spec has no JSON request schema for {method} {op_path}"
        ));
    }
    check(format!("{method} {op_path} request"), schema, body)
}

mod checks;
