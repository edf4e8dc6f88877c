//! Health tracking: which targets are benched, and until when (design §3).
//!
//! Consecutive failures reaching a threshold bench a target for a cooldown that
//! grows with each bench round; a success resets everything; an expired bench
//! re-admits the target but keeps its failure count, so one more failure
//! re-benches it at once (half-open). Time comes from an injected [`Clock`], so
//! tests move it by hand with [`FakeClock`].

mod clock;
mod state;
mod store;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use clock::{Clock, FakeClock, SystemClock};
pub use state::TargetHealth;
pub use store::{HealthStore, MemoryStore};

use crate::Target;

/// Health tracker settings.
///
/// ```
/// use std::time::Duration;
/// use majordomo::health::HealthConfig;
/// let config = HealthConfig::default()
///     .failure_threshold(2)
///     .base_cooldown(Duration::from_secs(10));
/// assert_eq!(config.cooldown_for_round(3), Duration::from_secs(40));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HealthConfig {
    /// Consecutive failures that bench a target. Default: 3. Values below 1 act as 1.
    pub failure_threshold: u32,
    /// Cooldown of the first bench round. Default: 30 s.
    pub base_cooldown: Duration,
    /// Growth of the cooldown per round. Default: 2.0. Values below 1 act as 1.
    pub multiplier: f64,
    /// Cap on the cooldown. Default: 10 minutes.
    pub max_cooldown: Duration,
    /// Cap on a provider's `Retry-After`, so a bogus hint cannot bench a
    /// target for days. Default: 1 hour.
    pub max_retry_after: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            failure_threshold: 3,
            base_cooldown: Duration::from_secs(30),
            multiplier: 2.0,
            max_cooldown: Duration::from_secs(600),
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

impl HealthConfig {
    /// Sets the failure threshold.
    pub fn failure_threshold(mut self, failures: u32) -> Self {
        self.failure_threshold = failures.max(1);
        self
    }

    /// Sets the first round's cooldown.
    pub fn base_cooldown(mut self, cooldown: Duration) -> Self {
        self.base_cooldown = cooldown;
        self
    }

    /// Sets the per-round growth.
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets the cooldown cap.
    pub fn max_cooldown(mut self, cooldown: Duration) -> Self {
        self.max_cooldown = cooldown;
        self
    }

    /// Sets the cap on honoured `Retry-After` values.
    pub fn max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap;
        self
    }

    /// The cooldown of bench round `round` (1-based): `base * multiplier^(round-1)`,
    /// capped at `max_cooldown`.
    pub fn cooldown_for_round(&self, round: u32) -> Duration {
        let multiplier = if self.multiplier.is_finite() && self.multiplier >= 1.0 {
            self.multiplier
        } else {
            1.0
        };
        let exponent = i32::try_from(round.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.base_cooldown.as_secs_f64() * multiplier.powi(exponent);
        let cap = self.max_cooldown.as_secs_f64();
        if !secs.is_finite() || secs >= cap {
            self.max_cooldown
        } else {
            Duration::from_secs_f64(secs)
        }
    }
}

/// A diagnostic view of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TargetStatus {
    /// The `provider/model` key.
    pub target: String,
    /// The raw record.
    pub health: TargetHealth,
    /// When the target is admitted again, if benched now.
    pub admitted_at: Option<SystemTime>,
}

/// Tracks per-target health. Cheap to clone (shared state).
///
/// A store that fails (a shared store that is unreachable) never fails a call:
/// the tracker logs it and treats the target as healthy.
#[derive(Clone)]
pub struct HealthTracker {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn HealthStore>,
    clock: Arc<dyn Clock>,
    config: HealthConfig,
}

impl HealthTracker {
    /// A tracker over an in-memory store.
    pub fn new(config: HealthConfig, clock: Arc<dyn Clock>) -> Self {
        Self::with_store(config, clock, Arc::new(MemoryStore::new()))
    }

    /// A tracker over `store`.
    pub fn with_store(
        config: HealthConfig,
        clock: Arc<dyn Clock>,
        store: Arc<dyn HealthStore>,
    ) -> Self {
        HealthTracker {
            inner: Arc::new(Inner {
                store,
                clock,
                config,
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &HealthConfig {
        &self.inner.config
    }

    /// The clock health reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The current time on the tracker's clock.
    pub fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// The record for `target` (a clean record if none).
    pub async fn state(&self, target: &Target) -> TargetHealth {
        match self.inner.store.get(target.as_str()).await {
            Ok(state) => state.unwrap_or_default(),
            Err(error) => {
                tracing::warn!(target = %target, %error, "health store read failed; treating target as healthy");
                TargetHealth::default()
            }
        }
    }

    /// True while `target` is benched.
    pub async fn is_benched(&self, target: &Target) -> bool {
        self.admitted_at(target).await.is_some()
    }

    /// When `target` is admitted again, if it is benched now.
    pub async fn admitted_at(&self, target: &Target) -> Option<SystemTime> {
        self.state(target).await.admitted_at(self.now())
    }

    /// Records a failure (with the provider's `Retry-After`, if any) and returns
    /// the new record.
    pub async fn record_failure(
        &self,
        target: &Target,
        retry_after: Option<Duration>,
    ) -> TargetHealth {
        let now = self.now();
        match self
            .inner
            .store
            .record_failure(target.as_str(), now, &self.inner.config, retry_after)
            .await
        {
            Ok(state) => {
                if let Some(until) = state.admitted_at(now) {
                    tracing::debug!(target = %target, failures = state.consecutive_failures, round = state.bench_rounds, until = ?until, "target benched");
                }
                state
            }
            Err(error) => {
                tracing::warn!(target = %target, %error, "health store write failed");
                TargetHealth::default()
            }
        }
    }

    /// Records a success: the target's record resets.
    pub async fn record_success(&self, target: &Target) {
        if let Err(error) = self.inner.store.record_success(target.as_str()).await {
            tracing::warn!(target = %target, %error, "health store write failed");
        }
    }

    /// Every known target's state, sorted by target.
    pub async fn snapshot(&self) -> Vec<TargetStatus> {
        let now = self.now();
        match self.inner.store.snapshot().await {
            Ok(all) => all
                .into_iter()
                .map(|(target, health)| TargetStatus {
                    admitted_at: health.admitted_at(now),
                    target,
                    health,
                })
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "health store snapshot failed");
                Vec::new()
            }
        }
    }
}

impl fmt::Debug for HealthTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthTracker")
            .field("config", &self.inner.config)
            .field("clock", &self.inner.clock)
            .field("store", &self.inner.store)
            .finish()
    }
}

impl Default for HealthTracker {
    fn default() -> Self {
        HealthTracker::new(HealthConfig::default(), Arc::new(SystemClock))
    }
}
