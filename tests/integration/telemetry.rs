//! GenAI spans as a host's collector sees them: `tracing` spans bridged by
//! `tracing-opentelemetry` into the OpenTelemetry SDK's in-memory exporter
//! (ADR 0020). Each test routes its thread's spans through the one global
//! test subscriber (`support::chain::install_dispatch`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use majordomo::providers::fake::{FakeProvider, Outcome, StreamStep};
use majordomo::{
    ChainConfig, ErrorClass, Model, Registry, Request, StreamEvent, Usage, UsageOutcome,
    UsageRecord,
};
use opentelemetry::trace::{SpanKind, Status, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt as _;
use wiremock::MockServer;

use crate::conformance::protocols::{ANTHROPIC, GEMINI, OLLAMA, OPENAI};
use crate::conformance::{KEY, Protocol, ok, serve};
use crate::support::chain::{SpanLogGuard, install_dispatch};

/// The OpenTelemetry SDK behind this thread's `tracing` spans.
struct Otel {
    exporter: InMemorySpanExporter,
    _provider: SdkTracerProvider,
    _guard: SpanLogGuard,
}

impl Otel {
    fn install() -> Otel {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("majordomo-test"));
        let subscriber = tracing_subscriber::registry().with(layer);
        let guard = install_dispatch(tracing::Dispatch::new(subscriber));
        Otel {
            exporter,
            _provider: provider,
            _guard: guard,
        }
    }

    /// Every span ended so far.
    fn spans(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().unwrap()
    }
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn text(span: &SpanData, key: &str) -> Option<String> {
    match attr(span, key)? {
        Value::String(s) => Some(s.as_str().to_owned()),
        other => panic!("{key} is not a string: {other:?}"),
    }
}

fn int(span: &SpanData, key: &str) -> Option<i64> {
    match attr(span, key)? {
        Value::I64(n) => Some(*n),
        other => panic!("{key} is not an int: {other:?}"),
    }
}

fn json_attr(span: &SpanData, key: &str) -> Option<serde_json::Value> {
    text(span, key).map(|t| serde_json::from_str(&t).unwrap())
}

/// The one span of `kind`.
fn only(spans: &[SpanData], kind: SpanKind) -> &SpanData {
    let found: Vec<&SpanData> = spans.iter().filter(|s| s.span_kind == kind).collect();
    assert_eq!(found.len(), 1, "one {kind:?} span expected: {spans:#?}");
    found[0]
}

/// No attribute of any span, and no record, shows the key.
fn assert_no_key(spans: &[SpanData], records: &[UsageRecord]) {
    for span in spans {
        for KeyValue { key, value, .. } in &span.attributes {
            assert!(
                !value.to_string().contains(KEY),
                "{} has the key in {key}",
                span.name
            );
        }
        assert!(!format!("{:?}", span.status).contains(KEY));
    }
    for record in records {
        assert!(!serde_json::to_string(record).unwrap().contains(KEY));
    }
}

/// A loopback server giving `protocol`'s recorded plain answer.
async fn serve_plain(protocol: &Protocol) -> MockServer {
    serve(ok(
        protocol.fixture(protocol.plain.fixture),
        "application/json",
    ))
    .await
}

/// A loopback server giving `protocol`'s recorded stream.
async fn serve_stream(protocol: &Protocol) -> MockServer {
    serve(ok(
        protocol.fixture(protocol.stream.fixture),
        protocol.stream_type,
    ))
    .await
}

/// The `gen_ai.provider.name` each protocol reports.
fn provider_name(protocol: &Protocol) -> &'static str {
    match protocol.name {
        "gemini" => "gcp.gemini",
        "openai" => "openai",
        "anthropic" => "anthropic",
        "ollama" => "ollama",
        other => panic!("no expectation for {other}"),
    }
}

fn sampled() -> Request {
    Request::new()
        .system("Be brief.")
        .user("Say hello.")
        .temperature(0.5)
        .top_p(0.9)
        .max_tokens(64)
        .stop("END")
        .seed(7)
}

