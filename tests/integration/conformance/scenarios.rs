//! The scenario list: each function runs one scenario against one protocol.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use futures::StreamExt as _;
use majordomo::providers::http::HttpSettings;
use majordomo::{
    Error, ErrorClass, ErrorKind, FinishReason, Image, Message, Model, Part, ReasoningLevel,
    Registry, Request, Response, ResponseFormat, StreamEvent, Thinking, Tool, ToolCall, ToolChoice,
    ToolResult,
};
use serde_json::{Value, json};
use wiremock::MockServer;

use super::{
    Answer, CutServer, KEY, NAME, Protocol, Signal, assert_golden, ok, only_request, serve,
};
use crate::support::call::{calling, generate_error, generated, streamed as streamed_reply};
use crate::support::http::{
    self, PacedServer, assert_no_credential, first_event_then_stall, refused_url, stream_fold,
};

// ----- the requests every protocol is sent -----

fn plain_request() -> Request {
    Request::new()
        .system("You are a helpful assistant.")
        .user("Hello!")
        .temperature(0.5)
        .max_tokens(256)
}

/// The tool of the OpenAPI "Functions" example.
fn weather_tool() -> Tool {
    Tool::new(
        "get_current_weather",
        "Get the current weather in a given location",
        json!({
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
            },
            "required": ["location"]
        }),
    )
}

fn tools_request() -> Request {
    Request::new()
        .user("What is the weather like in Boston today?")
        .tool(weather_tool())
}

/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

fn image_request() -> Request {
    let png = base64::engine::general_purpose::STANDARD
        .decode(PNG)
        .unwrap();
    Request::new().user_with_image("What is in this image?", Image::inline("image/png", png))
}

fn reasoning_request() -> Request {
    Request::new()
        .user("How many r's are in strawberry?")
        .max_tokens(20_000)
        .reasoning(ReasoningLevel::High)
}

fn schema_request() -> Request {
    Request::new()
        .user("What's the weather like in SF?")
        .json_schema(
            "Location",
            json!({
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "temperature": {"type": "number"},
                    "units": {"type": "string", "enum": ["c", "f"]}
                },
                "required": ["city", "temperature", "units"],
                "additionalProperties": false
            }),
        )
}

fn hi() -> Request {
    Request::new().user("hi")
}

// ----- helpers -----

async fn serve_fixture(p: &Protocol, name: &str) -> MockServer {
    let content_type = http::content_type_of(name);
    serve(ok(p.fixture(name), content_type)).await
}

/// Checks the route, the key header and the content type of `request`, and
/// returns its body.
fn check_request(p: &Protocol, request: &wiremock::Request, stream: bool) -> Value {
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), (p.route)(p.model, stream), "{}", p.name);
    assert_eq!(request.url.query(), (p.query)(stream), "{}", p.name);
    assert!(
        !request.url.as_str().contains(KEY),
        "{}: the key never goes in the URL",
        p.name
    );
    let header = |name: &str| request.headers.get(name).map(|v| v.to_str().unwrap());
    let (name, prefix) = p.auth;
    assert_eq!(
        header(name),
        Some(format!("{prefix}{KEY}").as_str()),
        "{}",
        p.name
    );
    if name != "authorization" {
        assert_eq!(header("authorization"), None, "{}: one key header", p.name);
    }
    assert!(
        header("content-type").is_some_and(|t| t.starts_with("application/json")),
        "{}",
        p.name
    );
    serde_json::from_slice(&request.body).unwrap()
}

/// The answer to `request` from a server serving `fixture`, after checking
/// what was sent is the golden body `golden`.
async fn sent_and_answered(
    p: &Protocol,
    fixture: &str,
    request: Request,
    golden: &str,
) -> Response {
    let server = serve_fixture(p, fixture).await;
    let reply = generated(&p.model(&server), request).await;
    sent_is_golden(p, &server, golden).await;
    reply
}

/// Checks the only request `server` received (as [`check_request`], not
/// streamed) and that its body is the golden body `name`.
async fn sent_is_golden(p: &Protocol, server: &MockServer, name: &str) {
    let body = check_request(p, &only_request(server).await, false);
    assert_golden(p, name, &body);
}

fn check_answer(p: &Protocol, r: &Response, a: &Answer) {
    assert!(r.text().starts_with(a.text), "{}: {:?}", p.name, r.text());
    assert_eq!(r.finish_reason, a.finish, "{}", p.name);
    assert_eq!(r.provider, NAME, "{}", p.name);
    let (input, output) = a.usage;
    assert_eq!(r.usage.input_tokens, Some(input), "{}", p.name);
    assert_eq!(r.usage.output_tokens, Some(output), "{}", p.name);
}

