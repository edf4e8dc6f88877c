//! Mapping a `chat.completion` into a [`Response`] (protocol reference §1.3, §6).
//!
//! - `reasoning` / `reasoning_content` (compatible servers) become a thinking
//!   part, first; then the text (`content`, and a `refusal`'s text); then the
//!   tool calls, whose `arguments` string is parsed as JSON (text that is not
//!   JSON is kept as a JSON string).
//! - Only `choices[0]` is read when the server returns several (`n > 1`).
//! - A refusal finishes as [`FinishReason::ContentFilter`]; see [`finish_reason`].
//! - Missing or empty `id` and `model` are fine: the model is then the one requested.

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::wire::ChatCompletion;
use crate::llm::stream::parse_arguments;
use crate::providers::http::errors;
use crate::{
    Error, FinishReason, Message, Part, Response, Result, Role, Secret, Thinking, ToolCall,
};

/// Parses a whole non-streamed answer body.
pub(super) fn parse(
    body: &[u8],
    provider: &str,
    requested_model: &str,
    secret: Option<&Secret>,
) -> Result<Response> {
    let mut completion: ChatCompletion = serde_json::from_slice(body)
        .map_err(|e| errors::decode_error("unexpected chat completion body", &e, secret))?;
    if let Some(error) = completion.error.as_ref().filter(|e| !e.is_null()) {
        return Err(error_in_body(error, secret));
    }
    let position = completion
        .choices
        .iter()
        .position(|c| c.index.unwrap_or(0) == 0)
        .unwrap_or(0);
    if completion.choices.is_empty() {
        return Err(Error::decode("the chat completion has no choices"));
    }
    // Taken out, so that its strings move into the response uncopied.
    let choice = completion.choices.swap_remove(position);
    // OpenRouter: a generation that failed after it started answers 200,
    // with `finish_reason: "error"` (and the error on the choice).
    if let Some(error) = choice.error.as_ref().filter(|e| e.is_object()) {
        return Err(error_in_body(error, secret));
    }
    if choice.finish_reason.as_deref() == Some("error") {
        return Err(finish_error());
    }
    let message = choice.message.unwrap_or_default();

    let mut parts = Vec::new();
    if let Some(reasoning) = message.reasoning_text() {
        parts.push(Part::Thinking(
            Thinking::text(reasoning).with_provider(provider),
        ));
    }
    let mut text = match message.content {
        Some(Value::String(text)) => text,
        _ => message.content_text().into_owned(),
    };
    let refusal = message.refusal.as_deref().filter(|r| !r.is_empty());
    if let Some(refusal) = refusal {
        text.push_str(refusal);
    }
    if !text.is_empty() {
        parts.push(Part::text(text));
    }
    for call in &message.tool_calls {
        let function = call.function.as_ref();
        parts.push(Part::ToolCall(ToolCall::new(
            call.id.clone().unwrap_or_default(),
            function.and_then(|f| f.name.clone()).unwrap_or_default(),
            parse_arguments(&function.map(|f| f.arguments_text()).unwrap_or_default()),
        )));
    }
    let has_tools = !message.tool_calls.is_empty();
    let finish = finish_reason(
        choice.finish_reason.as_deref(),
        has_tools,
        refusal.is_some(),
    );

    let raw = raw(&mut completion);
    let model = match completion.model.take() {
        Some(model) if !model.is_empty() => model,
        _ => requested_model.to_owned(),
    };
    let mut response = Response::new(provider, model, Message::new(Role::Assistant, parts))
        .with_finish_reason(finish);
    if let Some(usage) = &completion.usage {
        response = response.with_usage(usage.to_usage());
    }
    response.raw = raw;
    Ok(response)
}

/// The canonical finish reason.
///
/// `stop`, and Together's `eos`, are [`FinishReason::Stop`], except that an
/// answer with tool calls is [`FinishReason::ToolCalls`] (OpenAI says `stop`
/// when the tool choice forced a function); `length`, `tool_calls` (and the
/// deprecated `function_call`), `content_filter` map by name; a refusal is
/// [`FinishReason::ContentFilter`] whatever the reason says; a missing reason
/// is derived (tool calls or stop); anything else is kept verbatim as
/// [`FinishReason::Other`].
pub(super) fn finish_reason(reason: Option<&str>, has_tools: bool, refusal: bool) -> FinishReason {
    if refusal {
        return FinishReason::ContentFilter;
    }
    let derived = if has_tools {
        FinishReason::ToolCalls
    } else {
        FinishReason::Stop
    };
    match reason {
        None | Some("") | Some("stop") | Some("eos") => derived,
        Some("length") => FinishReason::Length,
        Some("tool_calls") | Some("function_call") => FinishReason::ToolCalls,
        Some("content_filter") => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_owned()),
    }
}

