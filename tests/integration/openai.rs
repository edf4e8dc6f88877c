//! Integration tests: openai (Chat Completions) and foreman. Real loopback
//! HTTP: wiremock serves the recorded fixtures and checks what we sent;
//! `PacedServer` stalls and cuts streams.

#![cfg(feature = "openai")]

use std::sync::Arc;
use std::time::Duration;

use majordomo::providers::http::HttpSettings;
use majordomo::providers::openai::{
    FOREMAN_DEFAULT_TIMEOUT, MaxTokensField, OpenAiConfig, OpenAiProvider,
};
use majordomo::{
    Dsn, Error, ErrorClass, ErrorKind, FinishReason, Image, Message, Model, Part, Provider,
    ReasoningLevel, Request, Response, Role, StreamEvent, Thinking, Tool, ToolCall, ToolResult,
    Usage,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::call::{generate_error, generated, open_error};
use crate::support::http::{
    answer, assert_no_credential, events, fixture_answer, fixture_json, fixture_text, header_of,
    only_body, post, serve_fixture_at, serve_route, serve_route_with, stream_fold, tool_of,
};
use crate::support::registry::{ask, registry_with_env};

/// A recognizable key: no error text may ever contain it.
const KEY: &str = "sk-proj-TESTKEY-do-not-leak-4b7e21";
const MODEL: &str = "gpt-test";
/// The provider name the tests register.
const NAME: &str = "oa";

fn config(base: &str) -> OpenAiConfig {
    OpenAiConfig::from_settings(HttpSettings::new(base).api_key(KEY)).name(NAME)
}

fn model_with(config: OpenAiConfig, id: &str) -> Arc<dyn Model> {
    OpenAiProvider::new(config).unwrap().model(id).unwrap()
}

fn model_at(server: &MockServer, id: &str) -> Arc<dyn Model> {
    model_with(config(&format!("{}/v1", server.uri())), id)
}

/// The route every call goes to.
const ROUTE: &str = "/v1/chat/completions";

/// A server answering every `POST /v1/chat/completions` with `status` and `body`.
async fn serve(status: u16, body: impl Into<Vec<u8>>, content_type: &str) -> MockServer {
    serve_route(ROUTE, status, body, content_type).await
}

async fn serve_template(template: ResponseTemplate) -> MockServer {
    serve_route_with(ROUTE, template).await
}

async fn serve_fixture(name: &str) -> MockServer {
    serve_template(fixture_answer(&format!("openai/{name}"))).await
}

/// A server that answers anything with a minimal completion.
async fn serve_ok() -> MockServer {
    serve_fixture("chat_response_basic.json").await
}

/// The only request the server received.
async fn only_request(server: &MockServer) -> wiremock::Request {
    let mut all = server.received_requests().await.unwrap();
    assert_eq!(all.len(), 1, "expected exactly one request");
    all.pop().unwrap()
}

/// The body `request` turns into (sent to a real loopback server).
async fn body_of(request: Request) -> Value {
    body_with(config("unused"), request).await
}

async fn body_with(config: OpenAiConfig, request: Request) -> Value {
    let server = serve_ok().await;
    let base = format!("{}/v1", server.uri());
    let model = model_with(config.http(HttpSettings::new(base).api_key(KEY)), MODEL);
    generated(&model, request).await;
    only_body(&server).await
}

/// Asserts no credential appears in the error's texts.
fn assert_no_key(error: &Error) {
    assert_no_credential(error, &[KEY, "do-not-leak"]);
}

fn reply(model: &str, parts: Vec<Part>, finish: FinishReason, usage: Usage) -> Response {
    Response::new(NAME, model, Message::new(Role::Assistant, parts))
        .with_finish_reason(finish)
        .with_usage(usage)
}

/// Compares what a response says (not its `raw` metadata or chain attempts).
fn assert_same(actual: &Response, expected: &Response, what: &str) {
    assert_eq!(actual.message, expected.message, "{what}: message");
    assert_eq!(
        actual.finish_reason, expected.finish_reason,
        "{what}: finish"
    );
    assert_eq!(actual.usage, expected.usage, "{what}: usage");
    assert_eq!(actual.provider, expected.provider, "{what}: provider");
    assert_eq!(actual.model, expected.model, "{what}: model");
}

fn call(id: &str, name: &str, arguments: Value) -> Part {
    Part::ToolCall(ToolCall::new(id, name, arguments))
}

fn weather_tool() -> Tool {
    tool_of(&fixture_json("openai/chat_request_tools.json")["tools"][0])
}

// ===== what we send =====

#[tokio::test]
async fn options_multi_turn_and_the_output_cap_field() {
    let request = Request::new()
        .system("Be brief.")
        .user("Hi")
        .assistant("Hello.")
        .message(Message::system("Answer in French."))
        .user("Bye")
        .temperature(0.5)
        .top_p(0.25)
        .stop("END")
        .stop("STOP")
        .seed(7)
        .max_tokens(100);
    let body = body_of(request.clone()).await;
    assert_eq!(
        body,
        json!({
            "model": MODEL,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "system", "content": "Answer in French."},
                {"role": "user", "content": "Bye"},
            ],
            "temperature": 0.5,
            "top_p": 0.25,
            "stop": ["END", "STOP"],
            "seed": 7,
            // Not api.openai.com: the field every compatible server knows.
            "max_tokens": 100,
        })
    );
    let body = body_with(
        config("unused").max_tokens_field(MaxTokensField::MaxCompletionTokens),
        request,
    )
    .await;
    assert_eq!(body["max_completion_tokens"], 100);
    assert!(body.get("max_tokens").is_none(), "{body}");

    // Servers read `seed` as a signed 64-bit integer (vLLM rejects larger
    // values, Ollama's decoder fails on them): a larger seed keeps 63 bits.
    let body = body_of(Request::new().user("x").seed(u64::MAX)).await;
    assert_eq!(body["seed"], json!(i64::MAX));
    let body = body_of(Request::new().user("x").seed((1 << 63) | 5)).await;
    assert_eq!(body["seed"], 5);
}