/// Asserts `e` names the target and never the key.
fn check_error(p: &Protocol, e: &Error) {
    assert_eq!(e.provider(), Some(NAME), "{}: {e:?}", p.name);
    assert_eq!(e.model(), Some(p.model), "{}: {e:?}", p.name);
    assert_no_credential(e, &[KEY, "TESTKEY"]);
    for text in [e.message(), e.code().unwrap_or_default()] {
        assert!(!text.contains(KEY), "{}: key leaked: {text}", p.name);
    }
}

/// `r` without its raw answer and with tool-call ids blanked (a protocol
/// without ids gets fresh ones on every answer).
fn without_raw(mut r: Response) -> Response {
    r.raw = None;
    for part in &mut r.message.parts {
        if let Part::ToolCall(call) = part {
            call.id.clear();
        }
    }
    r
}

/// Generates and streams `request` against `server`; both must fail.
async fn both_errors(model: &dyn Model, request: Request) -> [Error; 2] {
    let generated = generate_error(model, request.clone()).await;
    let streamed = stream_fold(model, request).await.unwrap_err();
    [generated, streamed]
}

// ----- what we send, what we read -----

pub async fn plain(p: &Protocol) {
    let reply = sent_and_answered(p, p.plain.fixture, plain_request(), "golden_plain.json").await;
    check_answer(p, &reply, &p.plain);
    assert_eq!(reply.message.role, majordomo::Role::Assistant);
    assert!(reply.raw.is_some(), "{}: the raw answer is kept", p.name);
    // The provider's Debug shows its settings, never its key.
    let anywhere = "127.0.0.1:9".parse().unwrap();
    let provider = p.registry(anywhere, "").provider(NAME).unwrap();
    assert_no_credential(&format!("{provider:?}"), &[KEY]);
}

pub async fn stream(p: &Protocol) {
    let server = serve_fixture(p, p.stream.fixture).await;
    let stream = p.model(&server).stream(plain_request()).await.unwrap();
    assert_eq!(stream.provider(), NAME);
    let reply = stream.into_response().await.unwrap();
    check_answer(p, &reply, &p.stream);
    let body = check_request(p, &only_request(&server).await, true);
    assert_golden(p, "golden_stream.json", &body);
}

fn check_call(p: &Protocol, reply: &Response, call: &super::Call) {
    let calls: Vec<_> = reply.tool_calls().collect();
    assert_eq!(calls.len(), 1, "{}: {calls:?}", p.name);
    assert_eq!(calls[0].name, call.name, "{}", p.name);
    assert_eq!(calls[0].arguments, (call.arguments)(), "{}", p.name);
    assert!(!calls[0].id.is_empty(), "{}: every call has an id", p.name);
    assert_eq!(reply.finish_reason, FinishReason::ToolCalls, "{}", p.name);
}

pub async fn tools(p: &Protocol) {
    let reply = sent_and_answered(p, p.tools.fixture, tools_request(), "golden_tools.json").await;
    check_call(p, &reply, &p.tools);
}

pub async fn tools_stream(p: &Protocol) {
    let server = serve_fixture(p, p.tools_stream.fixture).await;
    let events = http::events(p.model(&server).as_ref(), tools_request()).await;
    // One call: its start, then its arguments, then its end.
    let position = |want: fn(&StreamEvent) -> bool| events.iter().position(want);
    let start = position(|e| matches!(e, StreamEvent::ToolCallStart { index: 0, .. }));
    let delta = position(|e| matches!(e, StreamEvent::ToolCallDelta { index: 0, .. }));
    let end = position(|e| matches!(e, StreamEvent::ToolCallEnd { index: 0 }));
    assert!(start < delta && delta < end, "{}: {events:?}", p.name);
    let mut fold = majordomo::StreamAccumulator::new();
    events.into_iter().for_each(|e| fold.push(e));
    check_call(p, &fold.finish(NAME, p.model), &p.tools_stream);
    check_request(p, &only_request(&server).await, true);
}

pub async fn images(p: &Protocol) {
    let reply = sent_and_answered(p, p.plain.fixture, image_request(), "golden_images.json").await;
    check_answer(p, &reply, &p.plain);
}

fn check_thought(p: &Protocol, reply: &Response, thought: &super::Thought) {
    match reply.message.parts.as_slice() {
        [Part::Thinking(t), Part::Text { text }, ..] => {
            assert!(
                t.text.starts_with(thought.thinking),
                "{}: {:?}",
                p.name,
                t.text
            );
            assert_eq!(t.provider.as_deref(), Some(NAME), "{}", p.name);
            assert!(text.starts_with(thought.text), "{}: {text:?}", p.name);
        }
        other => panic!("{}: thinking, then text: {other:?}", p.name),
    }
}

pub async fn reasoning(p: &Protocol) {
    let reply = sent_and_answered(
        p,
        p.reasoning.fixture,
        reasoning_request(),
        "golden_reasoning.json",
    )
    .await;
    check_thought(p, &reply, &p.reasoning);
}

