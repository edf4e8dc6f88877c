//! [`Outcome`]: what a scripted fake call does.

use std::fmt;
use std::time::Duration;

use futures::StreamExt as _;

use crate::{
    Error, EventStream, Message, Part, Response, Result, StreamAccumulator, StreamEvent, Target,
    ToolCall,
};

/// One step of a scripted stream.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StreamStep {
    /// Yield an event.
    Event(StreamEvent),
    /// Yield an error (and end the stream).
    Error(Error),
    /// Wait (tokio time) before the next step.
    Delay(Duration),
    /// Panic inside the stream's poll, to test that callers contain it.
    Panic(String),
}

/// What one scripted call does.
#[derive(Debug, Clone)]
pub struct Outcome {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Respond(Box<Response>),
    Fail(Error),
    Stream(Vec<StreamStep>),
    Delay(Duration, Box<Outcome>),
    Hang,
    Panic(String),
}

impl Outcome {
    /// Answers with one text part.
    pub fn text(text: impl Into<String>) -> Self {
        Outcome::response(Response::text_reply("", "", text))
    }

    /// Answers with `response`. Empty provider and model fields are filled in
    /// with the fake's target.
    pub fn response(response: Response) -> Self {
        Outcome {
            kind: Kind::Respond(Box::new(response)),
        }
    }

    /// Answers with a tool call.
    pub fn tool_call(id: &str, name: &str, arguments: serde_json::Value) -> Self {
        let message = Message::new(
            crate::Role::Assistant,
            vec![Part::ToolCall(ToolCall::new(id, name, arguments))],
        );
        Outcome::response(
            Response::new("", "", message).with_finish_reason(crate::FinishReason::ToolCalls),
        )
    }

    /// Fails with `error`. Missing provider and model are filled in.
    pub fn error(error: Error) -> Self {
        Outcome {
            kind: Kind::Fail(error),
        }
    }

    /// Fails with an HTTP `status`, classed as the status says.
    pub fn status(status: u16) -> Self {
        Outcome::error(Error::api(status, format!("scripted HTTP {status}")))
    }

    /// Streams `events`. `generate` folds them into a response.
    pub fn stream(events: impl IntoIterator<Item = StreamEvent>) -> Self {
        Outcome::stream_steps(events.into_iter().map(StreamEvent::into_step))
    }

    /// Streams scripted steps: events, errors and delays.
    pub fn stream_steps(steps: impl IntoIterator<Item = StreamStep>) -> Self {
        Outcome {
            kind: Kind::Stream(steps.into_iter().collect()),
        }
    }

    /// Waits `delay` (tokio time), then does `then`.
    pub fn delay(delay: Duration, then: Outcome) -> Self {
        Outcome {
            kind: Kind::Delay(delay, Box::new(then)),
        }
    }

    /// Never answers; only cancellation or a timeout ends the call.
    pub fn hang() -> Self {
        Outcome { kind: Kind::Hang }
    }

    /// Panics inside the model call, to test that callers contain it.
    pub fn panic(message: impl Into<String>) -> Self {
        Outcome {
            kind: Kind::Panic(message.into()),
        }
    }

    fn fill(mut response: Response, target: &Target) -> Response {
        if response.provider.is_empty() {
            response.provider = target.provider().to_owned();
        }
        if response.model.is_empty() {
            response.model = target.model().to_owned();
        }
        response
    }

    /// Plays the delays, hangs, panics and failures out: what is left is an
    /// answer, whole or as stream steps, for either kind of call to deliver.
    async fn settle(self, target: &Target) -> Result<Settled> {
        let mut outcome = self;
        loop {
            match outcome.kind {
                Kind::Respond(response) => {
                    return Ok(Settled::Response(Box::new(Self::fill(*response, target))));
                }
                Kind::Fail(error) => return Err(error.or_target(target)),
                Kind::Delay(delay, then) => {
                    tokio::time::sleep(delay).await;
                    outcome = *then;
                }
                Kind::Hang => futures::future::pending::<()>().await,
                Kind::Panic(message) => panic!("{message}"),
                Kind::Stream(steps) => return Ok(Settled::Steps(steps)),
            }
        }
    }

    pub(super) async fn into_response(self, target: &Target) -> Result<Response> {
        match self.settle(target).await? {
            Settled::Response(response) => Ok(*response),
            Settled::Steps(steps) => {
                let mut acc = StreamAccumulator::new();
                for step in steps {
                    match step {
                        StreamStep::Event(event) => acc.push(event),
                        StreamStep::Error(error) => return Err(error.or_target(target)),
                        StreamStep::Delay(delay) => tokio::time::sleep(delay).await,
                        StreamStep::Panic(message) => panic!("{message}"),
                    }
                }
                Ok(acc.finish(target.provider(), target.model()))
            }
        }
    }

    pub(super) async fn into_stream(self, target: &Target) -> Result<EventStream> {
        match self.settle(target).await? {
            Settled::Response(response) => Ok(EventStream::from_response(*response)),
            Settled::Steps(steps) => {
                let owned = target.clone();
                let events = futures::stream::iter(steps)
                    .then(move |step| {
                        let target = owned.clone();
                        async move {
                            match step {
                                StreamStep::Event(event) => Some(Ok(event)),
                                StreamStep::Error(error) => Some(Err(error.or_target(&target))),
                                StreamStep::Delay(delay) => {
                                    tokio::time::sleep(delay).await;
                                    None
                                }
                                StreamStep::Panic(message) => panic!("{message}"),
                            }
                        }
                    })
                    .filter_map(futures::future::ready)
                    .scan(false, |failed, item| {
                        // An error ends the stream, as with real providers.
                        if *failed {
                            return futures::future::ready(None);
                        }
                        *failed = item.is_err();
                        futures::future::ready(Some(item))
                    });
                Ok(EventStream::new(
                    target.provider().to_owned(),
                    target.model().to_owned(),
                    events,
                ))
            }
        }
    }
}

/// An [`Outcome`] with its delays and failures played out.
enum Settled {
    Response(Box<Response>),
    Steps(Vec<StreamStep>),
}

impl StreamEvent {
    fn into_step(self) -> StreamStep {
        StreamStep::Event(self)
    }
}

impl From<StreamEvent> for StreamStep {
    fn from(event: StreamEvent) -> Self {
        StreamStep::Event(event)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Respond(r) => write!(f, "respond {:?}", r.text()),
            Kind::Fail(e) => write!(f, "fail: {e}"),
            Kind::Stream(s) => write!(f, "stream of {} steps", s.len()),
            Kind::Delay(d, then) => write!(f, "after {d:?}, {then}"),
            Kind::Hang => f.write_str("hang"),
            Kind::Panic(m) => write!(f, "panic {m:?}"),
        }
    }
}
