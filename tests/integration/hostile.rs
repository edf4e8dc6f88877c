//! Hostile servers and bad input (issue 12): loopback servers that misbehave
//! on purpose, driven through the public API of all four protocols. Nothing a
//! server sends may panic the caller, leak the credential, hang a stream or
//! grow memory without bound.
#![cfg(all(
    feature = "openai",
    feature = "anthropic",
    feature = "ollama",
    feature = "gemini"
))]

use std::net::SocketAddr;
use std::time::Duration;

use majordomo::health::HealthConfig;
use majordomo::providers::http::MAX_SERVER_RETRY_AFTER;
use majordomo::{ErrorClass, Model, Registry, Request, Target};

use crate::support::call::{generate_error, generated, open_error, streamed};
use crate::support::http::{PacedServer, Step, assert_no_credential};
use crate::support::registry::registry_with_env;

/// The credential every DSN here carries; it must never show up in an error.
pub const KEY: &str = "sk-hostile-0123456789abcdef";

/// The provider names the registries here define, one per protocol.
pub const PROTOCOLS: [&str; 4] = ["o", "a", "l", "g"];

/// A registry with one provider per protocol (`o` OpenAI, `a` Anthropic,
/// `l` Ollama, `g` Gemini), all at `addr`, each DSN ending in `options`.
pub fn registry_with(addr: SocketAddr, options: &str, health: HealthConfig) -> Registry {
    Registry::builder()
        .env_vars(PROTOCOLS.map(|p| (format!("LLM_{}", p.to_uppercase()), dsn(p, addr, options))))
        .health_config(health)
        .build()
}

/// [`registry_with`] and the default health settings.
pub fn registry_at(addr: SocketAddr, options: &str) -> Registry {
    registry_with(addr, options, HealthConfig::default())
}

/// The content type protocol `p` streams with.
pub fn stream_type(p: &str) -> &'static str {
    if p == "l" {
        "application/x-ndjson"
    } else {
        "text/event-stream"
    }
}

fn hi() -> Request {
    Request::new().user("hi")
}

/// Streams `hi()` from `model`, which must open, and folds the stream.
pub async fn stream_reply(model: &(impl Model + ?Sized)) -> majordomo::Response {
    streamed(model, hi()).await
}

/// A fake outcome streaming `text`, then a clean finish.
pub fn fake_answer(text: &str) -> majordomo::providers::fake::Outcome {
    use majordomo::{FinishReason, StreamEvent};
    majordomo::providers::fake::Outcome::stream([
        StreamEvent::text(text),
        StreamEvent::finish(FinishReason::Stop),
    ])
}

fn raw(text: String) -> Step {
    Step::Write(text.into_bytes())
}

/// One answer: `status`, extra header lines, a JSON body, connection closed.
fn answer_with(status: u16, headers: &str, body: &str) -> Vec<Step> {
    vec![raw(format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{headers}connection: close\r\n\r\n{body}"
    ))]
}

// ===== 1, 6: server-supplied numbers; durations meeting clocks =====

#[tokio::test]
async fn huge_retry_after_values_are_clamped_and_the_target_benched() {
    let cases = [
        (
            "retry-after: 1e30\r\n",
            r#"{"error":{"message":"slow down"}}"#,
        ),
        (
            "retry-after: 99999999999999999999999\r\n",
            r#"{"error":{"message":"slow down"}}"#,
        ),
        (
            "retry-after-ms: 1e300\r\n",
            r#"{"error":{"message":"slow down"}}"#,
        ),
        (
            "",
            r#"{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1e30s"}]}}"#,
        ),
    ];
    for (header, body) in cases {
        let server = PacedServer::start(answer_with(429, header, body)).await;
        let registry = registry_at(server.addr, "");
        for p in PROTOCOLS {
            let target: Target = format!("{p}/m").parse().unwrap();
            let chain = registry.parse(target.as_str()).unwrap();
            let err = generate_error(&chain, hi()).await;
            assert_eq!(err.class(), ErrorClass::Transient, "{p} {header}: {err:?}");
            let after = err.retry_after().expect("the hint is kept");
            assert!(after <= MAX_SERVER_RETRY_AFTER, "{p} {header}: {after:?}");
            assert!(registry.health().is_benched(&target).await, "{p} {header}");
            // Benched no longer than the tracker's cap (default: one hour).
            let until = registry.health().admitted_at(&target).await.unwrap();
            let cap = registry.health().config().max_retry_after;
            assert!(until <= registry.health().now() + cap, "{p} {header}");
            // Direct calls and streams too.
            let model = registry.provider(p).unwrap().model("m").unwrap();
            let err = generate_error(&model, hi()).await;
            assert!(err.retry_after().is_some(), "{p} {header}");
            let err = open_error(&model, hi()).await;
            assert!(err.retry_after().is_some(), "{p} {header}");
        }
    }
}

