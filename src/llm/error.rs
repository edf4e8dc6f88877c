//! The crate's one [`Error`] type, its [`ErrorClass`] and the [`Classifier`] that assigns it.
//!
//! The class is what the failover chain acts on (design §2): retry, advance, or stop.
//! Callers ask questions of an error (`class()`, `status()`, `retry_after()`,
//! `target()`) instead of matching on its shape.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::attempt::Attempt;
use super::capabilities::Capability;
use super::class::ErrorClass;
use super::context::CallContext;
use super::target::Target;

/// `Result` with the crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, broadly. The [`ErrorClass`] is derived from this, the HTTP
/// status and the provider's error code (see [`DefaultClassifier`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The provider answered with an error: a non-success HTTP status, or an
    /// error event inside a stream.
    Api,
    /// The provider could not be reached, or the connection broke mid-call.
    Transport,
    /// A deadline expired (connect, request, first event, idle, overall).
    Timeout,
    /// A stream ended without its terminator; the answer would have been short.
    StreamEndedEarly,
    /// The provider's answer could not be decoded.
    Decode,
    /// The provider does not serve this model id.
    ModelNotFound,
    /// The request needs a capability the model lacks.
    Unsupported,
    /// A DSN, environment variable, credential or builder value is missing or malformed.
    Config,
    /// A model spec could not be parsed or resolved.
    Spec,
    /// The caller dropped or cancelled the call.
    Cancelled,
    /// Every target of a chain failed or was skipped; see [`Error::attempts`].
    Exhausted,
    /// The model's answer did not have the requested shape (structured output)
    /// after every allowed retry; `Error::invalid_output` has the last answer.
    InvalidOutput,
    /// The tool loop reached its step limit while the model still called
    /// tools; `Error::step_limit` has the transcript.
    StepLimit,
    /// The provider's code panicked during the call (ADR 0014): transient, so
    /// a chain retries, then fails over, and a target that keeps panicking is
    /// benched.
    Panicked,
    /// Anything else; the class defaults to permanent unless set explicitly.
    Other,
}

/// Every error the crate returns.
///
/// Cheap to move (one pointer) and to clone (shared source). Built with
/// constructors such as [`Error::api`] and refined with `with_*` methods.
/// Credentials are never stored in an error: providers pass every message from a
/// server through [`crate::Secret::redact`] first.
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    class: Option<ErrorClass>,
    provider: Option<Arc<str>>,
    model: Option<Arc<str>>,
    status: Option<u16>,
    code: Option<String>,
    retry_after: Option<Duration>,
    context: Option<CallContext>,
    capability: Option<Capability>,
    /// The environment variable to set, for a missing credential.
    variable: Option<Arc<str>>,
    attempts: Option<Arc<[Attempt]>>,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

// ===== constructors =====

