//! OpenTelemetry GenAI spans (semantic conventions v1.41, ADR 0020).
//!
//! Spans are plain `tracing` spans; a host bridges them to OpenTelemetry with
//! `tracing-opentelemetry`, whose special fields give each span its OTel name
//! (`otel.name`, since `tracing` names are static), kind and status. Every
//! attribute is declared when the span is made and recorded only when a
//! subscriber is interested (`Span::is_disabled`), so a process without one
//! pays for a level check and nothing else.
//!
//! Content (`gen_ai.input.messages`, `gen_ai.output.messages`,
//! `gen_ai.system_instructions`) is recorded only when the request's call
//! context asks for it ([`crate::CallContext::capture_content`]).

use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::Span;
use tracing::field::Empty;

use crate::llm::observed::{Observed, StreamObserver};
use crate::{
    Error, ErrorClass, EventStream, FinishReason, ImageSource, Message, Part, Request, Response,
    Result, Role, StreamAccumulator, StreamEvent, Target, Usage,
};

/// `gen_ai.operation.name` of every call majordomo makes.
pub(crate) const OPERATION: &str = "chat";

/// The `tracing` target of every span here, for filters
/// (`majordomo::gen_ai=info`).
pub(crate) const TARGET: &str = "majordomo::gen_ai";

/// `future` run inside `span`, or bare when no subscriber wants the span:
/// entering and leaving even a disabled span on every poll costs about as
/// much as the rest of the call's own bookkeeping (ADR 0021). The
/// instrumented future is boxed, so that its span does not add to the size
/// of every caller's future when nothing records it.
pub(crate) fn in_span<F: std::future::Future>(
    future: F,
    span: &Span,
) -> futures::future::Either<F, std::pin::Pin<Box<tracing::instrument::Instrumented<F>>>> {
    use tracing::Instrument as _;
    if span.is_disabled() {
        futures::future::Either::Left(future)
    } else {
        futures::future::Either::Right(Box::pin(future.instrument(span.clone())))
    }
}
/// Awaits `future` inside `span`, as [`in_span`] runs it, for a large
/// future: awaited bare, it is not moved into an `Either` first (a copy of
/// its whole size per call).
macro_rules! await_in_span {
    ($future:expr, $span:expr) => {{
        let span: &tracing::Span = $span;
        if span.is_disabled() {
            $future.await
        } else {
            Box::pin(tracing::Instrument::instrument($future, span.clone())).await
        }
    }};
}
pub(crate) use await_in_span;

/// `gen_ai.provider.name` for a wire protocol: the convention's well-known
/// values where they exist (`openai`, `anthropic`, `gcp.gemini`,
/// `azure.ai.openai`); Ollama has none, so its protocol name.
pub(crate) fn provider_name(protocol: &str) -> &str {
    match protocol {
        "gemini" => "gcp.gemini",
        "azure" => "azure.ai.openai",
        other => other,
    }
}

/// A span with the fields every GenAI span here records (named `$name`,
/// OTel kind `$kind`), plus `$extra` fields.
macro_rules! gen_ai_span {
    ($name:literal, $kind:literal, $streaming:expr, $($extra:tt)*) => {
        tracing::info_span!(
            target: $crate::telemetry::TARGET,
            $name,
            otel.name = tracing::field::Empty,
            otel.kind = $kind,
            otel.status_code = tracing::field::Empty,
            gen_ai.operation.name = $crate::telemetry::OPERATION,
            gen_ai.request.stream = $streaming,
            gen_ai.request.temperature = tracing::field::Empty,
            gen_ai.request.top_p = tracing::field::Empty,
            gen_ai.request.max_tokens = tracing::field::Empty,
            gen_ai.request.stop_sequences = tracing::field::Empty,
            gen_ai.request.seed = tracing::field::Empty,
            gen_ai.response.model = tracing::field::Empty,
            gen_ai.response.id = tracing::field::Empty,
            gen_ai.response.finish_reasons = tracing::field::Empty,
            gen_ai.response.time_to_first_chunk = tracing::field::Empty,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
            gen_ai.usage.cache_read.input_tokens = tracing::field::Empty,
            gen_ai.usage.reasoning.output_tokens = tracing::field::Empty,
            gen_ai.input.messages = tracing::field::Empty,
            gen_ai.output.messages = tracing::field::Empty,
            gen_ai.system_instructions = tracing::field::Empty,
            error.type = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            $($extra)*
        )
    };
}
pub(crate) use gen_ai_span;

