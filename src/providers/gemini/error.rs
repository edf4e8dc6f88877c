//! Gemini-specific refinements of the shared HTTP error mapping.

use crate::providers::http::errors;
use crate::{Error, ErrorClass, ErrorKind, Secret};

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

/// A decode error whose text (which may quote the offending body) is
/// redacted of the credential.
pub(crate) fn decode(what: &str, error: &serde_json::Error, secret: Option<&Secret>) -> Error {
    Error::decode(errors::clean(&format!("{what}: {error}"), secret))
}
