//! One [`UsageRecord`] per chain call, when the chain's settings carry a usage
//! sink: built from the answer or the error of `generate`, and for a stream when
//! it ends, breaks or is dropped.

use std::sync::Arc;

use tokio::time::Instant;

use crate::llm::observed::{Observed, StreamObserver};
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

/// The caller's side of a metered stream: passes every item on, sums the usage
/// events, and reports once — at the end, at an error, or when dropped.
pub(super) type Metered = Observed<Pending>;

pub(super) struct Pending {
    record: UsageRecord,
    usage: Usage,
    started: Instant,
    reporter: UsageReporter,
    classifier: Arc<dyn Classifier>,
}

impl Pending {
    /// Meters a stream whose first event arrived now, `started` being when
    /// the call began; `record` already names the answering target and
    /// attempts.
    pub(super) fn new(
        mut record: UsageRecord,
        started: Instant,
        reporter: UsageReporter,
        classifier: Arc<dyn Classifier>,
    ) -> Self {
        record.time_to_first_token_ms = Some(millis_since(started));
        Pending {
            record,
            usage: Usage::default(),
            started,
            reporter,
            classifier,
        }
    }
}

impl StreamObserver for Pending {
    fn event(&mut self, event: &StreamEvent) {
        if let StreamEvent::Usage { usage } = event {
            self.usage.merge(usage);
        }
    }

    fn class_of(&self, error: &Error) -> ErrorClass {
        self.classifier.classify(error)
    }

    fn end(mut self, failure: Option<(&Error, ErrorClass)>) {
        self.record.latency_ms = millis_since(self.started);
        self.record.set_usage(&self.usage);
        if let Some((error, class)) = failure {
            self.record.set_error(error, class);
        }
        self.reporter.report(self.record);
    }
}
