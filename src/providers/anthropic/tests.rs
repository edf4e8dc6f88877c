//! Unit tests: every recorded stream folds the same way whatever the chunking
//! (one byte at a time included), and request-building rules that need no server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::config::AnthropicConfig;
use super::request;
use super::stream::{MessagesFraming, MessagesStream};
use crate::providers::http::body::event_stream_from_bytes;
use crate::providers::http::client::HttpClient;
use crate::providers::http::{HttpSettings, chunk_by};
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

fn fold(rt: &tokio::runtime::Runtime, bytes: &[u8], sizes: &[usize]) -> Folded {
    let pieces: Vec<reqwest::Result<Bytes>> = chunk_by(bytes, sizes)
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
    build_for("claude-x", request, config)
}

fn build_for(model: &str, request: &Request, config: &AnthropicConfig) -> serde_json::Value {
    let rt = runtime();
    let client = HttpClient::new(HttpSettings::new("http://127.0.0.1:9")).unwrap();
    let wire = rt
        .block_on(request::build(request, model, config, &client, false))
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
fn budget_thinking_raises_max_tokens_and_drops_temperature() {
    let request = Request::new()
        .user("hi")
        .temperature(0.3)
        .top_p(0.5)
        .max_tokens(1000)
        .reasoning(ReasoningLevel::Budget(10));
    let config = AnthropicConfig::new().default_max_tokens(500);
    let body = build_for("claude-sonnet-4-5", &request, &config);
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024})
    );
    assert_eq!(body["max_tokens"], 1524);
    assert!(body.get("temperature").is_none());
    assert_eq!(body["top_p"], 0.95);
    assert!(body.get("output_config").is_none());

    let plain = Request::new()
        .user("hi")
        .tool(Tool::new("t", "a tool", json!({"type": "object"})))
        .tool_choice(ToolChoice::Tool("t".into()))
        .temperature(0.25)
        .reasoning(ReasoningLevel::Off);
    let body = build_for("claude-sonnet-4-5", &plain, &AnthropicConfig::new());
    assert!(body.get("thinking").is_none());
    assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "t"}));
    assert_eq!(body["temperature"], 0.25);
}

#[test]
fn a_forced_tool_choice_turns_thinking_off() {
    for model in ["claude-sonnet-4-5", "claude-opus-4-6", "claude-opus-4-7"] {
        for (choice, wire) in [
            (ToolChoice::Required, json!({"type": "any"})),
            (
                ToolChoice::Tool("t".into()),
                json!({"type": "tool", "name": "t"}),
            ),
        ] {
            let request = Request::new()
                .user("hi")
                .tool(Tool::new("t", "a tool", json!({"type": "object"})))
                .tool_choice(choice)
                .reasoning(ReasoningLevel::High);
            let body = build_for(model, &request, &AnthropicConfig::new());
            assert_eq!(body["tool_choice"], wire, "{model}");
            assert!(body.get("thinking").is_none(), "{model}");
            assert!(body.get("output_config").is_none(), "{model}");
            assert_eq!(body["max_tokens"], 4096, "{model}");
        }
    }
    // `auto` and `none` keep thinking.
    let request = Request::new()
        .user("hi")
        .tool(Tool::new("t", "a tool", json!({"type": "object"})))
        .tool_choice(ToolChoice::None)
        .reasoning(ReasoningLevel::Low);
    let body = build_for("claude-sonnet-4-5", &request, &AnthropicConfig::new());
    assert_eq!(body["tool_choice"], json!({"type": "none"}));
    assert_eq!(body["thinking"]["type"], "enabled");
}

#[test]
fn newer_models_get_adaptive_thinking_with_an_effort_level() {
    for (model, top_p) in [
        ("claude-opus-4-6", json!(0.95)),
        ("claude-opus-4-7", Value::Null),
    ] {
        let request = Request::new()
            .user("hi")
            .temperature(0.2)
            .top_p(0.5)
            .reasoning(ReasoningLevel::Medium);
        let body = build_for(model, &request, &AnthropicConfig::new());
        assert_eq!(
            body["thinking"],
            json!({"type": "adaptive", "display": "summarized"}),
            "{model}"
        );
        assert_eq!(
            body["output_config"],
            json!({"effort": "medium"}),
            "{model}"
        );
        assert_eq!(body["max_tokens"], 8192 + 4096, "{model}");
        assert!(body.get("temperature").is_none(), "{model}");
        assert_eq!(body["top_p"], top_p, "{model}");
    }
    // An explicit max_tokens is kept: adaptive thinking has no budget to fit.
    let request = Request::new()
        .user("hi")
        .max_tokens(2000)
        .reasoning(ReasoningLevel::Budget(40_000));
    let body = build_for("claude-sonnet-5", &request, &AnthropicConfig::new());
    assert_eq!(body["max_tokens"], 2000);
    assert_eq!(body["output_config"], json!({"effort": "max"}));
    // With a JSON schema, effort and format share `output_config`.
    let request = Request::new()
        .user("hi")
        .reasoning(ReasoningLevel::Minimal)
        .json_schema("x", json!({"type": "object", "properties": {}}));
    let body = build_for("claude-opus-5", &request, &AnthropicConfig::new());
    assert_eq!(
        body["output_config"],
        json!({"effort": "low", "format": {"type": "json_schema", "schema": {
            "type": "object", "properties": {}, "additionalProperties": false
        }}})
    );
}