/// An error event inside a 200 stream, for protocol `p`, whose body carries
/// Gemini's `RetryInfo` with an absurd delay.
fn in_stream_error(p: &str) -> String {
    let details =
        r#""details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1e30s"}]"#;
    match p {
        "o" => format!(
            "data: {{\"error\":{{\"message\":\"busy\",\"type\":\"server_error\",{details}}}}}\n\n"
        ),
        "a" => format!(
            "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"busy\",{details}}}}}\n\n"
        ),
        "l" => format!("{{\"error\":{{\"message\":\"busy\",{details}}}}}\n"),
        _ => format!(
            "data: {{\"error\":{{\"code\":503,\"message\":\"busy\",\"status\":\"UNAVAILABLE\",{details}}}}}\n\n"
        ),
    }
}

#[tokio::test]
async fn a_huge_retry_delay_inside_a_stream_is_clamped() {
    for p in PROTOCOLS {
        let server = PacedServer::start(vec![raw(format!(
            "HTTP/1.1 200 OK\r\ncontent-type: {}\r\nconnection: close\r\n\r\n{}",
            stream_type(p),
            in_stream_error(p)
        ))])
        .await;
        let registry = registry_at(server.addr, "");
        let target: Target = format!("{p}/m").parse().unwrap();
        let chain = registry.parse(target.as_str()).unwrap();
        let err = match chain.stream(hi()).await {
            Ok(stream) => stream.into_response().await.unwrap_err(),
            Err(err) => err,
        };
        assert_eq!(err.class(), ErrorClass::Transient, "{p}: {err:?}");
        let after = err.retry_after().expect("the in-stream hint is kept");
        assert!(after <= MAX_SERVER_RETRY_AFTER, "{p}: {after:?}");
        assert!(registry.health().is_benched(&target).await, "{p}");
        assert_no_credential(&err, &[KEY]);
    }
}

#[tokio::test]
async fn no_cap_settings_bench_without_overflow() {
    let server = PacedServer::start(answer_with(
        503,
        "retry-after: 1e30\r\n",
        r#"{"error":{"message":"down"}}"#,
    ))
    .await;
    let health = HealthConfig::default()
        .failure_threshold(1)
        .base_cooldown(Duration::MAX)
        .max_cooldown(Duration::MAX)
        .max_retry_after(Duration::MAX);
    let registry = registry_with(server.addr, "", health);
    for p in PROTOCOLS {
        let target: Target = format!("{p}/m").parse().unwrap();
        let err = generate_error(&registry.parse(target.as_str()).unwrap(), hi()).await;
        assert_eq!(err.class(), ErrorClass::Transient, "{p}: {err:?}");
        let until = registry.health().admitted_at(&target).await;
        assert!(until.is_some_and(|t| t > registry.health().now()), "{p}");
        // A second failure while benched extends, never overflows.
        registry
            .health()
            .record_failure(&target, Some(Duration::MAX))
            .await;
        assert!(registry.health().is_benched(&target).await);
    }
}

#[tokio::test(start_paused = true)]
async fn no_cap_deadlines_never_overflow_the_timer() {
    use majordomo::providers::fake::{FakeProvider, Outcome};
    use majordomo::{Deadlines, Provider, StreamEvent, TimeoutProvider};
    let fake = FakeProvider::new("fake");
    fake.set_default(
        "m",
        Outcome::stream([StreamEvent::text("a"), StreamEvent::text("b")]),
    );
    let deadlines = Deadlines::new()
        .generate(Duration::MAX)
        .first_event(Duration::MAX)
        .idle(Duration::MAX);
    let model = TimeoutProvider::new(std::sync::Arc::new(fake), deadlines)
        .model("m")
        .unwrap();
    let reply = stream_reply(&model).await;
    assert_eq!(reply.text(), "ab");
    assert_eq!(generated(&model, hi()).await.text(), "ab");
}

