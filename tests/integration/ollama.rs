//! Integration tests: the `ollama` provider (native `/api/chat`) against
//! loopback servers: wiremock serving the documented payloads, and the
//! paced server for stalls, cuts and streams written line by line.

#![cfg(feature = "ollama")]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use majordomo::providers::ollama::{OllamaConfig, OllamaProvider};
use majordomo::{
    Capabilities, Error, ErrorClass, FinishReason, Model, Part, Provider, ReasoningLevel, Registry,
    Request, Response, StreamEvent, Tool, ToolCall, ToolChoice, ToolResult,
};
use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate};

use crate::support::call::{calling, generated};
use crate::support::http::{
    PacedServer, Step, events, fixture, fixture_answer, fixture_json, head, only_body, post,
    serve_route, serve_route_with, sorted_keys, stream_fold, tool_of, write, written_then_close,
};
use crate::support::registry::{ask, registry_with_env};

const NAME: &str = "ol";
const MODEL: &str = "llama3.2";

// ----- helpers -----

fn provider_at(url: &str) -> OllamaProvider {
    OllamaProvider::new(
        OllamaConfig::new()
            .base_url(url)
            .name(NAME)
            .timeout(Duration::from_secs(10)),
    )
    .unwrap()
}

fn model_at(url: &str, id: &str) -> Arc<dyn Model> {
    provider_at(url).model(id).unwrap()
}

/// The route every call goes to.
const ROUTE: &str = "/api/chat";

/// A server answering `/api/chat` with `status` and `body`.
async fn serve(status: u16, body: Vec<u8>, content_type: &str) -> MockServer {
    serve_route(ROUTE, status, body, content_type).await
}

/// A server answering `/api/chat` with `tests/fixtures/ollama/<name>`.
async fn serve_fixture(name: &str) -> MockServer {
    serve_route_with(ROUTE, fixture_answer(&format!("ollama/{name}"))).await
}

/// The JSON body of the first request a paced server received.
fn paced_body(server: &PacedServer) -> Value {
    let raw = server.requests().remove(0);
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    serde_json::from_slice(&raw[at..]).unwrap()
}

fn weather_tool() -> Tool {
    tool_of(&fixture_json("ollama/chat_request_tools.json")["tools"][0])
}

/// What model `id` reads from the plain JSON answer `body`.
async fn reply_to(body: &Value, id: &str, request: Request) -> Response {
    let server = serve(200, body.to_string().into_bytes(), "application/json").await;
    model_at(&server.uri(), id).generate(request).await.unwrap()
}

fn assert_error(e: &Error, class: ErrorClass, status: Option<u16>, message_part: &str) {
    assert_eq!(e.class(), class, "{e:?}");
    assert_eq!(e.provider(), Some(NAME), "{e:?}");
    assert_eq!(e.model(), Some(MODEL), "{e:?}");
    assert_eq!(e.status(), status, "{e:?}");
    assert!(e.message().contains(message_part), "{e:?}");
}

