//! [`QueueWatch`]: how a deadline outside a lane learns that its call is still
//! waiting in the lane's queue when it expires (issue 12, ADR 0015). It rides
//! on the [`crate::Request`], so it lives with the contract, below the lanes.
//!
//! With `timeout → lane → provider`, the timeout's deadline covers queueing
//! too (ADR 0009), so a congested lane fails over to the next target. But a
//! call that never left the queue never reached the target: its expiry must
//! not count against the target's health. The timeout decorator puts a watch
//! on the request it passes in; a lane decorator below marks it queued while
//! the call waits and admitted once it runs; on expiry the timeout reads it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

const IDLE: u8 = 0;
const QUEUED: u8 = 1;
const ADMITTED: u8 = 2;

/// Shared by the clones of one request made for one attempt. The default
/// watches nothing, and then marking it does nothing.
#[derive(Clone, Default)]
pub(crate) struct QueueWatch(Option<Arc<AtomicU8>>);

impl QueueWatch {
    /// This watch if it is watching, else a new one that is.
    pub(crate) fn or_new(&self) -> QueueWatch {
        match &self.0 {
            Some(_) => self.clone(),
            None => QueueWatch(Some(Arc::new(AtomicU8::new(IDLE)))),
        }
    }

    /// The call is waiting for a lane slot.
    pub(crate) fn queued(&self) {
        self.set(QUEUED);
    }

    /// The call holds a lane slot and runs.
    pub(crate) fn admitted(&self) {
        self.set(ADMITTED);
    }

    /// True while the call waits in a lane's queue.
    pub(crate) fn is_queued(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|state| state.load(Ordering::Acquire) == QUEUED)
    }

    fn set(&self, value: u8) {
        if let Some(state) = &self.0 {
            state.store(value, Ordering::Release);
        }
    }
}

/// A watch is bookkeeping, not content: requests compare equal without it.
impl PartialEq for QueueWatch {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for QueueWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_queued() {
            "QueueWatch(queued)"
        } else {
            "QueueWatch"
        })
    }
}
