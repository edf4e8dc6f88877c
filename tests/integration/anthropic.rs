//! Integration tests: anthropic. Real loopback HTTP: wiremock serves the
//! recorded fixtures; `PacedServer` stalls and cuts streams.

#![cfg(feature = "anthropic")]

use std::sync::Arc;

use base64::Engine as _;
use majordomo::providers::anthropic::{AnthropicConfig, AnthropicProvider};
use majordomo::{
    Error, ErrorClass, FinishReason, Image, Message, Model, Part, Provider, ReasoningLevel,
    Request, Response, Role, StreamEvent, Thinking, Tool, ToolCall, ToolResult, Usage,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use crate::support::call::generated;
use crate::support::http::{
    answer, assert_no_credential, bodies, bodies_where, events, fixture_answer, fixture_json,
    header_of, only_body, serve_fixture_at, serve_route, serve_route_once_then, serve_route_with,
    stream_fold, tool_of,
};
use crate::support::registry::{ask, registry_with_env};

/// A recognizable key: no error text may ever contain it.
const KEY: &str = "sk-ant-api03-TESTKEY-do-not-leak-7f3a9c";
const MODEL: &str = "claude-x";
/// A model of the Claude 3 generation (budget thinking, free sampling).
const CLAUDE_3: &str = "claude-3-haiku-20240307";

fn config(base: &str) -> AnthropicConfig {
    AnthropicConfig::new()
        .name("claude")
        .base_url(base)
        .api_key(KEY)
}

fn model_at(config: AnthropicConfig, id: &str) -> Arc<dyn Model> {
    AnthropicProvider::new(config).unwrap().model(id).unwrap()
}

/// The route every call goes to.
const ROUTE: &str = "/v1/messages";

/// A server answering every `POST /v1/messages` with `status` and `body`.
async fn serve(status: u16, body: Vec<u8>, content_type: &str) -> MockServer {
    serve_route(ROUTE, status, body, content_type).await
}

async fn serve_fixture(name: &str) -> MockServer {
    serve_route_with(ROUTE, fixture_answer(&format!("anthropic/{name}"))).await
}

/// The answer without its raw metadata (a folded stream has none).
fn without_raw(mut response: Response) -> Response {
    response.raw = None;
    response
}

/// Asserts the error names the target and never the key.
fn assert_clean(error: &Error) {
    assert_eq!(error.provider(), Some("claude"), "{error:?}");
    assert_eq!(error.model(), Some(MODEL), "{error:?}");
    assert_no_credential(error, &[KEY, "TESTKEY"]);
}

/// What the model reads from the plain JSON answer `body`.
async fn reply_to(body: &Value, request: Request) -> Response {
    let server = serve(200, body.to_string().into_bytes(), "application/json").await;
    model_at(config(&server.uri()), MODEL)
        .generate(request)
        .await
        .unwrap()
}

fn weather_tool() -> Tool {
    tool_of(&fixture_json("anthropic/messages_request_tools.json")["tools"][0])
}

// ===== request bodies and headers =====

#[tokio::test]
async fn plain_chat_sends_system_prompt_options_and_headers() {
    let server = serve_fixture("messages_response_text.json").await;
    // Claude 3 takes temperature and top_p together (Claude 4+ only one of them).
    let model = model_at(config(&server.uri()), CLAUDE_3);
    let response = generated(
        &model,
        Request::new()
            .system("You are terse.")
            .user("Hello")
            .temperature(0.5)
            .top_p(0.9)
            .stop("END")
            .max_tokens(300),
    )
    .await;

    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/v1/messages");
    let header = |name: &str| request.headers.get(name).unwrap().to_str().unwrap();
    assert_eq!(header("x-api-key"), KEY);
    assert_eq!(header("anthropic-version"), "2023-06-01");
    assert_eq!(header("content-type"), "application/json");
    assert!(request.headers.get("authorization").is_none());

    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["model"], CLAUDE_3);
    assert_eq!(body["max_tokens"], 300);
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "Hello"}])
    );
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["stop_sequences"], json!(["END"]));
    for absent in [
        "stream",
        "thinking",
        "tools",
        "tool_choice",
        "output_config",
    ] {
        assert!(body.get(absent).is_none(), "{absent} must not be sent");
    }
    assert_eq!(body.as_object().unwrap().len(), 7);

    assert_eq!(
        response.text(),
        "The weather in San Francisco, CA is currently **Sunny** with a temperature of **68°F**."
    );
    assert_eq!(response.finish_reason, FinishReason::Stop);
    assert_eq!(response.provider, "claude");
    assert_eq!(response.model, "claude-haiku-4-5-20251001");
    assert_eq!(
        response.usage,
        Usage::new(770, 25).with_cached_input_tokens(0)
    );
    assert_eq!(
        response.raw.as_ref().unwrap()["id"],
        "msg_01BZsMQjer9AFLgmdRKJ8NcA"
    );
}

