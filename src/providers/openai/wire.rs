//! The Chat Completions wire format: what we send (borrowing from the
//! [`crate::Request`]) and what we accept back, leniently (compatible servers
//! omit, null or add fields; see the protocol reference §1 and §6).

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

// ===== request =====

/// `POST /chat/completions` body.
#[derive(Debug, Serialize)]
pub(super) struct ChatRequest<'a> {
    pub model: &'a str,
    pub messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(skip_serializing_if = "is_empty_slice")]
    pub stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<OutToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<OutResponseFormat<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
}

/// `stream_options`.
#[derive(Debug, Serialize)]
pub(super) struct StreamOptions {
    pub include_usage: bool,
}

/// One entry of `messages`.
#[derive(Debug, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub(super) enum OutMessage<'a> {
    System {
        content: OutContent<'a>,
    },
    User {
        content: OutContent<'a>,
    },
    Assistant {
        /// `null` (not absent) when the turn is only tool calls.
        content: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<OutToolCall<'a>>,
    },
    Tool {
        tool_call_id: Cow<'a, str>,
        content: &'a str,
    },
}

/// A message's `content`: a string, or an array of parts.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum OutContent<'a> {
    Text(&'a str),
    Parts(Vec<OutPart<'a>>),
}

/// A content part.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutPart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: OutImageUrl<'a> },
}

/// `image_url`: an http(s) URL or a `data:` URL.
#[derive(Debug, Serialize)]
pub(super) struct OutImageUrl<'a> {
    pub url: Cow<'a, str>,
}

/// An assistant turn's tool call.
#[derive(Debug, Serialize)]
pub(super) struct OutToolCall<'a> {
    pub id: Cow<'a, str>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: OutFunctionCall<'a>,
}

/// The function of a tool call; `arguments` is a JSON *string*.
#[derive(Debug, Serialize)]
pub(super) struct OutFunctionCall<'a> {
    pub name: &'a str,
    pub arguments: String,
}

/// A tool declaration.
#[derive(Debug, Serialize)]
pub(super) struct OutTool<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: OutFunction<'a>,
}

/// A function declaration.
#[derive(Debug, Serialize)]
pub(super) struct OutFunction<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "is_empty_str")]
    pub description: &'a str,
    #[serde(skip_serializing_if = "is_null_ref")]
    pub parameters: &'a Value,
}

/// `tool_choice`: a mode, or one named function.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum OutToolChoice<'a> {
    Mode(&'static str),
    Function {
        #[serde(rename = "type")]
        kind: &'static str,
        function: OutNamed<'a>,
    },
}

/// `{"name": ...}`.
#[derive(Debug, Serialize)]
pub(super) struct OutNamed<'a> {
    pub name: &'a str,
}

/// `response_format`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutResponseFormat<'a> {
    JsonObject,
    JsonSchema { json_schema: OutJsonSchema<'a> },
}

/// `response_format.json_schema`.
#[derive(Debug, Serialize)]
pub(super) struct OutJsonSchema<'a> {
    pub name: Cow<'a, str>,
    pub schema: &'a Value,
    pub strict: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
fn is_empty_slice(s: &&[String]) -> bool {
    s.is_empty()
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_empty_str(s: &&str) -> bool {
    s.is_empty()
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_null_ref(v: &&Value) -> bool {
    v.is_null()
}

// ===== response =====

/// A `chat.completion` (non-streamed answer). Also reads a top-level `error`
/// that some gateways send with status 200.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ChatCompletion {
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub model: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub choices: Vec<Choice>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub system_fingerprint: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub service_tier: Option<String>,
    #[serde(default)]
    pub error: Option<Value>,
}

/// One entry of `choices`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Choice {
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default)]
    pub message: Option<InMessage>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub finish_reason: Option<String>,
    /// OpenRouter: the error of a choice that finished with `error`.
    #[serde(default)]
    pub error: Option<Value>,
}

/// A `chat.completion.chunk`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ChatChunk {
    #[serde(default, deserialize_with = "lenient_string")]
    pub model: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub choices: Vec<ChunkChoice>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
    /// Groq's older home for stream usage.
    #[serde(default)]
    pub x_groq: Option<XGroq>,
    /// An error event (`{"error": {...}}`): read again whole when present.
    #[serde(default)]
    pub error: Option<Value>,
}

/// Groq's `x_groq` extension object.
#[derive(Debug, Default, Deserialize)]
pub(super) struct XGroq {
    #[serde(default)]
    pub usage: Option<WireUsage>,
}

