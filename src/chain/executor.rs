//! The failover loop shared by `generate` and `stream` (design §6).
//!
//! A healthy first target that fits the request is called on a plain path
//! ([`Chain::execute`]); everything else goes through the loop, which carries
//! on from that call. One [`Run`] per looped call walks the targets in order:
//! skip benched ones, skip those declaring a missing capability, call the
//! rest, and act on each error's class. The run's state lives outside the
//! future that the deadline may cut short, so an expired deadline still
//! reports every step taken.

use std::time::{Duration, SystemTime};

use futures::FutureExt as _;

use super::config::AllBenched;
use super::event::{FailoverAction, FailoverEvent, notify};
use super::group::Balancer;
use super::{Chain, ChainTarget, Slot};
use crate::health::{Admission, Probe};
use crate::{
    Attempt, CallContext, Capability, Error, ErrorClass, Model, Request, Result, Target,
    estimate_input_tokens,
};

/// A group member being called: its group's balancer and its number there.
pub(super) type Member<'c> = Option<(&'c Balancer, usize)>;

/// A call that answered: the output, which target gave it, and how.
pub(super) struct Won<T> {
    pub(super) output: T,
    /// Index into `Chain::targets`.
    pub(super) index: usize,
    pub(super) attempt: u32,
    /// The probe slot of a hedge that answered (the caller keeps its own).
    pub(super) probe: Option<Probe>,
}

/// One kind of call the chain makes: `generate`, or `stream` up to its first event.
pub(super) trait Op: Sync {
    /// What a successful call yields.
    type Output: Send;
    /// Whether the request needs streaming support.
    const STREAMING: bool;
    /// Calls `model`. For streams, the future resolves once the first event
    /// (or an error instead of it) has arrived.
    fn call<'a>(
        &'a self,
        model: &'a dyn Model,
        request: Request,
    ) -> impl std::future::Future<Output = Result<Self::Output>> + Send + 'a;

    /// Records what `output` says on the attempt's span (only called when a
    /// subscriber is interested in it).
    fn record(output: &Self::Output, span: &tracing::Span);
}

/// The span of one attempt (`attempt fake/a`), a child of the chain's span
/// and the parent of the provider's own call span. It carries the
/// conventions' attributes so that a provider without spans of its own (the
/// fake, a host's model) is still seen.
pub(super) fn attempt_span(
    element: &super::ChainTarget,
    attempt: u32,
    hedge: bool,
    streaming: bool,
) -> tracing::Span {
    let target = &element.target;
    let span = crate::telemetry::gen_ai_span!(
        "gen_ai.attempt",
        "internal",
        streaming,
        // The conventions' name for the protocol when the model says which;
        // a host model that does not is named by its registry name. (Read
        // only when the span is enabled: the macro evaluates its fields then.)
        gen_ai.provider.name = element
            .model
            .protocol()
            .map_or(target.provider(), crate::telemetry::provider_name),
        majordomo.provider = target.provider(),
        gen_ai.request.model = target.model(),
        majordomo.attempt = attempt,
        majordomo.hedge = hedge,
    );
    if !span.is_disabled() {
        span.record("otel.name", format!("attempt {target}"));
    }
    span
}

/// Calls `model` once, in `span`: the one place the chain calls a provider
/// (plain attempts and both sides of a hedge race).
fn invoke<'a, O: Op>(
    op: &'a O,
    model: &'a dyn Model,
    request: Request,
    span: tracing::Span,
) -> impl std::future::Future<Output = Result<O::Output>> + Send + 'a {
    // A panic in the provider is this attempt's error, not the caller's crash
    // (ADR 0014). Unwind safety: the attempt's future is dropped whole; what it
    // shared with other calls (lane slots, health, the model) is released by
    // RAII or kept consistent under poison-tolerant locks.
    std::panic::AssertUnwindSafe(crate::telemetry::in_span(op.call(model, request), &span))
        .catch_unwind()
        .map(|outcome| outcome.unwrap_or_else(|payload| Err(Error::panicked(&*payload))))
}

/// An admitted call's probe slot (`None` for a healthy target), or how
/// long the target is benched (`None` while another call probes it).
fn admitted(admission: Admission) -> std::result::Result<Option<Probe>, Option<SystemTime>> {
    match admission {
        Admission::Open => Ok(None),
        Admission::Probe(probe) => Ok(Some(probe)),
        Admission::Benched(until) => Err(Some(until)),
        // Another call is probing this target: benched until it returns.
        _ => Err(None),
    }
}

