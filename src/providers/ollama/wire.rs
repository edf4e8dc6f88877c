//! The JSON of `POST /api/chat` (Ollama's `api.ChatRequest` and
//! `api.ChatResponse`), as far as we send and read it. Requests borrow from
//! the [`crate::Request`]; responses tolerate missing, `null` and unknown
//! fields.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// The request body.
#[derive(Debug, Serialize)]
pub(super) struct ChatRequest<'a> {
    pub(super) model: &'a str,
    pub(super) messages: Vec<ChatMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) tools: Vec<ToolSpec<'a>>,
    /// `"json"` or a JSON schema object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) format: Option<Cow<'a, Value>>,
    #[serde(skip_serializing_if = "ModelOptions::is_empty")]
    pub(super) options: ModelOptions<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) think: Option<Think>,
    /// Always sent: the server streams when it is absent.
    pub(super) stream: bool,
}

/// One message of the conversation.
#[derive(Debug, Serialize)]
pub(super) struct ChatMessage<'a> {
    pub(super) role: &'static str,
    pub(super) content: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) thinking: Option<Cow<'a, str>>,
    /// Base64, no `data:` prefix.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) images: Vec<Arc<str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) tool_calls: Vec<ToolCallOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_call_id: Option<&'a str>,
}

impl<'a> ChatMessage<'a> {
    pub(super) fn new(role: &'static str, content: Cow<'a, str>) -> Self {
        ChatMessage {
            role,
            content,
            thinking: None,
            images: Vec::new(),
            tool_calls: Vec::new(),
            tool_name: None,
            tool_call_id: None,
        }
    }
}

/// A tool call sent back on an assistant turn.
#[derive(Debug, Serialize)]
pub(super) struct ToolCallOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<&'a str>,
    pub(super) function: FunctionCallOut<'a>,
}

/// Its function: the arguments are a JSON object, not a string.
#[derive(Debug, Serialize)]
pub(super) struct FunctionCallOut<'a> {
    pub(super) name: &'a str,
    pub(super) arguments: Cow<'a, Value>,
}

/// A tool offered to the model, in the OpenAI shape.
#[derive(Debug, Serialize)]
pub(super) struct ToolSpec<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) function: FunctionSpec<'a>,
}

/// The tool's declaration.
#[derive(Debug, Serialize)]
pub(super) struct FunctionSpec<'a> {
    pub(super) name: &'a str,
    pub(super) description: &'a str,
    pub(super) parameters: Cow<'a, Value>,
}

/// The Modelfile parameters we set; unset ones are left to the model.
#[derive(Debug, Default, Serialize)]
pub(super) struct ModelOptions<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) seed: Option<u64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub(super) stop: &'a [String],
    /// The output cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) num_predict: Option<u32>,
}

impl ModelOptions<'_> {
    fn is_empty(&self) -> bool {
        self.temperature.is_none()
            && self.top_p.is_none()
            && self.seed.is_none()
            && self.stop.is_empty()
            && self.num_predict.is_none()
    }
}

/// `think`: a switch, or a named effort level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Think {
    On(bool),
    Level(&'static str),
}

impl Serialize for Think {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Think::On(on) => s.serialize_bool(*on),
            Think::Level(level) => s.serialize_str(level),
        }
    }
}

/// A response body, or one line of a stream.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ChatResponse {
    pub(super) model: Option<String>,
    pub(super) created_at: Option<String>,
    pub(super) message: Option<ResponseMessage>,
    pub(super) done: bool,
    pub(super) done_reason: Option<String>,
    pub(super) prompt_eval_count: Option<u64>,
    /// How many of `prompt_eval_count` came from the server's cache (newer
    /// servers).
    pub(super) prompt_eval_cached_count: Option<u64>,
    pub(super) eval_count: Option<u64>,
    pub(super) total_duration: Option<Value>,
    pub(super) load_duration: Option<Value>,
    pub(super) prompt_eval_duration: Option<Value>,
    pub(super) eval_duration: Option<Value>,
    /// `{"error": "..."}`: a failure reported in a 200 answer or stream.
    pub(super) error: Option<Value>,
}

/// The assistant's message (or its increment, in a stream).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ResponseMessage {
    pub(super) content: Option<String>,
    pub(super) thinking: Option<String>,
    pub(super) tool_calls: Option<Vec<ResponseToolCall>>,
}

/// A tool call from the model; older servers give no id.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ResponseToolCall {
    pub(super) id: Option<String>,
    pub(super) function: ResponseFunction,
}

/// The called function.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ResponseFunction {
    pub(super) name: Option<String>,
    pub(super) arguments: Option<Value>,
}