#[tokio::test]
async fn max_tokens_defaults_when_the_request_sets_none() {
    let server = serve_fixture("messages_response_text.json").await;
    let model = model_at(config(&server.uri()).default_max_tokens(777), MODEL);
    generated(&model, Request::new().user("hi")).await;
    assert_eq!(only_body(&server).await["max_tokens"], 777);
}

#[tokio::test]
async fn tool_call_round_trip_matches_the_recorded_requests() {
    let server = serve_route_once_then(
        "/v1/messages",
        fixture_answer("anthropic/messages_response_tool_use.json"),
        fixture_answer("anthropic/messages_response_text.json"),
    )
    .await;
    let model = model_at(config(&server.uri()), "claude-haiku-4-5");

    let first = Request::new()
        .user("What is the weather in SF?")
        .tool(weather_tool())
        .max_tokens(1024);
    let answer = generated(&model, first.clone()).await;
    assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        answer.usage,
        Usage::new(656, 74).with_cached_input_tokens(0)
    );
    let calls: Vec<&ToolCall> = answer.tool_calls().collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id, "toolu_011bpynHqFZ9P4u5rSaXsTJQ");
    assert_eq!(calls[0].name, "get_weather");
    assert_eq!(
        calls[0].arguments,
        json!({"location": "San Francisco, CA", "units": "f"})
    );

    // The recorded tool output, verbatim (its JSON text escapes the degree sign).
    let recorded = fixture_json("anthropic/messages_request_tool_result.json");
    let output = recorded["messages"][2]["content"][0]["content"]
        .as_str()
        .unwrap();
    let result = ToolResult::ok(calls[0].id.clone(), output);
    let second = first.message(answer.to_message()).tool_results([result]);
    let reply = generated(&model, second).await;
    assert_eq!(reply.finish_reason, FinishReason::Stop);
    assert!(reply.text().contains("Sunny"));

    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0],
        fixture_json("anthropic/messages_request_tools.json")
    );
    // The recording echoes the server's `caller` annotation back; we send the
    // tool_use block without it.
    let mut expected = fixture_json("anthropic/messages_request_tool_result.json");
    expected["messages"][1]["content"][0]
        .as_object_mut()
        .unwrap()
        .remove("caller");
    assert_eq!(sent[1], expected);
}

#[tokio::test]
async fn url_images_are_sent_as_url_sources_and_data_urls_as_base64() {
    let server = serve_fixture("messages_response_text.json").await;
    let model = model_at(config(&server.uri()), MODEL);
    let request = Request::new()
        .user_with_image("What is this?", Image::url("https://example.com/cat.png"))
        .user_with_image(
            "And this?",
            Image::url("data:image/gif;base64,R0lGODlhAQABAAAAACw="),
        );
    generated(&model, request).await;
    let body = only_body(&server).await;
    let content = &body["messages"][0]["content"];
    assert_eq!(
        content[1],
        json!({"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}})
    );
    // Consecutive user turns are merged into one.
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(content[2], json!({"type": "text", "text": "And this?"}));
    assert_eq!(
        content[3],
        json!({"type": "image", "source": {
            "type": "base64", "media_type": "image/gif", "data": "R0lGODlhAQABAAAAACw="
        }})
    );
}

#[tokio::test]
async fn inline_images_option_fetches_url_images_and_sends_bytes() {
    let server = serve_fixture("messages_response_text.json").await;
    let png = b"\x89PNG\r\n\x1a\nfake-image-bytes".to_vec();
    Mock::given(method("GET"))
        .and(path("/cat.png"))
        .respond_with(answer(200, png.clone(), "image/png"))
        .mount(&server)
        .await;
    let model = model_at(
        config(&server.uri())
            .inline_images(true)
            .media_limits(majordomo::providers::http::MediaLimits::default()),
        MODEL,
    );
    let url = format!("{}/cat.png", server.uri());
    generated(
        &model,
        Request::new().user_with_image("What is this?", Image::url(url)),
    )
    .await;
    let posts = bodies_where(&server, |r| r.method.as_str() == "POST").await;
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0]["messages"][0]["content"][1]["source"],
        json!({
            "type": "base64",
            "media_type": "image/png",
            "data": base64::engine::general_purpose::STANDARD.encode(&png)
        })
    );
}

