//! Structured output and the tool loop against each wire protocol over
//! loopback HTTP (wiremock): native schema bodies against the official
//! fixtures, parse-retry with the error fed back, bounded retries, tool-call
//! round trips (plain and streamed), parallel calls, a panicking tool, the
//! step limit.
//!
//! Answers are written in each protocol's documented shape by the `Protocol`
//! helpers below; the bodies we send are compared with recorded SDK or
//! documentation bodies where one exists (`tests/fixtures/SOURCES.md`), and
//! otherwise with the documented shape written out in full.

#![cfg(all(
    feature = "schema",
    feature = "openai",
    feature = "anthropic",
    feature = "ollama",
    feature = "gemini"
))]

use std::sync::Arc;
use std::time::Duration;

use majordomo::providers::anthropic::{AnthropicConfig, AnthropicProvider};
use majordomo::providers::gemini::{GeminiConfig, GeminiProvider};
use majordomo::providers::http::HttpSettings;
use majordomo::providers::ollama::{OllamaConfig, OllamaProvider};
use majordomo::providers::openai::{OpenAiConfig, OpenAiProvider};
use majordomo::{
    ErrorKind, JsonOptions, Model, ModelExt, Provider, Request, SchemaMode, ToolLoop, Toolbox,
    Usage,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate};

use crate::support::http::{answer, bodies, fixture_answer, fixture_json, serve_sequence};

// ----- protocols -----

/// One wire protocol: how to reach it and how its answers look.
pub struct Protocol {
    pub name: &'static str,
    /// The model under test, talking to `base` (the server's URI).
    pub model: fn(base: &str) -> Arc<dyn Model>,
    /// The path a plain (`false`) or streamed (`true`) call goes to.
    pub route: fn(stream: bool) -> &'static str,
    /// A plain answer with `text`, usage 10 in / 5 out.
    pub text: fn(text: &str) -> ResponseTemplate,
    /// A streamed answer with `text`, usage 10 in / 5 out.
    pub text_stream: fn(text: &str) -> ResponseTemplate,
    /// A plain answer calling tools `(id, name, arguments)`.
    pub calls: fn(calls: &[(&str, &str, Value)]) -> ResponseTemplate,
    /// A streamed answer calling tools, arguments in fragments.
    pub calls_stream: fn(calls: &[(&str, &str, Value)]) -> ResponseTemplate,
    /// The conversation in a request body.
    pub conversation: fn(body: &Value) -> Vec<Value>,
    /// A turn's role and text.
    pub turn: fn(turn: &Value) -> (String, String),
}

const KEY: &str = "sk-structured-test-key";

fn json_answer(body: Value) -> ResponseTemplate {
    answer(200, body.to_string(), "application/json")
}

fn sse(events: &[Value], done: bool) -> ResponseTemplate {
    let mut body = String::new();
    for event in events {
        body.push_str(&format!("data: {event}\n\n"));
    }
    if done {
        body.push_str("data: [DONE]\n\n");
    }
    answer(200, body, "text/event-stream")
}

fn named_sse(events: &[(&str, Value)]) -> ResponseTemplate {
    let mut body = String::new();
    for (name, event) in events {
        body.push_str(&format!("event: {name}\ndata: {event}\n\n"));
    }
    answer(200, body, "text/event-stream")
}

fn ndjson(lines: &[Value]) -> ResponseTemplate {
    let mut body = String::new();
    for line in lines {
        body.push_str(&format!("{line}\n"));
    }
    answer(200, body, "application/x-ndjson")
}

/// `text` cut in two, for streamed fragments.
fn halves(text: &str) -> (String, String) {
    let mid = text
        .char_indices()
        .nth(text.chars().count() / 2)
        .map_or(0, |(i, _)| i);
    (text[..mid].to_owned(), text[mid..].to_owned())
}

