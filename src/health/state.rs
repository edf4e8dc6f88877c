//! [`TargetHealth`]: one target's health record and its pure state transitions.
//!
//! The transitions are plain functions of (state, time, config) so that every
//! [`super::HealthStore`] — in memory, or shared through Redis — applies exactly
//! the same rules.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::HealthConfig;
use super::clock::saturating_add;

/// One target's health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TargetHealth {
    /// Failures since the last success. Not reset when a bench expires.
    pub consecutive_failures: u32,
    /// Bench rounds since the last success; the cooldown grows with each.
    pub bench_rounds: u32,
    /// While in the future, the target is benched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benched_until: Option<SystemTime>,
}

impl TargetHealth {
    /// True while benched at `now`.
    pub fn is_benched(&self, now: SystemTime) -> bool {
        self.benched_until.is_some_and(|until| until > now)
    }

    /// When the target is admitted again, if benched at `now`.
    pub fn admitted_at(&self, now: SystemTime) -> Option<SystemTime> {
        self.benched_until.filter(|until| *until > now)
    }

    /// Records a failure at `now`.
    ///
    /// - A failure while already benched (a call that was in flight when the
    ///   bench began) counts, and may extend the bench for `retry_after`, but
    ///   does not start a new round.
    /// - Otherwise, reaching the threshold starts a new round with cooldown
    ///   `base * multiplier^(round-1)`, capped. After a bench expires the count is
    ///   still at or above the threshold, so one more failure re-benches at once
    ///   with the next, longer cooldown (half-open).
    /// - `retry_after` benches for at least that long, threshold or not.
    /// - A new bench only ever extends the current one.
    pub fn on_failure(
        &mut self,
        now: SystemTime,
        config: &HealthConfig,
        retry_after: Option<Duration>,
    ) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let mut until: Option<SystemTime> = None;
        if !self.is_benched(now) && self.consecutive_failures >= config.failure_threshold {
            self.bench_rounds = self.bench_rounds.saturating_add(1);
            until = Some(saturating_add(
                now,
                config.cooldown_for_round(self.bench_rounds),
            ));
        }
        if let Some(wait) = retry_after.filter(|d| !d.is_zero()) {
            let hinted = saturating_add(now, wait.min(config.max_retry_after));
            until = Some(until.map_or(hinted, |u| u.max(hinted)));
        }
        if let Some(until) = until {
            self.benched_until = Some(self.benched_until.map_or(until, |u| u.max(until)));
        }
    }

    /// Records a success: everything resets.
    pub fn on_success(&mut self) {
        *self = TargetHealth::default();
    }

    /// True when the record carries no information (a fresh target).
    pub fn is_clean(&self) -> bool {
        *self == TargetHealth::default()
    }
}
