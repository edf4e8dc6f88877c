//! Failover chains: a [`Chain`] tries its targets in order and implements
//! [`Model`], so callers cannot tell a chain from a single model — except that
//! a chain keeps answering when targets fail (design §6, ADR 0006).
//!
//! | error class | chain action | health |
//! | --- | --- | --- |
//! | transient | retry the same target (`transient_retries`, budget), then advance | failure |
//! | model-not-found | advance | none |
//! | request-specific | advance | none |
//! | permanent | return at once (advance with `advance_on_permanent`) | none |
//! | cancelled | return at once | none |
//!
//! A position may be a group of equivalent targets (`a|b`, ADR 0018): one
//! member is picked per call ([`RoutingStrategy`], [`Request::affinity`]) and
//! "advance" moves to the group's other members before the next position.
//! Opt-in: hedging ([`ChainConfig::hedge`]) and probing the soonest target when
//! all are benched ([`AllBenched`]).

mod budget;
mod config;
mod event;
mod executor;
mod group;
mod hedge;
mod metered;
mod stream;

use std::fmt;
use std::sync::Arc;

use futures::TryFutureExt as _;

pub use budget::RetryBudget;
pub use config::{AllBenched, ChainConfig};
pub use event::{FailoverAction, FailoverEvent, FailoverObserver};
pub use group::{Balancer, InFlight, RoutingStrategy};
pub use hedge::{Hedge, HedgeDelay};

use crate::health::HealthTracker;
use crate::{
    Capabilities, Error, EventStream, Model, ReasoningLevel, Request, Response, Result, Target,
};
use executor::Op;
use metered::{Metered, Pending};
use stream::{StreamOp, Tail};

use crate::telemetry::{self, CallSpan};
use crate::usage::UsageRecord;
use crate::{Attempt, AttemptOutcome};
use tracing::field::Empty;

/// One resolved element of a chain: the target, its `#reasoning` suffix if
/// any, and the model that serves it.
#[derive(Clone)]
#[non_exhaustive]
pub struct ChainTarget {
    /// `provider/model-id`.
    pub target: Target,
    /// The `#level` suffix from the spec; it overrides the request's level for
    /// this target.
    pub reasoning: Option<ReasoningLevel>,
    /// The model to call.
    pub model: Arc<dyn Model>,
    /// The member's weight within its group (`*N` in the spec). Default: 1.
    pub weight: u32,
}

impl ChainTarget {
    /// A chain element.
    pub fn new(target: Target, reasoning: Option<ReasoningLevel>, model: Arc<dyn Model>) -> Self {
        ChainTarget {
            target,
            reasoning,
            model,
            weight: 1,
        }
    }

    /// Sets the weight within a group (0 counts as 1).
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight.max(1);
        self
    }
}

impl fmt::Display for ChainTarget {
    /// `provider/model-id`, then `*weight` unless 1, then `#level` if any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.target)?;
        if self.weight != 1 {
            write!(f, "*{}", self.weight)?;
        }
        if let Some(level) = self.reasoning {
            write!(f, "#{level}")?;
        }
        Ok(())
    }
}

/// One chain position: a range of `Chain::targets`, and the balancer of a group.
struct Slot {
    start: usize,
    end: usize,
    balancer: Option<Balancer>,
}

impl fmt::Debug for ChainTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainTarget({self})")
    }
}

/// A failover chain over resolved targets.
///
/// For each target in order (for a group, each member the group picks):
/// skip it while benched; skip it, without penalty, when it declares it lacks
/// a capability the request needs or a context window the request's estimate
/// exceeds; call it
/// and act on the error's class (the table on [`crate::ErrorClass`]). The `Response` lists
/// every step in `attempts`; when all targets fail the error does
/// ([`crate::ErrorKind::Exhausted`]). Errors returned by a chain carry the
/// request's call context.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> majordomo::Result<()> {
/// use std::sync::Arc;
/// use majordomo::health::{FakeClock, HealthConfig, HealthTracker};
/// use majordomo::providers::fake::{FakeProvider, Outcome};
/// use majordomo::{Chain, ChainConfig, ChainTarget, Error, Model, Provider, Request, Target};
///
/// let fake = FakeProvider::new("fake");
/// fake.push("a", Outcome::error(Error::rate_limited(None)))
///     .push("a", Outcome::error(Error::rate_limited(None)))
///     .push("b", Outcome::text("hi from b"));
/// let targets = ["a", "b"]
///     .iter()
///     .map(|m| Ok(ChainTarget::new(Target::new("fake", m)?, None, fake.model(m)?)))
///     .collect::<majordomo::Result<Vec<_>>>()?;
/// let health = HealthTracker::new(HealthConfig::default(), Arc::new(FakeClock::new()));
/// let chain = Chain::new(targets, health, Arc::new(ChainConfig::default()));
/// let reply = chain.generate(Request::new().user("hi")).await?;
/// assert_eq!(reply.text(), "hi from b");
/// assert_eq!(reply.attempts.len(), 3); // a failed, a retried and failed, b ok
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Chain {
    /// The spec the chain was parsed from, for usage records.
    spec: Option<Arc<str>>,
    targets: Arc<[ChainTarget]>,
    slots: Arc<[Slot]>,
    health: HealthTracker,
    config: Arc<ChainConfig>,
    capabilities: Capabilities,
}

