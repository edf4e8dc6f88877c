//! The capability check: what a [`Request`] needs ([`required_capabilities`],
//! [`Capabilities::missing_for`]) and how much of a context window it fills
//! ([`estimate_input_tokens`]). Kept apart from [`Capabilities`] so that the
//! capability vocabulary, which errors name, does not depend on requests.

use super::capabilities::{Capabilities, Capability};
use super::message::Part;
use super::request::{ReasoningLevel, Request, ResponseFormat};

impl Capabilities {
    /// The first capability `request` needs that this model declares it lacks.
    /// `streaming` says whether the call is a stream.
    pub fn missing_for(&self, request: &Request, streaming: bool) -> Option<Capability> {
        needs(request, streaming).find(|c| self.supports(*c) == Some(false))
    }
}

/// The capabilities a request needs.
pub fn required_capabilities(request: &Request, streaming: bool) -> Vec<Capability> {
    needs(request, streaming).collect()
}

/// What [`required_capabilities`] lists, without collecting it: a chain asks
/// on every attempt.
fn needs(request: &Request, streaming: bool) -> impl Iterator<Item = Capability> {
    [
        (streaming, Capability::Streaming),
        (!request.tool_list().is_empty(), Capability::Tools),
        (
            super::request::has_images(request.messages()),
            Capability::Images,
        ),
        (
            matches!(request.output_format(), ResponseFormat::JsonSchema { .. }),
            Capability::JsonSchema,
        ),
        (
            request
                .reasoning_level()
                .is_some_and(|r| r != ReasoningLevel::Off),
            Capability::Reasoning,
        ),
    ]
    .into_iter()
    .filter_map(|(needed, capability)| needed.then_some(capability))
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
