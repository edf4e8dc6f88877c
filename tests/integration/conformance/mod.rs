//! One conformance harness for the HTTP protocols (issue 13, item 7).
//!
//! Every scenario in `scenarios.rs` runs against every protocol in
//! `protocols.rs`, over loopback HTTP, through the public API only: a
//! registry built with `without_env().env_vars([("LLM_X", "<scheme>+http://KEY@…")])`
//! and `Model::generate` / `Model::stream`. A protocol is one [`Protocol`]
//! value (its routes, DSN scheme, answers, error bodies, stream framing) and
//! one line in the `conformance!` list at the bottom of this file, so adding
//! a protocol is adding one entry. A dialect starts from its parent's entry;
//! Azure OpenAI, for one, would be
//!
//! ```ignore
//! pub const AZURE: Protocol = Protocol {
//!     name: "azure",
//!     scheme: "azure+http",
//!     base: "?api-version=2024-10-21",
//!     route: |model, _| format!("/openai/deployments/{model}/chat/completions"),
//!     query: |_| Some("api-version=2024-10-21"),
//!     auth: ("api-key", ""),
//!     builtin_key: None,
//!     examples: &[],
//!     ..OPENAI
//! };
//! ```
//!
//! with `azure: super::protocols::azure();` below and its golden bodies blessed
//! into `tests/fixtures/azure/`.
//!
//! What we send is compared with golden bodies,
//! `tests/fixtures/<protocol>/golden_{plain,stream,tools,images,reasoning,schema,repeated_ids,tool_choice,json_formats,foreign_history}.json`
//! (hand-checked against each API's reference; see `tests/fixtures/SOURCES.md`).
//! Run with `CONFORMANCE_BLESS=1` to rewrite them after a deliberate change,
//! then review the diff.

pub(crate) mod protocols;
mod scenarios;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use majordomo::providers::http::HttpSettings;
use majordomo::{Capabilities, ErrorClass, FinishReason, Model, Provider, Registry};
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::http::{fixture, read_request};

/// The credential every DSN carries; no error may ever show it.
pub const KEY: &str = "sk-conformance-TESTKEY-do-not-leak-91c2";
/// The provider name every registry here gives the protocol under test.
pub const NAME: &str = "x";

/// What one wire protocol looks like to the harness.
pub struct Protocol {
    /// The protocol's name: the test module's, and the folder of its golden
    /// bodies under `tests/fixtures/`.
    pub name: &'static str,
    /// The folder under `tests/fixtures/` its recorded answers come from
    /// (a dialect reuses its parent's: Azure OpenAI answers as OpenAI does).
    pub fixtures: &'static str,
    /// The DSN scheme for a plain-HTTP loopback server.
    pub scheme: &'static str,
    /// What follows `host:port` in the DSN: the API root, and options the
    /// protocol needs (`?api-version=…`).
    pub base: &'static str,
    /// The model every scenario asks for.
    pub model: &'static str,
    /// The path a plain (`false`) or streamed (`true`) call for `model` goes to.
    pub route: fn(model: &str, stream: bool) -> String,
    /// The query a plain (`false`) or streamed (`true`) call carries, if any.
    pub query: fn(stream: bool) -> Option<&'static str>,
    /// The header carrying the key, and what precedes the key in it.
    pub auth: (&'static str, &'static str),
    /// The variable the built-in provider reads its key from, and the
    /// built-in's name (`None`: the protocol needs no key).
    pub builtin_key: Option<(&'static str, &'static str)>,
    /// The built-in provider that reads its server's URL from a variable:
    /// its name, the variable, and what follows the server's root in it
    /// (`None`: the built-in has no such variable).
    pub builtin_url: Option<(&'static str, &'static str, &'static str)>,
    /// A provider built by the protocol's config from `XConfig::new()` with
    /// the shared setters: name `x`, key `old-key`, header `x-old: old`,
    /// capabilities [`declared`], then `.http(settings)`, then `.base_url(url)`
    /// if given.
    pub configured: fn(settings: HttpSettings, url: Option<&str>) -> Arc<dyn Provider>,
    /// The content type of a stream.
    pub stream_type: &'static str,
    /// What ends one stream event.
    pub delimiter: &'static [u8],
    /// What the server sends to keep a quiet stream alive.
    pub keep_alive: &'static str,
    /// An error event inside a 200 stream, saying `message`.
    pub stream_error: fn(message: &str) -> String,
    /// The body of an error answer of this protocol's shape: `kind` is the
    /// machine code (type or status name), `message` the human text.
    pub error_shape: fn(kind: &str, message: &str) -> String,
    /// The answer and error bodies for each signal the protocol has.
    pub fault: fn(Signal) -> Option<Fault>,
    /// Whether errors may carry Google's `RetryInfo` detail.
    pub retry_info: bool,
    pub plain: Answer,
    pub stream: Answer,
    pub tools: Call,
    pub tools_stream: Call,
    pub reasoning: Thought,
    pub reasoning_stream: Option<Thought>,
    pub schema: Answer,
    /// Streams and the same answers given whole: each stream must fold into
    /// what its whole answer reads as (`true`: even the tool-call ids, which
    /// differ between two recordings of one answer).
    pub counterparts: &'static [(&'static str, &'static str, bool)],
    /// The streams cut at every byte (each cut is one call, so the longest
    /// recordings are left to the other scenarios).
    pub truncated: &'static [&'static str],
    /// Requests of the official documentation or SDK recordings, and how we
    /// build each: what we send must be that body.
    pub examples: &'static [Example],
    /// What a dialect sends differently from its parent's documented
    /// requests (applied after each example's own `adjust`).
    pub dialect: fn(body: &mut Value),
}