// ===== 3: decode errors quote nothing from the body =====

/// A 200 answer body for protocol `p` (whole, then streamed) whose
/// wrong-typed field holds `value`.
fn wrong_typed(p: &str, value: &str) -> (String, String) {
    match p {
        "o" => (
            format!(r#"{{"id":"x","object":"chat.completion","choices":"{value}"}}"#),
            format!("data: {{\"id\":\"x\",\"choices\":\"{value}\"}}\n\n"),
        ),
        "a" => (
            format!(
                r#"{{"type":"message","role":"assistant","content":[],"usage":{{"input_tokens":"{value}"}}}}"#
            ),
            format!(
                "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"usage\":{{\"input_tokens\":\"{value}\"}}}}}}\n\n"
            ),
        ),
        "l" => {
            let line = format!(
                r#"{{"model":"m","message":{{"role":"assistant","content":"hi"}},"done":true,"eval_count":"{value}"}}"#
            );
            (line.clone(), format!("{line}\n"))
        }
        _ => (
            format!(r#"{{"candidates":"{value}"}}"#),
            format!("data: {{\"candidates\":\"{value}\"}}\n\n"),
        ),
    }
}

#[tokio::test]
async fn decode_errors_never_quote_the_key_or_any_body_value() {
    for value in [KEY, "private-value-42"] {
        for p in PROTOCOLS {
            let (whole, streamed) = wrong_typed(p, value);
            let server = PacedServer::start(answer_with(200, "", &whole)).await;
            let registry = registry_at(server.addr, "");
            let chain = registry.parse(&format!("{p}/m")).unwrap();
            let err = generate_error(&chain, hi()).await;
            assert_no_credential(&err, &[KEY, "private-value"]);
            assert!(format!("{err}").contains("invalid type"), "{p}: {err}");

            let server = PacedServer::start(vec![raw(format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {}\r\nconnection: close\r\n\r\n{streamed}",
                stream_type(p)
            ))])
            .await;
            let registry = registry_at(server.addr, "");
            let chain = registry.parse(&format!("{p}/m")).unwrap();
            let err = match chain.stream(hi()).await {
                Ok(stream) => stream.into_response().await.unwrap_err(),
                Err(err) => err,
            };
            assert_no_credential(&err, &[KEY, "private-value"]);
            assert!(format!("{err}").contains("invalid type"), "{p}: {err}");
        }
    }
}

// ===== 10: overflow and filter wording behind a proxy =====

const PROXY_REQUEST_SPECIFIC: [&str; 4] = [
    r#"{"error":{"message":"litellm.ContextWindowExceededError: litellm.BadRequestError: upstream rejected the prompt","type":"invalid_request_error","param":null,"code":"400"}}"#,
    r#"{"error":{"message":"litellm.BadRequestError: OpenAIException - the request exceeds the available context size, try increasing it","type":"invalid_request_error","param":null,"code":"400"}}"#,
    r#"{"error":{"message":"litellm.ContentPolicyViolationError: litellm.BadRequestError: AzureException - refused","type":"invalid_request_error","param":null,"code":"400"}}"#,
    r#"{"error":{"message":"The prompt triggered Azure OpenAI's content management policy.","type":"invalid_request_error","param":null,"code":"400"}}"#,
];

#[tokio::test]
async fn proxy_overflow_and_filter_errors_advance_the_chain() {
    for body in PROXY_REQUEST_SPECIFIC {
        let server = PacedServer::start(answer_with(400, "", body)).await;
        let registry = registry_at(server.addr, "");
        for p in PROTOCOLS {
            let chain = registry.parse(&format!("{p}/big,{p}/bigger")).unwrap();
            let err = generate_error(&chain, hi()).await;
            assert_eq!(
                err.class(),
                ErrorClass::RequestSpecific,
                "{p} {body}: {err}"
            );
            let tried: Vec<_> = err.attempts().iter().map(|a| a.target.as_str()).collect();
            assert_eq!(
                tried,
                [format!("{p}/big"), format!("{p}/bigger")],
                "{p}: advanced"
            );
            let big: Target = format!("{p}/big").parse().unwrap();
            assert!(!registry.health().is_benched(&big).await);
        }
        // The same error inside an OpenAI-compatible stream.
        let server = PacedServer::start(vec![raw(format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata: {body}\n\n"
        ))])
        .await;
        let registry = registry_at(server.addr, "");
        let err = open_error(&registry.parse("o/big,o/bigger").unwrap(), hi()).await;
        assert_eq!(err.class(), ErrorClass::RequestSpecific, "{body}: {err}");
        assert_eq!(err.attempts().len(), 2, "{err}");
    }
}

