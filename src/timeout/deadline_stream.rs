//! A stream wrapper enforcing the first-event and idle deadlines after the
//! stream has been opened: a call-scoped timeout ends when the call returns,
//! so these deadlines have to travel with the stream.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::time::{Instant, Sleep};

use super::{Phase, expired};
use crate::{BoxedEventStream, Result, StreamEvent, Target};

/// The deadline currently armed: which one, and its length for the error message.
struct Timer {
    sleep: Pin<Box<Sleep>>,
    phase: Phase,
    limit: Duration,
}

pub(crate) struct DeadlineStream {
    inner: BoxedEventStream,
    // The first-event deadline until an event arrives, then the idle deadline,
    // re-armed after every event; `None` when the current phase has no deadline.
    timer: Option<Timer>,
    idle: Option<Duration>,
    target: Target,
    done: bool,
}

impl DeadlineStream {
    /// Wraps `inner`: the first event is due by `first` (its instant and the
    /// deadline's length), later events within `idle` of the one before.
    pub(crate) fn new(
        inner: BoxedEventStream,
        target: Target,
        first: Option<(Instant, Duration)>,
        idle: Option<Duration>,
    ) -> Self {
        DeadlineStream {
            inner,
            timer: first.map(|(due, limit)| Timer {
                sleep: Box::pin(tokio::time::sleep_until(due)),
                phase: Phase::FirstEvent,
                limit,
            }),
            idle,
            target,
            done: false,
        }
    }

    fn rearm(&mut self) {
        let Some(idle) = self.idle else {
            self.timer = None;
            return;
        };
        let due = super::instant_after(Instant::now(), idle);
        match self.timer.as_mut() {
            Some(timer) => {
                timer.sleep.as_mut().reset(due);
                timer.phase = Phase::Idle;
                timer.limit = idle;
            }
            None => {
                self.timer = Some(Timer {
                    sleep: Box::pin(tokio::time::sleep_until(due)),
                    phase: Phase::Idle,
                    limit: idle,
                });
            }
        }
    }
}

impl Stream for DeadlineStream {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        // The stream is polled before the timer, so an event that is ready at
        // the deadline instant is delivered rather than dropped.
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(event))) => {
                this.rearm();
                Poll::Ready(Some(Ok(event)))
            }
            Poll::Ready(Some(Err(error))) => {
                this.done = true;
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let Some(timer) = this.timer.as_mut() else {
                    return Poll::Pending;
                };
                if timer.sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.done = true;
                Poll::Ready(Some(Err(expired(&this.target, timer.phase, timer.limit))))
            }
        }
    }
}
