//! The `chat` example as a user runs it: the built example binary against a
//! wiremock OpenAI-compatible server named by an `LLM_*` DSN.
#![cfg(feature = "openai")]

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::http::{fixture, fixture_json, serve_sequence};

/// `target/<profile>/examples/chat`, built by `scripts/test.sh` before the
/// tests run (`cargo test` itself builds examples only in test mode).
fn chat_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let binary = profile_dir
        .join("examples")
        .join(format!("chat{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: build it first (`cargo build --all-features --examples`, as scripts/test.sh does)",
        binary.display()
    );
    binary
}

/// Runs the example with `args` and only the given environment.
pub(crate) async fn run_chat(env: &[(&str, String)], args: &[&str]) -> Output {
    let mut command = std::process::Command::new(chat_binary());
    command.env_clear().args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("run the chat example")
}

fn dsn(server: &MockServer) -> String {
    format!("openai+http://sk-chat-test-key@{}/v1", server.address())
}

async fn text_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(serde_json::json!({"stream": true})))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/event-stream")
                .set_body_bytes(fixture("openai/chat_stream_text.sse")),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture_json("openai/chat_response_text.json")),
        )
        .mount(&server)
        .await;
    server
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn plain_prints_the_answer_text() {
    let server = text_server().await;
    let out = run_chat(
        &[("LLM_X", dsn(&server))],
        &["--system", "Be brief.", "x/gpt-4o", "What is the weather?"],
    )
    .await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let expected =
        fixture_json("openai/chat_response_text.json")["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned();
    assert_eq!(stdout(&out), format!("{expected}\n"));
    let received = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][0]["content"], "Be brief.");
    assert_eq!(body["messages"][1]["content"], "What is the weather?");
    assert!(!stderr(&out).contains("sk-chat-test-key"));
}

#[tokio::test]
async fn stream_prints_the_streamed_text() {
    let server = text_server().await;
    let out = run_chat(&[("LLM_X", dsn(&server))], &["--stream", "x/gpt-4o", "hi"]).await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("I'm unable to provide real"), "{text}");
    assert!(text.ends_with(".\n"), "{text}");
    let received = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body["stream"], true);
}

#[tokio::test]
async fn json_prints_one_object_with_usage_and_attempts() {
    let server = text_server().await;
    for extra in [&[][..], &["--stream"][..]] {
        let mut args = vec!["--json"];
        args.extend_from_slice(extra);
        args.extend(["x/gpt-4o", "hi"]);
        let out = run_chat(&[("LLM_X", dsn(&server))], &args).await;
        assert!(out.status.success(), "stderr: {}", stderr(&out));
        let text = stdout(&out);
        assert_eq!(
            text.trim_end().lines().count(),
            1,
            "one line of JSON: {text}"
        );
        let json: Value = serde_json::from_str(&text).unwrap();
        assert!(json["text"].as_str().unwrap().starts_with("I'm unable"));
        assert_eq!(json["provider"], "x");
        assert_eq!(json["model"], "gpt-4o-2024-08-06");
        assert_eq!(json["finish_reason"], "stop");
        assert_eq!(json["usage"]["input_tokens"], 14);
        assert!(json["usage"]["output_tokens"].is_u64());
        let attempts = json["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "{json}");
        assert_eq!(attempts[0]["target"], "x/gpt-4o");
        assert_eq!(attempts[0]["outcome"], "ok");
        assert!(attempts[0]["class"].is_null());
    }
}

#[tokio::test]
async fn failover_events_go_to_stderr_and_json_lists_the_attempts() {
    let sick = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_json(
            serde_json::json!({"error": {"message": "overloaded", "type": "server_error", "code": null}}),
        ))
        .mount(&sick)
        .await;
    let healthy = text_server().await;
    let out = run_chat(
        &[("LLM_SICK", dsn(&sick)), ("LLM_GOOD", dsn(&healthy))],
        &["--json", "--alias", "pair=sick/m,good/m", "pair", "hi"],
    )
    .await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    let events: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("failover: "))
        .collect();
    assert!(events.len() >= 2, "one line per failover event: {err}");
    assert!(events.iter().all(|l| l.contains("sick/m")), "{err}");
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["provider"], "good");
    let attempts = json["attempts"].as_array().unwrap();
    let outcomes: Vec<&str> = attempts
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.last(), Some(&"ok"));
    assert!(outcomes.contains(&"error"), "{json}");
    let failed = attempts.iter().find(|a| a["outcome"] == "error").unwrap();
    assert_eq!(failed["target"], "sick/m");
    assert_eq!(failed["class"], "transient");
    assert!(!err.contains("sk-chat-test-key"));
}

#[tokio::test]
async fn failure_prints_the_error_and_exits_1() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": {"message": "Incorrect API key provided: sk-chat-test-key.", "type": "invalid_request_error", "code": "invalid_api_key"}
        })))
        .mount(&server)
        .await;
    let out = run_chat(&[("LLM_X", dsn(&server))], &["x/gpt-4o", "hi"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("401"), "{err}");
    assert!(err.contains("x/gpt-4o"), "{err}");
    assert!(!err.contains("sk-chat-test-key"), "{err}");

    let usage = run_chat(&[], &["only-a-spec"]).await;
    assert_eq!(usage.status.code(), Some(1));
    assert!(stderr(&usage).contains("usage: chat"));
}