/// The capabilities a configured provider's models declare.
pub fn declared() -> Capabilities {
    Capabilities::unknown()
        .streaming(true)
        .tools(true)
        .context_window(8192)
}

/// A documented request body and the `Request` that must produce it.
pub struct Example {
    /// `tests/fixtures/<protocol>/<request>`: the documented body. Its
    /// `model` is the model asked for.
    pub request: &'static str,
    /// Whether the example streams.
    pub stream: bool,
    /// The answer served (a stream fixture for a stream).
    pub answer: &'static str,
    /// Builds the request from the documented body.
    pub build: fn(body: &Value) -> majordomo::Request,
    /// What we send differently from the example, on purpose.
    pub adjust: fn(body: &mut Value),
}

/// A recorded answer and what it must read as.
pub struct Answer {
    /// `tests/fixtures/<protocol>/<fixture>`.
    pub fixture: &'static str,
    /// The start of the answer's text.
    pub text: &'static str,
    pub finish: FinishReason,
    /// Input and output tokens.
    pub usage: (u64, u64),
}

pub const fn answer(
    fixture: &'static str,
    text: &'static str,
    finish: FinishReason,
    usage: (u64, u64),
) -> Answer {
    Answer {
        fixture,
        text,
        finish,
        usage,
    }
}

/// A recorded answer calling one tool.
pub struct Call {
    pub fixture: &'static str,
    pub name: &'static str,
    pub arguments: fn() -> Value,
}

pub const fn call(fixture: &'static str, name: &'static str, arguments: fn() -> Value) -> Call {
    Call {
        fixture,
        name,
        arguments,
    }
}

/// A recorded answer with thinking before its text.
pub struct Thought {
    pub fixture: &'static str,
    /// The start of the thinking text.
    pub thinking: &'static str,
    /// The start of the answer text.
    pub text: &'static str,
}

pub const fn thought(fixture: &'static str, thinking: &'static str, text: &'static str) -> Thought {
    Thought {
        fixture,
        thinking,
        text,
    }
}

/// An error signal a server can send; each must land in one class whatever
/// the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    RateLimited,
    Unavailable,
    Overloaded,
    Internal,
    BadGateway,
    GatewayTimeout,
    RequestTimeout,
    Unauthorized,
    Forbidden,
    ModelNotFound,
    /// A 404 that names no model: a wrong base URL or route.
    BareNotFound,
    BadRequest,
    TooLarge,
    ContextOverflow,
    ContentFilter,
    Quota,
}

impl Signal {
    pub const ALL: [Signal; 16] = [
        Signal::RateLimited,
        Signal::Unavailable,
        Signal::Overloaded,
        Signal::Internal,
        Signal::BadGateway,
        Signal::GatewayTimeout,
        Signal::RequestTimeout,
        Signal::Unauthorized,
        Signal::Forbidden,
        Signal::ModelNotFound,
        Signal::BareNotFound,
        Signal::BadRequest,
        Signal::TooLarge,
        Signal::ContextOverflow,
        Signal::ContentFilter,
        Signal::Quota,
    ];

    /// The class every protocol must give this signal.
    pub fn class(self) -> ErrorClass {
        use ErrorClass::*;
        match self {
            Signal::RateLimited
            | Signal::Unavailable
            | Signal::Overloaded
            | Signal::Internal
            | Signal::BadGateway
            | Signal::GatewayTimeout
            | Signal::RequestTimeout => Transient,
            Signal::Unauthorized
            | Signal::Forbidden
            | Signal::BareNotFound
            | Signal::BadRequest
            | Signal::Quota => Permanent,
            Signal::ModelNotFound => ModelNotFound,
            // ADR 0002: another target may take a larger body or prompt.
            Signal::TooLarge | Signal::ContextOverflow | Signal::ContentFilter => RequestSpecific,
        }
    }
}

