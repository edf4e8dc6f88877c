//! [`Clock`]: where the health tracker reads the time. Tests inject a [`FakeClock`].

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::sync::LockUnpoisoned as _;

/// A source of wall-clock time.
///
/// Health state uses wall time (not a monotonic instant) so that replicas
/// sharing a store agree on when a target is admitted again.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when a test moves it. Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use majordomo::health::{Clock, FakeClock};
/// let clock = FakeClock::new();
/// let before = clock.now();
/// clock.advance(Duration::from_secs(30));
/// assert_eq!(clock.now().duration_since(before).unwrap(), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone)]
pub struct FakeClock {
    now: Arc<Mutex<SystemTime>>,
}

impl FakeClock {
    /// A clock at a fixed, arbitrary instant (2025-01-01T00:00:00Z), so test
    /// output is reproducible.
    pub fn new() -> Self {
        Self::at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600))
    }

    /// A clock at `time`.
    pub fn at(time: SystemTime) -> Self {
        FakeClock {
            now: Arc::new(Mutex::new(time)),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock_unpoisoned();
        *now = saturating_add(*now, by);
    }

    /// Sets the clock.
    pub fn set(&self, time: SystemTime) {
        *self.now.lock_unpoisoned() = time;
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> SystemTime {
        *self.now.lock_unpoisoned()
    }
}

/// How far ahead a clock reading plus a huge duration lands: `SystemTime +
/// Duration` panics on overflow, and `Duration::MAX` is the natural way to say
/// "no cap" (`max_cooldown`, `max_retry_after`), so sums saturate here.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `time + by`, or a reading [`FAR_FUTURE`] ahead (or `time` itself, when even
/// that does not fit) instead of panicking on overflow.
pub(crate) fn saturating_add(time: SystemTime, by: Duration) -> SystemTime {
    time.checked_add(by)
        .or_else(|| time.checked_add(by.min(FAR_FUTURE)))
        .unwrap_or(time)
}