impl Error {
    /// A new error of `kind` with a human-readable message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                class: None,
                provider: None,
                model: None,
                status: None,
                code: None,
                retry_after: None,
                context: None,
                capability: None,
                variable: None,
                attempts: None,
                source: None,
            }),
        }
    }

    /// The provider answered with HTTP `status` and `message`.
    pub fn api(status: u16, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Api, message).with_status(status)
    }

    /// HTTP 529 "overloaded" (Anthropic's overload status): transient.
    pub fn overloaded() -> Self {
        Error::api(529, "overloaded").with_code("overloaded_error")
    }

    /// HTTP 429 rate limit, optionally with the server's `Retry-After`: transient.
    pub fn rate_limited(retry_after: Option<Duration>) -> Self {
        let mut e = Error::api(429, "rate limited");
        e.inner.retry_after = retry_after;
        e
    }

    /// HTTP 503 service unavailable: transient.
    pub fn unavailable() -> Self {
        Error::api(503, "service unavailable")
    }

    /// The provider does not serve `model`.
    pub fn model_not_found(model: impl Into<String>) -> Self {
        let model: String = model.into();
        Error::new(
            ErrorKind::ModelNotFound,
            format!("model {model:?} not found"),
        )
        .with_model(model)
    }

    /// The connection failed or broke: transient.
    pub fn transport(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Transport, message)
    }

    /// A deadline expired: transient.
    pub fn timeout(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Timeout, message)
    }

    /// A stream ended without its terminator: transient, never a silently short answer.
    pub fn stream_ended_early() -> Self {
        Error::new(ErrorKind::StreamEndedEarly, "stream ended early")
    }

    /// The provider's answer could not be decoded: transient.
    pub fn decode(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Decode, message)
    }

    /// A configuration problem (DSN, environment, credentials, builder): permanent.
    pub fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    /// The credential a provider needs is absent: [`ErrorClass::NotConfigured`],
    /// so a chain moves on to a target this deployment has set up. Names the
    /// variable that was read (see [`Error::missing_variable`]), never a value.
    pub fn missing_credential(provider: &str, variable: &str) -> Self {
        let mut e = Error::config(format!(
            "no credential for provider {provider:?}: set {variable}"
        ))
        .with_provider(provider)
        .with_class(ErrorClass::NotConfigured);
        e.inner.variable = Some(variable.into());
        e
    }

    /// A provider panicked during the call; `payload` is what `catch_unwind`
    /// caught. The panic's message is kept (cut to a few hundred
    /// characters): it is a programmer's text, which the panic hook has
    /// printed already.
    pub fn panicked(payload: &(dyn std::any::Any + Send)) -> Self {
        /// Longest panic message kept.
        const MAX: usize = 300;
        let text = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("a panic with a non-text payload");
        let mut cut = text.len().min(MAX);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let ellipsis = if cut < text.len() { "…" } else { "" };
        Error::new(
            ErrorKind::Panicked,
            format!("the provider panicked: {}{ellipsis}", &text[..cut]),
        )
    }

    /// The caller cancelled the call.
    pub fn cancelled() -> Self {
        Error::new(ErrorKind::Cancelled, "call cancelled")
    }

    /// The request needs `capability`, which the model lacks: request-specific.
    pub fn unsupported(capability: Capability) -> Self {
        let mut e = Error::new(
            ErrorKind::Unsupported,
            format!("model does not support {capability}"),
        );
        e.inner.capability = Some(capability);
        e
    }

    /// The prompt is longer than the model's context window: request-specific.
    pub fn context_length_exceeded(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Api, message)
            .with_code("context_length_exceeded")
            .with_class(ErrorClass::RequestSpecific)
    }

    /// The provider's content filter refused the request: request-specific.
    pub fn content_filtered(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Api, message)
            .with_code("content_filter")
            .with_class(ErrorClass::RequestSpecific)
    }

    /// An error of kind [`ErrorKind::Other`] with an explicit class.
    pub fn other(class: ErrorClass, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Other, message).with_class(class)
    }

    /// Every target of a chain failed or was skipped.
    pub fn exhausted(attempts: Vec<Attempt>, last: Option<Error>) -> Self {
        let tried = attempts
            .iter()
            .filter(|a| a.error.is_some() || a.admitted_at.is_some())
            .count();
        let steps = attempts.len();
        let mut message = format!(
            "all targets failed ({steps} step{})",
            if steps == 1 { "" } else { "s" }
        );
        if tried == 0 && attempts.is_empty() {
            message = "no target could be tried".to_owned();
        }
        // The steps are listed by `Display`, not kept in the message, so that
        // a host that already logged each step can print just the summary.
        let mut e = Error::new(ErrorKind::Exhausted, message);
        if let Some(last) = last {
            e.inner.retry_after = last.retry_after();
            e.inner.status = last.status();
            e.inner.class = Some(last.class());
            e.inner.source = Some(Arc::new(last));
        } else {
            e.inner.class = Some(ErrorClass::Transient);
        }
        e.inner.attempts = Some(attempts.into());
        e
    }
}

// ===== refinement =====

impl Error {
    /// Sets provider and model from `target`.
    pub fn with_target(mut self, target: &Target) -> Self {
        self.inner.provider = Some(target.provider().into());
        self.inner.model = Some(target.model().into());
        self
    }

    /// Sets provider and model from `target` only where they are not set yet.
    pub fn or_target(mut self, target: &Target) -> Self {
        if self.inner.provider.is_none() {
            self.inner.provider = Some(target.provider().into());
        }
        if self.inner.model.is_none() {
            self.inner.model = Some(target.model().into());
        }
        self
    }

    /// Sets the provider name.
    pub fn with_provider(mut self, provider: impl Into<Arc<str>>) -> Self {
        self.inner.provider = Some(provider.into());
        self
    }

    /// Sets the model id.
    pub fn with_model(mut self, model: impl Into<Arc<str>>) -> Self {
        self.inner.model = Some(model.into());
        self
    }

