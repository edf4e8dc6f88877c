//! Helpers for the chain tests: build chains over the fake provider and record
//! what the failover observer sees.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use majordomo::health::{FakeClock, HealthConfig, HealthTracker};
use majordomo::providers::fake::FakeProvider;
use majordomo::{Chain, ChainConfig, ChainTarget, FailoverEvent, Provider, ReasoningLevel, Target};

/// Every event the observer received, in order.
#[derive(Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<FailoverEvent>>>,
}

impl Recorder {
    /// Installs the recorder as `config`'s observer.
    pub fn install(&self, config: ChainConfig) -> ChainConfig {
        let recorder = self.clone();
        config.observer(move |event: &FailoverEvent| recorder.push(event))
    }

    /// Records `event`.
    pub fn push(&self, event: &FailoverEvent) {
        self.events.lock().unwrap().push(event.clone());
    }

    /// The events so far.
    pub fn events(&self) -> Vec<FailoverEvent> {
        self.events.lock().unwrap().clone()
    }

    /// The events so far as `target:attempt:action` (`chain` for no target).
    pub fn steps(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| {
                let target = e
                    .target
                    .as_ref()
                    .map_or("chain".to_owned(), Target::to_string);
                format!("{target}:{}:{}", e.attempt, e.action)
            })
            .collect()
    }

    /// Forgets the events so far.
    pub fn clear(&self) {
        self.events.lock().unwrap().clear();
    }
}

/// A chain over models of `fake`; an element may carry a `#level` suffix.
pub fn chain_over(
    fake: &FakeProvider,
    elements: &[&str],
    health: &HealthTracker,
    config: ChainConfig,
) -> Chain {
    let target = |element: &&str| {
        let (model, level) = match element.split_once('#') {
            Some((model, level)) => (model, Some(level.parse::<ReasoningLevel>().unwrap())),
            None => (*element, None),
        };
        let target = Target::new(fake.name(), model).unwrap();
        ChainTarget::new(target, level, fake.model(model).unwrap())
    };
    let targets = elements.iter().map(target).collect();
    Chain::new(targets, health.clone(), Arc::new(config))
}

/// A fake provider, a fake clock, a tracker on it, a chain over `elements`
/// with `config` and a recorder installed.
pub struct Rig {
    pub fake: FakeProvider,
    pub clock: FakeClock,
    pub health: HealthTracker,
    pub recorder: Recorder,
}

impl Rig {
    /// A rig with health settings `health`.
    pub fn new(health: HealthConfig) -> Self {
        let clock = FakeClock::new();
        Rig {
            fake: FakeProvider::new("fake"),
            health: HealthTracker::new(health, Arc::new(clock.clone())),
            clock,
            recorder: Recorder::default(),
        }
    }

    /// A chain over `elements` of the rig's fake, reporting to its recorder.
    pub fn chain(&self, elements: &[&str], config: ChainConfig) -> Chain {
        chain_over(
            &self.fake,
            elements,
            &self.health,
            self.recorder.install(config),
        )
    }

    /// The target `fake/model`.
    pub fn target(&self, model: &str) -> Target {
        Target::new("fake", model).unwrap()
    }

    /// How many calls in a row to `fake/model` have failed.
    pub async fn failures(&self, model: &str) -> u32 {
        self.health
            .state(&self.target(model))
            .await
            .consecutive_failures
    }

    /// How long `model` stays benched from now, if it is benched.
    pub async fn benched_for(&self, model: &str) -> Option<Duration> {
        let at = self.health.admitted_at(&self.target(model)).await?;
        Some(at.duration_since(self.health.now()).unwrap())
    }
}

/// A tracing subscriber that keeps every span's name and fields, for
/// checking the chain's `gen_ai.*` spans. Install with
/// [`SpanLog::install`] on a current-thread runtime.
#[derive(Clone, Default)]
pub struct SpanLog {
    spans: Arc<Mutex<Vec<(String, SpanFields)>>>,
}