#[tokio::test]
async fn a_reasoning_suffix_sends_only_efforts_the_model_takes() {
    // `gpt-4o-mini#off` must not send `reasoning_effort` (OpenAI answers 400
    // to it on a model that does not reason); `gpt-5.1#off` sends `none`,
    // `o3#off` the lowest effort o3 takes.
    let server = text_server().await;
    for (spec, effort) in [
        ("x/gpt-4o-mini#off", None),
        ("x/gpt-5.1#off", Some("none")),
        ("x/o3#off", Some("low")),
        ("x/gpt-5#minimal", Some("minimal")),
    ] {
        let out = run_chat(&[("LLM_X", dsn(&server))], &[spec, "hi"]).await;
        assert!(out.status.success(), "{spec}: stderr: {}", stderr(&out));
        let received = server.received_requests().await.unwrap();
        let body: Value = serde_json::from_slice(&received.last().unwrap().body).unwrap();
        assert_eq!(body["reasoning_effort"].as_str(), effort, "{spec}: {body}");
    }
}

// ----- --schema and --tools -----

/// A server answering `/v1/chat/completions` with `answers` in order.
async fn sequence_server(answers: Vec<ResponseTemplate>) -> MockServer {
    serve_sequence("/v1/chat/completions", answers).await
}

fn completion(message: Value, finish: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    }))
}

fn text_completion(text: &str) -> ResponseTemplate {
    completion(
        serde_json::json!({"role": "assistant", "content": text}),
        "stop",
    )
}

fn weather_call() -> ResponseTemplate {
    completion(
        serde_json::json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
        ]}),
        "tool_calls",
    )
}

fn sse(chunks: &[Value]) -> ResponseTemplate {
    let mut body = String::new();
    for chunk in chunks {
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    body.push_str("data: [DONE]\n\n");
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/event-stream")
        .set_body_string(body)
}

fn chunk(delta: Value, finish: Value) -> Value {
    serde_json::json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
        "model": "gpt-4o", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn bodies_of(requests: &[wiremock::Request]) -> Vec<Value> {
    requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn schema_prints_the_json_value_after_a_retry() {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "celsius": {"type": "integer"}},
        "required": ["city", "celsius"]
    });
    let file = std::env::temp_dir().join(format!("chat-schema-{}.json", std::process::id()));
    std::fs::write(&file, schema.to_string()).unwrap();
    let server = sequence_server(vec![
        text_completion("{\"city\": \"Paris\", \"celsius\": \"warm\"}"),
        text_completion("```json\n{\"city\": \"Paris\", \"celsius\": 21}\n```"),
    ])
    .await;
    let out = run_chat(
        &[("LLM_X", dsn(&server))],
        &[
            "--schema",
            file.to_str().unwrap(),
            "x/gpt-4o",
            "Paris weather as JSON",
        ],
    )
    .await;
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "{\"celsius\":21,\"city\":\"Paris\"}\n");
    let sent = bodies_of(&server.received_requests().await.unwrap());
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0]["response_format"]["json_schema"]["schema"], schema,
        "the schema is sent natively"
    );
    let retry = sent[1]["messages"].as_array().unwrap();
    assert_eq!(
        retry[1]["content"],
        "{\"city\": \"Paris\", \"celsius\": \"warm\"}"
    );
    assert!(
        retry[2]["content"]
            .as_str()
            .unwrap()
            .contains("at /celsius: expected integer, got a string"),
        "{}",
        retry[2]
    );

    let missing = run_chat(
        &[("LLM_X", dsn(&server))],
        &["--schema", "/nonexistent/schema.json", "x/gpt-4o", "hi"],
    )
    .await;
    assert_eq!(missing.status.code(), Some(1));
    let both = run_chat(&[], &["--schema", "s.json", "--tools", "x/gpt-4o", "hi"]).await;
    assert_eq!(both.status.code(), Some(1));
    assert!(
        stderr(&both).contains("cannot be combined"),
        "{}",
        stderr(&both)
    );
    assert!(
        stderr(&missing).contains("--schema /nonexistent/schema.json"),
        "{}",
        stderr(&missing)
    );
}

#[tokio::test]
async fn tools_runs_the_loop_and_prints_the_final_answer() {
    let server = sequence_server(vec![
        weather_call(),
        text_completion("Sunny, 21 °C in Paris."),
    ])
    .await;
    let out = run_chat(
        &[("LLM_X", dsn(&server))],
        &["--tools", "x/gpt-4o", "Weather in Paris?"],
    )
    .await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "Sunny, 21 °C in Paris.\n");
    assert!(
        stderr(&out).contains("tool: get_weather({\"city\":\"Paris\"})"),
        "{}",
        stderr(&out)
    );
    let sent = bodies_of(&server.received_requests().await.unwrap());
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(
        sent[1]["messages"][2],
        serde_json::json!({"role": "tool", "tool_call_id": "call_1",
            "content": "{\"celsius\":21,\"city\":\"Paris\",\"forecast\":\"sunny\"}"})
    );
}