#[tokio::test]
async fn the_builder_sets_key_headers_and_base_url_and_keeps_the_rest() {
    let server = serve_ok().await;
    let config = OpenAiConfig::new()
        .api_key(KEY)
        .timeout(Duration::from_secs(7))
        .connect_timeout(Duration::from_secs(3))
        .header("X-Title", "majordomo-tests")
        .base_url(format!("{}/v1/", server.uri()))
        .name("built");
    let settings = config.http_settings();
    assert_eq!(settings.base_url(), format!("{}/v1", server.uri()));
    assert_eq!(settings.credential().map(|k| k.expose()), Some(KEY));
    assert_eq!(settings.request_timeout, Duration::from_secs(7));
    assert_eq!(settings.connect_timeout, Duration::from_secs(3));
    assert_eq!(config.provider_name(), "built");
    let reply = model_with(config, "m")
        .generate(Request::new().user("hi"))
        .await
        .unwrap();
    assert_eq!(reply.provider, "built");
    let request = only_request(&server).await;
    assert_eq!(
        header_of(&request, "authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(header_of(&request, "x-title"), Some("majordomo-tests"));
}

#[test]
fn new_is_the_official_endpoint_without_a_key() {
    for config in [OpenAiConfig::new(), OpenAiConfig::default()] {
        assert_eq!(config.provider_name(), "openai");
        assert_eq!(
            config.http_settings().base_url(),
            "https://api.openai.com/v1"
        );
        assert_eq!(config.http_settings().credential(), None);
    }
    // `http` replaces everything the settings hold.
    let replaced = OpenAiConfig::new()
        .api_key(KEY)
        .timeout(Duration::from_secs(7))
        .http(HttpSettings::new("http://127.0.0.1:1/v1"));
    assert_eq!(replaced.http_settings().base_url(), "http://127.0.0.1:1/v1");
    assert_eq!(replaced.http_settings().credential(), None);
    assert_ne!(
        replaced.http_settings().request_timeout,
        Duration::from_secs(7)
    );
}

#[tokio::test]
async fn a_tool_call_round_trip_sends_calls_and_results() {
    let request = Request::new()
        .user("What is the weather like in Boston today?")
        .message(Message::new(
            Role::Assistant,
            vec![
                Part::text("Let me check."),
                call(
                    "call_abc123",
                    "get_current_weather",
                    json!({"location": "Boston, MA"}),
                ),
            ],
        ))
        .tool_results([ToolResult::ok("call_abc123", r#"{"temperature":22}"#)])
        .message(Message::new(
            Role::Assistant,
            vec![
                call(
                    "call_2",
                    "get_current_weather",
                    json!({"location": "Paris"}),
                ),
                call("call_3", "get_current_weather", json!({"location": "Rome"})),
            ],
        ))
        .tool_results([
            ToolResult::ok("call_2", "18"),
            ToolResult::error("call_3", "weather service down"),
        ])
        .tool(weather_tool());
    let body = body_of(request).await;
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "What is the weather like in Boston today?"},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "call_abc123", "type": "function", "function": {
                    "name": "get_current_weather", "arguments": r#"{"location":"Boston, MA"}"#}}
            ]},
            {"role": "tool", "tool_call_id": "call_abc123", "content": r#"{"temperature":22}"#},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_2", "type": "function", "function": {
                    "name": "get_current_weather", "arguments": r#"{"location":"Paris"}"#}},
                {"id": "call_3", "type": "function", "function": {
                    "name": "get_current_weather", "arguments": r#"{"location":"Rome"}"#}}
            ]},
            {"role": "tool", "tool_call_id": "call_2", "content": "18"},
            {"role": "tool", "tool_call_id": "call_3", "content": "weather service down"},
        ])
    );
    assert_eq!(
        body["tools"],
        fixture_json("openai/chat_request_tools.json")["tools"]
    );
    assert_eq!(body["tool_choice"], "auto");
}

#[tokio::test]
async fn tool_arguments_are_always_json_objects_and_results_come_first() {
    // A cut-off call (finish_reason length) keeps its text; vLLM and Ollama's
    // `/v1` refuse arguments that are not a JSON object. A turn that mixes
    // text and tool results sends the results first: they must follow the
    // assistant's calls.
    let request = Request::new()
        .user("go")
        .message(Message::new(
            Role::Assistant,
            vec![
                call("call_a", "a", Value::String(r#"{"city": "Par"#.into())),
                call("call_b", "b", Value::String(r#"{"x": 1}"#.into())),
                call("call_c", "c", Value::Null),
                call("call_d", "d", json!([1, 2])),
            ],
        ))
        .message(Message::new(
            Role::User,
            vec![
                Part::text("Here you go."),
                Part::ToolResult(ToolResult::ok("call_a", "A")),
                Part::ToolResult(ToolResult::ok("call_b", "B")),
                Part::ToolResult(ToolResult::ok("call_c", "C")),
                Part::ToolResult(ToolResult::ok("call_d", "D")),
            ],
        ));
    let body = body_of(request).await;
    let messages = body["messages"].as_array().unwrap();
    let arguments: Vec<&str> = messages[1]["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(
        arguments,
        [
            r#"{"value":"{\"city\": \"Par"}"#,
            r#"{"x": 1}"#,
            "{}",
            r#"{"value":[1,2]}"#
        ]
    );
    for text in arguments {
        assert!(serde_json::from_str::<Value>(text).unwrap().is_object());
    }
    assert_eq!(
        messages
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["user", "assistant", "tool", "tool", "tool", "tool", "user"]
    );
    assert_eq!(messages[2]["tool_call_id"], "call_a");
    assert_eq!(messages[6]["content"], "Here you go.");
}

#[tokio::test]
async fn inline_images_sends_fetched_urls_as_data_urls() {
    let png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0];
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cat.png"))
        .respond_with(answer(200, png.clone(), "image/png"))
        .mount(&server)
        .await;
    post("/v1/chat/completions")
        .respond_with(fixture_answer("openai/chat_response_basic.json"))
        .mount(&server)
        .await;
    let url = format!("{}/cat.png", server.uri());
    let data_url = "data:image/gif;base64,R0lGODlhAQABAAAAACw=";
    let request = Request::new()
        .user_with_image("What is this?", Image::url(url.clone()))
        .user_with_image("And this?", Image::url(data_url));
    let base = format!("{}/v1", server.uri());
    // Off (the default): the URL goes as is.
    let reply = model_with(config(&base), MODEL)
        .generate(request.clone())
        .await
        .unwrap();
    assert_eq!(reply.text(), "Hello! How can I assist you today?");
    // On: fetched once, sent as bytes; `data:` URLs untouched.
    generated(
        &model_with(config(&base).inline_images(true), MODEL),
        request,
    )
    .await;
    let requests = server.received_requests().await.unwrap();
    let posts: Vec<Value> = requests
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(posts.len(), 2);
    let image =
        |body: &Value, i: usize| body["messages"][i]["content"][1]["image_url"]["url"].clone();
    assert_eq!(image(&posts[0], 0), json!(url));
    assert_eq!(
        image(&posts[1], 0),
        json!("data:image/png;base64,iVBORw0KGgoAAA==")
    );
    assert_eq!(image(&posts[1], 1), json!(data_url));
    let gets = requests
        .iter()
        .filter(|r| r.method.as_str() == "GET")
        .count();
    assert_eq!(gets, 1, "fetched once, and only when inlining");
    // The image host never sees the provider's key.
    let get = requests
        .iter()
        .find(|r| r.method.as_str() == "GET")
        .unwrap();
    assert_eq!(header_of(get, "authorization"), None);

    // A failed fetch fails the call as request-specific, before any POST.
    let missing =
        Request::new().user_with_image("?", Image::url(format!("{}/nope.png", server.uri())));
    let err = model_with(config(&base).inline_images(true), "m-1")
        .generate(missing)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::RequestSpecific, "{err:?}");
    assert_eq!(err.provider(), Some(NAME));
    assert_eq!(err.model(), Some("m-1"));
    assert_no_key(&err);
    let requests = server.received_requests().await.unwrap();
    let posts = requests.iter().filter(|r| r.method.as_str() == "POST");
    assert_eq!(posts.count(), 2);
}

#[tokio::test]
async fn reasoning_levels_map_to_reasoning_effort() {
    // A model of no OpenAI family (a compatible server's): the values every
    // server that reads the field takes (Ollama's `/v1`: high|medium|low|none).
    let cases = [
        (ReasoningLevel::Off, "none"),
        (ReasoningLevel::Minimal, "low"),
        (ReasoningLevel::Low, "low"),
        (ReasoningLevel::Medium, "medium"),
        (ReasoningLevel::High, "high"),
        (ReasoningLevel::Max, "high"),
        (ReasoningLevel::Budget(1000), "low"),
        (ReasoningLevel::Budget(3000), "low"),
        (ReasoningLevel::Budget(8192), "medium"),
        (ReasoningLevel::Budget(20_000), "high"),
        (ReasoningLevel::Budget(64_000), "high"),
    ];
    for (level, effort) in cases {
        let body = body_of(Request::new().user("think").reasoning(level)).await;
        assert_eq!(body["reasoning_effort"], effort, "{level}");
    }
    let body = body_with(
        config("unused").max_reasoning_effort("xhigh"),
        Request::new().user("think").reasoning(ReasoningLevel::Max),
    )
    .await;
    assert_eq!(body["reasoning_effort"], "xhigh");
    let plain = body_of(Request::new().user("no level")).await;
    assert!(plain.get("reasoning_effort").is_none(), "{plain}");
}

/// The body sent for `model` with reasoning `level`.
async fn effort_for(model: &str, level: ReasoningLevel) -> Option<String> {
    let server = serve_ok().await;
    let config = config(&format!("{}/v1", server.uri())).max_reasoning_effort("xhigh");
    model_with(config, model)
        .generate(Request::new().user("think").reasoning(level))
        .await
        .unwrap();
    only_body(&server).await["reasoning_effort"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test]
async fn each_openai_model_family_gets_only_efforts_it_accepts() {
    use ReasoningLevel::*;
    // OpenAI answers 400 to `reasoning_effort` on a model that does not
    // reason, to `none` before gpt-5.1, to `minimal` on gpt-5.1 and the
    // o-series, and to `xhigh` before gpt-5.1-codex-max.
    let cases: &[(&str, ReasoningLevel, Option<&str>)] = &[
        ("gpt-4o-mini", Off, None),
        ("gpt-4o-mini", High, None),
        ("gpt-4.1", Max, None),
        ("openai/gpt-4o", Low, None),
        ("gpt-5-chat-latest", Off, None),
        ("gpt-5-pro", Low, None),
        ("o1-mini", High, None),
        ("o3", Off, Some("low")),
        ("o4-mini", Minimal, Some("low")),
        ("o3", High, Some("high")),
        ("o3", Max, Some("high")),
        ("gpt-5", Off, Some("minimal")),
        ("gpt-5-mini", Minimal, Some("minimal")),
        ("gpt-5-nano", Max, Some("high")),
        ("gpt-5-codex", Off, Some("low")),
        ("gpt-5.1", Off, Some("none")),
        ("gpt-5.1", Minimal, Some("low")),
        ("gpt-5.2", Medium, Some("medium")),
        ("gpt-5.2", Max, Some("xhigh")),
        ("gpt-5.1-codex", Off, Some("low")),
        ("qwen3:8b", Off, Some("none")),
        ("qwen3:8b", Minimal, Some("low")),
    ];
    for &(model, level, expected) in cases {
        assert_eq!(
            effort_for(model, level).await.as_deref(),
            expected,
            "{model} {level}"
        );
    }
}

#[tokio::test]
async fn a_stream_request_accepts_an_event_stream() {
    // The body is checked against the documented example in `conformance`.
    let server = serve_fixture("chat_stream_text.sse").await;
    let stream = model_at(&server, MODEL)
        .stream(Request::new().user("Hello!"))
        .await
        .unwrap();
    stream.into_response().await.unwrap();
    let request = only_request(&server).await;
    assert_eq!(header_of(&request, "accept"), Some("text/event-stream"));
}

// ===== what we read =====

#[tokio::test]
async fn every_response_fixture_parses() {
    let basic_usage = Usage::new(19, 10)
        .with_cached_input_tokens(0)
        .with_reasoning_tokens(0);
    let cases: Vec<(&str, Response)> = vec![
        (
            "chat_response_basic.json",
            reply(
                "gpt-5.4",
                vec![Part::text("Hello! How can I assist you today?")],
                FinishReason::Stop,
                basic_usage,
            ),
        ),
        (
            "chat_response_image_input.json",
            reply(
                "gpt-5.4",
                vec![Part::text(
                    "The image shows a wooden boardwalk path running through a lush green field or meadow. The sky is bright blue with some scattered clouds, giving the scene a serene and peaceful atmosphere. Trees and shrubs are visible in the background.",
                )],
                FinishReason::Stop,
                Usage::new(1117, 46)
                    .with_cached_input_tokens(0)
                    .with_reasoning_tokens(0),
            ),
        ),
        (
            "chat_response_json_schema.json",
            reply(
                "gpt-4o-2024-08-06",
                vec![Part::text(
                    r#"{"city":"San Francisco","temperature":65,"units":"f"}"#,
                )],
                FinishReason::Stop,
                Usage::new(79, 14).with_reasoning_tokens(0),
            ),
        ),
        (
            "chat_response_length.json",
            reply(
                "gpt-4o-2024-08-06",
                vec![Part::text("{\"")],
                FinishReason::Length,
                Usage::new(79, 1).with_reasoning_tokens(0),
            ),
        ),
        (
            "chat_response_refusal.json",
            reply(
                "gpt-4o-2024-08-06",
                vec![Part::text("I'm very sorry, but I can't assist with that.")],
                FinishReason::ContentFilter,
                Usage::new(79, 12).with_reasoning_tokens(0),
            ),
        ),
        (
            "chat_response_text.json",
            reply(
                "gpt-4o-2024-08-06",
                vec![Part::text(
                    "I'm unable to provide real-time weather updates. To get the current weather in San Francisco, I recommend checking a reliable weather website or app like the Weather Channel or a local news station.",
                )],
                FinishReason::Stop,
                Usage::new(14, 37).with_reasoning_tokens(0),
            ),
        ),
        (
            "chat_response_tool_call.json",
            reply(
                "gpt-4o-2024-08-06",
                vec![call(
                    "call_Y6qJ7ofLgOrBnMD5WbVAeiRV",
                    "GetWeatherArgs",
                    json!({"city": "Edinburgh", "country": "UK", "units": "c"}),
                )],
                FinishReason::ToolCalls,
                Usage::new(76, 24).with_reasoning_tokens(0),
            ),
        ),
        (
            "chat_response_tool_calls_doc.json",
            reply(
                "gpt-4o-mini",
                vec![call(
                    "call_abc123",
                    "get_current_weather",
                    json!({"location": "Boston, MA"}),
                )],
                FinishReason::ToolCalls,
                Usage::new(82, 17).with_reasoning_tokens(0),
            ),
        ),
        (
            "synthetic_response_reasoning_tool_call.json",
            reasoning_tool_call_reply(),
        ),
    ];
    for (name, expected) in cases {
        let server = serve_fixture(name).await;
        let actual = model_at(&server, MODEL)
            .generate(Request::new().user("hi"))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_same(&actual, &expected, name);
        let id = fixture_json(&format!("openai/{name}"))["id"].clone();
        assert_eq!(actual.raw.as_ref().unwrap()["id"], id, "{name}");
    }
}

/// The answer `synthetic_*_reasoning_tool_call` holds, streamed or not.
fn reasoning_tool_call_reply() -> Response {
    reply(
        "Qwen/Qwen3-8B",
        vec![
            Part::Thinking(Thinking::text("The user wants the weather. ü").with_provider(NAME)),
            Part::text("Checking Zürich."),
            call(
                "chatcmpl-tool-9a1f",
                "get_weather",
                json!({"city": "Zürich", "unit": "c"}),
            ),
        ],
        FinishReason::ToolCalls,
        Usage::new(120, 40)
            .with_cached_input_tokens(64)
            .with_reasoning_tokens(12),
    )
}

#[tokio::test]
async fn only_the_first_choice_is_read_and_unknown_fields_are_fine() {
    let body = json!({
        "id": "", "model": "", "object": "chat.completion", "x_extra": {"a": 1},
        "choices": [
            {"index": 1, "message": {"role": "assistant", "content": "second"}, "finish_reason": "length"},
            {"index": 0, "message": {"role": "assistant", "content": "first", "annotations": []}, "finish_reason": "eos"},
        ],
        "usage": null
    });
    let server = serve(200, body.to_string(), "application/json").await;
    let reply = model_at(&server, MODEL)
        .generate(Request::new().user("hi"))
        .await
        .unwrap();
    assert_eq!(reply.text(), "first");
    assert_eq!(reply.finish_reason, FinishReason::Stop); // Together's `eos`
    assert_eq!(
        reply.model, MODEL,
        "an empty model falls back to the requested one"
    );
    assert_eq!(reply.usage, Usage::default());
    let unknown = json!({"choices": [{"message": {"content": "x"}, "finish_reason": "weird"}]});
    let server = serve(200, unknown.to_string(), "application/json").await;
    let reply = model_at(&server, MODEL)
        .generate(Request::new().user("hi"))
        .await
        .unwrap();
    assert_eq!(reply.finish_reason, FinishReason::Other("weird".into()));
}

#[tokio::test]
async fn stream_fixtures_fold_into_their_expected_responses() {
    let gpt4o = "gpt-4o-2024-08-06";
    let cases: Vec<(&str, Response)> = vec![
        (
            "chat_stream_text.sse",
            reply(
                gpt4o,
                vec![Part::text(
                    "I'm unable to provide real-time weather updates. To get the current weather in San Francisco, I recommend checking a reliable weather website or a weather app.",
                )],
                FinishReason::Stop,
                Usage::new(14, 30).with_reasoning_tokens(0),
            ),
        ),
        (
            "chat_stream_json_schema.sse",
            reply(
                gpt4o,
                vec![Part::text(
                    r#"{"city":"San Francisco","temperature":61,"units":"f"}"#,
                )],
                FinishReason::Stop,
                Usage::new(79, 14).with_reasoning_tokens(0),
            ),
        ),
        (
            "chat_stream_n3_choices.sse",
            reply(
                gpt4o,
                vec![Part::text(
                    r#"{"city":"San Francisco","temperature":65,"units":"f"}"#,
                )],
                FinishReason::Stop,
                Usage::new(79, 42).with_reasoning_tokens(0),
            ),
        ),
        (
            "chat_stream_refusal.sse",
            reply(
                gpt4o,
                vec![Part::text("I'm sorry, I can't assist with that request.")],
                FinishReason::ContentFilter,
                Usage::new(79, 11).with_reasoning_tokens(0),
            ),
        ),
        (
            "chat_stream_parallel_tool_calls.sse",
            reply(
                gpt4o,
                vec![
                    call(
                        "call_JMW1whyEaYG438VE1OIflxA2",
                        "GetWeatherArgs",
                        json!({"city": "Edinburgh", "country": "GB", "units": "c"}),
                    ),
                    call(
                        "call_DNYTawLBoN8fj3KN6qU9N1Ou",
                        "get_stock_price",
                        json!({"ticker": "AAPL", "exchange": "NASDAQ"}),
                    ),
                ],
                FinishReason::ToolCalls,
                Usage::new(149, 60).with_reasoning_tokens(0),
            ),
        ),
    ];
    for (name, expected) in cases {
        let server = serve_fixture(name).await;
        let stream = model_at(&server, MODEL)
            .stream(Request::new().user("hi"))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(stream.provider(), NAME);
        assert_eq!(stream.model(), gpt4o, "{name}: the model the server named");
        let actual = stream.into_response().await.unwrap();
        assert_same(&actual, &expected, name);
    }
}

#[tokio::test]
async fn parallel_tool_calls_stream_as_start_delta_end_events() {
    let server = serve_fixture("chat_stream_parallel_tool_calls.sse").await;
    let events = events(model_at(&server, MODEL).as_ref(), Request::new().user("hi")).await;
    let shape: Vec<String> = events
        .iter()
        .map(|e| match e {
            StreamEvent::ToolCallStart { index, name, .. } => format!("start {index} {name}"),
            StreamEvent::ToolCallDelta { index, .. } => format!("delta {index}"),
            StreamEvent::ToolCallEnd { index } => format!("end {index}"),
            StreamEvent::Usage { .. } => "usage".into(),
            StreamEvent::Finish { reason } => format!("finish {reason}"),
            other => format!("{other:?}"),
        })
        .collect();
    let mut compact = shape.clone();
    compact.dedup();
    assert_eq!(
        compact,
        [
            "start 0 GetWeatherArgs",
            "delta 0",
            "start 1 get_stock_price",
            "delta 1",
            "end 0",
            "end 1",
            "usage",
            "finish tool_calls",
        ],
        "{shape:?}"
    );
}

#[tokio::test]
async fn calls_that_reuse_an_index_with_new_ids_stay_separate() {
    // Ollama's `/v1` streams every tool call with `index: 0`.
    let server = serve_fixture("synthetic_stream_ollama_reused_index.sse").await;
    let folded = stream_fold(
        &model_at(&server, MODEL),
        Request::new().user("write both files"),
    )
    .await
    .unwrap();
    assert_same(
        &folded,
        &reply(
            "qwen2.5-coder:7b",
            vec![
                call(
                    "call_k3v8a1zq",
                    "file_write",
                    json!({"content": "print(\"hello\")", "filePath": "hello.py"}),
                ),
                call(
                    "call_p0w2m7rd",
                    "file_write",
                    json!({"content": "print(\"world\")", "filePath": "world.py"}),
                ),
            ],
            FinishReason::ToolCalls,
            Usage::new(212, 58),
        ),
        "ollama",
    );
    // Fragments that repeat their call's id (or carry none) still continue it.
    let body = [
        r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"f","arguments":"{\"a\""}}]}}]}"#,
        r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"arguments":":1}"}}]}}]}"#,
        r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"id":"c2","function":{"name":"g","arguments":"{"}}]}}]}"#,
        r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"}"}}]}}]}"#,
        r#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        "data: [DONE]",
    ]
    .join("\n\n")
        + "\n\n";
    let server = serve(200, body, "text/event-stream").await;
    let folded = stream_fold(&model_at(&server, MODEL), Request::new().user("hi"))
        .await
        .unwrap();
    let calls: Vec<(&str, &str, &Value)> = folded
        .tool_calls()
        .map(|c| (c.id.as_str(), c.name.as_str(), &c.arguments))
        .collect();
    assert_eq!(
        calls,
        [("c1", "f", &json!({"a": 1})), ("c2", "g", &json!({}))]
    );
}