fn text_of_content(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn role_and_content(turn: &Value) -> (String, String) {
    (
        turn["role"].as_str().unwrap_or_default().to_owned(),
        text_of_content(&turn["content"]),
    )
}

fn messages(body: &Value) -> Vec<Value> {
    body["messages"].as_array().cloned().unwrap_or_default()
}

// OpenAI Chat Completions.

pub const OPENAI: Protocol = Protocol {
    name: "openai",
    model: |base| {
        OpenAiProvider::new(
            OpenAiConfig::from_settings(HttpSettings::new(format!("{base}/v1")).api_key(KEY))
                .name("oa"),
        )
        .unwrap()
        .model("gpt-4o-2024-08-06")
        .unwrap()
    },
    route: |_| "/v1/chat/completions",
    text: |text| {
        json_answer(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1,
            "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        }))
    },
    text_stream: |text| {
        let (a, b) = halves(text);
        let chunk = |delta: Value, finish: Value| {
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                   "model": "gpt-4o-2024-08-06",
                   "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
        };
        sse(
            &[
                chunk(json!({"role": "assistant", "content": a}), Value::Null),
                chunk(json!({"content": b}), Value::Null),
                chunk(json!({}), json!("stop")),
                json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                       "model": "gpt-4o-2024-08-06", "choices": [],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
            ],
            true,
        )
    },
    calls: |calls| {
        let tool_calls: Vec<Value> = calls
            .iter()
            .map(|(id, name, args)| {
                json!({"id": id, "type": "function",
                       "function": {"name": name, "arguments": args.to_string()}})
            })
            .collect();
        json_answer(json!({
            "id": "chatcmpl-2", "object": "chat.completion", "created": 1,
            "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                         "tool_calls": tool_calls, "refusal": null},
                         "logprobs": null, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        }))
    },
    calls_stream: |calls| {
        let chunk = |delta: Value, finish: Value| {
            json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1,
                   "model": "gpt-4o-2024-08-06",
                   "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
        };
        let mut events = vec![chunk(
            json!({"role": "assistant", "content": null}),
            Value::Null,
        )];
        for (i, (id, name, args)) in calls.iter().enumerate() {
            let (a, b) = halves(&args.to_string());
            events.push(chunk(
                json!({"tool_calls": [{"index": i, "id": id, "type": "function",
                                       "function": {"name": name, "arguments": ""}}]}),
                Value::Null,
            ));
            for piece in [a, b] {
                events.push(chunk(
                    json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                    Value::Null,
                ));
            }
        }
        events.push(chunk(json!({}), json!("tool_calls")));
        events.push(json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1,
                           "model": "gpt-4o-2024-08-06", "choices": [],
                           "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}));
        sse(&events, true)
    },
    conversation: messages,
    turn: role_and_content,
};

// Anthropic Messages.

pub const ANTHROPIC: Protocol = Protocol {
    name: "anthropic",
    model: |base| {
        AnthropicProvider::new(
            AnthropicConfig::new()
                .name("claude")
                .base_url(base)
                .api_key(KEY),
        )
        .unwrap()
        .model("claude-sonnet-4-5")
        .unwrap()
    },
    route: |_| "/v1/messages",
    text: |text| {
        json_answer(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5}
        }))
    },
    text_stream: |text| {
        let (a, b) = halves(text);
        named_sse(&[
            (
                "message_start",
                json!({"type": "message_start", "message": {
                "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 10, "output_tokens": 1}}}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": a}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": b}}),
            ),
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            (
                "message_delta",
                json!({"type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"output_tokens": 5}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ])
    },
    calls: |calls| {
        let content: Vec<Value> = calls
            .iter()
            .map(|(id, name, args)| json!({"type": "tool_use", "id": id, "name": name, "input": args}))
            .collect();
        json_answer(json!({
            "id": "msg_2", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": content, "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5}
        }))
    },
    calls_stream: |calls| {
        let mut events = vec![(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": "msg_2", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        )];
        for (i, (id, name, args)) in calls.iter().enumerate() {
            let (a, b) = halves(&args.to_string());
            events.push((
                "content_block_start",
                json!({"type": "content_block_start", "index": i,
                "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
            ));
            for piece in [a, b] {
                events.push((
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": i,
                    "delta": {"type": "input_json_delta", "partial_json": piece}}),
                ));
            }
            events.push((
                "content_block_stop",
                json!({"type": "content_block_stop", "index": i}),
            ));
        }
        events.push((
            "message_delta",
            json!({"type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"output_tokens": 5}}),
        ));
        events.push(("message_stop", json!({"type": "message_stop"})));
        named_sse(&events)
    },
    conversation: messages,
    turn: role_and_content,
};

// Gemini generateContent.

const GEMINI_GENERATE: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const GEMINI_STREAM: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent";

fn gemini_chunk(parts: Value, finish: Option<&str>) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if let Some(finish) = finish {
        candidate["finishReason"] = json!(finish);
    }
    let mut chunk = json!({"candidates": [candidate], "modelVersion": "gemini-2.5-flash",
                           "responseId": "resp-1"});
    if finish.is_some() {
        chunk["usageMetadata"] =
            json!({"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15});
    }
    chunk
}

fn gemini_calls(calls: &[(&str, &str, Value)]) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|(_, name, args)| json!({"functionCall": {"name": name, "args": args}}))
            .collect(),
    )
}

pub const GEMINI: Protocol = Protocol {
    name: "gemini",
    model: |base| {
        GeminiProvider::new(
            GeminiConfig::new()
                .name("g")
                .base_url(format!("{base}/v1beta"))
                .api_key(KEY),
        )
        .unwrap()
        .model("gemini-2.5-flash")
        .unwrap()
    },
    route: |stream| {
        if stream {
            GEMINI_STREAM
        } else {
            GEMINI_GENERATE
        }
    },
    text: |text| json_answer(gemini_chunk(json!([{"text": text}]), Some("STOP"))),
    text_stream: |text| {
        let (a, b) = halves(text);
        sse(
            &[
                gemini_chunk(json!([{"text": a}]), None),
                gemini_chunk(json!([{"text": b}]), Some("STOP")),
            ],
            false,
        )
    },
    // Gemini 2.5 issues no call ids: the provider makes them up.
    calls: |calls| json_answer(gemini_chunk(gemini_calls(calls), Some("STOP"))),
    // Gemini streams each function call whole.
    calls_stream: |calls| sse(&[gemini_chunk(gemini_calls(calls), Some("STOP"))], false),
    conversation: |body| body["contents"].as_array().cloned().unwrap_or_default(),
    turn: |turn| {
        let text = turn["parts"]
            .as_array()
            .map(|parts| {
                parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("")
            })
            .unwrap_or_default();
        (turn["role"].as_str().unwrap_or_default().to_owned(), text)
    },
};

// Ollama /api/chat.

fn ollama_line(message: Value, done: bool) -> Value {
    let mut line = json!({"model": "llama3.1", "created_at": "2025-07-07T20:22:19.184789Z",
                          "message": message, "done": done});
    if done {
        line["done_reason"] = json!("stop");
        line["prompt_eval_count"] = json!(10);
        line["eval_count"] = json!(5);
    }
    line
}

fn ollama_calls(calls: &[(&str, &str, Value)]) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|(_, name, args)| json!({"function": {"name": name, "arguments": args}}))
            .collect(),
    )
}

pub const OLLAMA: Protocol = Protocol {
    name: "ollama",
    model: |base| {
        OllamaProvider::new(
            OllamaConfig::new()
                .base_url(base)
                .name("ol")
                .timeout(Duration::from_secs(10)),
        )
        .unwrap()
        .model("llama3.1")
        .unwrap()
    },
    route: |_| "/api/chat",
    text: |text| {
        json_answer(ollama_line(
            json!({"role": "assistant", "content": text}),
            true,
        ))
    },
    text_stream: |text| {
        let (a, b) = halves(text);
        ndjson(&[
            ollama_line(json!({"role": "assistant", "content": a}), false),
            ollama_line(json!({"role": "assistant", "content": b}), false),
            ollama_line(json!({"role": "assistant", "content": ""}), true),
        ])
    },
    calls: |calls| {
        json_answer(ollama_line(
            json!({"role": "assistant", "content": "", "tool_calls": ollama_calls(calls)}),
            true,
        ))
    },
    // Ollama streams tool calls whole, in a line before the final one.
    calls_stream: |calls| {
        ndjson(&[
            ollama_line(
                json!({"role": "assistant", "content": "", "tool_calls": ollama_calls(calls)}),
                false,
            ),
            ollama_line(json!({"role": "assistant", "content": ""}), true),
        ])
    },
    conversation: messages,
    turn: role_and_content,
};

// ----- helpers -----

#[derive(Debug, PartialEq, Deserialize, JsonSchema)]
struct Location {
    city: String,
    temperature: f64,
    units: Units,
}

#[derive(Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Units {
    C,
    F,
}

const GOOD: &str = r#"{"city": "San Francisco", "temperature": 61, "units": "f"}"#;
const BAD: &str = r#"Sure! {"city": "San Francisco", "temperature": "#;

// `get_weather(city)`: the demo tool.
#[derive(Deserialize, JsonSchema)]
struct WeatherArgs {
    /// The city to forecast.
    city: String,
}

fn weather_toolbox() -> Toolbox {
    Toolbox::new().function(
        "get_weather",
        "The forecast for a city",
        |args: WeatherArgs| async move {
            Ok::<_, String>(json!({"city": args.city, "forecast": "sunny", "celsius": 21}))
        },
    )
}

fn forecast(city: &str) -> String {
    json!({"celsius": 21, "city": city, "forecast": "sunny"}).to_string()
}

// ----- tests shared by every protocol -----

async fn bad_then_good_is_retried_once_with_the_error(p: &Protocol) {
    let server = serve_sequence((p.route)(false), vec![(p.text)(BAD), (p.text)(GOOD)]).await;
    let model = (p.model)(&server.uri());
    let answer = model
        .generate_json::<Location>(Request::new().user("What's the weather like in SF?"))
        .await
        .unwrap_or_else(|e| panic!("{}: {e:?}", p.name));
    assert_eq!(
        answer.value,
        Location {
            city: "San Francisco".into(),
            temperature: 61.0,
            units: Units::F
        },
        "{}",
        p.name
    );
    assert_eq!(answer.tries, 2, "{}", p.name);
    assert_eq!(
        answer.response.usage,
        Usage::new(20, 10),
        "{}: usage is summed",
        p.name
    );

    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 2, "{}", p.name);
    let turns: Vec<(String, String)> = (p.conversation)(&sent[1]).iter().map(p.turn).collect();
    assert_eq!(turns.len(), 3, "{}: {turns:?}", p.name);
    assert_eq!(turns[0].1, "What's the weather like in SF?", "{}", p.name);
    assert!(
        matches!(turns[1].0.as_str(), "assistant" | "model"),
        "{}: {turns:?}",
        p.name
    );
    assert_eq!(
        turns[1].1, BAD,
        "{}: the bad answer goes back as it was",
        p.name
    );
    assert_eq!(turns[2].0, "user", "{}", p.name);
    assert!(
        turns[2].1.contains(
            "could not be used: the answer is not valid JSON: expected value at line 1 column 1"
        ),
        "{}: the error goes back: {}",
        p.name,
        turns[2].1
    );
    // The schema is sent natively on every try.
    for body in &sent {
        let text = body.to_string();
        assert!(
            text.contains("\"units\""),
            "{}: the schema is sent: {text}",
            p.name
        );
    }
}

async fn retries_are_bounded(p: &Protocol) {
    let server = serve_sequence((p.route)(false), vec![(p.text)("no JSON here")]).await;
    let model = (p.model)(&server.uri());
    let request = Request::new().user("What's the weather like in SF?");
    let error = model
        .generate_json_with::<Location>(request.clone(), JsonOptions::new().retries(1))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidOutput, "{}", p.name);
    let invalid = error.invalid_output().unwrap();
    assert_eq!(invalid.raw, "no JSON here", "{}", p.name);
    assert_eq!(invalid.tries, 2, "{}", p.name);
    assert_eq!(invalid.usage, Usage::new(20, 10), "{}", p.name);
    assert_eq!(bodies(&server).await.len(), 2, "{}: one retry", p.name);

    // The default is two retries; a JSON value of the wrong shape is refused too.
    let server = serve_sequence((p.route)(false), vec![(p.text)(r#"{"city": 1}"#)]).await;
    let model = (p.model)(&server.uri());
    let error = model.generate_json::<Location>(request).await.unwrap_err();
    let invalid = error.invalid_output().unwrap();
    assert_eq!(invalid.tries, 3, "{}", p.name);
    assert!(
        invalid.reason.contains("does not fit the expected shape"),
        "{}: {}",
        p.name,
        invalid.reason
    );
    assert_eq!(bodies(&server).await.len(), 3, "{}", p.name);
}

async fn value_form_validates_against_the_schema(p: &Protocol) {
    let schema = json!({
        "type": "object",
        "properties": {"age": {"type": "integer", "minimum": 0}, "available": {"type": "boolean"}},
        "required": ["age", "available"]
    });
    let server = serve_sequence(
        (p.route)(false),
        vec![
            (p.text)(r#"{"age": -3, "available": true}"#),
            (p.text)("```json\n{\"age\": 22, \"available\": false}\n```"),
        ],
    )
    .await;
    let model = (p.model)(&server.uri());
    let answer = model
        .generate_json_value(Request::new().user("Ollama is 22"), schema)
        .await
        .unwrap();
    assert_eq!(
        answer.value,
        json!({"age": 22, "available": false}),
        "{}",
        p.name
    );
    let sent = bodies(&server).await;
    let turns: Vec<(String, String)> = (p.conversation)(&sent[1]).iter().map(p.turn).collect();
    assert!(
        turns[2]
            .1
            .contains("the JSON does not match the schema: at /age: expected at least 0, got -3"),
        "{}: {turns:?}",
        p.name
    );
}

async fn tool_round_trip(p: &Protocol, stream: bool) -> Vec<Value> {
    let (calls, text) = if stream {
        (p.calls_stream, p.text_stream)
    } else {
        (p.calls, p.text)
    };
    let server = serve_sequence(
        (p.route)(stream),
        vec![
            calls(&[("call_1", "get_weather", json!({"city": "Paris"}))]),
            text("Sunny, 21 °C in Paris."),
        ],
    )
    .await;
    let model = (p.model)(&server.uri());
    let steps = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = steps.clone();
    let out = ToolLoop::new(weather_toolbox())
        .stream(stream)
        .observer(move |step| seen.lock().unwrap().push((step.step, step.results.len())))
        .run(&model, Request::new().user("Weather in Paris?"))
        .await
        .unwrap_or_else(|e| panic!("{} (stream {stream}): {e:?}", p.name));
    assert_eq!(out.response.text(), "Sunny, 21 °C in Paris.", "{}", p.name);
    assert_eq!(out.steps, 2, "{}", p.name);
    assert_eq!(out.usage, Usage::new(20, 10), "{}", p.name);
    assert_eq!(*steps.lock().unwrap(), vec![(1, 1), (2, 0)], "{}", p.name);
    assert_eq!(out.transcript.len(), 4, "{}", p.name);
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 2, "{}", p.name);
    sent
}

async fn parallel_calls_run_concurrently_in_call_order(p: &Protocol) {
    let server = serve_sequence(
        (p.route)(false),
        vec![
            (p.calls)(&[
                ("call_1", "get_weather", json!({"city": "Paris"})),
                ("call_2", "get_weather", json!({"city": "Rome"})),
            ]),
            (p.text)("Both sunny."),
        ],
    )
    .await;
    // Each handler waits for the other at a barrier: run one after the other,
    // they would never finish.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let tools = Toolbox::new().function("get_weather", "The forecast", move |args: WeatherArgs| {
        let barrier = barrier.clone();
        async move {
            barrier.wait().await;
            Ok::<_, String>(json!({"city": args.city, "forecast": "sunny", "celsius": 21}))
        }
    });
    let model = (p.model)(&server.uri());
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        ToolLoop::new(tools).run(&model, Request::new().user("Paris and Rome?")),
    )
    .await
    .unwrap_or_else(|_| panic!("{}: the calls did not run concurrently", p.name))
    .unwrap();
    assert_eq!(out.response.text(), "Both sunny.", "{}", p.name);
    let results: Vec<String> = out.transcript[2]
        .parts
        .iter()
        .map(|part| match part {
            majordomo::Part::ToolResult(r) => r.content.clone(),
            other => panic!("{}: {other:?}", p.name),
        })
        .collect();
    assert_eq!(
        results,
        vec![forecast("Paris"), forecast("Rome")],
        "{}",
        p.name
    );
    let sent = bodies(&server).await;
    let text = sent[1].to_string();
    let paris = text
        .find("Paris\\\",\\\"forecast")
        .or_else(|| text.find(r#""city":"Paris","forecast""#));
    let rome = text
        .find("Rome\\\",\\\"forecast")
        .or_else(|| text.find(r#""city":"Rome","forecast""#));
    assert!(
        paris.is_some() && rome.is_some(),
        "{}: both results are sent: {text}",
        p.name
    );
    assert!(paris < rome, "{}: results in call order", p.name);
}

async fn a_panicking_tool_becomes_an_error_result(p: &Protocol) {
    let server = serve_sequence(
        (p.route)(false),
        vec![
            (p.calls)(&[("call_1", "explode", json!({}))]),
            (p.text)("The tool failed."),
        ],
    )
    .await;
    let tools = Toolbox::new().raw(
        majordomo::Tool::new("explode", "Always panics", json!({"type": "object"})),
        |_| async move {
            if true {
                panic!("boom");
            }
            Ok(String::new())
        },
    );
    let model = (p.model)(&server.uri());
    let out = ToolLoop::new(tools)
        .run(&model, Request::new().user("Try it"))
        .await
        .unwrap();
    assert_eq!(out.response.text(), "The tool failed.", "{}", p.name);
    let majordomo::Part::ToolResult(result) = &out.transcript[2].parts[0] else {
        panic!("{}: {:?}", p.name, out.transcript[2]);
    };
    assert!(result.is_error, "{}", p.name);
    assert!(
        result.content.contains("panicked: boom"),
        "{}: {}",
        p.name,
        result.content
    );
    let sent = bodies(&server).await;
    assert!(
        sent[1].to_string().contains("panicked: boom"),
        "{}: the error is sent back",
        p.name
    );
}

async fn the_step_limit_carries_the_transcript(p: &Protocol) {
    let server = serve_sequence(
        (p.route)(false),
        vec![(p.calls)(&[(
            "call_1",
            "get_weather",
            json!({"city": "Paris"}),
        )])],
    )
    .await;
    let model = (p.model)(&server.uri());
    let error = ToolLoop::new(weather_toolbox())
        .max_steps(2)
        .run(&model, Request::new().user("Weather in Paris?"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::StepLimit, "{}", p.name);
    let limit = error.step_limit().unwrap();
    assert_eq!(limit.steps, 2, "{}", p.name);
    // user, then (assistant calls, tool results) twice.
    assert_eq!(limit.transcript.len(), 5, "{}", p.name);
    assert_eq!(limit.usage, Usage::new(20, 10), "{}", p.name);
    assert_eq!(bodies(&server).await.len(), 2, "{}", p.name);
}

macro_rules! protocol_tests {
    ($module:ident, $protocol:expr, $round_trip:path) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn bad_then_good_is_retried_once_with_the_error() {
                super::bad_then_good_is_retried_once_with_the_error(&$protocol).await;
            }

            #[tokio::test]
            async fn retries_are_bounded() {
                super::retries_are_bounded(&$protocol).await;
            }

            #[tokio::test]
            async fn value_form_validates_against_the_schema() {
                super::value_form_validates_against_the_schema(&$protocol).await;
            }

            #[tokio::test]
            async fn tool_round_trip_plain() {
                let sent = super::tool_round_trip(&$protocol, false).await;
                $round_trip(&sent[1]);
            }

            #[tokio::test]
            async fn tool_round_trip_streamed() {
                let sent = super::tool_round_trip(&$protocol, true).await;
                $round_trip(&sent[1]);
            }

            #[tokio::test]
            async fn parallel_calls_run_concurrently_in_call_order() {
                super::parallel_calls_run_concurrently_in_call_order(&$protocol).await;
            }

            #[tokio::test]
            async fn a_panicking_tool_becomes_an_error_result() {
                super::a_panicking_tool_becomes_an_error_result(&$protocol).await;
            }

            #[tokio::test]
            async fn the_step_limit_carries_the_transcript() {
                super::the_step_limit_carries_the_transcript(&$protocol).await;
            }
        }
    };
}

protocol_tests!(openai, OPENAI, openai_round_trip);
protocol_tests!(anthropic, ANTHROPIC, anthropic_round_trip);
protocol_tests!(gemini, GEMINI, gemini_round_trip);
protocol_tests!(ollama, OLLAMA, ollama_round_trip);

// ----- what each protocol is sent after a tool call -----

/// The weather tool's arguments schema, as every protocol is sent it.
fn weather_parameters() -> Value {
    json!({
        "type": "object",
        "properties": {"city": {"description": "The city to forecast.", "type": "string"}},
        "required": ["city"],
        "additionalProperties": false
    })
}

const PARIS: &str = r#"{"celsius":21,"city":"Paris","forecast":"sunny"}"#;

/// Chat Completions: the assistant's `tool_calls` (arguments as a JSON
/// string, `content: null`), then one `tool` message per result.
fn openai_round_trip(body: &Value) {
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": r#"{"city":"Paris"}"#}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": PARIS}
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {
            "name": "get_weather", "description": "The forecast for a city",
            "parameters": weather_parameters()}}])
    );
    assert_eq!(body["tool_choice"], "auto");
}

