//! Hedging settings: when a slow attempt is raced by the next candidate, and
//! the budget that caps the extra load (ADR 0018). The race itself is in
//! `executor.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::budget::RetryBudget;
use crate::Target;
use crate::opaque::Opaque;
use crate::sync::LockUnpoisoned as _;

/// Latencies kept per target for [`HedgeDelay::Percentile`].
const WINDOW: usize = 128;

/// Fewer samples than this and [`HedgeDelay::Percentile`] uses its fallback.
const MIN_SAMPLES: usize = 16;

/// How long an attempt may go without an answer (a stream: its first event)
/// before a hedge starts.
///
/// ```
/// use std::time::Duration;
/// use majordomo::HedgeDelay;
/// assert_eq!(HedgeDelay::from(Duration::from_millis(150)), HedgeDelay::Fixed(Duration::from_millis(150)));
/// let p95 = HedgeDelay::percentile(0.95, Duration::from_secs(2));
/// assert!(matches!(p95, HedgeDelay::Percentile { .. }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum HedgeDelay {
    /// A fixed delay.
    Fixed(Duration),
    /// A percentile (0.0–1.0) of the target's recent latencies (its last
    /// 128 answers in this process); `fallback` until it has 16.
    Percentile {
        /// The percentile, 0.0–1.0 (0.95 = p95).
        percentile: f64,
        /// The delay while the target has too few samples.
        fallback: Duration,
    },
}

impl HedgeDelay {
    /// A percentile delay; `percentile` is clamped to 0.0–1.0 (NaN → 1.0).
    pub fn percentile(percentile: f64, fallback: Duration) -> Self {
        let percentile = if percentile.is_nan() {
            1.0
        } else {
            percentile.clamp(0.0, 1.0)
        };
        HedgeDelay::Percentile {
            percentile,
            fallback,
        }
    }
}

impl From<Duration> for HedgeDelay {
    fn from(delay: Duration) -> Self {
        HedgeDelay::Fixed(delay)
    }
}

/// Hedging, as set by [`crate::ChainConfig::hedge`]: the delay, the budget,
/// and (for a percentile delay) the latencies seen. Clones share the budget
/// and the latencies.
#[derive(Clone, Debug)]
pub struct Hedge {
    delay: HedgeDelay,
    budget: RetryBudget,
    latencies: Opaque<Arc<Mutex<HashMap<Target, Samples>>>>,
}

#[derive(Default)]
struct Samples {
    ring: Vec<Duration>,
    next: usize,
}

impl Hedge {
    pub(super) fn new(delay: HedgeDelay, budget: RetryBudget) -> Self {
        Hedge {
            delay,
            budget,
            latencies: Opaque::default(),
        }
    }

    /// The delay setting.
    pub fn delay(&self) -> HedgeDelay {
        self.delay
    }

    /// The budget: every chain call deposits one call, every hedge withdraws one.
    pub fn budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// True when latencies must be recorded (a percentile delay).
    pub(super) fn learns(&self) -> bool {
        matches!(self.delay, HedgeDelay::Percentile { .. })
    }

    /// The delay before hedging a call to `target`.
    pub(super) fn delay_for(&self, target: &Target) -> Duration {
        let (percentile, fallback) = match self.delay {
            HedgeDelay::Fixed(delay) => return delay,
            HedgeDelay::Percentile {
                percentile,
                fallback,
            } => (percentile, fallback),
        };
        let latencies = self.latencies.lock_unpoisoned();
        let Some(samples) = latencies.get(target) else {
            return fallback;
        };
        if samples.ring.len() < MIN_SAMPLES {
            return fallback;
        }
        let mut sorted = samples.ring.clone();
        // The rank is within 0..len, so the cast cannot truncate.
        let rank = ((sorted.len() - 1) as f64 * percentile).round() as usize;
        let last = sorted.len() - 1;
        let (_, at, _) = sorted.select_nth_unstable(rank.min(last));
        *at
    }

    /// Learns that `target` answered in `latency`.
    pub(super) fn observe(&self, target: &Target, latency: Duration) {
        let mut latencies = self.latencies.lock_unpoisoned();
        let samples = latencies.entry(target.clone()).or_default();
        if samples.ring.len() < WINDOW {
            samples.ring.push(latency);
        } else {
            samples.ring[samples.next] = latency;
        }
        samples.next = (samples.next + 1) % WINDOW;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_uses_the_fallback_until_it_has_samples() {
        let budget = RetryBudget::new(0.1, 0, Duration::from_secs(10)).unwrap();
        let hedge = Hedge::new(HedgeDelay::percentile(0.9, Duration::from_secs(5)), budget);
        let target = Target::new("p", "m").unwrap();
        assert_eq!(hedge.delay_for(&target), Duration::from_secs(5));
        for ms in 1..=100 {
            hedge.observe(&target, Duration::from_millis(ms));
        }
        assert_eq!(hedge.delay_for(&target), Duration::from_millis(90));
    }
}