// ===== faults =====

/// The statuses and bodies only OpenAI-compatible servers send (the shared
/// ones run in `conformance`): a plain invalid value, OpenRouter's 400 for an
/// unknown model, FastAPI's 422.
#[tokio::test]
async fn compatible_server_errors() {
    use ErrorClass::*;
    let cases = [
        (
            400,
            r#"{"error":{"message":"Invalid value for 'temperature'.","type":"invalid_request_error","param":null,"code":"invalid_value"}}"#,
            Permanent,
            "Invalid value for 'temperature'",
        ),
        (
            400,
            r#"{"error":{"message":"openai/gpt-9 is not a valid model ID","code":400},"user_id":"user_1"}"#,
            ModelNotFound,
            "is not a valid model ID",
        ),
        (
            422,
            r#"{"error":{"message":"Unprocessable","type":"invalid_request_error"}}"#,
            Permanent,
            "Unprocessable",
        ),
    ];
    for (status, body, class, says) in cases {
        let server = serve(status, body, "application/json").await;
        let model = model_at(&server, "m-1");
        for streaming in [false, true] {
            let err = if streaming {
                open_error(&model, Request::new().user("hi")).await
            } else {
                generate_error(&model, Request::new().user("hi")).await
            };
            let what = format!("HTTP {status} (stream: {streaming}): {err:?}");
            assert_eq!(err.class(), class, "{what}");
            assert_eq!(err.status(), Some(status), "{what}");
            assert!(err.to_string().contains(says), "{what}");
            assert_no_key(&err);
        }
    }
}