/// The attributes every call span has, whatever its outcome.
fn assert_call_span(span: &SpanData, protocol: &Protocol, server: &MockServer, stream: bool) {
    assert_eq!(span.name, format!("chat {}", protocol.model));
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(text(span, "gen_ai.operation.name").as_deref(), Some("chat"));
    assert_eq!(
        text(span, "gen_ai.provider.name").as_deref(),
        Some(provider_name(protocol))
    );
    assert_eq!(
        text(span, "gen_ai.request.model").as_deref(),
        Some(protocol.model)
    );
    assert_eq!(
        attr(span, "gen_ai.request.stream"),
        Some(&Value::Bool(stream))
    );
    assert_eq!(
        text(span, "server.address").as_deref(),
        Some("127.0.0.1"),
        "{}",
        protocol.name
    );
    assert_eq!(
        int(span, "server.port"),
        Some(i64::from(server.address().port()))
    );
    assert_eq!(
        text(span, "majordomo.protocol").as_deref(),
        Some(protocol.name)
    );
}

fn assert_sampling(span: &SpanData) {
    assert_eq!(
        attr(span, "gen_ai.request.temperature"),
        Some(&Value::F64(0.5))
    );
    assert_eq!(
        attr(span, "gen_ai.request.top_p"),
        Some(&Value::F64(f64::from(0.9f32)))
    );
    assert_eq!(int(span, "gen_ai.request.max_tokens"), Some(64));
    assert_eq!(int(span, "gen_ai.request.seed"), Some(7));
    assert_eq!(
        json_attr(span, "gen_ai.request.stop_sequences"),
        Some(json!(["END"]))
    );
}

fn assert_usage(span: &SpanData, (input, output): (u64, u64)) {
    assert_eq!(int(span, "gen_ai.usage.input_tokens"), Some(input as i64));
    assert_eq!(int(span, "gen_ai.usage.output_tokens"), Some(output as i64));
}

#[tokio::test]
async fn a_plain_call_on_each_protocol_is_one_client_span_with_the_conventions_attributes() {
    for protocol in [&OPENAI, &ANTHROPIC, &OLLAMA, &GEMINI] {
        let otel = Otel::install();
        let server = serve_plain(protocol).await;

        let reply = protocol.model(&server).generate(sampled()).await.unwrap();

        let spans = otel.spans();
        let span = only(&spans, SpanKind::Client);
        assert_call_span(span, protocol, &server, false);
        assert_sampling(span);
        assert_eq!(span.status, Status::Unset, "{}", protocol.name);
        assert_eq!(
            text(span, "gen_ai.response.model").as_deref(),
            Some(reply.model.as_str())
        );
        assert!(!reply.model.is_empty());
        assert_eq!(
            json_attr(span, "gen_ai.response.finish_reasons"),
            Some(json!([protocol.plain.finish.as_str()]))
        );
        assert_usage(span, protocol.plain.usage);
        assert_eq!(attr(span, "error.type"), None);
        // OpenAI, Anthropic and Gemini answers carry an id; Ollama's do not.
        if protocol.name != "ollama" {
            assert!(text(span, "gen_ai.response.id").is_some_and(|id| !id.is_empty()));
        }
        assert_eq!(reply.protocol.as_deref(), Some(protocol.name));
        // Content is off by default.
        for key in [
            "gen_ai.input.messages",
            "gen_ai.output.messages",
            "gen_ai.system_instructions",
        ] {
            assert_eq!(attr(span, key), None, "{key}");
        }
        assert_no_key(&spans, &[]);
    }
}

