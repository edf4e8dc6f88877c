//! Helpers for the HTTP provider tests: fixtures from `tests/fixtures/`, random
//! chunking, and a tiny loopback HTTP server that writes a scripted answer in
//! paced pieces (wiremock sends whole bodies, so it cannot stall or cut a stream).

#![allow(dead_code)] // each provider's tests use a different subset

use std::fmt::{Debug, Display};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use majordomo::{Model, Request, Response};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

/// The bytes of `tests/fixtures/<path>`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {}: {e}", full.display()))
}

/// `tests/fixtures/<path>` as text.
pub fn fixture_text(path: &str) -> String {
    String::from_utf8(fixture(path)).expect("fixture is UTF-8")
}

/// `tests/fixtures/<path>` parsed as JSON.
pub fn fixture_json(path: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(path)).expect("fixture is JSON")
}

/// The content type a recorded fixture is served with, from its file name:
/// `.sse` is an event stream, `.ndjson` newline-delimited JSON, the rest JSON.
pub fn content_type_of(name: &str) -> &'static str {
    if name.ends_with(".sse") {
        "text/event-stream"
    } else if name.ends_with(".ndjson") {
        "application/x-ndjson"
    } else {
        "application/json"
    }
}

/// A tool as a request body declares it: `{type: function, function: {name,
/// description, parameters}}` (OpenAI, Ollama) or `{name, description,
/// input_schema}` (Anthropic).
pub fn tool_of(spec: &Value) -> majordomo::Tool {
    let (f, parameters) = match spec.get("function") {
        Some(f) => (f, &f["parameters"]),
        None => (spec, &spec["input_schema"]),
    };
    majordomo::Tool::new(
        f["name"].as_str().unwrap(),
        f["description"].as_str().unwrap(),
        parameters.clone(),
    )
}

// ----- wiremock -----

/// A mock for `POST {route}`.
pub fn post(route: impl Into<String>) -> MockBuilder {
    Mock::given(method("POST")).and(path(route))
}

/// An answer with `status`, `body` and `content_type`.
pub fn answer(status: u16, body: impl Into<Vec<u8>>, content_type: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.into(), content_type)
}

/// A 200 answer with `tests/fixtures/<path>`, its content type from its name.
pub fn fixture_answer(path: &str) -> ResponseTemplate {
    answer(200, fixture(path), content_type_of(path))
}

/// A server answering every `POST {route}` with `template`.
pub async fn serve_route_with(route: &str, template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    post(route).respond_with(template).mount(&server).await;
    server
}

/// A server answering every `POST {route}` with `tests/fixtures/<fixture>`.
pub async fn serve_fixture_at(route: &str, fixture: &str) -> MockServer {
    serve_route_with(route, fixture_answer(fixture)).await
}

/// A server answering every `POST {route}` with `status`, `body` and `content_type`.
pub async fn serve_route(
    route: &str,
    status: u16,
    body: impl Into<Vec<u8>>,
    content_type: &str,
) -> MockServer {
    serve_route_with(route, answer(status, body, content_type)).await
}

/// A server answering the first `POST {route}` with `first` and every later
/// one with `then`.
pub async fn serve_route_once_then(
    route: &str,
    first: ResponseTemplate,
    then: ResponseTemplate,
) -> MockServer {
    let server = MockServer::start().await;
    post(route)
        .respond_with(first)
        .up_to_n_times(1)
        .mount(&server)
        .await;
    post(route).respond_with(then).mount(&server).await;
    server
}

/// A server answering `route` with `answers` in order, the last one repeated.
pub async fn serve_sequence(route: &str, answers: Vec<ResponseTemplate>) -> MockServer {
    let server = MockServer::start().await;
    let last = answers.len().saturating_sub(1);
    for (i, template) in answers.into_iter().enumerate() {
        let mock = post(route).respond_with(template);
        let mock = if i < last {
            mock.up_to_n_times(1)
        } else {
            mock
        };
        mock.mount(&server).await;
    }
    server
}

/// The JSON bodies `server` received, in order.
pub async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// The JSON bodies of the requests `server` received that `keep` keeps.
pub async fn bodies_where(
    server: &MockServer,
    keep: impl Fn(&wiremock::Request) -> bool,
) -> Vec<Value> {
    let requests = server.received_requests().await.unwrap();
    let kept = requests.iter().filter(|r| keep(r));
    kept.map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// The keys of JSON object `value`, sorted.
pub fn sorted_keys(value: &Value) -> Vec<&str> {
    let object = value.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// The JSON body of the only request `server` received.
pub async fn only_body(server: &MockServer) -> Value {
    let mut all = bodies(server).await;
    assert_eq!(all.len(), 1, "exactly one request expected");
    all.remove(0)
}

// ----- models -----

/// Streams `request` and folds the stream; an error from opening the stream
/// or from the stream itself is returned alike.
pub async fn stream_fold<M: Model + ?Sized>(
    model: &M,
    request: Request,
) -> majordomo::Result<Response> {
    model.stream(request).await?.into_response().await
}

/// Streams `request`, which must open, and folds the stream.
pub async fn fold_opened<M: Model + ?Sized>(
    model: &M,
    request: Request,
) -> majordomo::Result<Response> {
    model
        .stream(request)
        .await
        .unwrap_or_else(|e| panic!("the stream does not open: {e:?}"))
        .into_response()
        .await
}

/// Streams `request`, which must open and run clean, and collects its events.
pub async fn events<M: Model + ?Sized>(model: &M, request: Request) -> Vec<majordomo::StreamEvent> {
    use futures::StreamExt as _;
    model
        .stream(request)
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await
}

/// The value of header `name` of a request a wiremock server received.
pub fn header_of<'r>(request: &'r wiremock::Request, name: &str) -> Option<&'r str> {
    request.headers.get(name).map(|v| v.to_str().unwrap())
}