/// The first `n` events of the recorded text stream.
fn text_events(n: usize) -> String {
    let all = fixture_text("openai/chat_stream_text.sse");
    all.split_inclusive("\n\n").take(n).collect()
}

#[tokio::test]
async fn mid_stream_error_events() {
    let openai = format!(
        "{}data: {{\"error\":{{\"message\":\"The server had an error processing your request (key {KEY}).\",\"type\":\"server_error\",\"param\":null,\"code\":null}}}}\n\n",
        text_events(3)
    );
    let cases: Vec<(String, &str, Option<u16>)> = vec![
        (openai, "The server had an error", None),
        (
            fixture_text("openai/synthetic_stream_openrouter_error.sse"),
            "Upstream provider returned an invalid response",
            Some(502),
        ),
        (
            fixture_text("openai/synthetic_stream_llamacpp_error_field.sse"),
            "llama_decode failed",
            Some(500),
        ),
        (
            format!(
                "{}event: error\ndata: {{\"error\":{{\"code\":503,\"message\":\"Loading model\",\"type\":\"unavailable_error\"}}}}\n\n",
                text_events(3)
            ),
            "Loading model",
            Some(503),
        ),
    ];
    for (body, says, status) in cases {
        let server = serve(200, body, "text/event-stream").await;
        let stream = model_at(&server, "m-1")
            .stream(Request::new().user("hi"))
            .await
            .unwrap_or_else(|e| panic!("{says}: the first event is text, not {e}"));
        let err = stream.into_response().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Api, "{says}: {err:?}");
        assert_eq!(err.class(), ErrorClass::Transient, "{says}: {err:?}");
        assert_eq!(err.provider(), Some(NAME));
        assert_eq!(err.model(), Some("m-1"));
        assert_eq!(err.status(), status, "{says}: {err:?}");
        assert!(err.to_string().contains(says), "{err}");
        assert_no_key(&err);
    }
}

