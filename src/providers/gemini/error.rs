//! Gemini-specific refinements of the shared HTTP error mapping.

use crate::{Error, ErrorClass, ErrorKind};

/// Refines a classified error for Gemini's conventions.
///
/// A 429 from Gemini is `RESOURCE_EXHAUSTED`, a rate or quota window that
/// reopens (its body carries a `RetryInfo.retryDelay`, already read into
/// `retry_after`); its message says "check your plan and billing details",
/// which the generic mapping would read as a billing failure. Gemini reports
/// exhausted prepaid credit as 402 instead, which stays permanent.
pub(crate) fn refine(error: Error) -> Error {
    if error.kind() == ErrorKind::Api && error.status() == Some(429) {
        return error.with_class(ErrorClass::Transient);
    }
    error
}