/// `http://127.0.0.1:PORT` with a port nothing listens on (bound, then freed).
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Asserts none of `secrets` appears in `value`'s Display, Debug or pretty Debug.
pub fn assert_no_credential(value: &(impl Display + Debug), secrets: &[&str]) {
    let texts = format!("{value} {value:?} {value:#?}");
    for secret in secrets {
        assert!(!texts.contains(secret), "credential leaked: {texts}");
    }
}

/// Splits `bytes` into pieces whose sizes come from `sizes` (cycled; 0 is read as 1).
pub fn chunked(bytes: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < bytes.len() {
        let n = sizes
            .get(i % sizes.len().max(1))
            .copied()
            .unwrap_or(1)
            .max(1);
        let end = (at + n).min(bytes.len());
        out.push(bytes[at..end].to_vec());
        at = end;
        i += 1;
    }
    out
}

/// One step of a scripted answer.
#[derive(Debug, Clone)]
pub enum Step {
    /// Write these bytes (raw: the head, then body pieces).
    Write(Vec<u8>),
    /// Wait this long (real time: the client's timeouts are real too).
    Pause(Duration),
    /// Keep the connection open without writing, until the client gives up.
    Stall,
}

/// A loopback server that answers every connection with the same script.
/// Each accepted request's raw bytes (head and body) are recorded.
pub struct PacedServer {
    pub addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PacedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PacedServer {
    /// Starts the server; `script` is played for every connection, and the
    /// connection is closed at its end (so a body without its terminator is a
    /// cut stream).
    pub async fn start(script: Vec<Step>) -> PacedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let script = script.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let request = read_request(&mut socket).await;
                    seen.lock().unwrap().push(request);
                    for step in script {
                        match step {
                            Step::Write(bytes) => {
                                if socket.write_all(&bytes).await.is_err() {
                                    return;
                                }
                                let _ = socket.flush().await;
                            }
                            Step::Pause(d) => tokio::time::sleep(d).await,
                            Step::Stall => {
                                // Hold the socket until the client closes it.
                                let mut sink = [0u8; 64];
                                while let Ok(n) = socket.read(&mut sink).await {
                                    if n == 0 {
                                        break;
                                    }
                                }
                                return;
                            }
                        }
                    }
                    let _ = socket.shutdown().await;
                });
            }
        });
        PacedServer {
            addr,
            requests,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The raw requests received so far.
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.requests.lock().unwrap().clone()
    }
}

/// A 200 head announcing a body of `length` bytes, the first bytes `start`
/// of it, then silence.
pub fn announced_then_stall(content_type: &str, length: u64, start: &[u8]) -> Vec<Step> {
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {length}\r\n\r\n"
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(start);
    vec![Step::Write(bytes), Step::Stall]
}

/// A response head with `status` and `content_type`, delimited by closing the
/// connection (no length, no chunking), so the body is whatever the script writes.
pub fn head(status: u16, content_type: &str) -> Step {
    Step::Write(
        format!("HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\nconnection: close\r\n\r\n")
            .into_bytes(),
    )
}

/// A body piece.
pub fn write(bytes: impl AsRef<[u8]>) -> Step {
    Step::Write(bytes.as_ref().to_vec())
}

/// A server that accepts the connection and never answers (not even headers).
pub fn stall_before_headers() -> Vec<Step> {
    vec![Step::Stall]
}

/// A 200 `content_type` head, `body`, and then silence until the client gives up.
pub fn written_then_stall(content_type: &str, body: impl AsRef<[u8]>) -> Vec<Step> {
    vec![head(200, content_type), write(body), Step::Stall]
}

/// The length of `body`'s first event: up to and including the first `delimiter`.
pub fn first_event_len(body: &[u8], delimiter: &[u8]) -> usize {
    find(body, delimiter).expect("a delimited first event") + delimiter.len()
}

/// A 200 `content_type` head, `body`'s first event (ended by `delimiter`), then
/// silence until the client gives up.
pub fn first_event_then_stall(content_type: &str, body: &[u8], delimiter: &[u8]) -> Vec<Step> {
    written_then_stall(content_type, &body[..first_event_len(body, delimiter)])
}

/// A 200 `content_type` head and `body`, then the connection closes.
pub fn written_then_close(content_type: &str, body: impl AsRef<[u8]>) -> Vec<Step> {
    vec![head(200, content_type), write(body)]
}

/// A 200 `content_type` head and the first `n` bytes of `body`, then the
/// connection closes (a cut stream when `n` falls short of its end).
pub fn cut_after(content_type: &str, body: &[u8], n: usize) -> Vec<Step> {
    written_then_close(content_type, &body[..n])
}

/// The `content-length` a request head declares (0 if none).
fn content_length(head: &[u8]) -> usize {
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    let value = head.lines().find_map(|l| l.strip_prefix("content-length:"));
    value.and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// The raw bytes of one request (head and body) read from `socket`.
pub async fn read_request(socket: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            if buf.len() >= end + 4 + content_length(&buf[..end]) {
                return buf;
            }
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return buf,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
