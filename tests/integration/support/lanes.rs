//! Helpers for the lanes and timeout tests: a decorator that measures how many
//! calls run at once, a deterministic random source, and ordered submission.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use majordomo::lanes::Lane;
use majordomo::{Capabilities, EventStream, Model, Provider, Request, Response, Result};

/// Counts calls in flight below a decorator (high-water mark) and records the
/// caller id of each call in the order calls start.
#[derive(Debug, Default)]
pub struct Gauge {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    started: Mutex<Vec<String>>,
}

impl Gauge {
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Caller ids in the order their calls started.
    pub fn order(&self) -> Vec<String> {
        self.started.lock().unwrap().clone()
    }

    fn enter(self: &Arc<Self>, request: &Request) -> InFlight {
        let caller = request.call_context().caller_id.as_deref().unwrap_or("");
        self.started.lock().unwrap().push(caller.to_owned());
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

struct InFlight(Arc<Gauge>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A provider whose models report to `gauge` around the inner model's calls.
pub struct Gauged {
    pub inner: Arc<dyn Provider>,
    pub gauge: Arc<Gauge>,
}

impl Provider for Gauged {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn model(&self, id: &str) -> Result<Arc<dyn Model>> {
        Ok(Arc::new(GaugedModel {
            inner: self.inner.model(id)?,
            gauge: self.gauge.clone(),
        }))
    }
}

struct GaugedModel {
    inner: Arc<dyn Model>,
    gauge: Arc<Gauge>,
}

#[async_trait]
impl Model for GaugedModel {
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }

    async fn generate(&self, request: Request) -> Result<Response> {
        let _in_flight = self.gauge.enter(&request);
        self.inner.generate(request).await
    }

    async fn stream(&self, request: Request) -> Result<EventStream> {
        let _in_flight = self.gauge.enter(&request);
        self.inner.stream(request).await
    }
}

/// A small deterministic xorshift generator, so stress tests replay exactly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    pub fn millis(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.below(max) + 1)
    }
}

/// Lets spawned tasks run until `lane` has `queued` calls waiting (no time passes).
pub async fn until_queued(lane: &Lane, queued: usize) {
    for _ in 0..10_000 {
        if lane.stats().queued >= queued {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!(
        "lane {} never reached {queued} queued calls: {:?}",
        lane.name(),
        lane.stats()
    );
}

/// Lets spawned tasks run without letting time pass.
pub async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}