    /// Sets the HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    /// Sets the provider's error code (e.g. `context_length_exceeded`).
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.inner.code = Some(code.into());
        self
    }

    /// Sets how long the provider asked us to wait before trying again.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.inner.retry_after = Some(retry_after);
        self
    }

    /// Attaches the call context (caller id, run id) for attribution. Class and
    /// message are unchanged.
    pub fn with_context(mut self, context: CallContext) -> Self {
        self.inner.context = Some(context);
        self
    }

    /// Fixes the class, overriding what the default classifier would derive.
    /// Providers use this where the body says more than the status (a 429
    /// `insufficient_quota` is a billing failure: permanent).
    pub fn with_class(mut self, class: ErrorClass) -> Self {
        self.inner.class = Some(class);
        self
    }

    /// Attaches the steps a chain took before this error ended the call (a
    /// permanent error returned at once, a chain deadline). Kind and class are
    /// unchanged.
    pub fn with_attempts(mut self, attempts: Vec<Attempt>) -> Self {
        self.inner.attempts = Some(attempts.into());
        self
    }

    /// Names the environment variable whose absence this error reports (see
    /// [`Error::missing_variable`]).
    pub(crate) fn with_missing_variable(mut self, variable: Arc<str>) -> Self {
        if self.inner.kind == ErrorKind::Exhausted {
            self.inner.message = format!(
                "{} (set {variable} to enable more targets)",
                self.inner.message
            );
        }
        self.inner.variable = Some(variable);
        self
    }

    /// Attaches the underlying error, kept in the [`std::error::Error::source`] chain.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Arc::new(source));
        self
    }
}

// ===== questions =====

impl Error {
    /// What went wrong, broadly.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The class the chain acts on, by the [`DefaultClassifier`]. A chain may be
    /// configured with another [`Classifier`].
    pub fn class(&self) -> ErrorClass {
        DefaultClassifier.classify(self)
    }

    /// The class fixed with [`Error::with_class`], if any.
    pub fn explicit_class(&self) -> Option<ErrorClass> {
        self.inner.class
    }

    /// The message, without target or status. For an exhausted chain, the
    /// summary (`all targets failed (4 steps)`); `Display` adds every step.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The provider name, where known.
    pub fn provider(&self) -> Option<&str> {
        self.inner.provider.as_deref()
    }

    /// The model id, where known.
    pub fn model(&self) -> Option<&str> {
        self.inner.model.as_deref()
    }

    /// The `provider/model` target, where both are known.
    pub fn target(&self) -> Option<Target> {
        match (&self.inner.provider, &self.inner.model) {
            (Some(p), Some(m)) => Target::new(p, m).ok(),
            _ => None,
        }
    }

    /// The HTTP status, where the error came from an HTTP answer.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// The provider's error code or type, e.g. `rate_limit_exceeded`.
    pub fn code(&self) -> Option<&str> {
        self.inner.code.as_deref()
    }

    /// How long the provider asked us to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The call context attached for attribution.
    pub fn context(&self) -> Option<&CallContext> {
        self.inner.context.as_ref()
    }

    /// The environment variable to set, for a credential that is absent
    /// ([`ErrorClass::NotConfigured`]). For an exhausted chain, the first such
    /// variable among its attempts' errors.
    pub fn missing_variable(&self) -> Option<&str> {
        self.inner.variable.as_deref()
    }

    /// The missing capability, for [`ErrorKind::Unsupported`].
    pub fn capability(&self) -> Option<Capability> {
        self.inner.capability
    }

    /// Every step a chain took before returning this error (always set for
    /// [`ErrorKind::Exhausted`]); empty for errors that did not come from a chain.
    pub fn attempts(&self) -> &[Attempt] {
        self.inner.attempts.as_deref().unwrap_or(&[])
    }