#[tokio::test]
async fn reasoning_level_becomes_a_thinking_budget_up_to_claude_4_5() {
    let server = serve_fixture("messages_response_text.json").await;
    let model = model_at(config(&server.uri()), "claude-sonnet-4-5");
    // The SDK example's budget call is in `conformance` (documented requests).
    generated(
        &model,
        Request::new()
            .user("Create a haiku about Anthropic.")
            .temperature(0.7)
            .reasoning(ReasoningLevel::Medium),
    )
    .await;
    generated(
        &model,
        Request::new()
            .user("Create a haiku about Anthropic.")
            .reasoning(ReasoningLevel::Off),
    )
    .await;
    let sent = bodies(&server).await;
    // Medium = 8192; max_tokens (default 4096) must exceed it; temperature is dropped.
    assert_eq!(
        sent[0]["thinking"],
        json!({"type": "enabled", "budget_tokens": 8192})
    );
    assert_eq!(sent[0]["max_tokens"], 8192 + 4096);
    assert!(sent[0].get("temperature").is_none());
    assert!(sent[1].get("thinking").is_none());
    assert_eq!(sent[1]["max_tokens"], 4096);
}

#[tokio::test]
async fn newer_models_get_adaptive_thinking_and_no_sampling_parameters() {
    let server = serve_fixture("messages_stream_thinking_signature_refusal.sse").await;
    for id in ["claude-sonnet-5", "claude-opus-4-7"] {
        let model = model_at(config(&server.uri()), id);
        let answer = stream_fold(
            model.as_ref(),
            Request::new()
                .user("Create a haiku about Anthropic.")
                .max_tokens(3200)
                .temperature(0.7)
                .top_p(0.9)
                .reasoning(ReasoningLevel::Budget(1600)),
        )
        .await
        .unwrap();
        assert_eq!(answer.message.thinking().count(), 1);
    }
    for body in bodies(&server).await {
        assert_eq!(
            body["thinking"],
            json!({"type": "adaptive", "display": "summarized"})
        );
        assert_eq!(body["output_config"], json!({"effort": "low"}));
        assert_eq!(body["max_tokens"], 3200);
        assert!(body.get("temperature").is_none(), "{body}");
        assert!(body.get("top_p").is_none(), "{body}");
    }
}

fn thinking_text() -> String {
    [
        "Simple educ",
        "ational question about what a solar eclipse is. This is benign general knowledge — definitions are fine. Also the user called",
        " me \"claudius\" — I'm Claude. Minor correction or just roll with it politely.",
    ]
    .concat()
}

const SIGNATURE: &str = "c3ludGhldGljLXNpZ25hdHVyZS1maXh0dXJlLWEtbm90LWEtcmVhbC1zaWduYXR1cmU=";

