//! [`Response`], [`FinishReason`], [`Usage`] and the [`Attempt`] log a chain attaches.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::attempt::{Attempt, AttemptOutcome};
use super::message::{Message, Role};
use crate::setters::chained_setters;

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum FinishReason {
    /// A natural stop or a stop sequence.
    #[default]
    Stop,
    /// The output token cap was reached.
    Length,
    /// The model wants tools run.
    ToolCalls,
    /// The provider's filter stopped the output (includes refusals).
    ContentFilter,
    /// Anything else, verbatim from the provider.
    Other(String),
}

impl FinishReason {
    /// The canonical lower-case name (`stop`, `length`, `tool_calls`,
    /// `content_filter`, or the provider's own string).
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Other(s) => s,
        }
    }

    /// Parses a canonical name; anything unknown becomes [`FinishReason::Other`].
    pub fn from_name(name: &str) -> Self {
        match name {
            "stop" => FinishReason::Stop,
            "length" => FinishReason::Length,
            "tool_calls" => FinishReason::ToolCalls,
            "content_filter" => FinishReason::ContentFilter,
            other => FinishReason::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for FinishReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FinishReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FinishReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(FinishReason::from_name(&s))
    }
}

/// Token counts. Each is `None` where the provider did not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Prompt tokens, including cached ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Completion tokens, including reasoning ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Prompt tokens served from the provider's cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_tokens: Option<u64>,
    /// Output tokens spent on reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    /// Adds `more` to this, field by field; a field is known once any part is.
    pub(crate) fn add(&mut self, more: &Usage) {
        fn add(a: &mut Option<u64>, b: Option<u64>) {
            if let Some(b) = b {
                *a = Some(a.unwrap_or(0).saturating_add(b));
            }
        }
        add(&mut self.input_tokens, more.input_tokens);
        add(&mut self.output_tokens, more.output_tokens);
        add(&mut self.cached_input_tokens, more.cached_input_tokens);
        add(&mut self.reasoning_tokens, more.reasoning_tokens);
    }

    /// Usage with input and output counts.
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Usage {
            input_tokens: Some(input_tokens),
            output_tokens: Some(output_tokens),
            ..Usage::default()
        }
    }

    chained_setters! {
        /// Sets the input count.
        with_input_tokens(tokens: u64) => input_tokens = Some(tokens);
        /// Sets the output count.
        with_output_tokens(tokens: u64) => output_tokens = Some(tokens);
        /// Sets the cached input count.
        with_cached_input_tokens(tokens: u64) => cached_input_tokens = Some(tokens);
        /// Sets the reasoning count.
        with_reasoning_tokens(tokens: u64) => reasoning_tokens = Some(tokens);
    }

    /// Input plus output, where both are known.
    pub fn total_tokens(&self) -> Option<u64> {
        // Counts come from servers: saturate rather than overflow.
        Some(self.input_tokens?.saturating_add(self.output_tokens?))
    }

    /// Overwrites each field that `later` knows. Streams report usage in pieces
    /// (Anthropic sends input at the start and output at the end).
    pub fn merge(&mut self, later: &Usage) {
        if later.input_tokens.is_some() {
            self.input_tokens = later.input_tokens;
        }
        if later.output_tokens.is_some() {
            self.output_tokens = later.output_tokens;
        }
        if later.cached_input_tokens.is_some() {
            self.cached_input_tokens = later.cached_input_tokens;
        }
        if later.reasoning_tokens.is_some() {
            self.reasoning_tokens = later.reasoning_tokens;
        }
    }
}

/// A model's answer.
///
/// ```
/// use majordomo::{FinishReason, Response, Usage};
/// let reply = Response::text_reply("openai", "gpt-4o", "Paris.")
///     .with_usage(Usage::new(12, 3))
///     .with_finish_reason(FinishReason::Stop);
/// assert_eq!(reply.text(), "Paris.");
/// assert_eq!(reply.usage.total_tokens(), Some(15));
/// assert!(reply.attempts.is_empty()); // a chain lists its steps here
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Response {
    /// The assistant message.
    pub message: Message,
    /// Why the model stopped.
    pub finish_reason: FinishReason,
    /// Token counts.
    #[serde(default)]
    pub usage: Usage,
    /// The provider that answered.
    pub provider: String,
    /// The model that answered (the provider's echo where it gives one).
    pub model: String,
    /// The wire protocol of the answer (`openai`, `anthropic`, `ollama`,
    /// `gemini`, `azure`) when the model speaks one; `None` for models that
    /// do not say (the fake, a host's own model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<std::borrow::Cow<'static, str>>,
    /// The steps a chain took to get this answer; one entry for a direct call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// Provider-specific metadata (ids, fingerprints) worth keeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<serde_json::Value>,
}

impl Response {
    /// A response with an assistant message.
    pub fn new(provider: impl Into<String>, model: impl Into<String>, message: Message) -> Self {
        Response {
            message,
            finish_reason: FinishReason::Stop,
            usage: Usage::default(),
            provider: provider.into(),
            model: model.into(),
            protocol: None,
            attempts: Vec::new(),
            raw: None,
        }
    }

    /// A response whose message is one assistant text part.
    pub fn text_reply(
        provider: impl Into<String>,
        model: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        Response::new(provider, model, Message::assistant(text))
    }

    chained_setters! {
        /// Sets the finish reason.
        with_finish_reason(reason: FinishReason) => finish_reason = reason;
        /// Sets usage.
        with_usage(usage: Usage) => usage = usage;
    }

    /// The concatenated text of the answer.
    pub fn text(&self) -> String {
        self.message.text()
    }

    /// The tool calls the model made.
    pub fn tool_calls(&self) -> impl Iterator<Item = &super::message::ToolCall> {
        self.message.tool_calls()
    }

    /// The number of calls made to get this answer (skips not counted).
    pub fn call_count(&self) -> usize {
        self.attempts
            .iter()
            .filter(|a| a.outcome != AttemptOutcome::Skipped)
            .count()
            .max(1)
    }

    /// The message to append to the conversation for the next turn.
    pub fn to_message(&self) -> Message {
        debug_assert_eq!(self.message.role, Role::Assistant);
        self.message.clone()
    }
}
