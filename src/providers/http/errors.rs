//! Mapping an HTTP error answer (status, headers, body) or a transport failure
//! into the crate's [`Error`] with its [`ErrorClass`] (design §2; the
//! protocol reference §7).
//!
//! Order of evidence: body signals that change the meaning of a status
//! (context length, content filter, quota, unknown model) win; then
//! `x-should-retry`; then the status. A 401 whose body says
//! `invalid_request_error` is still an auth failure: the status decides.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::{Error, ErrorClass, ErrorKind, Secret};

/// Longest error message we keep from a body; the rest is cut.
const MAX_MESSAGE: usize = 2000;

/// What an error body says, whatever its provider's shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    /// The human-readable message.
    pub message: Option<String>,
    /// The most specific machine code: `code` when it is a string, else
    /// `type` (OpenAI, Anthropic), else an `ErrorInfo` reason or `status`
    /// (Gemini).
    pub code: Option<String>,
    /// The `type` field, when there is one (OpenAI puts `insufficient_quota` there).
    pub kind: Option<String>,
    /// Gemini's `RetryInfo.retryDelay`, if given.
    pub retry_delay: Option<Duration>,
}

impl ErrorBody {
    /// Reads any of the shapes providers use:
    /// `{"error":{"message","type","code"}}` (OpenAI and compatibles),
    /// `{"type":"error","error":{"type","message"}}` (Anthropic),
    /// `{"error":{"code":400,"message","status","details"}}` (Gemini),
    /// `{"error":"text"}` (Ollama, LM Studio), a top-level
    /// `{"object":"error","message","type","code"}` (older vLLM), or plain text.
    pub fn parse(body: &[u8]) -> ErrorBody {
        let Ok(json) = serde_json::from_slice::<Value>(body) else {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            return ErrorBody {
                message: (!text.is_empty()).then_some(text),
                ..ErrorBody::default()
            };
        };
        Self::from_json(&json)
    }

    /// Reads an error object already parsed (e.g. an in-stream error event).
    pub fn from_json(json: &Value) -> ErrorBody {
        let obj = match json.get("error") {
            Some(Value::String(message)) => {
                return ErrorBody {
                    message: Some(message.clone()),
                    ..ErrorBody::default()
                };
            }
            Some(inner @ Value::Object(_)) => inner,
            _ => json,
        };
        let text = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_owned);
        let kind = text("type");
        let reason = obj
            .get("details")
            .and_then(Value::as_array)
            .and_then(|details| {
                details
                    .iter()
                    .find_map(|d| d.get("reason").and_then(Value::as_str))
            })
            .map(str::to_owned);
        let retry_delay = obj
            .get("details")
            .and_then(Value::as_array)
            .and_then(|details| {
                details
                    .iter()
                    .find_map(|d| d.get("retryDelay").and_then(Value::as_str))
            })
            .and_then(parse_seconds_suffix);
        // A numeric `code` ("400", LiteLLM) repeats the status: not a code.
        // Nor is a placeholder some servers print for "no code" (`"None"`).
        let code = text("code")
            .filter(|c| !c.bytes().all(|b| b.is_ascii_digit()))
            .filter(|c| !matches!(c.trim(), "None" | "none" | "null" | "NULL"))
            .or_else(|| kind.clone())
            .or(reason)
            .or_else(|| text("status"));
        ErrorBody {
            message: text("message").or_else(|| {
                // Some servers put a bare string in `detail` (FastAPI-style fronts).
                obj.get("detail").and_then(Value::as_str).map(str::to_owned)
            }),
            code,
            kind,
            retry_delay,
        }
    }

    /// All text that may carry a signal, lower-cased, for loose matching.
    fn haystack(&self) -> String {
        let mut s = String::new();
        for part in [&self.message, &self.code, &self.kind]
            .into_iter()
            .flatten()
        {
            s.push_str(&part.to_ascii_lowercase());
            s.push(' ');
        }
        s
    }
}

