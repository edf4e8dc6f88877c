//! Reading a non-streamed Messages answer into a [`Response`] (protocol
//! reference §3.3). The shape matches what folding the same answer's stream
//! gives: adjacent text blocks join into one text part, empty text blocks and
//! empty signatures are dropped, thinking carries this provider's name.

use serde_json::Value;

use super::wire::{MessagesResponse, ResponseBlock};
use crate::{FinishReason, Message, Part, Response, Role, Thinking, ToolCall};

/// The answer `wire`, from provider `provider`, for requested model `model`.
pub(super) fn into_response(wire: MessagesResponse, provider: &str, model: &str) -> Response {
    let mut parts: Vec<Part> = Vec::new();
    for block in wire.content {
        match block {
            ResponseBlock::Text { text } => {
                if text.is_empty() {
                    continue;
                }
                match parts.last_mut() {
                    Some(Part::Text { text: last }) => last.push_str(&text),
                    _ => parts.push(Part::Text { text }),
                }
            }
            ResponseBlock::ToolUse { id, name, input } => {
                let arguments = match input {
                    Value::Null => Value::Object(serde_json::Map::new()),
                    other => other,
                };
                parts.push(Part::ToolCall(ToolCall::new(id, name, arguments)));
            }
            ResponseBlock::Thinking {
                thinking,
                signature,
            } => {
                let mut t = Thinking::text(thinking).with_provider(provider);
                t.signature = signature.filter(|s| !s.is_empty());
                parts.push(Part::Thinking(t));
            }
            ResponseBlock::RedactedThinking { data } => {
                parts.push(Part::Thinking(
                    Thinking::redacted(data).with_provider(provider),
                ));
            }
            ResponseBlock::Other => {}
        }
    }
    let has_tools = parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
    let finish = finish_reason(wire.stop_reason.as_deref(), has_tools);
    let model = wire
        .model
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| model.to_owned());
    let mut raw = serde_json::Map::new();
    if let Some(id) = wire.id {
        raw.insert("id".to_owned(), Value::String(id));
    }
    if let Some(seq) = wire.stop_sequence {
        raw.insert("stop_sequence".to_owned(), Value::String(seq));
    }
    if let Some(details) = wire.stop_details.filter(|d| !d.is_null()) {
        raw.insert("stop_details".to_owned(), details);
    }
    let mut response = Response::new(provider, model, Message::new(Role::Assistant, parts))
        .with_finish_reason(finish)
        .with_usage(wire.usage.unwrap_or_default().to_usage());
    response.raw = (!raw.is_empty()).then_some(Value::Object(raw));
    response
}

/// `stop_reason` in the crate's terms. None (a server that does not say) is
/// `ToolCalls` when the answer calls tools, else `Stop`.
pub(super) fn finish_reason(stop_reason: Option<&str>, has_tools: bool) -> FinishReason {
    match stop_reason {
        Some("end_turn" | "stop_sequence") => FinishReason::Stop,
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_owned()),
        None if has_tools => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    }
}