/// Messages: a `tool_use` block in the assistant turn, a `tool_result` block
/// with its `tool_use_id` in the next user turn.
fn anthropic_round_trip(body: &Value) {
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": PARIS}
            ]}
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"name": "get_weather", "description": "The forecast for a city",
                "input_schema": weather_parameters()}])
    );
}

/// generateContent: `functionCall` in the model turn, `functionResponse`
/// (named after the tool, `response` an object) in the next user turn.
fn gemini_round_trip(body: &Value) {
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather",
                "response": {"celsius": 21, "city": "Paris", "forecast": "sunny"}}}]}
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"functionDeclarations": [{"name": "get_weather",
            "description": "The forecast for a city",
            "parametersJsonSchema": weather_parameters()}]}])
    );
}

/// /api/chat: the assistant's `tool_calls` (arguments as an object, the id the
/// provider generated), then a `tool` message with `tool_name`.
fn ollama_round_trip(body: &Value) {
    let id = body["messages"][1]["tool_calls"][0]["id"].clone();
    assert!(id.as_str().is_some_and(|id| !id.is_empty()), "{body}");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": id, "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
            ]},
            {"role": "tool", "tool_name": "get_weather", "tool_call_id": id, "content": PARIS}
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {
            "name": "get_weather", "description": "The forecast for a city",
            "parameters": weather_parameters()}}])
    );
}