/// An id we made up for the `n`-th call of an answer: `call_<nonce>_<n>`.
fn assert_generated_id(id: &str, n: usize) {
    let pieces: Vec<&str> = id.split('_').collect();
    assert_eq!(pieces.len(), 3, "{id}");
    assert_eq!(pieces[0], "call", "{id}");
    assert!(pieces[1].len() > 8, "{id}");
    assert!(pieces[1].bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_eq!(pieces[2], n.to_string(), "{id}");
}

/// `r` with made-up tool-call ids replaced by `call_<n>`, to compare two
/// answers that are the same but for those ids.
fn without_generated_ids(mut r: Response) -> Response {
    for part in &mut r.message.parts {
        if let Part::ToolCall(call) = part {
            if let ["call", nonce, n] = call.id.split('_').collect::<Vec<_>>()[..] {
                if nonce.len() > 8 {
                    call.id = format!("call_{n}");
                }
            }
        }
    }
    r
}

// ----- request bodies -----

#[tokio::test]
async fn the_answer_keeps_its_raw_fields() {
    // No key header for a keyless server, and what every protocol reads,
    // run in `conformance::ollama::{keyless_server, plain}`.
    let server = serve_fixture("chat_response.json").await;
    let response = generated(&model_at(&server.uri(), MODEL), Request::new().user("hi")).await;
    assert_eq!(response.model, "llama3.2");
    let raw = response.raw.unwrap();
    assert_eq!(raw["total_duration"], json!(5191566416u64));
    assert_eq!(raw["created_at"], json!("2023-12-12T14:13:43.416799Z"));
}

#[tokio::test]
async fn sampling_options_go_in_options() {
    // Seed and temperature: the documented example, in `conformance`.
    let server = serve_fixture("chat_response.json").await;
    model_at(&server.uri(), MODEL)
        .generate(
            Request::new()
                .user("Hello!")
                .top_p(0.5)
                .max_tokens(64)
                .stop("\n\n")
                .stop("END"),
        )
        .await
        .unwrap();
    let body = only_body(&server).await;
    assert_eq!(
        body["options"],
        json!({"top_p": 0.5, "num_predict": 64, "stop": ["\n\n", "END"]})
    );
}

#[tokio::test]
async fn tools_are_offered_and_a_call_comes_back_with_a_generated_id() {
    let server = serve_fixture("chat_response_tool_call.json").await;
    let response = model_at(&server.uri(), MODEL)
        .generate(
            Request::new()
                .user("what is the weather in tokyo?")
                .tool(weather_tool())
                // Ollama has no tool choice: ignored, never an error.
                .tool_choice(ToolChoice::Required),
        )
        .await
        .unwrap();

    // No tool choice field: the documented body (checked in `conformance`).
    let body = only_body(&server).await;
    assert_eq!(sorted_keys(&body), ["messages", "model", "stream", "tools"]);

    let calls: Vec<&ToolCall> = response.tool_calls().collect();
    assert_eq!(calls.len(), 1);
    assert_generated_id(&calls[0].id, 0);
    assert_eq!(calls[0].name, "get_weather");
    assert_eq!(calls[0].arguments, json!({"city": "Tokyo"}));
    assert_eq!(response.text(), "");
    assert_eq!(response.message.parts.len(), 1, "no empty text part");
    // Ollama says `stop` after a tool call.
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    assert_eq!(response.usage.input_tokens, Some(169));
    assert_eq!(response.usage.output_tokens, Some(18));
}

#[tokio::test]
async fn a_tool_round_trip_sends_the_call_and_the_named_result() {
    let server = serve_fixture("chat_response_after_tool_result.json").await;
    let request = Request::new()
        .user("what is the weather in Toronto?")
        .message(calling("call_0", "get_weather", json!({"city": "Toronto"})))
        // No name on the result: it is found from the call.
        .tool_results([ToolResult::ok("call_0", "11 degrees celsius")])
        .tool(weather_tool());
    let response = model_at(&server.uri(), MODEL)
        .generate(request)
        .await
        .unwrap();

    let expected = fixture_json("ollama/chat_request_tool_result_history.json");
    let body = only_body(&server).await;
    assert_eq!(sorted_keys(&body), ["messages", "model", "stream", "tools"]);
    assert_eq!(body["tools"], expected["tools"]);
    assert_eq!(body["stream"], expected["stream"]);
    let (sent, want) = (
        body["messages"].as_array().unwrap(),
        expected["messages"].as_array().unwrap(),
    );
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0], want[0]);
    assert_eq!(sent[1]["role"], want[1]["role"]);
    assert_eq!(sent[1]["content"], want[1]["content"]);
    assert_eq!(
        sent[1]["tool_calls"][0]["function"],
        want[1]["tool_calls"][0]["function"]
    );
    assert_eq!(sent[1]["tool_calls"][0]["id"], json!("call_0"));
    assert_eq!(sent[2]["role"], want[2]["role"]);
    assert_eq!(sent[2]["content"], want[2]["content"]);
    assert_eq!(sent[2]["tool_name"], want[2]["tool_name"]);
    assert_eq!(sent[2]["tool_call_id"], json!("call_0"));

    assert_eq!(
        response.text(),
        "The current temperature in Toronto is 11°C."
    );
    assert_eq!(response.finish_reason, FinishReason::Stop);
    assert_eq!(response.usage.input_tokens, Some(94));
}

