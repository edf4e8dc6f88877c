//! Half-open admission: after a bench expires, one call at a time probes the
//! target while every other call treats it as still benched (design §3).
//!
//! The slot is held by a [`Probe`] guard. Whatever ends the call — an answer,
//! an error, a cancellation that drops the future — drops the guard and frees
//! the slot; the health record itself (success closes the bench, a failure
//! re-benches with the next cooldown) is written by the caller as usual.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::HealthStore;
use crate::sync::LockUnpoisoned as _;

/// Whether a call may go to a target now: the answer of
/// [`super::HealthTracker::admit`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Admission {
    /// Healthy: call it.
    Open,
    /// The bench has expired and this call is the one probe. Keep the guard
    /// until the call (or the stream) ends; dropping it frees the slot.
    Probe(Probe),
    /// Benched until the given time.
    Benched(SystemTime),
    /// The bench has expired, but another call is probing the target: treat
    /// it as benched until that probe returns.
    ProbeInFlight,
}

impl Admission {
    /// True when the call may go ahead ([`Admission::Open`] or [`Admission::Probe`]).
    pub fn is_admitted(&self) -> bool {
        matches!(self, Admission::Open | Admission::Probe(_))
    }
}

/// The probe slots of one tracker: target key → when its probe began.
#[derive(Debug, Default)]
pub(super) struct ProbeSlots {
    held: Mutex<HashMap<Arc<str>, SystemTime>>,
}

impl ProbeSlots {
    /// Takes the slot of `key` unless another probe holds it and began less
    /// than `lease` ago (a probe that hangs past its lease loses the slot).
    pub(super) fn try_take(&self, key: &str, now: SystemTime, lease: Duration) -> bool {
        let mut held = self.held.lock_unpoisoned();
        match held.get_mut(key) {
            Some(since) => {
                let expired = now
                    .duration_since(*since)
                    .is_ok_and(|elapsed| elapsed >= lease);
                if expired {
                    *since = now;
                }
                expired
            }
            None => {
                held.insert(Arc::from(key), now);
                true
            }
        }
    }

    fn release(&self, key: &str) {
        self.held.lock_unpoisoned().remove(key);
    }
}

/// The one call allowed to probe a target whose bench has expired. Dropping
/// it frees the slot for the next call; across replicas the store's lease is
/// released too.
pub struct Probe {
    key: Arc<str>,
    slots: Arc<ProbeSlots>,
    /// The shared store to release, when it is not in-process.
    remote: Option<Arc<dyn HealthStore>>,
}

impl Probe {
    pub(super) fn new(
        key: &str,
        slots: Arc<ProbeSlots>,
        remote: Option<Arc<dyn HealthStore>>,
    ) -> Self {
        Probe {
            key: Arc::from(key),
            slots,
            remote,
        }
    }

    /// The `provider/model` key being probed.
    pub fn target(&self) -> &str {
        &self.key
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.slots.release(&self.key);
        let Some(store) = self.remote.take() else {
            return;
        };
        // Releasing the shared lease is best effort: without a runtime (or if
        // the store is down) the lease simply expires.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let key = Arc::clone(&self.key);
            runtime.spawn(async move {
                if let Err(error) = store.end_probe(&key).await {
                    tracing::debug!(target = %key, %error, "releasing the probe lease failed; it will expire");
                }
            });
        }
    }
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Probe").field("target", &self.key).finish()
    }
}
