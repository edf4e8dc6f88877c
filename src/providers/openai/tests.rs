//! Every stream fixture, fed through the real stream driver in chunks of any
//! size (down to one byte), folds to the same result.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures::Stream;
use proptest::prelude::*;

use super::stream::{ChunkHandler, ErrorFieldFraming};
use crate::providers::http::body::event_stream_from_bytes;
use crate::{ErrorClass, ErrorKind, EventStream, Response, Secret, Target};

/// The stream fixtures and whether each is a complete answer.
const STREAMS: &[(&str, bool)] = &[
    ("chat_stream_text.sse", true),
    ("chat_stream_json_schema.sse", true),
    ("chat_stream_n3_choices.sse", true),
    ("chat_stream_length.sse", true),
    ("chat_stream_refusal.sse", true),
    ("chat_stream_tool_call.sse", true),
    ("chat_stream_parallel_tool_calls.sse", true),
    ("synthetic_stream_reasoning_tool_call.sse", true),
    ("synthetic_stream_ollama_reused_index.sse", true),
    ("synthetic_stream_llamacpp_error_field.sse", false),
    ("synthetic_stream_openrouter_error.sse", false),
    ("synthetic_stream_garbage.sse", false),
    ("synthetic_stream_cut.sse", false),
];

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/openai")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What a fold ends in, comparable: the response, or the error's kind,
/// class and text.
#[derive(Debug, PartialEq)]
// A test-only comparison value: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Folded {
    Ok(Response),
    Err(ErrorKind, ErrorClass, String),
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

fn fold(bytes: &[u8], sizes: &[usize]) -> Folded {
    let mut chunks = Vec::new();
    let (mut at, mut i) = (0, 0);
    while at < bytes.len() {
        let n = sizes[i % sizes.len()].max(1);
        let end = (at + n).min(bytes.len());
        chunks.push(Bytes::copy_from_slice(&bytes[at..end]));
        at = end;
        i += 1;
    }
    let body: Body = Box::pin(futures::stream::iter(
        chunks.into_iter().map(Ok::<_, reqwest::Error>),
    ));
    let model = Arc::new(OnceLock::new());
    let handler = ChunkHandler::new(Arc::clone(&model), Some(Secret::new("sk-unit-secret")));
    let target = Target::new("p", "m").unwrap();
    let events = event_stream_from_bytes(
        body,
        ErrorFieldFraming::new(),
        handler,
        target,
        Some(Secret::new("sk-unit-secret")),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    match runtime.block_on(EventStream::new("p", "m", events).into_response()) {
        Ok(response) => Folded::Ok(response),
        Err(e) => {
            assert_eq!(e.provider(), Some("p"), "{e}");
            assert_eq!(e.model(), Some("m"), "{e}");
            Folded::Err(e.kind(), e.class(), e.to_string())
        }
    }
}

#[test]
fn whole_bodies_fold_as_expected() {
    for &(name, complete) in STREAMS {
        let folded = fold(&fixture(name), &[usize::MAX]);
        match (&folded, complete) {
            (Folded::Ok(_), true) => {}
            (Folded::Err(_, class, _), false) => {
                assert_eq!(*class, ErrorClass::Transient, "{name}: {folded:?}")
            }
            _ => panic!("{name}: {folded:?}"),
        }
    }
}

#[test]
fn one_byte_at_a_time_folds_the_same() {
    for &(name, _) in STREAMS {
        let bytes = fixture(name);
        assert_eq!(fold(&bytes, &[1]), fold(&bytes, &[usize::MAX]), "{name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_chunking_folds_the_same(sizes in prop::collection::vec(1usize..97, 1..12)) {
        for &(name, _) in STREAMS {
            let bytes = fixture(name);
            prop_assert_eq!(fold(&bytes, &sizes), fold(&bytes, &[usize::MAX]), "{}", name);
        }
    }
}
