//! One-line calls: each says whether the call must succeed or fail, and
//! panics with the other outcome. A chain is a `Model` too; pass `&chain`,
//! `&arc_model` or a `&dyn Model` as it is.

#![allow(dead_code)] // each feature set uses a different subset

use majordomo::{Error, EventStream, Message, Model, Part, Request, Response, Role, ToolCall};
use serde_json::Value;

/// What `model` answers to `request`, which must succeed.
pub async fn generated<M: Model + ?Sized>(model: &M, request: Request) -> Response {
    model
        .generate(request)
        .await
        .unwrap_or_else(|e| panic!("the call fails: {e:?}"))
}

/// The error `model` gives `request`, which must fail.
pub async fn generate_error<M: Model + ?Sized>(model: &M, request: Request) -> Error {
    model.generate(request).await.expect_err("the call answers")
}

/// The stream `model` opens for `request`, which must open.
pub async fn opened<M: Model + ?Sized>(model: &M, request: Request) -> EventStream {
    match model.stream(request).await {
        Ok(stream) => stream,
        Err(e) => panic!("the stream does not open: {e:?}"),
    }
}

/// `request` streamed and folded, which must open and end clean.
pub async fn streamed<M: Model + ?Sized>(model: &M, request: Request) -> Response {
    opened(model, request)
        .await
        .into_response()
        .await
        .unwrap_or_else(|e| panic!("the stream fails: {e:?}"))
}

/// The error opening a stream of `request` gives, which must fail.
pub async fn open_error<M: Model + ?Sized>(model: &M, request: Request) -> Error {
    let Err(e) = model.stream(request).await else {
        panic!("the stream opens");
    };
    e
}

/// An assistant turn that calls tool `name` with `arguments` under `id`.
pub fn calling(id: &str, name: &str, arguments: Value) -> Message {
    let call = ToolCall::new(id, name, arguments);
    Message::new(Role::Assistant, vec![Part::ToolCall(call)])
}