/// One entry of a chunk's `choices`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ChunkChoice {
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default)]
    pub delta: Option<InMessage>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub finish_reason: Option<String>,
}

/// A `message` or a `delta`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct InMessage {
    /// A string, `null`, or (some compatible servers) an array of text parts.
    #[serde(default)]
    pub content: Option<Value>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub refusal: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub tool_calls: Vec<InToolCall>,
    /// vLLM, Ollama, OpenRouter, Groq.
    #[serde(default, deserialize_with = "lenient_string")]
    pub reasoning: Option<String>,
    /// llama.cpp, LM Studio, DeepSeek, older vLLM.
    #[serde(default, deserialize_with = "lenient_string")]
    pub reasoning_content: Option<String>,
}

impl InMessage {
    /// The reasoning text, whichever field carries it.
    pub fn reasoning_text(&self) -> Option<&str> {
        [&self.reasoning, &self.reasoning_content]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .find(|t| !t.is_empty())
    }

    /// The answer text: a string content, or the text parts of an array.
    pub fn content_text(&self) -> Cow<'_, str> {
        match &self.content {
            Some(Value::String(text)) => Cow::Borrowed(text),
            Some(Value::Array(parts)) => Cow::Owned(
                parts
                    .iter()
                    .filter_map(|p| match p {
                        Value::String(s) => Some(s.as_str()),
                        _ => p.get("text").and_then(Value::as_str),
                    })
                    .collect(),
            ),
            _ => Cow::Borrowed(""),
        }
    }
}

/// A tool call in a message or (as a fragment) in a delta.
#[derive(Debug, Default, Deserialize)]
pub(super) struct InToolCall {
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<InFunction>,
}

/// A tool call's function (name and arguments, or fragments of them).
#[derive(Debug, Default, Deserialize)]
pub(super) struct InFunction {
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: Option<String>,
    /// A JSON string per the spec; an object from a few compatible servers.
    #[serde(default)]
    pub arguments: Option<Value>,
}

impl InFunction {
    /// The arguments as JSON text (an object is re-serialized).
    pub fn arguments_text(&self) -> Cow<'_, str> {
        match &self.arguments {
            None | Some(Value::Null) => Cow::Borrowed(""),
            Some(Value::String(s)) => Cow::Borrowed(s),
            Some(other) => Cow::Owned(other.to_string()),
        }
    }
}

/// `usage`.
#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionDetails>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct PromptDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct CompletionDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

impl WireUsage {
    /// The canonical counts: input = `prompt_tokens` (cached included),
    /// output = `completion_tokens` (reasoning included).
    pub fn to_usage(&self) -> crate::Usage {
        crate::Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.completion_tokens,
            cached_input_tokens: self
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens),
            reasoning_tokens: self
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens),
        }
    }
}

/// `null` reads as the default (an empty list).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A string, a number (some servers number their ids) or `null`; anything
/// else reads as absent. Read by a visitor, not through a `Value`: these
/// fields are on every answer and every stream chunk.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    struct Lenient;

    impl<'de> Visitor<'de> for Lenient {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            // As `serde_json::Number` prints it.
            Ok(serde_json::Number::from_f64(v).map(|n| n.to_string()))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(Lenient)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }

    d.deserialize_any(Lenient)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_strings_read_as_a_value_would() {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(default, deserialize_with = "lenient_string")]
            v: Option<String>,
        }
        let read = |json: &str| serde_json::from_str::<Probe>(json).map(|p| p.v);
        for (json, expected) in [
            (r#"{"v":"id-1"}"#, Some("id-1")),
            (r#"{"v":"a\"b"}"#, Some("a\"b")),
            (r#"{"v":42}"#, Some("42")),
            (r#"{"v":-7}"#, Some("-7")),
            (r#"{"v":1.5}"#, Some("1.5")),
            (r#"{"v":true}"#, Some("true")),
            (r#"{"v":null}"#, None),
            (r#"{"v":[1,{"a":2}]}"#, None),
            (r#"{"v":{"a":[1]}}"#, None),
            (r#"{}"#, None),
        ] {
            assert_eq!(read(json).unwrap().as_deref(), expected, "{json}");
            // The same as reading through a `Value` first.
            let through_value = match serde_json::from_str::<Value>(json).unwrap().get("v") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::Bool(b)) => Some(b.to_string()),
                _ => None,
            };
            assert_eq!(read(json).unwrap(), through_value, "{json}");
        }
        assert!(read(r#"{"v":}"#).is_err());
    }
}