/// The span of one model call over the wire (`chat gpt-4o`, kind client).
/// It ends when the answer (or the stream) ends; dropped unfinished, it
/// records the call as cancelled.
pub(crate) struct CallSpan {
    span: Span,
    /// When the call started; only read (and so only taken) when a
    /// subscriber is interested.
    started: Option<Instant>,
    capture: bool,
    open: bool,
}

impl CallSpan {
    /// Opens the span of a call to `target` over `protocol`.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn start(
        protocol: &'static str,
        target: &Target,
        request: &Request,
        streaming: bool,
    ) -> Self {
        let span = gen_ai_span!(
            "gen_ai.call",
            "client",
            streaming,
            gen_ai.provider.name = provider_name(protocol),
            gen_ai.request.model = target.model(),
            server.address = Empty,
            server.port = Empty,
            majordomo.provider = target.provider(),
            majordomo.protocol = protocol,
        );
        let capture = request.call_context().capture_content;
        if !span.is_disabled() {
            span.record("otel.name", format!("{OPERATION} {}", target.model()));
            record_request(&span, request, capture);
        }
        CallSpan::new(span, capture)
    }

    /// Takes charge of `span`, made by the caller with the fields this type
    /// records (a chain's span).
    pub(crate) fn new(span: Span, capture: bool) -> Self {
        CallSpan {
            started: (!span.is_disabled()).then(Instant::now),
            span,
            capture,
            open: true,
        }
    }

    /// The span, to instrument the call with.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// Records the server the call goes to (`server.address`, `server.port`).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn server(&self, base_url: &str) {
        if self.span.is_disabled() {
            return;
        }
        if let Ok(url) = url::Url::parse(base_url) {
            if let Some(host) = url.host_str() {
                self.span.record("server.address", host);
            }
            if let Some(port) = url.port_or_known_default() {
                self.span.record("server.port", i64::from(port));
            }
        }
    }

    /// Ends the span of a whole answer or a failed call.
    pub(crate) fn finish(mut self, result: &Result<Response>) {
        self.open = false;
        if self.span.is_disabled() {
            return;
        }
        match result {
            Ok(response) => record_response(&self.span, response, self.capture),
            Err(error) => record_error(&self.span, error, error.class()),
        }
    }

    /// Ends the span of a call that failed.
    pub(crate) fn failed(mut self, error: &Error) {
        self.open = false;
        if !self.span.is_disabled() {
            record_error(&self.span, error, error.class());
        }
    }

    /// Hands the span to `stream`, which ends it when it ends, breaks or is
    /// dropped. `first_arrived` says the first event is already in hand
    /// (the time to first chunk is now).
    pub(crate) fn stream(mut self, stream: EventStream, first_arrived: bool) -> EventStream {
        self.open = false;
        if self.span.is_disabled() {
            return stream;
        }
        self.span.record("gen_ai.response.model", stream.model());
        let started = self.started.unwrap_or_else(Instant::now);
        let mut state = SpanState::new(self.span.clone(), started, self.capture);
        if first_arrived {
            state.first_chunk();
        }
        // The span ends with the stream.
        stream.map_inner(|inner| Observed::new(inner, state))
    }
}

impl Drop for CallSpan {
    fn drop(&mut self) {
        // The caller dropped the call's future before it finished.
        if self.open && !self.span.is_disabled() {
            record_class(&self.span, ErrorClass::Cancelled);
        }
    }
}