#[tokio::test]
async fn own_thinking_goes_back_with_its_signature_and_foreign_thinking_is_dropped() {
    let streamed = serve_fixture("messages_stream_thinking_signature_refusal.sse").await;
    let model = model_at(config(&streamed.uri()), MODEL);
    let first = Request::new()
        .user("hi claudius, what is a solar eclipse?")
        .reasoning(ReasoningLevel::Low);
    let answer = stream_fold(model.as_ref(), first.clone()).await.unwrap();
    let thinking = answer.message.thinking().next().unwrap().clone();
    assert_eq!(thinking.provider.as_deref(), Some("claude"));

    let next = serve_fixture("messages_response_text.json").await;
    let model = model_at(config(&next.uri()), MODEL);
    let foreign = Message::new(
        Role::Assistant,
        vec![
            Part::Thinking(Thinking::text("openai reasoning").with_provider("openai")),
            Part::Thinking(Thinking::redacted("gemini-opaque").with_provider("gemini")),
            Part::text("An earlier answer."),
        ],
    );
    let request = first
        .message(answer.to_message())
        .user("tell me more")
        .message(foreign)
        .user("thanks");
    generated(&model, request).await;
    let body = only_body(&next).await;
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 5);
    assert_eq!(
        messages[1],
        json!({"role": "assistant", "content": [
            {"type": "thinking", "thinking": thinking_text(), "signature": SIGNATURE},
            {"type": "text", "text": "Hi"}
        ]})
    );
    assert_eq!(
        messages[3],
        json!({"role": "assistant", "content": "An earlier answer."})
    );
    assert!(!body.to_string().contains("openai reasoning"));
    assert!(!body.to_string().contains("gemini-opaque"));
}

#[tokio::test]
async fn foreign_tool_ids_are_sanitized_consistently() {
    let server = serve_fixture("messages_response_text.json").await;
    let model = model_at(config(&server.uri()), MODEL);
    let foreign_id = "call:abc.123/xyz";
    let request = Request::new()
        .user("weather?")
        .message(Message::new(
            Role::Assistant,
            vec![
                Part::ToolCall(ToolCall::new(
                    foreign_id,
                    "get_weather",
                    json!({"location": "SF"}),
                )),
                Part::ToolCall(ToolCall::new(
                    "call_ok-1",
                    "get_weather",
                    json!({"location": "LA"}),
                )),
            ],
        ))
        .tool_results([
            ToolResult::ok(foreign_id, "sunny"),
            ToolResult::ok("call_ok-1", "cloudy"),
        ])
        .tool(weather_tool());
    generated(&model, request).await;
    let body = only_body(&server).await;
    let calls = &body["messages"][1]["content"];
    let results = &body["messages"][2]["content"];
    let id = calls[0]["id"].as_str().unwrap();
    assert!(
        id.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "{id}"
    );
    assert_ne!(id, foreign_id);
    assert_eq!(results[0]["tool_use_id"], id);
    assert_eq!(calls[1]["id"], "call_ok-1");
    assert_eq!(results[1]["tool_use_id"], "call_ok-1");
}

// ===== streams =====

