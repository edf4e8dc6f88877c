//! [`Lane`]: one bounded pool of call slots with a waiting line.
//!
//! The lane owns admission only: who may run now, who waits, and releasing a
//! slot on every path out of a call. It does not know about models; the
//! [`super::LaneProvider`] decorator feeds calls through it.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::QueueWatch;
use super::queue::{Queue, QueuePolicy, Ticket};
use super::stats::LaneStats;
use crate::sync::LockUnpoisoned as _;
use crate::{Error, Result};

/// What a lane is set to; re-read from the host's config on reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Settings {
    pub(super) cap: usize,
    pub(super) policy: QueuePolicy,
    pub(super) execution_deadline: Duration,
}

/// A named lane: at most `cap` calls run at once; the rest wait in line under
/// the lane's [`QueuePolicy`]. Cheap to clone; clones share the lane.
///
/// Obtain lanes from a [`super::LaneRegistry`].
#[derive(Clone)]
pub struct Lane {
    shared: Arc<Shared>,
}

struct Shared {
    name: String,
    // Calls without a caller id share this one bucket.
    anonymous: Arc<str>,
    state: Mutex<State>,
}

struct State {
    settings: Settings,
    running: usize,
    queue: Queue,
    // Tickets that were given a slot but whose waiter has not yet noticed.
    granted: HashSet<Ticket>,
}

impl State {
    /// Hands free slots to waiters, returning whom to wake once the lock is gone.
    ///
    /// NOTE: every change to `running`, `cap` or the queue must end here, so
    /// that a waiting call never sits behind a free slot.
    fn dispatch(&mut self) -> Vec<Waker> {
        let mut wake = Vec::new();
        while self.running < self.settings.cap {
            let Some((ticket, waker)) = self.queue.pop(self.settings.policy) else {
                break;
            };
            self.running += 1;
            self.granted.insert(ticket);
            wake.extend(waker);
        }
        wake
    }

    fn release(&mut self) -> Vec<Waker> {
        self.running = self.running.saturating_sub(1);
        self.dispatch()
    }
}

fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        waker.wake();
    }
}

impl Lane {
    pub(super) fn new(name: String, settings: Settings) -> Self {
        Lane {
            shared: Arc::new(Shared {
                name,
                anonymous: Arc::from(""),
                state: Mutex::new(State {
                    settings,
                    running: 0,
                    queue: Queue::default(),
                    granted: HashSet::new(),
                }),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The lock is never held across user code or an `.await`, so a poisoned
        // lock can only come from an allocation failure; the state is still
        // consistent statement by statement.
        self.shared.state.lock_unpoisoned()
    }

    /// The lane's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// A snapshot of the lane's cap, running and queued calls.
    pub fn stats(&self) -> LaneStats {
        let state = self.state();
        LaneStats {
            name: self.shared.name.clone(),
            cap: state.settings.cap,
            policy: state.settings.policy,
            execution_deadline: state.settings.execution_deadline,
            running: state.running,
            queued: state.queue.len(),
            queued_by_caller: state.queue.per_caller(),
        }
    }

    /// Applies new settings in place: running calls continue, and a raised
    /// cap admits waiting calls at once.
    pub(super) fn apply(&self, settings: Settings) {
        let wake = {
            let mut state = self.state();
            state.settings = settings;
            state.dispatch()
        };
        wake_all(wake);
    }

    /// Waits for a slot as `caller` (`None` joins the shared anonymous bucket).
    ///
    /// Dropping the returned future before it completes leaves the line at
    /// once and leaks nothing; dropping the [`LanePermit`] frees the slot. The
    /// future does not borrow the lane. Use this to hold a slot for work that is
    /// not a model call; [`Lane::run`] is the usual way in.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use majordomo::lanes::LaneRegistry;
    /// let lane = LaneRegistry::default().lane("batch");
    /// let permit = lane.acquire(Some("alice")).await;
    /// assert_eq!(lane.stats().running, 1);
    /// drop(permit);
    /// assert_eq!(lane.stats().running, 0);
    /// # }
    /// ```
    pub fn acquire(&self, caller: Option<&str>) -> impl Future<Output = LanePermit> + Send + use<> {
        self.acquire_as(caller.map(Arc::from))
    }

    pub(crate) fn acquire_as(&self, caller: Option<Arc<str>>) -> Acquire {
        Acquire {
            lane: self.clone(),
            caller,
            ticket: None,
            done: false,
        }
    }

    /// Runs `call` in a slot of this lane as `caller`.
    ///
    /// Waiting for the slot lasts as long as the caller is willing to wait
    /// (drop the future to give up). Once the call runs, it is bounded by the
    /// lane's execution deadline, which starts when the slot is granted, so
    /// time spent in line does not shorten the call.
    ///
    /// # Errors
    /// The call's own error, or a transient [`crate::ErrorKind::Timeout`] error
    /// when the execution deadline passes first.
    pub async fn run<T, F>(&self, caller: Option<&str>, call: F) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        self.run_as(caller.map(Arc::from), &QueueWatch::default(), call)
            .await
    }

    /// [`Lane::run`], marking `watch` queued while the call waits for its
    /// slot and admitted once it has one.
    pub(crate) async fn run_as<T, F>(
        &self,
        caller: Option<Arc<str>>,
        watch: &QueueWatch,
        call: F,
    ) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        watch.queued();
        let permit = self.acquire_as(caller).await;
        watch.admitted();
        // The permit lives until the end of this function, so it is released
        // on success, error, timeout, cancellation (drop) and unwinding alike.
        let limit = permit.execution_deadline;
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_elapsed) => Err(Error::timeout(format!(
                "lane {:?}: call still running after its execution deadline of {limit:?}",
                self.shared.name
            ))),
        }
    }
}

