//! The cost of routing inside a group (ADR 0018): choosing one member of a
//! 4-member group by each strategy and by affinity key (goal: under 200 ns),
//! the in-flight bookkeeping around a call, and a whole call through a
//! 4-member group next to a one-target chain.
//!
//! ```sh
//! cargo bench --bench routing -- --warm-up-time 1 --measurement-time 3
//! ```

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use majordomo::health::{FakeClock, HealthConfig, HealthTracker};
use majordomo::providers::fake::FakeProvider;
use majordomo::{
    Balancer, Chain, ChainConfig, ChainTarget, Model, Provider, Request, RoutingStrategy, Target,
};

const MEMBERS: [(&str, u32); 4] = [
    ("openai/gpt-4o", 3),
    ("azure/gpt-4o", 1),
    ("openrouter/openai/gpt-4o", 1),
    ("local/gpt-4o", 2),
];

fn picks(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick one of 4");
    for strategy in [
        RoutingStrategy::PeakEwma,
        RoutingStrategy::WeightedRandom,
        RoutingStrategy::RoundRobin,
        RoutingStrategy::LeastInFlight,
    ] {
        let balancer = Balancer::new(&MEMBERS, strategy, Some(1));
        // Every member has answered once, so peak-EWMA compares scores.
        for member in 0..MEMBERS.len() {
            balancer.observe(member, Duration::from_millis(100 + 10 * member as u64));
        }
        group.bench_function(strategy.as_str(), |b| {
            b.iter(|| balancer.pick(black_box(0b1111), None))
        });
    }
    let balancer = Balancer::new(&MEMBERS, RoutingStrategy::PeakEwma, Some(1));
    group.bench_function("affinity key", |b| {
        b.iter(|| balancer.pick(black_box(0b1111), Some(black_box("conversation-42"))))
    });
    group.bench_function("begin + finish (in-flight and latency bookkeeping)", |b| {
        b.iter(|| balancer.begin(black_box(2)).finish())
    });
    group.finish();
}

fn chain(fake: &FakeProvider, elements: Vec<Vec<&str>>) -> Chain {
    let elements = elements
        .into_iter()
        .map(|members| {
            members
                .into_iter()
                .map(|m| {
                    let target = Target::new("fake", m).expect("valid target");
                    ChainTarget::new(target, None, fake.model(m).expect("fake model"))
                })
                .collect()
        })
        .collect();
    let health = HealthTracker::new(HealthConfig::default(), Arc::new(FakeClock::new()));
    Chain::grouped(elements, health, Arc::new(ChainConfig::default())).expect("chain")
}

async fn run(model: &dyn Model, iters: u64) -> Duration {
    let request = Request::new().user("hi");
    let start = Instant::now();
    for _ in 0..iters {
        let reply = model.generate(request.clone()).await.expect("answer");
        black_box(reply);
    }
    start.elapsed()
}

fn calls(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("call");
    group.bench_function("one-target chain", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let fake = FakeProvider::always_text("fake", "ok");
            run(&chain(&fake, vec![vec!["m"]]), iters).await
        })
    });
    group.bench_function("4-member group", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let fake = FakeProvider::always_text("fake", "ok");
            run(&chain(&fake, vec![vec!["a", "b", "c", "d"]]), iters).await
        })
    });
    group.finish();
}

criterion_group!(routing_benches, picks, calls);
criterion_main!(routing_benches);