#[tokio::test]
async fn tools_with_stream_prints_the_streamed_final_answer() {
    let call = sse(&[
        chunk(
            serde_json::json!({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1",
            "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
            Value::Null,
        ),
        chunk(
            serde_json::json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
            Value::Null,
        ),
        chunk(
            serde_json::json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
            Value::Null,
        ),
        chunk(serde_json::json!({}), serde_json::json!("tool_calls")),
    ]);
    let answer = sse(&[
        chunk(
            serde_json::json!({"role": "assistant", "content": "Sunny, "}),
            Value::Null,
        ),
        chunk(serde_json::json!({"content": "21 °C."}), Value::Null),
        chunk(serde_json::json!({}), serde_json::json!("stop")),
    ]);
    let server = sequence_server(vec![call, answer]).await;
    let out = run_chat(
        &[("LLM_X", dsn(&server))],
        &["--tools", "--stream", "x/gpt-4o", "Weather in Paris?"],
    )
    .await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "Sunny, 21 °C.\n");
    let sent = bodies_of(&server.received_requests().await.unwrap());
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|b| b["stream"] == true));
    assert_eq!(
        sent[1]["messages"][1]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(sent[1]["messages"][2]["tool_call_id"], "call_1");
}

#[tokio::test]
async fn repeat_hedge_and_affinity_make_several_calls_over_a_group() {
    let server = text_server().await;
    let env = [("LLM_X", dsn(&server)), ("LLM_Y", dsn(&server))];
    let out = run_chat(
        &env,
        &[
            "--json",
            "--repeat",
            "3",
            "--hedge",
            "2s",
            "--affinity",
            "user-1",
            "x/gpt-4o|y/gpt-4o",
            "hi",
        ],
    )
    .await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    let answers: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(answers.len(), 3, "one answer per line: {text}");
    // One affinity key, one group member.
    assert!(
        answers
            .iter()
            .all(|a| a["provider"] == answers[0]["provider"]),
        "{text}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 3);

    for bad in [["--hedge", "5"], ["--repeat", "0"]] {
        let out = run_chat(&env, &[bad[0], bad[1], "x/gpt-4o", "hi"]).await;
        assert!(!out.status.success());
        assert!(stderr(&out).contains(bad[0]), "{}", stderr(&out));
    }
}

#[tokio::test]
async fn usage_prints_one_json_record_per_call_on_stderr() {
    let server = text_server().await;
    let out = run_chat(
        &[
            ("LLM_X", dsn(&server)),
            ("LLM_DOWN", "openai+http://k@127.0.0.1:1".to_owned()),
        ],
        &["--usage", "--repeat", "2", "down/gpt-4o,x/gpt-4o", "hi"],
    )
    .await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let records: Vec<Value> = stderr(&out)
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{}", stderr(&out));
    for record in &records {
        assert_eq!(record["provider"], "x");
        assert_eq!(record["protocol"], "openai");
        assert_eq!(record["outcome"], "ok");
        assert_eq!(record["spec"], "down/gpt-4o,x/gpt-4o");
        assert!(record["input_tokens"].is_u64(), "{record}");
    }
    // `down` refused twice (a retry), then `x` answered: three calls.
    assert_eq!(records[0]["attempts"], 3);
}

#[tokio::test]
async fn trace_prints_each_span_as_json_when_it_closes() {
    let server = text_server().await;
    let run = |extra: &'static [&'static str]| {
        let mut args = vec!["--trace"];
        args.extend_from_slice(extra);
        args.extend(["x/gpt-4o", "Say hi"]);
        let env = [("LLM_X", dsn(&server))];
        async move { run_chat(&env, &args).await }
    };
    let out = run(&[]).await;
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    // One JSON line per closed span, each with that span's fields.
    let spans: Vec<Value> = stderr(&out)
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line["fields"]["message"] == "close")
        .map(|line| line["span"].clone())
        .collect();
    let call = spans
        .iter()
        .find(|span| span["otel.name"] == "chat gpt-4o")
        .unwrap_or_else(|| panic!("no call span in {}", stderr(&out)));
    assert_eq!(call["otel.kind"], "client");
    assert_eq!(call["gen_ai.provider.name"], "openai");
    assert_eq!(call["gen_ai.request.model"], "gpt-4o");
    assert_eq!(call["server.address"], "127.0.0.1");
    assert!(call["gen_ai.usage.input_tokens"].is_i64(), "{call}");
    assert!(call.get("gen_ai.input.messages").is_none());
    for name in ["chain x/gpt-4o", "attempt x/gpt-4o"] {
        assert!(spans.iter().any(|s| s["otel.name"] == name), "{name}");
    }
    assert!(!stderr(&out).contains("sk-chat-test-key"));

    let captured = run(&["--capture-content"]).await;
    assert!(captured.status.success(), "stderr: {}", stderr(&captured));
    let text = stderr(&captured);
    assert!(text.contains("gen_ai.input.messages"), "{text}");
    assert!(text.contains("Say hi"), "{text}");
    assert!(!text.contains("sk-chat-test-key"));
}
