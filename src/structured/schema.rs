//! JSON schemas from Rust types ([`schemars`]), and typed tools built on them.

use std::fmt;
use std::future::Future;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::walk::each_schema;
use crate::{Tool, Toolbox};

/// The JSON schema of `T`, as structured output and typed tools send it.
///
/// JSON Schema 2020-12 for deserialization, without the `$schema` marker,
/// shaped so that providers with a strict mode can enforce it: every object
/// with `properties` is closed (`"additionalProperties": false`, unless the
/// type says otherwise) and a property that accepts `null` (an `Option`) is
/// listed in `required`, so the model writes `null` rather than leaving it out.
/// Deserializing is unaffected: serde reads `null` as `None`.
///
/// ```
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct City { name: String, population: Option<u64> }
///
/// let schema = majordomo::schema_for::<City>();
/// assert_eq!(schema["title"], "City");
/// assert_eq!(schema["additionalProperties"], false);
/// assert_eq!(schema["required"], serde_json::json!(["name", "population"]));
/// ```
pub fn schema_for<T: JsonSchema + ?Sized>() -> Value {
    let mut settings = SchemaSettings::draft2020_12().for_deserialize();
    settings.meta_schema = None;
    let mut schema = settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    close_objects(&mut schema);
    schema
}

/// The `format` values JSON Schema 2020-12 defines. schemars adds others
/// (`double`, `int32`, `uint64`, …) that describe Rust types, not data; strict
/// modes refuse or misread them, and the numeric ones say nothing `type` and
/// `minimum` do not.
const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Closes objects, requires nullable properties and drops non-standard
/// formats, all the way down.
fn close_objects(node: &mut Value) {
    each_schema(node, &mut |map| {
        if let Some(Value::String(format)) = map.get("format") {
            if !STANDARD_FORMATS.contains(&format.as_str()) {
                map.remove("format");
            }
        }
        if let Some(Value::Object(properties)) = map.get("properties") {
            let nullable: Vec<String> = properties
                .iter()
                .filter(|(_, schema)| accepts_null(schema))
                .map(|(name, _)| name.clone())
                .collect();
            let required = map
                .entry("required")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(required) = required {
                for name in nullable {
                    if !required.iter().any(|r| r.as_str() == Some(&name)) {
                        required.push(Value::String(name));
                    }
                }
            }
            map.entry("additionalProperties")
                .or_insert(Value::Bool(false));
        }
    });
}

fn accepts_null(schema: &Value) -> bool {
    let Value::Object(map) = schema else {
        return false;
    };
    let by_type = match map.get("type") {
        Some(Value::String(t)) => t == "null",
        Some(Value::Array(types)) => types.iter().any(|t| t.as_str() == Some("null")),
        _ => false,
    };
    by_type
        || ["anyOf", "oneOf"].iter().any(|key| {
            map.get(*key)
                .and_then(Value::as_array)
                .is_some_and(|variants| variants.iter().any(accepts_null))
        })
}

impl Tool {
    /// A tool whose arguments schema is `A`'s ([`schema_for`]), without the
    /// `title` (the tool's name says it).
    ///
    /// ```
    /// use schemars::JsonSchema;
    /// use serde::Deserialize;
    ///
    /// /// Where to look.
    /// #[derive(Deserialize, JsonSchema)]
    /// struct Weather { city: String }
    ///
    /// let tool = majordomo::Tool::of::<Weather>("get_weather", "The forecast for a city");
    /// assert_eq!(tool.parameters["properties"]["city"]["type"], "string");
    /// ```
    pub fn of<A: JsonSchema + ?Sized>(
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Tool {
        let mut parameters = schema_for::<A>();
        if let Value::Object(map) = &mut parameters {
            map.remove("title");
        }
        Tool::new(name, description, parameters)
    }
}

impl Toolbox {
    /// Adds a typed tool: the arguments schema comes from `A`, the arguments
    /// are deserialized into `A` before `handler` runs (arguments that do not
    /// fit become an error result the model reads), and what the handler
    /// returns is sent as text: a string as it is, any other value as JSON.
    /// A handler error becomes an error result.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use majordomo::{ToolCall, Toolbox};
    /// use schemars::JsonSchema;
    /// use serde::Deserialize;
    ///
    /// #[derive(Deserialize, JsonSchema)]
    /// struct Weather { city: String }
    ///
    /// let tools = Toolbox::new().function("get_weather", "The forecast for a city", |w: Weather| async move {
    ///     Ok::<_, String>(serde_json::json!({"city": w.city, "forecast": "sunny", "celsius": 21}))
    /// });
    /// let call = ToolCall::new("c1", "get_weather", serde_json::json!({"city": "Oslo"}));
    /// let result = tools.execute(&call).await;
    /// assert_eq!(result.content, r#"{"celsius":21,"city":"Oslo","forecast":"sunny"}"#);
    /// let bad = tools.execute(&ToolCall::new("c2", "get_weather", serde_json::json!({"town": "Oslo"}))).await;
    /// assert!(bad.is_error);
    /// # }
    /// ```
    pub fn function<A, R, E, F, Fut>(
        self,
        name: impl Into<String>,
        description: impl Into<String>,
        handler: F,
    ) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        R: Serialize,
        E: fmt::Display,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        let tool = Tool::of::<A>(name, description);
        let handler = std::sync::Arc::new(handler);
        self.typed(tool, move |args: A| {
            let run = handler(args);
            async move {
                let output = run.await.map_err(|e| e.to_string())?;
                match serde_json::to_value(&output) {
                    Ok(Value::String(text)) => Ok(text),
                    Ok(value) => Ok(value.to_string()),
                    Err(e) => Err(format!("the tool's result cannot be encoded: {e}")),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Item {
        name: String,
        note: Option<String>,
        count: u32,
        #[schemars(with = "String", extend("format" = "date-time"))]
        at: String,
    }

    #[allow(dead_code)]
    #[derive(Deserialize, JsonSchema)]
    struct Order {
        items: Vec<Item>,
        #[serde(default)]
        rush: bool,
    }

    #[test]
    fn schemas_are_closed_and_nullable_fields_required() {
        let schema = schema_for::<Order>();
        assert!(schema.get("$schema").is_none());
        assert_eq!(schema["additionalProperties"], false);
        // A defaulted field stays optional: the model may leave it out.
        assert_eq!(schema["required"], json!(["items"]));
        let item = &schema["$defs"]["Item"];
        assert_eq!(item["additionalProperties"], false);
        assert_eq!(item["required"], json!(["name", "count", "at", "note"]));
        // `uint32` describes the Rust type; `minimum` says what matters.
        assert_eq!(
            item["properties"]["count"],
            json!({"type": "integer", "minimum": 0})
        );
        assert_eq!(item["properties"]["at"]["format"], "date-time");
    }
}