pub async fn reasoning_stream(p: &Protocol) {
    let Some(thought) = &p.reasoning_stream else {
        return; // no recorded or documented streamed thinking for this protocol
    };
    let server = serve_fixture(p, thought.fixture).await;
    let reply = stream_fold(p.model(&server).as_ref(), reasoning_request())
        .await
        .unwrap();
    check_thought(p, &reply, thought);
}

pub async fn json_schema(p: &Protocol) {
    let reply =
        sent_and_answered(p, p.schema.fixture, schema_request(), "golden_schema.json").await;
    assert!(reply.text().starts_with(p.schema.text), "{}", p.name);
    serde_json::from_str::<Value>(&reply.text()).expect("the answer is JSON");
    assert_eq!(reply.finish_reason, FinishReason::Stop, "{}", p.name);
}

/// A history from a provider that numbers its calls afresh in every answer
/// (Ollama, Gemini 2.5): two calls `call_0`, each answered. What we send
/// (`golden_repeated_ids.json`) must pair each result with its own call:
/// ids made unique where the wire has ids, names where it pairs by name.
pub async fn repeated_call_ids(p: &Protocol) {
    let server = serve_fixture(p, p.plain.fixture).await;
    let request = Request::new()
        .user("Weather in SF?")
        .message(calling("call_0", "get_weather", json!({"location": "SF"})))
        .tool_results([ToolResult::ok("call_0", "sunny").with_name("get_weather")])
        .user("And a taxi?")
        .message(calling("call_0", "book_taxi", json!({"time": "10 AM"})))
        .tool_results([ToolResult::ok("call_0", "booked")])
        .tool(weather_tool());
    generated(&p.model(&server), request).await;
    sent_is_golden(p, &server, "golden_repeated_ids.json").await;
}

/// Every tool choice with two tools offered (one with no description and no
/// schema), one without tools, and tool results of each kind after an
/// assistant turn of text and two calls: a JSON result, an error, and one
/// answering no call. What each wire makes of them is
/// `golden_tool_choice.json`, keyed by case.
pub async fn tool_choices_and_results(p: &Protocol) {
    let server = serve_fixture(p, p.plain.fixture).await;
    let model = p.model(&server);
    let turn = Message::new(
        majordomo::Role::Assistant,
        vec![
            Part::text("Let me check."),
            Part::ToolCall(ToolCall::new(
                "a",
                "get_current_weather",
                json!({"location": "SF"}),
            )),
            Part::ToolCall(ToolCall::new("b", "get_time", json!({}))),
        ],
    );
    let history = Request::new()
        .user("Weather and time in SF?")
        .message(turn)
        .tool_results([
            ToolResult::ok("a", "42"),
            ToolResult::error("b", "timed out").with_name("get_time"),
            ToolResult::ok("zzz", "orphan"),
        ]);
    let cases = [
        ("auto", ToolChoice::Auto),
        ("required", ToolChoice::Required),
        ("none", ToolChoice::None),
        ("one tool", ToolChoice::Tool("get_time".into())),
        ("an unknown tool", ToolChoice::Tool("nope".into())),
    ];
    for (_, choice) in &cases {
        let request =
            history
                .clone()
                .tool(weather_tool())
                .tool(Tool::new("get_time", "", Value::Null));
        generated(&model, request.tool_choice(choice.clone())).await;
    }
    let without_tools = Request::new().user("hi").tool_choice(ToolChoice::Required);
    generated(&model, without_tools).await;
    let requests = server.received_requests().await.unwrap();
    let names = cases
        .iter()
        .map(|(name, _)| *name)
        .chain(["required without tools"]);
    let sent: serde_json::Map<String, Value> = names
        .zip(&requests)
        .map(|(name, request)| (name.to_owned(), check_request(p, request, false)))
        .collect();
    assert_eq!(sent.len(), cases.len() + 1, "{}", p.name);
    assert_golden(p, "golden_tool_choice.json", &Value::Object(sent));
}

/// JSON output asked for three ways: any JSON object; a schema under a name
/// no API takes as it is, not strict, carrying JSON Schema dialect markers,
/// a `minimum` and an object without `additionalProperties`; and the same
/// schema as a tool's parameters. What each wire makes of them (names
/// sanitized, markers stripped, schemas made strict, where the API needs
/// it) is `golden_json_formats.json`, keyed by case.
pub async fn json_formats(p: &Protocol) {
    let server = serve_fixture(p, p.schema.fixture).await;
    let model = p.model(&server);
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Order",
        "type": "object",
        "properties": {
            "total": {"type": "number", "minimum": 0},
            "when": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"},
            "$schema": {"type": "string"},
            "items": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
            "kind": {"anyOf": [{"$schema": "x", "type": "null"}, {"type": "string", "enum": ["$schema"]}]}
        },
        "$defs": {"D": {"$schema": "x", "type": "integer"}},
        "required": ["total", "$schema"]
    });
    let named = ResponseFormat::JsonSchema {
        name: "my schema: v2".into(),
        schema: schema.clone(),
        strict: false,
    };
    let cases = [
        (
            "any JSON",
            Request::new()
                .user("JSON please")
                .response_format(ResponseFormat::Json),
        ),
        (
            "a named schema",
            Request::new().user("Extract.").response_format(named),
        ),
        (
            "a tool's schema",
            Request::new()
                .user("Extract.")
                .tool(Tool::new("t", "T", schema)),
        ),
    ];
    let mut sent = serde_json::Map::new();
    for (name, request) in cases {
        generated(&model, request).await;
        let requests = server.received_requests().await.unwrap();
        sent.insert(
            name.to_owned(),
            check_request(p, requests.last().unwrap(), false),
        );
    }
    assert_golden(p, "golden_json_formats.json", &Value::Object(sent));
}

