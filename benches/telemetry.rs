//! What the GenAI spans cost (`cargo bench --bench telemetry`, ADR 0020).
//!
//! The same calls, three ways: no subscriber; a subscriber that is not
//! interested (it wants WARN and above: the spans are INFO); and a subscriber
//! that is (`tracing-opentelemetry` into the OpenTelemetry SDK with an
//! in-memory exporter, emptied as it goes). Calls: a two-target chain on the
//! fake provider (chain and attempt spans) and one OpenAI-protocol call over
//! loopback to a wiremock server (chain, attempt and client spans).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use majordomo::providers::fake::FakeProvider;
use majordomo::{Model, Registry, Request};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt as _;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const COMPLETION: &str = include_str!("../tests/fixtures/openai/chat_response_text.json");

/// Who listens during a measurement.
#[derive(Clone, Copy)]
enum Listener {
    Nobody,
    NotInterested,
    OpenTelemetry,
}

fn spans(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(COMPLETION, "application/json"))
            .mount(&server)
            .await;
        server
    });
    let registry = Registry::builder()
        .without_env()
        .env_vars([(
            "LLM_BENCH",
            format!("openai+http://sk-bench@{}/v1", server.address()),
        )])
        .build();
    registry.register_provider(FakeProvider::always_text("fake", "hi"));
    let fake_chain = registry.parse("fake/a,fake/b").unwrap();
    let http_chain = registry.parse("bench/gpt-4o").unwrap();

    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();

    let mut group = c.benchmark_group("telemetry");
    for listener in [
        Listener::Nobody,
        Listener::NotInterested,
        Listener::OpenTelemetry,
    ] {
        let label = match listener {
            Listener::Nobody => "no_subscriber",
            Listener::NotInterested => "warn_only_subscriber",
            Listener::OpenTelemetry => "opentelemetry",
        };
        // The bench runs on this one thread: a thread default is enough.
        let _guard = match listener {
            Listener::Nobody => None,
            Listener::NotInterested => Some(tracing::subscriber::set_default(
                tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::WARN),
            )),
            Listener::OpenTelemetry => Some(tracing::subscriber::set_default(
                tracing_subscriber::registry()
                    .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"))),
            )),
        };
        tracing::callsite::rebuild_interest_cache();
        for (name, chain) in [("fake_chain2", &fake_chain), ("openai_chain1", &http_chain)] {
            group.bench_function(format!("{name}/{label}"), |b| {
                b.to_async(&rt).iter(|| async {
                    let reply = chain.generate(Request::new().user("hi")).await.unwrap();
                    assert!(!reply.text().is_empty());
                    exporter.reset();
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, spans);
criterion_main!(benches);