// ----- native schema bodies -----

/// The only body `server` received.
async fn only(server: &MockServer) -> Value {
    let mut all = bodies(server).await;
    assert_eq!(all.len(), 1, "exactly one request expected");
    all.remove(0)
}

#[tokio::test]
async fn openai_native_schema_body_is_the_sdk_body() {
    let mut expected = fixture_json("openai/chat_request_json_schema_stream.json");
    let schema = expected["response_format"]["json_schema"]["schema"].clone();
    let server = serve_sequence(
        (OPENAI.route)(false),
        vec![fixture_answer("openai/chat_response_json_schema.json")],
    )
    .await;
    // The schema's `title` names it: no option needed.
    let answer = (OPENAI.model)(&server.uri())
        .generate_json_value(
            Request::new().user("What's the weather like in SF?"),
            schema,
        )
        .await
        .unwrap();
    assert_eq!(
        answer.value,
        json!({"city": "San Francisco", "temperature": 65, "units": "f"})
    );
    expected.as_object_mut().unwrap().remove("stream");
    assert_eq!(only(&server).await, expected);
}

#[tokio::test]
async fn anthropic_native_schema_body_is_the_recorded_body() {
    let expected = fixture_json("anthropic/messages_request_structured_output.json");
    let schema = expected["output_config"]["format"]["schema"].clone();
    let server = serve_sequence(
        (ANTHROPIC.route)(false),
        vec![fixture_answer(
            "anthropic/messages_response_structured_output.json",
        )],
    )
    .await;
    let answer = (ANTHROPIC.model)(&server.uri())
        .generate_json_value(
            Request::new()
                .user("Extract order: 2 Green Tea at $5.50 and 1 Coffee at $3.00. Total $14.")
                .max_tokens(1024),
            schema,
        )
        .await
        .unwrap();
    assert_eq!(answer.value["total"], json!(14.0));
    assert_eq!(answer.response.usage.input_tokens, Some(406));
    assert_eq!(only(&server).await, expected);
}

