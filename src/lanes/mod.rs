//! Lanes: bounded, fair concurrency per model for hosts that share one LLM budget
//! among many users.
//!
//! A [`LaneRegistry`] holds named [`Lane`]s, created on first use, each letting
//! at most `cap` calls run at once (caps come from the host's [`LaneConfig`] and
//! can change at run time with [`LaneRegistry::reload`]). Waiting calls are
//! admitted round-robin across caller ids ([`QueuePolicy::FairShare`], the
//! default) or in arrival order ([`QueuePolicy::Fifo`]).
//!
//! The [`LaneProvider`] decorator (made by [`LaneLayer`]) sends every call of a
//! provider's models through the lane its [`LaneMap`] picks for
//! `provider/model`. What a call holds, and for how long:
//!
//! - while queued: nothing; dropping the call's future leaves the line at once;
//! - once admitted: one slot, until the call ends on any path (success, error,
//!   execution deadline, cancellation, panic), bounded by the lane's execution
//!   deadline, which starts at admission so queue time does not shorten it;
//! - a stream: a slot only while it is being opened.
//!
//! Lanes do not know about time budgets beyond that: put a
//! [`crate::TimeoutProvider`] inside the lane to bound each call from its
//! admission, or outside to bound queueing as well (see [`crate::Layers`]).
//! In the second case the lane tells the timeout whether the call was still
//! queued when its deadline passed: then the error is request-specific
//! (the chain advances, the target's health is untouched), not transient.

mod lane;
mod layer;
mod queue;
mod registry;
mod stats;

pub(crate) use crate::llm::queue_watch::QueueWatch;
pub use lane::{Lane, LanePermit};
pub use layer::{LaneLayer, LaneMap, LaneProvider};
pub use queue::QueuePolicy;
pub use registry::{
    DEFAULT_CAP, DEFAULT_EXECUTION_DEADLINE, LaneConfig, LaneRegistry, LaneRegistryBuilder,
};
pub use stats::LaneStats;
