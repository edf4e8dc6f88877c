//! Streaming: [`StreamEvent`], the [`EventStream`] a model returns, and the fold
//! ([`StreamAccumulator`]) that turns any stream into the [`Response`] that
//! `generate` would have returned.

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::attempt::Attempt;
use super::error::Result;
use super::message::{Message, Part, Role, Thinking, ToolCall};
use super::response::{FinishReason, Response, Usage};
use crate::opaque::Opaque;

/// One increment of a streamed answer.
///
/// Tool calls are addressed by `index` (their position among this answer's tool
/// calls), because providers send argument fragments by index, not by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StreamEvent {
    /// More answer text.
    TextDelta {
        /// The new text.
        text: String,
    },
    /// More reasoning text.
    ThinkingDelta {
        /// The new reasoning text.
        text: String,
    },
    /// The signature closing the current reasoning block.
    ThinkingSignature {
        /// The signature.
        signature: String,
    },
    /// A redacted reasoning block.
    RedactedThinking {
        /// Opaque data to send back.
        data: String,
    },
    /// A tool call begins.
    ToolCallStart {
        /// Position among this answer's tool calls.
        index: usize,
        /// The provider's call id.
        id: String,
        /// The tool's name.
        name: String,
    },
    /// A fragment of a tool call's JSON arguments.
    ToolCallDelta {
        /// Position among this answer's tool calls.
        index: usize,
        /// The fragment; fragments concatenate to the arguments' JSON text.
        arguments: String,
    },
    /// A tool call is complete.
    ToolCallEnd {
        /// Position among this answer's tool calls.
        index: usize,
    },
    /// Token counts so far; later usage events refine earlier ones.
    Usage {
        /// The counts.
        usage: Usage,
    },
    /// The answer is complete.
    Finish {
        /// Why the model stopped.
        reason: FinishReason,
    },
}

impl StreamEvent {
    /// A text delta.
    pub fn text(text: impl Into<String>) -> Self {
        StreamEvent::TextDelta { text: text.into() }
    }

    /// A finish event.
    pub fn finish(reason: FinishReason) -> Self {
        StreamEvent::Finish { reason }
    }
}

type BoxedEvents = Pin<Box<dyn Stream<Item = Result<StreamEvent>> + Send + 'static>>;

/// A streamed answer: a [`Stream`] of [`StreamEvent`]s that knows which
/// provider and model it comes from.
///
/// An `Err` item ends the stream: providers yield an error for a cut connection or
/// a mid-stream error event and then stop. Fold it with [`EventStream::into_response`].
///
/// The stream is fused: once it has ended, polling it again yields `None`,
/// never a panic, whatever the stream inside does when polled past its end.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> majordomo::Result<()> {
/// use futures::StreamExt as _;
/// use majordomo::providers::fake::{FakeProvider, Outcome};
/// use majordomo::{Model, Provider, Request, StreamEvent};
///
/// let fake = FakeProvider::new("fake");
/// fake.push("m", Outcome::text("Hello"));
/// let mut stream = fake.model("m")?.stream(Request::new().user("hi")).await?;
/// let mut text = String::new();
/// while let Some(event) = stream.next().await {
///     if let StreamEvent::TextDelta { text: delta } = event? {
///         text.push_str(&delta);
///     }
/// }
/// assert_eq!(text, "Hello");
/// assert!(stream.next().await.is_none()); // fused
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct EventStream {
    inner: Opaque<BoxedEvents>,
    provider: String,
    model: String,
    protocol: Option<Cow<'static, str>>,
    attempts: Vec<Attempt>,
    /// The inner stream has ended; it is never polled again.
    ended: bool,
}

impl EventStream {
    /// Wraps a stream of events from `provider`/`model`.
    pub fn new(
        provider: impl Into<String>,
        model: impl Into<String>,
        events: impl Stream<Item = Result<StreamEvent>> + Send + 'static,
    ) -> Self {
        EventStream {
            inner: Opaque(Box::pin(events)),
            provider: provider.into(),
            model: model.into(),
            protocol: None,
            attempts: Vec::new(),
            ended: false,
        }
    }