#[tokio::test]
async fn reasoning_levels_become_think_and_thinking_comes_back() {
    let answer = json!({
        "model": "gpt-oss",
        "created_at": "2025-08-05T00:00:00Z",
        "message": {"role": "assistant", "content": "2", "thinking": "1 plus 1 is 2."},
        "done": true, "done_reason": "stop", "prompt_eval_count": 12, "eval_count": 20
    });
    let server = serve(200, answer.to_string().into_bytes(), "application/json").await;
    let model = model_at(&server.uri(), "gpt-oss");
    let response = generated(
        &model,
        Request::new()
            .user("What is 1+1?")
            .reasoning(ReasoningLevel::Low),
    )
    .await;

    // The documented `think: "low"` body is checked in `conformance`.
    match &response.message.parts[..] {
        [Part::Thinking(t), Part::Text { text }] => {
            assert_eq!(t.text, "1 plus 1 is 2.");
            assert_eq!(t.provider.as_deref(), Some(NAME));
            assert_eq!(text, "2");
        }
        other => panic!("unexpected parts {other:?}"),
    }

    // Our own thinking goes back on the assistant turn; the level maps too.
    let next = Request::new()
        .user("What is 1+1?")
        .message(response.to_message())
        .user("And 2+2?")
        .reasoning(ReasoningLevel::Off);
    let server = serve(200, answer.to_string().into_bytes(), "application/json").await;
    model_at(&server.uri(), "gpt-oss")
        .generate(next)
        .await
        .unwrap();
    let body = only_body(&server).await;
    // gpt-oss cannot stop thinking (`false` is ignored): the least it offers.
    assert_eq!(body["think"], json!("low"));
    assert_eq!(
        body["messages"][1],
        json!({"role": "assistant", "content": "2", "thinking": "1 plus 1 is 2."})
    );

    // Levels only for gpt-oss; every other model takes a switch, since
    // Ollama answers a level with 400 "think value ... is not supported for
    // this model" there.
    for (model, level, think) in [
        ("gpt-oss", ReasoningLevel::Max, json!("high")),
        ("gpt-oss:120b-cloud", ReasoningLevel::Minimal, json!("low")),
        ("gpt-oss:20b", ReasoningLevel::Budget(2000), json!("low")),
        ("gpt-oss:20b", ReasoningLevel::Budget(30000), json!("high")),
        ("qwen3", ReasoningLevel::High, json!(true)),
        ("qwen3:8b", ReasoningLevel::Low, json!(true)),
        ("deepseek-r1", ReasoningLevel::Budget(2000), json!(true)),
        ("qwen3", ReasoningLevel::Off, json!(false)),
    ] {
        let server = serve(200, answer.to_string().into_bytes(), "application/json").await;
        model_at(&server.uri(), model)
            .generate(Request::new().user("x").reasoning(level))
            .await
            .unwrap();
        assert_eq!(only_body(&server).await["think"], think, "{model} {level}");
    }
}

#[tokio::test]
async fn a_response_without_model_or_counts() {
    let body = json!({"message": {"role": "assistant", "content": "hi"}, "done": true});
    let response = reply_to(&body, "mystery:7b", Request::new().user("hi")).await;
    assert_eq!(response.model, "mystery:7b");
    assert_eq!(response.usage, majordomo::Usage::default());
    assert_eq!(response.finish_reason, FinishReason::Stop);
    assert_eq!(response.text(), "hi");
}

