//! [`LaneStats`]: a point-in-time view of one lane, for dashboards and tests.

use std::collections::BTreeMap;
use std::time::Duration;

use super::queue::QueuePolicy;

/// A snapshot of one lane.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LaneStats {
    /// The lane's name.
    pub name: String,
    /// How many calls may run at once.
    pub cap: usize,
    /// The order waiting calls are admitted in.
    pub policy: QueuePolicy,
    /// How long an admitted call may run.
    pub execution_deadline: Duration,
    /// Calls holding a slot now. May exceed `cap` for a while after the cap was
    /// lowered: running calls are never interrupted by a reload.
    pub running: usize,
    /// Calls waiting for a slot.
    pub queued: usize,
    /// Waiting calls per caller id; calls without a caller id count under `""`.
    pub queued_by_caller: BTreeMap<String, usize>,
}
