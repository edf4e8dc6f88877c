//! The loopback mock both binaries share: an OpenAI-style `/chat/completions`
//! server on hyper, answering a fixed completion, a fixed SSE stream, or
//! never (for the memory count of calls in flight).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Either, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// Runs `work` on a current-thread runtime inside a `LocalSet` (the mock's
/// tasks are local), as both binaries do.
pub fn run_local(work: impl Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tokio::task::LocalSet::new().block_on(&runtime, work);
}

/// The completion every plain call gets.
pub const COMPLETION: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hello from mock"}}],"usage":{"prompt_tokens":11,"completion_tokens":4,"total_tokens":15}}"#;

/// Text events in the streamed answer, before its last (finish) chunk and `[DONE]`.
pub const STREAM_TEXT_EVENTS: usize = 100;

/// The text a whole stream carries.
pub fn stream_text() -> String {
    "tok ".repeat(STREAM_TEXT_EVENTS)
}

/// The SSE body: one chunk per token, a finish chunk, `[DONE]`.
pub fn sse_body() -> Bytes {
    let mut body = String::new();
    for i in 0..=STREAM_TEXT_EVENTS {
        let (delta, finish) = match i {
            0 => (r#"{"role":"assistant","content":"tok "}"#, "null"),
            i if i == STREAM_TEXT_EVENTS => ("{}", r#""stop""#),
            _ => (r#"{"content":"tok "}"#, "null"),
        };
        body.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
        ));
    }
    body.push_str("data: [DONE]\n\n");
    Bytes::from(body)
}

/// What the mock answers.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// [`COMPLETION`] as JSON.
    Json,
    /// [`sse_body`] as `text/event-stream`, in one write.
    Sse,
    /// [`sse_body`] one event per write, the server yielding between them,
    /// as a model streaming tokens does.
    SseEventByEvent,
    /// Reads the request and never answers.
    Never,
}

/// Serves `answer` on a fresh loopback port (on the current `LocalSet`) and
/// returns the base URL (`http://127.0.0.1:PORT/v1`).
pub async fn serve(answer: Answer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    let sse = sse_body();
    let events: std::sync::Arc<[Bytes]> = split_events(&sse).into();
    tokio::task::spawn_local(async move {
        while let Ok((stream, _)) = listener.accept().await {
            stream.set_nodelay(true).ok();
            let (sse, events) = (sse.clone(), events.clone());
            tokio::task::spawn_local(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let (sse, events) = (sse.clone(), events.clone());
                    async move {
                        let _ = request.into_body().collect().await;
                        let (kind, body) = match answer {
                            Answer::Json => (
                                "application/json",
                                Either::Left(Full::new(Bytes::from_static(COMPLETION.as_bytes()))),
                            ),
                            Answer::Sse => ("text/event-stream", Either::Left(Full::new(sse))),
                            Answer::SseEventByEvent => (
                                "text/event-stream",
                                Either::Right(EventByEvent {
                                    events,
                                    next: 0,
                                    pause: None,
                                }),
                            ),
                            Answer::Never => std::future::pending().await,
                        };
                        let response = Response::builder()
                            .header("content-type", kind)
                            .body(body)
                            .expect("a valid response");
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/v1")
}

/// The events of an SSE body, each with its blank line.
fn split_events(body: &[u8]) -> Vec<Bytes> {
    let mut events = Vec::new();
    let mut start = 0;
    while let Some(end) = body[start..].windows(2).position(|w| w == b"\n\n") {
        events.push(Bytes::copy_from_slice(&body[start..start + end + 2]));
        start += end + 2;
    }
    events
}

/// A body that yields to the runtime between events, so each goes out in
/// its own write.
struct EventByEvent {
    events: std::sync::Arc<[Bytes]>,
    next: usize,
    pause: Option<Pin<Box<dyn Future<Output = ()>>>>,
}

impl Body for EventByEvent {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        let Some(event) = this.events.get(this.next).cloned() else {
            return Poll::Ready(None);
        };
        if this.next > 0 {
            let pause = this
                .pause
                .get_or_insert_with(|| Box::pin(tokio::task::yield_now()));
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.pause = None;
        }
        this.next += 1;
        Poll::Ready(Some(Ok(Frame::data(event))))
    }
}