/// A successful chain call: the answer, the steps taken, and which element answered.
pub(super) struct Answer<T> {
    pub(super) output: T,
    pub(super) attempts: Vec<Attempt>,
    /// Index into `Chain::targets` of the element that answered.
    pub(super) index: usize,
    pub(super) attempt: u32,
    /// The half-open probe slot the answering call holds: a stream keeps it
    /// until it ends, so no second probe starts while the first is open.
    pub(super) probe: Option<Probe>,
}

/// The first target's call, made by [`Chain::execute`]'s plain path and
/// handed to the failover loop when it did not simply answer.
pub(super) struct First<T> {
    result: Result<T>,
    span: tracing::Span,
}

/// Why a target cannot serve a request, when it declares so.
enum Unfit {
    Lacks(Capability),
    TooLarge { estimate: u64, window: u32 },
}

impl Chain {
    /// Runs `op` over the chain for `request`.
    ///
    /// The plain path first: when the chain's first position is one target
    /// that is healthy and fits the request, and no hedge or deadline
    /// applies, it is called here, and an answer that needs no health write
    /// returns at once. Anything else (a failure, a group, a benched target,
    /// a hedge, a deadline) goes to the failover loop, in a box of its own,
    /// which carries on from the call already made. Same steps, same
    /// records: the loop is only not entered when it would have done nothing
    /// more; the healthy call then runs far less code (ADR 0021).
    pub(super) async fn execute<O: Op>(
        &self,
        op: &O,
        request: &Request,
    ) -> Result<Answer<O::Output>> {
        if let Some(budget) = &self.config.retry_budget {
            budget.deposit(self.health.now());
        }
        if let Some(hedge) = &self.config.hedge {
            hedge.budget().deposit(self.health.now());
        }
        let mut estimate = None;
        let first = match self.plain_first(request, O::STREAMING, &mut estimate) {
            Some(element) => {
                let span = attempt_span(element, 1, false, O::STREAMING);
                match invoke(op, &*element.model, request.clone(), span.clone()).await {
                    // A stream's success is recorded when it ends cleanly.
                    Ok(output)
                        if O::STREAMING || self.health.record_success_now(&element.target) =>
                    {
                        if !span.is_disabled() {
                            O::record(&output, &span);
                        }
                        return Ok(Answer {
                            output,
                            attempts: vec![Attempt::ok(element.target.clone())],
                            index: 0,
                            attempt: 1,
                            probe: None,
                        });
                    }
                    result => Some(First { result, span }),
                }
            }
            None => None,
        };
        Box::pin(self.failover(op, request, first, estimate)).await
    }

    /// The first target when the plain path applies to it (see
    /// [`Chain::execute`]).
    fn plain_first(
        &self,
        request: &Request,
        streaming: bool,
        estimate: &mut Option<u64>,
    ) -> Option<&ChainTarget> {
        let config = &*self.config;
        if config.hedge.is_some() || config.deadline.is_some() {
            return None;
        }
        let slot = self.slots.first().filter(|slot| slot.balancer.is_none())?;
        let element = &self.targets[slot.start];
        let admitted = matches!(
            self.health.admit_now(&element.target),
            Some(Admission::Open)
        );
        let same_level = element
            .reasoning
            .is_none_or(|level| request.reasoning_level() == Some(level));
        (admitted
            && same_level
            && self
                .unfit(slot.start, request, streaming, estimate)
                .is_none())
        .then_some(element)
    }

    /// Why target `index` cannot serve `request` (`streaming`: the call is a
    /// stream), when its declared capabilities or context window say so.
    /// `estimate` keeps the request's size once computed.
    fn unfit(
        &self,
        index: usize,
        request: &Request,
        streaming: bool,
        estimate: &mut Option<u64>,
    ) -> Option<Unfit> {
        let element = &self.targets[index];
        // A stream passes over a target that declares it cannot stream
        // only while a later target might stream natively; the last such
        // target streams by replaying its answer, as it does when called
        // alone (so a chain of one streams what its model streams).
        let streaming = streaming
            && self.targets[index + 1..]
                .iter()
                .any(|later| later.model.capabilities().streaming != Some(false));
        let capabilities = element.model.capabilities();
        if let Some(capability) = capabilities.missing_for(request, streaming) {
            return Some(Unfit::Lacks(capability));
        }
        let window = capabilities.context_window?;
        let estimate = *estimate.get_or_insert_with(|| estimate_input_tokens(request));
        (estimate > u64::from(window)).then_some(Unfit::TooLarge { estimate, window })
    }