#[tokio::test]
async fn an_error_before_any_output_fails_the_stream_call_itself() {
    // So a chain can still fail over: nothing reached the caller yet.
    let body = "data: {\"error\":{\"message\":\"This model's maximum context length is 8192 tokens.\",\"type\":\"invalid_request_error\",\"code\":\"context_length_exceeded\"}}\n\n";
    let server = serve(200, body, "text/event-stream").await;
    let err = model_at(&server, "m-1")
        .stream(Request::new().user("hi"))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::RequestSpecific, "{err:?}");
    assert_eq!(err.code(), Some("context_length_exceeded"));
    assert_eq!(err.model(), Some("m-1"));
}

// ===== through the registry =====

fn loopback(uri: &str) -> String {
    uri.trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn foreman_sends_its_bearer_token_and_waits_long() {
    let server = serve_fixture_at("/v1/chat/completions", "openai/chat_response_basic.json").await;
    let registry = registry_with_env([(
        "LLM_F",
        format!("foreman+http://tok@{}", loopback(&server.uri())),
    )]);
    let reply = ask(&registry, "f/qwen2.5:72b").await;
    assert_eq!(reply.provider, "f");
    let request = only_request(&server).await;
    assert_eq!(header_of(&request, "authorization"), Some("Bearer tok"));
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["model"], "qwen2.5:72b");

    let dsn = Dsn::parse("foreman+http://tok@127.0.0.1:9000").unwrap();
    let config = OpenAiConfig::foreman_from_dsn("f", &dsn).unwrap();
    assert_eq!(
        config.http_settings().request_timeout,
        FOREMAN_DEFAULT_TIMEOUT
    );
    assert_eq!(FOREMAN_DEFAULT_TIMEOUT, Duration::from_secs(30 * 60));
    // No path in the DSN: the OpenAI convention, `/v1`.
    assert_eq!(
        config.http_settings().base_url(),
        "http://127.0.0.1:9000/v1"
    );
    let dsn = Dsn::parse("foreman://tok@queue.internal/api?timeout=5s").unwrap();
    let config = OpenAiConfig::foreman_from_dsn("f", &dsn).unwrap();
    assert_eq!(
        config.http_settings().request_timeout,
        Duration::from_secs(5)
    );
    assert_eq!(
        config.http_settings().base_url(),
        "https://queue.internal/api"
    );
    let dsn = Dsn::parse("openai://k@api.example.com/v1").unwrap();
    let config = OpenAiConfig::from_dsn("o", &dsn).unwrap();
    assert_eq!(
        config.http_settings().base_url(),
        "https://api.example.com/v1"
    );
    assert_eq!(config.provider_name(), "o");
}
