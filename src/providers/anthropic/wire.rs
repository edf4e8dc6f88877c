//! The Messages API's JSON shapes (protocol reference §3), as serde types:
//! what we send (`MessagesRequest` and its blocks) and what comes back (a
//! `MessagesResponse`, or stream events). Reading is lenient: every field a
//! server may leave out has a default, and unknown block, event and delta
//! types deserialize to an `Other`/`Unknown` variant that the caller ignores.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

// ===== request =====

/// The body of `POST /v1/messages`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct MessagesRequest {
    pub(super) model: String,
    pub(super) max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) system: Option<String>,
    pub(super) messages: Vec<WireMessage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) tools: Vec<WireTool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_choice: Option<WireToolChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) thinking: Option<ThinkingConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) top_p: Option<f32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) stop_sequences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) output_config: Option<OutputConfig>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) stream: bool,
}

/// A conversation turn: `user` or `assistant`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct WireMessage {
    pub(super) role: WireRole,
    pub(super) content: WireContent,
}

/// The two roles the Messages API knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum WireRole {
    User,
    Assistant,
}

/// A turn's content: a bare string (one text block) or blocks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub(super) enum WireContent {
    Text(String),
    Blocks(Vec<Block>),
}

/// A content block we send.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Block {
    Text {
        text: String,
    },
    Image {
        source: ImageSourceWire,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        content: String,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    Thinking {
        thinking: String,
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
}

/// Where an image block's bytes are.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ImageSourceWire {
    Base64 { media_type: String, data: Arc<str> },
    Url { url: String },
}

/// A tool declaration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct WireTool {
    pub(super) name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) description: String,
    pub(super) input_schema: Value,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum WireToolChoice {
    Any,
    None,
    Tool { name: String },
}

/// `thinking`: extended thinking with a token budget (Claude 3.7 to 4.5), or
/// adaptive thinking (Claude 4.6 and later; the depth comes from
/// `output_config.effort`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ThinkingConfig {
    Enabled {
        budget_tokens: u32,
    },
    Adaptive {
        /// `summarized`: newer models default to `omitted` (empty thinking text).
        display: &'static str,
    },
    Disabled,
}

/// `output_config`: the effort level and structured output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct OutputConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) format: Option<OutputFormat>,
}

/// `output_config.format`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutputFormat {
    JsonSchema { schema: Value },
}

// ===== response =====

/// A non-streamed answer (also the `message` of `message_start`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct MessagesResponse {
    pub(super) id: Option<String>,
    pub(super) model: Option<String>,
    pub(super) content: Vec<ResponseBlock>,
    pub(super) stop_reason: Option<String>,
    pub(super) stop_sequence: Option<String>,
    pub(super) stop_details: Option<Value>,
    pub(super) usage: Option<WireUsage>,
}

/// A content block in an answer (or starting in a stream).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ResponseBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        #[serde(default)]
        id: String,
        #[serde(default)]
        name: String,
        #[serde(default)]
        input: Value,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
        #[serde(default)]
        signature: Option<String>,
    },
    RedactedThinking {
        #[serde(default)]
        data: String,
    },
    /// Server-tool blocks and anything newer: ignored.
    #[serde(other)]
    Other,
}

/// `usage`, in an answer, `message_start` or `message_delta`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(super) struct WireUsage {
    pub(super) input_tokens: Option<u64>,
    pub(super) output_tokens: Option<u64>,
    pub(super) cache_creation_input_tokens: Option<u64>,
    pub(super) cache_read_input_tokens: Option<u64>,
    pub(super) output_tokens_details: Option<OutputTokensDetails>,
}

/// `usage.output_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub(super) struct OutputTokensDetails {
    #[serde(default)]
    pub(super) thinking_tokens: Option<u64>,
}

impl WireUsage {
    /// Overwrites each field `later` knows (stream usage is cumulative).
    pub(super) fn merge(&mut self, later: &WireUsage) {
        fn take(into: &mut Option<u64>, from: Option<u64>) {
            if from.is_some() {
                *into = from;
            }
        }
        take(&mut self.input_tokens, later.input_tokens);
        take(&mut self.output_tokens, later.output_tokens);
        take(
            &mut self.cache_creation_input_tokens,
            later.cache_creation_input_tokens,
        );
        take(
            &mut self.cache_read_input_tokens,
            later.cache_read_input_tokens,
        );
        if let Some(details) = later.output_tokens_details {
            let mine = self.output_tokens_details.get_or_insert_default();
            take(&mut mine.thinking_tokens, details.thinking_tokens);
        }
    }

    /// The crate's usage: input counts cache writes and reads too (they are
    /// not inside `input_tokens`), cached = cache reads, reasoning = thinking.
    pub(super) fn to_usage(self) -> crate::Usage {
        crate::Usage {
            input_tokens: self.input_tokens.map(|input| {
                input
                    .saturating_add(self.cache_creation_input_tokens.unwrap_or(0))
                    .saturating_add(self.cache_read_input_tokens.unwrap_or(0))
            }),
            output_tokens: self.output_tokens,
            cached_input_tokens: self.cache_read_input_tokens,
            reasoning_tokens: self.output_tokens_details.and_then(|d| d.thinking_tokens),
        }
    }
}

// ===== stream =====

/// One SSE event's JSON, dispatched on its `type` field.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum StreamEventWire {
    MessageStart {
        #[serde(default)]
        message: MessagesResponse,
    },
    ContentBlockStart {
        #[serde(default)]
        index: u64,
        content_block: ResponseBlock,
    },
    ContentBlockDelta {
        #[serde(default)]
        index: u64,
        delta: DeltaWire,
    },
    ContentBlockStop {
        #[serde(default)]
        index: u64,
    },
    MessageDelta {
        #[serde(default)]
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Ping,
    Error {
        #[serde(default)]
        error: Value,
    },
    #[serde(other)]
    Unknown,
}

/// `content_block_delta.delta`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum DeltaWire {
    TextDelta {
        #[serde(default)]
        text: String,
    },
    InputJsonDelta {
        #[serde(default)]
        partial_json: String,
    },
    ThinkingDelta {
        #[serde(default)]
        thinking: String,
    },
    SignatureDelta {
        #[serde(default)]
        signature: String,
    },
    /// `citations_delta` and anything newer: ignored.
    #[serde(other)]
    Other,
}

/// `message_delta.delta`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(super) struct MessageDeltaBody {
    #[serde(default)]
    pub(super) stop_reason: Option<String>,
}