/// The class an HTTP error answer deserves.
pub fn classify(status: u16, body: &ErrorBody, should_retry: Option<bool>) -> ErrorClass {
    let text = body.haystack();

    // Quota and billing are read from the machine fields only: Gemini's
    // transient 429 message also says "check your plan and billing details".
    let billing = [&body.code, &body.kind].into_iter().flatten().any(|c| {
        matches!(
            c.to_ascii_lowercase().as_str(),
            "insufficient_quota" | "billing_error" | "billing_hard_limit_reached"
        )
    });
    if billing || status == 402 {
        return ErrorClass::Permanent;
    }
    if status == 401 || status == 403 {
        return ErrorClass::Permanent;
    }
    if is_context_overflow(&text) || is_content_filtered(&text) {
        return ErrorClass::RequestSpecific;
    }
    if is_unknown_model(&text) || (text.contains("not_found") && text.contains("model")) {
        return ErrorClass::ModelNotFound;
    }
    // A 404 that says nothing of a model is a wrong base URL or route: it
    // fails the same way on every retry (the caller names the URL).
    if status == 404 {
        return ErrorClass::Permanent;
    }
    match should_retry {
        Some(true) => return ErrorClass::Transient,
        Some(false) if crate::class_of_status(status) == ErrorClass::Transient => {
            return ErrorClass::Permanent;
        }
        _ => {}
    }
    match status {
        // Groq's flex tier "capacity exceeded".
        498 => ErrorClass::Transient,
        // 413 stays request-specific (ADR 0002): another target may take a
        // larger body.
        _ => crate::class_of_status(status),
    }
}

/// A lower-cased error text that says the model does not exist here.
fn is_unknown_model(text: &str) -> bool {
    [
        "model_not_found",
        "is not a valid model id",
        "invalid model name",
        "unknown model",
        "no such model",
    ]
    .iter()
    .any(|n| text.contains(n))
        || (text.contains("model")
            && (text.contains("not found") || text.contains("does not exist")))
}

/// A lower-cased error text that says the prompt does not fit this model.
/// Proxies reword the upstream's error: LiteLLM names its exception class
/// (`ContextWindowExceededError`) under the type `invalid_request_error`, and
/// llama.cpp says the request "exceeds the available context size"; both
/// arrive as a plain 400, which would otherwise read as permanent.
fn is_context_overflow(text: &str) -> bool {
    [
        "context_length_exceeded",
        "contextwindowexceedederror",
        "exceeds the available context size",
        "exceed_context_size_error",
        "exceed_context_size",
        "maximum context length",
        "context length",
        "context window",
        "prompt is too long",
        "exceed context limit",
        "too many tokens",
    ]
    .iter()
    .any(|n| text.contains(n))
        || (text.contains("token") && text.contains("exceeds the maximum"))
}

/// A lower-cased error text that says a content filter refused the request:
/// OpenAI's and Azure's codes, Azure's "content management policy" wording,
/// and LiteLLM's `ContentPolicyViolationError` class name.
fn is_content_filtered(text: &str) -> bool {
    [
        "content_filter",
        "content_policy_violation",
        "contentpolicyviolationerror",
        "content management policy",
    ]
    .iter()
    .any(|n| text.contains(n))
}

/// The error for a non-success HTTP answer.
pub fn from_status(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    secret: Option<&Secret>,
) -> Error {
    let parsed = ErrorBody::parse(body);
    let should_retry = headers
        .get("x-should-retry")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| match v.trim() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        });
    let class = classify(status, &parsed, should_retry);
    let message = parsed
        .message
        .clone()
        .unwrap_or_else(|| default_message(status));
    let mut error = Error::api(status, clean(&message, secret)).with_class(class);
    if let Some(code) = &parsed.code {
        error = error.with_code(clean(code, secret));
    }
    if let Some(after) = retry_after(headers).or(parsed.retry_delay) {
        error = error.with_retry_after(after);
    }
    error
}

