//! Deadlines on model calls: [`TimeoutProvider`] and its factory [`TimeoutLayer`].
//!
//! `generate` gets one hard deadline. A stream gets two instead: one for its
//! first event (opening included) and one for the gap between events. A
//! wall-clock cap on a whole stream would cut long answers that are arriving
//! steadily. An expired deadline is a transient [`crate::ErrorKind::Timeout`]
//! error naming the target, so a failover chain retries or advances.

mod deadline_stream;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

pub(crate) use self::deadline_stream::DeadlineStream;
use crate::attribution::{attribute, attribute_stream};
use crate::lanes::QueueWatch;
use crate::setters::chained_setters;
use crate::{
    Capabilities, Error, EventStream, Model, Provider, ProviderLayer, Request, Response, Result,
    Target,
};

/// The deadlines a [`TimeoutProvider`] applies. `None` turns one off.
///
/// Why three and not one: `generate` gets one hard deadline, but a stream
/// gets two instead, one for its first event (the request and the model's
/// time to start answering) and one for the gap between events. A wall-clock
/// cap on a whole stream would cut long answers that are arriving steadily,
/// while a dead or trickling server is caught by the idle gap within a
/// minute. Once a model streams, tokens come many times a second and its
/// longest real pauses (a reasoning phase ending, a large tool call being
/// prepared) last seconds, so a minute is ample headroom.
///
/// An expired deadline is a transient [`ErrorKind::Timeout`](crate::ErrorKind::Timeout)
/// error naming the target, so a [`Chain`](crate::Chain) retries or advances
/// (see [`ErrorClass`](crate::ErrorClass)). The HTTP providers bound every
/// call the same way on their own
/// ([`HttpSettings::request_timeout`](crate::providers::http::HttpSettings::request_timeout),
/// [`HttpSettings::idle_timeout`](crate::providers::http::HttpSettings::idle_timeout));
/// these deadlines are for any provider, and for a tighter bound per
/// registry; a [`ChainConfig::deadline`](crate::ChainConfig::deadline) bounds
/// a whole chain call across its attempts.
///
/// ```
/// use std::time::Duration;
/// use majordomo::Deadlines;
/// let deadlines = Deadlines::new()
///     .generate(Duration::from_secs(30))
///     .first_event(Duration::from_secs(10))
///     .idle(None);
/// assert_eq!(deadlines.idle, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Deadlines {
    /// The whole of a `generate` call. Default: 5 minutes.
    pub generate: Option<Duration>,
    /// From the start of a `stream` call to its first event. Default: 2 minutes.
    pub first_event: Option<Duration>,
    /// Between two events of a stream. Default: 1 minute.
    pub idle: Option<Duration>,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            generate: Some(Duration::from_secs(5 * 60)),
            first_event: Some(Duration::from_secs(2 * 60)),
            idle: Some(Duration::from_secs(60)),
        }
    }
}

impl Deadlines {
    /// The defaults: 5 minutes per `generate`, 2 minutes to a stream's first
    /// event, 1 minute between events.
    pub fn new() -> Self {
        Self::default()
    }

    /// No deadline at all; set the ones you want.
    pub fn none() -> Self {
        Deadlines {
            generate: None,
            first_event: None,
            idle: None,
        }
    }

    chained_setters! {
        /// Sets (or with `None`, removes) the `generate` deadline.
        generate(limit: impl Into<Option<Duration>>) => generate = limit.into();
        /// Sets (or with `None`, removes) the first-event deadline of streams.
        first_event(limit: impl Into<Option<Duration>>) => first_event = limit.into();
        /// Sets (or with `None`, removes) the idle deadline between stream events.
        idle(limit: impl Into<Option<Duration>>) => idle = limit.into();
    }
}

/// Makes [`TimeoutProvider`]s with the same [`Deadlines`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeoutLayer {
    deadlines: Deadlines,
}

impl TimeoutLayer {
    /// A layer applying `deadlines`.
    pub fn new(deadlines: Deadlines) -> Self {
        TimeoutLayer { deadlines }
    }
}

impl ProviderLayer for TimeoutLayer {
    fn layer(&self, inner: Arc<dyn Provider>) -> Arc<dyn Provider> {
        Arc::new(TimeoutProvider::new(inner, self.deadlines))
    }
}

/// A provider whose models enforce [`Deadlines`] on every call and stamp the
/// request's call context on every error they pass on.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> majordomo::Result<()> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use majordomo::providers::fake::{FakeProvider, Outcome};
/// use majordomo::{Deadlines, ErrorClass, Model, Provider, Request, TimeoutProvider};
///
/// let fake = FakeProvider::new("fake");
/// fake.push("slow", Outcome::hang());
/// let provider = TimeoutProvider::new(
///     Arc::new(fake),
///     Deadlines::new().generate(Duration::from_secs(30)),
/// );
/// let err = provider.model("slow")?.generate(Request::new().user("hi")).await.unwrap_err();
/// assert!(err.is_timeout());
/// assert_eq!(err.class(), ErrorClass::Transient);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct TimeoutProvider {
    inner: Arc<dyn Provider>,
    deadlines: Deadlines,
}