#[tokio::test]
async fn every_stream_fixture_folds_into_the_expected_response() {
    type Check = Box<dyn Fn(&Response)>;
    let cases: Vec<(&str, Check)> = vec![
        (
            "messages_stream_basic.sse",
            Box::new(|r: &Response| {
                assert_eq!(r.text(), "Hello there!");
                assert_eq!(r.finish_reason, FinishReason::Stop);
                assert_eq!(r.usage, Usage::new(11, 6));
                assert_eq!(r.model, "claude-3-opus-latest");
            }),
        ),
        (
            "messages_stream_tool_use.sse",
            Box::new(|r: &Response| {
                let call = r.tool_calls().next().unwrap();
                assert_eq!(call.id, "toolu_018acGYLtfR52q9yDbWaEdQZ");
                assert_eq!(
                    call.arguments,
                    json!({"location": "San Francisco, CA", "units": "f"})
                );
                assert_eq!(r.finish_reason, FinishReason::ToolCalls);
                assert_eq!(r.usage, Usage::new(656, 74).with_cached_input_tokens(0));
            }),
        ),
        (
            "messages_stream_text_after_tool_result.sse",
            Box::new(|r: &Response| {
                assert_eq!(
                    r.text(),
                    "The weather in San Francisco, CA is currently:\n- **Temperature:** 68°F\n- **Condition:** Sunny\n\nIt's a nice sunny day!"
                );
                assert_eq!(r.message.parts.len(), 1);
                assert_eq!(r.usage, Usage::new(770, 38).with_cached_input_tokens(0));
            }),
        ),
        (
            "messages_stream_structured_output.sse",
            Box::new(|r: &Response| assert_eq!(r.text(), "[12345,67890]")),
        ),
        (
            "messages_stream_refusal.sse",
            Box::new(|r: &Response| {
                assert!(r.message.parts.is_empty());
                assert_eq!(r.finish_reason, FinishReason::ContentFilter);
                assert_eq!(r.usage, Usage::new(20, 0));
                assert_eq!(r.model, "claude-opus-4-7");
            }),
        ),
        (
            "messages_stream_thinking_signature_refusal.sse",
            Box::new(|r: &Response| {
                assert_eq!(r.message.parts.len(), 2);
                let t = r.message.thinking().next().unwrap();
                assert_eq!(t.text, thinking_text());
                assert_eq!(t.signature.as_deref(), Some(SIGNATURE));
                assert_eq!(r.text(), "Hi");
                assert_eq!(r.finish_reason, FinishReason::ContentFilter);
                assert_eq!(
                    r.usage,
                    Usage::new(28, 106)
                        .with_cached_input_tokens(0)
                        .with_reasoning_tokens(67)
                );
            }),
        ),
        (
            "messages_stream_max_tokens_partial_tool_json.sse",
            Box::new(|r: &Response| {
                assert_eq!(
                    r.text(),
                    "I'll create a comprehensive tax guide for someone with multiple W2s and save it in a file called taxes.txt. Let me do that for you now."
                );
                let call = r.tool_calls().next().unwrap();
                assert_eq!(call.id, "toolu_01EKqbqmZrGRXy18eN7m9kvY");
                assert_eq!(call.name, "make_file");
                // Cut mid-JSON: kept as the text received, not dropped.
                let text = call.arguments.as_str().unwrap();
                assert!(text.starts_with("{\"filename\": \"taxes.txt\", \"lines_of_text\": ["));
                assert!(text.ends_with("\n\"Filing taxes"));
                assert_eq!(r.finish_reason, FinishReason::Length);
                assert_eq!(r.usage, Usage::new(450, 124).with_cached_input_tokens(0));
            }),
        ),
    ];
    for (name, check) in cases {
        let server = serve_fixture(name).await;
        let model = model_at(config(&server.uri()), MODEL);
        let response = stream_fold(model.as_ref(), Request::new().user("hi"))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(response.provider, "claude", "{name}");
        assert_eq!(only_body(&server).await["stream"], true, "{name}");
        check(&response);
    }
}

#[tokio::test]
async fn stream_tool_indices_count_tool_calls_not_blocks() {
    let server = serve_fixture("messages_stream_max_tokens_partial_tool_json.sse").await;
    let model = model_at(config(&server.uri()), MODEL);
    let events = events(model.as_ref(), Request::new().user("hi")).await;
    let starts: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallStart { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    // The tool call is Anthropic block 1, but our tool call 0.
    assert_eq!(starts, [0]);
    assert!(events.iter().all(|e| match e {
        StreamEvent::ToolCallDelta { index, .. } | StreamEvent::ToolCallEnd { index } =>
            *index == 0,
        _ => true,
    }));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StreamEvent::ToolCallEnd { index: 0 }))
    );
    assert!(matches!(
        events.last(),
        Some(StreamEvent::Finish {
            reason: FinishReason::Length
        })
    ));
}

#[tokio::test]
async fn unknown_events_blocks_and_deltas_are_ignored() {
    let body = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-x-1\",\"usage\":{\"input_tokens\":5,\"cache_read_input_tokens\":3,\"cache_creation_input_tokens\":2,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{}}}\n\n",
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: brand_new_event\n",
        "data: {\"type\":\"brand_new_event\",\"stuff\":[1,2]}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"EmwKAhgB\"}}\n\n",
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"text\",\"text\":\"\",\"citations\":[]}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"citations_delta\",\"citation\":{\"type\":\"char_location\"}}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"future_delta\",\"x\":1}}\n\n",
        "event: content_block_delta\n",
        "data:    {  \"type\" : \"content_block_delta\" , \"index\" : 2 , \"delta\" : { \"type\" : \"text_delta\" , \"text\" : \"ok\" }  }   \n\n",
        ": a comment\n\n",
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"pause_turn\"},\"usage\":{\"output_tokens\":9}}\n\n",
        "event: message_stop\n",
        "data: {\"type\":\"message_stop\"}\n\n",
    );
    let server = serve(200, body.as_bytes().to_vec(), "text/event-stream").await;
    let model = model_at(config(&server.uri()), MODEL);
    let response = stream_fold(model.as_ref(), Request::new().user("hi"))
        .await
        .unwrap();
    assert_eq!(response.model, "claude-x-1");
    assert_eq!(response.message.parts.len(), 2);
    assert_eq!(
        response.message.parts[0],
        Part::Thinking(Thinking::redacted("EmwKAhgB").with_provider("claude"))
    );
    assert_eq!(response.text(), "ok");
    assert_eq!(
        response.finish_reason,
        FinishReason::Other("pause_turn".into())
    );
    assert_eq!(
        response.usage,
        Usage::new(10, 9).with_cached_input_tokens(3)
    );
}