/// The error for an error reported inside a stream (status 200 already sent).
/// `default_class` applies when the body names nothing we recognize.
pub fn from_stream_event(json: &Value, secret: Option<&Secret>) -> Error {
    let parsed = ErrorBody::from_json(json);
    // In-band errors are what would otherwise be 5xx/529; a known code says more.
    let code_class = parsed.code.as_deref().and_then(|code| match code {
        // A malformed request fails the same way on a retry.
        "invalid_request_error"
            if !is_context_overflow(&parsed.haystack())
                && !is_content_filtered(&parsed.haystack()) =>
        {
            Some(ErrorClass::Permanent)
        }
        other => crate::class_of_code(other),
    });
    let text = parsed.haystack();
    let class = code_class.unwrap_or(
        if is_context_overflow(&text) || is_content_filtered(&text) {
            ErrorClass::RequestSpecific
        } else if is_unknown_model(&text) {
            // Proxies report an upstream's unknown model in-band.
            ErrorClass::ModelNotFound
        } else {
            ErrorClass::Transient
        },
    );
    let message = parsed
        .message
        .clone()
        .unwrap_or_else(|| "error event in stream".to_owned());
    let mut error = Error::new(ErrorKind::Api, clean(&message, secret)).with_class(class);
    if let Some(code) = &parsed.code {
        error = error.with_code(clean(code, secret));
    }
    if let Some(status) = json
        .get("error")
        .and_then(|e| e.get("code"))
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
    {
        error = error.with_status(status);
    }
    if let Some(after) = parsed.retry_delay {
        error = error.with_retry_after(after);
    }
    error
}

/// The error for a failure of the HTTP exchange itself.
pub fn from_transport(error: &reqwest::Error, secret: Option<&Secret>) -> Error {
    let text = clean(&error_chain(error), secret);
    if error.is_timeout() {
        Error::timeout(format!("request timed out: {text}"))
    } else if error.is_connect() {
        Error::transport(format!("connection failed: {text}"))
    } else if error.is_decode() {
        Error::decode(text)
    } else if error.is_builder() {
        Error::config(text)
    } else {
        Error::transport(text)
    }
}

/// The message of `error` and its sources. Reqwest names the URL, which
/// holds no credential (credentials travel in headers only).
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    let mut first = true;
    while let Some(e) = current {
        let piece = e.to_string();
        if !text.contains(&piece) {
            if !first {
                text.push_str(": ");
            }
            text.push_str(&piece);
        }
        first = false;
        current = e.source();
    }
    text
}

/// Longest wait we take from a server's `Retry-After`, `retry-after-ms` or
/// `retryDelay`. Far above the health tracker's `max_retry_after` (which
/// clamps further), and far below where a clock plus a duration overflows:
/// the numbers are a hostile server's to choose.
pub const MAX_SERVER_RETRY_AFTER: Duration = Duration::from_secs(365 * 24 * 3600);

/// A server-supplied number of seconds as a duration: `None` when it is not
/// a finite, non-negative number; clamped to [`MAX_SERVER_RETRY_AFTER`].
/// `Duration::from_secs_f64` panics on values it cannot hold (`1e30`), so
/// untrusted numbers never reach it unchecked.
pub(crate) fn server_seconds(secs: f64) -> Option<Duration> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    let capped = secs.min(MAX_SERVER_RETRY_AFTER.as_secs_f64());
    Some(
        Duration::try_from_secs_f64(capped)
            .map_or(MAX_SERVER_RETRY_AFTER, |d| d.min(MAX_SERVER_RETRY_AFTER)),
    )
}

/// `Retry-After` in milliseconds (`retry-after-ms`), seconds, or an HTTP date,
/// clamped to [`MAX_SERVER_RETRY_AFTER`].
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|ms| server_seconds(ms / 1000.0))
    {
        return Some(ms);
    }
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    parse_retry_after(value, SystemTime::now())
}

/// Parses a `Retry-After` value (seconds or an HTTP date) relative to `now`,
/// clamped to [`MAX_SERVER_RETRY_AFTER`]; never panics, whatever the value.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_SERVER_RETRY_AFTER));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return server_seconds(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_SERVER_RETRY_AFTER),
    )
}

/// `"1.5s"` (Gemini's protobuf Duration text) as a duration, clamped.
fn parse_seconds_suffix(text: &str) -> Option<Duration> {
    server_seconds(text.trim().strip_suffix('s')?.parse().ok()?)
}

/// The decode error for a body (or stream event) that did not fit the shape
/// we expect: says `what` did not fit, where, and what was expected, but never
/// quotes the body. `serde_json` quotes the offending value (`invalid type:
/// string "sk-…", expected u32`), and a server that echoes the request's key
/// in a field of the wrong type would put the key in the error, the failover
/// events and the logs; removing the credential alone is not enough, since
/// the body may hold other secrets. Every provider decodes through this.
pub(crate) fn decode_error(
    what: &str,
    error: &serde_json::Error,
    secret: Option<&Secret>,
) -> Error {
    let detail = match error.classify() {
        serde_json::error::Category::Data => without_values(&error.to_string()),
        // Syntax and end-of-input messages are fixed texts with a position.
        _ => error.to_string(),
    };
    Error::decode(clean(&format!("{what}: {detail}"), secret))
}

