//! Integration tests: the media pipeline through the public API. Ollama needs
//! image bytes, so a URL image in a request to an `ollama://` provider is
//! fetched (once per call, within limits) and inlined as base64.

#![cfg(feature = "ollama")]

use std::time::{Duration, Instant};

use base64::Engine as _;
use majordomo::{Error, ErrorClass, ErrorKind, Image, Request};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::call::{generate_error, generated};
use crate::support::http::{
    PacedServer, Step, announced_then_stall, answer, bodies_where, post, serve_route_with,
};
use crate::support::registry::registry_with_env;

/// A 1×1 PNG's first bytes (signature and IHDR): enough to be recognised.
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

const REPLY: &str = r#"{"model":"llava","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":"a cat"},"done":true,"done_reason":"stop"}"#;

fn reply() -> ResponseTemplate {
    answer(200, REPLY, "application/json")
}

/// `/api/chat` answering 503, so a chain retries or fails over.
fn busy() -> ResponseTemplate {
    answer(503, r#"{"error":"server busy"}"#, "application/json")
}

fn png() -> ResponseTemplate {
    answer(200, PNG, "image/png")
}

/// A server with `/api/chat` answering the minimal reply.
async fn ollama() -> MockServer {
    serve_route_with("/api/chat", reply()).await
}

async fn serve_image(server: &MockServer, template: ResponseTemplate, times: u64) {
    Mock::given(method("GET"))
        .and(path("/img.png"))
        .respond_with(template)
        .expect(times)
        .mount(server)
        .await;
}

/// `LLM_LOCAL=ollama://<server><options>` and the chain for `spec`.
fn chain(server: &MockServer, options: &str, spec: &str) -> majordomo::Chain {
    let dsn = format!("ollama://{}{options}", server.address());
    registry_with_env([("LLM_LOCAL", dsn)]).parse(spec).unwrap()
}

fn ask(url: impl Into<String>) -> Request {
    Request::new().user_with_image("What is in this picture?", Image::url(url))
}

/// The `/api/chat` bodies `server` received, in order.
async fn chat_bodies(server: &MockServer) -> Vec<Value> {
    bodies_where(server, |r| r.url.path() == "/api/chat").await
}

/// `images[0]` of the message that carries images.
fn first_image(body: &Value) -> &str {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|m| m.get("images"))
        .and_then(|images| images[0].as_str())
        .unwrap_or_else(|| panic!("no image sent in {body}"))
}

/// The error that ended the call: the chain's last error when it reports one.
fn cause(error: &Error) -> &Error {
    match error.kind() {
        ErrorKind::Exhausted => error.source_as::<Error>().unwrap_or(error),
        _ => error,
    }
}

/// Asserts a request-specific end naming `needle` (a host, or a scheme).
fn assert_refused(error: &Error, needle: &str) {
    assert_eq!(error.class(), ErrorClass::RequestSpecific, "{error:?}");
    let inner = cause(error);
    assert_eq!(inner.class(), ErrorClass::RequestSpecific, "{inner:?}");
    assert_eq!(inner.provider(), Some("local"), "{inner:?}");
    assert!(
        inner.to_string().contains(needle),
        "{inner} should name {needle:?}"
    );
}

#[tokio::test]
async fn a_url_image_reaches_ollama_as_base64() {
    let server = ollama().await;
    serve_image(&server, png(), 1).await;
    let chain = chain(&server, "", "local/llava");
    let response = generated(&chain, ask(format!("{}/img.png", server.uri()))).await;
    assert_eq!(response.text(), "a cat");
    let bodies = chat_bodies(&server).await;
    assert_eq!(bodies.len(), 1);
    assert_eq!(
        first_image(&bodies[0]),
        base64::engine::general_purpose::STANDARD.encode(PNG)
    );
}

#[tokio::test]
async fn a_retried_call_fetches_the_image_once() {
    let server = MockServer::start().await;
    post("/api/chat")
        .respond_with(busy())
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    post("/api/chat")
        .respond_with(reply())
        .expect(1)
        .mount(&server)
        .await;
    serve_image(&server, png(), 1).await;
    let chain = chain(&server, "", "local/a");
    let response = generated(&chain, ask(format!("{}/img.png", server.uri()))).await;
    assert_eq!(response.text(), "a cat");
    let bodies = chat_bodies(&server).await;
    assert_eq!(bodies.len(), 2, "the chain retried once");
    let expected = base64::engine::general_purpose::STANDARD.encode(PNG);
    assert_eq!(first_image(&bodies[0]), expected);
    assert_eq!(first_image(&bodies[1]), expected);
    // `.expect(1)` on the image is verified when the server drops.
}