/// One error answer: status, body, and what the error must say.
pub struct Fault {
    pub status: u16,
    pub body: Vec<u8>,
    /// A piece of the message the error carries.
    pub says: &'static str,
    /// The machine code the error carries, when the body has one.
    pub code: Option<&'static str>,
    /// Headers sent with the answer.
    pub headers: Vec<(&'static str, String)>,
}

impl Fault {
    pub fn new(status: u16, body: impl Into<Vec<u8>>, says: &'static str) -> Fault {
        Fault {
            status,
            body: body.into(),
            says,
            code: None,
            headers: Vec::new(),
        }
    }

    pub fn code(mut self, code: &'static str) -> Fault {
        self.code = Some(code);
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Fault {
        self.headers.push((name, value.into()));
        self
    }

    /// The answer: status, headers and body.
    pub fn answer(&self) -> ResponseTemplate {
        let mut template = ResponseTemplate::new(self.status);
        for (name, value) in &self.headers {
            template = template.insert_header(*name, value.as_str());
        }
        template.set_body_raw(self.body.clone(), "application/json")
    }

    /// The class this fault must get for `signal`: every protocol agrees.
    pub fn class(&self, signal: Signal) -> ErrorClass {
        signal.class()
    }
}

impl Protocol {
    /// The fault for `signal`: the protocol's own, or for the statuses any
    /// server or proxy in front of it may send, a body of its shape.
    pub fn fault_for(&self, signal: Signal) -> Option<Fault> {
        if let Some(fault) = (self.fault)(signal) {
            return Some(fault);
        }
        let shaped = |status, kind, message: &'static str| {
            Some(Fault::new(
                status,
                (self.error_shape)(kind, message),
                message,
            ))
        };
        match signal {
            Signal::BadGateway => Some(Fault::new(
                502,
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
                "Bad Gateway",
            )),
            Signal::GatewayTimeout => Some(Fault::new(504, "", "504")),
            Signal::RequestTimeout => shaped(408, "timeout_error", "Request timed out"),
            Signal::TooLarge => shaped(413, "request_too_large", "Request entity too large"),
            _ => None,
        }
    }

    /// `tests/fixtures/<fixtures>/<name>`.
    pub fn fixture(&self, name: &str) -> Vec<u8> {
        fixture(&format!("{}/{name}", self.fixtures))
    }

    /// The DSN of this protocol for a server at `addr`, ending in `options`.
    pub fn dsn(&self, addr: SocketAddr, options: &str) -> String {
        let options = match options.strip_prefix('?') {
            Some(rest) if self.base.contains('?') => format!("&{rest}"),
            _ => options.to_owned(),
        };
        format!("{}://{KEY}@{addr}{}{options}", self.scheme, self.base)
    }

    /// A registry whose provider `x` speaks this protocol to `addr`.
    pub fn registry(&self, addr: SocketAddr, options: &str) -> Registry {
        Registry::builder()
            .without_env()
            .env_vars([("LLM_X", self.dsn(addr, options))])
            .build()
    }

    /// A registry with a provider of this protocol for each `(variable,
    /// server)`: `LLM_DOWN` names provider `down`.
    pub fn registry_over(&self, servers: &[(&str, &MockServer)]) -> Registry {
        let vars = servers
            .iter()
            .map(|(variable, server)| (*variable, self.dsn(*server.address(), "")));
        Registry::builder().without_env().env_vars(vars).build()
    }

    /// The model under test at `addr`, called directly (no chain, so no
    /// health benching between calls).
    pub fn model_at(&self, addr: SocketAddr, options: &str) -> Arc<dyn Model> {
        self.registry(addr, options)
            .provider(NAME)
            .unwrap()
            .model(self.model)
            .unwrap()
    }

    /// The model under test, talking to `server`.
    pub fn model(&self, server: &MockServer) -> Arc<dyn Model> {
        self.model_at(*server.address(), "")
    }

    /// `bytes` with a keep-alive after every event.
    pub fn with_keep_alives(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = self.keep_alive.as_bytes().to_vec();
        for event in split_after(bytes, self.delimiter) {
            out.extend_from_slice(event);
            if event.ends_with(self.delimiter) {
                out.extend_from_slice(self.keep_alive.as_bytes());
            }
        }
        out
    }

