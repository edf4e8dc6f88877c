//! Health shared through Redis (feature `redis`): what the healthy path
//! costs with the Redis store versus the in-memory one, and how long a bench
//! recorded by one replica takes to reach another.
//!
//! ```sh
//! cargo bench --features redis --bench redis -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Starts its own `redis-server` on a free loopback port (no persistence);
//! without the binary it skips. The propagation lag is not a criterion
//! statistic: it is measured as a distribution (one replica records a
//! failure that benches a fresh target; the other's view is polled until it
//! shows the bench) and printed as percentiles before the criterion groups.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs, clippy::expect_used)]

use std::io::Write as _;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use majordomo::health::{HealthConfig, HealthStore, HealthTracker, RedisStore, SystemClock};
use majordomo::providers::fake::FakeProvider;
use majordomo::{Model as _, Registry, Request, Target};

/// A `redis-server` on a free port, killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start() -> Option<Server> {
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let url = format!("redis://127.0.0.1:{port}/");
        Some(Server { child, url })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn synced(url: &str, namespace: &str) -> RedisStore {
    // The server may still be starting: the store reconnects by itself.
    let store = RedisStore::builder(url)
        .namespace(namespace)
        .build()
        .expect("store");
    tokio::time::timeout(Duration::from_secs(10), store.synced(0))
        .await
        .expect("redis-server answers");
    store
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// One replica benches a fresh target; the other polls its view until it
/// shows the bench. Returns the lags, sorted.
async fn propagation(url: &str, samples: usize) -> Vec<Duration> {
    let a = synced(url, "lag").await;
    let b = synced(url, "lag").await;
    let config = HealthConfig::default().failure_threshold(1);
    let mut lags = Vec::with_capacity(samples);
    for i in 0..samples {
        let key = format!("p/m{i}");
        let start = Instant::now();
        let writer = {
            let (a, key, config) = (a.clone(), key.clone(), config.clone());
            tokio::spawn(async move {
                a.record_failure(&key, SystemTime::now(), &config, None)
                    .await
            })
        };
        loop {
            if b.get(&key).await.expect("view").is_some() {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "never arrived");
            tokio::task::yield_now().await;
        }
        lags.push(start.elapsed());
        writer.await.expect("task").expect("write");
    }
    lags.sort();
    lags
}

fn report(lags: &[Duration]) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "redis/propagation: {} samples, p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        lags.len(),
        percentile(lags, 0.50),
        percentile(lags, 0.90),
        percentile(lags, 0.99),
        lags[lags.len() - 1],
    );
}

fn benches(c: &mut Criterion) {
    let Some(server) = Server::start() else {
        let _ = writeln!(
            std::io::stdout(),
            "redis bench skipped: redis-server not on the PATH"
        );
        return;
    };
    // Two threads: the replicas' background tasks run beside the caller.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let full = std::env::args().any(|arg| arg == "--bench");
    let lags = rt.block_on(propagation(&server.url, if full { 1000 } else { 20 }));
    report(&lags);

    let memory = HealthTracker::new(HealthConfig::default(), Arc::new(SystemClock));
    let shared = rt.block_on(synced(&server.url, "hot"));
    let redis = HealthTracker::with_store(
        HealthConfig::default(),
        Arc::new(SystemClock),
        Arc::new(shared.clone()),
    );
    let target: Target = "fake/m".parse().expect("target");

    // The health part of a healthy call: admission, then the success record.
    let mut group = c.benchmark_group("healthy_path");
    for (name, health) in [("memory", &memory), ("redis", &redis)] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let admission = health.admit(&target).await;
                std::hint::black_box(admission.is_admitted());
                health.record_success(&target).await;
            });
        });
    }
    group.finish();

    // A whole call through a registry's one-target chain on the fake provider.
    let mut group = c.benchmark_group("healthy_call");
    for name in ["memory", "redis"] {
        let builder = Registry::builder().env_vars(std::iter::empty::<(String, String)>());
        let registry = if name == "redis" {
            builder.health_store(shared.clone()).build()
        } else {
            builder.build()
        };
        let request = Request::new().user("hi");
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                // A fresh fake per sample keeps its request log small.
                registry.register_provider(FakeProvider::always_text("fake", "ok"));
                let chain = registry.parse("fake/m").expect("spec");
                let request = request.clone();
                async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let reply = chain.generate(request.clone()).await.expect("answer");
                        std::hint::black_box(reply);
                    }
                    start.elapsed()
                }
            });
        });
    }
    group.finish();
    drop(server);
}

criterion_group!(redis_benches, benches);
criterion_main!(redis_benches);