#[tokio::test]
async fn ollama_native_schema_body_is_the_documented_body() {
    let expected = fixture_json("ollama/chat_request_format_json_schema.json");
    let schema = expected["format"].clone();
    let server = serve_sequence(
        (OLLAMA.route)(false),
        vec![fixture_answer(
            "ollama/chat_response_format_json_schema.json",
        )],
    )
    .await;
    let answer = (OLLAMA.model)(&server.uri())
        .generate_json_value(
            Request::new()
                .user(expected["messages"][0]["content"].as_str().unwrap())
                .temperature(0.0),
            schema,
        )
        .await
        .unwrap();
    assert_eq!(answer.value, json!({"age": 22, "available": false}));
    let mut expected = expected;
    // The same number: we send the f32 `0.0`, the docs write `0`.
    expected["options"]["temperature"] = json!(0.0);
    assert_eq!(only(&server).await, expected);
}

#[tokio::test]
async fn gemini_native_schema_body_is_the_documented_shape() {
    let expected = fixture_json("gemini/generate_request_json_schema.json");
    let schema = expected["generationConfig"]["responseJsonSchema"].clone();
    let server = serve_sequence(
        (GEMINI.route)(false),
        vec![fixture_answer("gemini/generate_response_json_schema.json")],
    )
    .await;
    let answer = (GEMINI.model)(&server.uri())
        .generate_json_value(
            Request::new().user("List a few popular cookie recipes using this JSON schema."),
            schema,
        )
        .await
        .unwrap();
    assert_eq!(
        answer.value[0],
        json!({"recipe_name": "Chocolate Chip Cookies"})
    );
    assert_eq!(only(&server).await, expected);
}

