//! [`Observed`]: an event stream that shows each event to an observer and
//! tells it, once, how the stream ended: at its end, at an error, or dropped
//! by the caller first. Usage records and telemetry spans both need that.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;

use super::class::ErrorClass;
use super::error::{Error, Result};
use super::stream::{BoxedEventStream, StreamEvent};

/// What an [`Observed`] stream reports to.
pub(crate) trait StreamObserver: Unpin {
    /// Sees one event on its way to the caller.
    fn event(&mut self, event: &StreamEvent);

    /// The class of the error the stream broke on.
    fn class_of(&self, error: &Error) -> ErrorClass;

    /// Holds what should be in force while the inner stream is polled (a
    /// tracing span, entered); nothing by default.
    fn enter(&self) -> Option<tracing::span::Entered<'_>> {
        None
    }

    /// How the stream ended: `None` at its end; else the error it broke on,
    /// or the caller's cancellation when dropped before its end.
    fn end(self, failure: Option<(&Error, ErrorClass)>);
}

/// Passes every item of `inner` on, showing it to the observer first.
pub(crate) struct Observed<O: StreamObserver> {
    inner: BoxedEventStream,
    observer: Option<O>,
}

impl<O: StreamObserver> Observed<O> {
    pub(crate) fn new(inner: BoxedEventStream, observer: O) -> Self {
        Observed {
            inner,
            observer: Some(observer),
        }
    }
}

impl<O: StreamObserver> Stream for Observed<O> {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let item = {
            let _entered = this.observer.as_ref().and_then(O::enter);
            match this.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(item) => item,
            }
        };
        match &item {
            Some(Ok(event)) => {
                if let Some(observer) = &mut this.observer {
                    observer.event(event);
                }
            }
            Some(Err(error)) => {
                if let Some(observer) = this.observer.take() {
                    let class = observer.class_of(error);
                    observer.end(Some((error, class)));
                }
            }
            None => {
                if let Some(observer) = this.observer.take() {
                    observer.end(None);
                }
            }
        }
        Poll::Ready(item)
    }
}

impl<O: StreamObserver> Drop for Observed<O> {
    fn drop(&mut self) {
        // Dropped before its end: the caller gave up on the answer.
        if let Some(observer) = self.observer.take() {
            observer.end(Some((&Error::cancelled(), ErrorClass::Cancelled)));
        }
    }
}
