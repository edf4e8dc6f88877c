//! What a chain adds to a call: a one-target chain versus calling the same
//! fake model directly, the same chain with a usage sink installed, and a
//! three-target chain whose first two targets are
//! benched (two health lookups and two skips before the answer).
//!
//! ```sh
//! cargo bench --bench chain -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! The fake provider records every request it receives, so each sample builds
//! a fresh one (`iter_custom`) and memory stays flat however long the run.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use majordomo::health::{FakeClock, HealthConfig, HealthTracker};
use majordomo::providers::fake::{FakeProvider, Outcome};
use majordomo::{Chain, ChainConfig, ChainTarget, Model, Provider, Request, Target, UsageRecord};

fn fake() -> FakeProvider {
    let fake = FakeProvider::new("fake");
    fake.set_default_all(Outcome::text("ok"));
    fake
}

fn chain(fake: &FakeProvider, models: &[&str], health: &HealthTracker) -> Chain {
    chain_with(fake, models, health, ChainConfig::default())
}

fn chain_with(
    fake: &FakeProvider,
    models: &[&str],
    health: &HealthTracker,
    config: ChainConfig,
) -> Chain {
    let targets = models
        .iter()
        .map(|m| {
            let target = Target::new("fake", m).expect("valid target");
            ChainTarget::new(target, None, fake.model(m).expect("fake model"))
        })
        .collect();
    Chain::new(targets, health.clone(), Arc::new(config))
}

fn health() -> HealthTracker {
    HealthTracker::new(HealthConfig::default(), Arc::new(FakeClock::new()))
}

async fn run(model: &dyn Model, iters: u64) -> Duration {
    let request = Request::new().user("hi");
    let start = Instant::now();
    for _ in 0..iters {
        let reply = model.generate(request.clone()).await.expect("answer");
        std::hint::black_box(reply);
    }
    start.elapsed()
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("chain");

    group.bench_function("direct fake model", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let fake = fake();
            let model = fake.model("m").expect("fake model");
            run(&*model, iters).await
        })
    });

    group.bench_function("one-target chain", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let fake = fake();
            let chain = chain(&fake, &["m"], &health());
            run(&chain, iters).await
        })
    });

    group.bench_function("one-target chain with a usage sink", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let fake = fake();
            let config = ChainConfig::default().usage_sink(|record: &UsageRecord| {
                std::hint::black_box(record);
            });
            let chain = chain_with(&fake, &["m"], &health(), config);
            let took = run(&chain, iters).await;
            chain.config().flush_usage().await;
            took
        })
    });

    group.bench_function("three-target chain, first two benched", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let fake = fake();
            let health = health();
            for m in ["a", "b"] {
                let target = Target::new("fake", m).expect("valid target");
                health
                    .record_failure(&target, Some(Duration::from_secs(3600)))
                    .await;
            }
            let chain = chain(&fake, &["a", "b", "m"], &health);
            run(&chain, iters).await
        })
    });

    group.finish();
}

criterion_group!(chain_benches, benches);
criterion_main!(chain_benches);
