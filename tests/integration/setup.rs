//! What a new user trips on first (issue "Setup that just works"): each test
//! here failed before its fix.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use majordomo::health::{
    Admission, FakeClock, HealthConfig, HealthStore, HealthTracker, MemoryStore, TargetHealth,
};
use majordomo::providers::fake::{FakeProvider, Outcome};
use majordomo::{
    Capabilities, ChainConfig, Error, ErrorClass, ErrorKind, FailoverAction, FailoverEvent, Model,
    Registry, Request, StreamEvent, Target,
};
use tokio::net::TcpListener;

use crate::support::call::{generate_error, generated, opened, streamed};
use crate::support::chain::Recorder;
use crate::support::http::{answer, post, serve_fixture_at};
use crate::support::registry::fake_registry;

fn hi() -> Request {
    Request::new().user("hi")
}

fn host_of(uri: &str) -> &str {
    uri.trim_start_matches("http://")
}

// ----- 1. hermetic registries -----

/// The variable that makes this test binary, run again by the test below,
/// act as the child: build a registry and try to call the built-ins.
const CHILD: &str = "MAJORDOMO_SETUP_CHILD";

/// A loopback listener that counts the connections made to it.
async fn counting_listener() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (address, count)
}

/// Runs `child_registry_calls_nothing` in a child process whose *process*
/// environment names the listener (the test itself cannot set variables:
/// `set_var` is unsafe and the crate forbids unsafe code).
async fn run_child(mode: &str, address: &str) -> std::process::Output {
    let exe = std::env::current_exe().unwrap();
    let address = address.to_owned();
    let mode = mode.to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new(exe)
            .args([
                "--exact",
                "setup::child_registry_calls_nothing",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, mode)
            .env("OPENAI_API_KEY", "sk-process-key")
            .env("OPENAI_BASE_URL", format!("http://{address}/v1"))
            .env("ANTHROPIC_API_KEY", "sk-ant-process-key")
            .env("ANTHROPIC_BASE_URL", format!("http://{address}"))
            .env("GEMINI_API_KEY", "process-gemini-key")
            .env("OLLAMA_HOST", format!("http://{address}"))
            .env("LLM_SNEAKY", format!("openai+http://k@{address}/v1"))
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// The child's half of the test below; does nothing when run normally.
#[tokio::test]
async fn child_registry_calls_nothing() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let registry = match mode.as_str() {
        "hermetic" => Registry::builder().without_env().build(),
        _ => Registry::builder().build(),
    };
    for spec in ["openai/gpt-4o", "anthropic/claude-x", "ollama/llama3"] {
        let _ = registry.parse(spec).unwrap().generate(hi()).await;
    }
    let sneaky = registry.parse("sneaky/m");
    if mode == "hermetic" {
        assert!(sneaky.is_err(), "LLM_SNEAKY was read");
    } else {
        let _ = sneaky.unwrap().generate(hi()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hermetic_registry_never_calls_a_server_named_only_in_the_process_environment() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    // Control: a registry that reads the process does reach the listener,
    // so the count below can tell.
    let (address, count) = counting_listener().await;
    let output = run_child("process", &address).await;
    assert!(output.status.success(), "{output:?}");
    assert!(
        count.load(Ordering::SeqCst) >= 3,
        "the control made no call"
    );

    let (address, count) = counting_listener().await;
    let output = run_child("hermetic", &address).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "without_env() reached a server"
    );
}

#[tokio::test]
async fn hermetic_registries_take_their_variables_from_the_test_in_any_order() {
    let server = serve_fixture_at("/v1/chat/completions", "openai/chat_response_basic.json").await;
    let vars = [
        ("OPENAI_API_KEY", "sk-test".to_owned()),
        ("OPENAI_BASE_URL", format!("{}/v1", server.uri())),
    ];
    let before = Registry::builder()
        .env_vars(vars.clone())
        .without_env()
        .build();
    let after = Registry::builder()
        .without_env()
        .env_vars(vars.clone())
        .build();
    for registry in [before, after] {
        let reply = generated(&registry.parse("openai/gpt-4o").unwrap(), hi()).await;
        assert!(!reply.text().is_empty());
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

// ----- 2. a missing credential skips the target -----

#[tokio::test]
async fn a_missing_key_skips_its_target_and_the_next_one_answers() {
    let server = serve_fixture_at("/v1/messages", "anthropic/messages_response_text.json").await;
    let recorder = Recorder::default();
    let registry = Registry::builder()
        .without_env()
        .env_vars([
            ("ANTHROPIC_API_KEY", "sk-ant-test".to_owned()),
            ("ANTHROPIC_BASE_URL", server.uri()),
        ])
        .chain_config(recorder.install(ChainConfig::default()))
        .build();
    let chain = registry
        .parse("openai/gpt-4o,anthropic/claude-haiku-4-5")
        .unwrap();

    let reply = generated(&chain, hi()).await;

    assert_eq!(reply.provider, "anthropic");
    assert_eq!(reply.attempts[0].class, Some(ErrorClass::NotConfigured));
    let events = recorder.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, FailoverAction::Advance);
    assert!(
        events[0].to_string().contains("set OPENAI_API_KEY"),
        "{}",
        events[0]
    );
    assert!(registry.health().snapshot().await.is_empty(), "no penalty");

    // With no key at all, the exhaustion error names the variable to set.
    let registry = Registry::builder().without_env().build();
    let err = generate_error(&registry.parse("openai/gpt-4o").unwrap(), hi()).await;
    assert_eq!(err.kind(), ErrorKind::Exhausted);
    assert_eq!(err.class(), ErrorClass::NotConfigured);
    assert_eq!(err.missing_variable(), Some("OPENAI_API_KEY"));
    assert!(err.to_string().contains("set OPENAI_API_KEY"), "{err}");
}

#[tokio::test]
async fn a_refused_key_stays_fail_fast() {
    let server = wiremock::MockServer::start().await;
    post("/v1/chat/completions")
        .respond_with(answer(
            401,
            r#"{"error":{"message":"Incorrect API key","type":"invalid_request_error","code":"invalid_api_key"}}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let fake = FakeProvider::new("fake");
    fake.set_default("b", Outcome::text("from b"));
    let registry = Registry::builder()
        .without_env()
        .env_vars([
            ("OPENAI_API_KEY", "sk-wrong".to_owned()),
            ("OPENAI_BASE_URL", format!("{}/v1", server.uri())),
        ])
        .build();
    registry.register_provider(fake.clone());
    let err = generate_error(&registry.parse("openai/gpt-4o,fake/b").unwrap(), hi()).await;
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(err.status(), Some(401));
    assert_eq!(fake.calls("b"), 0);
}

// ----- 3. base URLs -----

#[tokio::test]
async fn base_paths_follow_each_schemes_rule() {
    let server = wiremock::MockServer::start().await;
    // Every request fails (with no retry below): only the paths matter.
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(answer(500, "{}", "application/json"))
        .mount(&server)
        .await;
    let host = host_of(&server.uri()).to_owned();
    let cases = [
        (
            "LLM_O1",
            format!("openai+http://k@{host}"),
            "o1/m",
            "/v1/chat/completions",
        ),
        (
            "LLM_O2",
            format!("openai+http://k@{host}/"),
            "o2/m",
            "/v1/chat/completions",
        ),
        (
            "LLM_O3",
            format!("openai+http://k@{host}/api/v1"),
            "o3/m",
            "/api/v1/chat/completions",
        ),
        (
            "LLM_F1",
            format!("foreman+http://k@{host}"),
            "f1/m",
            "/v1/chat/completions",
        ),
        (
            "LLM_A1",
            format!("anthropic+http://k@{host}"),
            "a1/m",
            "/v1/messages",
        ),
        (
            "LLM_A2",
            format!("anthropic+http://k@{host}/v1"),
            "a2/m",
            "/v1/messages",
        ),
        (
            "LLM_A3",
            format!("anthropic+http://k@{host}/gw/v1/"),
            "a3/m",
            "/gw/v1/messages",
        ),
        (
            "LLM_G1",
            format!("gemini+http://k@{host}"),
            "g1/m",
            "/v1beta/models/m:generateContent",
        ),
        (
            "LLM_G2",
            format!("gemini+http://k@{host}/v1beta"),
            "g2/m",
            "/v1beta/models/m:generateContent",
        ),
        (
            "LLM_G3",
            format!("gemini+http://k@{host}/v1"),
            "g3/m",
            "/v1/models/m:generateContent",
        ),
    ];
    let registry = Registry::builder()
        .env_vars(cases.iter().map(|(var, dsn, _, _)| (*var, dsn.clone())))
        .chain_config(ChainConfig::default().transient_retries(0))
        .build();
    for (_, dsn, spec, expected) in &cases {
        let before = server.received_requests().await.unwrap().len();
        let _ = registry.parse(spec).unwrap().generate(hi()).await;
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), before + 1, "{dsn}");
        assert_eq!(requests[before].url.path(), *expected, "{dsn}");
    }
}

// ----- 4. a bare 404 is loud -----

#[tokio::test]
async fn a_bare_404_names_the_url_and_is_permanent() {
    for body in [
        "404 page not found",
        "<html><body><h1>Not Found</h1></body></html>",
        r#"{"detail":"Not Found"}"#,
    ] {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(answer(404, body, "text/plain"))
            .mount(&server)
            .await;
        let err = error_of(format!(
            "openai+http://sk-secret-404@{}/api",
            host_of(&server.uri())
        ))
        .await;
        let text = err.to_string();
        assert_eq!(err.class(), ErrorClass::Permanent, "{text}");
        let url = format!("POST {}/api/chat/completions", server.uri());
        assert!(text.contains(&url), "{text}");
        assert!(text.contains("base URL"), "{text}");
        assert!(!text.contains("sk-secret-404"), "{text}");
        assert!(!format!("{err:?}").contains("sk-secret-404"));
    }
}

#[tokio::test]
async fn a_404_naming_the_model_is_still_model_not_found() {
    let err = openai_error(
        404,
        r#"{"error":{"message":"The model `gpt-9` does not exist","type":"invalid_request_error","code":"model_not_found"}}"#,
    )
    .await;
    assert_eq!(err.class(), ErrorClass::ModelNotFound, "{err}");
}

/// The error a chain of one `openai+http://` target returns when every call
/// is answered with `status` and `body`.
async fn openai_error(status: u16, body: &str) -> Error {
    let server = wiremock::MockServer::start().await;
    post("/v1/chat/completions")
        .respond_with(answer(status, body.to_owned(), "application/json"))
        .mount(&server)
        .await;
    error_of(format!("openai+http://k@{}", host_of(&server.uri()))).await
}

/// The error a hermetic registry's chain of one target, `x/m` with `LLM_X=dsn`,
/// returns.
async fn error_of(dsn: String) -> Error {
    let registry = Registry::builder()
        .without_env()
        .env_vars([("LLM_X", dsn)])
        .build();
    generate_error(&registry.parse("x/m").unwrap(), hi()).await
}

// ----- 5. half-open admits one probe -----

/// A registry over a fake whose target `a` is benched once and then probed.
fn benched_rig(clock: &FakeClock) -> (Registry, FakeProvider) {
    let health = HealthConfig::default()
        .failure_threshold(1)
        .base_cooldown(Duration::from_secs(30));
    fake_registry(clock, health, ChainConfig::default().transient_retries(0))
}

/// [`benched_rig`] after a call to chain `fake/a,fake/b` in which `a`
/// failed (and was benched) and `b` answered.
async fn a_benched(clock: &FakeClock) -> (Registry, FakeProvider, majordomo::Chain) {
    let (registry, fake) = benched_rig(clock);
    let chain = registry.parse("fake/a,fake/b").unwrap();
    fake.push("a", Outcome::status(503))
        .set_default("b", Outcome::text("from b"));
    generated(&chain, hi()).await;
    (registry, fake, chain)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_calls_after_a_cooldown_make_exactly_one_probe() {
    let clock = FakeClock::new();
    let (registry, fake, chain) = a_benched(&clock).await;
    let a = Target::new("fake", "a").unwrap();
    assert!(registry.health().is_benched(&a).await);
    clock.advance(Duration::from_secs(31));

    // The probe answers after a while (real time): every other call arrives
    // while it is in flight.
    fake.push(
        "a",
        Outcome::delay(Duration::from_millis(300), Outcome::text("from a")),
    );
    let calls = (0..10).map(|_| {
        let chain = chain.clone();
        tokio::spawn(async move { generated(&chain, hi()).await.provider_model() })
    });
    let answers: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    assert_eq!(fake.calls("a"), 2, "one failure, then exactly one probe");
    assert_eq!(answers.iter().filter(|a| *a == "fake/a").count(), 1);
    assert_eq!(answers.iter().filter(|a| *a == "fake/b").count(), 9);
    // The probe succeeded: the bench is closed for everyone.
    assert!(registry.health().snapshot().await.is_empty());
}

trait ProviderModel {
    fn provider_model(&self) -> String;
}

impl ProviderModel for majordomo::Response {
    fn provider_model(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_rebenches_with_the_next_cooldown() {
    let clock = FakeClock::new();
    let (registry, fake) = benched_rig(&clock);
    let chain = registry.parse("fake/a,fake/b").unwrap();
    fake.push_all("a", [Outcome::status(503), Outcome::status(503)])
        .set_default("b", Outcome::text("from b"));
    generated(&chain, hi()).await;
    clock.advance(Duration::from_secs(31));
    generated(&chain, hi()).await;
    let a = Target::new("fake", "a").unwrap();
    let state = registry.health().state(&a).await;
    assert_eq!(state.bench_rounds, 2);
    assert_eq!(
        registry.health().admitted_at(&a).await,
        Some(registry.health().now() + Duration::from_secs(60))
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_frees_the_slot() {
    let clock = FakeClock::new();
    let (registry, fake, chain) = a_benched(&clock).await;
    clock.advance(Duration::from_secs(31));

    fake.push("a", Outcome::hang());
    let probing = tokio::spawn({
        let chain = chain.clone();
        async move { chain.generate(hi()).await }
    });
    // Let the probe start, then check a second call is kept off `a`.
    while fake.calls("a") < 2 {
        tokio::task::yield_now().await;
    }
    let a = Target::new("fake", "a").unwrap();
    assert!(matches!(
        registry.health().admit(&a).await,
        Admission::ProbeInFlight
    ));
    probing.abort();
    let _ = probing.await;

    fake.push("a", Outcome::text("from a"));
    let reply = generated(&chain, hi()).await;
    assert_eq!(reply.provider_model(), "fake/a", "the next call probes");
}

// ----- 6. the health store never holds a call hostage -----

/// A store that takes 30 s for every operation (or fails, with `fail`).
#[derive(Debug, Default)]
struct SlowStore {
    inner: MemoryStore,
    fail: bool,
    operations: AtomicUsize,
}

impl SlowStore {
    async fn pause(&self) -> majordomo::Result<()> {
        self.operations.fetch_add(1, Ordering::SeqCst);
        if self.fail {
            return Err(Error::transport("store down"));
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(())
    }
}

#[async_trait]
impl HealthStore for SlowStore {
    async fn get(&self, key: &str) -> majordomo::Result<Option<TargetHealth>> {
        self.pause().await?;
        self.inner.get(key).await
    }

    async fn record_failure(
        &self,
        key: &str,
        now: std::time::SystemTime,
        config: &HealthConfig,
        retry_after: Option<Duration>,
    ) -> majordomo::Result<TargetHealth> {
        self.pause().await?;
        self.inner
            .record_failure(key, now, config, retry_after)
            .await
    }

    async fn record_success(&self, key: &str) -> majordomo::Result<()> {
        self.pause().await?;
        self.inner.record_success(key).await
    }

    async fn snapshot(&self) -> majordomo::Result<Vec<(String, TargetHealth)>> {
        self.pause().await?;
        self.inner.snapshot().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_store_costs_a_call_at_most_its_budget() {
    let budget = Duration::from_millis(50);
    for fail in [false, true] {
        let store = Arc::new(SlowStore {
            fail,
            ..SlowStore::default()
        });
        let clock = FakeClock::new();
        let health = HealthTracker::with_store(
            HealthConfig::default()
                .failure_threshold(1)
                .store_budget(budget),
            Arc::new(clock.clone()),
            store.clone(),
        );
        let fake = FakeProvider::new("fake");
        fake.push("a", Outcome::status(503))
            .set_default("b", Outcome::text("from b"));
        let a = Target::new("fake", "a").unwrap();
        let b = Target::new("fake", "b").unwrap();
        let chain = majordomo::Chain::new(
            vec![
                majordomo::ChainTarget::new(
                    a.clone(),
                    None,
                    majordomo::Provider::model(&fake, "a").unwrap(),
                ),
                majordomo::ChainTarget::new(
                    b,
                    None,
                    majordomo::Provider::model(&fake, "b").unwrap(),
                ),
            ],
            health.clone(),
            Arc::new(ChainConfig::default().transient_retries(0)),
        );

        let started = tokio::time::Instant::now();
        let reply = generated(&chain, hi()).await;
        let took = started.elapsed();

        assert_eq!(reply.text(), "from b");
        // Three store operations on the path (read a, failure a, read b):
        // each waits at most the budget, never the store's 30 s.
        assert!(took <= budget * 4, "fail={fail}: the call took {took:?}");
        assert!(store.operations.load(Ordering::SeqCst) >= 3);
        // The in-process view benched `a` although the store never answered.
        assert!(health.is_benched(&a).await, "fail={fail}");
        let second = tokio::time::Instant::now();
        generated(&chain, hi()).await;
        assert!(second.elapsed() <= budget * 3, "fail={fail}");
        assert_eq!(fake.calls("a"), 1, "benched locally, not called again");
    }
}

// ----- 7. builder order never loses settings -----

#[tokio::test]
async fn observer_and_chain_config_compose_in_either_order() {
    for observer_first in [true, false] {
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&seen);
        let observer = move |_: &FailoverEvent| {
            counter.fetch_add(1, Ordering::SeqCst);
        };
        let config = ChainConfig::default().transient_retries(0);
        let builder = Registry::builder().without_env();
        let builder = if observer_first {
            builder.observer(observer).chain_config(config)
        } else {
            builder.chain_config(config).observer(observer)
        };
        let registry = builder.build();
        assert_eq!(registry.chain_config().transient_retries, 0);
        let fake = FakeProvider::new("fake");
        fake.push("a", Outcome::status(503))
            .set_default("b", Outcome::text("from b"));
        registry.register_provider(fake.clone());
        generated(&registry.parse("fake/a,fake/b").unwrap(), hi()).await;
        assert_eq!(
            seen.load(Ordering::SeqCst),
            1,
            "observer_first={observer_first}"
        );
    }
}

// ----- 8. a chain streams what its model streams -----

/// A registry whose fake model `batch` answers `text` and declares it
/// cannot stream.
fn batch_only(text: &str) -> (Registry, FakeProvider) {
    let fake = FakeProvider::new("fake");
    fake.set_capabilities("batch", Capabilities::unknown().streaming(false))
        .set_default("batch", Outcome::text(text));
    let registry = Registry::builder().without_env().build();
    registry.register_provider(fake.clone());
    (registry, fake)
}

#[tokio::test]
async fn a_chain_of_one_streams_a_model_that_does_not_declare_streaming() {
    let (registry, fake) = batch_only("whole answer");
    let chain = registry.parse("fake/batch").unwrap();

    let alone = majordomo::Provider::model(&fake, "batch")
        .unwrap()
        .stream(hi())
        .await
        .unwrap()
        .into_response()
        .await
        .unwrap();
    let through_chain = streamed(&chain, hi()).await;
    assert_eq!(through_chain.text(), "whole answer");
    assert_eq!(through_chain.text(), alone.text());
}

// ----- 10. output a person can read -----

#[tokio::test]
async fn failover_lines_are_one_line_and_say_how_long_a_bench_lasts() {
    let clock = FakeClock::new();
    let recorder = Recorder::default();
    let fake = FakeProvider::new("fake");
    fake.push(
        "a",
        Outcome::error(Error::api(503, "upstream broke:\nline two\r\n\tline three")),
    )
    .set_default("b", Outcome::text("from b"));
    let registry = Registry::builder()
        .without_env()
        .clock(clock.clone())
        .health_config(HealthConfig::default().failure_threshold(1))
        .chain_config(recorder.install(ChainConfig::default().transient_retries(0)))
        .build();
    registry.register_provider(fake);
    let chain = registry.parse("fake/a,fake/b").unwrap();
    generated(&chain, hi()).await;
    let reply = generated(&chain, hi()).await;

    let lines: Vec<String> = recorder.events().iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert!(!line.contains(['\n', '\r', '\t']), "{line:?}");
        assert!(!line.contains("unix"), "{line}");
    }
    assert!(
        lines[0].contains("upstream broke: line two line three"),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with("(benched for 30s)"), "{}", lines[0]);
    assert!(lines[1].contains("(benched for 30s)"), "{}", lines[1]);
    assert_eq!(
        reply.attempts[0].to_string(),
        "fake/a skipped: benched for 30s"
    );
}

#[tokio::test]
async fn a_placeholder_code_is_not_shown_as_a_code() {
    let err = openai_error(
        400,
        r#"{"error":{"message":"bad request","type":null,"param":null,"code":"None"}}"#,
    )
    .await;
    assert_eq!(err.code(), None, "{err:?}");
    assert!(!err.to_string().contains("None"), "{err}");
}

#[test]
fn registering_reports_the_provider_it_replaces() {
    let registry = Registry::builder().without_env().build();
    let mine = FakeProvider::new("fake");
    assert!(registry.register_provider(mine).is_none());
    let replaced = registry.register_provider(FakeProvider::always_text("fake", "hi"));
    assert_eq!(
        replaced.map(|p| p.name().to_owned()).as_deref(),
        Some("fake")
    );
    // A fake named otherwise leaves yours alone.
    assert!(
        registry
            .register_provider(FakeProvider::always_text("canned", "hi"))
            .is_none()
    );
}

#[tokio::test]
async fn streamed_text_deltas_survive_a_chain_of_one_replay() {
    let (registry, _) = batch_only("abc");
    let mut stream = opened(&registry.parse("fake/batch").unwrap(), hi()).await;
    let mut text = String::new();
    while let Some(event) = futures::StreamExt::next(&mut stream).await {
        if let StreamEvent::TextDelta { text: delta } = event.unwrap() {
            text.push_str(&delta);
        }
    }
    assert_eq!(text, "abc");
}