    /// A stream that replays a complete response as events: what a model without
    /// native streaming returns from `stream`.
    pub fn from_response(response: Response) -> Self {
        let events = response_to_events(&response);
        let mut s = EventStream::new(
            response.provider,
            response.model,
            futures::stream::iter(events.into_iter().map(Ok)),
        );
        s.attempts = response.attempts;
        s.protocol = response.protocol;
        s
    }

    /// The provider the events come from.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The model the events come from.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The wire protocol the events come in, when the model says
    /// (see [`Response::protocol`]).
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Sets the wire protocol the events come in.
    pub fn with_protocol(mut self, protocol: impl Into<Cow<'static, str>>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// The steps a chain took before this stream opened.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// Sets the chain's step log.
    pub fn with_attempts(mut self, attempts: Vec<Attempt>) -> Self {
        self.attempts = attempts;
        self
    }

    /// Replaces the inner event stream, keeping provider, model and attempts.
    /// Decorators use this to wrap a stream (deadlines, spans, permits).
    pub fn map_inner<F, S>(self, f: F) -> Self
    where
        F: FnOnce(BoxedEventStream) -> S,
        S: Stream<Item = Result<StreamEvent>> + Send + 'static,
    {
        EventStream {
            inner: Opaque(Box::pin(f(self.inner.0))),
            provider: self.provider,
            model: self.model,
            protocol: self.protocol,
            attempts: self.attempts,
            ended: self.ended,
        }
    }

    /// Reads the stream to its end and folds it into a [`Response`].
    ///
    /// # Errors
    /// The first error the stream yields.
    pub async fn into_response(mut self) -> Result<Response> {
        let mut acc = StreamAccumulator::new();
        while let Some(event) = self.inner.next().await {
            acc.push(event?);
        }
        let mut response = acc.finish(self.provider, self.model);
        response.attempts = self.attempts;
        response.protocol = self.protocol;
        Ok(response)
    }
}

/// The boxed stream inside an [`EventStream`], as handed to [`EventStream::map_inner`].
pub type BoxedEventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent>> + Send + 'static>>;

impl Stream for EventStream {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            // `unfold` and friends panic when polled past their end.
            return Poll::Ready(None);
        }
        let item = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(None) = item {
            self.ended = true;
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.ended {
            (0, Some(0))
        } else {
            self.inner.size_hint()
        }
    }
}

impl futures::stream::FusedStream for EventStream {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

/// Folds [`StreamEvent`]s into a [`Response`], keeping the order of parts.
///
/// Text after reasoning starts a new text part; a signature attaches to the
/// reasoning block it closes; tool-call argument fragments are joined by index
/// and parsed once at the end (arguments that are not valid JSON are kept as a
/// JSON string rather than lost).
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    parts: Vec<Part>,
    // Tool calls in progress: index -> position in `parts` and the argument text.
    tools: Vec<(usize, usize, String)>,
    usage: Usage,
    finish: Option<FinishReason>,
}