// ===== 5: finished streams stay finished =====

/// A complete, valid stream body for protocol `p` whose answer is "hi".
pub fn good_stream(p: &str) -> &'static str {
    match p {
        "o" => concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n"
        ),
        "a" => concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\",\"usage\":{\"input_tokens\":1}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            ": keep-alive\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        ),
        "l" => concat!(
            "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},\"done\":false}\n",
            "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\"}\n"
        ),
        _ => {
            "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"hi\"}]},\"finishReason\":\"STOP\"}]}\n\n"
        }
    }
}

/// A 200 streamed answer of `body` for protocol `p`, then the connection closes.
pub fn paced_stream(p: &str, body: &str) -> Vec<Step> {
    vec![raw(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {}\r\nconnection: close\r\n\r\n{body}",
        stream_type(p)
    ))]
}

/// Reads `stream` to its end, then polls it again a few times.
async fn drain_and_poll_again(mut stream: majordomo::EventStream) -> (String, bool) {
    use futures::StreamExt as _;
    let mut text = String::new();
    let mut failed = false;
    while let Some(item) = stream.next().await {
        match item {
            Ok(majordomo::StreamEvent::TextDelta { text: t }) => text.push_str(&t),
            Ok(_) => {}
            Err(_) => failed = true,
        }
    }
    for _ in 0..3 {
        assert!(
            stream.next().await.is_none(),
            "a finished stream stays finished"
        );
    }
    assert!(futures::stream::FusedStream::is_terminated(&stream));
    (text, failed)
}

#[tokio::test]
async fn finished_streams_yield_none_forever() {
    for p in PROTOCOLS {
        for (body, ok) in [(good_stream(p), true), (&good_stream(p)[..20], false)] {
            let server = PacedServer::start(paced_stream(p, body)).await;
            let registry = registry_at(server.addr, "");
            let direct = registry.provider(p).unwrap().model("m").unwrap();
            let chain: std::sync::Arc<dyn Model> =
                std::sync::Arc::new(registry.parse(&format!("{p}/m")).unwrap());
            for model in [direct, chain] {
                match model.stream(hi()).await {
                    Ok(stream) => {
                        let (text, failed) = drain_and_poll_again(stream).await;
                        assert_eq!(failed, !ok, "{p} {body:?}");
                        if ok {
                            assert_eq!(text, "hi", "{p}");
                        }
                    }
                    Err(err) => assert!(!ok, "{p}: {err}"),
                }
            }
        }
    }
}

#[tokio::test]
async fn a_finished_fake_chain_stream_stays_finished() {
    use majordomo::providers::fake::FakeProvider;
    let fake = FakeProvider::new("fake");
    fake.set_default("m", fake_answer("hi"));
    let registry = Registry::builder().without_env().build();
    registry.register_provider(fake);
    let chain = registry.parse("fake/m").unwrap();
    let (text, failed) = drain_and_poll_again(chain.stream(hi()).await.unwrap()).await;
    assert_eq!((text.as_str(), failed), ("hi", false));
}

// ===== 2: one event cannot grow without bound =====

/// A 200 stream head for `p`, then `pieces` × `piece`, then the connection closes.
fn endless(p: &str, start: &str, piece: &str, pieces: usize) -> Vec<Step> {
    let mut steps = vec![raw(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {}\r\nconnection: close\r\n\r\n{start}",
        stream_type(p)
    ))];
    steps.extend(std::iter::repeat_n(
        Step::Write(piece.as_bytes().to_vec()),
        pieces,
    ));
    steps
}