#[test]
fn reasoning_off_turns_thinking_off_where_models_think_by_default() {
    let request = Request::new()
        .user("hi")
        .temperature(0.5)
        .reasoning(ReasoningLevel::Off);
    for (model, thinking) in [
        // Opus 5 and Sonnet 5 think unless told not to.
        ("claude-opus-5", json!({"type": "disabled"})),
        ("claude-sonnet-5", json!({"type": "disabled"})),
        // Fable and Mythos always think: `disabled` would be rejected.
        ("claude-fable-5-1", Value::Null),
        // Older models do not think unless asked.
        ("claude-sonnet-4-5", Value::Null),
        ("claude-opus-4-6", Value::Null),
    ] {
        let body = build_for(model, &request, &AnthropicConfig::new());
        assert_eq!(body["thinking"], thinking, "{model}");
        assert!(body.get("output_config").is_none(), "{model}");
    }
    // No level at all leaves the model's default.
    let body = build_for(
        "claude-opus-5",
        &Request::new().user("hi"),
        &AnthropicConfig::new(),
    );
    assert!(body.get("thinking").is_none());
    // Thinking off keeps the temperature where the model takes one.
    let body = build_for("claude-sonnet-4-5", &request, &AnthropicConfig::new());
    assert_eq!(body["temperature"], 0.5);
}

#[test]
fn sampling_parameters_follow_the_model_generation() {
    let request = Request::new().user("hi").temperature(1.5).top_p(0.9);
    let cases = [
        // Claude 3: both; temperature within 0..=1.
        ("claude-3-haiku-20240307", json!(1.0), json!(0.9)),
        // Claude 4 to 4.6: one of the two (temperature kept).
        ("claude-sonnet-4-5", json!(1.0), Value::Null),
        ("claude-opus-4-6", json!(1.0), Value::Null),
        // The newest models take none.
        ("claude-opus-4-7", Value::Null, Value::Null),
        ("claude-sonnet-5", Value::Null, Value::Null),
        // Not a Claude id: as asked (clamped).
        ("glm-4.6", json!(1.0), json!(0.9)),
    ];
    for (model, temperature, top_p) in cases {
        let body = build_for(model, &request, &AnthropicConfig::new());
        assert_eq!(body["temperature"], temperature, "{model}");
        assert_eq!(body["top_p"], top_p, "{model}");
    }
    let only_top_p = Request::new().user("hi").top_p(0.7);
    let body = build_for("claude-haiku-4-5", &only_top_p, &AnthropicConfig::new());
    assert!(body.get("temperature").is_none());
    assert_eq!(body["top_p"], json!(0.7));
}

#[test]
fn repeated_tool_ids_get_unique_replacements_mapped_to_their_results() {
    // Two turns, each calling `call_0` (as Ollama or Gemini number them), the
    // second one twice, and results that answer them.
    let call = |id: &str, city: &str| {
        Part::ToolCall(ToolCall::new(id, "get_weather", json!({"city": city})))
    };
    let history = Request::new()
        .user("weather in SF?")
        .message(Message::new(Role::Assistant, vec![call("call_0", "SF")]))
        .tool_results([ToolResult::ok("call_0", "sunny")])
        .user("and LA, NY?")
        .message(Message::new(
            Role::Assistant,
            vec![
                call("call_0", "LA"),
                call("call_0", "NY"),
                call("call_1", "B"),
            ],
        ))
        .tool_results([
            ToolResult::ok("call_0", "cloudy"),
            ToolResult::ok("call_0", "rain"),
            ToolResult::ok("call_1", "snow"),
        ])
        .message(Message::new(Role::Assistant, vec![call("call_0_2", "X")]))
        .tool_results([ToolResult::ok("call_0_2", "fog")]);
    let body = build(&history, &AnthropicConfig::new());
    let messages = body["messages"].as_array().unwrap();
    let ids = |i: usize, key: &str| -> Vec<String> {
        messages[i]["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b[key].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(ids(1, "id"), ["call_0"]);
    assert_eq!(ids(2, "tool_use_id"), ["call_0"]);
    assert_eq!(ids(3, "id"), ["call_0_2", "call_0_3", "call_1"]);
    assert_eq!(ids(4, "tool_use_id"), ["call_0_2", "call_0_3", "call_1"]);
    assert_eq!(messages[4]["content"][1]["content"], "rain");
    // A later call whose own id was taken by a replacement is renamed too.
    assert_eq!(ids(5, "id"), ["call_0_2_2"]);
    assert_eq!(ids(6, "tool_use_id"), ["call_0_2_2"]);
    // Every id is unique, and the same history always gives the same ids.
    let mut all: Vec<String> = (0..messages.len()).flat_map(|i| ids(i, "id")).collect();
    let count = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), count);
    assert_eq!(build(&history, &AnthropicConfig::new()), body);
}

