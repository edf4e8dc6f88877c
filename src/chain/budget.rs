//! [`RetryBudget`]: retries may not exceed a share of recent calls (as in
//! Envoy's and Finagle's retry budgets), so a router facing a failing fleet does
//! not multiply the load on it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::opaque::Opaque;
use crate::{Error, Result};

/// The window is cut into this many buckets; a bucket expires as a whole.
const BUCKETS: u32 = 10;

/// A budget for same-target retries: within a sliding `window`, retries may not
/// exceed `ratio` × calls, or `min_retries`, whichever is larger.
///
/// Every chain call deposits one call; every same-target retry withdraws one
/// retry. When the budget is spent, the chain advances to the next target
/// instead of retrying (failover to another target is not a retry). Time is
/// read from the health tracker's clock, so a `FakeClock` makes it
/// deterministic. Clones share one account: install one budget on the chain
/// config and every chain built from it draws on it.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use majordomo::RetryBudget;
/// let budget = RetryBudget::new(0.5, 1, Duration::from_secs(10))?;
/// let now = SystemTime::UNIX_EPOCH;
/// for _ in 0..4 {
///     budget.deposit(now);
/// }
/// assert!(budget.try_withdraw(now)); // 2 retries allowed for 4 calls
/// assert!(budget.try_withdraw(now));
/// assert!(!budget.try_withdraw(now));
/// # Ok::<(), majordomo::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RetryBudget {
    ratio: f64,
    min_retries: u32,
    window: Duration,
    account: Opaque<Arc<Mutex<Account>>>,
}

/// Calls and retries per bucket; `start` is the index of bucket 0.
#[derive(Debug, Default)]
struct Account {
    start: u64,
    calls: [u64; BUCKETS as usize],
    retries: [u64; BUCKETS as usize],
}

impl RetryBudget {
    /// A budget allowing `ratio` retries per call (0.2 = 20 %) over a sliding
    /// `window`, and at least `min_retries` per window whatever the traffic.
    ///
    /// # Errors
    /// A configuration error when `ratio` is negative or not finite, or
    /// `window` is shorter than 10 ms.
    pub fn new(ratio: f64, min_retries: u32, window: Duration) -> Result<Self> {
        if !ratio.is_finite() || ratio < 0.0 {
            return Err(Error::config(format!(
                "retry budget ratio must be a finite number >= 0, got {ratio}"
            )));
        }
        if window < Duration::from_millis(10) {
            return Err(Error::config(format!(
                "retry budget window must be at least 10ms, got {window:?}"
            )));
        }
        Ok(RetryBudget {
            ratio,
            min_retries,
            window,
            account: Opaque(Arc::new(Mutex::new(Account::default()))),
        })
    }

    /// Retries allowed per call.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// Retries allowed per window regardless of traffic.
    pub fn min_retries(&self) -> u32 {
        self.min_retries
    }

    /// The sliding window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Counts one call at `now`.
    pub fn deposit(&self, now: SystemTime) {
        let mut account = self.lock();
        let slot = account.advance(self.bucket_of(now));
        account.calls[slot] += 1;
    }

    /// Takes one retry at `now` if the budget allows it; false when spent.
    pub fn try_withdraw(&self, now: SystemTime) -> bool {
        let mut account = self.lock();
        let slot = account.advance(self.bucket_of(now));
        let calls: u64 = account.calls.iter().sum();
        let retries: u64 = account.retries.iter().sum();
        // Float to integer: the product is finite and non-negative; `as`
        // saturates, which is the intent for absurd ratios.
        let allowed = ((calls as f64) * self.ratio).floor() as u64;
        if retries < allowed.max(u64::from(self.min_retries)) {
            account.retries[slot] += 1;
            true
        } else {
            false
        }
    }

    fn bucket_of(&self, now: SystemTime) -> u64 {
        let width = (self.window / BUCKETS).as_nanos().max(1);
        let since = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        u64::try_from(since / width).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Account> {
        // Counters stay consistent after every statement: a poisoned lock is safe to reuse.
        self.account.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Account {
    /// Expires buckets older than the window ending at `bucket` and returns
    /// the slot counting `bucket`. A time before the window (a clock moved
    /// backwards) counts into the oldest bucket.
    fn advance(&mut self, bucket: u64) -> usize {
        let n = u64::from(BUCKETS);
        let newest = self.start + n - 1;
        if bucket > newest {
            let shift = bucket - newest;
            if shift >= n {
                *self = Account::default();
                self.start = bucket + 1 - n;
            } else {
                // `shift < BUCKETS`, so the casts cannot truncate.
                let shift = shift as usize;
                self.calls.rotate_left(shift);
                self.retries.rotate_left(shift);
                let len = self.calls.len();
                self.calls[len - shift..].fill(0);
                self.retries[len - shift..].fill(0);
                self.start += shift as u64;
            }
        }
        let index = bucket.saturating_sub(self.start).min(n - 1);
        index as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn floor_allows_min_retries_without_traffic() {
        let budget = RetryBudget::new(0.1, 2, Duration::from_secs(10)).unwrap();
        assert!(budget.try_withdraw(at(100)));
        assert!(budget.try_withdraw(at(100)));
        assert!(!budget.try_withdraw(at(100)));
    }

    #[test]
    fn ratio_scales_with_calls_and_old_calls_expire() {
        let budget = RetryBudget::new(0.2, 0, Duration::from_secs(10)).unwrap();
        for _ in 0..10 {
            budget.deposit(at(100));
        }
        assert!(budget.try_withdraw(at(100)));
        assert!(budget.try_withdraw(at(105)));
        assert!(!budget.try_withdraw(at(105)));
        // The calls and retries at t=100 leave the window at t=110; the one at
        // t=105 stays until t=115.
        assert!(!budget.try_withdraw(at(110)));
        for _ in 0..10 {
            budget.deposit(at(111));
        }
        assert!(budget.try_withdraw(at(111)));
        assert!(!budget.try_withdraw(at(111)));
        assert!(budget.try_withdraw(at(116)));
    }

    #[test]
    fn a_long_silence_resets_the_account() {
        let budget = RetryBudget::new(1.0, 0, Duration::from_secs(10)).unwrap();
        budget.deposit(at(100));
        assert!(budget.try_withdraw(at(100)));
        assert!(!budget.try_withdraw(at(100)));
        assert!(!budget.try_withdraw(at(1000)));
        budget.deposit(at(1000));
        assert!(budget.try_withdraw(at(1000)));
    }

    #[test]
    fn rejects_bad_settings() {
        assert!(RetryBudget::new(f64::NAN, 1, Duration::from_secs(1)).is_err());
        assert!(RetryBudget::new(-0.1, 1, Duration::from_secs(1)).is_err());
        assert!(RetryBudget::new(0.2, 1, Duration::ZERO).is_err());
    }
}