/// A history other providers wrote: their thinking (signed, and redacted),
/// text, a call with an id over OpenAI's 40 characters and arguments as a
/// JSON string, a call with no id and no arguments, the results in a user
/// message with text (one failed, one without an id), a turn of nothing but
/// foreign thinking; then our own signed thinking. What each wire makes of
/// it is `golden_foreign_history.json`: no foreign thinking, each call paired
/// with its result under an id (or name) the API takes.
pub async fn foreign_history(p: &Protocol) {
    let server = serve_fixture(p, p.plain.fixture).await;
    let long_id = format!("toolu_{}", "01A09q90qw90lq917835lq9".repeat(2));
    let foreign = |text: &str| Part::Thinking(Thinking::text(text).with_provider("elsewhere"));
    let signed = Thinking::text("private chain").with_signature("sig");
    let calls = Message::new(
        majordomo::Role::Assistant,
        vec![
            Part::Thinking(signed.with_provider("claude")),
            Part::Thinking(Thinking::redacted("opaque")),
            Part::text("Let me check."),
            Part::ToolCall(ToolCall::new(
                &long_id,
                "get_weather",
                json!("{\"city\":\"Toronto\"}"),
            )),
            Part::ToolCall(ToolCall::new("", "get_time", Value::Null)),
        ],
    );
    let results = Message::new(
        majordomo::Role::User,
        vec![
            Part::ToolResult(ToolResult::ok(long_id, "11 degrees")),
            Part::ToolResult(ToolResult::error("", "clock unavailable").with_name("get_time")),
            Part::text("Thanks, and?"),
        ],
    );
    let own = Message::new(
        majordomo::Role::Assistant,
        vec![
            Part::Thinking(
                Thinking::text("our own chain")
                    .with_signature("c2lnbmF0dXJl")
                    .with_provider(NAME),
            ),
            Part::text("It is noon."),
        ],
    );
    let request = Request::new()
        .user("Weather and time in Toronto?")
        .message(calls)
        .message(results)
        .message(Message::new(
            majordomo::Role::Assistant,
            vec![foreign("only thinking")],
        ))
        .user("Next?")
        .message(own)
        .user("Thanks.");
    generated(&p.model(&server), request).await;
    let body = check_request(p, &only_request(&server).await, false);
    for never in ["private chain", "opaque", "only thinking"] {
        assert!(
            !body.to_string().contains(never),
            "{}: {never} was sent",
            p.name
        );
    }
    assert_golden(p, "golden_foreign_history.json", &body);
}

/// A server that takes no key (a local model, a gateway that adds its own):
/// a DSN without one sends no key header at all.
pub async fn keyless_server(p: &Protocol) {
    let server = serve_fixture(p, p.plain.fixture).await;
    let dsn = format!("{}://{}{}", p.scheme, server.address(), p.base);
    let registry = Registry::builder()
        .without_env()
        .env_vars([("LLM_X", dsn)])
        .build();
    let model = registry.provider(NAME).unwrap().model(p.model).unwrap();
    check_answer(p, &generated(&model, plain_request()).await, &p.plain);
    let request = only_request(&server).await;
    for name in ["authorization", "api-key", "x-api-key", "x-goog-api-key"] {
        assert_eq!(request.headers.get(name), None, "{}: {name}", p.name);
    }
}

pub async fn documented_requests(p: &Protocol) {
    for example in p.examples {
        let mut expected: Value = serde_json::from_slice(&p.fixture(example.request)).unwrap();
        let request = (example.build)(&expected);
        (example.adjust)(&mut expected);
        (p.dialect)(&mut expected);
        let server = serve_fixture(p, example.answer).await;
        let model = p
            .registry(*server.address(), "")
            .provider(NAME)
            .unwrap()
            .model(expected["model"].as_str().unwrap())
            .unwrap();
        if example.stream {
            stream_fold(model.as_ref(), request).await.unwrap();
        } else {
            generated(&model, request).await;
        }
        let sent: Value = serde_json::from_slice(&only_request(&server).await.body).unwrap();
        assert_eq!(sent, expected, "{} {}", p.name, example.request);
    }
}

