//! A walk over every schema in a JSON Schema document, for the rewrites that
//! providers' schema dialects need (closing objects, dropping markers).

use serde_json::{Map, Value};

/// Calls `visit` on each schema object in `node`, a parent before its
/// subschemas: it recurses through keywords that hold schemas and the values
/// of name-to-schema maps, never into keywords whose values are data.
pub(crate) fn each_schema<F>(node: &mut Value, visit: &mut F)
where
    F: FnMut(&mut Map<String, Value>),
{
    match node {
        Value::Object(map) => {
            visit(map);
            for (key, value) in map.iter_mut() {
                match key.as_str() {
                    // Name-to-schema maps: their keys are names, not keywords.
                    "properties" | "patternProperties" | "$defs" | "definitions"
                    | "dependentSchemas" => {
                        if let Value::Object(named) = value {
                            named.values_mut().for_each(|v| each_schema(v, visit));
                        }
                    }
                    // Data, not schemas (`example` is OpenAPI's).
                    "enum" | "const" | "default" | "examples" | "example" | "required" => {}
                    _ => each_schema(value, visit),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| each_schema(v, visit)),
        _ => {}
    }
}
