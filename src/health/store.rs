//! [`HealthStore`]: where health records live. [`MemoryStore`] is the default.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    records: Arc<Records>,
}

#[derive(Debug, Default)]
struct Records {
    map: RwLock<HashMap<Arc<str>, TargetHealth>>,
    /// How many records the map holds, kept by every write under the write
    /// lock: when every target is healthy (no record at all), a read answers
    /// from one atomic load, without the lock or hashing the key (ADR 0021).
    len: AtomicUsize,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes the map under the write lock, keeping its record count.
    fn write<R>(&self, change: impl FnOnce(&mut HashMap<Arc<str>, TargetHealth>) -> R) -> R {
        let mut map = self.records.map.write_unpoisoned();
        let out = change(&mut map);
        self.records.len.store(map.len(), Ordering::Release);
        out
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
        self.write(|map| match health {
            Some(health) if !health.is_clean() => {
                map.insert(Arc::from(key), health);
            }
            _ => {
                map.remove(key);
            }
        });
    }

    /// [`HealthStore::record_failure`], without the async wrapper.
    pub(crate) fn record_failure_now(
        &self,
        key: &str,
        now: SystemTime,
        config: &HealthConfig,
        retry_after: Option<Duration>,
    ) -> TargetHealth {
        self.write(|map| {
            let entry = match map.get_mut(key) {
                Some(entry) => entry,
                None => map.entry(Arc::from(key)).or_default(),
            };
            entry.on_failure(now, config, retry_after);
            *entry
        })
    }

    /// [`HealthStore::record_success`], without the async wrapper.
    pub(crate) fn record_success_now(&self, key: &str) {
        // Most successes are on healthy targets with no record: check under the
        // read lock first so the hot path never takes the write lock.
        if self.get_now(key).is_none() {
            return;
        }
        self.write(|map| map.remove(key));
    }

    /// Every record, sorted by key, without the async wrapper.
    pub(crate) fn snapshot_now(&self) -> Vec<(String, TargetHealth)> {
        let map = self.records.map.read_unpoisoned();
        let mut all: Vec<_> = map.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The record of `key`, without the async wrapper.
    pub(crate) fn get_now(&self, key: &str) -> Option<TargetHealth> {
        // A record inserted after this load was inserted after this read.
        if self.records.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let map = self.records.map.read_unpoisoned();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_count_follows_every_write() {
        let store = MemoryStore::new();
        let config = HealthConfig::default();
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(store.get_now("p/a"), None);
        store.record_failure_now("p/a", now, &config, None);
        store.record_failure_now("p/a", now, &config, None);
        store.record_failure_now("p/b", now, &config, None);
        assert_eq!(store.records.len.load(Ordering::Acquire), 2);
        assert_eq!(
            store.get_now("p/a").map(|h| h.consecutive_failures),
            Some(2)
        );
        assert_eq!(store.get_now("p/c"), None);
        store.record_success_now("p/a");
        assert_eq!(store.get_now("p/a"), None);
        assert!(store.get_now("p/b").is_some());
        store.put("p/b", None);
        assert_eq!(store.records.len.load(Ordering::Acquire), 0);
        assert_eq!(store.get_now("p/b"), None);
        let mut benched = TargetHealth::default();
        benched.on_failure(now, &config, None);
        store.put("p/c", Some(benched));
        assert_eq!(store.get_now("p/c"), Some(benched));
        assert_eq!(store.snapshot_now().len(), 1);
    }
}