    /// The source error downcast to `T`, if it is one.
    pub fn source_as<T: StdError + 'static>(&self) -> Option<&T> {
        self.inner.source.as_deref()?.downcast_ref::<T>()
    }

    /// True for [`ErrorKind::Cancelled`].
    pub fn is_cancelled(&self) -> bool {
        self.inner.kind == ErrorKind::Cancelled
    }

    /// True for [`ErrorKind::Timeout`].
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        match (&i.provider, &i.model) {
            (Some(p), Some(m)) => write!(f, "{p}/{m}: ")?,
            (Some(p), None) => write!(f, "{p}: ")?,
            _ => {}
        }
        if let Some(status) = i.status {
            if i.kind != ErrorKind::Exhausted {
                write!(f, "HTTP {status}: ")?;
            }
        }
        f.write_str(&i.message)?;
        if i.kind == ErrorKind::Exhausted {
            for attempt in i.attempts.iter().flat_map(|a| a.iter()) {
                write!(f, "; {attempt}")?;
            }
        }
        if let Some(code) = &i.code {
            if !i.message.contains(code.as_str()) {
                write!(f, " ({code})")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &i.kind).field("class", &self.class());
        d.field("message", &i.message);
        if let Some(p) = &i.provider {
            d.field("provider", p);
        }
        if let Some(m) = &i.model {
            d.field("model", m);
        }
        if let Some(s) = i.status {
            d.field("status", &s);
        }
        if let Some(c) = &i.code {
            d.field("code", c);
        }
        if let Some(r) = i.retry_after {
            d.field("retry_after", &r);
        }
        if let Some(v) = &i.variable {
            d.field("missing_variable", v);
        }
        if let Some(c) = &i.context {
            d.field("context", c);
        }
        if let Some(a) = &i.attempts {
            d.field("attempts", a);
        }
        if let Some(s) = &i.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

// ===== classification =====

/// Assigns an [`ErrorClass`] to an error. Install a custom one on the chain to
/// override the defaults; closures `Fn(&Error) -> ErrorClass` implement it.
///
/// ```
/// use majordomo::{Classifier, DefaultClassifier, Error, ErrorClass};
/// // Treat 400 as transient for a flaky gateway, defer to the defaults otherwise.
/// let classify = |e: &Error| match e.status() {
///     Some(400) => ErrorClass::Transient,
///     _ => DefaultClassifier.classify(e),
/// };
/// assert_eq!(classify.classify(&Error::api(400, "bad")), ErrorClass::Transient);
/// ```
pub trait Classifier: Send + Sync {
    /// The class of `error`.
    fn classify(&self, error: &Error) -> ErrorClass;
}

impl fmt::Debug for dyn Classifier {
    /// A classifier is code: only its presence shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Classifier")
    }
}

impl<F> Classifier for F
where
    F: Fn(&Error) -> ErrorClass + Send + Sync,
{
    fn classify(&self, error: &Error) -> ErrorClass {
        self(error)
    }
}

/// The classification of design §2: an explicit class wins, then the provider's
/// error code, then the HTTP status, then the kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassifier;

impl Classifier for DefaultClassifier {
    fn classify(&self, error: &Error) -> ErrorClass {
        let i = &error.inner;
        if let Some(class) = i.class {
            return class;
        }
        match i.kind {
            ErrorKind::Cancelled => return ErrorClass::Cancelled,
            ErrorKind::Transport
            | ErrorKind::Timeout
            | ErrorKind::StreamEndedEarly
            | ErrorKind::Panicked => {
                return ErrorClass::Transient;
            }
            ErrorKind::ModelNotFound => return ErrorClass::ModelNotFound,
            ErrorKind::Unsupported => return ErrorClass::RequestSpecific,
            ErrorKind::Config | ErrorKind::Spec => return ErrorClass::Permanent,
            _ => {}
        }
        if let Some(class) = i.code.as_deref().and_then(class_of_code) {
            return class;
        }
        if let Some(status) = i.status {
            return class_of_status(status);
        }
        match i.kind {
            ErrorKind::Decode | ErrorKind::Api => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        }
    }
}

/// The class of an HTTP status alone (design §2's table).
pub fn class_of_status(status: u16) -> ErrorClass {
    match status {
        408 | 409 | 425 | 429 | 529 => ErrorClass::Transient,
        500..=599 => ErrorClass::Transient,
        404 => ErrorClass::ModelNotFound,
        413 => ErrorClass::RequestSpecific,
        _ => ErrorClass::Permanent,
    }
}

/// The class implied by a provider error code or type, where it says more than
/// the status does. `None` when the code is not one we know.
pub fn class_of_code(code: &str) -> Option<ErrorClass> {
    Some(match code {
        // A quota or billing failure looks like a rate limit (429) but will not
        // clear by waiting.
        "insufficient_quota" | "billing_hard_limit_reached" | "billing_error" => {
            ErrorClass::Permanent
        }
        "context_length_exceeded"
        | "string_above_max_length"
        | "content_filter"
        | "content_policy_violation"
        | "request_too_large" => ErrorClass::RequestSpecific,
        "model_not_found" | "not_found_error" => ErrorClass::ModelNotFound,
        "overloaded_error"
        | "rate_limit_error"
        | "rate_limit_exceeded"
        | "api_error"
        | "server_error"
        | "timeout_error" => ErrorClass::Transient,
        "authentication_error" | "permission_error" | "invalid_api_key" => ErrorClass::Permanent,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_pointer() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }
}
