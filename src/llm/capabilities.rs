//! [`Capabilities`]: what a model declares it can do. Unknown is not "no".

use std::fmt;

use serde::{Deserialize, Serialize};

use super::message::Part;
use super::request::{Request, ResponseFormat};

/// A feature a request may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Capability {
    /// Streaming responses.
    Streaming,
    /// Tool (function) calling.
    Tools,
    /// Image input.
    Images,
    /// Output constrained to a JSON schema.
    JsonSchema,
    /// Reasoning / extended thinking controls.
    Reasoning,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::Streaming => "streaming",
            Capability::Tools => "tools",
            Capability::Images => "images",
            Capability::JsonSchema => "JSON schema output",
            Capability::Reasoning => "reasoning",
        })
    }
}

/// What a model supports. Each flag is `None` when the model has not declared
/// it: the chain only skips a target for a capability declared `Some(false)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// Streaming responses.
    pub streaming: Option<bool>,
    /// Tool calling.
    pub tools: Option<bool>,
    /// Image input.
    pub images: Option<bool>,
    /// JSON schema output.
    pub json_schema: Option<bool>,
    /// Reasoning controls.
    pub reasoning: Option<bool>,
    /// Context window in tokens.
    pub context_window: Option<u32>,
    /// Maximum output tokens.
    pub max_output_tokens: Option<u32>,
}

impl Capabilities {
    /// Nothing declared.
    pub fn unknown() -> Self {
        Self::default()
    }

    /// Declares streaming support.
    pub fn streaming(mut self, yes: bool) -> Self {
        self.streaming = Some(yes);
        self
    }

    /// Declares tool support.
    pub fn tools(mut self, yes: bool) -> Self {
        self.tools = Some(yes);
        self
    }

    /// Declares image input support.
    pub fn images(mut self, yes: bool) -> Self {
        self.images = Some(yes);
        self
    }

    /// Declares JSON schema output support.
    pub fn json_schema(mut self, yes: bool) -> Self {
        self.json_schema = Some(yes);
        self
    }

    /// Declares reasoning support.
    pub fn reasoning(mut self, yes: bool) -> Self {
        self.reasoning = Some(yes);
        self
    }

    /// Declares the context window.
    pub fn context_window(mut self, tokens: u32) -> Self {
        self.context_window = Some(tokens);
        self
    }

    /// Declares the output cap.
    pub fn max_output_tokens(mut self, tokens: u32) -> Self {
        self.max_output_tokens = Some(tokens);
        self
    }

    /// Whether `capability` is declared: `Some(true)`, `Some(false)`, or `None`
    /// for "not declared".
    pub fn supports(&self, capability: Capability) -> Option<bool> {
        match capability {
            Capability::Streaming => self.streaming,
            Capability::Tools => self.tools,
            Capability::Images => self.images,
            Capability::JsonSchema => self.json_schema,
            Capability::Reasoning => self.reasoning,
        }
    }

    /// The first capability `request` needs that this model declares it lacks.
    /// `streaming` says whether the call is a stream.
    pub fn missing_for(&self, request: &Request, streaming: bool) -> Option<Capability> {
        required_capabilities(request, streaming)
            .into_iter()
            .find(|c| self.supports(*c) == Some(false))
    }
}

/// The capabilities a request needs.
pub fn required_capabilities(request: &Request, streaming: bool) -> Vec<Capability> {
    let mut needs = Vec::new();
    if streaming {
        needs.push(Capability::Streaming);
    }
    if !request.tool_list().is_empty() {
        needs.push(Capability::Tools);
    }
    let has_image = request
        .messages()
        .iter()
        .any(|m| m.parts.iter().any(|p| matches!(p, Part::Image(_))));
    if has_image {
        needs.push(Capability::Images);
    }
    if matches!(request.output_format(), ResponseFormat::JsonSchema { .. }) {
        needs.push(Capability::JsonSchema);
    }
    if request
        .reasoning_level()
        .is_some_and(|r| r != super::request::ReasoningLevel::Off)
    {
        needs.push(Capability::Reasoning);
    }
    needs
}

/// Tokens an image is assumed to cost in [`estimate_input_tokens`]: about
/// what a 1024×1024 image costs on the major providers.
pub const IMAGE_TOKEN_ESTIMATE: u64 = 1_500;

/// A cheap, deliberately rough estimate of the tokens `request` occupies in a
/// model's context window: the bytes of all its text (system prompt, text,
/// tool calls and results, thinking, tool declarations) divided by 4, plus
/// [`IMAGE_TOKEN_ESTIMATE`] per image, plus the requested `max_tokens`. A
/// chain skips, without penalty, a target whose declared context window is
/// smaller.
///
/// ```
/// use majordomo::{Request, estimate_input_tokens};
/// let request = Request::new().user("x".repeat(4_000));
/// assert_eq!(estimate_input_tokens(&request), 1_000);
/// ```
pub fn estimate_input_tokens(request: &Request) -> u64 {
    let json_len = |v: &serde_json::Value| {
        let mut counter = ByteCount(0);
        // Writing to a counter cannot fail; an error would only under-count.
        let _ = serde_json::to_writer(&mut counter, v);
        counter.0
    };
    let mut bytes = request.system_prompt().map_or(0, str::len);
    let mut images = 0u64;
    for message in request.messages() {
        for part in &message.parts {
            bytes += match part {
                Part::Text { text } => text.len(),
                Part::Image(_) => {
                    images += 1;
                    0
                }
                Part::ToolCall(call) => call.name.len() + json_len(&call.arguments),
                Part::ToolResult(result) => result.content.len(),
                Part::Thinking(thinking) => thinking.text.len(),
            };
        }
    }
    for tool in request.tool_list() {
        bytes += tool.name.len() + tool.description.len() + json_len(&tool.parameters);
    }
    let output = request.model_options().max_tokens.map_or(0, u64::from);
    (bytes as u64) / 4 + images * IMAGE_TOKEN_ESTIMATE + output
}

/// An `io::Write` that only counts bytes, to size JSON without building it.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
