//! [`FailoverEvent`]s and the [`FailoverObserver`] a host installs to see them.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, SystemTime};

use super::ChainConfig;
use crate::llm::text::{HumanDuration, write_one_line};
use crate::{CallContext, Error, ErrorClass, Target};

/// What the chain does after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailoverAction {
    /// Call the same target again (a transient error, within retries and budget).
    Retry,
    /// Move on to the next target.
    Advance,
    /// The target is benched: not called, moving on.
    SkipBenched,
    /// The target declares it lacks a capability the request needs: not
    /// called, moving on, no health penalty.
    SkipCapability,
    /// The attempt in flight is slow: the target starts in parallel with it
    /// (hedging); the first success wins.
    Hedge,
    /// The call ends with `error`: a permanent or cancelled error, the
    /// deadline, every target tried, or an error after a stream's first event.
    GiveUp,
}

impl FailoverAction {
    /// The stable kebab-case name: `retry`, `advance`, `skip-benched`,
    /// `skip-capability`, `hedge`, `give-up`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverAction::Retry => "retry",
            FailoverAction::Advance => "advance",
            FailoverAction::SkipBenched => "skip-benched",
            FailoverAction::SkipCapability => "skip-capability",
            FailoverAction::Hedge => "hedge",
            FailoverAction::GiveUp => "give-up",
        }
    }
}

impl fmt::Display for FailoverAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of a chain call, as seen by a [`FailoverObserver`].
///
/// A call that succeeds at its first attempt produces no event.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FailoverEvent {
    /// The target of the step. `None` only for the final `GiveUp` of a chain
    /// that ran out of targets (or hit its deadline between attempts).
    pub target: Option<Target>,
    /// The 1-based number of the call to this target within this chain call
    /// (2 = the first retry); 0 when no call was made (skips, running out).
    pub attempt: u32,
    /// What the chain does next.
    pub action: FailoverAction,
    /// The error that caused the step: the target's error, the missing
    /// capability for `SkipCapability`, the returned error for `GiveUp`.
    /// `None` for `SkipBenched`.
    pub error: Option<Error>,
    /// The error's class by the chain's classifier; `None` for skips.
    pub class: Option<ErrorClass>,
    /// For `SkipBenched` and for a failure that benched the target: when it is
    /// admitted again. `None` for a skip while another call probes the target.
    pub admitted_at: Option<SystemTime>,
    /// How long from this step until `admitted_at`: what a person reads.
    pub benched_for: Option<Duration>,
    /// True when the retry budget turned a retry into an advance.
    pub retry_budget_exhausted: bool,
    /// True for `stream` calls, false for `generate`.
    pub streaming: bool,
    /// The call context of the request (caller id, run id, labels).
    pub context: CallContext,
}

impl FailoverEvent {
    pub(super) fn new(action: FailoverAction, context: &CallContext, streaming: bool) -> Self {
        FailoverEvent {
            target: None,
            attempt: 0,
            action,
            error: None,
            class: None,
            admitted_at: None,
            benched_for: None,
            retry_budget_exhausted: false,
            streaming,
            context: context.clone(),
        }
    }

    /// Sets `admitted_at` and, from `now`, `benched_for`.
    pub(super) fn set_admitted_at(&mut self, until: Option<SystemTime>, now: SystemTime) {
        self.admitted_at = until;
        self.benched_for = until.map(|until| until.duration_since(now).unwrap_or_default());
    }
}

impl fmt::Display for FailoverEvent {
    /// One line, whatever the server's message holds:
    /// `fake/a attempt 1: transient: fake/a: HTTP 529: overloaded -> retry`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Some(target) => write!(f, "{target}")?,
            None => f.write_str("chain")?,
        }
        if self.attempt > 0 {
            write!(f, " attempt {}", self.attempt)?;
        }
        f.write_str(":")?;
        if let Some(class) = self.class {
            write!(f, " {class}:")?;
        }
        if let Some(error) = &self.error {
            f.write_str(" ")?;
            if error.kind() == crate::ErrorKind::Exhausted {
                // Every step had its own event; the summary is enough here.
                write_one_line(f, error.message())?;
            } else {
                write_one_line(f, &error.to_string())?;
            }
        }
        write!(f, " -> {}", self.action)?;
        if self.retry_budget_exhausted {
            f.write_str(" (retry budget spent)")?;
        }
        match (self.benched_for, self.action) {
            (Some(wait), _) => write!(f, " (benched for {})", HumanDuration(wait))?,
            (None, FailoverAction::SkipBenched) => f.write_str(" (another call is probing it)")?,
            _ => {}
        }
        Ok(())
    }
}

/// A host callback for failover steps: log them, count them, alert on them.
///
/// Called synchronously on the calling task, so keep it quick. A panic inside
/// it is caught and logged; it never breaks the call. Closures
/// `Fn(&FailoverEvent)` implement it.
pub trait FailoverObserver: Send + Sync {
    /// One step happened.
    fn on_event(&self, event: &FailoverEvent);
}

impl fmt::Debug for dyn FailoverObserver {
    /// An observer is code: only its presence shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FailoverObserver")
    }
}

impl<F> FailoverObserver for F
where
    F: Fn(&FailoverEvent) + Send + Sync,
{
    fn on_event(&self, event: &FailoverEvent) {
        self(event)
    }
}

/// Hands the event built by `build` to the observer, if one is installed.
/// The event is only built when someone listens.
pub(super) fn notify(config: &ChainConfig, build: impl FnOnce() -> FailoverEvent) {
    if config.observer.is_none()
        && !tracing::enabled!(target: "majordomo::chain", tracing::Level::DEBUG)
    {
        return;
    }
    let event = build();
    tracing::debug!(
        target: "majordomo::chain",
        step = %event,
        action = event.action.as_str(),
        "failover step"
    );
    let Some(observer) = &config.observer else {
        return;
    };
    if catch_unwind(AssertUnwindSafe(|| observer.on_event(&event))).is_err() {
        tracing::warn!(
            target: "majordomo::chain",
            action = event.action.as_str(),
            "failover observer panicked; the call continues"
        );
    }
}
