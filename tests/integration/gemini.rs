//! Integration tests: gemini. Real loopback HTTP: wiremock serves fixtures
//! built from the official documentation (`tests/fixtures/gemini/SOURCES.md`);
//! `PacedServer` stalls and cuts streams.

#![cfg(feature = "gemini")]

use std::sync::Arc;

use majordomo::providers::gemini::{GeminiConfig, GeminiProvider};
use majordomo::{
    Error, ErrorClass, ErrorKind, FinishReason, Message, Model, Part, Provider, ReasoningLevel,
    Request, Role, Thinking, Tool, ToolCall, ToolChoice, ToolResult, Usage,
};
use serde_json::{Value, json};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer};

use crate::support::call::{calling, generate_error, generated};
use crate::support::http::{
    answer, assert_no_credential, bodies, content_type_of, fixture, fixture_answer, fixture_json,
    post, serve_route_once_then, stream_fold,
};

/// A recognizable key: no error text may ever contain it.
const KEY: &str = "AIzaSyTESTKEY-do-not-leak-5c1e9b7a";
const MODEL: &str = "gemini-2.5-flash";
const GENERATE: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent";
const SIGNATURE: &str = "CiIBVKhc7oDPpCaXyJKKssjqr4g3JNOSgJ/M2V+1THC1icsWCmwBVKhc7qkpM7tB1ja5j2tF0r1Jn1sB5b2Qk5d4Z0xL3KJ8WQ==";

fn config(base: &str) -> GeminiConfig {
    GeminiConfig::new()
        .name("g")
        .base_url(format!("{base}/v1beta"))
        .api_key(KEY)
}

fn model_at(config: GeminiConfig, id: &str) -> Arc<dyn Model> {
    GeminiProvider::new(config).unwrap().model(id).unwrap()
}

/// A server answering `POST {path}` (with the API key header) with `status`
/// and `body`.
async fn serve_at(route: &str, status: u16, body: Vec<u8>, content_type: &str) -> MockServer {
    let server = MockServer::start().await;
    post(route)
        .and(header("x-goog-api-key", KEY))
        .respond_with(answer(status, body, content_type))
        .mount(&server)
        .await;
    server
}

async fn serve_fixture(name: &str) -> MockServer {
    let route = if name.ends_with(".sse") {
        STREAM
    } else {
        GENERATE
    };
    serve_at(
        route,
        200,
        fixture(&format!("gemini/{name}")),
        content_type_of(name),
    )
    .await
}

/// The requests the server received, in order.
async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap_or_default()
}

/// Neither the message, the code, Display nor Debug may carry the key.
fn assert_clean(error: &Error) {
    assert_no_credential(error, &[KEY]);
    for text in [error.message(), error.code().unwrap_or_default()] {
        assert!(!text.contains(KEY), "key leaked: {text}");
    }
}

fn assert_target(error: &Error) {
    assert_eq!(error.provider(), Some("g"), "{error:?}");
    assert_eq!(error.model(), Some(MODEL), "{error:?}");
}

// ===== requests =====

#[tokio::test]
async fn plain_chat_with_a_system_instruction() {
    let server = serve_fixture("generate_response_text.json").await;
    let model = model_at(config(&server.uri()), MODEL);
    let request = Request::new()
        .system("You are a cat. Your name is Neko.")
        .user("Hello there")
        .assistant("Meow.")
        .user("Give me python code to sort a list.")
        .temperature(0.5)
        .top_p(0.75)
        .max_tokens(800)
        .stop("Title")
        .seed(42);
    let response = generated(&model, request).await;

    let received = requests(&server).await;
    assert_eq!(received.len(), 1);
    let url = &received[0].url;
    assert_eq!(url.path(), GENERATE);
    assert_eq!(url.query(), None, "the key never goes in the URL");
    assert_eq!(
        received[0].headers.get("x-goog-api-key").unwrap(),
        KEY,
        "the key goes in the header"
    );
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "You are a cat. Your name is Neko."}]})
    );
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Hello there"}]},
            {"role": "model", "parts": [{"text": "Meow."}]},
            {"role": "user", "parts": [{"text": "Give me python code to sort a list."}]},
        ])
    );
    assert_eq!(
        body["generationConfig"],
        json!({
            "temperature": 0.5,
            "topP": 0.75,
            "maxOutputTokens": 800,
            "stopSequences": ["Title"],
            "seed": 42,
        })
    );
    for absent in ["tools", "toolConfig"] {
        assert!(body.get(absent).is_none(), "{absent} sent without tools");
    }

    assert!(response.text().starts_with("```python\n# Example list"));
    assert_eq!(response.finish_reason, FinishReason::Stop);
    assert_eq!(response.usage, Usage::new(9, 87));
    assert_eq!(response.provider, "g");
    assert_eq!(response.model, "gemini-2.5-flash");
    assert_eq!(
        response.raw.as_ref().unwrap()["responseId"],
        "mPqyaKDJFa6Sz7IPu4DN0QU"
    );
}

