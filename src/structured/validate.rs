//! A small JSON Schema validator for model answers (ADR 0016).
//!
//! It checks the keywords a schema for structured output is made of — `type`,
//! `enum`, `const`, `properties`, `required`, `additionalProperties`,
//! `items`, `prefixItems`, `minItems`/`maxItems`, `minLength`/`maxLength`,
//! `minimum`/`maximum` and their exclusive forms, `anyOf`/`oneOf`/`allOf`/`not`
//! and local `$ref`s (`#/$defs/...`, `#/definitions/...`, `#`). Keywords it
//! does not know (`pattern`, `format`, …) are accepted without a check: a
//! validator here only decides whether to ask the model again, so a missed
//! check costs a bad value the caller still sees, never a lost good one.

use serde_json::{Map, Value};

/// The deepest `$ref` chain followed before giving up (a schema that refers to
/// itself without consuming input would otherwise never end).
const MAX_DEPTH: usize = 64;

/// Checks `value` against `schema`. The error names the first place that does
/// not fit, as a JSON pointer (`/items/0/price`), and what was expected.
pub(crate) fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    let mut path = Vec::new();
    check(schema, schema, value, &mut path, 0).map_err(|message| {
        let at = if path.is_empty() {
            "the top level".to_owned()
        } else {
            format!("/{}", path.join("/"))
        };
        format!("at {at}: {message}")
    })
}

fn check(
    root: &Value,
    schema: &Value,
    value: &Value,
    path: &mut Vec<String>,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("the schema nests references too deeply to check".to_owned());
    }
    let node = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err("no value is allowed here".to_owned()),
        Value::Object(node) => node,
        // A malformed schema constrains nothing we can check.
        _ => return Ok(()),
    };
    if let Some(Value::String(reference)) = node.get("$ref") {
        let target = resolve(root, reference)
            .ok_or_else(|| format!("the schema's reference {reference:?} cannot be resolved"))?;
        check(root, target, value, path, depth + 1)?;
    }
    if let Some(ty) = node.get("type") {
        check_type(ty, value)?;
    }
    if let Some(Value::Array(allowed)) = node.get("enum") {
        if !allowed.iter().any(|a| same(a, value)) {
            return Err(format!(
                "expected one of {}, got {}",
                Value::Array(allowed.clone()),
                short(value)
            ));
        }
    }
    if let Some(expected) = node.get("const") {
        if !same(expected, value) {
            return Err(format!("expected {expected}, got {}", short(value)));
        }
    }
    for (key, value_of) in [("allOf", true), ("anyOf", false)] {
        if let Some(Value::Array(schemas)) = node.get(key) {
            check_combination(root, schemas, value, path, depth, value_of)?;
        }
    }
    if let Some(Value::Array(schemas)) = node.get("oneOf") {
        let matching = schemas
            .iter()
            .filter(|s| check(root, s, value, &mut Vec::new(), depth + 1).is_ok())
            .count();
        if matching != 1 {
            return Err(format!(
                "expected exactly one of the `oneOf` alternatives to match, {matching} do"
            ));
        }
    }
    if let Some(not) = node.get("not") {
        if check(root, not, value, &mut Vec::new(), depth + 1).is_ok() {
            return Err("the value matches a schema it must not match (`not`)".to_owned());
        }
    }
    match value {
        Value::Object(object) => check_object(root, node, object, path, depth),
        Value::Array(items) => check_array(root, node, items, path, depth),
        Value::String(text) => check_string(node, text),
        Value::Number(_) => check_number(node, value),
        _ => Ok(()),
    }
}

