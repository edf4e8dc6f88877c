//! [`ErrorClass`]: how the failover chain treats an error (design §2). Apart
//! from the error itself so that what records a class (an [`crate::Attempt`])
//! does not depend on the error type, which records attempts.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How the failover chain treats an error (design §2, ADR 0006).
///
/// Every [`Error`](crate::Error) has a class ([`Error::class`](crate::Error::class));
/// a [`Classifier`](crate::Classifier) in [`ChainConfig`](crate::ChainConfig)
/// may assign another. A [`Chain`](crate::Chain) acts on it after each attempt:
///
/// | class | examples | chain action | health of the target |
/// | --- | --- | --- | --- |
/// | [`Transient`](ErrorClass::Transient) | 408, 409, 429, 5xx, 529, timeouts, connection resets, a stream cut before its terminator | retry the same target up to [`ChainConfig::transient_retries`](crate::ChainConfig::transient_retries) (default 1) unless it is now benched or the [`RetryBudget`](crate::RetryBudget) is spent; then advance | a failure: enough of them bench it, and a `Retry-After` benches it at least that long |
/// | [`ModelNotFound`](ErrorClass::ModelNotFound) | a 404 or 400 naming the model, an unknown model id | advance | untouched |
/// | [`RequestSpecific`](ErrorClass::RequestSpecific) | context too long, content filtered, a missing capability, an image that cannot be fetched | advance | untouched |
/// | [`NotConfigured`](ErrorClass::NotConfigured) | the target's key variable is absent in this deployment | advance; the events and the exhaustion error name the variable to set | untouched |
/// | [`Permanent`](ErrorClass::Permanent) | 400, 401, 403, a bare 404 (a wrong base URL), a configuration error | return at once, or advance with [`ChainConfig::advance_on_permanent`](crate::ChainConfig::advance_on_permanent) | untouched |
/// | [`Cancelled`](ErrorClass::Cancelled) | the caller dropped the call or its deadline passed | return at once | untouched |
///
/// Only a transient error counts against health: the others say nothing about
/// whether the target is up. A stream fails over the same way until its first
/// event; after it, an error goes to the caller and no second answer is
/// spliced in. When every target fails, the chain returns one
/// [`ErrorKind::Exhausted`](crate::ErrorKind::Exhausted) error listing each
/// attempt, whose class and `retry_after` are the last failure's (transient
/// when no target could be tried).
///
/// ```
/// use majordomo::{Error, ErrorClass};
/// assert_eq!(Error::rate_limited(None).class(), ErrorClass::Transient);
/// assert_eq!(ErrorClass::ModelNotFound.to_string(), "model-not-found");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorClass {
    /// Retry the same target within budget, then advance. Counts against health.
    Transient,
    /// This target does not serve the model. Advance without penalty.
    ModelNotFound,
    /// This request cannot succeed on this target (too long, filtered, missing
    /// capability). Advance without penalty.
    RequestSpecific,
    /// Fails the same way everywhere (malformed request, auth, configuration).
    /// Stop, unless the chain is configured to advance on permanent errors.
    Permanent,
    /// The target is not set up in this deployment: its credential is absent
    /// (not wrong). Advance without penalty; the error names the variable to
    /// set (ADR 0012).
    NotConfigured,
    /// The caller gave up. Stop at once, no penalty.
    Cancelled,
}

impl ErrorClass {
    /// The class's stable lower-case name, as used in logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::ModelNotFound => "model-not-found",
            ErrorClass::RequestSpecific => "request-specific",
            ErrorClass::Permanent => "permanent",
            ErrorClass::NotConfigured => "not-configured",
            ErrorClass::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
