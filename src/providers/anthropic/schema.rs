//! Making a JSON schema acceptable to structured outputs
//! (`output_config.format`), the way Anthropic's SDKs do before sending one
//! (anthropic-sdk-python `lib/_parse/_transform.py`, and the "JSON Schema
//! limitations" of the structured outputs guide):
//!
//! - every object gets `"additionalProperties": false` (the API answers 400
//!   "For 'object' type, 'additionalProperties' must be explicitly set to
//!   false" otherwise) and `properties`;
//! - `oneOf` becomes `anyOf`; `$defs`/`definitions`, `anyOf`, `allOf`,
//!   `properties` and `items` are made strict in turn;
//! - keywords the API does not support (`minimum`, `maxLength`, a `minItems`
//!   other than 0 or 1, an unknown string `format`, …) are moved into the
//!   `description`, so the model may still follow them.

use serde_json::{Map, Value};

/// The string formats structured outputs support.
const STRING_FORMATS: &[&str] = &[
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "uri",
    "ipv4",
    "ipv6",
    "uuid",
];

/// Keywords kept as they are, wherever they appear.
const KEPT: &[&str] = &["type", "enum", "const", "default", "description", "title"];

/// `schema`, strict. Anything but an object (`true`, a malformed value) is
/// returned as is.
pub(super) fn strict(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(strict_object(map)),
        other => other.clone(),
    }
}

fn strict_object(input: &Map<String, Value>) -> Map<String, Value> {
    let mut rest = input.clone();
    let mut out = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(defs) = rest.remove(key) {
            let defs = match defs {
                Value::Object(defs) => Value::Object(
                    defs.iter()
                        .map(|(name, schema)| (name.clone(), strict(schema)))
                        .collect(),
                ),
                other => other,
            };
            out.insert(key.to_owned(), defs);
        }
    }
    if let Some(reference) = rest.remove("$ref") {
        out.insert("$ref".to_owned(), reference);
        return out;
    }
    for (from, to) in [("anyOf", "anyOf"), ("oneOf", "anyOf"), ("allOf", "allOf")] {
        if let Some(Value::Array(variants)) = rest.get(from) {
            let variants = variants.iter().map(strict).collect();
            rest.remove(from);
            out.insert(to.to_owned(), Value::Array(variants));
        }
    }
    for key in KEPT {
        if let Some(value) = rest.remove(*key) {
            out.insert((*key).to_owned(), value);
        }
    }
    let ty = out.get("type").cloned();
    let is = |name: &str| match &ty {
        Some(Value::String(t)) => t == name,
        Some(Value::Array(types)) => types.iter().any(|t| t.as_str() == Some(name)),
        _ => false,
    };
    if is("object") || (ty.is_none() && rest.contains_key("properties")) {
        let properties = match rest.remove("properties") {
            Some(Value::Object(props)) => props
                .iter()
                .map(|(name, schema)| (name.clone(), strict(schema)))
                .collect(),
            _ => Map::new(),
        };
        out.insert("properties".to_owned(), Value::Object(properties));
        rest.remove("additionalProperties");
        out.insert("additionalProperties".to_owned(), Value::Bool(false));
        if let Some(required) = rest.remove("required") {
            out.insert("required".to_owned(), required);
        }
    }
    if is("string") {
        let supported = rest
            .get("format")
            .and_then(Value::as_str)
            .is_some_and(|f| STRING_FORMATS.contains(&f));
        if supported {
            if let Some(format) = rest.remove("format") {
                out.insert("format".to_owned(), format);
            }
        }
    }
    if is("array") {
        match rest.remove("items") {
            Some(Value::Array(items)) => {
                out.insert(
                    "items".to_owned(),
                    Value::Array(items.iter().map(strict).collect()),
                );
            }
            Some(items) => {
                out.insert("items".to_owned(), strict(&items));
            }
            None => {}
        }
        let min_items_ok = rest
            .get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|n| n <= 1);
        if min_items_ok {
            if let Some(min) = rest.remove("minItems") {
                out.insert("minItems".to_owned(), min);
            }
        }
    }
    // What is left is not supported: say it in the description instead.
    if !rest.is_empty() {
        let extra = rest
            .iter()
            .map(|(key, value)| format!("{key}: {value}"))
            .collect::<Vec<_>>()
            .join(", ");
        let description = match out.get("description").and_then(Value::as_str) {
            Some(text) => format!("{text}\n\n{{{extra}}}"),
            None => format!("{{{extra}}}"),
        };
        out.insert("description".to_owned(), Value::String(description));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn objects_get_additional_properties_false_and_unsupported_keywords_move_to_the_description() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "format": "email"},
                "age": {"type": "integer", "minimum": 0, "description": "Years"},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                "pet": {"oneOf": [
                    {"type": "object", "properties": {"kind": {"const": "cat"}}},
                    {"type": "null"}
                ]},
                "free": {"type": "object", "additionalProperties": true}
            },
            "required": ["name"]
        });
        assert_eq!(
            strict(&schema),
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "format": "email", "description": "{minLength: 1}"},
                    "age": {"type": "integer", "description": "Years\n\n{minimum: 0}"},
                    "tags": {"type": "array", "items": {"type": "string"}, "description": "{minItems: 2}"},
                    "pet": {"anyOf": [
                        {"type": "object", "properties": {"kind": {"const": "cat"}}, "additionalProperties": false},
                        {"type": "null"}
                    ]},
                    "free": {"type": "object", "properties": {}, "additionalProperties": false}
                },
                "additionalProperties": false,
                "required": ["name"]
            })
        );
    }

    #[test]
    fn strict_schemas_pass_unchanged() {
        let schema = json!({
            "$defs": {"Item": {"type": "object", "title": "Item",
                "properties": {"n": {"type": "integer", "title": "N"}},
                "additionalProperties": false, "required": ["n"]}},
            "type": "object",
            "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 1}},
            "additionalProperties": false,
            "required": ["items"]
        });
        assert_eq!(strict(&schema), schema);
        let list = json!({"type": "array", "items": {"type": "integer"}});
        assert_eq!(strict(&list), list);
        assert_eq!(strict(&json!(true)), json!(true));
    }
}