    /// The failover loop (design §6): every step of [`Chain::execute`] but
    /// the plain path's, carrying on from `first` when it was made.
    async fn failover<O: Op>(
        &self,
        op: &O,
        request: &Request,
        first: Option<First<O::Output>>,
        estimate: Option<u64>,
    ) -> Result<Answer<O::Output>> {
        let mut run = Run {
            chain: self,
            context: request.call_context(),
            streaming: O::STREAMING,
            attempts: Vec::with_capacity(self.targets.len()),
            last_error: None,
            in_flight: None,
            soonest: None,
            missing: None,
            missing_variable: None,
            done: Vec::new(),
            estimate,
        };
        // One walk future, awaited bare or under the deadline. The timer is
        // boxed with it: a chain without a deadline should not carry one in
        // every call's future.
        let walk = run.walk(op, request, first);
        let outcome = match self.config.deadline {
            None => walk.await,
            Some(limit) => match Box::pin(tokio::time::timeout(limit, walk)).await {
                Ok(outcome) => outcome,
                Err(_elapsed) => Err(run.deadline_exceeded(limit)),
            },
        };
        let won = outcome?;
        Ok(Answer {
            index: won.index,
            output: won.output,
            attempts: run.attempts,
            attempt: won.attempt,
            probe: won.probe,
        })
    }
}

/// The state of one chain call.
struct Run<'c> {
    chain: &'c Chain,
    context: &'c CallContext,
    streaming: bool,
    attempts: Vec<Attempt>,
    /// The error of the last failed call, reported when the chain runs out.
    last_error: Option<Error>,
    /// The element and attempt number of the call in flight, for the deadline report.
    in_flight: Option<(usize, u32)>,
    /// The target skipped while benched that comes back first, and when
    /// (the earliest re-admission of all).
    soonest: Option<(SystemTime, usize)>,
    /// Why the last target skipped for the request's sake was skipped
    /// (a missing capability, a context window too small).
    missing: Option<Error>,
    /// The first variable a not-configured target asked for.
    missing_variable: Option<std::sync::Arc<str>>,
    /// Targets already tried, skipped or hedged, by index; allocated only
    /// for chains with groups or hedging.
    done: Vec<bool>,
    /// The request's estimated size in tokens, once a target declares a context window.
    estimate: Option<u64>,
}

/// How a hedged first attempt ended.
enum Raced<T> {
    /// The primary's own result: no hedge answered.
    Primary(Result<T>),
    /// A hedge answered first.
    Hedge(Won<T>),
}

/// What follows a settled call, each small: an answer waiting (boxed) for
/// its success to be written to a shared health store, or the error.
enum AfterCall<'a, T> {
    Record(futures::future::BoxFuture<'a, Won<T>>),
    Failed(Error),
}

/// What to do after a failed call.
enum Next {
    Retry,
    Advance,
    Stop,
}