#[tokio::test]
async fn calls_without_ids_get_ids_unique_across_the_conversation() {
    // An older server: no ids, and the same first call in every turn.
    let model = {
        let server = serve_fixture("chat_response_tool_call.json").await;
        let url = server.uri();
        (server, model_at(&url, MODEL))
    };
    let ask = |conversation: Request| {
        let model = model.1.clone();
        async move { generated(&model, conversation).await }
    };
    let mut conversation = Request::new()
        .user("weather in Tokyo, twice")
        .tool(weather_tool());
    let mut ids = Vec::new();
    for _ in 0..3 {
        let answer = ask(conversation.clone()).await;
        let call = answer.tool_calls().next().unwrap().clone();
        assert_generated_id(&call.id, 0);
        ids.push(call.id.clone());
        conversation = conversation
            .message(answer.to_message())
            .tool_results([ToolResult::ok(call.id, "11 degrees")]);
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "ids repeat across turns: {ids:?}");

    // The last request sent every earlier call and result with its own id.
    let requests = model.0.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests.last().unwrap().body).unwrap();
    let sent = body["messages"].as_array().unwrap();
    assert_eq!(sent.len(), 5, "{sent:#?}");
    for (turn, id) in ids[..2].iter().enumerate() {
        let (call, result) = (&sent[1 + 2 * turn], &sent[2 + 2 * turn]);
        assert_eq!(call["tool_calls"][0]["id"], json!(id));
        assert_eq!(result["tool_call_id"], json!(id));
        assert_eq!(result["tool_name"], json!("get_weather"));
    }
}

#[tokio::test]
async fn cached_prompt_tokens_are_reported() {
    let body = json!({"model": MODEL, "message": {"role": "assistant", "content": "hi"},
        "done": true, "done_reason": "stop",
        "prompt_eval_count": 900, "prompt_eval_cached_count": 850, "eval_count": 2});
    let response = reply_to(&body, MODEL, Request::new().user("hi")).await;
    assert_eq!(response.usage.input_tokens, Some(900));
    assert_eq!(response.usage.cached_input_tokens, Some(850));
    assert_eq!(response.usage.output_tokens, Some(2));
}

// ----- streaming -----

#[tokio::test]
async fn a_streamed_tool_call_folds_into_one_call() {
    let server = serve_fixture("chat_stream_tool_call.ndjson").await;
    let model = model_at(&server.uri(), MODEL);
    let request = Request::new()
        .user("what is the weather in tokyo?")
        .tool(weather_tool());
    let events = events(model.as_ref(), request).await;
    let StreamEvent::ToolCallStart {
        id: streamed_id, ..
    } = &events[0]
    else {
        panic!("a tool call first: {events:?}");
    };
    let streamed_id = streamed_id.clone();
    assert_generated_id(&streamed_id, 0);
    assert_eq!(
        events[..3],
        [
            StreamEvent::ToolCallStart {
                index: 0,
                id: streamed_id.clone(),
                name: "get_weather".into()
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: r#"{"city":"Tokyo"}"#.into()
            },
            StreamEvent::ToolCallEnd { index: 0 },
        ]
    );
    assert_eq!(
        events.last(),
        Some(&StreamEvent::finish(FinishReason::ToolCalls))
    );
    let mut acc = majordomo::StreamAccumulator::new();
    events.into_iter().for_each(|e| acc.push(e));
    let response = acc.finish(NAME, MODEL);
    let calls: Vec<&ToolCall> = response.tool_calls().collect();
    assert_eq!(
        calls,
        [&ToolCall::new(
            streamed_id,
            "get_weather",
            json!({"city": "Tokyo"})
        )]
    );
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    assert_eq!(response.usage.input_tokens, Some(169));
    assert_eq!(response.usage.output_tokens, Some(15));
}

