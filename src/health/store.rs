//! [`HealthStore`]: where health records live. [`MemoryStore`] is the default.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::{HealthConfig, TargetHealth};
use crate::Result;

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
}

#[async_trait]
impl HealthStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<TargetHealth>> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        Ok(map.get(key).copied())
    }

    async fn record_failure(
        &self,
        key: &str,
        now: SystemTime,
        config: &HealthConfig,
        retry_after: Option<Duration>,
    ) -> Result<TargetHealth> {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        let entry = match map.get_mut(key) {
            Some(entry) => entry,
            None => map.entry(Arc::from(key)).or_default(),
        };
        entry.on_failure(now, config, retry_after);
        Ok(*entry)
    }

    async fn record_success(&self, key: &str) -> Result<()> {
        // Most successes are on healthy targets with no record: check under the
        // read lock first so the hot path never takes the write lock.
        {
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            if !map.contains_key(key) {
                return Ok(());
            }
        }
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.remove(key);
        Ok(())
    }

    async fn snapshot(&self) -> Result<Vec<(String, TargetHealth)>> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<_> = map.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }
}