impl Chain {
    /// A chain over `targets`, in order, one target per position.
    pub fn new(targets: Vec<ChainTarget>, health: HealthTracker, config: Arc<ChainConfig>) -> Self {
        let slots = (0..targets.len())
            .map(|i| Slot {
                start: i,
                end: i + 1,
                balancer: None,
            })
            .collect();
        let capabilities = combined_capabilities(&targets);
        Chain {
            spec: None,
            targets: targets.into(),
            slots,
            health,
            config,
            capabilities,
        }
    }

    /// A chain whose positions may be groups of equivalent targets (design
    /// §6, ADR 0018): each inner `Vec` is one position; a position of two or
    /// more members picks one per call by `config.routing` (and the request's
    /// affinity key), and a member's failure fails over to the other members
    /// before the chain moves on.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> majordomo::Result<()> {
    /// use std::sync::Arc;
    /// use majordomo::health::HealthTracker;
    /// use majordomo::providers::fake::FakeProvider;
    /// use majordomo::{Chain, ChainConfig, ChainTarget, Model, Provider, Request, Target};
    ///
    /// let fake = FakeProvider::always_text("fake", "hi");
    /// let member = |m: &str, w: u32| -> majordomo::Result<ChainTarget> {
    ///     Ok(ChainTarget::new(Target::new("fake", m)?, None, fake.model(m)?).with_weight(w))
    /// };
    /// let chain = Chain::grouped(
    ///     vec![vec![member("a", 3)?, member("b", 1)?], vec![member("c", 1)?]],
    ///     HealthTracker::default(),
    ///     Arc::new(ChainConfig::default()),
    /// )?;
    /// assert_eq!(chain.to_string(), "fake/a*3|fake/b,fake/c");
    /// assert_eq!(chain.generate(Request::new().user("hi")).await?.text(), "hi");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A configuration error for an empty position or a group of more than
    /// [`crate::spec::MAX_GROUP_MEMBERS`] members.
    pub fn grouped(
        elements: Vec<Vec<ChainTarget>>,
        health: HealthTracker,
        config: Arc<ChainConfig>,
    ) -> Result<Self> {
        let mut targets = Vec::with_capacity(elements.iter().map(Vec::len).sum());
        let mut slots = Vec::with_capacity(elements.len());
        for (position, members) in elements.into_iter().enumerate() {
            if members.is_empty() || members.len() > group::MAX_MEMBERS {
                return Err(Error::config(format!(
                    "chain position {position} has {} members: a position needs 1 to {}",
                    members.len(),
                    group::MAX_MEMBERS
                )));
            }
            let start = targets.len();
            let balancer = (members.len() > 1).then(|| {
                let names: Vec<(&str, u32)> = members
                    .iter()
                    .map(|m| (m.target.as_str(), m.weight))
                    .collect();
                Balancer::new(&names, config.routing, config.routing_seed)
            });
            targets.extend(members);
            slots.push(Slot {
                start,
                end: targets.len(),
                balancer,
            });
        }
        let capabilities = combined_capabilities(&targets);
        Ok(Chain {
            spec: None,
            targets: targets.into(),
            slots: slots.into(),
            health,
            config,
            capabilities,
        })
    }

    /// Every target, in order: the members of a group are adjacent.
    pub fn targets(&self) -> &[ChainTarget] {
        &self.targets
    }

    /// The chain's positions, in order: one target each, or a group's members.
    pub fn elements(&self) -> impl Iterator<Item = &[ChainTarget]> + '_ {
        self.slots
            .iter()
            .map(|slot| &self.targets[slot.start..slot.end])
    }

    /// The health tracker the chain reports to.
    pub fn health(&self) -> &HealthTracker {
        &self.health
    }

    /// The chain's settings.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }
}

