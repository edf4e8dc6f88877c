//! Usage records: one per chain call, succeeded or failed, streamed or not.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use majordomo::providers::fake::{FakeProvider, Outcome, StreamStep};
use majordomo::{
    ChainConfig, Error, ErrorClass, EventStream, Model, ModelPrice, PriceTable, Registry,
    RegistryBuilder, Request, Response, StreamEvent, Usage, UsageOutcome, UsageRecord,
};

type Records = Arc<Mutex<Vec<UsageRecord>>>;

/// `builder` built with a sink whose records land in the returned list.
fn recording(builder: RegistryBuilder) -> (Registry, Records) {
    let records = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&records);
    let registry = builder
        .usage_sink(move |record: &UsageRecord| sink.lock().unwrap().push(record.clone()))
        .build();
    (registry, records)
}

/// A registry over a fake provider whose records land in the returned list.
fn metered(prices: Option<PriceTable>) -> (Registry, FakeProvider, Records) {
    let mut builder = Registry::builder()
        .without_env()
        .chain_config(ChainConfig::default().transient_retries(1));
    if let Some(prices) = prices {
        builder = builder.prices(prices);
    }
    let (registry, records) = recording(builder);
    let fake = FakeProvider::new("fake");
    registry.register_provider(fake.clone());
    (registry, fake, records)
}

/// Every record so far: the sink runs on its own task, so wait for it first.
async fn flushed(registry: &Registry, records: &Records) -> Vec<UsageRecord> {
    registry.chain_config().flush_usage().await;
    records.lock().unwrap().clone()
}

/// The record of a call to `dsn` that fails for good.
async fn failed_record(registry: &Registry, records: &Records, dsn: &str) -> UsageRecord {
    let err = registry
        .parse(dsn)
        .unwrap()
        .generate(request())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent);
    flushed(registry, records).await.remove(0)
}

/// A metered registry whose `fake/s` streams `steps`, and that stream, opened.
async fn scripted_stream(
    steps: impl IntoIterator<Item = StreamStep>,
) -> (Registry, Records, EventStream) {
    let (registry, fake, records) = metered(None);
    fake.push("s", Outcome::stream_steps(steps));
    let stream = registry
        .parse("fake/s")
        .unwrap()
        .stream(request())
        .await
        .unwrap();
    (registry, records, stream)
}

fn request() -> Request {
    Request::new()
        .user("hi")
        .caller("alice")
        .run_id("run-7")
        .label("team", "search")
}

fn answer(text: &str, usage: Usage) -> Outcome {
    Outcome::response(Response::text_reply("", "", text).with_usage(usage))
}

#[tokio::test(start_paused = true)]
async fn a_chain_call_with_a_failed_then_a_good_attempt_is_one_record() {
    let prices = PriceTable::new().price("b", ModelPrice::new(2.0, 10.0).cached_input(1.0));
    let (registry, fake, records) = metered(Some(prices));
    fake.push_all("a", [Outcome::status(503), Outcome::status(503)])
        .push(
            "b",
            answer(
                "from b",
                Usage::new(1_000, 200)
                    .with_cached_input_tokens(400)
                    .with_reasoning_tokens(50),
            ),
        );
    let chain = registry.parse("fake/a, fake/b").unwrap();

    let reply = chain.generate(request()).await.unwrap();

    assert_eq!(reply.text(), "from b");
    let records = flushed(&registry, &records).await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!((r.provider.as_str(), r.model.as_str()), ("fake", "b"));
    assert_eq!(r.spec, "fake/a, fake/b");
    assert_eq!(r.caller_id.as_deref(), Some("alice"));
    assert_eq!(r.run_id.as_deref(), Some("run-7"));
    assert_eq!(r.labels.get("team").map(String::as_str), Some("search"));
    assert_eq!(r.attempts, 3, "a, a again, b");
    assert_eq!(r.outcome, UsageOutcome::Ok);
    assert_eq!(r.error_class, None);
    assert_eq!(
        (
            r.input_tokens,
            r.output_tokens,
            r.cached_input_tokens,
            r.reasoning_tokens
        ),
        (Some(1_000), Some(200), Some(400), Some(50))
    );
    assert_eq!(r.time_to_first_token_ms, None);
    // 600 input at 2.0, 400 cached at 1.0, 200 output at 10.0, per million.
    let cost = r.cost.unwrap();
    assert!(
        (cost - (600.0 * 2.0 + 400.0 * 1.0 + 200.0 * 10.0) / 1e6).abs() < 1e-12,
        "{cost}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_chain_is_a_record_too() {
    let (registry, fake, records) = metered(None);
    fake.set_default("a", Outcome::status(401));
    let r = &failed_record(&registry, &records, "fake/a").await;
    assert_eq!(r.outcome, UsageOutcome::Error);
    assert_eq!(r.error_class, Some(ErrorClass::Permanent));
    assert_eq!((r.provider.as_str(), r.model.as_str()), ("fake", "a"));
    assert_eq!(
        r.protocol.as_deref(),
        Some("fake"),
        "known without an answer"
    );
    assert_eq!(r.attempts, 1);
    assert_eq!(r.cost, None);
    // Serialised with exactly the documented names.
    let json = serde_json::to_value(r).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "attempts",
            "cached_input_tokens",
            "caller_id",
            "cost",
            "error_class",
            "input_tokens",
            "labels",
            "latency_ms",
            "model",
            "outcome",
            "output_tokens",
            "protocol",
            "provider",
            "reasoning_tokens",
            "run_id",
            "spec",
            "time_to_first_token_ms",
        ]
    );
    assert_eq!(json["outcome"], "error");
    assert_eq!(json["error_class"], "permanent");
}