thread_local! {
    static CURRENT: std::cell::RefCell<Option<tracing::Dispatch>> = const { std::cell::RefCell::new(None) };
}

/// The process-wide subscriber: it forwards to the thread's installed
/// dispatcher ([`SpanLog::install`], [`install_dispatch`]), if any. A
/// thread-local `set_default` is racy in a test binary whose other threads
/// register the same callsites first (their interest can be cached as
/// "never" before this thread's dispatcher exists); one global subscriber
/// that always answers "sometimes" has no such window.
struct Router;

impl Router {
    fn with<T>(f: impl FnOnce(&tracing::Dispatch) -> T) -> Option<T> {
        CURRENT.with(|current| current.borrow().as_ref().map(f))
    }
}

impl tracing::Subscriber for Router {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        Router::with(|d| d.enabled(metadata)).unwrap_or(false)
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        Router::with(|d| d.new_span(span)).unwrap_or_else(|| tracing::span::Id::from_u64(u64::MAX))
    }

    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        Router::with(|d| d.record(span, values));
    }

    fn record_follows_from(&self, span: &tracing::span::Id, follows: &tracing::span::Id) {
        Router::with(|d| d.record_follows_from(span, follows));
    }

    fn event(&self, event: &tracing::Event<'_>) {
        Router::with(|d| d.event(event));
    }

    fn enter(&self, span: &tracing::span::Id) {
        Router::with(|d| d.enter(span));
    }

    fn exit(&self, span: &tracing::span::Id) {
        Router::with(|d| d.exit(span));
    }

    fn clone_span(&self, id: &tracing::span::Id) -> tracing::span::Id {
        Router::with(|d| d.clone_span(id)).unwrap_or_else(|| id.clone())
    }

    fn try_close(&self, id: tracing::span::Id) -> bool {
        Router::with(|d| d.try_close(id)).unwrap_or(false)
    }

    fn current_span(&self) -> tracing_core::span::Current {
        Router::with(|d| d.current_span()).unwrap_or_else(tracing_core::span::Current::none)
    }
}

/// Uninstalls the thread's dispatcher when dropped.
pub struct SpanLogGuard;

impl Drop for SpanLogGuard {
    fn drop(&mut self) {
        CURRENT.with(|current| *current.borrow_mut() = None);
    }
}

/// Routes this thread's spans to `dispatch` until the guard drops (through
/// the one global subscriber, see `Router`). Use on a current-thread runtime.
pub fn install_dispatch(dispatch: tracing::Dispatch) -> SpanLogGuard {
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        // Fails only if another global subscriber exists; the tests set none.
        let _ = tracing::subscriber::set_global_default(Router);
    });
    CURRENT.with(|current| *current.borrow_mut() = Some(dispatch));
    SpanLogGuard
}

/// A span's fields by name, values as text.
pub type SpanFields = std::collections::BTreeMap<String, String>;

impl SpanLog {
    /// Records this thread's spans in `self` until the guard drops.
    pub fn install(&self) -> SpanLogGuard {
        install_dispatch(tracing::Dispatch::new(self.clone()))
    }

    /// Spans named `name`, as their fields.
    pub fn named(&self, name: &str) -> Vec<SpanFields> {
        let spans = self.spans.lock().unwrap();
        spans
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .collect()
    }
}

struct Fields<'a>(&'a mut SpanFields);

impl tracing::field::Visit for Fields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl tracing::Subscriber for SpanLog {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = SpanFields::new();
        span.record(&mut Fields(&mut fields));
        let mut spans = self.spans.lock().unwrap();
        spans.push((span.metadata().name().to_owned(), fields));
        tracing::span::Id::from_u64(spans.len() as u64)
    }

    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut spans = self.spans.lock().unwrap();
        let Some(entry) = usize::try_from(span.into_u64())
            .ok()
            .and_then(|id| id.checked_sub(1))
            .and_then(|index| spans.get_mut(index))
        else {
            return;
        };
        values.record(&mut Fields(&mut entry.1));
    }

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, _: &tracing::Event<'_>) {}

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}