    /// The offsets just after each event of `bytes`.
    pub fn event_ends(&self, bytes: &[u8]) -> Vec<usize> {
        let mut at = 0;
        split_after(bytes, self.delimiter)
            .into_iter()
            .map(|e| {
                at += e.len();
                at
            })
            .collect()
    }
}

/// `bytes` cut after every `delimiter` (the rest, if any, last).
fn split_after<'b>(bytes: &'b [u8], delimiter: &[u8]) -> Vec<&'b [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + delimiter.len() <= bytes.len() {
        if &bytes[i..i + delimiter.len()] == delimiter {
            out.push(&bytes[start..i + delimiter.len()]);
            start = i + delimiter.len();
            i = start;
        } else {
            i += 1;
        }
    }
    if start < bytes.len() {
        out.push(&bytes[start..]);
    }
    out
}

// ----- servers -----

/// A wiremock server answering every POST (any route) with `template`.
pub async fn serve(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

/// A 200 answer with `body` of `content_type`.
pub fn ok(body: impl Into<Vec<u8>>, content_type: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into(), content_type)
}

/// The only request `server` received.
pub async fn only_request(server: &MockServer) -> wiremock::Request {
    let mut all = server.received_requests().await.unwrap();
    assert_eq!(all.len(), 1, "exactly one request expected");
    all.pop().unwrap()
}

/// A loopback server answering each connection with a 200 head of a set
/// content type and the bytes currently set, then closing the connection
/// (no length: the close ends the body). One server, and so one registry and
/// one client, serves every cut of a truncation sweep.
pub struct CutServer {
    pub addr: SocketAddr,
    answer: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CutServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CutServer {
    pub async fn start() -> CutServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let answer: Arc<Mutex<Vec<u8>>> = Arc::default();
        let served = answer.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let bytes = served.lock().unwrap().clone();
                tokio::spawn(async move {
                    read_request(&mut socket).await;
                    let _ = socket.write_all(&bytes).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        CutServer { addr, answer, task }
    }

    /// Answers the next connections with `body` of `content_type`.
    pub fn set(&self, content_type: &str, body: &[u8]) {
        let mut bytes =
            format!("HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\nconnection: close\r\n\r\n")
                .into_bytes();
        bytes.extend_from_slice(body);
        *self.answer.lock().unwrap() = bytes;
    }
}

// ----- golden bodies -----

/// Asserts `body` is `tests/fixtures/<protocol>/<name>`; with
/// `CONFORMANCE_BLESS=1`, writes it there instead.
pub fn assert_golden(protocol: &Protocol, name: &str, body: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(protocol.name)
        .join(name);
    if std::env::var_os("CONFORMANCE_BLESS").is_some() {
        let text = serde_json::to_string_pretty(body).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return;
    }
    let golden: Value = serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    assert_eq!(
        body,
        &golden,
        "{}: the request body differs from the golden one",
        path.display()
    );
}

// ----- one test per scenario and protocol -----

macro_rules! conformance {
    ($($module:ident: $protocol:expr;)*) => {$(
        mod $module {
            use super::scenarios as s;
            conformance!(@tests $protocol;
                plain, stream, tools, tools_stream, images, documented_requests, reasoning, reasoning_stream,
                json_schema, errors, retry_after_seconds, retry_after_ms,
                retry_after_date, retry_info, stream_error_events, stream_error_before_output,
                garbage_in_a_stream, whole_answer_to_a_stream_request, truncated_streams,
                truncated_answers, keep_alives, connection_refused, builtin_without_a_key,
                builtin_reads_its_variables_on_first_use, config_setters, streams_fold_like_whole_answers,
                repeated_call_ids, tool_choices_and_results, json_formats, foreign_history,
                keyless_server,
                through_a_chain);
            conformance!(@paused $protocol; stall_before_headers, stall_after_first_event);
        }
    )*};
    (@tests $protocol:expr; $($scenario:ident),*) => {$(
        #[tokio::test]
        async fn $scenario() {
            s::$scenario(&$protocol).await;
        }
    )*};
    (@paused $protocol:expr; $($scenario:ident),*) => {$(
        #[tokio::test(start_paused = true)]
        async fn $scenario() {
            s::$scenario(&$protocol).await;
        }
    )*};
}

conformance! {
    openai: super::protocols::OPENAI;
    anthropic: super::protocols::ANTHROPIC;
    ollama: super::protocols::OLLAMA;
    gemini: super::protocols::GEMINI;
    azure: super::protocols::azure();
}
