//! The failover loop shared by `generate` and `stream` (design §6).
//!
//! One [`Run`] per call walks the targets in order: skip benched ones, skip
//! those declaring a missing capability, call the rest, and act on each
//! error's class. The run's state lives outside the future that the deadline
//! may cut short, so an expired deadline still reports every step taken.

use std::time::{Duration, SystemTime};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use tracing::Instrument as _;

use super::event::{FailoverAction, FailoverEvent, notify};
use super::{Chain, ChainTarget};
use crate::health::{Admission, Probe};
use crate::{Attempt, CallContext, Capability, Error, ErrorClass, Model, Request, Result, Target};

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
    ) -> BoxFuture<'a, Result<Self::Output>>;
}

/// A successful chain call: the answer, the steps taken, and which element answered.
pub(super) struct Answer<T> {
    pub(super) output: T,
    pub(super) attempts: Vec<Attempt>,
    pub(super) target: Target,
    pub(super) attempt: u32,
    /// The half-open probe slot the answering call holds: a stream keeps it
    /// until it ends, so no second probe starts while the first is open.
    pub(super) probe: Option<Probe>,
}

impl Chain {
    /// Runs `op` over the chain for `request`.
    pub(super) async fn execute<O: Op>(
        &self,
        op: &O,
        request: Request,
    ) -> Result<Answer<O::Output>> {
        let mut run = Run {
            chain: self,
            context: request.call_context().clone(),
            streaming: O::STREAMING,
            attempts: Vec::with_capacity(self.targets.len()),
            last_error: None,
            in_flight: None,
            earliest_admission: None,
            missing: None,
            missing_variable: None,
            probe: None,
        };
        if let Some(budget) = &self.config.retry_budget {
            budget.deposit(self.health.now());
        }
        let outcome = match self.config.deadline {
            None => run.walk(op, &request).await,
            Some(limit) => match tokio::time::timeout(limit, run.walk(op, &request)).await {
                Ok(outcome) => outcome,
                Err(_elapsed) => Err(run.deadline_exceeded(limit)),
            },
        };
        let (output, target, attempt) = outcome?;
        Ok(Answer {
            output,
            attempts: run.attempts,
            target,
            attempt,
            probe: run.probe,
        })
    }
}

/// The state of one chain call.
struct Run<'c> {
    chain: &'c Chain,
    context: CallContext,
    streaming: bool,
    attempts: Vec<Attempt>,
    /// The error of the last failed call, reported when the chain runs out.
    last_error: Option<Error>,
    /// The element and attempt number of the call in flight, for the deadline report.
    in_flight: Option<(usize, u32)>,
    /// The earliest re-admission among targets skipped while benched.
    earliest_admission: Option<SystemTime>,
    /// The last capability a target was skipped for.
    missing: Option<(Target, Capability)>,
    /// The first variable a not-configured target asked for.
    missing_variable: Option<std::sync::Arc<str>>,
    /// The probe slot of the target that answered, if it was probing.
    probe: Option<Probe>,
}

/// What to do after a failed call.
enum Next {
    Retry,
    Advance,
    Stop,
}