/// `generate_json::<Location>()`: the schema derived from the type, in each
/// protocol's native place (golden bodies `*/structured_request_location.json`).
#[tokio::test]
async fn typed_schema_bodies_are_golden() {
    for (p, fixture) in [
        (&OPENAI, "openai/structured_request_location.json"),
        (&ANTHROPIC, "anthropic/structured_request_location.json"),
        (&GEMINI, "gemini/structured_request_location.json"),
        (&OLLAMA, "ollama/structured_request_location.json"),
    ] {
        let server = serve_sequence((p.route)(false), vec![(p.text)(GOOD)]).await;
        let answer = (p.model)(&server.uri())
            .generate_json::<Location>(Request::new().user("What's the weather like in SF?"))
            .await
            .unwrap();
        assert_eq!(answer.value.units, Units::F, "{}", p.name);
        let body = only(&server).await;
        assert_eq!(body, fixture_json(fixture), "{}", p.name);
    }
}

/// `SchemaMode::Instructions` (what `Auto` picks for a model declaring
/// `json_schema(false)`): each protocol's JSON mode, and the schema in the
/// system prompt.
#[tokio::test]
async fn instructions_fallback_bodies() {
    let schema =
        json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
    for p in [&OPENAI, &ANTHROPIC, &GEMINI, &OLLAMA] {
        let server = serve_sequence((p.route)(false), vec![(p.text)(r#"{"n": 3}"#)]).await;
        let answer = (p.model)(&server.uri())
            .generate_json_value_with(
                Request::new().system("You count.").user("How many?"),
                schema.clone(),
                JsonOptions::new().mode(SchemaMode::Instructions),
            )
            .await
            .unwrap();
        assert_eq!(answer.value, json!({"n": 3}), "{}", p.name);
        let body = only(&server).await;
        let system = match p.name {
            "openai" => {
                assert_eq!(body["response_format"], json!({"type": "json_object"}));
                body["messages"][0]["content"].as_str().unwrap().to_owned()
            }
            "anthropic" => {
                assert!(body.get("output_config").is_none(), "{body}");
                body["system"].as_str().unwrap().to_owned()
            }
            "gemini" => {
                assert_eq!(
                    body["generationConfig"],
                    json!({"responseMimeType": "application/json"})
                );
                body["systemInstruction"]["parts"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
            _ => {
                assert_eq!(body["format"], "json");
                assert_eq!(body["messages"][0]["role"], "system");
                body["messages"][0]["content"].as_str().unwrap().to_owned()
            }
        };
        assert!(
            system.starts_with("You count.\n\nRespond with a single JSON value"),
            "{}: {system}",
            p.name
        );
        assert!(system.contains(&schema.to_string()), "{}: {system}", p.name);
    }
}