/// A `serde_json` data error's text with every quoted value removed: what
/// was found is named by its type only (`invalid type: string, expected
/// u32`). The `expected …` part comes from our own types and stays, as do
/// missing field names (ours too) and the position.
fn without_values(text: &str) -> String {
    // `serde_json` appends " at line L column C" to the message.
    let (message, position) = match text.rfind(" at line ") {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let (found, expected) = match message.find(", expected") {
        Some(at) => message.split_at(at),
        None => (message, ""),
    };
    let found = if found.starts_with("missing field") || found.starts_with("duplicate field") {
        found.to_owned()
    } else {
        // Cut at the first quote: `string "…"`, `integer `5``, `variant `x``.
        let cut = found.find(['"', '`', '\'']).unwrap_or(found.len());
        found[..cut].trim_end().to_owned()
    };
    // `expected one of `a`, `b`` names our own variants: safe to keep. A
    // custom message after the value could still quote; keep only ours.
    let expected = if expected.contains('"') {
        ", expected another shape"
    } else {
        expected
    };
    format!("{found}{expected}{position}")
}

/// Redacts the credential and bounds the length.
pub fn clean(text: &str, secret: Option<&Secret>) -> String {
    let mut text = match secret {
        Some(s) => s.redact(text),
        None => text.to_owned(),
    };
    if text.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

fn default_message(status: u16) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error");
    format!("HTTP {status} {reason}").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> ErrorBody {
        ErrorBody::parse(json.as_bytes())
    }

    #[test]
    fn reads_every_body_shape() {
        let openai = body(
            r#"{"error":{"message":"m","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
        );
        assert_eq!(openai.code.as_deref(), Some("insufficient_quota"));
        let anthropic =
            body(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#);
        assert_eq!(anthropic.code.as_deref(), Some("overloaded_error"));
        assert_eq!(anthropic.message.as_deref(), Some("Overloaded"));
        let gemini = body(
            r#"{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"13s"}]}}"#,
        );
        assert_eq!(gemini.code.as_deref(), Some("RESOURCE_EXHAUSTED"));
        assert_eq!(gemini.retry_delay, Some(Duration::from_secs(13)));
        let ollama = body(r#"{"error":"model 'x' not found"}"#);
        assert_eq!(ollama.message.as_deref(), Some("model 'x' not found"));
        let vllm =
            body(r#"{"object":"error","message":"too long","type":"BadRequestError","code":400}"#);
        assert_eq!(vllm.message.as_deref(), Some("too long"));
        assert_eq!(vllm.code.as_deref(), Some("BadRequestError"));
        assert_eq!(
            body("upstream down").message.as_deref(),
            Some("upstream down")
        );
    }

    #[test]
    fn body_signals_refine_the_status() {
        let c = |status, json: &str| classify(status, &body(json), None);
        assert_eq!(
            c(
                429,
                r#"{"error":{"type":"insufficient_quota","code":null,"message":"quota"}}"#
            ),
            ErrorClass::Permanent
        );
        assert_eq!(
            c(
                401,
                r#"{"error":{"type":"invalid_request_error","code":"invalid_api_key","message":"bad key"}}"#
            ),
            ErrorClass::Permanent
        );
        assert_eq!(
            c(
                400,
                r#"{"error":{"code":"context_length_exceeded","message":"too long"}}"#
            ),
            ErrorClass::RequestSpecific
        );
        assert_eq!(
            c(
                400,
                r#"{"error":{"code":400,"message":"foo/bar is not a valid model ID"}}"#
            ),
            ErrorClass::ModelNotFound
        );
        assert_eq!(
            c(400, r#"{"error":{"message":"bad"}}"#),
            ErrorClass::Permanent
        );
        assert_eq!(c(529, "{}"), ErrorClass::Transient);
        assert_eq!(c(503, "{}"), ErrorClass::Transient);
        // A 404 that names no model is a wrong route, not a missing model.
        assert_eq!(c(404, "{}"), ErrorClass::Permanent);
        assert_eq!(c(404, "404 page not found"), ErrorClass::Permanent);
        assert_eq!(c(404, r#"{"detail":"Not Found"}"#), ErrorClass::Permanent);
        assert_eq!(
            c(
                404,
                r#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-x"}}"#
            ),
            ErrorClass::ModelNotFound
        );
        assert_eq!(
            c(
                404,
                r#"{"error":"model \"x\" not found, try pulling it first"}"#
            ),
            ErrorClass::ModelNotFound
        );
        assert_eq!(
            classify(503, &body("{}"), Some(false)),
            ErrorClass::Permanent
        );
    }

    #[test]
    fn in_stream_errors_read_the_text_too() {
        let unknown = serde_json::json!({"error": "Error code: 400 - /chat/completions: Invalid model name passed in model=x"});
        assert_eq!(
            from_stream_event(&unknown, None).class(),
            ErrorClass::ModelNotFound
        );
        let busy = serde_json::json!({"error": {"message": "upstream hiccup"}});
        assert_eq!(
            from_stream_event(&busy, None).class(),
            ErrorClass::Transient
        );
        let numeric =
            body(r#"{"error":{"message":"bad","type":"invalid_request_error","code":"400"}}"#);
        assert_eq!(numeric.code.as_deref(), Some("invalid_request_error"));
    }

    #[test]
    fn retry_after_in_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after("20", now), Some(Duration::from_secs(20)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:20 GMT", now),
            Some(Duration::from_secs(20))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn decode_errors_never_quote_the_body() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Shape {
            n: u32,
            kind: Kind,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Kind {
            A,
        }
        let secret = Secret::new("sk-live-0123456789");
        for body in [
            r#"{"n":"sk-live-0123456789","kind":"a"}"#,
            r#"{"n":"private-value","kind":"a"}"#,
            r#"{"n":1,"kind":"private-value"}"#,
            r#"{"n":-5,"kind":"a"}"#,
            r#"{"n":1.5e300,"kind":"a"}"#,
            r#"{"kind":"a"}"#,
            r#"{"n":1,"kind":"a""#,
            r#"{"n":1,"kind":["private-value"]}"#,
        ] {
            let e = serde_json::from_str::<Shape>(body).unwrap_err();
            let error = decode_error("unexpected body", &e, Some(&secret));
            let text = format!("{error} {error:?}");
            assert!(!text.contains("sk-live"), "{text}");
            assert!(!text.contains("private"), "{text}");
            assert!(!text.contains("1.5e300") && !text.contains("-5"), "{text}");
            assert!(text.contains("unexpected body"), "{text}");
            assert_eq!(error.kind(), ErrorKind::Decode);
        }
        let e = serde_json::from_str::<Shape>(r#"{"kind":"a"}"#).unwrap_err();
        assert!(
            decode_error("x", &e, None)
                .to_string()
                .contains("missing field `n`")
        );
        let e = serde_json::from_str::<Shape>(r#"{"n":"v","kind":"a"}"#).unwrap_err();
        assert!(
            decode_error("x", &e, None)
                .to_string()
                .contains("invalid type: string, expected u32 at line 1 column"),
            "{}",
            decode_error("x", &e, None)
        );
    }

    #[test]
    fn hostile_numbers_are_clamped_never_panic() {
        let now = SystemTime::UNIX_EPOCH;
        for value in [
            "1e30",
            "99999999999999999999999",
            "1e300",
            "inf",
            "NaN",
            "-1",
            "-0",
        ] {
            let parsed = parse_retry_after(value, now);
            assert!(
                parsed.is_none_or(|d| d <= MAX_SERVER_RETRY_AFTER),
                "{value}"
            );
        }
        assert_eq!(parse_retry_after("1e30", now), Some(MAX_SERVER_RETRY_AFTER));
        assert_eq!(
            body(r#"{"error":{"details":[{"retryDelay":"1e30s"}]}}"#).retry_delay,
            Some(MAX_SERVER_RETRY_AFTER)
        );
        let mut headers = HeaderMap::new();
        headers.insert("retry-after-ms", "1e300".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(MAX_SERVER_RETRY_AFTER));
    }
}
