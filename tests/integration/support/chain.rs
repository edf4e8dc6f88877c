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
    let targets = elements
        .iter()
        .map(|element| {
            let (model, level) = match element.split_once('#') {
                Some((model, level)) => (model, Some(level.parse::<ReasoningLevel>().unwrap())),
                None => (*element, None),
            };
            let target = Target::new(fake.name(), model).unwrap();
            ChainTarget::new(target, level, fake.model(model).unwrap())
        })
        .collect();
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

    /// How long `model` stays benched from now, if it is benched.
    pub async fn benched_for(&self, model: &str) -> Option<Duration> {
        let at = self.health.admitted_at(&self.target(model)).await?;
        Some(at.duration_since(self.health.now()).unwrap())
    }
}