impl fmt::Debug for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.stats();
        f.debug_struct("Lane")
            .field("name", &stats.name)
            .field("cap", &stats.cap)
            .field("running", &stats.running)
            .field("queued", &stats.queued)
            .finish()
    }
}

// ===== Acquire =====

/// The future of [`Lane::acquire`]: queued until a slot is free.
pub(crate) struct Acquire {
    lane: Lane,
    caller: Option<Arc<str>>,
    ticket: Option<Ticket>,
    done: bool,
}

impl Acquire {
    fn permit(&mut self, execution_deadline: Duration) -> LanePermit {
        self.done = true;
        LanePermit {
            lane: self.lane.clone(),
            execution_deadline,
        }
    }
}

impl Future for Acquire {
    type Output = LanePermit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LanePermit> {
        let this = &mut *self;
        if this.done {
            // Polled again after completing: never take a second slot.
            return Poll::Pending;
        }
        let mut state = this.lane.state();
        let deadline = state.settings.execution_deadline;
        match this.ticket {
            None => {
                if state.running < state.settings.cap && state.queue.is_empty() {
                    state.running += 1;
                    drop(state);
                    return Poll::Ready(this.permit(deadline));
                }
                let caller = this
                    .caller
                    .take()
                    .unwrap_or_else(|| this.lane.shared.anonymous.clone());
                this.ticket = Some(state.queue.push(caller, cx.waker().clone()));
                Poll::Pending
            }
            Some(ticket) => {
                if state.granted.remove(&ticket) {
                    drop(state);
                    return Poll::Ready(this.permit(deadline));
                }
                state.queue.set_waker(ticket, cx.waker());
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let (Some(ticket), false) = (self.ticket, self.done) else {
            return;
        };
        let wake = {
            let mut state = self.lane.state();
            if state.granted.remove(&ticket) {
                // A slot was handed over but the waiter left before taking it:
                // pass it on rather than lose it.
                state.release()
            } else {
                state.queue.remove(ticket);
                Vec::new()
            }
        };
        wake_all(wake);
    }
}

// ===== LanePermit =====

/// A running slot in a lane; dropping it frees the slot for the next caller in line.
pub struct LanePermit {
    lane: Lane,
    execution_deadline: Duration,
}

impl LanePermit {
    /// The lane this slot belongs to.
    pub fn lane(&self) -> &Lane {
        &self.lane
    }
}

impl Drop for LanePermit {
    fn drop(&mut self) {
        let wake = self.lane.state().release();
        wake_all(wake);
    }
}

impl fmt::Debug for LanePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LanePermit")
            .field("lane", &self.lane.shared.name)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    fn lane(cap: usize) -> Lane {
        Lane::new(
            "test".to_owned(),
            Settings {
                cap,
                policy: QueuePolicy::FairShare,
                execution_deadline: Duration::from_secs(1),
            },
        )
    }

    fn poll_once(acquire: Pin<&mut Acquire>) -> Poll<LanePermit> {
        acquire.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_waiter_dropped_after_its_grant_passes_the_slot_on() {
        let lane = lane(1);
        let first = pin!(lane.acquire_as(Some("a".into())));
        let Poll::Ready(held) = poll_once(first) else {
            panic!("a free lane admits at once");
        };
        let mut second = Box::pin(lane.acquire_as(Some("b".into())));
        let mut third = pin!(lane.acquire_as(Some("c".into())));
        assert!(poll_once(second.as_mut()).is_pending());
        assert!(poll_once(third.as_mut()).is_pending());
        assert_eq!(lane.stats().queued, 2);

        drop(held); // the slot goes to `second`, which never comes to take it
        assert_eq!((lane.stats().running, lane.stats().queued), (1, 1));
        drop(second);
        assert_eq!((lane.stats().running, lane.stats().queued), (1, 0));
        let Poll::Ready(permit) = poll_once(third.as_mut()) else {
            panic!("the slot passed on to the next waiter");
        };
        assert!(poll_once(third.as_mut()).is_pending(), "no second slot");
        drop(permit);
        assert_eq!((lane.stats().running, lane.stats().queued), (0, 0));
    }

    #[test]
    fn a_waiter_dropped_while_queued_leaves_no_trace() {
        let lane = lane(1);
        let Poll::Ready(held) = poll_once(pin!(lane.acquire_as(None))) else {
            panic!("a free lane admits at once");
        };
        let mut waiting = Box::pin(lane.acquire_as(None));
        assert!(poll_once(waiting.as_mut()).is_pending());
        assert_eq!(lane.stats().queued_by_caller.get(""), Some(&1));
        drop(waiting);
        assert_eq!((lane.stats().running, lane.stats().queued), (1, 0));
        drop(held);
        assert_eq!(lane.stats().running, 0);
    }
}