/// A chain serves a request when some target can, because it skips the
/// targets that declare they cannot: a flag is `Some(true)` when any target
/// declares it, `Some(false)` when every target declares it lacking, and
/// unknown otherwise. Sizes are the largest any target declares.
fn combined_capabilities(targets: &[ChainTarget]) -> Capabilities {
    let all: Vec<&Capabilities> = targets.iter().map(|t| t.model.capabilities()).collect();
    let flag = |get: fn(&Capabilities) -> Option<bool>| {
        if all.iter().any(|c| get(c) == Some(true)) {
            Some(true)
        } else if !all.is_empty() && all.iter().all(|c| get(c) == Some(false)) {
            Some(false)
        } else {
            None
        }
    };
    let size = |get: fn(&Capabilities) -> Option<u32>| all.iter().filter_map(|c| get(c)).max();
    Capabilities {
        streaming: flag(|c| c.streaming),
        tools: flag(|c| c.tools),
        images: flag(|c| c.images),
        json_schema: flag(|c| c.json_schema),
        reasoning: flag(|c| c.reasoning),
        context_window: size(|c| c.context_window),
        max_output_tokens: size(|c| c.max_output_tokens),
    }
}

/// `Model::generate`. The answer is boxed as it arrives: it passes through
/// every layer of the failover loop, and a pointer moves where a
/// `Response` would be copied at each (ADR 0021).
struct GenerateOp;

impl Op for GenerateOp {
    type Output = Box<Response>;
    const STREAMING: bool = false;

    fn call<'a>(
        &'a self,
        model: &'a dyn Model,
        request: Request,
    ) -> impl std::future::Future<Output = Result<Self::Output>> + Send + 'a {
        model.generate(request).map_ok(Box::new)
    }

    fn record(output: &Box<Response>, span: &tracing::Span) {
        telemetry::record_response(span, output, false);
    }
}

impl Model for Chain {
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    // Each path is its own box, so the usage record sits only in the
    // metered one.
    crate::llm::model::boxed_model_calls! {
        chain;
        generate(mut request) {
            let Some(reporter) = chain.config.usage() else {
                return Box::pin(async move { chain.generate_unmetered(&mut request).await });
            };
            Box::pin(async move {
                let mut record =
                    UsageRecord::begin(&chain.spec_text(), request.call_context());
                let started = tokio::time::Instant::now();
                let result = chain.generate_unmetered(&mut request).await;
                record.protocol = match &result {
                    Ok(response) => response
                        .protocol
                        .as_deref()
                        .map(str::to_owned)
                        .or_else(|| chain.protocol_of(&response.provider)),
                    Err(error) => {
                        error.target().and_then(|t| chain.protocol_of(t.provider()))
                    }
                };
                let classifier = &*chain.config.classifier;
                metered::report_generate(reporter, classifier, record, started, &result);
                result
            })
        }
        stream(mut request) {
            let Some(reporter) = chain.config.usage() else {
                return Box::pin(async move { chain.stream_unmetered(&mut request).await });
            };
            Box::pin(async move {
                let record = UsageRecord::begin(&chain.spec_text(), request.call_context());
                let started = tokio::time::Instant::now();
                let classifier = &*chain.config.classifier;
                match chain.stream_unmetered(&mut request).await {
                    Ok(stream) => {
                        let mut record = record;
                        record.set_attempts(stream.attempts());
                        record.provider = stream.provider().to_owned();
                        record.model = stream.model().to_owned();
                        record.protocol = stream
                            .protocol()
                            .map(str::to_owned)
                            .or_else(|| chain.protocol_of(stream.provider()));
                        let (reporter, classifier) =
                            (reporter.clone(), Arc::clone(&chain.config.classifier));
                        Ok(stream.map_inner(|events| {
                            let pending = Pending::new(record, started, reporter, classifier);
                            Metered::new(events, pending)
                        }))
                    }
                    Err(error) => {
                        let mut record = record;
                        record.protocol =
                            error.target().and_then(|t| chain.protocol_of(t.provider()));
                        metered::report_open_failure(
                            reporter, classifier, record, started, &error,
                        );
                        Err(error)
                    }
                }
            })
        }
    }
}

impl Chain {
    /// The protocol of the provider named `provider` in this chain, for a
    /// usage record whose answer did not say (or that has no answer).
    fn protocol_of(&self, provider: &str) -> Option<String> {
        self.targets
            .iter()
            .find(|t| t.target.provider() == provider)
            .and_then(|t| t.model.protocol())
            .map(str::to_owned)
    }

    /// Records this chain's spec (what [`crate::UsageRecord::spec`] reports);
    /// [`crate::Registry::parse`] sets the spec it was given.
    pub fn with_spec(mut self, spec: impl Into<Arc<str>>) -> Self {
        self.spec = Some(spec.into());
        self
    }