impl<'c> Run<'c> {
    /// Walks the targets; returns the answer and which target gave it.
    async fn walk<O: Op>(
        &mut self,
        op: &O,
        request: &Request,
        mut first: Option<First<O::Output>>,
    ) -> Result<Won<O::Output>> {
        let chain = self.chain;
        if chain.targets.is_empty() {
            return Err(
                Error::config("the chain has no targets").with_context(self.context.clone())
            );
        }
        for slot in chain.slots.iter() {
            // One target, or a group's members one pick at a time until one
            // answers or none is left. One await point per step, and the
            // answer moved as little as possible: the call's future is moved
            // into a box on every call, so its size is paid every time.
            loop {
                let (index, member) = match &slot.balancer {
                    None if self.is_done(slot.start) => break,
                    None => (slot.start, None),
                    Some(balancer) => {
                        let untried = self.untried(slot, None);
                        let Some(member) = balancer.pick(untried, request.affinity_key()) else {
                            break;
                        };
                        self.mark_done(slot.start + member);
                        (slot.start + member, Some((balancer, member)))
                    }
                };
                'attempt: {
                    if let Some(first) = first.take() {
                        // The plain path called this target (admitted and
                        // fit for the request): carry on from its call.
                        if let Some(won) = self
                            .call_target(op, index, request, member, Some(first))
                            .await?
                        {
                            return Ok(won);
                        }
                        break 'attempt;
                    }
                    // The healthy path answers at once; the rest (a probe
                    // to start, a shared store to ask) is boxed so that its
                    // future does not sit in every call's (ADR 0021).
                    let target = &chain.targets[index].target;
                    let admission = match chain.health.admit_now(target) {
                        Some(admission) => admission,
                        None => Box::pin(chain.health.admit(target)).await,
                    };
                    // Consumed whole (not matched in place), so that the
                    // admission is not kept in this future during the call.
                    // A probe slot is rare: boxed, it costs the healthy
                    // path no room in this future.
                    let probe = match admitted(admission) {
                        Ok(probe) => probe.map(Box::new),
                        Err(until) => {
                            self.skip_benched(index, until);
                            break 'attempt;
                        }
                    };
                    let mut adjusted = None;
                    let Some(request) = self.prepare(request, index, &mut adjusted) else {
                        break 'attempt;
                    };
                    if let Some(mut won) =
                        self.call_target(op, index, request, member, None).await?
                    {
                        if won.index == index {
                            won.probe = probe.map(|probe| *probe);
                        }
                        return Ok(won);
                    }
                }
                if slot.balancer.is_none() {
                    break;
                }
            }
        }
        // Boxed: reached only when no target answered.
        if let Some(won) = Box::pin(self.probe_soonest(op, request)).await? {
            return Ok(won);
        }
        Err(self.exhausted())
    }

    fn is_done(&self, index: usize) -> bool {
        self.done.get(index).copied().unwrap_or(false)
    }

    fn mark_done(&mut self, index: usize) {
        if self.done.is_empty() {
            self.done = vec![false; self.chain.targets.len()];
        }
        if let Some(done) = self.done.get_mut(index) {
            *done = true;
        }
    }

    /// The members of `slot` not yet tried, skipped or hedged in this call,
    /// as a mask (bit `i` = member `i`), leaving out `except`. Health is not
    /// read here: a picked member that turns out benched is skipped by
    /// admission and the group picks again (so a healthy group costs one
    /// health read per call, not one per member), and a member's failure
    /// moves to the group's other members before the chain moves on.
    fn untried(&self, slot: &Slot, except: Option<usize>) -> u64 {
        (slot.start..slot.end)
            .enumerate()
            .filter(|&(_, index)| !self.is_done(index) && except != Some(index))
            .fold(0, |mask, (bit, _)| mask | (1 << bit))
    }

    /// The request as `index` gets it (its `#level` applied, in `adjusted`
    /// when that takes a copy), or `None` (reported) when the target must be
    /// skipped for this request: a missing capability or a context window
    /// too small. References, not values: a `Request` is large, and the
    /// plain path should not move one around.
    fn prepare<'r>(
        &mut self,
        request: &'r Request,
        index: usize,
        adjusted: &'r mut Option<Box<Request>>,
    ) -> Option<&'r Request> {
        let chain = self.chain;
        let element = &chain.targets[index];
        // Each attempt gets its own copy of the request; a `#level`
        // suffix needs one more, made once per target.
        let request = match element.reasoning {
            Some(level) if request.reasoning_level() != Some(level) => {
                let mut copy = request.clone();
                copy.set_reasoning(Some(level));
                &**adjusted.insert(Box::new(copy))
            }
            _ => request,
        };
        match chain.unfit(index, request, self.streaming, &mut self.estimate) {
            None => {}
            Some(Unfit::Lacks(capability)) => {
                self.skip_capability(&element.target, capability);
                return None;
            }
            Some(Unfit::TooLarge { estimate, window }) => {
                self.skip_context(&element.target, estimate, window);
                return None;
            }
        }
        Some(request)
    }

    /// With [`AllBenched::ProbeSoonest`], when no call was made because
    /// targets were benched: call the one that comes back first anyway.
    async fn probe_soonest<O: Op>(
        &mut self,
        op: &O,
        request: &Request,
    ) -> Result<Option<Won<O::Output>>> {
        if self.chain.config.all_benched != AllBenched::ProbeSoonest || self.last_error.is_some() {
            return Ok(None);
        }
        let Some((_, index)) = self.soonest else {
            return Ok(None);
        };
        let mut adjusted = None;
        let Some(request) = self.prepare(request, index, &mut adjusted) else {
            return Ok(None);
        };
        self.call_target(op, index, request, None, None).await
    }

    /// Calls one element, retrying transient errors. `Ok(None)` means advance.
    async fn call_target<O: Op>(
        &mut self,
        op: &O,
        index: usize,
        request: &Request,
        member: Member<'c>,
        mut first: Option<First<O::Output>>,
    ) -> Result<Option<Won<O::Output>>> {
        let chain = self.chain;
        let config = &*chain.config;
        let element = &chain.targets[index];
        let target = &element.target;
        let learns = config.hedge.as_ref().is_some_and(|h| h.learns());
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            // The plain path's call, when made, is this target's first attempt.
            let (result, span) = match first.take() {
                Some(First { result, span }) => (result, span),
                None => {
                    let span = attempt_span(element, attempt, false, O::STREAMING);
                    self.in_flight = Some((index, attempt));
                    let result = match (&config.hedge, attempt) {
                        // Boxed: the race's state is large, and a chain
                        // without hedging should not carry it in every
                        // call's future.
                        (Some(_), 1) => {
                            match Box::pin(self.race(op, index, request, member, &span)).await {
                                Raced::Primary(result) => result,
                                Raced::Hedge(won) => {
                                    self.in_flight = None;
                                    return Ok(Some(won));
                                }
                            }
                        }
                        _ => {
                            let pending = member.map(|(balancer, m)| balancer.begin(m));
                            let started = learns.then(tokio::time::Instant::now);
                            let result =
                                invoke(op, &*element.model, request.clone(), span.clone()).await;
                            if result.is_ok() {
                                self.learn(index, pending, started);
                            }
                            result
                        }
                    };
                    self.in_flight = None;
                    (result, span)
                }
            };
            // The answer is settled before anything else is awaited: held
            // across an await it would sit in every call's future (ADR 0021).
            let after = match self.settle::<O>(index, attempt, result, &span) {
                // A stream's success is recorded when it ends cleanly (see
                // `stream.rs`): an open stream may still break.
                Ok(won) if O::STREAMING || chain.health.record_success_now(target) => {
                    return Ok(Some(won));
                }
                Ok(won) => {
                    let health = &chain.health;
                    AfterCall::Record(Box::pin(async move {
                        health.record_success(target).await;
                        won
                    }))
                }
                Err(error) => AfterCall::Failed(error),
            };
            let error = match after {
                AfterCall::Record(recording) => return Ok(Some(recording.await)),
                AfterCall::Failed(error) => error,
            };
            let class = config.classifier.classify(&error);
            if !span.is_disabled() {
                crate::telemetry::record_error(&span, &error, class);
            }
            self.attempts
                .push(Attempt::failed(target.clone(), class, &error));

            let mut admitted_at = None;
            let mut budget_spent = false;
            let next = match class {
                ErrorClass::Transient => {
                    // Boxed: failures are rare, their future large.
                    let state =
                        Box::pin(chain.health.record_failure(target, error.retry_after())).await;
                    let now = chain.health.now();
                    admitted_at = state.admitted_at(now);
                    if attempt > config.transient_retries || admitted_at.is_some() {
                        Next::Advance
                    } else if config
                        .retry_budget
                        .as_ref()
                        .is_some_and(|budget| !budget.try_withdraw(now))
                    {
                        budget_spent = true;
                        Next::Advance
                    } else {
                        Next::Retry
                    }
                }
                ErrorClass::ModelNotFound
                | ErrorClass::RequestSpecific
                | ErrorClass::NotConfigured => Next::Advance,
                ErrorClass::Permanent if config.advance_on_permanent => Next::Advance,
                ErrorClass::Permanent | ErrorClass::Cancelled => Next::Stop,
            };
            let action = match next {
                Next::Retry => FailoverAction::Retry,
                Next::Advance => FailoverAction::Advance,
                Next::Stop => FailoverAction::GiveUp,
            };
            let error = match next {
                Next::Stop => error
                    .with_context(self.context.clone())
                    .with_attempts(std::mem::take(&mut self.attempts)),
                _ => error,
            };
            notify(config, || {
                let mut event = FailoverEvent::new(action, self.context, self.streaming);
                event.target = Some(target.clone());
                event.attempt = attempt;
                event.error = Some(error.clone());
                event.class = Some(class);
                event.set_admitted_at(admitted_at, chain.health.now());
                event.retry_budget_exhausted = budget_spent;
                event
            });
            match next {
                Next::Retry => {
                    if let Some(pause) = config.retry_pause {
                        Box::pin(tokio::time::sleep(pause)).await;
                    }
                }
                Next::Advance => {
                    if self.missing_variable.is_none() {
                        self.missing_variable = error.missing_variable().map(Into::into);
                    }
                    self.last_error = Some(error);
                    return Ok(None);
                }
                Next::Stop => return Err(error),
            }
        }
    }

    /// One call's result as the chain keeps it: an answer is recorded on
    /// the attempt's span and in the steps taken; an error is given the
    /// target it came from.
    fn settle<O: Op>(
        &mut self,
        index: usize,
        attempt: u32,
        result: Result<O::Output>,
        span: &tracing::Span,
    ) -> Result<Won<O::Output>> {
        let target = &self.chain.targets[index].target;
        match result {
            Ok(output) => {
                if !span.is_disabled() {
                    O::record(&output, span);
                }
                self.attempts.push(Attempt::ok(target.clone()));
                Ok(Won {
                    output,
                    index,
                    attempt,
                    probe: None,
                })
            }
            Err(error) => Err(error.or_target(target)),
        }
    }

    /// Skips a benched target; `until` is `None` while another call probes it.
    fn skip_benched(&mut self, index: usize, until: Option<SystemTime>) {
        let chain = self.chain;
        let target = &chain.targets[index].target;
        let now = chain.health.now();
        match until {
            Some(until) => {
                self.attempts
                    .push(Attempt::benched(target.clone(), until, now));
                if self.soonest.is_none_or(|(soonest, _)| until < soonest) {
                    self.soonest = Some((until, index));
                }
            }
            None => self.attempts.push(Attempt::skipped(
                target.clone(),
                "benched: another call is probing it",
                None,
            )),
        }
        notify(&self.chain.config, || {
            let mut event =
                FailoverEvent::new(FailoverAction::SkipBenched, self.context, self.streaming);
            event.target = Some(target.clone());
            event.set_admitted_at(until, now);
            event
        });
    }

    fn skip_capability(&mut self, target: &Target, capability: Capability) {
        self.skip_for_request(
            target,
            format!("does not support {capability}"),
            Error::unsupported(capability).with_target(target),
        );
    }

    /// Skips a target whose declared context window is smaller than the
    /// request's estimated size: request-specific, no penalty.
    fn skip_context(&mut self, target: &Target, estimate: u64, window: u32) {
        let error = Error::other(
            ErrorClass::RequestSpecific,
            format!(
                "the request's estimated {estimate} tokens exceed the {window}-token context window"
            ),
        )
        .with_target(target);
        let reason = format!(
            "context window of {window} tokens is smaller than the request's estimated {estimate}"
        );
        self.skip_for_request(target, reason, error);
    }

    /// Skips a target that cannot serve this request (no penalty); `error`
    /// is what the chain reports if it runs out.
    fn skip_for_request(&mut self, target: &Target, reason: String, error: Error) {
        self.attempts
            .push(Attempt::skipped(target.clone(), reason, None));
        notify(&self.chain.config, || {
            let mut event =
                FailoverEvent::new(FailoverAction::SkipCapability, self.context, self.streaming);
            event.target = Some(target.clone());
            event.error = Some(error.clone());
            event
        });
        self.missing = Some(error);
    }

    /// A call to `index` answered: its group and (for percentile hedging)
    /// the hedge learn its latency.
    fn learn(
        &self,
        index: usize,
        pending: Option<super::group::InFlight<'_>>,
        started: Option<tokio::time::Instant>,
    ) {
        if let Some(pending) = pending {
            pending.finish();
        }
        if let (Some(hedge), Some(started)) = (&self.chain.config.hedge, started) {
            hedge.observe(&self.chain.targets[index].target, started.elapsed());
        }
    }

    /// The first attempt on `index`, hedged: if it has not answered after
    /// the hedge delay and the budget allows, the next candidate starts too,
    /// and the first success wins; the other call is dropped (cancelled) and
    /// not held against its target. A hedge's failure is recorded and the
    /// race goes on with the primary; when both fail, the primary's error is
    /// handled as usual.
    async fn race<O: Op>(
        &mut self,
        op: &O,
        index: usize,
        request: &Request,
        member: Member<'c>,
        span: &tracing::Span,
    ) -> Raced<O::Output> {
        use futures::future::Either;

        let chain = self.chain;
        let Some(hedge) = &chain.config.hedge else {
            let model = &*chain.targets[index].model;
            return Raced::Primary(invoke(op, model, request.clone(), span.clone()).await);
        };
        let element = &chain.targets[index];
        let pending = member.map(|(balancer, m)| balancer.begin(m));
        let started = Some(tokio::time::Instant::now());
        let mut primary =
            std::pin::pin!(invoke(op, &*element.model, request.clone(), span.clone()));
        let delay = hedge.delay_for(&element.target);
        if let Ok(result) = tokio::time::timeout(delay, primary.as_mut()).await {
            if result.is_ok() {
                self.learn(index, pending, started);
            }
            return Raced::Primary(result);
        }
        // The budget is only drawn on when there is someone to hedge with.
        let candidate = match self.hedge_candidate(index, request).await {
            Some(candidate) if hedge.budget().try_withdraw(chain.health.now()) => Some(candidate),
            Some((unused, ..)) => {
                // Not hedged after all: the walk may still call it later.
                if let Some(done) = self.done.get_mut(unused) {
                    *done = false;
                }
                None
            }
            None => None,
        };
        let Some((second_index, second_request, second_member, second_probe)) = candidate else {
            let result = primary.await;
            if result.is_ok() {
                self.learn(index, pending, started);
            }
            return Raced::Primary(result);
        };
        let second_target = &chain.targets[second_index].target;
        notify(&chain.config, || {
            let mut event = FailoverEvent::new(FailoverAction::Hedge, self.context, self.streaming);
            event.target = Some(second_target.clone());
            event.attempt = 1;
            event
        });
        let second_pending = second_member.map(|(balancer, m)| balancer.begin(m));
        let second_span = attempt_span(&chain.targets[second_index], 1, true, O::STREAMING);
        let second_started = Some(tokio::time::Instant::now());
        let second_model = &*chain.targets[second_index].model;
        let mut second = std::pin::pin!(invoke(
            op,
            second_model,
            second_request,
            second_span.clone()
        ));
        // The hedge's own attempt span says how it ended, as a plain attempt's does.
        let hedge_failed = |error: &Error| {
            if !second_span.is_disabled() {
                let class = chain.config.classifier.classify(error);
                crate::telemetry::record_error(&second_span, error, class);
            }
        };
        match futures::future::select(primary.as_mut(), second.as_mut()).await {
            Either::Left((Ok(output), _)) => {
                self.learn(index, pending, started);
                self.lost_race(second_index, index);
                Raced::Primary(Ok(output))
            }
            Either::Right((Ok(output), _)) => {
                self.learn(second_index, second_pending, second_started);
                self.lost_race(index, second_index);
                Raced::Hedge(self.won_race(second_index, output, second_probe).await)
            }
            Either::Left((Err(error), _)) => match second.await {
                Ok(output) => {
                    self.learn(second_index, second_pending, second_started);
                    self.race_failure(index, error).await;
                    Raced::Hedge(self.won_race(second_index, output, second_probe).await)
                }
                Err(second_error) => {
                    hedge_failed(&second_error);
                    self.race_failure(second_index, second_error).await;
                    Raced::Primary(Err(error))
                }
            },
            Either::Right((Err(second_error), _)) => {
                hedge_failed(&second_error);
                self.race_failure(second_index, second_error).await;
                let result = primary.await;
                if result.is_ok() {
                    self.learn(index, pending, started);
                }
                Raced::Primary(result)
            }
        }
    }

    /// The candidate a hedge of `current` starts: the next member of its
    /// group, else the first admitted target of the following positions.
    /// Returns its index, its request, its group member and probe slot.
    async fn hedge_candidate(
        &mut self,
        current: usize,
        request: &Request,
    ) -> Option<(usize, Request, Member<'c>, Option<Probe>)> {
        let chain = self.chain;
        let from = chain
            .slots
            .iter()
            .position(|slot| slot.start <= current && current < slot.end)?;
        for slot in &chain.slots[from..] {
            let mut eligible = self.untried(slot, Some(current));
            loop {
                let member = match &slot.balancer {
                    Some(balancer) => balancer.pick(eligible, request.affinity_key()),
                    None => (eligible != 0).then_some(0),
                };
                let Some(member) = member else { break };
                eligible &= !(1 << member);
                let index = slot.start + member;
                // A benched one is left for the walk to report.
                let probe = match chain.health.admit(&chain.targets[index].target).await {
                    Admission::Open => None,
                    Admission::Probe(probe) => Some(probe),
                    _ => continue,
                };
                self.mark_done(index);
                let mut adjusted = None;
                let Some(prepared) = self.prepare(request, index, &mut adjusted) else {
                    continue;
                };
                let prepared = prepared.clone();
                let balancer = slot.balancer.as_ref().map(|b| (b, member));
                return Some((index, prepared, balancer, probe));
            }
        }
        None
    }

    /// The loser of a hedge race was cancelled: listed, not penalised.
    fn lost_race(&mut self, loser: usize, winner: usize) {
        let chain = self.chain;
        self.attempts.push(Attempt::skipped(
            chain.targets[loser].target.clone(),
            format!(
                "cancelled: {} answered first (hedge)",
                chain.targets[winner].target
            ),
            None,
        ));
    }

    async fn won_race<T>(&mut self, index: usize, output: T, probe: Option<Probe>) -> Won<T> {
        let target = &self.chain.targets[index].target;
        if !self.streaming {
            self.chain.health.record_success(target).await;
        }
        self.attempts.push(Attempt::ok(target.clone()));
        Won {
            output,
            index,
            attempt: 1,
            probe,
        }
    }

    /// A call in a hedge race failed while the other may still answer:
    /// recorded (health included) like any failure, and the race goes on.
    async fn race_failure(&mut self, index: usize, error: Error) {
        let chain = self.chain;
        let target = &chain.targets[index].target;
        let error = error.or_target(target);
        let class = chain.config.classifier.classify(&error);
        self.attempts
            .push(Attempt::failed(target.clone(), class, &error));
        let mut admitted_at = None;
        if class == ErrorClass::Transient {
            let state = chain
                .health
                .record_failure(target, error.retry_after())
                .await;
            admitted_at = state.admitted_at(chain.health.now());
        }
        notify(&chain.config, || {
            let mut event =
                FailoverEvent::new(FailoverAction::Advance, self.context, self.streaming);
            event.target = Some(target.clone());
            event.attempt = 1;
            event.error = Some(error.clone());
            event.class = Some(class);
            event.set_admitted_at(admitted_at, chain.health.now());
            event
        });
        self.last_error = Some(error);
    }

    /// The error for a chain that ran out of targets. Its class and
    /// `retry_after` come from the last failed call; when no call failed,
    /// from the skips: every target benched is transient with `retry_after`
    /// until the first comes back, a missing capability is request-specific.
    fn exhausted(&mut self) -> Error {
        let last = self.last_error.take().or_else(|| {
            if let Some((until, _)) = self.soonest {
                let wait = until
                    .duration_since(self.chain.health.now())
                    .unwrap_or(Duration::ZERO);
                Some(
                    Error::other(ErrorClass::Transient, "every target is benched")
                        .with_retry_after(wait),
                )
            } else {
                self.missing.take()
            }
        });
        let mut error = Error::exhausted(std::mem::take(&mut self.attempts), last)
            .with_context(self.context.clone());
        if let Some(variable) = self.missing_variable.take() {
            error = error.with_missing_variable(variable);
        }
        self.give_up(None, 0, &error);
        error
    }

    /// The error for an expired chain deadline. The call in flight is
    /// listed but not held against the target's health: the deadline is
    /// the caller's, not a failure of the target.
    fn deadline_exceeded(&mut self, limit: Duration) -> Error {
        let error = Error::timeout(format!(
            "chain deadline of {limit:?} exceeded after {} steps",
            self.attempts.len()
        ));
        let class = self.chain.config.classifier.classify(&error);
        let in_flight = self.in_flight.take().and_then(|(index, attempt)| {
            let target = self.chain.targets.get(index)?.target.clone();
            self.attempts
                .push(Attempt::failed(target.clone(), class, &error));
            Some((target, attempt))
        });
        let error = error
            .with_context(self.context.clone())
            .with_attempts(std::mem::take(&mut self.attempts));
        match &in_flight {
            Some((target, attempt)) => self.give_up(Some(target), *attempt, &error),
            None => self.give_up(None, 0, &error),
        }
        error
    }

    fn give_up(&self, target: Option<&Target>, attempt: u32, error: &Error) {
        notify(&self.chain.config, || {
            let mut event =
                FailoverEvent::new(FailoverAction::GiveUp, self.context, self.streaming);
            event.target = target.cloned();
            event.attempt = attempt;
            event.class = Some(self.chain.config.classifier.classify(error));
            event.error = Some(error.clone());
            event
        });
    }
}