#[tokio::test(start_paused = true)]
async fn a_stream_is_recorded_at_its_end_with_time_to_first_token_and_usage() {
    let (registry, records, mut stream) = scripted_stream([
        StreamStep::Delay(Duration::from_millis(40)),
        StreamStep::Event(StreamEvent::TextDelta { text: "he".into() }),
        StreamStep::Delay(Duration::from_millis(60)),
        StreamStep::Event(StreamEvent::TextDelta { text: "llo".into() }),
        StreamStep::Event(StreamEvent::Usage {
            usage: Usage::new(12, 3),
        }),
        StreamStep::Event(StreamEvent::Finish {
            reason: majordomo::FinishReason::Stop,
        }),
    ])
    .await;
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        if let StreamEvent::TextDelta { text: t } = event.unwrap() {
            text.push_str(&t);
        }
    }
    assert_eq!(text, "hello");

    let records = flushed(&registry, &records).await;
    let r = &records[0];
    assert_eq!(r.outcome, UsageOutcome::Ok);
    assert_eq!(r.time_to_first_token_ms, Some(40));
    assert_eq!(r.latency_ms, 100);
    assert_eq!((r.input_tokens, r.output_tokens), (Some(12), Some(3)));
    assert_eq!(r.attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_stream_is_recorded_as_cancelled() {
    let (registry, records, mut stream) = scripted_stream([
        StreamStep::Event(StreamEvent::TextDelta { text: "he".into() }),
        StreamStep::Delay(Duration::from_secs(60)),
        StreamStep::Event(StreamEvent::TextDelta { text: "llo".into() }),
    ])
    .await;
    let first = stream.next().await.unwrap().unwrap();
    assert!(matches!(first, StreamEvent::TextDelta { .. }));
    drop(stream);

    let records = flushed(&registry, &records).await;
    assert_eq!(records.len(), 1, "reported once");
    let r = &records[0];
    assert_eq!(r.outcome, UsageOutcome::Error);
    assert_eq!(r.error_class, Some(ErrorClass::Cancelled));
    assert_eq!((r.provider.as_str(), r.model.as_str()), ("fake", "s"));
    assert_eq!(r.attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_fails_before_its_first_event_is_recorded() {
    let (registry, fake, records) = metered(None);
    fake.set_default("s", Outcome::error(Error::model_not_found("s")));
    let err = registry
        .parse("fake/s")
        .unwrap()
        .stream(request())
        .await
        .err()
        .unwrap();
    assert_eq!(err.class(), ErrorClass::ModelNotFound);
    let records = flushed(&registry, &records).await;
    assert_eq!(records[0].outcome, UsageOutcome::Error);
    assert_eq!(records[0].error_class, Some(ErrorClass::ModelNotFound));
    assert_eq!(records[0].time_to_first_token_ms, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_or_panicking_sink_never_delays_or_breaks_a_call() {
    // The sink blocks until the test lets it go: had it run on the caller's
    // task, the calls below could never return.
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let seen = Arc::new(Mutex::new(0_usize));
    let counter = Arc::clone(&seen);
    let registry = Registry::builder()
        .without_env()
        .usage_sink(move |record: &UsageRecord| {
            if record.model == "panics" {
                panic!("a sink bug");
            }
            let _ = gate.lock().unwrap().recv();
            *counter.lock().unwrap() += 1;
        })
        .build();
    registry.register_provider(FakeProvider::always_text("fake", "ok"));
    for model in ["panics", "a", "b"] {
        let reply = registry
            .parse(&format!("fake/{model}"))
            .unwrap()
            .generate(request())
            .await
            .unwrap();
        assert_eq!(reply.text(), "ok");
    }
    assert_eq!(*seen.lock().unwrap(), 0, "the sink is still blocked");
    release.send(()).unwrap();
    release.send(()).unwrap();
    // A bounded wait for the sink's own task to catch up (not a timing assertion).
    for _ in 0..500 {
        if *seen.lock().unwrap() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        *seen.lock().unwrap(),
        2,
        "both records after the panicking one arrived"
    );
}

#[test]
fn a_price_table_loads_from_json_and_rejects_nonsense() {
    let prices =
        PriceTable::from_json(r#"{"gpt-4o": {"input": 2.5, "output": 10, "cached_input": 1.25}}"#)
            .unwrap();
    assert_eq!(
        prices.get("openai", "gpt-4o"),
        Some(ModelPrice::new(2.5, 10.0).cached_input(1.25))
    );
    let err = PriceTable::from_json(r#"{"gpt-4o": {"input": "cheap"}}"#).unwrap_err();
    assert!(err.to_string().contains("price table"), "{err}");
}

/// A failed call to an `LLM_*` provider names the registry's provider and,
/// in its own field, the protocol it speaks, though no answer said so.
#[tokio::test]
async fn a_failed_http_call_names_the_registry_provider_and_its_protocol() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(401).set_body_string("bad key"))
        .mount(&server)
        .await;
    let address = server.address();
    let (registry, records) = recording(Registry::builder().without_env().env_vars([(
        "LLM_M1",
        format!("anthropic+http://sk-usage-secret@{address}"),
    )]));
    let r = &failed_record(&registry, &records, "m1/claude-x").await;
    assert_eq!((r.provider.as_str(), r.model.as_str()), ("m1", "claude-x"));
    assert_eq!(r.protocol.as_deref(), Some("anthropic"));
    assert_eq!(r.outcome, UsageOutcome::Error);
    assert!(
        !serde_json::to_string(r)
            .unwrap()
            .contains("sk-usage-secret")
    );
}
