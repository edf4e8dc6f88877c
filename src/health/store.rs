//! [`HealthStore`]: where health records live. [`MemoryStore`] is the default.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::{HealthConfig, TargetHealth};
use crate::Result;
use crate::sync::RwLockUnpoisoned as _;

/// Storage for per-target health, keyed by the target's `provider/model` string.
///
/// Async and string-keyed so that a shared store (Redis) fits: a store applies
/// [`TargetHealth::on_failure`] / [`TargetHealth::on_success`] atomically per key,
/// so concurrent failures from many tasks (or replicas) all count.
#[async_trait]
pub trait HealthStore: Send + Sync + fmt::Debug {
    /// The record for `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<TargetHealth>>;

    /// Applies a failure at `now` and returns the new record.
    async fn record_failure(
        &self,
        key: &str,
        now: SystemTime,
        config: &HealthConfig,
        retry_after: Option<Duration>,
    ) -> Result<TargetHealth>;

    /// Applies a success (resets the record).
    async fn record_success(&self, key: &str) -> Result<()>;

    /// Every record, for diagnostics.
    async fn snapshot(&self) -> Result<Vec<(String, TargetHealth)>>;

    /// True when every operation answers at memory speed (an in-process
    /// store). The tracker then calls it directly; otherwise each call-path
    /// operation gets the time budget of [`HealthConfig::store_budget`] and
    /// the tracker keeps an in-process view to fall back on.
    fn is_local(&self) -> bool {
        false
    }

    /// The record of `key` if the store can answer at once, without I/O (a
    /// shared store that keeps an in-process view of its own); `None` when
    /// it cannot. The tracker asks this first and calls the budgeted
    /// [`HealthStore::get`] only on `None`, so such a store's healthy path
    /// costs about what the in-memory store's does. Default: `None`.
    fn peek(&self, key: &str) -> Option<Option<TargetHealth>> {
        let _ = key;
        None
    }

    /// Takes the probe lease of `key` for `lease` (one probe across every
    /// process sharing the store), or returns `false` while another holder's
    /// lease runs. The default has no shared lease: each process still admits
    /// one probe at a time on its own.
    async fn try_begin_probe(&self, key: &str, now: SystemTime, lease: Duration) -> Result<bool> {
        let _ = (key, now, lease);
        Ok(true)
    }

    /// Releases the probe lease of `key` taken by [`HealthStore::try_begin_probe`].
    async fn end_probe(&self, key: &str) -> Result<()> {
        let _ = key;
        Ok(())
    }
}

/// An in-process store: a map behind a read-write lock that is never held
/// across an `.await` (no method here awaits while holding it).
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    map: Arc<RwLock<HashMap<Arc<str>, TargetHealth>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or, with `None`, removes) the record of `key`: how the tracker's
    /// in-process view learns what a shared store said.
    pub(crate) fn put(&self, key: &str, health: Option<TargetHealth>) {
        let clean = health.is_none_or(|health| health.is_clean());
        if clean && self.get_now(key).is_none() {
            // The healthy path (a shared store says "no record", and there is
            // none here either) takes no write lock.
            return;
        }
        let mut map = self.map.write_unpoisoned();
        match health {
            Some(health) if !health.is_clean() => {
                map.insert(Arc::from(key), health);
            }
            _ => {
                map.remove(key);
            }
        }
    }

    /// [`HealthStore::record_failure`], without the async wrapper.
    pub(crate) fn record_failure_now(
        &self,
        key: &str,
        now: SystemTime,
        config: &HealthConfig,
        retry_after: Option<Duration>,
    ) -> TargetHealth {
        let mut map = self.map.write_unpoisoned();
        let entry = match map.get_mut(key) {
            Some(entry) => entry,
            None => map.entry(Arc::from(key)).or_default(),
        };
        entry.on_failure(now, config, retry_after);
        *entry
    }

    /// [`HealthStore::record_success`], without the async wrapper.
    pub(crate) fn record_success_now(&self, key: &str) {
        // Most successes are on healthy targets with no record: check under the
        // read lock first so the hot path never takes the write lock.
        {
            let map = self.map.read_unpoisoned();
            if !map.contains_key(key) {
                return;
            }
        }
        let mut map = self.map.write_unpoisoned();
        map.remove(key);
    }

    /// Every record, sorted by key, without the async wrapper.
    pub(crate) fn snapshot_now(&self) -> Vec<(String, TargetHealth)> {
        let map = self.map.read_unpoisoned();
        let mut all: Vec<_> = map.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The record of `key`, without the async wrapper.
    pub(crate) fn get_now(&self, key: &str) -> Option<TargetHealth> {
        let map = self.map.read_unpoisoned();
        map.get(key).copied()
    }
}

#[async_trait]
impl HealthStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<TargetHealth>> {
        Ok(self.get_now(key))
    }

    async fn record_failure(
        &self,
        key: &str,
        now: SystemTime,
        config: &HealthConfig,
        retry_after: Option<Duration>,
    ) -> Result<TargetHealth> {
        Ok(self.record_failure_now(key, now, config, retry_after))
    }

    async fn record_success(&self, key: &str) -> Result<()> {
        self.record_success_now(key);
        Ok(())
    }

    async fn snapshot(&self) -> Result<Vec<(String, TargetHealth)>> {
        Ok(self.snapshot_now())
    }

    fn is_local(&self) -> bool {
        true
    }

    fn peek(&self, key: &str) -> Option<Option<TargetHealth>> {
        Some(self.get_now(key))
    }
}