/// Records the request's sampling parameters and, when captured, its content.
pub(crate) fn record_request(span: &Span, request: &Request, capture: bool) {
    let options = request.model_options();
    if let Some(t) = options.temperature {
        span.record("gen_ai.request.temperature", f64::from(t));
    }
    if let Some(p) = options.top_p {
        span.record("gen_ai.request.top_p", f64::from(p));
    }
    if let Some(n) = options.max_tokens {
        span.record("gen_ai.request.max_tokens", i64::from(n));
    }
    if !options.stop.is_empty() {
        // `tracing` has no array values: the list travels as JSON text.
        span.record(
            "gen_ai.request.stop_sequences",
            json!(options.stop).to_string(),
        );
    }
    if let Some(seed) = options.seed {
        span.record(
            "gen_ai.request.seed",
            i64::try_from(seed).unwrap_or(i64::MAX),
        );
    }
    if capture {
        span.record(
            "gen_ai.input.messages",
            Value::Array(request.messages().iter().map(message_json).collect()).to_string(),
        );
        if let Some(system) = request.system_prompt() {
            span.record(
                "gen_ai.system_instructions",
                json!([{"type": "text", "content": system}]).to_string(),
            );
        }
    }
}

/// Records what a whole answer says: model, id, finish reason, usage and,
/// when captured, its message.
pub(crate) fn record_response(span: &Span, response: &Response, capture: bool) {
    if !response.model.is_empty() {
        span.record("gen_ai.response.model", response.model.as_str());
    }
    if let Some(id) = response_id(response) {
        span.record("gen_ai.response.id", id);
    }
    record_finish(span, &response.finish_reason);
    record_usage(span, &response.usage);
    if capture {
        record_output(span, &response.message, &response.finish_reason);
    }
}

/// The provider's id of an answer, where its protocol keeps one.
fn response_id(response: &Response) -> Option<&str> {
    let raw = response.raw.as_ref()?;
    raw.get("id")
        .or_else(|| raw.get("responseId"))
        .and_then(Value::as_str)
}

fn record_finish(span: &Span, reason: &FinishReason) {
    span.record(
        "gen_ai.response.finish_reasons",
        json!([reason.as_str()]).to_string(),
    );
}

/// Records the token counts that are known.
pub(crate) fn record_usage(span: &Span, usage: &Usage) {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    if let Some(n) = usage.input_tokens {
        span.record("gen_ai.usage.input_tokens", count(n));
    }
    if let Some(n) = usage.output_tokens {
        span.record("gen_ai.usage.output_tokens", count(n));
    }
    if let Some(n) = usage.cached_input_tokens {
        span.record("gen_ai.usage.cache_read.input_tokens", count(n));
    }
    if let Some(n) = usage.reasoning_tokens {
        span.record("gen_ai.usage.reasoning.output_tokens", count(n));
    }
}

fn record_output(span: &Span, message: &Message, reason: &FinishReason) {
    let mut out = message_json(message);
    if let Value::Object(map) = &mut out {
        map.insert("finish_reason".into(), reason.as_str().into());
    }
    span.record(
        "gen_ai.output.messages",
        Value::Array(vec![out]).to_string(),
    );
}

/// Records a failure: `error.type` (the error's class), the span status, and
/// the HTTP status where there was one.
pub(crate) fn record_error(span: &Span, error: &Error, class: ErrorClass) {
    record_class(span, class);
    if let Some(status) = error.status() {
        span.record("http.response.status_code", i64::from(status));
    }
}

/// Records `error.type` and the error status.
pub(crate) fn record_class(span: &Span, class: ErrorClass) {
    span.record("error.type", class.as_str());
    span.record("otel.status_code", "error");
}

/// One message in the conventions' format: `{"role", "parts": [...]}`.
fn message_json(message: &Message) -> Value {
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let parts: Vec<Value> = message.parts.iter().filter_map(part_json).collect();
    json!({"role": role, "parts": parts})
}

fn part_json(part: &Part) -> Option<Value> {
    Some(match part {
        Part::Text { text } => json!({"type": "text", "content": text}),
        Part::Image(image) => match &image.source {
            // Only where the image is, never its bytes, and no query or user
            // info: a signed URL's token is a credential too.
            ImageSource::Url { url } if !url.starts_with("data:") => {
                let shown = url::Url::parse(url).map_or_else(
                    |_| String::new(),
                    |mut u| {
                        u.set_query(None);
                        let _ = u.set_username("");
                        let _ = u.set_password(None);
                        u.to_string()
                    },
                );
                json!({"type": "uri", "modality": "image", "uri": shown})
            }
            ImageSource::Url { .. } => json!({"type": "blob", "modality": "image"}),
            ImageSource::Inline { media_type, .. } => {
                json!({"type": "blob", "modality": "image", "mime_type": media_type})
            }
        },
        Part::ToolCall(call) => json!({
            "type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments,
        }),
        Part::ToolResult(result) => json!({
            "type": "tool_call_response", "id": result.call_id, "result": result.content,
        }),
        Part::Thinking(_) => return None,
    })
}