#[tokio::test]
async fn an_endless_event_or_line_ends_the_stream_with_a_typed_error() {
    let chunk = "x".repeat(64 * 1024);
    // 12 MiB in one unfinished line; for SSE also as one event of many data lines.
    let data_lines = format!("data: {}\n", "y".repeat(64 * 1024 - 7));
    for p in PROTOCOLS {
        let mut shapes = vec![endless(
            p,
            if p == "l" { "{" } else { "data: " },
            &chunk,
            192,
        )];
        if p != "l" {
            shapes.push(endless(p, "", &data_lines, 192));
        }
        for script in shapes {
            let server = PacedServer::start(script).await;
            let registry = registry_at(server.addr, "");
            let model = registry.provider(p).unwrap().model("m").unwrap();
            let err = match model.stream(hi()).await {
                Ok(stream) => stream.into_response().await.unwrap_err(),
                Err(err) => err,
            };
            assert_eq!(err.kind(), majordomo::ErrorKind::Decode, "{p}: {err:?}");
            assert_eq!(err.code(), Some("stream_event_too_large"), "{p}: {err}");
            assert!(
                err.to_string().contains(&(8 * 1024 * 1024).to_string()),
                "{err}"
            );
        }
    }
}

#[tokio::test]
async fn the_event_size_cap_is_configurable_in_the_http_settings() {
    use majordomo::Provider as _;
    use majordomo::providers::http::HttpSettings;
    use majordomo::providers::openai::{OpenAiConfig, OpenAiProvider};
    let small = format!(
        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n",
        "s".repeat(400)
    );
    let big = format!(
        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n",
        "b".repeat(4000)
    );
    for (body, fits) in [
        (format!("{small}{}", good_stream("o")), true),
        (format!("{big}{}", good_stream("o")), false),
    ] {
        let server = PacedServer::start(paced_stream("o", &body)).await;
        let settings = HttpSettings::new(format!("{}/v1", server.url()))
            .api_key(KEY)
            .max_event_size(1024);
        let model = OpenAiProvider::new(OpenAiConfig::from_settings(settings))
            .unwrap()
            .model("m")
            .unwrap();
        let folded = match model.stream(hi()).await {
            Ok(stream) => stream.into_response().await,
            Err(err) => Err(err),
        };
        match folded {
            Ok(reply) => assert!(fits && reply.text().ends_with("hi"), "{}", reply.text()),
            Err(err) => {
                assert!(!fits, "{err}");
                assert_eq!(err.code(), Some("stream_event_too_large"), "{err}");
            }
        }
    }
}

// ===== 4: DSN deadlines bound a stream's first event and its gaps =====

/// What protocol `p` sends to keep a connection alive without an event: an
/// SSE comment, an Anthropic `ping` event, or a blank NDJSON line.
fn keep_alive(p: &str) -> &'static str {
    match p {
        "a" => "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        "l" => "\n",
        _ => ": keep-alive\n\n",
    }
}

/// The first event of `good_stream(p)` (for Anthropic, up to the first text).
fn first_event(p: &str) -> &'static str {
    let body = good_stream(p);
    let end = match p {
        "l" => body.find('\n').unwrap() + 1,
        "a" => body.find("event: content_block_delta").unwrap(),
        _ => body.find("\n\n").unwrap() + 2,
    };
    &body[..end]
}

/// A 200 stream head, `start`, then a keep-alive every second for an hour.
fn keep_alive_forever(p: &str, start: &str) -> Vec<Step> {
    let mut steps = paced_stream(p, start);
    for _ in 0..3600 {
        steps.push(Step::Pause(Duration::from_secs(1)));
        steps.push(Step::Write(keep_alive(p).as_bytes().to_vec()));
    }
    steps
}

async fn stream_error(model: &dyn Model) -> majordomo::Error {
    match model.stream(hi()).await {
        Ok(stream) => stream.into_response().await.unwrap_err(),
        Err(err) => err,
    }
}

