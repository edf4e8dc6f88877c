//! Unit tests: every recorded stream folds the same way whatever the chunking
//! (one byte at a time included), and request-building rules that need no server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::json;

use super::config::AnthropicConfig;
use super::request;
use super::stream::{MessagesFraming, MessagesStream};
use crate::providers::http::HttpSettings;
use crate::providers::http::body::event_stream_from_bytes;
use crate::providers::http::client::HttpClient;
use crate::{
    Error, EventStream, FinishReason, Message, Part, ReasoningLevel, Request, Response, Role,
    Secret, Target, Thinking, Tool, ToolCall, ToolChoice, ToolResult,
};

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/anthropic/",
                $name
            )) as &[u8],
        )
    };
}

const FIXTURES: &[(&str, &[u8])] = &[
    fixture!("messages_stream_basic.sse"),
    fixture!("messages_stream_error_overloaded.sse"),
    fixture!("messages_stream_max_tokens_partial_tool_json.sse"),
    fixture!("messages_stream_refusal.sse"),
    fixture!("messages_stream_structured_output.sse"),
    fixture!("messages_stream_text_after_tool_result.sse"),
    fixture!("messages_stream_thinking_signature_refusal.sse"),
    fixture!("messages_stream_tool_use.sse"),
];

/// What a fold ended in, comparable: the response, or the error's parts.
#[derive(Debug, PartialEq)]
enum Folded {
    Ok(Response),
    Err {
        kind: crate::ErrorKind,
        class: crate::ErrorClass,
        code: Option<String>,
        message: String,
        provider: Option<String>,
    },
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn chunks(bytes: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let (mut at, mut i) = (0, 0);
    while at < bytes.len() {
        let n = sizes[i % sizes.len()].max(1);
        let end = (at + n).min(bytes.len());
        out.push(bytes[at..end].to_vec());
        at = end;
        i += 1;
    }
    out
}

fn fold(rt: &tokio::runtime::Runtime, bytes: &[u8], sizes: &[usize]) -> Folded {
    let pieces: Vec<reqwest::Result<Bytes>> = chunks(bytes, sizes)
        .into_iter()
        .map(|c| Ok(Bytes::from(c)))
        .collect();
    let model = Arc::new(OnceLock::new());
    let handler = MessagesStream::new(Some(Secret::new("sk-ant-unit-secret")), model);
    let target = Target::new("anthropic", "claude-test").unwrap();
    let events = event_stream_from_bytes(
        Box::pin(futures::stream::iter(pieces)),
        MessagesFraming::new(),
        handler,
        target,
        None,
    );
    let stream = EventStream::new("anthropic", "claude-test", events);
    match rt.block_on(stream.into_response()) {
        Ok(r) => Folded::Ok(r),
        Err(e) => folded_error(&e),
    }
}

fn folded_error(e: &Error) -> Folded {
    Folded::Err {
        kind: e.kind(),
        class: e.class(),
        code: e.code().map(str::to_owned),
        message: e.message().to_owned(),
        provider: e.provider().map(str::to_owned),
    }
}

#[test]
fn one_byte_at_a_time_folds_like_the_whole_body() {
    let rt = runtime();
    for (name, bytes) in FIXTURES {
        let whole = fold(&rt, bytes, &[bytes.len().max(1)]);
        let bytewise = fold(&rt, bytes, &[1]);
        assert_eq!(whole, bytewise, "{name}");
    }
}

#[test]
fn the_folds_are_what_the_fixtures_say() {
    let rt = runtime();
    let get = |name: &str| {
        let bytes = FIXTURES.iter().find(|(n, _)| *n == name).unwrap().1;
        fold(&rt, bytes, &[7])
    };
    let basic = match get("messages_stream_basic.sse") {
        Folded::Ok(r) => r,
        other => panic!("basic failed: {other:?}"),
    };
    assert_eq!(basic.text(), "Hello there!");
    assert_eq!(basic.finish_reason, FinishReason::Stop);
    assert_eq!(basic.usage.input_tokens, Some(11));
    assert_eq!(basic.usage.output_tokens, Some(6));

    let Folded::Err { class, code, .. } = get("messages_stream_error_overloaded.sse") else {
        panic!("the overloaded stream must fail")
    };
    assert_eq!(class, crate::ErrorClass::Transient);
    assert_eq!(code.as_deref(), Some("overloaded_error"));

    let Folded::Ok(cut) = get("messages_stream_max_tokens_partial_tool_json.sse") else {
        panic!("max_tokens stream failed")
    };
    assert_eq!(cut.finish_reason, FinishReason::Length);
    let call = cut.tool_calls().next().unwrap();
    assert_eq!(call.name, "make_file");
    assert!(call.arguments.as_str().unwrap().ends_with("\"Filing taxes"));

    let Folded::Ok(thinking) = get("messages_stream_thinking_signature_refusal.sse") else {
        panic!("thinking stream failed")
    };
    let t = thinking.message.thinking().next().unwrap();
    assert!(t.text.starts_with("Simple educational question"));
    assert!(t.signature.as_deref().unwrap().starts_with("c3ludGhl"));
    assert_eq!(t.provider.as_deref(), Some("anthropic"));
    assert_eq!(thinking.usage.reasoning_tokens, Some(67));
    assert_eq!(thinking.finish_reason, FinishReason::ContentFilter);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_chunking_folds_the_same(sizes in prop::collection::vec(1usize..64, 1..12)) {
        let rt = runtime();
        for (name, bytes) in FIXTURES {
            let whole = fold(&rt, bytes, &[bytes.len().max(1)]);
            let split = fold(&rt, bytes, &sizes);
            prop_assert_eq!(&whole, &split, "{} with chunks {:?}", name, sizes);
        }
    }
}

// ===== request building =====

fn build(request: &Request, config: &AnthropicConfig) -> serde_json::Value {
    let rt = runtime();
    let client = HttpClient::new(HttpSettings::new("http://127.0.0.1:9")).unwrap();
    let wire = rt
        .block_on(request::build(request, "claude-x", config, &client, false))
        .unwrap();
    serde_json::from_slice(&serde_json::to_vec(&wire).unwrap()).unwrap()
}

#[test]
fn tool_results_come_first_and_same_role_turns_merge() {
    let request = Request::new()
        .user("weather?")
        .message(Message::new(
            Role::Assistant,
            vec![Part::ToolCall(ToolCall::new(
                "call.1",
                "get_weather",
                json!({"city": "SF"}),
            ))],
        ))
        .tool_results([ToolResult::ok("call.1", "sunny")])
        .user("and tomorrow?");
    let body = build(&request, &AnthropicConfig::new());
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    let id = messages[1]["content"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        id.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    );
    assert_eq!(messages[2]["role"], "user");
    assert_eq!(messages[2]["content"][0]["type"], "tool_result");
    assert_eq!(messages[2]["content"][0]["tool_use_id"], id.as_str());
    assert_eq!(
        messages[2]["content"][1],
        json!({"type": "text", "text": "and tomorrow?"})
    );
    assert_eq!(body["max_tokens"], 4096);
}

#[test]
fn thinking_drops_forced_tool_choice_and_temperature_and_raises_max_tokens() {
    let request = Request::new()
        .user("hi")
        .tool(Tool::new("t", "a tool", json!({"type": "object"})))
        .tool_choice(ToolChoice::Required)
        .temperature(0.3)
        .top_p(0.5)
        .max_tokens(1000)
        .reasoning(ReasoningLevel::Budget(10));
    let body = build(&request, &AnthropicConfig::new().default_max_tokens(500));
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024})
    );
    assert_eq!(body["max_tokens"], 1524);
    assert!(body.get("tool_choice").is_none());
    assert!(body.get("temperature").is_none());
    assert_eq!(body["top_p"], 0.95);

    let plain = Request::new()
        .user("hi")
        .tool(Tool::new("t", "a tool", json!({"type": "object"})))
        .tool_choice(ToolChoice::Tool("t".into()))
        .temperature(0.25)
        .reasoning(ReasoningLevel::Off);
    let body = build(&plain, &AnthropicConfig::new());
    assert!(body.get("thinking").is_none());
    assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "t"}));
    assert_eq!(body["temperature"], 0.25);
}

#[test]
fn only_our_own_signed_thinking_goes_back() {
    let assistant = Message::new(
        Role::Assistant,
        vec![
            Part::Thinking(
                Thinking::text("mine")
                    .with_signature("sig")
                    .from_provider("claude"),
            ),
            Part::Thinking(
                Thinking::text("theirs")
                    .with_signature("x")
                    .from_provider("other"),
            ),
            Part::Thinking(Thinking::text("unsigned").from_provider("claude")),
            Part::Thinking(Thinking::redacted("opaque").from_provider("claude")),
            Part::text("answer"),
        ],
    );
    let request = Request::new().user("q").message(assistant).user("more");
    let body = build(&request, &AnthropicConfig::new().name("claude"));
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "mine", "signature": "sig"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "answer"}
        ])
    );
}

#[test]
fn system_messages_and_json_mode_go_to_system() {
    let request = Request::new()
        .system("Be brief.")
        .message(Message::system("Use French."))
        .user("hi")
        .response_format(crate::ResponseFormat::Json);
    let body = build(&request, &AnthropicConfig::new());
    let system = body["system"].as_str().unwrap();
    assert!(system.starts_with("Be brief.\n\nUse French.\n\n"));
    assert!(system.contains("JSON"));
    assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));
}