// ----- errors -----

pub async fn errors(p: &Protocol) {
    for signal in Signal::ALL {
        let Some(fault) = p.fault_for(signal) else {
            continue; // the protocol has no such signal
        };
        let server = serve(fault.answer()).await;
        let model = p.model(&server);
        let generated = generate_error(&model, hi()).await;
        // An error status fails the stream call itself, before any event.
        let streamed = match model.stream(hi()).await {
            Err(e) => e,
            Ok(s) if fault.status == 200 => s.into_response().await.unwrap_err(),
            Ok(_) => panic!("{} {signal:?}: the stream opened", p.name),
        };
        for (e, how) in [(generated, "generate"), (streamed, "stream")] {
            let what = format!("{} {signal:?} ({how}): {e:?}", p.name);
            assert_eq!(e.class(), fault.class(signal), "{what}");
            if fault.status != 200 {
                assert_eq!(e.status(), Some(fault.status), "{what}");
                assert_eq!(e.kind(), ErrorKind::Api, "{what}");
            }
            assert!(e.to_string().contains(fault.says), "{what}");
            if let Some(code) = fault.code {
                assert_eq!(e.code(), Some(code), "{what}");
            }
            check_error(p, &e);
        }
    }
}

/// A 429 of `p` with `header` set.
async fn rate_limited_with(p: &Protocol, header: (&'static str, &str)) -> [Error; 2] {
    let fault = p.fault_for(Signal::RateLimited).unwrap();
    let server = serve(fault.header(header.0, header.1).answer()).await;
    both_errors(p.model(&server).as_ref(), hi()).await
}

pub async fn retry_after_seconds(p: &Protocol) {
    for e in rate_limited_with(p, ("retry-after", "20")).await {
        assert_eq!(e.class(), ErrorClass::Transient, "{}", p.name);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(20)), "{}", p.name);
        check_error(p, &e);
    }
}

pub async fn retry_after_ms(p: &Protocol) {
    for e in rate_limited_with(p, ("retry-after-ms", "1500")).await {
        assert_eq!(
            e.retry_after(),
            Some(Duration::from_millis(1500)),
            "{}",
            p.name
        );
    }
}

pub async fn retry_after_date(p: &Protocol) {
    // An HTTP date is whole seconds from the server's clock: the wait is what
    // is left of it when the answer is read, never more than was given.
    let at = SystemTime::now() + Duration::from_secs(90);
    let date = httpdate::fmt_http_date(at);
    for e in rate_limited_with(p, ("retry-after", &date)).await {
        let after = e.retry_after().expect("a wait from the date");
        assert!(after <= Duration::from_secs(90), "{}: {after:?}", p.name);
        assert!(after > Duration::from_secs(30), "{}: {after:?}", p.name);
    }
}

pub async fn retry_info(p: &Protocol) {
    if !p.retry_info {
        return; // only Google's errors carry RetryInfo
    }
    let fault = p.fault_for(Signal::RateLimited).unwrap();
    let server = serve(fault.answer()).await;
    for e in both_errors(p.model(&server).as_ref(), hi()).await {
        assert_eq!(e.retry_after(), Some(Duration::from_secs(26)), "{}", p.name);
    }
    // A `Retry-After` header wins over the body's delay.
    for e in rate_limited_with(p, ("retry-after", "7")).await {
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)), "{}", p.name);
    }
}

// ----- streams that fail -----

/// The first event of `p`'s stream fixture that carries text, with all before it.
fn stream_head(p: &Protocol) -> Vec<u8> {
    let bytes = p.fixture(p.stream.fixture);
    let text = p.stream.text.split_whitespace().next().unwrap();
    let at = bytes
        .windows(text.len())
        .position(|w| w == text.as_bytes())
        .unwrap();
    let end = p
        .event_ends(&bytes)
        .into_iter()
        .find(|&end| end > at)
        .unwrap();
    bytes[..end].to_vec()
}

/// Opens a stream of `body` and reads it to its end: the text before the
/// error, and the error.
async fn stream_until_error(p: &Protocol, body: Vec<u8>) -> (String, Error) {
    let server = serve(ok(body, p.stream_type)).await;
    let model = p.model(&server);
    let mut stream = model.stream(hi()).await.unwrap();
    let mut text = String::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamEvent::TextDelta { text: t }) => text.push_str(&t),
            Ok(_) => {}
            Err(e) => {
                assert!(
                    stream.next().await.is_none(),
                    "{}: an error ends the stream",
                    p.name
                );
                return (text, e);
            }
        }
    }
    panic!("{}: the stream ended without an error: {text:?}", p.name);
}