#[tokio::test(start_paused = true)]
async fn keep_alives_do_not_hold_a_registry_stream_open_past_its_timeout() {
    for p in PROTOCOLS {
        let slow = PacedServer::start(keep_alive_forever(p, "")).await;
        let good = PacedServer::start(paced_stream(p, good_stream(p))).await;
        let registry = registry_with_env([
            ("LLM_SLOW", dsn(p, slow.addr, "?timeout=2s")),
            ("LLM_GOOD", dsn(p, good.addr, "")),
        ]);
        let start = tokio::time::Instant::now();
        let model = registry.provider("slow").unwrap().model("m").unwrap();
        let err = stream_error(&*model).await;
        assert_eq!(err.kind(), majordomo::ErrorKind::Timeout, "{p}: {err:?}");
        assert_eq!(err.class(), ErrorClass::Transient, "{p}");
        assert!(err.to_string().contains("first-event"), "{p}: {err}");
        assert_eq!(start.elapsed(), Duration::from_secs(2), "{p}");

        // A chain fails over before the first event.
        let chain = registry.parse("slow/m,good/m").unwrap();
        let reply = stream_reply(&chain).await;
        assert_eq!(reply.text(), "hi", "{p}");
        assert_eq!(reply.provider, "good", "{p}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_goes_quiet_after_its_first_event_is_cut_by_idle_timeout() {
    for p in PROTOCOLS {
        let server = PacedServer::start(keep_alive_forever(p, first_event(p))).await;
        let registry =
            registry_with_env([("LLM_X", dsn(p, server.addr, "?timeout=2s&idle_timeout=5s"))]);
        let model = registry.provider("x").unwrap().model("m").unwrap();
        let start = tokio::time::Instant::now();
        let mut stream = model.stream(hi()).await.unwrap();
        let mut events = 0;
        let err = loop {
            match futures::StreamExt::next(&mut stream).await {
                Some(Ok(_)) => events += 1,
                Some(Err(err)) => break err,
                None => panic!("{p}: the stream ended cleanly"),
            }
        };
        assert!(events >= 1, "{p}");
        assert_eq!(err.kind(), majordomo::ErrorKind::Timeout, "{p}: {err:?}");
        assert!(err.to_string().contains("idle"), "{p}: {err}");
        assert_eq!(start.elapsed(), Duration::from_secs(5), "{p}");
    }
}

/// The DSN of protocol `p` at `addr`, with `options`.
fn dsn(p: &str, addr: SocketAddr, options: &str) -> String {
    match p {
        "o" => format!("openai+http://{KEY}@{addr}/v1{options}"),
        "a" => format!("anthropic+http://{KEY}@{addr}{options}"),
        "l" => format!("ollama+http://{KEY}@{addr}{options}"),
        _ => format!("gemini+http://{KEY}@{addr}{options}"),
    }
}

// ===== 8: a panicking provider is one failed attempt =====

mod panics {
    use std::sync::Arc;

    use crate::support::call::generated;

    use futures::StreamExt as _;
    use majordomo::health::HealthConfig;
    use majordomo::lanes::{LaneLayer, LaneRegistry};
    use majordomo::providers::fake::{FakeProvider, Outcome, StreamStep};
    use majordomo::{ChainConfig, ErrorClass, ErrorKind, Layers, Model, Registry, StreamEvent};

    use super::{fake_answer as answer, hi, stream_reply};
    use crate::support::chain::Rig;

    #[tokio::test]
    async fn a_panic_in_generate_or_stream_fails_over_and_counts_against_health() {
        let rig = Rig::new(HealthConfig::default().failure_threshold(5));
        rig.fake.set_default("bad", Outcome::panic("provider bug"));
        rig.fake.set_default("good", answer("from good"));
        let chain = rig.chain(&["bad", "good"], ChainConfig::default());

        let reply = generated(&chain, hi()).await;
        assert_eq!(reply.text(), "from good");
        let first = reply.attempts[0]
            .error
            .as_ref()
            .expect("the panic is recorded");
        assert!(first.contains("provider bug"), "{first}");
        assert_eq!(
            rig.recorder.steps(),
            ["fake/bad:1:retry", "fake/bad:2:advance"],
            "transient: one retry, then failover"
        );
        let events = rig.recorder.events();
        let error = events[0].error.as_ref().unwrap();
        assert_eq!(error.kind(), ErrorKind::Panicked);
        assert_eq!(error.class(), ErrorClass::Transient);
        assert_eq!(
            rig.health
                .state(&rig.target("bad"))
                .await
                .consecutive_failures,
            2
        );

        rig.recorder.clear();
        let reply = stream_reply(&chain).await;
        assert_eq!(reply.text(), "from good");
        assert_eq!(
            rig.recorder.steps(),
            ["fake/bad:1:retry", "fake/bad:2:advance"]
        );
        assert_eq!(
            rig.health
                .state(&rig.target("bad"))
                .await
                .consecutive_failures,
            4
        );
        // The healthy target was never held responsible.
        assert!(rig.health.state(&rig.target("good")).await.is_clean());
    }

    #[tokio::test]
    async fn a_panic_inside_a_stream_after_its_first_event_ends_it_with_an_error() {
        let rig = Rig::new(HealthConfig::default());
        rig.fake.set_default(
            "m",
            Outcome::stream_steps([
                StreamStep::Event(StreamEvent::text("partial")),
                StreamStep::Panic("poll bug".into()),
            ]),
        );
        let chain = rig.chain(&["m"], ChainConfig::default());
        let mut stream = chain.stream(hi()).await.unwrap();
        assert_eq!(
            stream.next().await.unwrap().unwrap(),
            StreamEvent::text("partial")
        );
        let err = stream.next().await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Panicked, "{err:?}");
        assert!(err.to_string().contains("poll bug"), "{err}");
        assert!(stream.next().await.is_none());
        assert_eq!(
            rig.health
                .state(&rig.target("m"))
                .await
                .consecutive_failures,
            1
        );
    }

    #[tokio::test]
    async fn a_panic_in_a_lane_disturbs_nothing_else() {
        let fake = FakeProvider::new("fake");
        let lanes = LaneRegistry::default(); // cap 1
        fake.push("m", Outcome::panic("first call dies"));
        fake.set_default("m", answer("ok"));
        fake.set_default("other", answer("other ok"));
        let provider = Layers::new()
            .layer(LaneLayer::new(lanes.clone()))
            .wrap(Arc::new(fake.clone()));
        let registry = Registry::builder().without_env().build();
        registry.register_shared_provider(provider);
        let chain = registry.parse("fake/m").unwrap();

        // The panicking call and a call queued behind it in the same lane.
        let (first, second) = tokio::join!(chain.generate(hi()), chain.generate(hi()));
        assert_eq!(first.unwrap().text(), "ok", "the panic was retried");
        assert_eq!(second.unwrap().text(), "ok");
        let stats = lanes.get("fake/m").unwrap().stats();
        assert_eq!((stats.running, stats.queued), (0, 0), "the slot came back");
        let other = registry.parse("fake/other").unwrap();
        assert_eq!(generated(&other, hi()).await.text(), "other ok");
    }
}

// ===== 9: time in a lane queue is not the target's failure =====

#[tokio::test(start_paused = true)]
async fn queue_time_under_an_outer_timeout_never_benches_a_healthy_target() {
    use majordomo::lanes::{LaneLayer, LaneRegistry};
    use majordomo::providers::fake::{FakeProvider, Outcome};
    use majordomo::{Deadlines, ErrorKind, Layers, TimeoutLayer};

    let fake = FakeProvider::new("fake");
    fake.set_default("busy", fake_answer("from busy"));
    fake.set_default("spare", fake_answer("from spare"));
    let lanes = LaneRegistry::default(); // one slot per model
    // chain → timeout → lane → fake: the deadline covers queueing (ADR 0009).
    let provider = Layers::new()
        .layer(TimeoutLayer::new(
            Deadlines::none()
                .generate(Duration::from_secs(30))
                .first_event(Duration::from_secs(30)),
        ))
        .layer(LaneLayer::new(lanes.clone()))
        .wrap(std::sync::Arc::new(fake.clone()));
    // One failure would bench a target at once.
    let registry = Registry::builder()
        .without_env()
        .health_config(HealthConfig::default().failure_threshold(1))
        .build();
    registry.register_shared_provider(provider);
    let chain = registry.parse("fake/busy,fake/spare").unwrap();
    let busy: Target = "fake/busy".parse().unwrap();

    let held = lanes.lane("fake/busy").acquire(Some("someone-else")).await;
    let start = tokio::time::Instant::now();
    let reply = generated(&chain, hi()).await;
    assert_eq!(reply.text(), "from spare", "the congested lane failed over");
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    let waited = reply.attempts[0].error.as_deref().unwrap();
    assert!(waited.contains("lane slot"), "{waited}");
    let reply = stream_reply(&chain).await;
    assert_eq!(reply.text(), "from spare");
    assert_eq!(fake.calls("busy"), 0, "never reached the target");
    assert!(
        registry.health().state(&busy).await.is_clean(),
        "not benched"
    );

    // A timeout once admitted is the target's, as before.
    drop(held);
    fake.set_default("busy", Outcome::hang());
    let err = generate_error(&registry.parse("fake/busy").unwrap(), hi()).await;
    let last = err.source_as::<majordomo::Error>().unwrap_or(&err);
    assert_eq!(last.kind(), ErrorKind::Timeout);
    assert_eq!(last.class(), ErrorClass::Transient, "{last}");
    assert!(registry.health().is_benched(&busy).await);
}