impl TimeoutProvider {
    /// Wraps `inner` with `deadlines`.
    pub fn new(inner: Arc<dyn Provider>, deadlines: Deadlines) -> Self {
        TimeoutProvider { inner, deadlines }
    }

    /// The deadlines applied.
    pub fn deadlines(&self) -> Deadlines {
        self.deadlines
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &Arc<dyn Provider> {
        &self.inner
    }

    /// Unwraps the inner provider.
    pub fn into_inner(self) -> Arc<dyn Provider> {
        self.inner
    }
}

impl Provider for TimeoutProvider {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn model(&self, id: &str) -> Result<Arc<dyn Model>> {
        let inner = self.inner.model(id)?;
        Ok(Arc::new(TimeoutModel {
            inner,
            target: Target::new(self.inner.name(), id)?,
            deadlines: self.deadlines,
        }))
    }
}

/// One model of a [`TimeoutProvider`].
struct TimeoutModel {
    inner: Arc<dyn Model>,
    target: Target,
    deadlines: Deadlines,
}

/// Which deadline passed.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Generate,
    FirstEvent,
    Idle,
}

/// `start + limit`, saturating: `Instant + Duration` panics on overflow, and
/// `Duration::MAX` is the natural "no deadline". About thirty years ahead
/// is as good as never (tokio's own timers cap the same way).
pub(crate) fn instant_after(start: Instant, limit: Duration) -> Instant {
    const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    start
        .checked_add(limit)
        .or_else(|| start.checked_add(limit.min(FAR_FUTURE)))
        .unwrap_or(start)
}

/// The error for a deadline that passed while the call was still waiting in
/// a lane's queue below this decorator: the call never reached the target, so
/// its health must not pay for it. Request-specific: the chain advances to the
/// next target without a penalty, as it does for a capability this target
/// lacks right now (ADR 0015). Still a timeout by kind.
fn expired_in_queue(target: &Target, phase: Phase, limit: Duration) -> Error {
    let deadline = match phase {
        Phase::Generate => "generate",
        Phase::FirstEvent | Phase::Idle => "first-event",
    };
    Error::timeout(format!(
        "the {deadline} deadline of {limit:?} passed while the call waited for a lane slot; \
         it never reached the target"
    ))
    .with_target(target)
    .with_code("lane_queue_timeout")
    .with_class(crate::ErrorClass::RequestSpecific)
}

/// The error for `phase`'s deadline passing: [`expired_in_queue`] when `watch`
/// says the call is still queued in a lane, else [`expired`].
fn expired_watched(target: &Target, phase: Phase, limit: Duration, watch: &QueueWatch) -> Error {
    if watch.is_queued() {
        expired_in_queue(target, phase, limit)
    } else {
        expired(target, phase, limit)
    }
}

/// The transient timeout error for `target`, saying which deadline passed.
fn expired(target: &Target, phase: Phase, limit: Duration) -> Error {
    let message = match phase {
        Phase::Generate => format!("no answer within the generate deadline of {limit:?}"),
        Phase::FirstEvent => {
            format!("no stream event within the first-event deadline of {limit:?}")
        }
        Phase::Idle => format!("no stream event for {limit:?}: idle deadline passed"),
    };
    Error::timeout(message).with_target(target)
}

impl TimeoutModel {
    async fn open(&self, mut request: Request, started: Instant) -> Result<EventStream> {
        let Some(limit) = self.deadlines.first_event else {
            return self.inner.stream(request).await;
        };
        let watch = request.queue_watch().or_new();
        request.set_queue_watch(watch.clone());
        tokio::time::timeout_at(instant_after(started, limit), self.inner.stream(request))
            .await
            .map_err(|_| expired_watched(&self.target, Phase::FirstEvent, limit, &watch))?
    }
}

#[async_trait]
impl Model for TimeoutModel {
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }

    fn protocol(&self) -> Option<&str> {
        self.inner.protocol()
    }

    async fn generate(&self, mut request: Request) -> Result<Response> {
        let context = request.call_context().clone();
        let result = match self.deadlines.generate {
            Some(limit) => {
                let watch = request.queue_watch().or_new();
                request.set_queue_watch(watch.clone());
                tokio::time::timeout(limit, self.inner.generate(request))
                    .await
                    .unwrap_or_else(|_| {
                        Err(expired_watched(
                            &self.target,
                            Phase::Generate,
                            limit,
                            &watch,
                        ))
                    })
            }
            None => self.inner.generate(request).await,
        };
        result.map_err(|e| attribute(e, &context))
    }

    async fn stream(&self, request: Request) -> Result<EventStream> {
        let context = request.call_context().clone();
        let started = Instant::now();
        let opened = self
            .open(request, started)
            .await
            .map_err(|e| attribute(e, &context))?;
        let Deadlines {
            first_event, idle, ..
        } = self.deadlines;
        if first_event.is_none() && idle.is_none() {
            return Ok(attribute_stream(opened, context));
        }
        // Opening used part of the first-event budget; the rest travels with the stream.
        let first = first_event.map(|limit| (instant_after(started, limit), limit));
        let target = self.target.clone();
        let guarded =
            opened.map_inner(move |events| DeadlineStream::new(events, target, first, idle));
        Ok(attribute_stream(guarded, context))
    }
}