#[tokio::test]
async fn a_stream_on_each_protocol_is_one_client_span_ending_with_the_stream() {
    for protocol in [&OPENAI, &ANTHROPIC, &OLLAMA, &GEMINI] {
        let otel = Otel::install();
        let server = serve_stream(protocol).await;

        let mut stream = protocol.model(&server).stream(sampled()).await.unwrap();
        assert_eq!(stream.protocol(), Some(protocol.name));
        // Open but unread: the span is not over.
        assert!(otel.spans().is_empty(), "{}", protocol.name);
        let mut usage = Usage::default();
        while let Some(event) = stream.next().await {
            if let StreamEvent::Usage { usage: more } = event.unwrap() {
                usage.merge(&more);
            }
        }

        let spans = otel.spans();
        let span = only(&spans, SpanKind::Client);
        assert_call_span(span, protocol, &server, true);
        assert_sampling(span);
        assert_usage(span, protocol.stream.usage);
        assert_eq!(
            (usage.input_tokens, usage.output_tokens),
            (Some(protocol.stream.usage.0), Some(protocol.stream.usage.1))
        );
        assert_eq!(
            json_attr(span, "gen_ai.response.finish_reasons"),
            Some(json!([protocol.stream.finish.as_str()]))
        );
        match attr(span, "gen_ai.response.time_to_first_chunk") {
            Some(Value::F64(seconds)) => assert!(*seconds >= 0.0),
            other => panic!("time to first chunk: {other:?}"),
        }
        assert!(text(span, "gen_ai.response.model").is_some());
        assert_eq!(attr(span, "error.type"), None);
        assert_no_key(&spans, &[]);
    }
}

/// A registry with two OpenAI-protocol providers, `a` and `b`, at two
/// loopback servers, recording usage into the returned list.
fn two_servers(
    a: &MockServer,
    b: &MockServer,
    config: ChainConfig,
) -> (Registry, Arc<Mutex<Vec<UsageRecord>>>) {
    let records = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&records);
    let registry = Registry::builder()
        .without_env()
        .env_vars([
            ("LLM_A", OPENAI.dsn(*a.address(), "")),
            ("LLM_B", OPENAI.dsn(*b.address(), "")),
        ])
        .chain_config(config.transient_retries(0))
        .usage_sink(move |record: &UsageRecord| sink.lock().unwrap().push(record.clone()))
        .build();
    (registry, records)
}

async fn flushed(registry: &Registry, records: &Arc<Mutex<Vec<UsageRecord>>>) -> Vec<UsageRecord> {
    registry.chain_config().flush_usage().await;
    records.lock().unwrap().clone()
}

/// A 503 whose message echoes the caller's key, as some servers do: no span
/// or record may repeat it.
fn failing() -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(503).set_body_raw(
        json!({"error": {"message": format!("overloaded for key {KEY}"), "type": "server_error"}})
            .to_string(),
        "application/json",
    )
}

#[tokio::test]
async fn a_chain_with_a_failed_then_a_good_attempt_nests_attempts_and_provider_spans() {
    let otel = Otel::install();
    let down = serve(failing()).await;
    let up = serve_plain(&OPENAI).await;
    let (registry, records) = two_servers(&down, &up, ChainConfig::default());
    let chain = registry.parse("a/gpt-5.1,b/gpt-5.1").unwrap();

    chain.generate(Request::new().user("hi")).await.unwrap();

    let spans = otel.spans();
    let chains: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == "chain a/gpt-5.1,b/gpt-5.1")
        .collect();
    assert_eq!(chains.len(), 1, "{spans:#?}");
    let chain_span = chains[0];
    assert_eq!(chain_span.span_kind, SpanKind::Internal);
    assert_eq!(int(chain_span, "majordomo.attempts"), Some(2));
    assert_eq!(text(chain_span, "majordomo.provider").as_deref(), Some("b"));
    assert_usage(chain_span, OPENAI.plain.usage);
    assert_eq!(chain_span.status, Status::Unset);

    let attempts: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name.starts_with("attempt "))
        .collect();
    assert_eq!(
        attempts.iter().map(|s| s.name.as_ref()).collect::<Vec<_>>(),
        ["attempt a/gpt-5.1", "attempt b/gpt-5.1"]
    );
    for attempt in &attempts {
        assert_eq!(attempt.parent_span_id, chain_span.span_context.span_id());
        assert_eq!(attempt.span_kind, SpanKind::Internal);
    }
    assert_eq!(
        text(attempts[0], "error.type").as_deref(),
        Some("transient")
    );
    assert!(matches!(attempts[0].status, Status::Error { .. }));
    assert_eq!(attr(attempts[1], "error.type"), None);

    let calls: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Client)
        .collect();
    assert_eq!(calls.len(), 2);
    for (call, attempt) in calls.iter().zip(&attempts) {
        assert_eq!(call.name, "chat gpt-5.1");
        assert_eq!(call.parent_span_id, attempt.span_context.span_id());
    }
    assert_eq!(text(calls[0], "error.type").as_deref(), Some("transient"));
    assert_eq!(int(calls[0], "http.response.status_code"), Some(503));
    assert_eq!(text(calls[0], "majordomo.provider").as_deref(), Some("a"));
    assert_usage(calls[1], OPENAI.plain.usage);

    let records = flushed(&registry, &records).await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(
        (r.provider.as_str(), r.protocol.as_deref()),
        ("b", Some("openai"))
    );
    assert_eq!(r.attempts, 2);
    assert_eq!(r.outcome, UsageOutcome::Ok);
    assert_no_key(&spans, &records);
}

