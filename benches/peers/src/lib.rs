//! The loopback mock both binaries share: an OpenAI-style `/chat/completions`
//! server on hyper, answering a fixed completion, a fixed SSE stream, or
//! never (for the memory count of calls in flight).

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

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
    tokio::task::spawn_local(async move {
        while let Ok((stream, _)) = listener.accept().await {
            stream.set_nodelay(true).ok();
            let sse = sse.clone();
            tokio::task::spawn_local(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let sse = sse.clone();
                    async move {
                        let _ = request.into_body().collect().await;
                        let (kind, body) = match answer {
                            Answer::Json => (
                                "application/json",
                                Bytes::from_static(COMPLETION.as_bytes()),
                            ),
                            Answer::Sse => ("text/event-stream", sse),
                            Answer::Never => std::future::pending().await,
                        };
                        let response = Response::builder()
                            .header("content-type", kind)
                            .body(Full::new(body))
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