/// One answer with thinking, text and two tool calls, whole and as NDJSON lines.
fn mixed_answer() -> (Value, Vec<Value>) {
    let calls = json!([
        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
        {"id": "call_srv_9", "function": {"name": "get_time", "arguments": {"tz": "CET"}}}
    ]);
    let whole = json!({
        "model": MODEL, "created_at": "2025-07-07T20:22:19Z",
        "message": {"role": "assistant", "content": "Checking both.", "thinking": "Two tools needed.",
                    "tool_calls": calls},
        "done": true, "done_reason": "stop", "prompt_eval_count": 40, "eval_count": 31
    });
    let line = |message: Value| json!({"model": MODEL, "message": message, "done": false});
    let lines = vec![
        line(json!({"role": "assistant", "content": "", "thinking": "Two tools"})),
        line(json!({"role": "assistant", "content": "", "thinking": " needed."})),
        line(json!({"role": "assistant", "content": "Checking"})),
        line(json!({"role": "assistant", "content": " both."})),
        line(json!({"role": "assistant", "content": "", "tool_calls": [calls[0].clone()]})),
        line(json!({"role": "assistant", "content": "", "tool_calls": [calls[1].clone()]})),
        json!({"model": MODEL, "message": {"role": "assistant", "content": ""}, "done": true,
               "done_reason": "stop", "prompt_eval_count": 40, "eval_count": 31}),
    ];
    (whole, lines)
}

#[tokio::test]
async fn a_paced_stream_folds_into_the_same_response_as_generate() {
    let (whole, lines) = mixed_answer();
    let mut script = vec![head(200, "application/x-ndjson")];
    for (i, line) in lines.iter().enumerate() {
        let mut text = line.to_string();
        if i + 1 < lines.len() {
            text.push('\n'); // the last line has no trailing newline
        }
        // Split each line in two writes, with a pause between.
        let (a, b) = text.split_at(text.len() / 2);
        script.push(write(a));
        script.push(Step::Pause(Duration::from_millis(2)));
        script.push(write(b));
    }
    let paced = PacedServer::start(script).await;
    let streamed = stream_fold(&model_at(&paced.url(), MODEL), Request::new().user("go"))
        .await
        .unwrap();
    assert_eq!(paced_body(&paced)["stream"], json!(true));

    let mut generated = reply_to(&whole, MODEL, Request::new().user("go")).await;
    assert!(generated.raw.is_some());
    generated.raw = None;
    let (streamed_ids, generated_ids): (Vec<String>, Vec<String>) = (
        streamed.tool_calls().map(|c| c.id.clone()).collect(),
        generated.tool_calls().map(|c| c.id.clone()).collect(),
    );
    assert_ne!(streamed_ids[0], generated_ids[0], "two answers, two ids");
    assert_eq!(
        without_generated_ids(streamed),
        without_generated_ids(generated.clone())
    );

    assert_generated_id(&generated_ids[0], 0);
    assert_eq!(generated_ids[1], "call_srv_9", "a server id is kept");
    assert_eq!(streamed_ids[1], "call_srv_9");
    assert_eq!(generated.finish_reason, FinishReason::ToolCalls);
    assert!(
        matches!(&generated.message.parts[0], Part::Thinking(t) if t.text == "Two tools needed.")
    );
}

// ----- faults -----

async fn http_error(status: u16, body: &[u8]) -> Error {
    let server = MockServer::start().await;
    post("/api/chat")
        .respond_with(
            ResponseTemplate::new(status)
                .insert_header("retry-after", "7")
                .set_body_raw(body.to_vec(), "application/json"),
        )
        .mount(&server)
        .await;
    model_at(&server.uri(), MODEL)
        .generate(Request::new().user("hi"))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn http_errors_are_classified() {
    // Ollama's own texts (the shared statuses and bodies run in `conformance`).
    let e = http_error(400, br#"{"error":"\"llama3.2\" does not support tools"}"#).await;
    assert_error(
        &e,
        ErrorClass::RequestSpecific,
        Some(400),
        "does not support tools",
    );

    let e = http_error(
        400,
        br#"{"error":"think value \"high\" is not supported for this model"}"#,
    )
    .await;
    assert_error(
        &e,
        ErrorClass::RequestSpecific,
        Some(400),
        "is not supported for this model",
    );

    let e = http_error(
        404,
        br#"{"error":"model \"llama3.2\" not found, try pulling it first"}"#,
    )
    .await;
    assert_error(
        &e,
        ErrorClass::ModelNotFound,
        Some(404),
        "try pulling it first",
    );
}

/// Streams `body` and returns the events before the error, and the error.
async fn stream_until_error(body: Vec<u8>) -> (Vec<StreamEvent>, Error) {
    let paced = PacedServer::start(written_then_close("application/x-ndjson", body)).await;
    let mut stream = model_at(&paced.url(), MODEL)
        .stream(Request::new().user("hi"))
        .await
        .unwrap();
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => events.push(event),
            Err(e) => {
                assert!(stream.next().await.is_none());
                return (events, e);
            }
        }
    }
    panic!("the stream ended without an error: {events:?}");
}