#[tokio::test]
async fn a_failed_chain_ends_its_span_in_error() {
    let otel = Otel::install();
    let down = serve(failing()).await;
    let also_down = serve(failing()).await;
    let (registry, records) = two_servers(&down, &also_down, ChainConfig::default());
    let chain = registry.parse("a/gpt-5.1,b/gpt-5.1").unwrap();

    let error = chain.generate(Request::new().user("hi")).await.unwrap_err();

    let spans = otel.spans();
    let chain_span = spans.iter().find(|s| s.name.starts_with("chain ")).unwrap();
    assert!(matches!(chain_span.status, Status::Error { .. }));
    assert_eq!(
        text(chain_span, "error.type").as_deref(),
        Some(error.class().as_str())
    );
    assert_eq!(int(chain_span, "majordomo.attempts"), Some(2));
    let failed_calls = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Client)
        .filter(|s| text(s, "error.type").as_deref() == Some("transient"))
        .count();
    assert_eq!(failed_calls, 2);

    let records = flushed(&registry, &records).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, UsageOutcome::Error);
    assert_eq!(records[0].attempts, 2);
    assert_no_key(&spans, &records);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_stream_ends_its_spans_and_says_so() {
    let otel = Otel::install();
    let records = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&records);
    let registry = Registry::builder()
        .without_env()
        .usage_sink(move |record: &UsageRecord| sink.lock().unwrap().push(record.clone()))
        .build();
    let fake = FakeProvider::new("fake");
    fake.push(
        "a",
        Outcome::stream_steps([
            StreamStep::Event(StreamEvent::text("Hel")),
            StreamStep::Delay(Duration::from_secs(5)),
            StreamStep::Event(StreamEvent::text("lo")),
        ]),
    );
    registry.register_provider(fake);
    let chain = registry.parse("fake/a").unwrap();

    let mut stream = chain.stream(Request::new().user("hi")).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first, StreamEvent::text("Hel"));
    assert!(
        !otel.spans().iter().any(|s| s.name.starts_with("chain ")),
        "the chain span lasts while the stream is open"
    );
    drop(stream);

    let spans = otel.spans();
    let chain_span = spans
        .iter()
        .find(|s| s.name == "chain fake/a")
        .expect("the chain span ends when the stream is dropped");
    assert_eq!(text(chain_span, "error.type").as_deref(), Some("cancelled"));
    assert!(matches!(chain_span.status, Status::Error { .. }));
    assert_eq!(
        attr(chain_span, "gen_ai.request.stream"),
        Some(&Value::Bool(true))
    );
    assert!(attr(chain_span, "gen_ai.response.time_to_first_chunk").is_some());
    // The fake has no span of its own: the attempt carries the conventions.
    let attempt = spans.iter().find(|s| s.name == "attempt fake/a").unwrap();
    assert_eq!(
        text(attempt, "gen_ai.provider.name").as_deref(),
        Some("fake")
    );
    assert_eq!(text(attempt, "gen_ai.request.model").as_deref(), Some("a"));
    assert_eq!(text(attempt, "gen_ai.response.model").as_deref(), Some("a"));

    let records = flushed(&registry, &records).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, UsageOutcome::Error);
    assert_eq!(records[0].error_class, Some(ErrorClass::Cancelled));
}

