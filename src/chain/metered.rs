//! One [`UsageRecord`] per chain call, when the chain's settings carry a usage
//! sink: built from the answer or the error of `generate`, and for a stream when
//! it ends, breaks or is dropped.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::time::Instant;

use crate::usage::{UsageRecord, UsageReporter};
use crate::{Classifier, Error, ErrorClass, Response, Result, StreamEvent, Usage};

/// Whole milliseconds since `started`.
fn millis_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Reports a finished `generate`.
pub(super) fn report_generate(
    reporter: &UsageReporter,
    classifier: &dyn Classifier,
    mut record: UsageRecord,
    started: Instant,
    result: &Result<Response>,
) {
    record.latency_ms = millis_since(started);
    match result {
        Ok(response) => {
            record.set_attempts(&response.attempts);
            record.provider.clone_from(&response.provider);
            record.model.clone_from(&response.model);
            record.set_usage(&response.usage);
        }
        Err(error) => record.set_error(error, classifier.classify(error)),
    }
    reporter.report(record);
}

/// Reports a stream that failed before its first event.
pub(super) fn report_open_failure(
    reporter: &UsageReporter,
    classifier: &dyn Classifier,
    mut record: UsageRecord,
    started: Instant,
    error: &Error,
) {
    record.latency_ms = millis_since(started);
    record.set_error(error, classifier.classify(error));
    reporter.report(record);
}

type Events = Pin<Box<dyn Stream<Item = Result<StreamEvent>> + Send>>;

/// The caller's side of a metered stream: passes every item on, sums the usage
/// events, and reports once — at the end, at an error, or when dropped.
pub(super) struct Metered {
    inner: Events,
    pending: Option<Pending>,
}

struct Pending {
    record: UsageRecord,
    usage: Usage,
    started: Instant,
    reporter: UsageReporter,
    classifier: Arc<dyn Classifier>,
}

impl Pending {
    fn finish(mut self, outcome: std::result::Result<(), (&Error, ErrorClass)>) {
        self.record.latency_ms = millis_since(self.started);
        self.record.set_usage(&self.usage);
        if let Err((error, class)) = outcome {
            self.record.set_error(error, class);
        }
        self.reporter.report(self.record);
    }
}

impl Metered {
    /// Meters `inner`, whose first event arrived at `first_event` after
    /// `started`; `record` already names the answering target and attempts.
    pub(super) fn new(
        inner: impl Stream<Item = Result<StreamEvent>> + Send + 'static,
        mut record: UsageRecord,
        started: Instant,
        reporter: UsageReporter,
        classifier: Arc<dyn Classifier>,
    ) -> Self {
        record.time_to_first_token_ms = Some(millis_since(started));
        Metered {
            inner: Box::pin(inner),
            pending: Some(Pending {
                record,
                usage: Usage::default(),
                started,
                reporter,
                classifier,
            }),
        }
    }
}

impl Stream for Metered {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = match self.inner.as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item,
        };
        match &item {
            Some(Ok(StreamEvent::Usage { usage })) => {
                if let Some(pending) = &mut self.pending {
                    pending.usage.merge(usage);
                }
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => {
                if let Some(pending) = self.pending.take() {
                    let class = pending.classifier.classify(error);
                    pending.finish(Err((error, class)));
                }
            }
            None => {
                if let Some(pending) = self.pending.take() {
                    pending.finish(Ok(()));
                }
            }
        }
        Poll::Ready(item)
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        // Dropped before its end: the caller gave up on the answer.
        if let Some(pending) = self.pending.take() {
            let cancelled = Error::cancelled();
            pending.finish(Err((&cancelled, ErrorClass::Cancelled)));
        }
    }
}
