//! Integration tests: health shared across replicas through a real
//! `redis-server` (feature `redis`). Each test starts its own server on a
//! free port; two stores on one server and namespace are two replicas.
//!
//! Health time is a `FakeClock` shared by the replicas; Redis time is real.
//! Waiting for an update to cross replicas polls with a bounded loop. The
//! outage tests assert only "the call did not wait for Redis": Redis is
//! paused, asleep or hung for far longer than the calls take.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use majordomo::health::{
    Admission, Clock, FakeClock, HealthConfig, HealthStore, HealthTracker, RedisStore, TargetHealth,
};
use majordomo::providers::fake::{FakeProvider, Outcome};
use majordomo::{AttemptOutcome, Registry, Request, Target};
use proptest::prelude::*;

use crate::support::call::generated;
use crate::support::redis_server::{RedisServer, eventually};

fn t(s: &str) -> Target {
    s.parse().unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A replica's store on `server`, in `namespace`.
fn store(server: &RedisServer, namespace: &str) -> RedisStore {
    RedisStore::builder(server.url())
        .namespace(namespace)
        .build()
        .unwrap()
}

/// A store that has read the namespace once (so writes get Redis's answer).
async fn synced_store(server: &RedisServer, namespace: &str) -> RedisStore {
    let store = store(server, namespace);
    tokio::time::timeout(secs(10), store.synced(0))
        .await
        .expect("the store connects and resyncs");
    store
}

/// Polls until `health` sees `target` benched.
async fn benched_eventually(health: &HealthTracker, target: &str) -> bool {
    let target = t(target);
    eventually(|| health.is_benched(&target)).await
}

/// Two replicas' trackers over `stores` (each synced once) and their shared clock.
async fn replicas(
    stores: [RedisStore; 2],
    config: HealthConfig,
) -> (FakeClock, HealthTracker, HealthTracker) {
    for store in &stores {
        tokio::time::timeout(secs(10), store.synced(0))
            .await
            .expect("the store connects and resyncs");
    }
    let clock = FakeClock::new();
    let [a, b] = stores.map(|store| tracker(&store, &clock, config.clone()));
    (clock, a, b)
}

fn tracker(store: &RedisStore, clock: &FakeClock, config: HealthConfig) -> HealthTracker {
    HealthTracker::with_store(config, Arc::new(clock.clone()), Arc::new(store.clone()))
}

/// Two registries on one Redis namespace, each with its own fake provider
/// `p` whose model `m` always fails with 503 and `q/n` answering.
fn replica(store: RedisStore, clock: &FakeClock) -> (Registry, FakeProvider) {
    let registry = Registry::builder()
        .env_vars(std::iter::empty::<(String, String)>())
        .clock(clock.clone())
        .health_config(HealthConfig::default().failure_threshold(1))
        .health_store(store)
        .build();
    let p = FakeProvider::new("p");
    p.set_default("m", Outcome::status(503));
    registry.register_provider(p.clone());
    registry.register_provider(FakeProvider::always_text("q", "fine"));
    (registry, p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_a_bench() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let clock = FakeClock::new();
    let (a, a_fake) = replica(synced_store(&server, "share").await, &clock);
    let (b, b_fake) = replica(synced_store(&server, "share").await, &clock);
    let pm = t("p/m");

    let answer = generated(&a.parse("p/m,q/n").unwrap(), Request::new().user("hi")).await;
    assert_eq!(answer.text(), "fine");
    assert_eq!(a_fake.calls("m"), 1);
    assert!(a.health().is_benched(&pm).await, "A benched p/m itself");

    assert!(
        benched_eventually(b.health(), "p/m").await,
        "B learns of A's bench"
    );
    let answer = generated(&b.parse("p/m,q/n").unwrap(), Request::new().user("hi")).await;
    assert_eq!(answer.text(), "fine");
    assert_eq!(b_fake.calls("m"), 0, "B skips the target A benched");
    assert_eq!(answer.attempts[0].outcome, AttemptOutcome::Skipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_failures_from_both_replicas_count_once_each() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let (a, b) = (
        synced_store(&server, "count").await,
        synced_store(&server, "count").await,
    );
    let config = HealthConfig::default().failure_threshold(1000);
    let now = SystemTime::now();
    let writes = (0..40).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let config = config.clone();
        tokio::spawn(async move { store.record_failure("p/m", now, &config, None).await })
    });
    for write in futures::future::join_all(writes).await {
        write.unwrap().unwrap();
    }
    let mut con = server.connection().await.unwrap();
    let failures: u32 = redis::cmd("HGET")
        .arg("count:health:rec:p/m")
        .arg("f")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(failures, 40, "every failure of both replicas counts once");
    for store in [&a, &b] {
        assert!(
            eventually(|| async {
                store
                    .get("p/m")
                    .await
                    .unwrap()
                    .map(|h| h.consecutive_failures)
                    == Some(40)
            })
            .await,
            "both views converge on 40"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_holds_across_replicas() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let stores = [store(&server, "retry"), store(&server, "retry")];
    let (clock, a, b) = replicas(stores, HealthConfig::default().failure_threshold(5)).await;
    let pm = t("p/m");
    a.record_failure(&pm, Some(secs(20))).await;
    let until = clock.now() + secs(20);
    assert!(
        eventually(|| async { b.admitted_at(&pm).await == Some(until) }).await,
        "B honours A's Retry-After below the threshold"
    );
    clock.advance(secs(20));
    assert!(
        !b.is_benched(&pm).await,
        "and admits the target when it ends"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_probe_across_replicas_after_a_cooldown() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let config = HealthConfig::default()
        .failure_threshold(1)
        .base_cooldown(secs(10))
        .store_budget(secs(5));
    let stores = [store(&server, "probe"), store(&server, "probe")];
    let (clock, a, b) = replicas(stores, config).await;
    let pm = t("p/m");
    a.record_failure(&pm, None).await;
    assert!(benched_eventually(&b, "p/m").await);
    clock.advance(secs(10));

    let probe = a.admit(&pm).await;
    assert!(matches!(probe, Admission::Probe(_)), "A probes: {probe:?}");
    for _ in 0..3 {
        let other = b.admit(&pm).await;
        assert!(
            matches!(other, Admission::ProbeInFlight),
            "B keeps treating the target as benched while A probes: {other:?}"
        );
    }
    drop(probe); // A's probe ends (say, cancelled): the lease goes
    assert!(
        eventually(|| async { matches!(b.admit(&pm).await, Admission::Probe(_)) }).await,
        "B may probe once A's lease is released"
    );
    // A success from the probe reopens the target everywhere.
    b.record_success(&pm).await;
    assert!(eventually(|| async { a.state(&pm).await.is_clean() }).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_expire() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let store = RedisStore::builder(server.url())
        .namespace("ttl")
        .record_ttl(Duration::from_millis(1500))
        .build()
        .unwrap();
    tokio::time::timeout(secs(10), store.synced(0))
        .await
        .unwrap();
    let config = HealthConfig::default()
        .failure_threshold(1)
        .base_cooldown(Duration::from_millis(1000));
    store
        .record_failure("p/m", SystemTime::now(), &config, None)
        .await
        .unwrap();
    let con = server.connection().await.unwrap();
    // The write may still be queued when `record_failure` answers from the
    // local view (a store that is not connected yet answers at once): wait
    // for the record to exist before reading its lifetime.
    let read = std::sync::atomic::AtomicI64::new(-2);
    let stored = eventually(|| {
        let (mut con, read) = (con.clone(), &read);
        async move {
            let ttl: i64 = redis::cmd("PTTL")
                .arg("ttl:health:rec:p/m")
                .query_async(&mut con)
                .await
                .unwrap();
            read.store(ttl, std::sync::atomic::Ordering::Relaxed);
            ttl != -2
        }
    })
    .await;
    assert!(stored, "the record reaches Redis");
    let ttl = read.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        // Generous bounds: a loaded CI machine may stall between the write
        // and this read.
        (1..=2500).contains(&ttl),
        "the record lives for its bench (1 s) plus record_ttl (1.5 s): {ttl} ms"
    );
    assert!(
        eventually(|| {
            let mut con = con.clone();
            async move {
                let exists: i64 = redis::cmd("EXISTS")
                    .arg("ttl:health:rec:p/m")
                    .query_async(&mut con)
                    .await
                    .unwrap();
                exists == 0
            }
        })
        .await,
        "Redis drops the record"
    );
    store.resync().await.unwrap();
    assert_eq!(
        store.get("p/m").await.unwrap(),
        None,
        "and so does the view"
    );
}

/// One call of each kind on `tracker`, each of which must not wait for Redis.
async fn calls_go_on(tracker: &HealthTracker, target: &Target) {
    tracker.record_failure(target, None).await;
    let _ = tracker.admit(target).await;
    tracker.state(target).await;
    tracker.snapshot().await;
}

/// Two replicas' trackers (threshold 1) on patient stores.
async fn patient_replicas(server: &RedisServer, namespace: &str) -> (HealthTracker, HealthTracker) {
    let stores = [
        patient_store(server, namespace),
        patient_store(server, namespace),
    ];
    let (_, a, b) = replicas(stores, HealthConfig::default().failure_threshold(1)).await;
    (a, b)
}

/// A Redis server and two patient replicas on it (`None`: no `redis-server`).
async fn patient_pair(namespace: &str) -> Option<(RedisServer, HealthTracker, HealthTracker)> {
    let server = RedisServer::start().await?;
    let (a, b) = patient_replicas(&server, namespace).await;
    Some((server, a, b))
}

/// Stores whose Redis commands may take far longer than any call should.
fn patient_store(server: &RedisServer, namespace: &str) -> RedisStore {
    RedisStore::builder(server.url())
        .namespace(namespace)
        .op_timeout(secs(30))
        .resync_interval(Duration::from_millis(100))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_then_restarted() {
    let Some(mut server) = RedisServer::start().await else {
        return;
    };
    let (a, b) = patient_replicas(&server, "kill").await;

    server.kill();
    let began = Instant::now();
    calls_go_on(&a, &t("p/down")).await;
    calls_go_on(&b, &t("p/other")).await;
    assert!(
        began.elapsed() < secs(15),
        "calls did not wait for Redis (op timeout 30 s)"
    );
    assert!(
        a.is_benched(&t("p/down")).await,
        "A benches on its own view meanwhile"
    );

    server.restart().await;
    assert!(
        benched_eventually(&b, "p/down").await,
        "the write A queued while Redis was down reaches B after the restart"
    );
    a.record_failure(&t("p/after"), None).await;
    assert!(
        benched_eventually(&b, "p/after").await,
        "B resubscribed: new benches arrive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_calls_go_on_and_state_syncs_after() {
    let Some((server, a, b)) = patient_pair("pause").await else {
        return;
    };

    let mut con = server.connection().await.unwrap();
    // Long enough that a loaded CI machine still answers every call inside it.
    let pause = Duration::from_millis(10_000);
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(pause.as_millis() as u64)
        .arg("ALL")
        .query_async(&mut con)
        .await
        .unwrap();
    let paused = Instant::now();
    calls_go_on(&a, &t("p/m")).await;
    calls_go_on(&b, &t("p/n")).await;
    assert!(
        paused.elapsed() < pause,
        "every call answered while Redis was still paused"
    );
    assert!(
        benched_eventually(&b, "p/m").await,
        "after the pause, B has A's bench"
    );
    assert!(benched_eventually(&a, "p/n").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_slowed_calls_go_on_and_state_syncs_after() {
    let Some((server, a, b)) = patient_pair("slow").await else {
        return;
    };

    // DEBUG SLEEP blocks the whole server; the reply comes when it wakes.
    let mut con = server.connection().await.unwrap();
    let mut probe = server.connection().await.unwrap();
    let sleeper = tokio::spawn(async move {
        let _: redis::RedisResult<()> = redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(8)
            .query_async(&mut con)
            .await;
    });
    // The server is asleep once it stops answering a PING quickly.
    let asleep = eventually(|| {
        let mut probe = probe.clone();
        async move {
            tokio::time::timeout(
                Duration::from_millis(200),
                redis::cmd("PING").query_async::<String>(&mut probe),
            )
            .await
            .is_err()
        }
    })
    .await;
    assert!(asleep);
    calls_go_on(&a, &t("p/m")).await;
    calls_go_on(&b, &t("p/n")).await;
    assert!(
        !sleeper.is_finished(),
        "every call answered while Redis slept"
    );
    assert!(benched_eventually(&b, "p/m").await);
    assert!(benched_eventually(&a, "p/n").await);
    let _: String = redis::cmd("PING").query_async(&mut probe).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_never_stalls_a_call() {
    // A "Redis" that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&held);
    let acceptor = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            keep.lock().unwrap().push(socket);
        }
    });
    let store = RedisStore::builder(format!("redis://127.0.0.1:{port}/"))
        .op_timeout(secs(30))
        .build()
        .unwrap();
    let clock = FakeClock::new();
    let health = tracker(&store, &clock, HealthConfig::default().failure_threshold(1));
    let began = Instant::now();
    for _ in 0..5 {
        calls_go_on(&health, &t("p/m")).await;
        health.record_success(&t("p/m")).await;
    }
    assert!(
        began.elapsed() < secs(15),
        "no call waited for the hung Redis"
    );
    assert!(!store.is_connected());
    acceptor.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_past_the_queue_are_dropped_and_kept_locally() {
    let store = RedisStore::builder(format!("redis://127.0.0.1:{}/", free_port()))
        .queue_capacity(2)
        .build()
        .unwrap();
    let config = HealthConfig::default().failure_threshold(100);
    let mut dropped = 0;
    for _ in 0..10 {
        if store
            .record_failure("p/m", SystemTime::now(), &config, None)
            .await
            .is_err()
        {
            dropped += 1;
        }
    }
    assert!(
        (1..=8).contains(&dropped),
        "a bounded queue: later writes are dropped, at once ({dropped} dropped)"
    );
    let local = store.get("p/m").await.unwrap().unwrap();
    assert_eq!(
        local.consecutive_failures, 10,
        "the local view has them all"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_down_from_the_start_does_not_fail_the_build_or_a_call() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = RedisStore::builder(format!("redis://127.0.0.1:{port}/"))
        .build()
        .unwrap();
    let clock = FakeClock::new();
    let health = tracker(&store, &clock, HealthConfig::default().failure_threshold(1));
    health.record_failure(&t("p/m"), None).await;
    assert!(health.is_benched(&t("p/m")).await);
    assert!(store.resync().await.is_err());
}

/// Collects every tracing event's fields as text.
struct Capture(Arc<Mutex<String>>);

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Text<'a>(&'a mut String);
        impl tracing::field::Visit for Text<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        let mut out = self.0.lock().unwrap();
        event.record(&mut Text(&mut out));
        out.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_canary_password_is_never_printed() {
    const CANARY: &str = "canary-7f3a9-password";
    let logs = Arc::new(Mutex::new(String::new()));
    let subscriber = Capture(Arc::clone(&logs));
    let mut printed = Vec::new();
    // A current-thread runtime: the store's background tasks log on this
    // thread, into the capturing subscriber.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let Some(server) = RedisServer::start_with_password(CANARY).await else {
                return;
            };
            // The right password: it works.
            let good = synced_store(&server, "canary").await;
            printed.push(format!("{good:?}"));
            let registry = Registry::builder().health_store(good.clone()).build();
            printed.push(format!("{registry:?}"));
            // A wrong one, and a dead port: errors and logs.
            let wrong_url = server.url().replace(CANARY, &format!("{CANARY}-wrong"));
            let wrong = RedisStore::builder(&wrong_url).build().unwrap();
            printed.push(format!("{wrong:?} {:?}", RedisStore::builder(&wrong_url)));
            printed.push(wrong.resync().await.unwrap_err().to_string());
            let config = HealthConfig::default();
            let _ = wrong
                .record_failure("p/m", SystemTime::now(), &config, None)
                .await;
            if let Err(e) = wrong
                .try_begin_probe("p/m", SystemTime::now(), secs(1))
                .await
            {
                printed.push(format!("{e} {e:?}"));
            }
            let dead = format!("redis://:{CANARY}@127.0.0.1:{}/", free_port());
            let dead = RedisStore::builder(dead)
                .op_timeout(Duration::from_millis(200))
                .build()
                .unwrap();
            printed.push(dead.resync().await.unwrap_err().to_string());
            let bad = RedisStore::builder(format!("redis://:{CANARY}@[nonsense/"))
                .build()
                .unwrap_err();
            printed.push(format!("{bad} {bad:?}"));
            let tls = RedisStore::builder(format!("rediss://:{CANARY}@127.0.0.1:1/")).build();
            if let Err(e) = tls {
                printed.push(format!("{e} {e:?}"));
            }
            // Wait (bounded, no fixed sleep) until the background tasks have
            // failed and logged, so the check below reads real log lines.
            let seen = Arc::clone(&logs);
            eventually(|| {
                let seen = Arc::clone(&seen);
                async move { seen.lock().unwrap().contains("Redis") }
            })
            .await;
        });
    });
    let logs = logs.lock().unwrap().clone();
    if !printed.is_empty() {
        assert!(
            logs.contains("Redis"),
            "the capture saw the store's logs: {logs}"
        );
    }
    for text in printed.iter().chain(std::iter::once(&logs)) {
        assert!(!text.contains(CANARY), "the password leaked: {text}");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ===== the Lua script against TargetHealth::on_failure =====

#[derive(Debug, Clone)]
enum Step {
    Wait(u64),
    Fail(Option<u64>),
    Succeed,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u64..200_000).prop_map(Step::Wait),
        6 => prop_oneof![Just(None), (1u64..500_000).prop_map(Some)].prop_map(Step::Fail),
        1 => Just(Step::Succeed),
    ]
}

fn health_config() -> impl Strategy<Value = HealthConfig> {
    (
        1u32..5,
        1u64..60_000,
        prop_oneof![
            Just(1.0),
            Just(1.5),
            Just(2.0),
            Just(3.0),
            1.0f64..4.0,
            Just(0.5)
        ],
        1u64..900_000,
        1u64..400_000,
    )
        .prop_map(|(threshold, base, multiplier, cap, retry_cap)| {
            HealthConfig::default()
                .failure_threshold(threshold)
                .base_cooldown(Duration::from_millis(base))
                .multiplier(multiplier)
                .max_cooldown(Duration::from_millis(cap))
                .max_retry_after(Duration::from_millis(retry_cap))
        })
}

fn millis_of(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

#[test]
fn the_lua_script_applies_the_same_rules_as_target_health() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(server) = runtime.block_on(RedisServer::start()) else {
        return;
    };
    let store = runtime.block_on(synced_store(&server, "lua"));
    let case = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &(health_config(), proptest::collection::vec(step(), 1..30)),
            |(config, steps)| {
                let key = format!(
                    "p/case{}",
                    case.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                );
                let mut now = UNIX_EPOCH + Duration::from_millis(1_765_000_000_000);
                let mut expected = TargetHealth::default();
                runtime.block_on(async {
                    for step in &steps {
                        match step {
                            Step::Wait(ms) => now += Duration::from_millis(*ms),
                            Step::Fail(retry) => {
                                let retry = retry.map(Duration::from_millis);
                                expected.on_failure(now, &config, retry);
                                let got = store
                                    .record_failure(&key, now, &config, retry)
                                    .await
                                    .unwrap();
                                prop_assert_eq!(
                                    got.consecutive_failures,
                                    expected.consecutive_failures
                                );
                                prop_assert_eq!(got.bench_rounds, expected.bench_rounds);
                                prop_assert_eq!(
                                    got.benched_until.map(millis_of),
                                    expected.benched_until.map(millis_of),
                                    "benched_until after {:?}",
                                    step
                                );
                            }
                            Step::Succeed => {
                                expected.on_success();
                                store.record_success(&key).await.unwrap();
                            }
                        }
                    }
                    Ok(())
                })
            },
        )
        .unwrap();
}

/// Each run of the chat example is a fresh process: a bench it honours can
/// only have come from an earlier run, through Redis.
#[cfg(feature = "openai")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_the_chat_example_share_benches_through_redis() {
    use crate::chat_example::{run_chat, stderr};
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let Some(server) = RedisServer::start().await else {
        return;
    };
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&provider)
        .await;
    let env = [(
        "LLM_DOWN",
        format!("openai+http://sk-test@{}/v1", provider.address()),
    )];
    let url = server.url();
    let args = ["--redis", url.as_str(), "down/m", "hi"];
    let mut skipped = false;
    for _ in 0..5 {
        let before = provider.received_requests().await.unwrap_or_default().len();
        let output = run_chat(&env, &args).await;
        let after = provider.received_requests().await.unwrap_or_default().len();
        if stderr(&output).contains("skip-benched") {
            assert_eq!(before, after, "a benched target is not called");
            skipped = true;
            break;
        }
    }
    assert!(skipped, "a later run skips the target earlier runs benched");
}

/// `rediss://` (feature `redis-tls`) against a server that does not speak
/// TLS: a clean error, and the store keeps working on its local view.
#[cfg(feature = "redis-tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_urls_use_tls() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let url = server.url().replace("redis://", "rediss://");
    let store = RedisStore::builder(url)
        .op_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let error = store.resync().await.unwrap_err();
    assert!(!store.is_connected(), "no TLS, no connection: {error}");
    let config = HealthConfig::default().failure_threshold(1);
    store
        .record_failure("p/m", SystemTime::now(), &config, None)
        .await
        .unwrap();
    assert!(store.get("p/m").await.unwrap().is_some());
}
