//! The shared HTTP plumbing seen through the registry: error bodies are read
//! with a bound, and DSN options reach the client.
#![cfg(feature = "openai")]

use std::net::SocketAddr;
use std::sync::Arc;

use majordomo::{ErrorClass, ErrorKind, Model, Request};

use crate::support::call::{generate_error, open_error};
use crate::support::http::{
    PacedServer, Step, announced_then_stall, head, stall_before_headers, write,
};
use crate::support::registry::registry_with_env;

/// Model `m` of an OpenAI-compatible server at `addr`, with DSN option
/// `timeout`.
fn openai_at(addr: SocketAddr, timeout: &str) -> Arc<dyn Model> {
    let dsn = format!("openai+http://k@{addr}/v1?timeout={timeout}");
    let registry = registry_with_env([("LLM_X", dsn)]);
    registry.provider("x").unwrap().model("m").unwrap()
}

#[tokio::test]
async fn a_huge_error_body_is_cut_not_read_whole() {
    // A 503 whose body never ends: the error is built from its first bytes
    // at once, instead of waiting for an end that never comes.
    let server = PacedServer::start(vec![
        head(503, "text/plain"),
        write("x".repeat(256 * 1024)),
        Step::Stall,
    ])
    .await;
    let model = openai_at(server.addr, "10s");
    let err = generate_error(&model, Request::new().user("hi")).await;
    assert_eq!(err.kind(), ErrorKind::Api, "{err:?}");
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.class(), ErrorClass::Transient);
    // The body's text made it into the error (an unbounded read would have
    // timed out and lost it), cut to a bounded length.
    assert!(err.message().starts_with("xxxx"), "{}", err.message());
    assert!(err.message().len() <= 4 * 1024, "{}", err.message().len());
}

#[tokio::test]
async fn the_dsn_timeout_bounds_a_silent_server() {
    let server = PacedServer::start(stall_before_headers()).await;
    let model = openai_at(server.addr, "300ms");
    let err = generate_error(&model, Request::new().user("hi")).await;
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert_eq!(err.class(), ErrorClass::Transient);
    let err = open_error(&model, Request::new().user("hi")).await;
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
}

#[tokio::test]
async fn an_answer_announcing_a_huge_body_is_refused_before_reading() {
    let stall = announced_then_stall("application/json", 4_000_000_000, b"{");
    let server = PacedServer::start(stall).await;
    let model = openai_at(server.addr, "10s");
    let err = generate_error(&model, Request::new().user("hi")).await;
    assert_eq!(err.kind(), ErrorKind::Decode, "{err:?}");
    assert!(err.to_string().contains("over"), "{err}");
}