#[tokio::test]
async fn a_failover_to_another_provider_reuses_the_fetch() {
    let server = MockServer::start().await;
    post("/api/chat")
        .respond_with(busy())
        .up_to_n_times(2)
        .mount(&server)
        .await;
    post("/api/chat").respond_with(reply()).mount(&server).await;
    serve_image(&server, png(), 1).await;
    let dsn = format!("ollama://{}", server.address());
    let chain = registry_with_env([("LLM_FIRST", dsn.clone()), ("LLM_SECOND", dsn)])
        .parse("first/llava, second/llava")
        .unwrap();
    let response = generated(&chain, ask(format!("{}/img.png", server.uri()))).await;
    assert_eq!(response.text(), "a cat");
    assert_eq!(response.provider, "second");
    assert_eq!(chat_bodies(&server).await.len(), 3);
}

#[tokio::test]
async fn an_oversize_image_ends_the_call() {
    let server = ollama().await;
    // Announces 30 MB (over the default 20 MiB) and then sends nothing: only
    // a check of the length before reading ends this at once.
    let images = PacedServer::start(announced_then_stall("image/png", 30_000_000, b"")).await;
    let chain = chain(&server, "", "local/llava");
    let started = Instant::now();
    let error = generate_error(&chain, ask(format!("{}/img.png", images.url()))).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_refused(&error, &images.addr.to_string());
    assert!(
        cause(&error).to_string().contains("30000000 bytes"),
        "{error}"
    );
    assert!(chat_bodies(&server).await.is_empty());
}

#[tokio::test]
async fn a_streamed_image_over_the_cap_ends_the_call() {
    let server = ollama().await;
    // No length: the body just keeps coming (21 MiB, over the default cap).
    let chunk = vec![0x42u8; 1024 * 1024];
    let mut script = vec![Step::Write(
        b"HTTP/1.1 200 OK\r\ncontent-type: image/png\r\nconnection: close\r\n\r\n".to_vec(),
    )];
    script.extend((0..21).map(|_| Step::Write(chunk.clone())));
    let images = PacedServer::start(script).await;
    let chain = chain(&server, "", "local/llava");
    let error = generate_error(&chain, ask(format!("{}/img.png", images.url()))).await;
    assert_refused(&error, &images.addr.to_string());
    assert!(cause(&error).to_string().contains("limit"), "{error}");
    assert!(chat_bodies(&server).await.is_empty());
}

#[tokio::test]
async fn a_non_image_ends_the_call() {
    let server = ollama().await;
    serve_image(&server, answer(200, "<html>sign in</html>", "text/html"), 1).await;
    let chain = chain(&server, "", "local/llava");
    let error = generate_error(
        &chain,
        ask(format!("{}/img.png?sig=SECRET-SIGNATURE", server.uri())),
    )
    .await;
    assert_refused(&error, &server.address().to_string());
    assert!(cause(&error).to_string().contains("text/html"), "{error}");
    assert!(!format!("{error} {error:?}").contains("SECRET-SIGNATURE"));
    assert!(chat_bodies(&server).await.is_empty());
}

#[tokio::test]
async fn a_slow_image_server_ends_the_call_promptly() {
    let server = ollama().await;
    serve_image(&server, png().set_delay(Duration::from_secs(30)), 1).await;
    // The provider's request timeout bounds the fetch too (the default media
    // limit is 30 s).
    let chain = chain(&server, "?timeout=500ms", "local/llava");
    let started = Instant::now();
    let error = generate_error(&chain, ask(format!("{}/img.png", server.uri()))).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_refused(&error, &server.address().to_string());
    assert!(cause(&error).is_timeout(), "{error:?}");
    assert!(chat_bodies(&server).await.is_empty());
}

#[tokio::test]
async fn a_file_url_is_refused() {
    let server = ollama().await;
    let chain = chain(&server, "", "local/llava");
    let error = generate_error(&chain, ask("file:///etc/passwd")).await;
    assert_refused(&error, "\"file\"");
    assert!(!cause(&error).to_string().contains("passwd"), "{error}");
    let error = generate_error(&chain, ask("file://fileserver/share/cat.png")).await;
    assert_refused(&error, "fileserver");
    assert!(chat_bodies(&server).await.is_empty());
}

#[tokio::test]
async fn inline_and_data_url_images_are_sent_as_base64() {
    let server = ollama().await;
    let chain = chain(&server, "", "local/llava");
    let encoded = base64::engine::general_purpose::STANDARD.encode(PNG);
    generated(
        &chain,
        Request::new().user_with_image("and this?", Image::inline("image/png", PNG)),
    )
    .await;
    generated(&chain, ask(format!("data:image/png;base64,{encoded}"))).await;
    let bodies = chat_bodies(&server).await;
    assert_eq!(bodies.len(), 2);
    assert_eq!(first_image(&bodies[0]), encoded);
    assert_eq!(first_image(&bodies[1]), encoded);
}