/// The error for `finish_reason: "error"` (OpenRouter): the generation
/// failed upstream; another attempt may succeed.
pub(super) fn finish_error() -> Error {
    Error::new(
        crate::ErrorKind::Api,
        "the answer finished with an error (finish_reason \"error\")",
    )
    .with_class(crate::ErrorClass::Transient)
}

/// An error object in a body that came with status 200 (some gateways do
/// this). A numeric `code` that is an HTTP error status is read as that status.
pub(super) fn error_in_body(error: &Value, secret: Option<&Secret>) -> Error {
    let wrapped = serde_json::json!({ "error": error });
    let status = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|s| (400..600).contains(s));
    match status {
        Some(status) => {
            let body = serde_json::to_vec(&wrapped).unwrap_or_default();
            errors::from_status(status, &HeaderMap::new(), &body, secret)
        }
        None => errors::from_stream_event(&wrapped, secret),
    }
}

/// The response id, fingerprint and service tier, where given.
fn raw(completion: &mut ChatCompletion) -> Option<Value> {
    let mut map = serde_json::Map::new();
    for (key, value) in [
        ("id", &mut completion.id),
        ("system_fingerprint", &mut completion.system_fingerprint),
        ("service_tier", &mut completion.service_tier),
    ] {
        if let Some(value) = value.take().filter(|v| !v.is_empty()) {
            map.insert(key.to_owned(), Value::String(value));
        }
    }
    (!map.is_empty()).then_some(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons() {
        assert_eq!(
            finish_reason(Some("stop"), false, false),
            FinishReason::Stop
        );
        assert_eq!(finish_reason(Some("eos"), false, false), FinishReason::Stop);
        assert_eq!(
            finish_reason(Some("stop"), true, false),
            FinishReason::ToolCalls
        );
        assert_eq!(finish_reason(None, true, false), FinishReason::ToolCalls);
        assert_eq!(finish_reason(None, false, false), FinishReason::Stop);
        assert_eq!(
            finish_reason(Some("length"), true, false),
            FinishReason::Length
        );
        assert_eq!(
            finish_reason(Some("stop"), false, true),
            FinishReason::ContentFilter
        );
        assert_eq!(
            finish_reason(Some("content_filter"), false, false),
            FinishReason::ContentFilter
        );
        assert_eq!(
            finish_reason(Some("weird"), false, false),
            FinishReason::Other("weird".into())
        );
    }

    #[test]
    fn empty_model_and_id_fall_back() {
        let body = br#"{"id":"","model":"","choices":[{"message":{"content":"hi"}}]}"#;
        let r = parse(body, "p", "m", None).unwrap();
        assert_eq!(r.model, "m");
        assert_eq!(r.text(), "hi");
        assert_eq!(r.raw, None);
        assert_eq!(r.finish_reason, FinishReason::Stop);
    }

    #[test]
    fn reasoning_content_becomes_thinking_and_invalid_arguments_stay_text() {
        let body = br#"{"model":"q","choices":[{"index":0,"message":{"content":null,
            "reasoning_content":"hmm","tool_calls":[{"id":"c1","type":"function",
            "function":{"name":"f","arguments":"{not json"}}]},"finish_reason":"tool_calls"}]}"#;
        let r = parse(body, "local", "m", None).unwrap();
        let thinking: Vec<_> = r.message.thinking().collect();
        assert_eq!(thinking.len(), 1);
        assert_eq!(thinking[0].text, "hmm");
        assert_eq!(thinking[0].provider.as_deref(), Some("local"));
        let call = r.tool_calls().next().unwrap();
        assert_eq!(call.arguments, Value::String("{not json".into()));
    }

    #[test]
    fn an_error_in_a_200_body_is_an_error() {
        let body = br#"{"error":{"code":429,"message":"slow down"}}"#;
        let e = parse(body, "p", "m", None).unwrap_err();
        assert_eq!(e.status(), Some(429));
        assert_eq!(e.class(), crate::ErrorClass::Transient);
        let e = parse(br#"{"choices":[]}"#, "p", "m", None).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Decode);
        // OpenRouter: a generation that failed upstream, with status 200.
        let body = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"par"},
            "finish_reason":"error","native_finish_reason":"error",
            "error":{"code":502,"message":"Upstream error from Chutes"}}]}"#;
        let e = parse(body, "p", "m", None).unwrap_err();
        assert_eq!(e.status(), Some(502));
        assert_eq!(e.class(), crate::ErrorClass::Transient);
        assert!(e.to_string().contains("Upstream error"), "{e}");
        let body = br#"{"choices":[{"message":{"content":"par"},"finish_reason":"error"}]}"#;
        let e = parse(body, "p", "m", None).unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::Transient);
    }
}
