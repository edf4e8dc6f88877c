//! [`ErrorClass`]: how the failover chain treats an error (design §2). Apart
//! from the error itself so that what records a class (an [`crate::Attempt`])
//! does not depend on the error type, which records attempts.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How the failover chain treats an error (design §2).
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