    fn spec_text(&self) -> String {
        match &self.spec {
            Some(spec) => spec.to_string(),
            None => self.to_string(),
        }
    }

    /// The chain call's span (`chain {spec}`): the attempts are its
    /// children, and a stream's lasts until the stream ends or is dropped.
    fn span(&self, request: &Request, streaming: bool) -> CallSpan {
        let span = telemetry::gen_ai_span!(
            "gen_ai.chain",
            "internal",
            streaming,
            majordomo.chain = %self,
            majordomo.provider = Empty,
            majordomo.attempts = Empty,
        );
        let capture = request.call_context().capture_content;
        if !span.is_disabled() {
            span.record("otel.name", format!("chain {}", self.spec_text()));
            telemetry::record_request(&span, request, capture);
        }
        CallSpan::new(span, capture)
    }

    /// Turns content capture on for `request` when the chain's settings ask.
    fn prepare(&self, request: &mut Request) {
        request.renew_scratch();
        if self.config.capture_content && !request.call_context().capture_content {
            *request = std::mem::take(request).capture_content(true);
        }
    }

    async fn generate_unmetered(&self, request: &mut Request) -> Result<Response> {
        self.prepare(request);
        let span = self.span(request, false);
        let answer =
            crate::telemetry::await_in_span!(self.execute(&GenerateOp, request), span.span());
        let result = answer.map(|answer| {
            let mut response = *answer.output;
            if response.provider.is_empty() {
                response.provider = self.targets[answer.index].target.provider().to_owned();
            }
            if response.model.is_empty() {
                response.model = self.targets[answer.index].target.model().to_owned();
            }
            response.attempts = answer.attempts;
            response
        });
        record_calls(span.span(), &result);
        span.finish(&result);
        result
    }

    async fn stream_unmetered(&self, request: &mut Request) -> Result<EventStream> {
        self.prepare(request);
        let span = self.span(request, true);
        let answer =
            match crate::telemetry::await_in_span!(self.execute(&StreamOp, request), span.span()) {
                Ok(answer) => answer,
                Err(error) => {
                    record_calls(span.span(), &Err::<(), _>(error.clone()));
                    span.failed(&error);
                    return Err(error);
                }
            };
        let target = self.targets[answer.index].target.clone();
        let provider = non_empty_or(answer.output.rest.provider(), target.provider());
        let model = non_empty_or(answer.output.rest.model(), target.model());
        let protocol = answer.output.rest.protocol().map(str::to_owned);
        let tail = Tail {
            health: self.health.clone(),
            config: Arc::clone(&self.config),
            target,
            attempt: answer.attempt,
            // Cloned once the stream is open, not held during the call.
            context: request.call_context().clone(),
            _probe: answer.probe,
        };
        let mut stream = EventStream::new(provider, model, tail.into_stream(answer.output))
            .with_attempts(answer.attempts);
        if let Some(protocol) = protocol {
            stream = stream.with_protocol(protocol);
        }
        record_calls(span.span(), &Ok::<_, Error>(&stream));
        // The first event is in hand: the chain's time to first chunk is now.
        Ok(span.stream(stream, true))
    }
}

/// What the chain span says about the calls made: how many, and which
/// provider answered (or was called last).
fn record_calls<T: Steps>(span: &tracing::Span, result: &Result<T>) {
    if span.is_disabled() {
        return;
    }
    let attempts = match result {
        Ok(answer) => answer.steps(),
        Err(error) => error.attempts(),
    };
    let mut calls = attempts
        .iter()
        .filter(|a| matches!(a.outcome, AttemptOutcome::Ok | AttemptOutcome::Error));
    span.record("majordomo.attempts", calls.clone().count() as i64);
    if let Some(last) = calls.next_back() {
        span.record("majordomo.provider", last.target.provider());
    }
}

/// Answers that list the steps taken.
trait Steps {
    fn steps(&self) -> &[Attempt];
}

impl Steps for Response {
    fn steps(&self) -> &[Attempt] {
        &self.attempts
    }
}

impl Steps for &EventStream {
    fn steps(&self) -> &[Attempt] {
        self.attempts()
    }
}

impl Steps for () {
    fn steps(&self) -> &[Attempt] {
        &[]
    }
}

fn non_empty_or(value: &str, fallback: &str) -> String {
    if value.is_empty() { fallback } else { value }.to_owned()
}

impl fmt::Display for Chain {
    /// The canonical spec: positions joined by `,`, group members by `|`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, members) in self.elements().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            for (j, t) in members.iter().enumerate() {
                if j > 0 {
                    f.write_str("|")?;
                }
                write!(f, "{t}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain")
            .field("targets", &self.targets)
            .field("config", &self.config)
            .finish()
    }
}
