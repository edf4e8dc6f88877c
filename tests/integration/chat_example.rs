//! The `chat` example as a user runs it: the built example binary against a
//! wiremock OpenAI-compatible server named by an `LLM_*` DSN.
#![cfg(feature = "openai")]

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::http::{fixture, fixture_json};

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