pub async fn stream_error_events(p: &Protocol) {
    let mut body = stream_head(p);
    body.extend_from_slice((p.stream_error)(&format!("overloaded for {KEY}")).as_bytes());
    let (text, e) = stream_until_error(p, body).await;
    assert!(
        !text.is_empty(),
        "{}: the text before the error arrives",
        p.name
    );
    assert_eq!(e.class(), ErrorClass::Transient, "{}: {e:?}", p.name);
    assert_eq!(e.kind(), ErrorKind::Api, "{}: {e:?}", p.name);
    assert!(e.message().contains("overloaded for"), "{}: {e:?}", p.name);
    check_error(p, &e);
}

pub async fn stream_error_before_output(p: &Protocol) {
    let body = (p.stream_error)("The server had an error processing your request.");
    let down = serve(ok(body, p.stream_type)).await;
    // Nothing reached the caller: the error comes before any event (from the
    // stream call itself, or as the stream's first item).
    let e = match p.model(&down).stream(hi()).await {
        Err(e) => e,
        Ok(mut stream) => stream.next().await.unwrap().unwrap_err(),
    };
    assert_eq!(e.class(), ErrorClass::Transient, "{}: {e:?}", p.name);
    assert!(
        e.message().contains("server had an error"),
        "{}: {e:?}",
        p.name
    );
    check_error(p, &e);
    // So a chain still fails over.
    let up = serve_fixture(p, p.stream.fixture).await;
    let registry = p.registry_over(&[("LLM_DOWN", &down), ("LLM_UP", &up)]);
    let chain = registry
        .parse(&format!("down/{m},up/{m}", m = p.model))
        .unwrap();
    let reply = stream_fold(&chain, hi()).await.unwrap();
    assert_eq!(reply.provider, "up", "{}", p.name);
}

pub async fn garbage_in_a_stream(p: &Protocol) {
    let mut body = stream_head(p);
    let garbage = if p.stream_type == "application/x-ndjson" {
        format!("{{\"message\": {{\"content\" {KEY}\n")
    } else {
        format!("data: {{\"choices\": [{{\"delta\" {KEY}")
            + std::str::from_utf8(p.delimiter).unwrap()
    };
    body.extend_from_slice(garbage.as_bytes());
    let (text, e) = stream_until_error(p, body).await;
    assert!(!text.is_empty(), "{}", p.name);
    assert_eq!(e.kind(), ErrorKind::Decode, "{}: {e:?}", p.name);
    assert_eq!(e.class(), ErrorClass::Transient, "{}: {e:?}", p.name);
    check_error(p, &e);

    // A plain answer that is not JSON.
    let server = serve(ok("{not json", "application/json")).await;
    let e = generate_error(&p.model(&server), hi()).await;
    assert_eq!(e.kind(), ErrorKind::Decode, "{}: {e:?}", p.name);
    assert_eq!(e.class(), ErrorClass::Transient, "{}: {e:?}", p.name);
    check_error(p, &e);
}

pub async fn streams_fold_like_whole_answers(p: &Protocol) {
    for &(stream, whole, same_ids) in p.counterparts {
        let answered = serve_fixture(p, whole).await;
        let mut generated = generated(&p.model(&answered), hi()).await;
        generated.raw = None;
        // The stream asks for the model the whole answer names: a stream
        // need not name it.
        let streamed = serve_fixture(p, stream).await;
        let registry = p.registry(*streamed.address(), "");
        let model = registry.provider(NAME).unwrap().model(&generated.model);
        let folded = streamed_reply(&model.unwrap(), hi()).await;
        if same_ids {
            assert_eq!(folded, generated, "{} {stream}", p.name);
        } else {
            assert_eq!(
                without_raw(folded),
                without_raw(generated),
                "{} {stream}",
                p.name
            );
        }
    }
}

/// A proxy may answer a stream request with the whole JSON answer: the
/// stream reads it as that answer, not as a stream cut short.
pub async fn whole_answer_to_a_stream_request(p: &Protocol) {
    for name in [p.plain.fixture, p.tools.fixture] {
        let server = serve_fixture(p, name).await;
        let model = p.model(&server);
        let streamed = stream_fold(model.as_ref(), hi()).await.unwrap();
        let generated = generated(&model, hi()).await;
        assert_eq!(streamed.text(), generated.text(), "{} {name}", p.name);
        assert_eq!(
            streamed.finish_reason, generated.finish_reason,
            "{} {name}",
            p.name
        );
        assert_eq!(streamed.usage, generated.usage, "{} {name}", p.name);
        assert_eq!(
            streamed
                .tool_calls()
                .map(|c| (&c.name, &c.arguments))
                .collect::<Vec<_>>(),
            generated
                .tool_calls()
                .map(|c| (&c.name, &c.arguments))
                .collect::<Vec<_>>(),
            "{} {name}",
            p.name
        );
    }
    // An error document in place of the stream is that error.
    let fault = p.fault_for(Signal::Unavailable).unwrap();
    let server = serve(ok(fault.body, "application/json")).await;
    let e = stream_fold(p.model(&server).as_ref(), hi())
        .await
        .unwrap_err();
    assert_ne!(e.kind(), ErrorKind::StreamEndedEarly, "{}: {e:?}", p.name);
    assert!(e.to_string().contains(fault.says), "{}: {e:?}", p.name);
    check_error(p, &e);
}

