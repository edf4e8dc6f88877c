//! What Ollama's `{"error":"..."}` messages mean for failover, beyond what
//! the HTTP status says (the protocol reference, §4.1 and §7).
//!
//! Ollama has no error codes, only text, so the refinements match loosely:
//! - `"x" does not support tools` (also thinking, chat, generate, insert):
//!   400, but another model can serve the request, so request-specific and
//!   the chain advances;
//! - `this model is missing data required for image input`: request-specific;
//! - `think value "low" is not supported for this model` (a level string to
//!   a model other than gpt-oss): request-specific;
//! - "prompt is longer than the context length" (with `truncate:false`):
//!   request-specific (the shared classifier already reads "context length");
//! - `model 'x' not found` / `model "x" not found, try pulling it first`:
//!   model-not-found, whatever the status;
//! - `server busy, please try again`: transient (it is a 503).
//!
//! Auth failures (401, 403) are never reclassified.

use serde_json::Value;

use crate::providers::http::errors;
use crate::{Error, ErrorClass, Secret};

/// Refines an error built from an Ollama answer.
pub(super) fn refine(error: Error) -> Error {
    // Auth failures, and a 404 the client already read as a wrong route, stay
    // what they are ("…no model-not-found signal (404 page not found)…" would
    // otherwise read as an unknown model).
    if matches!(error.status(), Some(401 | 403))
        || error.code() == Some(crate::providers::http::client::ROUTE_NOT_FOUND)
    {
        return error;
    }
    match class_of_message(error.message()) {
        Some(class) => error.with_class(class),
        None => error,
    }
}

/// The error for an `{"error": ...}` object in a 200 answer or a stream
/// line: transient unless its text says otherwise.
pub(super) fn in_band(error: &Value, secret: Option<&Secret>) -> Error {
    let body = serde_json::json!({ "error": error });
    refine(errors::from_stream_event(&body, secret))
}

fn class_of_message(message: &str) -> Option<ErrorClass> {
    let text = message.to_ascii_lowercase();
    if text.contains("does not support")
        || text.contains("not supported for this model")
        || text.contains("missing data required for image")
    {
        return Some(ErrorClass::RequestSpecific);
    }
    if text.contains("context length") || text.contains("context window") {
        return Some(ErrorClass::RequestSpecific);
    }
    if text.contains("model") && text.contains("not found") {
        return Some(ErrorClass::ModelNotFound);
    }
    if text.contains("server busy") {
        return Some(ErrorClass::Transient);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_refine_the_class() {
        let class = |status: u16, message: &str| refine(Error::api(status, message)).class();
        assert_eq!(
            class(400, "\"llama2\" does not support tools"),
            ErrorClass::RequestSpecific
        );
        assert_eq!(
            class(
                400,
                "the prompt is longer than the context length currently available to the model"
            ),
            ErrorClass::RequestSpecific
        );
        assert_eq!(
            class(404, "model \"x\" not found, try pulling it first"),
            ErrorClass::ModelNotFound
        );
        assert_eq!(
            class(
                503,
                "server busy, please try again.  maximum pending requests exceeded"
            ),
            ErrorClass::Transient
        );
        assert_eq!(
            class(400, "think value \"high\" is not supported for this model"),
            ErrorClass::RequestSpecific
        );
        assert_eq!(class(400, "model is required"), ErrorClass::Permanent);
        assert_eq!(class(401, "unauthorized"), ErrorClass::Permanent);
        assert_eq!(
            class(403, "model \"x\" does not support tools"),
            ErrorClass::Permanent
        );
    }

    #[test]
    fn in_band_errors_are_transient_unless_they_say_otherwise() {
        let e = in_band(
            &Value::from("an error was encountered while running the model"),
            None,
        );
        assert_eq!(e.class(), ErrorClass::Transient);
        assert_eq!(
            e.message(),
            "an error was encountered while running the model"
        );
        let e = in_band(&Value::from("model 'x' not found"), None);
        assert_eq!(e.class(), ErrorClass::ModelNotFound);
        let secret = Secret::new("sk-very-secret");
        let e = in_band(&Value::from("bad key sk-very-secret"), Some(&secret));
        assert!(!e.to_string().contains("sk-very-secret"));
    }
}