#[tokio::test]
async fn stop_reasons_map_to_finish_reasons() {
    for (stop, finish) in [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("tool_use", FinishReason::ToolCalls),
        ("refusal", FinishReason::ContentFilter),
        ("model_context_window_exceeded", FinishReason::Length),
        ("pause_turn", FinishReason::Other("pause_turn".into())),
    ] {
        let body = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
            "content": [{"type": "text", "text": "x"}],
            "stop_reason": stop, "stop_sequence": null,
            "usage": {"input_tokens": 1, "output_tokens": 1}
        });
        let response = reply_to(&body, Request::new().user("hi")).await;
        assert_eq!(response.finish_reason, finish, "{stop}");
    }
}

#[tokio::test]
async fn usage_counts_cache_writes_and_reads_as_input() {
    let body = json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "a"},
            {"type": "text", "text": "b"}
        ],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 100, "cache_creation_input_tokens": 20,
                  "cache_read_input_tokens": 300, "output_tokens": 50,
                  "output_tokens_details": {"thinking_tokens": 30}}
    });
    let response = reply_to(&body, Request::new().user("hi")).await;
    assert_eq!(
        response.usage,
        Usage::new(420, 50)
            .with_cached_input_tokens(300)
            .with_reasoning_tokens(30)
    );
    assert_eq!(
        response.message.parts,
        vec![
            Part::Thinking(Thinking::redacted("opaque").with_provider("claude")),
            Part::text("ab"),
        ]
    );
}

// ===== faults =====

#[tokio::test]
async fn a_mid_stream_overloaded_error_is_transient() {
    let server = serve_fixture("messages_stream_error_overloaded.sse").await;
    let model = model_at(config(&server.uri()), MODEL);
    let error = stream_fold(model.as_ref(), Request::new().user("hi"))
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient, "{error:?}");
    assert_eq!(error.code(), Some("overloaded_error"));
    assert_eq!(error.message(), "Overloaded");
    assert_clean(&error);
}

// ===== registry =====

#[tokio::test]
async fn dsn_version_option_and_base_path() {
    let server = serve_fixture_at(
        "/gateway/anthropic/v1/messages",
        "anthropic/messages_response_text.json",
    )
    .await;
    let port = server.address().port();
    let registry = registry_with_env([(
        "LLM_GW",
        format!("anthropic+http://{KEY}@127.0.0.1:{port}/gateway/anthropic?version=2099-01-01"),
    )]);
    let reply = ask(&registry, "gw/claude-x").await;
    assert_eq!(reply.provider, "gw");
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(
        header_of(&received[0], "anthropic-version").unwrap(),
        "2099-01-01"
    );
}

#[tokio::test]
async fn provider_debug_and_errors_never_show_the_key() {
    let provider = AnthropicProvider::new(config("http://127.0.0.1:9")).unwrap();
    let text = format!("{provider:?} {:?}", provider.config());
    assert!(!text.contains(KEY), "{text}");
    assert_eq!(provider.name(), "claude");
}

#[tokio::test]
async fn header_and_from_settings_reach_the_wire() {
    let server = serve_fixture("messages_response_text.json").await;
    let settings = majordomo::providers::http::HttpSettings::new(server.uri())
        .api_key(KEY)
        .header("x-from-settings", "s1");
    let config = AnthropicConfig::from_settings(settings)
        .name("claude")
        .header("x-gateway-tenant", "team-7")
        .header("anthropic-version", "1999-01-01")
        .version("2023-06-01");
    model_at(config, MODEL)
        .generate(Request::new().user("hi"))
        .await
        .unwrap();
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let header = |name: &str| received[0].headers.get(name).unwrap().to_str().unwrap();
    assert_eq!(header("x-from-settings"), "s1");
    assert_eq!(header("x-gateway-tenant"), "team-7");
    assert_eq!(header("x-api-key"), KEY);
    // The protocol's own header wins over an extra header of the same name.
    assert_eq!(
        received[0]
            .headers
            .get_all("anthropic-version")
            .iter()
            .collect::<Vec<_>>(),
        ["2023-06-01"]
    );
}