#[tokio::test]
async fn a_cancelled_provider_stream_ends_its_client_span_as_cancelled() {
    let otel = Otel::install();
    let server = serve_stream(&OPENAI).await;
    let model = OPENAI.model(&server);

    let mut stream = model.stream(Request::new().user("hi")).await.unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);

    let spans = otel.spans();
    let span = only(&spans, SpanKind::Client);
    assert_eq!(text(span, "error.type").as_deref(), Some("cancelled"));
    assert!(matches!(span.status, Status::Error { .. }));
    assert!(attr(span, "gen_ai.response.time_to_first_chunk").is_some());
    assert_no_key(&spans, &[]);
}

#[tokio::test]
async fn content_is_recorded_only_when_the_host_asks() {
    let server = serve_plain(&OPENAI).await;
    let ask = |config: ChainConfig| {
        let (registry, _) = two_servers(&server, &server, config);
        async move {
            let request = Request::new().system("Be brief.").user("Say hello.");
            registry
                .parse("a/gpt-5.1")
                .unwrap()
                .generate(request)
                .await
                .unwrap()
        }
    };

    // Off (the default), through a chain.
    let otel = Otel::install();
    ask(ChainConfig::default()).await;
    let spans = otel.spans();
    assert_eq!(spans.len(), 3, "chain, attempt, call");
    for span in &spans {
        for key in [
            "gen_ai.input.messages",
            "gen_ai.output.messages",
            "gen_ai.system_instructions",
        ] {
            assert_eq!(attr(span, key), None, "{} has {key}", span.name);
        }
    }
    drop(otel);

    // On, through a chain's settings: on the chain span and the call span.
    let otel = Otel::install();
    let reply = ask(ChainConfig::default().capture_content(true)).await;
    let spans = otel.spans();
    let call = only(&spans, SpanKind::Client);
    let chain_span = spans.iter().find(|s| s.name.starts_with("chain ")).unwrap();
    for span in [call, chain_span] {
        assert_eq!(
            json_attr(span, "gen_ai.input.messages"),
            Some(json!([{"role": "user", "parts": [{"type": "text", "content": "Say hello."}]}]))
        );
        assert_eq!(
            json_attr(span, "gen_ai.system_instructions"),
            Some(json!([{"type": "text", "content": "Be brief."}]))
        );
        assert_eq!(
            json_attr(span, "gen_ai.output.messages"),
            Some(json!([{
                "role": "assistant",
                "parts": [{"type": "text", "content": reply.text()}],
                "finish_reason": "stop",
            }]))
        );
    }
    assert_no_key(&spans, &[]);
    drop(otel);

    // On, for one direct provider call, through the request.
    let otel = Otel::install();
    let direct = OPENAI.model(&server);
    direct
        .generate(Request::new().user("Say hello.").capture_content(true))
        .await
        .unwrap();
    let spans = otel.spans();
    let call = only(&spans, SpanKind::Client);
    assert!(attr(call, "gen_ai.input.messages").is_some());
    assert!(attr(call, "gen_ai.output.messages").is_some());
}

#[tokio::test]
async fn a_streamed_answer_is_captured_when_asked() {
    let otel = Otel::install();
    let server = serve_stream(&ANTHROPIC).await;
    let reply = ANTHROPIC
        .model(&server)
        .stream(Request::new().user("hi").capture_content(true))
        .await
        .unwrap()
        .into_response()
        .await
        .unwrap();

    let spans = otel.spans();
    let call = only(&spans, SpanKind::Client);
    let output = json_attr(call, "gen_ai.output.messages").unwrap();
    assert_eq!(output[0]["parts"][0]["content"], json!(reply.text()));
    assert_eq!(output[0]["role"], "assistant");
}