/// The answer to `body` cut at every byte: an error, or (only once nothing
/// that matters is missing) the whole answer. Never a short success.
async fn sweep(p: &Protocol, content_type: &str, body: &[u8], streaming: bool) {
    let server = CutServer::start().await;
    let model = p.model_at(server.addr, "");
    let call = |model: std::sync::Arc<dyn Model>| async move {
        if streaming {
            stream_fold(model.as_ref(), hi()).await
        } else {
            model.generate(hi()).await
        }
    };
    server.set(content_type, body);
    let whole = without_raw(call(model.clone()).await.unwrap());
    let boundaries = p.event_ends(body);
    for n in 0..body.len() {
        server.set(content_type, &body[..n]);
        match call(model.clone()).await {
            Ok(reply) => assert_eq!(
                without_raw(reply),
                whole,
                "{} cut at {n} of {}: a short answer",
                p.name,
                body.len()
            ),
            Err(e) => {
                let what = format!("{} cut at {n} of {}: {e:?}", p.name, body.len());
                assert_eq!(e.class(), ErrorClass::Transient, "{what}");
                assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::StreamEndedEarly | ErrorKind::Decode | ErrorKind::Transport
                    ),
                    "{what}"
                );
                if streaming && boundaries.contains(&n) {
                    assert_eq!(e.kind(), ErrorKind::StreamEndedEarly, "{what}");
                }
                check_error(p, &e);
            }
        }
    }
}

pub async fn truncated_streams(p: &Protocol) {
    for name in p.truncated {
        sweep(p, p.stream_type, &p.fixture(name), true).await;
    }
}

pub async fn truncated_answers(p: &Protocol) {
    let body = p.fixture(p.plain.fixture);
    sweep(p, "application/json", &body, false).await;
}

pub async fn keep_alives(p: &Protocol) {
    let body = p.fixture(p.stream.fixture);
    let server = serve(ok(body, p.stream_type)).await;
    let clean = stream_fold(p.model(&server).as_ref(), hi()).await.unwrap();
    let kept = p.with_keep_alives(&p.fixture(p.stream.fixture));
    let server = serve(ok(kept, p.stream_type)).await;
    let folded = stream_fold(p.model(&server).as_ref(), hi()).await.unwrap();
    assert_eq!(folded, clean, "{}: keep-alives change nothing", p.name);
}

// ----- transport -----

pub async fn connection_refused(p: &Protocol) {
    let addr = refused_url().trim_start_matches("http://").parse().unwrap();
    let model = p.model_at(addr, "");
    for e in both_errors(model.as_ref(), hi()).await {
        assert_eq!(e.kind(), ErrorKind::Transport, "{}: {e:?}", p.name);
        assert_eq!(e.class(), ErrorClass::Transient, "{}", p.name);
        assert_eq!(e.status(), None, "{}", p.name);
        check_error(p, &e);
    }
}

pub async fn stall_before_headers(p: &Protocol) {
    let server = PacedServer::start(http::stall_before_headers()).await;
    let model = p.model_at(server.addr, "?timeout=2s");
    for e in both_errors(model.as_ref(), hi()).await {
        assert_eq!(e.kind(), ErrorKind::Timeout, "{}: {e:?}", p.name);
        assert_eq!(e.class(), ErrorClass::Transient, "{}", p.name);
        check_error(p, &e);
    }
    let first = String::from_utf8_lossy(&server.requests()[0]).to_string();
    let target = match (p.query)(false) {
        Some(query) => format!("{}?{query}", (p.route)(p.model, false)),
        None => (p.route)(p.model, false),
    };
    assert!(
        first.starts_with(&format!("POST {target} ")),
        "{}: {first}",
        p.name
    );
}

