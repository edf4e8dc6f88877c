//! Streams through a chain: failover up to the first event, then hand over.
//!
//! [`StreamOp`] opens a target's stream and waits for its first item, so an
//! error before any event reaches the caller fails over like a `generate`
//! error. After the first event the stream belongs to the caller: a later
//! error is passed through (never spliced with a second answer), and health
//! learns the outcome when the stream ends.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::{Stream, StreamExt as _};

use super::ChainConfig;
use super::event::{FailoverAction, FailoverEvent, notify};
use super::executor::Op;
use crate::health::{HealthTracker, Probe};
use crate::{
    CallContext, Error, ErrorClass, EventStream, Model, Request, Result, StreamEvent, Target,
};

/// A stream that has yielded its first event.
pub(super) struct Opened {
    pub(super) first: StreamEvent,
    pub(super) rest: EventStream,
}

/// `Model::stream`, up to the first event.
pub(super) struct StreamOp;

impl Op for StreamOp {
    type Output = Opened;
    const STREAMING: bool = true;

    fn call<'a>(
        &'a self,
        model: &'a dyn Model,
        request: Request,
    ) -> impl std::future::Future<Output = Result<Self::Output>> + Send + 'a {
        // Boxed: opening and the first event's wait are a large future that
        // should not sit in every stream call's own.
        Box::pin(async move {
            let mut rest = model.stream(request).await?;
            match rest.next().await {
                Some(Ok(first)) => Ok(Opened { first, rest }),
                Some(Err(error)) => Err(error),
                // Nothing was yielded, so failing over loses nothing; an
                // empty answer is a truncated one.
                None => Err(Error::stream_ended_early()),
            }
        })
    }

    fn record(output: &Opened, span: &tracing::Span) {
        span.record("gen_ai.response.model", output.rest.model());
    }
}

/// What the stream after the first event needs to report its end.
pub(super) struct Tail {
    pub(super) health: HealthTracker,
    pub(super) config: Arc<ChainConfig>,
    pub(super) target: Target,
    pub(super) attempt: u32,
    pub(super) context: CallContext,
    /// The half-open probe slot, freed when the stream ends or is dropped.
    pub(super) _probe: Option<Probe>,
}

impl Tail {
    /// The first event, then the rest of `opened`. A clean end records a
    /// health success; a transient error records a failure and is passed to
    /// the caller; dropping the stream early records nothing.
    pub(super) fn into_stream(
        self,
        opened: Opened,
    ) -> impl Stream<Item = Result<StreamEvent>> + Send + 'static {
        let Opened { first, rest } = opened;
        TailStream {
            first: Some(first),
            rest,
            tail: Some(self),
            ending: None,
        }
    }

    async fn failed(self, error: Error) -> Error {
        let error = error
            .or_target(&self.target)
            .with_context(self.context.clone());
        let class = self.config.classifier.classify(&error);
        let mut admitted_at = None;
        if class == ErrorClass::Transient {
            let state = self
                .health
                .record_failure(&self.target, error.retry_after())
                .await;
            admitted_at = state.admitted_at(self.health.now());
        }
        notify(&self.config, || {
            let mut event = FailoverEvent::new(FailoverAction::GiveUp, &self.context, true);
            event.target = Some(self.target.clone());
            event.attempt = self.attempt;
            event.error = Some(error.clone());
            event.class = Some(class);
            event.set_admitted_at(admitted_at, self.health.now());
            event
        });
        error
    }
}

/// A chain's stream after its first event, written out rather than built
/// from `unfold`: each event is one poll of the provider's stream, with no
/// future built and no state moved per event (ADR 0021). The end (a health
/// write, or a failure's record and notification) runs once, boxed.
struct TailStream {
    first: Option<StreamEvent>,
    rest: EventStream,
    /// Taken when the stream ends; `None` after.
    tail: Option<Tail>,
    /// The end's bookkeeping, then the last item (`None`: a clean end).
    ending: Option<BoxFuture<'static, Option<Result<StreamEvent>>>>,
}

impl Stream for TailStream {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        if this.ending.is_none() {
            if this.tail.is_none() {
                return Poll::Ready(None);
            }
            // A panic inside the provider's stream ends it with an error, as
            // a panic before the first event fails the attempt (ADR 0014).
            let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                this.rest.poll_next_unpin(cx)
            }))
            .unwrap_or_else(|payload| Poll::Ready(Some(Err(Error::panicked(&*payload)))));
            let end = match polled {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(event))) => return Poll::Ready(Some(Ok(event))),
                Poll::Ready(item) => item,
            };
            let Some(tail) = this.tail.take() else {
                return Poll::Ready(None);
            };
            this.ending = Some(match end {
                Some(Err(error)) => Box::pin(async move { Some(Err(tail.failed(error).await)) }),
                _ => Box::pin(async move {
                    tail.health.record_success(&tail.target).await;
                    None
                }),
            });
        }
        let Some(ending) = this.ending.as_mut() else {
            return Poll::Ready(None);
        };
        let last = std::task::ready!(ending.as_mut().poll(cx));
        this.ending = None;
        Poll::Ready(last)
    }
}