/// The web search stream of the streaming guide: a `server_tool_use` block
/// with streamed `input_json_delta`s, a `web_search_tool_result` given whole,
/// then text with a `citations_delta`.
const WEB_SEARCH_STREAM: &str = concat!(
    "event: message_start\n",
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01G\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-opus-4-6\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":2679,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":3}}}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"I'll check the weather.\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_014hJH82Qum7Td6UV8gDXThB\",\"name\":\"web_search\",\"input\":{}}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"query\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\": \\\"weather NYC today\\\"}\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":1 }\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"web_search_tool_result\",\"tool_use_id\":\"srvtoolu_014hJH82Qum7Td6UV8gDXThB\",\"content\":[{\"type\":\"web_search_result\",\"title\":\"Weather\",\"url\":\"https://example.com/w\",\"encrypted_content\":\"Ev0DCioIAxgC\",\"page_age\":null}]}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"text\",\"text\":\"\",\"citations\":[]}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"citations_delta\",\"citation\":{\"type\":\"web_search_result_location\",\"cited_text\":\"Sunny\",\"url\":\"https://example.com/w\",\"title\":\"Weather\",\"encrypted_index\":\"Eo8B\"}}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"text_delta\",\"text\":\" It is sunny.\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":3}\n\n",
    "event: message_delta\n",
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":10682,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":510,\"server_tool_use\":{\"web_search_requests\":1}}}\n\n",
    "event: message_stop\n",
    "data: {\"type\":\"message_stop\"}\n\n",
);

#[tokio::test]
async fn server_tool_blocks_are_not_tool_calls_streamed_or_not() {
    let streamed = serve(
        200,
        WEB_SEARCH_STREAM.as_bytes().to_vec(),
        "text/event-stream",
    )
    .await;
    let model = model_at(config(&streamed.uri()), MODEL);
    let events = events(model.as_ref(), Request::new().user("weather in NYC?")).await;
    assert!(
        !events.iter().any(|e| matches!(
            e,
            StreamEvent::ToolCallStart { .. } | StreamEvent::ToolCallDelta { .. }
        )),
        "{events:?}"
    );
    let mut fold = majordomo::StreamAccumulator::new();
    for event in events {
        fold.push(event);
    }
    let folded = fold.finish("claude", "claude-opus-4-6");
    assert_eq!(folded.text(), "I'll check the weather. It is sunny.");
    assert_eq!(folded.tool_calls().count(), 0);
    assert_eq!(folded.finish_reason, FinishReason::Stop);

    let whole = json!({
        "id": "msg_01G", "type": "message", "role": "assistant", "model": "claude-opus-4-6",
        "content": [
            {"type": "text", "text": "I'll check the weather."},
            {"type": "server_tool_use", "id": "srvtoolu_014hJH82Qum7Td6UV8gDXThB",
             "name": "web_search", "input": {"query": "weather NYC today"}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_014hJH82Qum7Td6UV8gDXThB",
             "content": [{"type": "web_search_result", "title": "Weather",
                          "url": "https://example.com/w", "encrypted_content": "Ev0DCioIAxgC", "page_age": null}]},
            {"type": "text", "text": " It is sunny.", "citations": [
                {"type": "web_search_result_location", "cited_text": "Sunny",
                 "url": "https://example.com/w", "title": "Weather", "encrypted_index": "Eo8B"}]}
        ],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 10682, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0, "output_tokens": 510,
                  "server_tool_use": {"web_search_requests": 1}}
    });
    let generated = reply_to(&whole, Request::new().user("weather in NYC?")).await;
    let streamed_answer = stream_fold(
        model_at(config(&streamed.uri()), MODEL).as_ref(),
        Request::new().user("weather in NYC?"),
    )
    .await
    .unwrap();
    assert_eq!(streamed_answer, without_raw(generated));
}
