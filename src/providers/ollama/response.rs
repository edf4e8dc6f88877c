//! Reading an `/api/chat` answer into a [`Response`]; the pieces the stream
//! handler shares (tool-call ids, finish reason, usage) live here too, so a
//! folded stream and a whole answer agree.

use serde_json::{Map, Value};

use super::errors;
use super::wire::{ChatResponse, ResponseToolCall};
use crate::{
    FinishReason, Message, Part, Response, Result, Role, Secret, Thinking, ToolCall, Usage,
};

/// The [`Response`] for a whole (non-streamed) answer.
///
/// # Errors
/// An `{"error": ...}` body that came with a success status.
pub(super) fn into_response(
    wire: ChatResponse,
    provider: &str,
    requested_model: &str,
    secret: Option<&Secret>,
) -> Result<Response> {
    if let Some(error) = wire.error.as_ref().filter(|e| is_error(e)) {
        return Err(errors::in_band(error, secret));
    }
    let raw = raw_metadata(&wire);
    let mut parts = Vec::new();
    let mut tool_calls = 0;
    if let Some(message) = wire.message {
        if let Some(text) = message.thinking.filter(|t| !t.is_empty()) {
            parts.push(Part::Thinking(Thinking::text(text).from_provider(provider)));
        }
        if let Some(text) = message.content.filter(|t| !t.is_empty()) {
            parts.push(Part::Text { text });
        }
        for call in message.tool_calls.unwrap_or_default() {
            let (id, name, arguments) = tool_call(call, tool_calls);
            parts.push(Part::ToolCall(ToolCall::new(id, name, arguments)));
            tool_calls += 1;
        }
    }
    let mut response = Response::new(
        provider,
        wire.model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| requested_model.to_owned()),
        Message::new(Role::Assistant, parts),
    )
    .with_finish_reason(finish_reason(wire.done_reason.as_deref(), tool_calls > 0))
    .with_usage(usage(wire.prompt_eval_count, wire.eval_count));
    response.raw = raw;
    Ok(response)
}

/// True for an `error` value that reports something (not `null` or `""`).
pub(super) fn is_error(error: &Value) -> bool {
    match error {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// A tool call's id, name and arguments. Servers that send no id get
/// `call_<n>`, `n` counting this answer's calls from 0, so the id is stable
/// between a whole answer and its stream.
pub(super) fn tool_call(call: ResponseToolCall, index: usize) -> (String, String, Value) {
    let id = call
        .id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("call_{index}"));
    let arguments = match call.function.arguments {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(arguments) => arguments,
    };
    (id, call.function.name.unwrap_or_default(), arguments)
}

/// `done_reason` in our terms. Ollama reports `stop` after tool calls too
/// (it has no tool-call reason), so calls turn `stop` (or nothing) into
/// [`FinishReason::ToolCalls`].
pub(super) fn finish_reason(done_reason: Option<&str>, saw_tool_calls: bool) -> FinishReason {
    match done_reason.filter(|r| !r.is_empty()) {
        None | Some("stop") if saw_tool_calls => FinishReason::ToolCalls,
        None | Some("stop") => FinishReason::Stop,
        Some("length") => FinishReason::Length,
        Some(other) => FinishReason::Other(other.to_owned()),
    }
}

/// Input = `prompt_eval_count`, output = `eval_count`; either may be absent
/// (a cached prompt has no `prompt_eval_count`).
pub(super) fn usage(prompt_eval_count: Option<u64>, eval_count: Option<u64>) -> Usage {
    let mut usage = Usage::default();
    if let Some(n) = prompt_eval_count {
        usage = usage.with_input(n);
    }
    if let Some(n) = eval_count {
        usage = usage.with_output(n);
    }
    usage
}

/// `created_at` and the durations (nanoseconds), where given.
fn raw_metadata(wire: &ChatResponse) -> Option<Value> {
    let mut raw = Map::new();
    if let Some(at) = &wire.created_at {
        raw.insert("created_at".to_owned(), Value::from(at.as_str()));
    }
    for (key, value) in [
        ("total_duration", &wire.total_duration),
        ("load_duration", &wire.load_duration),
        ("prompt_eval_duration", &wire.prompt_eval_duration),
        ("eval_duration", &wire.eval_duration),
    ] {
        if let Some(value) = value.as_ref().filter(|v| !v.is_null()) {
            raw.insert(key.to_owned(), value.clone());
        }
    }
    (!raw.is_empty()).then_some(Value::Object(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason(Some("stop"), false), FinishReason::Stop);
        assert_eq!(finish_reason(Some("stop"), true), FinishReason::ToolCalls);
        assert_eq!(finish_reason(None, true), FinishReason::ToolCalls);
        assert_eq!(finish_reason(Some(""), false), FinishReason::Stop);
        assert_eq!(finish_reason(Some("length"), true), FinishReason::Length);
        assert_eq!(
            finish_reason(Some("unload"), false),
            FinishReason::Other("unload".into())
        );
    }

    #[test]
    fn missing_counts_stay_unknown() {
        assert_eq!(usage(None, Some(3)).input_tokens, None);
        assert_eq!(usage(None, Some(3)).output_tokens, Some(3));
        assert_eq!(usage(None, None), Usage::default());
    }

    #[test]
    fn a_200_error_body_is_an_error() {
        let wire: ChatResponse =
            serde_json::from_str(r#"{"error":"the model failed to generate a response"}"#).unwrap();
        let e = into_response(wire, "ollama", "m", None).unwrap_err();
        assert_eq!(e.message(), "the model failed to generate a response");
    }
}