impl StreamAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one event.
    pub fn push(&mut self, event: StreamEvent) {
        match event {
            StreamEvent::TextDelta { text } => match self.parts.last_mut() {
                Some(Part::Text { text: t }) => t.push_str(&text),
                _ => self.parts.push(Part::Text { text }),
            },
            StreamEvent::ThinkingDelta { text } => match self.parts.last_mut() {
                Some(Part::Thinking(t)) if t.signature.is_none() && t.redacted.is_none() => {
                    t.text.push_str(&text)
                }
                _ => self.parts.push(Part::Thinking(Thinking::text(text))),
            },
            StreamEvent::ThinkingSignature { signature } => {
                let open = self.parts.iter_mut().rev().find_map(|p| match p {
                    Part::Thinking(t) if t.redacted.is_none() => Some(t),
                    _ => None,
                });
                match open {
                    Some(t) => match &mut t.signature {
                        Some(s) => s.push_str(&signature),
                        None => t.signature = Some(signature),
                    },
                    None => self
                        .parts
                        .push(Part::Thinking(Thinking::text("").with_signature(signature))),
                }
            }
            StreamEvent::RedactedThinking { data } => {
                self.parts.push(Part::Thinking(Thinking::redacted(data)))
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                let pos = self.parts.len();
                self.parts.push(Part::ToolCall(ToolCall::new(
                    id,
                    name,
                    serde_json::Value::Null,
                )));
                self.tools.retain(|(i, _, _)| *i != index);
                self.tools.push((index, pos, String::new()));
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                match self.tools.iter_mut().find(|(i, _, _)| *i == index) {
                    Some((_, _, args)) => args.push_str(&arguments),
                    None => {
                        // A delta without a start: keep the fragment under a call
                        // with no id rather than dropping it.
                        let pos = self.parts.len();
                        self.parts.push(Part::ToolCall(ToolCall::new(
                            String::new(),
                            String::new(),
                            serde_json::Value::Null,
                        )));
                        self.tools.push((index, pos, arguments));
                    }
                }
            }
            StreamEvent::ToolCallEnd { .. } => {}
            StreamEvent::Usage { usage } => self.usage.merge(&usage),
            StreamEvent::Finish { reason } => self.finish = Some(reason),
        }
    }

    /// True once a finish event has been seen.
    pub fn is_finished(&self) -> bool {
        self.finish.is_some()
    }

    /// The response folded so far.
    pub fn finish(mut self, provider: impl Into<String>, model: impl Into<String>) -> Response {
        let provider = provider.into();
        for part in &mut self.parts {
            if let Part::Thinking(t) = part {
                if t.provider.is_none() {
                    t.provider = Some(provider.clone());
                }
            }
        }
        for (_, pos, args) in self.tools.drain(..) {
            if let Some(Part::ToolCall(call)) = self.parts.get_mut(pos) {
                call.arguments = parse_arguments(&args);
            }
        }
        let has_tools = self.parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
        let finish = self.finish.unwrap_or(if has_tools {
            FinishReason::ToolCalls
        } else {
            FinishReason::Stop
        });
        Response::new(provider, model, Message::new(Role::Assistant, self.parts))
            .with_finish_reason(finish)
            .with_usage(self.usage)
    }
}

/// Parses streamed tool arguments: empty means `{}`; invalid JSON is kept as a string.
pub(crate) fn parse_arguments(text: &str) -> serde_json::Value {
    if text.trim().is_empty() {
        return serde_json::Value::Object(serde_json::Map::new());
    }
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

/// The events that replay `response`, such that folding them gives it back
/// (apart from `attempts` and `raw`).
pub fn response_to_events(response: &Response) -> Vec<StreamEvent> {
    let mut events = Vec::new();
    let mut tool_index = 0;
    for part in &response.message.parts {
        match part {
            Part::Text { text } => events.push(StreamEvent::text(text.clone())),
            Part::Thinking(t) => {
                if let Some(data) = &t.redacted {
                    events.push(StreamEvent::RedactedThinking { data: data.clone() });
                } else {
                    events.push(StreamEvent::ThinkingDelta {
                        text: t.text.clone(),
                    });
                    if let Some(sig) = &t.signature {
                        events.push(StreamEvent::ThinkingSignature {
                            signature: sig.clone(),
                        });
                    }
                }
            }
            Part::ToolCall(call) => {
                events.push(StreamEvent::ToolCallStart {
                    index: tool_index,
                    id: call.id.clone(),
                    name: call.name.clone(),
                });
                events.push(StreamEvent::ToolCallDelta {
                    index: tool_index,
                    arguments: call.arguments.to_string(),
                });
                events.push(StreamEvent::ToolCallEnd { index: tool_index });
                tool_index += 1;
            }
            _ => {}
        }
    }
    if response.usage != Usage::default() {
        events.push(StreamEvent::Usage {
            usage: response.usage,
        });
    }
    events.push(StreamEvent::finish(response.finish_reason.clone()));
    events
}