pub async fn stall_after_first_event(p: &Protocol) {
    let body = p.fixture(p.stream.fixture);
    let server =
        PacedServer::start(first_event_then_stall(p.stream_type, &body, p.delimiter)).await;
    let model = p.model_at(server.addr, "?timeout=2s&idle_timeout=5s");
    let e = stream_fold(model.as_ref(), hi()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{}: {e:?}", p.name);
    assert_eq!(e.class(), ErrorClass::Transient, "{}", p.name);
    check_error(p, &e);
}

// ----- the registry -----

pub async fn builtin_without_a_key(p: &Protocol) {
    let Some((variable, builtin)) = p.builtin_key else {
        return; // the protocol needs no key
    };
    let registry = Registry::builder().without_env().build();
    let model = registry.provider(builtin).unwrap().model(p.model).unwrap();
    for e in both_errors(model.as_ref(), hi()).await {
        assert_eq!(e.class(), ErrorClass::NotConfigured, "{}: {e:?}", p.name);
        assert_eq!(e.kind(), ErrorKind::Config, "{}: {e:?}", p.name);
        assert!(e.to_string().contains(variable), "{}: {e}", p.name);
        assert_eq!(e.provider(), Some(builtin));
        assert_eq!(e.model(), Some(p.model));
    }
}

pub async fn through_a_chain(p: &Protocol) {
    let fault = p.fault_for(Signal::Unavailable).unwrap();
    let down = serve(fault.answer()).await;
    let up_plain = serve_fixture(p, p.plain.fixture).await;
    let up_stream = serve_fixture(p, p.stream.fixture).await;
    let registry = p.registry_over(&[
        ("LLM_DOWN", &down),
        ("LLM_UP", &up_plain),
        ("LLM_UPS", &up_stream),
    ]);
    let m = p.model;
    let reply = generated(
        &registry.parse(&format!("down/{m},up/{m}")).unwrap(),
        plain_request(),
    )
    .await;
    assert_eq!(reply.provider, "up", "{}", p.name);
    assert!(reply.text().starts_with(p.plain.text), "{}", p.name);
    let first = reply.attempts.first().unwrap();
    assert_eq!(first.target.to_string(), format!("down/{m}"));
    assert_eq!(first.class, Some(ErrorClass::Transient), "{}", p.name);
    let streamed = stream_fold(
        &registry.parse(&format!("down/{m},ups/{m}")).unwrap(),
        plain_request(),
    )
    .await
    .unwrap();
    assert_eq!(streamed.provider, "ups", "{}", p.name);
    assert!(streamed.text().starts_with(p.stream.text), "{}", p.name);
}

pub async fn builtin_reads_its_variables_on_first_use(p: &Protocol) {
    let Some((builtin, variable, path)) = p.builtin_url else {
        return; // the built-in has no URL variable
    };
    let server = serve_fixture(p, p.plain.fixture).await;
    let url = format!("{}{path}", server.uri());
    let key = p.builtin_key.map(|(key, _)| key);
    let reads: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&reads);
    let registry = Registry::builder()
        .env_lookup(move |name| {
            seen.lock().unwrap().push(name.to_owned());
            match name {
                _ if name == variable => Some(url.clone()),
                _ if Some(name) == key => Some(KEY.to_owned()),
                _ => None,
            }
        })
        .build();
    let read = |name: &str| reads.lock().unwrap().iter().filter(|n| *n == name).count();
    let chain = registry.parse(&format!("{builtin}/{}", p.model)).unwrap();
    assert_eq!(
        read(variable),
        0,
        "{}: not read before the first call",
        p.name
    );
    for _ in 0..2 {
        let reply = generated(&chain, plain_request()).await;
        assert_eq!(reply.provider, builtin, "{}", p.name);
        assert!(reply.text().starts_with(p.plain.text), "{}", p.name);
    }
    assert_eq!(read(variable), 1, "{}: read once", p.name);
    for request in server.received_requests().await.unwrap() {
        assert_eq!(request.url.path(), (p.route)(p.model, false), "{}", p.name);
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["model"], p.model, "{}", p.name);
        if key.is_some() {
            let (name, prefix) = p.auth;
            let sent = request.headers.get(name).map(|v| v.to_str().unwrap());
            assert_eq!(sent, Some(format!("{prefix}{KEY}").as_str()), "{}", p.name);
        }
    }
}

pub async fn config_setters(p: &Protocol) {
    let server = serve_fixture(p, p.plain.fixture).await;
    let root = format!("{}{}", server.uri(), p.base.split('?').next().unwrap());
    let settings =
        |url: &str, header: &'static str| HttpSettings::new(url).api_key(KEY).header(header, "yes");
    // `base_url` moves the settings given to `http` (key, headers) along.
    let moved = (p.configured)(settings("http://unused.invalid", "x-kept"), Some(&root));
    // `http` replaces the key, URL and headers set before it.
    let replaced = (p.configured)(settings(&root, "x-new"), None);
    for provider in [moved, replaced] {
        assert_eq!(provider.name(), NAME, "{}", p.name);
        let model = provider.model(p.model).unwrap();
        assert_eq!(model.capabilities(), &super::declared(), "{}", p.name);
        check_answer(p, &generated(&model, plain_request()).await, &p.plain);
    }
    let requests = server.received_requests().await.unwrap();
    for (request, header) in requests.iter().zip(["x-kept", "x-new"]) {
        check_request(p, request, false);
        let sent = |name: &str| request.headers.get(name).map(|v| v.to_str().unwrap());
        assert_eq!(sent(header), Some("yes"), "{}", p.name);
        assert_eq!(sent("x-old"), None, "{}: replaced by `http`", p.name);
    }
    assert_eq!(requests.len(), 2, "{}", p.name);
}
