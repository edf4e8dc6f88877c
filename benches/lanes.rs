//! The added cost of a lane hop when the lane is free: the fake model called
//! directly versus through `LaneProvider` (one slot taken and released per call).
//!
//! ```sh
//! cargo bench --bench lanes
//! ```

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use majordomo::lanes::{LaneProvider, LaneRegistry};
use majordomo::providers::fake::FakeProvider;
use majordomo::{Model, Provider, Request};

fn lane_hop(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let fake = FakeProvider::always_text("fake", "ok");
    let direct = fake.model("m").unwrap_or_else(|e| panic!("{e}"));
    let laned = LaneProvider::new(Arc::new(fake.clone()), LaneRegistry::default())
        .model("m")
        .unwrap_or_else(|e| panic!("{e}"));
    let request = Request::new().user("hi").caller("bench");

    let mut group = c.benchmark_group("lane_hop");
    group.bench_function("fake_direct", |b| {
        b.to_async(&runtime)
            .iter(|| direct.generate(request.clone()))
    });
    group.bench_function("fake_through_lane", |b| {
        b.to_async(&runtime)
            .iter(|| laned.generate(request.clone()))
    });
    group.finish();
}

criterion_group!(benches, lane_hop);
criterion_main!(benches);