#[test]
fn blank_texts_stops_and_tool_results_are_not_sent_blank() {
    let request = Request::new()
        .system("  ")
        .user("weather?")
        .message(Message::new(
            Role::Assistant,
            vec![
                Part::text("\n\n"),
                Part::ToolCall(ToolCall::new("toolu_1", "get_weather", json!({}))),
            ],
        ))
        .tool_results([
            ToolResult::ok("toolu_1", ""),
            ToolResult::error("toolu_1", " \n"),
        ])
        .stop("\n")
        .stop("END");
    let body = build(&request, &AnthropicConfig::new());
    assert!(body.get("system").is_none());
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert_eq!(
        body["messages"][1]["content"],
        json!([{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}])
    );
    assert_eq!(
        body["messages"][2]["content"],
        json!([
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": request::EMPTY_RESULT},
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": request::EMPTY_RESULT, "is_error": true}
        ])
    );
}

#[test]
fn tool_schemas_without_a_type_get_object() {
    let request = Request::new()
        .user("hi")
        .tool(Tool::new(
            "a",
            "",
            json!({"properties": {"x": {"type": "string"}}}),
        ))
        .tool(Tool::new("b", "", json!({})));
    let body = build(&request, &AnthropicConfig::new());
    assert_eq!(
        body["tools"][0]["input_schema"],
        json!({"type": "object", "properties": {"x": {"type": "string"}}})
    );
    assert_eq!(
        body["tools"][1]["input_schema"],
        json!({"type": "object", "properties": {}})
    );
}

#[test]
fn only_our_own_signed_thinking_goes_back() {
    let assistant = Message::new(
        Role::Assistant,
        vec![
            Part::Thinking(
                Thinking::text("mine")
                    .with_signature("sig")
                    .with_provider("claude"),
            ),
            Part::Thinking(
                Thinking::text("theirs")
                    .with_signature("x")
                    .with_provider("other"),
            ),
            Part::Thinking(Thinking::text("unsigned").with_provider("claude")),
            Part::Thinking(Thinking::redacted("opaque").with_provider("claude")),
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

#[test]
fn the_config_builder_speaks_the_common_vocabulary() {
    use std::time::Duration;

    use crate::Capabilities;
    use crate::providers::http::MediaLimits;

    let default = AnthropicConfig::default();
    assert_eq!(default.provider_name(), "anthropic");
    assert_eq!(default.http_settings().base_url(), super::DEFAULT_BASE_URL);
    assert!(default.http_settings().credential().is_none());
    assert_eq!(default.api_version(), super::DEFAULT_VERSION);
    assert_eq!(
        default.options.default_max_tokens,
        super::DEFAULT_MAX_TOKENS
    );
    assert_eq!(AnthropicConfig::new().provider_name(), "anthropic");

    let settings = HttpSettings::new("http://gw.lan/anthropic/")
        .api_key("sk-ant-settings")
        .timeout(Duration::from_secs(7))
        .header("x-tenant", "t1");
    let from = AnthropicConfig::from_settings(settings);
    assert_eq!(from.provider_name(), "anthropic");
    assert_eq!(from.api_version(), super::DEFAULT_VERSION);
    assert_eq!(from.http_settings().base_url(), "http://gw.lan/anthropic");
    assert_eq!(
        from.http_settings().credential().map(Secret::expose),
        Some("sk-ant-settings")
    );

    let config = from
        .name("claude")
        .base_url("http://other.lan/")
        .connect_timeout(Duration::from_secs(3))
        .header("x-extra", "e1")
        .media_limits(MediaLimits::default())
        .capabilities(Capabilities::unknown());
    let http = config.http_settings();
    assert_eq!(config.provider_name(), "claude");
    assert_eq!(http.base_url(), "http://other.lan");
    assert_eq!(
        http.credential().map(Secret::expose),
        Some("sk-ant-settings")
    );
    assert_eq!(http.request_timeout, Duration::from_secs(7));
    assert_eq!(http.connect_timeout, Duration::from_secs(3));
    let debug = format!("{http:?}");
    assert!(
        debug.contains("x-tenant") && debug.contains("x-extra"),
        "{debug}"
    );
    assert!(!debug.contains("sk-ant-settings"), "{debug}");
    assert_eq!(config.capabilities, Capabilities::unknown());

    let replaced = config.http(HttpSettings::new("http://third.lan"));
    assert_eq!(replaced.http_settings().base_url(), "http://third.lan");
    assert!(replaced.http_settings().credential().is_none());
    assert!(!format!("{:?}", replaced.http_settings()).contains("x-tenant"));
    assert_eq!(replaced.provider_name(), "claude");
}