impl Run<'_> {
    /// Walks the targets; returns the answer, the target and attempt number that gave it.
    async fn walk<O: Op>(&mut self, op: &O, request: &Request) -> Result<(O::Output, Target, u32)> {
        let chain = self.chain;
        if chain.targets.is_empty() {
            return Err(
                Error::config("the chain has no targets").with_context(self.context.clone())
            );
        }
        for (index, element) in chain.targets.iter().enumerate() {
            let probe = match chain.health.admit(&element.target).await {
                Admission::Open => None,
                Admission::Probe(probe) => Some(probe),
                Admission::Benched(until) => {
                    self.skip_benched(&element.target, Some(until));
                    continue;
                }
                // Another call is probing this target: benched until it returns.
                _ => {
                    self.skip_benched(&element.target, None);
                    continue;
                }
            };
            // Each attempt gets its own copy of the request; a `#level`
            // suffix needs one more, made once per target.
            let adjusted;
            let request = match element.reasoning {
                Some(level) if request.reasoning_level() != Some(level) => {
                    let mut copy = request.clone();
                    copy.set_reasoning(Some(level));
                    adjusted = copy;
                    &adjusted
                }
                _ => request,
            };
            // A stream passes over a target that declares it cannot stream
            // only while a later target might stream natively; the last such
            // target streams by replaying its answer, as it does when called
            // alone (so a chain of one streams what its model streams).
            let streaming = self.streaming
                && chain.targets[index + 1..]
                    .iter()
                    .any(|later| later.model.capabilities().streaming != Some(false));
            if let Some(capability) = element.model.capabilities().missing_for(request, streaming) {
                self.skip_capability(&element.target, capability);
                continue;
            }
            if let Some((output, attempt)) = self.call_target(op, index, element, request).await? {
                self.probe = probe;
                return Ok((output, element.target.clone(), attempt));
            }
        }
        Err(self.exhausted())
    }

    /// Calls one element, retrying transient errors. `Ok(None)` means advance.
    async fn call_target<O: Op>(
        &mut self,
        op: &O,
        index: usize,
        element: &ChainTarget,
        request: &Request,
    ) -> Result<Option<(O::Output, u32)>> {
        let chain = self.chain;
        let config = &*chain.config;
        let target = &element.target;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let span = tracing::debug_span!(
                "gen_ai.attempt",
                gen_ai.provider.name = target.provider(),
                gen_ai.request.model = target.model(),
                majordomo.attempt = attempt,
                "error.type" = tracing::field::Empty,
            );
            self.in_flight = Some((index, attempt));
            // A panic in the provider is this attempt's error, not the
            // caller's crash (ADR 0014). Unwind safety: the attempt's future
            // is dropped whole; what it shared with other calls (lane slots,
            // health, the model) is released by RAII or kept consistent
            // under poison-tolerant locks.
            let result = std::panic::AssertUnwindSafe(
                op.call(&*element.model, request.clone())
                    .instrument(span.clone()),
            )
            .catch_unwind()
            .await
            .unwrap_or_else(|payload| Err(Error::panicked(&*payload)));
            self.in_flight = None;
            let error = match result {
                Ok(output) => {
                    // A stream's success is recorded when it ends cleanly
                    // (see `stream.rs`): an open stream may still break.
                    if !O::STREAMING {
                        chain.health.record_success(target).await;
                    }
                    self.attempts.push(Attempt::ok(target.clone()));
                    return Ok(Some((output, attempt)));
                }
                Err(error) => error.or_target(target),
            };
            let class = config.classifier.classify(&error);
            span.record("error.type", class.as_str());
            self.attempts
                .push(Attempt::failed(target.clone(), class, &error));

            let mut admitted_at = None;
            let mut budget_spent = false;
            let next = match class {
                ErrorClass::Transient => {
                    let state = chain
                        .health
                        .record_failure(target, error.retry_after())
                        .await;
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
                let mut event = FailoverEvent::new(action, &self.context, self.streaming);
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
                        tokio::time::sleep(pause).await;
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

    /// Skips a benched target; `until` is `None` while another call probes it.
    fn skip_benched(&mut self, target: &Target, until: Option<SystemTime>) {
        let now = self.chain.health.now();
        match until {
            Some(until) => {
                self.attempts
                    .push(Attempt::benched(target.clone(), until, now));
                self.earliest_admission =
                    Some(self.earliest_admission.map_or(until, |t| t.min(until)));
            }
            None => self.attempts.push(Attempt::skipped(
                target.clone(),
                "benched: another call is probing it",
                None,
            )),
        }
        notify(&self.chain.config, || {
            let mut event =
                FailoverEvent::new(FailoverAction::SkipBenched, &self.context, self.streaming);
            event.target = Some(target.clone());
            event.set_admitted_at(until, now);
            event
        });
    }

    fn skip_capability(&mut self, target: &Target, capability: Capability) {
        self.attempts.push(Attempt::skipped(
            target.clone(),
            format!("does not support {capability}"),
            None,
        ));
        self.missing = Some((target.clone(), capability));
        notify(&self.chain.config, || {
            let mut event = FailoverEvent::new(
                FailoverAction::SkipCapability,
                &self.context,
                self.streaming,
            );
            event.target = Some(target.clone());
            event.error = Some(Error::unsupported(capability).with_target(target));
            event
        });
    }

    /// The error for a chain that ran out of targets. Its class and
    /// `retry_after` come from the last failed call; when no call failed,
    /// from the skips: every target benched is transient with `retry_after`
    /// until the first comes back, a missing capability is request-specific.
    fn exhausted(&mut self) -> Error {
        let last = self.last_error.take().or_else(|| {
            if let Some(until) = self.earliest_admission {
                let wait = until
                    .duration_since(self.chain.health.now())
                    .unwrap_or(Duration::ZERO);
                Some(
                    Error::other(ErrorClass::Transient, "every target is benched")
                        .with_retry_after(wait),
                )
            } else {
                self.missing
                    .take()
                    .map(|(target, capability)| Error::unsupported(capability).with_target(&target))
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
                FailoverEvent::new(FailoverAction::GiveUp, &self.context, self.streaming);
            event.target = target.cloned();
            event.attempt = attempt;
            event.class = Some(self.chain.config.classifier.classify(error));
            event.error = Some(error.clone());
            event
        });
    }
}