#[tokio::test]
async fn system_messages_join_the_instruction_and_same_role_turns_merge() {
    let server = serve_fixture("generate_response_text.json").await;
    let model = model_at(config(&server.uri()), MODEL);
    let request = Request::new()
        .system("Be brief.")
        .message(Message::system("Answer in English."))
        .user("One")
        .user("Two");
    generated(&model, request).await;
    let body = &bodies(&server).await[0];
    assert_eq!(
        body["systemInstruction"]["parts"],
        json!([{"text": "Be brief."}, {"text": "Answer in English."}])
    );
    assert_eq!(
        body["contents"],
        json!([{"role": "user", "parts": [{"text": "One"}, {"text": "Two"}]}])
    );
}

fn find_theaters() -> Tool {
    Tool::new(
        "find_theaters",
        "find theaters based on location and optionally movie title which are is currently playing in theaters",
        json!({
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA or a zip code e.g. 95616"},
                "movie": {"type": "string", "description": "Any movie title"}
            },
            "required": ["location"],
            "additionalProperties": false
        }),
    )
}

#[tokio::test]
async fn a_tool_call_round_trip() {
    let server = serve_route_once_then(
        GENERATE,
        fixture_answer("gemini/generate_response_function_call.json"),
        fixture_answer("gemini/generate_response_text.json"),
    )
    .await;
    let model = model_at(config(&server.uri()), MODEL);

    let ask = Request::new()
        .user("Which theaters in Mountain View show Barbie movie?")
        .tool(find_theaters())
        .tool_choice(ToolChoice::Tool("find_theaters".into()));
    let first = generated(&model, ask.clone()).await;
    assert_eq!(first.finish_reason, FinishReason::ToolCalls);
    let calls: Vec<&ToolCall> = first.tool_calls().collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id, "call_0", "no id from the API: a stable one");
    assert_eq!(calls[0].name, "find_theaters");
    assert_eq!(
        calls[0].arguments,
        json!({"movie": "Barbie", "location": "Mountain View, CA"})
    );
    assert_eq!(first.usage, Usage::new(196, 18));

    // The result names no tool: the name comes from the call with its id.
    let result = ToolResult::ok(
        calls[0].id.clone(),
        r#"{"movie":"Barbie","theaters":[{"name":"AMC Mountain View 16"}]}"#,
    );
    let follow_up = ask.message(first.to_message()).tool_results([result]);
    generated(&model, follow_up).await;

    let bodies = bodies(&server).await;
    assert_eq!(bodies.len(), 2);
    for body in &bodies {
        assert_eq!(
            body["tools"],
            json!([{"functionDeclarations": [{
                "name": "find_theaters",
                "description": "find theaters based on location and optionally movie title which are is currently playing in theaters",
                "parametersJsonSchema": find_theaters().parameters,
            }]}])
        );
        assert_eq!(
            body["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["find_theaters"]}})
        );
    }
    let contents = &bodies[1]["contents"];
    assert_eq!(
        contents[1],
        json!({"role": "model", "parts": [{"functionCall": {
            "name": "find_theaters",
            "args": {"movie": "Barbie", "location": "Mountain View, CA"}
        }}]}),
        "no id is sent back"
    );
    assert_eq!(
        contents[2],
        json!({"role": "user", "parts": [{"functionResponse": {
            "name": "find_theaters",
            "response": {"movie": "Barbie", "theaters": [{"name": "AMC Mountain View 16"}]}
        }}]})
    );
    assert_eq!(contents.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn thought_signatures_go_back_on_their_part_and_foreign_thinking_is_dropped() {
    const GEMINI3: &str = "gemini-3-pro-preview";
    let server = MockServer::start().await;
    post("/v1beta/models/gemini-3-pro-preview:generateContent")
        .respond_with(fixture_answer(
            "gemini/generate_response_function_call_signature.json",
        ))
        .mount(&server)
        .await;
    let model = model_at(config(&server.uri()), GEMINI3);
    let first = generated(&model, Request::new().user("Check flight status for AA100")).await;
    assert_eq!(first.model, GEMINI3);
    let call = first.tool_calls().next().unwrap().clone();
    assert_eq!(call.id, "9k3hxx1p", "the API's id is kept");
    let signed: Vec<&Thinking> = first.message.thinking().collect();
    assert_eq!(signed.len(), 1);
    assert_eq!(signed[0].signature.as_deref(), Some(SIGNATURE));
    assert_eq!(signed[0].provider.as_deref(), Some("g"));
    assert_eq!(
        first.usage,
        Usage::new(92, 16 + 63).with_reasoning_tokens(63),
        "output counts thoughts"
    );

    // Our own signed call, preceded by another provider's thinking.
    let mut history = first.to_message();
    history.parts.insert(
        0,
        Part::Thinking(
            Thinking::text("foreign reasoning")
                .with_signature("anthropic-sig")
                .with_provider("claude"),
        ),
    );
    // A later turn from another provider: an unsigned call.
    let foreign = calling("call_abc", "book_taxi", json!({"time": "10 AM"}));
    let request = Request::new()
        .user("Check flight status for AA100 and book a taxi if delayed")
        .message(history)
        .tool_results([ToolResult::ok(call.id.clone(), r#"{"status":"delayed"}"#)])
        .message(foreign)
        .tool_results([ToolResult::ok("call_abc", r#"{"booking":"ok"}"#)]);
    generated(&model, request).await;
    let contents = bodies(&server).await[1]["contents"].clone();
    assert_eq!(
        contents[1],
        json!({"role": "model", "parts": [{
            "thoughtSignature": SIGNATURE,
            "functionCall": {"id": "9k3hxx1p", "name": "check_flight", "args": {"flight": "AA100"}}
        }]}),
        "own signature on its call, foreign thinking dropped; Gemini 3 gets its call id back"
    );
    assert_eq!(
        contents[2]["parts"][0]["functionResponse"],
        json!({"id": "9k3hxx1p", "name": "check_flight", "response": {"status": "delayed"}})
    );
    assert_eq!(
        contents[3],
        json!({"role": "model", "parts": [{
            "thoughtSignature": "skip_thought_signature_validator",
            "functionCall": {"id": "call_abc", "name": "book_taxi", "args": {"time": "10 AM"}}
        }]}),
        "Gemini 3 gets the documented signature for calls it did not make"
    );
    assert_eq!(
        contents[4]["parts"][0]["functionResponse"],
        json!({"id": "call_abc", "name": "book_taxi", "response": {"booking": "ok"}})
    );
}

#[tokio::test]
async fn a_reasoning_level_sets_the_thinking_config() {
    let server = serve_fixture("generate_response_thinking.json").await;
    let model = model_at(config(&server.uri()), MODEL);
    let response = generated(
        &model,
        Request::new()
            .user("You are playing the 20 question game.")
            .reasoning(ReasoningLevel::High),
    )
    .await;
    let body = &bodies(&server).await[0];
    assert_eq!(
        body["generationConfig"],
        json!({"thinkingConfig": {"thinkingBudget": 16384, "includeThoughts": true}})
    );
    match response.message.parts.as_slice() {
        [Part::Thinking(thought), Part::Text { text }] => {
            assert!(thought.text.starts_with("**Here's how I'm thinking"));
            assert_eq!(thought.provider.as_deref(), Some("g"));
            assert!(thought.signature.is_none());
            assert!(text.starts_with("This is a fun one!"));
        }
        other => panic!("unexpected parts {other:?}"),
    }
    assert_eq!(
        response.usage,
        Usage::new(58, 820 + 1477).with_reasoning_tokens(1477)
    );
    assert_eq!(
        response.text(),
        fixture_json("gemini/generate_response_thinking.json")["candidates"][0]["content"]["parts"]
            [1]["text"]
    );

    // Gemini 3 takes a level instead of a budget.
    let server = MockServer::start().await;
    post("/v1beta/models/gemini-3-flash-preview:generateContent")
        .respond_with(fixture_answer("gemini/generate_response_thinking.json"))
        .mount(&server)
        .await;
    let model = model_at(config(&server.uri()), "gemini-3-flash-preview");
    generated(
        &model,
        Request::new().user("hi").reasoning(ReasoningLevel::Low),
    )
    .await;
    assert_eq!(
        bodies(&server).await[0]["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "low", "includeThoughts": true})
    );
}

/// A server answering every POST with the plain text answer.
async fn serve_any() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(fixture_answer("gemini/generate_response_text.json"))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn thinking_budgets_stay_in_each_models_range() {
    let server = serve_any().await;
    let cases = [
        // The API answers 400 "The thinking budget (N) is invalid" outside these.
        (
            "gemini-2.5-flash",
            ReasoningLevel::Budget(100_000),
            json!({"thinkingBudget": 24576, "includeThoughts": true}),
        ),
        (
            "gemini-2.5-pro",
            ReasoningLevel::Budget(50),
            json!({"thinkingBudget": 128, "includeThoughts": true}),
        ),
        (
            "gemini-2.5-pro",
            ReasoningLevel::Budget(100_000),
            json!({"thinkingBudget": 32768, "includeThoughts": true}),
        ),
        (
            "gemini-2.5-pro",
            ReasoningLevel::Off,
            json!({"thinkingBudget": 128}),
        ),
        (
            "gemini-2.5-flash-lite",
            ReasoningLevel::Budget(100),
            json!({"thinkingBudget": 512, "includeThoughts": true}),
        ),
        (
            "gemini-2.5-flash-lite",
            ReasoningLevel::Off,
            json!({"thinkingBudget": 0}),
        ),
        (
            "gemini-3-pro-preview",
            ReasoningLevel::Off,
            json!({"thinkingLevel": "low"}),
        ),
    ];
    for (id, level, expected) in &cases {
        let model = model_at(config(&server.uri()), id);
        generated(&model, Request::new().user("hi").reasoning(*level)).await;
        let body = bodies(&server).await.pop().unwrap();
        assert_eq!(
            body["generationConfig"]["thinkingConfig"], *expected,
            "{id} {level}"
        );
    }
}

#[tokio::test]
async fn models_without_thinking_controls_get_none() {
    // Gemini 2.0 and Gemma answer 400 "thinking_config is not supported".
    let server = serve_any().await;
    for id in ["gemini-2.0-flash", "gemini-1.5-pro", "gemma-3-27b-it"] {
        for level in [ReasoningLevel::Off, ReasoningLevel::High] {
            let model = model_at(config(&server.uri()), id);
            generated(&model, Request::new().user("hi").reasoning(level)).await;
            let body = bodies(&server).await.pop().unwrap();
            assert!(
                body.get("generationConfig").is_none(),
                "{id} {level}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn gemma_gets_its_system_prompt_in_the_first_user_turn() {
    // Gemma answers 400 "Developer instruction is not enabled" to a systemInstruction.
    let server = serve_any().await;
    let model = model_at(config(&server.uri()), "gemma-3-27b-it");
    generated(
        &model,
        Request::new()
            .system("Be brief.")
            .message(Message::system("Answer in English."))
            .user("Hello"),
    )
    .await;
    let body = &bodies(&server).await[0];
    assert!(body.get("systemInstruction").is_none(), "{body}");
    assert_eq!(
        body["contents"],
        json!([{"role": "user", "parts": [
            {"text": "Be brief.\n\nAnswer in English."},
            {"text": "Hello"},
        ]}])
    );
}

#[tokio::test]
async fn models_declare_streaming_by_default() {
    // Declared capabilities run in `conformance::gemini::config_setters`.
    let default = model_at(config_default(), MODEL);
    assert_eq!(default.capabilities().streaming, Some(true));
    assert_eq!(default.capabilities().tools, None);
}

fn config_default() -> GeminiConfig {
    GeminiConfig::default().api_key(KEY)
}

#[tokio::test]
async fn model_ids_are_percent_encoded_in_the_path() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(fixture_answer("gemini/generate_response_text.json"))
        .mount(&server)
        .await;
    for (id, expected) in [
        (
            "tunedModels/my model:v1",
            "/v1beta/tunedModels/my%20model%3Av1:generateContent",
        ),
        (
            "models/gemini-2.5-flash",
            "/v1beta/models/gemini-2.5-flash:generateContent",
        ),
        ("a/b?c#d", "/v1beta/models/a%2Fb%3Fc%23d:generateContent"),
    ] {
        let model = model_at(config(&server.uri()), id);
        generated(&model, Request::new().user("hi")).await;
        let last = requests(&server).await.pop().unwrap();
        assert_eq!(last.url.path(), expected);
        assert_eq!(last.url.query(), None);
    }
}

// ===== responses =====

#[tokio::test]
async fn response_fixtures_parse() {
    let server = serve_fixture("generate_response_max_tokens.json").await;
    let model = model_at(config(&server.uri()), MODEL);
    let response = generated(&model, Request::new().user("hi")).await;
    assert_eq!(response.finish_reason, FinishReason::Length);
    assert!(response.message.parts.is_empty());
    assert_eq!(response.message.role, Role::Assistant);
    assert_eq!(
        response.usage,
        Usage::new(844, 399).with_reasoning_tokens(399)
    );

    let server = serve_fixture("generate_response_blocked_prompt.json").await;
    let model = model_at(config(&server.uri()), MODEL);
    let error = generate_error(&model, Request::new().user("hi")).await;
    assert_eq!(error.class(), ErrorClass::RequestSpecific, "{error:?}");
    assert!(error.message().contains("SAFETY"), "{error:?}");
    assert_target(&error);
}

// ===== streams =====

// ===== faults =====

#[tokio::test]
async fn an_echoed_key_never_reaches_an_error() {
    let echo = json!({"error": {
        "code": 400,
        "message": format!("API key not valid: {KEY}. Please pass a valid API key."),
        "status": "INVALID_ARGUMENT",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]
    }});
    let server = serve_at(
        GENERATE,
        400,
        echo.to_string().into_bytes(),
        "application/json",
    )
    .await;
    let model = model_at(config(&server.uri()), MODEL);
    let error = generate_error(&model, Request::new().user("hi")).await;
    assert_eq!(error.class(), ErrorClass::Permanent);
    assert!(error.message().contains("***"), "{error:?}");
    assert_clean(&error);

    // A body that fails to decode, quoting the key where a number belongs.
    let odd = format!(r#"{{"candidates":[],"usageMetadata":{{"promptTokenCount":"{KEY}"}}}}"#);
    let server = serve_at(GENERATE, 200, odd.into_bytes(), "application/json").await;
    let model = model_at(config(&server.uri()), MODEL);
    let error = generate_error(&model, Request::new().user("hi")).await;
    assert_eq!(error.kind(), ErrorKind::Decode, "{error:?}");
    assert_clean(&error);

    // An in-stream error that echoes it.
    let sse = format!(
        "data: {}\r\n\r\n",
        json!({"error": {"code": 500, "message": format!("bad key {KEY}"), "status": "INTERNAL"}})
    );
    let server = serve_at(STREAM, 200, sse.into_bytes(), "text/event-stream").await;
    let model = model_at(config(&server.uri()), MODEL);
    let error = stream_fold(model.as_ref(), Request::new().user("hi"))
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient);
    assert_clean(&error);
}

#[tokio::test]
async fn an_error_in_a_data_line_ends_the_stream() {
    let server = serve_fixture("stream_error_midstream.sse").await;
    let model = model_at(config(&server.uri()), MODEL);
    let error = stream_fold(model.as_ref(), Request::new().user("hi"))
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient, "{error:?}");
    assert_eq!(error.status(), Some(503));
    assert_eq!(error.code(), Some("UNAVAILABLE"));
    assert_eq!(
        error.message(),
        "The model is overloaded. Please try again later."
    );
    assert_target(&error);
}

// ===== registry =====

/// A proxy that ignores `alt=sse` may answer a stream request with the array
/// of chunks (the whole response is in `conformance`): the stream reads it.
#[tokio::test]
async fn a_stream_answered_with_whole_json_is_read() {
    let whole = fixture("gemini/generate_response_text.json");
    let route = format!("/v1beta/models/{MODEL}:streamGenerateContent");
    {
        let body = format!("[{}]", String::from_utf8(whole.clone()).unwrap()).into_bytes();
        let server = serve_at(&route, 200, body, "application/json").await;
        let streamed = stream_fold(
            model_at(config(&server.uri()), MODEL).as_ref(),
            Request::new().user("hi"),
        )
        .await
        .unwrap();
        let expected: Value = serde_json::from_slice(&whole).unwrap();
        let text = expected["candidates"][0]["content"]["parts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p.get("thought").is_none())
            .filter_map(|p| p["text"].as_str())
            .collect::<String>();
        assert_eq!(streamed.text(), text);
    }
}