/// The text lines of the documented mid-stream error, as `/api/chat` lines.
fn chat_lines_of_generate_fixture() -> (Vec<u8>, Value) {
    let text = String::from_utf8(fixture("ollama/generate_stream_midstream_error.ndjson")).unwrap();
    let mut body = Vec::new();
    let mut error = Value::Null;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v.get("error").is_some() {
            error = v;
            continue;
        }
        let chat = json!({"model": v["model"], "created_at": v["created_at"],
            "message": {"role": "assistant", "content": v["response"]}, "done": v["done"]});
        body.extend_from_slice(chat.to_string().as_bytes());
        body.push(b'\n');
    }
    (body, error)
}

#[tokio::test]
async fn a_midstream_error_naming_a_missing_capability_is_request_specific() {
    let (mut body, _) = chat_lines_of_generate_fixture();
    body.extend_from_slice(br#"{"error":"\"llama3.2\" does not support thinking"}"#);
    let (_, e) = stream_until_error(body).await;
    assert_error(
        &e,
        ErrorClass::RequestSpecific,
        None,
        "does not support thinking",
    );
}

// ----- credentials -----

const KEY: &str = "sk-ollama-SECRET-4242";

// ----- the configuration builder -----

#[test]
fn models_declare_streaming_by_default() {
    let provider = OllamaProvider::new(OllamaConfig::default()).unwrap();
    let model = provider.model(MODEL).unwrap();
    assert_eq!(provider.name(), "ollama");
    let default = Capabilities::unknown().streaming(true);
    assert_eq!(model.capabilities(), &default);
    // Declared capabilities run in `conformance::ollama::config_setters`.
}

// ----- through the registry -----

#[tokio::test]
async fn an_llm_dsn_reaches_the_server_over_plain_http() {
    let server = serve_fixture("chat_response.json").await;
    let port = server.address().port();
    let registry = registry_with_env([("LLM_LOCAL", format!("ollama://127.0.0.1:{port}"))]);
    let chain = registry.parse("local/llama3.2").unwrap();
    let response = generated(&chain, Request::new().user("hi")).await;
    assert_eq!(response.text(), "Hello! How are you today?");
    assert_eq!(response.provider, "local");
    assert_eq!(only_body(&server).await["model"], json!("llama3.2"));

    let server = serve_fixture("chat_stream.ndjson").await;
    let port = server.address().port();
    let registry =
        registry_with_env([("LLM_LOCAL", format!("ollama://tok-{KEY}@127.0.0.1:{port}"))]);
    let chain = registry.parse("local/llama3.2").unwrap();
    let response = stream_fold(&chain, Request::new().user("hi"))
        .await
        .unwrap();
    assert_eq!(response.text(), "The");
    assert_eq!(response.provider, "local");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        requests[0].headers["authorization"].to_str().unwrap(),
        format!("Bearer tok-{KEY}")
    );
}

#[tokio::test]
async fn the_builtin_takes_a_bare_host_and_port_in_ollama_host() {
    // Reading it once, on first use, and `http://host:port` run in
    // `conformance::ollama::builtin_reads_its_variables_on_first_use`.
    let server = serve_fixture("chat_response.json").await;
    let host = format!("127.0.0.1:{}", server.address().port());
    let registry = Registry::builder()
        .env_lookup(move |name| (name == "OLLAMA_HOST").then(|| host.clone()))
        .build();
    let response = ask(&registry, "ollama/llama3.2").await;
    assert_eq!(response.provider, "ollama");
    assert_eq!(response.text(), "Hello! How are you today?");
}
