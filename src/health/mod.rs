//! Health tracking: which targets are benched, and until when (design §3).
//!
//! Consecutive failures reaching a threshold bench a target for a cooldown that
//! grows with each bench round; a success resets everything; an expired bench
//! re-admits the target but keeps its failure count, so one more failure
//! re-benches it at once (half-open). Time comes from an injected [`Clock`], so
//! tests move it by hand with [`FakeClock`].

mod clock;
mod probe;
#[cfg(feature = "redis")]
mod redis_scripts;
#[cfg(feature = "redis")]
mod redis_store;
mod state;
mod store;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;

pub use clock::{Clock, FakeClock, SystemClock};
pub use probe::{Admission, Probe};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis_store::{RedisStore, RedisStoreBuilder};
pub use state::TargetHealth;
pub use store::{HealthStore, MemoryStore};

use probe::ProbeSlots;

use crate::{Result, Target};

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
    /// Time budget of one health-store operation on the call path (a shared
    /// store only; the in-memory store answers at once). Past it, or on a
    /// store error, the call goes on with the in-process view and the write
    /// finishes in the background. Default: 50 ms.
    pub store_budget: Duration,
    /// How long a half-open probe holds its slot before another call may
    /// probe instead (a probe that hangs must not bench a target forever).
    /// Default: 2 minutes.
    pub probe_lease: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            failure_threshold: 3,
            base_cooldown: Duration::from_secs(30),
            multiplier: 2.0,
            max_cooldown: Duration::from_secs(600),
            max_retry_after: Duration::from_secs(3600),
            store_budget: Duration::from_millis(50),
            probe_lease: Duration::from_secs(120),
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

    /// Sets the time budget of one store operation on the call path.
    pub fn store_budget(mut self, budget: Duration) -> Self {
        self.store_budget = budget;
        self
    }

    /// Sets how long a half-open probe may hold its slot.
    pub fn probe_lease(mut self, lease: Duration) -> Self {
        self.probe_lease = lease;
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
/// A store never fails or stalls a call: with a shared store every call-path
/// operation has the budget [`HealthConfig::store_budget`]; past it, or on a
/// store error, the tracker logs it and answers from its in-process view,
/// while the write goes on in the background.
#[derive(Clone)]
pub struct HealthTracker {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn HealthStore>,
    /// The in-process view of a shared store: every write lands here first
    /// and every answer from the store refreshes it. `None` for a local store.
    view: Option<MemoryStore>,
    probes: Arc<ProbeSlots>,
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
        let view = (!store.is_local()).then(MemoryStore::new);
        HealthTracker {
            inner: Arc::new(Inner {
                store,
                view,
                probes: Arc::default(),
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

    /// The store health records live in.
    pub fn store(&self) -> &Arc<dyn HealthStore> {
        &self.inner.store
    }

    /// The current time on the tracker's clock.
    pub fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// The record for `target` (a clean record if none).
    pub async fn state(&self, target: &Target) -> TargetHealth {
        self.read(target.as_str()).await.unwrap_or_default()
    }

    /// True while `target` is benched.
    pub async fn is_benched(&self, target: &Target) -> bool {
        self.admitted_at(target).await.is_some()
    }

    /// When `target` is admitted again, if it is benched now.
    pub async fn admitted_at(&self, target: &Target) -> Option<SystemTime> {
        self.state(target).await.admitted_at(self.now())
    }

    /// Whether a call may go to `target` now. A target whose bench has
    /// expired admits one call at a time (the [`Admission::Probe`], whose
    /// guard the caller keeps until the call ends); concurrent calls get
    /// [`Admission::ProbeInFlight`] and should treat the target as benched.
    pub async fn admit(&self, target: &Target) -> Admission {
        let key = target.as_str();
        let Some(state) = self.read(key).await else {
            return Admission::Open;
        };
        let now = self.now();
        match state.benched_until {
            None => Admission::Open,
            Some(until) if until > now => Admission::Benched(until),
            Some(_) => self.begin_probe(key, now).await,
        }
    }

    /// [`HealthTracker::admit`] when it can answer at once, without I/O and
    /// without a probe to start: the store answers at memory speed
    /// ([`HealthStore::peek`]) and the target is healthy or still benched.
    /// `None` means: call `admit`. The chain's hot path, with no future and
    /// no allocation (ADR 0021).
    pub(crate) fn admit_now(&self, target: &Target) -> Option<Admission> {
        let key = target.as_str();
        let benched_until = self.read_now(key)?.and_then(|state| state.benched_until);
        match benched_until {
            None => Some(Admission::Open),
            Some(until) if until > self.now() => Some(Admission::Benched(until)),
            Some(_) => None,
        }
    }

    /// [`HealthTracker::record_success`] when it has nothing to write: the
    /// target has no record (the healthy path). Returns `false` when
    /// `record_success` must run.
    pub(crate) fn record_success_now(&self, target: &Target) -> bool {
        let key = target.as_str();
        match &self.inner.view {
            None => self.inner.store.is_local() && self.inner.store.peek(key) == Some(None),
            Some(view) => view.get_now(key).is_none(),
        }
    }

    /// The record of `key` when the store can give it at once (refreshing
    /// the view of a shared store, as [`HealthTracker::admit`] would).
    fn read_now(&self, key: &str) -> Option<Option<TargetHealth>> {
        let state = self.inner.store.peek(key)?;
        if let Some(view) = &self.inner.view {
            view.put(key, state);
        }
        Some(state)
    }

    async fn begin_probe(&self, key: &str, now: SystemTime) -> Admission {
        let lease = self.inner.config.probe_lease;
        if !self.inner.probes.try_take(key, now, lease) {
            return Admission::ProbeInFlight;
        }
        if self.inner.view.is_none() {
            return Admission::Probe(Probe::new(key, Arc::clone(&self.inner.probes), None));
        }
        let store = Arc::clone(&self.inner.store);
        let owned = key.to_owned();
        let shared = self
            .within_budget(
                "probe lease",
                Box::pin(async move { store.try_begin_probe(&owned, now, lease).await }),
            )
            .await;
        let probe = Probe::new(
            key,
            Arc::clone(&self.inner.probes),
            Some(Arc::clone(&self.inner.store)),
        );
        match shared {
            // Another replica probes; dropping our guard frees the local slot
            // (and releasing a lease we do not hold is harmless).
            Some(false) => {
                drop(probe);
                Admission::ProbeInFlight
            }
            // Taken, or the store could not say in time: the local slot decides.
            Some(true) | None => Admission::Probe(probe),
        }
    }

    /// Records a failure (with the provider's `Retry-After`, if any) and returns
    /// the new record.
    pub async fn record_failure(
        &self,
        target: &Target,
        retry_after: Option<Duration>,
    ) -> TargetHealth {
        let now = self.now();
        let key = target.as_str();
        let config = &self.inner.config;
        let state = match &self.inner.view {
            None => match self
                .inner
                .store
                .record_failure(key, now, config, retry_after)
                .await
            {
                Ok(state) => state,
                Err(error) => {
                    tracing::warn!(target = %target, %error, "health store write failed");
                    TargetHealth::default()
                }
            },
            Some(view) => {
                let local = view.record_failure_now(key, now, config, retry_after);
                let store = Arc::clone(&self.inner.store);
                let owned = key.to_owned();
                let config = config.clone();
                let shared = self
                    .within_budget(
                        "failure write",
                        Box::pin(async move {
                            store
                                .record_failure(&owned, now, &config, retry_after)
                                .await
                        }),
                    )
                    .await;
                match shared {
                    // The shared record also counts other replicas' failures.
                    Some(state) => {
                        view.put(key, Some(state));
                        state
                    }
                    None => local,
                }
            }
        };
        if let Some(until) = state.admitted_at(now) {
            tracing::debug!(target = %target, failures = state.consecutive_failures, round = state.bench_rounds, until = ?until, "target benched");
        }
        state
    }

    /// Records a success: the target's record resets.
    pub async fn record_success(&self, target: &Target) {
        let key = target.as_str();
        match &self.inner.view {
            None => {
                if let Err(error) = self.inner.store.record_success(key).await {
                    tracing::warn!(target = %target, %error, "health store write failed");
                }
            }
            Some(view) => {
                // A healthy target with no record anywhere is the hot path:
                // no write to make.
                if view.get_now(key).is_none() {
                    return;
                }
                view.record_success_now(key);
                let store = Arc::clone(&self.inner.store);
                let owned = key.to_owned();
                self.within_budget(
                    "success write",
                    Box::pin(async move { store.record_success(&owned).await }),
                )
                .await;
            }
        }
    }

    /// Every known target's state, sorted by target.
    pub async fn snapshot(&self) -> Vec<TargetStatus> {
        let now = self.now();
        let all = match &self.inner.view {
            None => match self.inner.store.snapshot().await {
                Ok(all) => all,
                Err(error) => {
                    tracing::warn!(%error, "health store snapshot failed");
                    Vec::new()
                }
            },
            Some(view) => {
                let store = Arc::clone(&self.inner.store);
                self.within_budget("snapshot", Box::pin(async move { store.snapshot().await }))
                    .await
                    .unwrap_or_else(|| view.snapshot_now())
            }
        };
        all.into_iter()
            .map(|(target, health)| TargetStatus {
                admitted_at: health.admitted_at(now),
                target,
                health,
            })
            .collect()
    }

    /// The record of `key`: straight from a local store; from a shared one
    /// within the budget (refreshing the view), else from the view.
    async fn read(&self, key: &str) -> Option<TargetHealth> {
        let Some(view) = &self.inner.view else {
            return match self.inner.store.get(key).await {
                Ok(state) => state,
                Err(error) => {
                    tracing::warn!(target = key, %error, "health store read failed; treating target as healthy");
                    None
                }
            };
        };
        if let Some(state) = self.inner.store.peek(key) {
            view.put(key, state);
            return state;
        }
        let budget = self.inner.config.store_budget;
        match tokio::time::timeout(budget, self.inner.store.get(key)).await {
            Ok(Ok(state)) => {
                view.put(key, state);
                state
            }
            Ok(Err(error)) => {
                tracing::warn!(target = key, %error, "health store read failed; using the in-process view");
                view.get_now(key)
            }
            Err(_) => {
                tracing::debug!(
                    target = key,
                    ?budget,
                    "health store read over budget; using the in-process view"
                );
                view.get_now(key)
            }
        }
    }

    /// Runs a store operation for at most the store budget. It runs as its
    /// own task where there is a runtime, so an operation past the budget
    /// still completes in the background instead of being lost.
    async fn within_budget<T: Send + 'static>(
        &self,
        what: &'static str,
        operation: BoxFuture<'static, Result<T>>,
    ) -> Option<T> {
        let budget = self.inner.config.store_budget;
        let outcome = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let mut task = runtime.spawn(operation);
                match tokio::time::timeout(budget, &mut task).await {
                    Ok(Ok(result)) => Some(result),
                    Ok(Err(join)) => {
                        tracing::warn!(operation = what, error = %join, "health store operation failed");
                        return None;
                    }
                    Err(_) => None,
                }
            }
            Err(_) => tokio::time::timeout(budget, operation).await.ok(),
        };
        match outcome {
            Some(Ok(value)) => Some(value),
            Some(Err(error)) => {
                tracing::warn!(operation = what, %error, "health store operation failed; using the in-process view");
                None
            }
            None => {
                tracing::debug!(
                    operation = what,
                    ?budget,
                    "health store over budget; using the in-process view"
                );
                None
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
            .field("view", &self.inner.view.is_some())
            .finish()
    }
}

impl Default for HealthTracker {
    fn default() -> Self {
        HealthTracker::new(HealthConfig::default(), Arc::new(SystemClock))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain's synchronous fast paths agree with the async calls they
    /// stand in for, and step aside where those have work to do.
    #[tokio::test]
    async fn the_fast_paths_agree_with_admit_and_record_success() {
        let clock = Arc::new(FakeClock::new());
        let health =
            HealthTracker::new(HealthConfig::default().failure_threshold(1), clock.clone());
        let target = Target::new("p", "m").unwrap();
        assert!(matches!(health.admit_now(&target), Some(Admission::Open)));
        assert!(health.record_success_now(&target), "nothing to reset");

        health.record_failure(&target, None).await;
        let until = health.admitted_at(&target).await.unwrap();
        assert!(matches!(health.admit_now(&target), Some(Admission::Benched(u)) if u == until));
        assert!(matches!(health.admit(&target).await, Admission::Benched(u) if u == until));
        assert!(!health.record_success_now(&target), "a record to reset");

        // An expired bench starts a probe: only `admit` may do that.
        clock.advance(Duration::from_secs(3600));
        assert!(health.admit_now(&target).is_none());
        assert!(matches!(health.admit(&target).await, Admission::Probe(_)));

        health.record_success(&target).await;
        assert!(matches!(health.admit_now(&target), Some(Admission::Open)));
        assert!(health.record_success_now(&target));
    }
}