fn check_combination(
    root: &Value,
    schemas: &[Value],
    value: &Value,
    path: &mut Vec<String>,
    depth: usize,
    all: bool,
) -> Result<(), String> {
    if all {
        return schemas
            .iter()
            .try_for_each(|s| check(root, s, value, path, depth + 1));
    }
    let mut first_error = None;
    for schema in schemas {
        match check(root, schema, value, &mut Vec::new(), depth + 1) {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(match first_error {
        Some(e) => format!("the value matches none of the `anyOf` alternatives (first: {e})"),
        None => "the value matches none of the `anyOf` alternatives".to_owned(),
    })
}

fn check_type(ty: &Value, value: &Value) -> Result<(), String> {
    let names: Vec<&str> = match ty {
        Value::String(name) => vec![name.as_str()],
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    if names.iter().any(|name| is_type(name, value)) {
        return Ok(());
    }
    Err(format!(
        "expected {}, got {}",
        names.join(" or "),
        type_name(value)
    ))
}

fn is_type(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => match value {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        // An unknown type name constrains nothing we can check.
        _ => true,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn check_object(
    root: &Value,
    node: &Map<String, Value>,
    object: &Map<String, Value>,
    path: &mut Vec<String>,
    depth: usize,
) -> Result<(), String> {
    if let Some(Value::Array(required)) = node.get("required") {
        let missing: Vec<&str> = required
            .iter()
            .filter_map(Value::as_str)
            .filter(|name| !object.contains_key(*name))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "missing required propert{} {}",
                if missing.len() == 1 { "y" } else { "ies" },
                missing
                    .iter()
                    .map(|m| format!("{m:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let properties = node.get("properties").and_then(Value::as_object);
    for (name, item) in object {
        let schema = match properties.and_then(|p| p.get(name)) {
            Some(schema) => schema,
            None => match node.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    return Err(format!("unexpected property {name:?}"));
                }
                Some(schema) => schema,
                None => continue,
            },
        };
        path.push(escape(name));
        check(root, schema, item, path, depth + 1)?;
        path.pop();
    }
    Ok(())
}

fn check_array(
    root: &Value,
    node: &Map<String, Value>,
    items: &[Value],
    path: &mut Vec<String>,
    depth: usize,
) -> Result<(), String> {
    if let Some(min) = node.get("minItems").and_then(Value::as_u64) {
        if (items.len() as u64) < min {
            return Err(format!(
                "expected at least {min} items, got {}",
                items.len()
            ));
        }
    }
    if let Some(max) = node.get("maxItems").and_then(Value::as_u64) {
        if items.len() as u64 > max {
            return Err(format!("expected at most {max} items, got {}", items.len()));
        }
    }
    let prefix = node
        .get("prefixItems")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for (i, item) in items.iter().enumerate() {
        let schema = match prefix.get(i) {
            Some(schema) => schema,
            None => match node.get("items") {
                Some(schema) => schema,
                None => continue,
            },
        };
        path.push(i.to_string());
        check(root, schema, item, path, depth + 1)?;
        path.pop();
    }
    Ok(())
}

fn check_string(node: &Map<String, Value>, text: &str) -> Result<(), String> {
    let length = text.chars().count() as u64;
    if let Some(min) = node.get("minLength").and_then(Value::as_u64) {
        if length < min {
            return Err(format!("expected at least {min} characters, got {length}"));
        }
    }
    if let Some(max) = node.get("maxLength").and_then(Value::as_u64) {
        if length > max {
            return Err(format!("expected at most {max} characters, got {length}"));
        }
    }
    Ok(())
}

fn check_number(node: &Map<String, Value>, value: &Value) -> Result<(), String> {
    let Some(n) = value.as_f64() else {
        return Ok(());
    };
    let bound = |key: &str| node.get(key).and_then(Value::as_f64);
    if let Some(min) = bound("minimum") {
        if n < min {
            return Err(format!("expected at least {min}, got {value}"));
        }
    }
    if let Some(max) = bound("maximum") {
        if n > max {
            return Err(format!("expected at most {max}, got {value}"));
        }
    }
    if let Some(min) = bound("exclusiveMinimum") {
        if n <= min {
            return Err(format!("expected more than {min}, got {value}"));
        }
    }
    if let Some(max) = bound("exclusiveMaximum") {
        if n >= max {
            return Err(format!("expected less than {max}, got {value}"));
        }
    }
    Ok(())
}

/// Resolves a local reference: `#` or a JSON pointer after `#`.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    let decoded = percent_encoding::percent_decode_str(pointer)
        .decode_utf8()
        .ok()?;
    root.pointer(&decoded)
}

/// JSON equality where numbers compare by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// A value for an error message, cut short when long.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// A property name as a JSON pointer segment.
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order_schema() -> Value {
        json!({
            "$defs": {"Item": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "price": {"type": "number", "minimum": 0},
                    "quantity": {"type": "integer"}
                },
                "required": ["name", "price", "quantity"],
                "additionalProperties": false
            }},
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 1},
                "currency": {"enum": ["EUR", "USD"]},
                "note": {"type": ["string", "null"]}
            },
            "required": ["items", "currency"]
        })
    }

    #[test]
    fn a_fitting_value_passes() {
        let value = json!({
            "items": [{"name": "tea", "price": 5.5, "quantity": 2}],
            "currency": "EUR",
            "note": null,
            "extra": true
        });
        assert_eq!(validate(&order_schema(), &value), Ok(()));
    }

    #[test]
    fn errors_name_the_place_and_the_expectation() {
        let schema = order_schema();
        let cases = [
            (
                json!({"items": []}),
                "at the top level: missing required property \"currency\"",
            ),
            (
                json!({"items": [], "currency": "EUR"}),
                "at /items: expected at least 1 items, got 0",
            ),
            (
                json!({"items": [{"name": "tea", "price": "5", "quantity": 2}], "currency": "EUR"}),
                "at /items/0/price: expected number, got a string",
            ),
            (
                json!({"items": [{"name": "tea", "price": 5, "quantity": 2.5}], "currency": "EUR"}),
                "at /items/0/quantity: expected integer, got a number",
            ),
            (
                json!({"items": [{"name": "tea", "price": 5, "quantity": 2, "x": 1}], "currency": "EUR"}),
                "at /items/0: unexpected property \"x\"",
            ),
            (
                json!({"items": [{"name": "tea", "price": -1, "quantity": 2}], "currency": "EUR"}),
                "at /items/0/price: expected at least 0, got -1",
            ),
            (
                json!({"items": [{"name": "", "price": 1, "quantity": 2}], "currency": "EUR"}),
                "at /items/0/name: expected at least 1 characters, got 0",
            ),
            (
                json!({"items": [{"name": "a", "price": 1, "quantity": 2}], "currency": "GBP"}),
                "at /currency: expected one of [\"EUR\",\"USD\"], got \"GBP\"",
            ),
            (
                json!([1]),
                "at the top level: expected object, got an array",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(
                validate(&schema, &value),
                Err(expected.to_owned()),
                "{value}"
            );
        }
    }

    #[test]
    fn combinators_and_booleans() {
        let schema = json!({"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 2}]});
        assert!(validate(&schema, &json!(3)).is_ok());
        assert!(validate(&schema, &json!("ab")).is_ok());
        assert!(validate(&schema, &json!("abc")).is_err());
        let one = json!({"oneOf": [{"type": "number"}, {"type": "integer"}]});
        assert!(validate(&one, &json!(1.5)).is_ok());
        assert!(validate(&one, &json!(1)).is_err());
        assert!(validate(&json!({"not": {"type": "null"}}), &json!(null)).is_err());
        assert!(validate(&json!(true), &json!({"any": 1})).is_ok());
        assert!(validate(&json!(false), &json!(1)).is_err());
        assert!(validate(&json!({"const": 1}), &json!(1.0)).is_ok());
        let tuple = json!({"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "integer"}});
        assert!(validate(&tuple, &json!(["a", 1, 2])).is_ok());
        assert!(validate(&tuple, &json!([1])).is_err());
    }

    #[test]
    fn a_self_referring_schema_ends() {
        let schema = json!({"$ref": "#"});
        assert!(validate(&schema, &json!(1)).is_err());
        let missing = json!({"$ref": "#/$defs/Nope"});
        assert!(
            validate(&missing, &json!(1))
                .unwrap_err()
                .contains("cannot be resolved")
        );
        let tree = json!({
            "type": "object",
            "properties": {"children": {"type": "array", "items": {"$ref": "#"}}}
        });
        assert!(validate(&tree, &json!({"children": [{"children": []}]})).is_ok());
        assert!(validate(&tree, &json!({"children": [{"children": 1}]})).is_err());
    }
}
