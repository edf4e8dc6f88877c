//! Reading an `/api/chat` answer into a [`Response`]; the pieces the stream
//! handler shares (tool-call ids, finish reason, usage) live here too, so a
//! folded stream and a whole answer agree.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

use super::errors;
use super::wire::{ChatResponse, ResponseToolCall};
use crate::{
    Error, FinishReason, Message, Part, Response, Result, Role, Secret, Thinking, ToolCall, Usage,
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
    if wire.message.is_none() && !wire.done {
        // Every chat answer has a message or is the final `done` line; an
        // empty reply from a server that speaks another protocol is not one.
        return Err(Error::decode(
            "not an Ollama chat answer: no `message` and no `done`",
        ));
    }
    let raw = raw_metadata(&wire);
    let mut parts = Vec::new();
    let mut tool_calls = 0;
    let nonce = answer_nonce();
    if let Some(message) = wire.message {
        if let Some(text) = message.thinking.filter(|t| !t.is_empty()) {
            parts.push(Part::Thinking(Thinking::text(text).with_provider(provider)));
        }
        if let Some(text) = message.content.filter(|t| !t.is_empty()) {
            parts.push(Part::Text { text });
        }
        for call in message.tool_calls.unwrap_or_default() {
            let (id, name, arguments) = tool_call(call, &nonce, tool_calls);
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
    .with_usage(usage(
        wire.prompt_eval_count,
        wire.prompt_eval_cached_count,
        wire.eval_count,
    ));
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

/// A tool call's id, name and arguments. Older servers send no id;
/// such a call gets `call_<nonce>_<n>`, `n` counting this answer's calls
/// from 0 and `nonce` ([`answer_nonce`]) naming the answer, so ids never
/// repeat between the turns of a conversation (other providers, Anthropic
/// for one, refuse a history with repeated ids).
pub(super) fn tool_call(
    call: ResponseToolCall,
    nonce: &str,
    index: usize,
) -> (String, String, Value) {
    let id = call
        .id
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("call_{nonce}_{index}"));
    let arguments = match call.function.arguments {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(arguments) => arguments,
    };
    (id, call.function.name.unwrap_or_default(), arguments)
}

/// A name for one answer, unique in this process (a counter) and unlikely
/// to recur in another (a random 32-bit salt per process): 8 hex digits of
/// salt, then the counter in hex.
pub(super) fn answer_nonce() -> String {
    static SALT: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let salt = *SALT.get_or_init(|| {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            hasher.write_u128(now.as_nanos());
        }
        hasher.finish() & 0xffff_ffff
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{salt:08x}{n:x}")
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

/// Input = `prompt_eval_count` (which includes the prompt tokens served
/// from the server's cache), cached input = `prompt_eval_cached_count`
/// (newer servers), output = `eval_count`; any may be absent (a cached
/// prompt has no `prompt_eval_count` on older servers).
pub(super) fn usage(
    prompt_eval_count: Option<u64>,
    prompt_eval_cached_count: Option<u64>,
    eval_count: Option<u64>,
) -> Usage {
    let mut usage = Usage::default();
    if let Some(n) = prompt_eval_count {
        usage = usage.with_input_tokens(n);
    }
    if let Some(n) = prompt_eval_cached_count {
        usage = usage.with_cached_input_tokens(n);
    }
    if let Some(n) = eval_count {
        usage = usage.with_output_tokens(n);
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
        assert_eq!(usage(None, None, Some(3)).input_tokens, None);
        assert_eq!(usage(None, None, Some(3)).output_tokens, Some(3));
        assert_eq!(usage(None, None, Some(3)).cached_input_tokens, None);
        assert_eq!(usage(None, None, None), Usage::default());
        let cached = usage(Some(900), Some(850), Some(2));
        assert_eq!(cached.input_tokens, Some(900));
        assert_eq!(cached.cached_input_tokens, Some(850));
    }

    #[test]
    fn generated_ids_differ_between_answers_and_keep_server_ids() {
        let call = |id: Option<&str>| ResponseToolCall {
            id: id.map(str::to_owned),
            ..ResponseToolCall::default()
        };
        let (a, b) = (answer_nonce(), answer_nonce());
        assert_ne!(a, b);
        let first = tool_call(call(None), &a, 0).0;
        let second = tool_call(call(None), &a, 1).0;
        let next_turn = tool_call(call(None), &b, 0).0;
        assert!(
            first.starts_with("call_") && first.ends_with("_0"),
            "{first}"
        );
        assert_ne!(first, second);
        assert_ne!(first, next_turn);
        assert!(
            first
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_'),
            "{first}"
        );
        assert_eq!(tool_call(call(Some("call_x1")), &a, 0).0, "call_x1");
        assert_eq!(tool_call(call(Some("")), &a, 3).0, format!("call_{a}_3"));
    }

    #[test]
    fn a_200_error_body_is_an_error() {
        let wire: ChatResponse =
            serde_json::from_str(r#"{"error":"the model failed to generate a response"}"#).unwrap();
        let e = into_response(wire, "ollama", "m", None).unwrap_err();
        assert_eq!(e.message(), "the model failed to generate a response");
    }

    #[test]
    fn a_body_of_another_protocol_is_not_an_empty_answer() {
        let wire: ChatResponse = serde_json::from_str(
            r#"{"id":"chatcmpl-1","choices":[{"message":{"role":"assistant","content":"hi"}}]}"#,
        )
        .unwrap();
        let e = into_response(wire, "ollama", "m", None).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Decode, "{e}");
    }
}
