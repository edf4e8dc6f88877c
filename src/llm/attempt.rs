//! [`Attempt`]: one step of a chain (a call or a skip), as recorded in a
//! [`crate::Response`] and in an exhausted chain's [`crate::Error`].

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::class::ErrorClass;
use super::target::Target;

/// What happened at one step of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// The target answered.
    Ok,
    /// The target was called and failed.
    Error,
    /// The target was not called: benched, or lacking a capability.
    Skipped,
}

/// One step of a chain: a call to a target, or a skip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Attempt {
    /// The target.
    pub target: Target,
    /// What happened.
    pub outcome: AttemptOutcome,
    /// The error's class, for failed attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<ErrorClass>,
    /// The error (or skip reason) as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a target skipped while benched: when it is admitted again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admitted_at: Option<SystemTime>,
    /// For a target skipped while benched: how long it still had to wait
    /// when skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benched_for: Option<Duration>,
}

impl Attempt {
    /// A successful call.
    pub fn ok(target: Target) -> Self {
        Attempt {
            target,
            outcome: AttemptOutcome::Ok,
            class: None,
            error: None,
            admitted_at: None,
            benched_for: None,
        }
    }

    /// A failed call.
    pub fn failed(target: Target, class: ErrorClass, error: impl fmt::Display) -> Self {
        Attempt {
            target,
            outcome: AttemptOutcome::Error,
            class: Some(class),
            error: Some(error.to_string()),
            admitted_at: None,
            benched_for: None,
        }
    }

    /// A skip, with its reason and, for a benched target, when it returns.
    pub fn skipped(
        target: Target,
        reason: impl Into<String>,
        admitted_at: Option<SystemTime>,
    ) -> Self {
        Attempt {
            target,
            outcome: AttemptOutcome::Skipped,
            class: None,
            error: Some(reason.into()),
            admitted_at,
            benched_for: None,
        }
    }

    /// A target skipped at `now` because it is benched until `until`.
    pub fn benched(target: Target, until: SystemTime, now: SystemTime) -> Self {
        Attempt {
            benched_for: Some(until.duration_since(now).unwrap_or_default()),
            ..Attempt::skipped(target, "benched", Some(until))
        }
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.outcome {
            AttemptOutcome::Ok => write!(f, "{}: ok", self.target),
            AttemptOutcome::Error => {
                write!(
                    f,
                    "{} failed ({}): ",
                    self.target,
                    self.class.map_or("unclassified", |c| c.as_str()),
                )?;
                super::text::write_one_line(f, self.error.as_deref().unwrap_or(""))
            }
            AttemptOutcome::Skipped => {
                write!(
                    f,
                    "{} skipped: {}",
                    self.target,
                    self.error.as_deref().unwrap_or("")
                )?;
                if let Some(wait) = self.benched_for {
                    write!(f, " for {}", super::text::HumanDuration(wait))?;
                }
                Ok(())
            }
        }
    }
}