/// What a stream's span collects until the stream ends.
struct SpanState {
    span: Span,
    started: Instant,
    first_seen: bool,
    usage: Usage,
    finish: Option<FinishReason>,
    /// The answer so far, when content is captured.
    output: Option<StreamAccumulator>,
}

impl SpanState {
    /// Collects for `span`, whose call started at `started`.
    fn new(span: Span, started: Instant, capture: bool) -> Self {
        SpanState {
            span,
            started,
            first_seen: false,
            usage: Usage::default(),
            finish: None,
            output: capture.then(StreamAccumulator::new),
        }
    }

    /// The first chunk is here: records the time to it, once.
    fn first_chunk(&mut self) {
        if !self.first_seen {
            self.first_seen = true;
            self.span.record(
                "gen_ai.response.time_to_first_chunk",
                self.started.elapsed().as_secs_f64(),
            );
        }
    }
}

impl StreamObserver for SpanState {
    fn event(&mut self, event: &StreamEvent) {
        self.first_chunk();
        match event {
            StreamEvent::Usage { usage } => self.usage.merge(usage),
            StreamEvent::Finish { reason } => self.finish = Some(reason.clone()),
            _ => {}
        }
        if let Some(output) = &mut self.output {
            output.push(event.clone());
        }
    }

    fn class_of(&self, error: &Error) -> ErrorClass {
        error.class()
    }

    /// The stream's own work (the provider's reads) runs in its span.
    fn enter(&self) -> Option<tracing::span::Entered<'_>> {
        Some(self.span.enter())
    }

    /// Records what the stream said, and the failure it ended with.
    fn end(self, failure: Option<(&Error, ErrorClass)>) {
        record_usage(&self.span, &self.usage);
        if let Some(reason) = &self.finish {
            record_finish(&self.span, reason);
        }
        let reason = self.finish.unwrap_or_default();
        if let Some(output) = self.output {
            let answer = output.finish("", "");
            record_output(&self.span, &answer.message, &reason);
        }
        if let Some((error, class)) = failure {
            record_error(&self.span, error, class);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Image, ToolCall, ToolResult};

    #[test]
    fn messages_follow_the_conventions_format_and_never_carry_image_secrets() {
        let message = Message::new(
            Role::User,
            vec![
                Part::text("look"),
                Part::Image(Image::url(
                    "https://user:pw@img.example/cat.png?sig=SECRET&x=1",
                )),
                Part::Image(Image::url("data:image/png;base64,AAAA")),
                Part::Image(Image::inline("image/png", vec![1u8, 2, 3])),
            ],
        );
        assert_eq!(
            message_json(&message),
            json!({"role": "user", "parts": [
                {"type": "text", "content": "look"},
                {"type": "uri", "modality": "image", "uri": "https://img.example/cat.png"},
                {"type": "blob", "modality": "image"},
                {"type": "blob", "modality": "image", "mime_type": "image/png"},
            ]})
        );
        let call = Message::new(
            Role::Assistant,
            vec![Part::ToolCall(ToolCall::new(
                "c1",
                "get_weather",
                json!({"city": "Paris"}),
            ))],
        );
        assert_eq!(
            message_json(&call)["parts"][0],
            json!({"type": "tool_call", "id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}})
        );
        let result = Message::tool_results([ToolResult::ok("c1", "sunny")]);
        assert_eq!(
            message_json(&result),
            json!({"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "result": "sunny"}]})
        );
    }

    #[test]
    fn well_known_provider_names() {
        assert_eq!(provider_name("gemini"), "gcp.gemini");
        assert_eq!(provider_name("azure"), "azure.ai.openai");
        assert_eq!(provider_name("openai"), "openai");
        assert_eq!(provider_name("anthropic"), "anthropic");
        assert_eq!(provider_name("ollama"), "ollama");
    }
}
