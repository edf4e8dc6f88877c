//! Unit tests: stream fixtures fed through the SSE driver in random chunk
//! sizes fold the same way every time, and into the non-streamed answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use bytes::Bytes;
use futures::StreamExt as _;
use proptest::prelude::*;

use super::request::{ModelFamily, thinking_config};
use super::response::{finish_reason, to_response};
use super::stream::GeminiStream;
use super::wire::GenerateContentResponse;
use crate::providers::http::body::event_stream_from_bytes;
use crate::providers::http::{SseDecoder, chunk_by};
use crate::{
    ErrorClass, ErrorKind, EventStream, FinishReason, Part, ReasoningLevel, Response, Target,
};

const STREAMS: [(&str, &str); 3] = [
    ("stream_text.sse", "generate_response_text.json"),
    (
        "stream_function_call.sse",
        "generate_response_function_call_signature.json",
    ),
    ("stream_thinking.sse", "generate_response_thinking.json"),
];

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gemini")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn generated(name: &str) -> Response {
    let wire: GenerateContentResponse = serde_json::from_slice(&fixture(name)).unwrap();
    to_response(wire, "g", "gemini-2.5-flash").unwrap()
}

/// Folds `bytes`, cut into pieces of the given sizes (cycled), through the
/// real stream driver.
fn fold(bytes: &[u8], sizes: &[usize]) -> crate::Result<Response> {
    let pieces: Vec<reqwest::Result<Bytes>> = chunk_by(bytes, sizes)
        .into_iter()
        .map(|c| Ok(Bytes::from(c)))
        .collect();
    let body = Box::pin(futures::stream::iter(pieces));
    let target = Target::new("g", "gemini-2.5-flash").unwrap();
    let events = event_stream_from_bytes(
        body,
        SseDecoder::new(),
        GeminiStream::new(None),
        target,
        None,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(EventStream::new("g", "gemini-2.5-flash", events).into_response())
}

fn same_answer(streamed: &Response, whole: &Response) {
    assert_eq!(streamed.message, whole.message);
    assert_eq!(streamed.finish_reason, whole.finish_reason);
    assert_eq!(streamed.usage, whole.usage);
    assert_eq!(streamed.provider, whole.provider);
}

#[test]
fn every_stream_fixture_folds_into_its_non_streamed_answer() {
    for (stream, whole) in STREAMS {
        let bytes = fixture(stream);
        assert!(
            bytes.windows(4).any(|w| w == b"\r\n\r\n"),
            "{stream} has CRLF line ends"
        );
        let streamed = fold(&bytes, &[bytes.len()]).unwrap();
        same_answer(&streamed, &generated(whole));
        let one_byte = fold(&bytes, &[1]).unwrap();
        assert_eq!(one_byte, streamed, "{stream} one byte at a time");
    }
}

#[test]
fn the_signature_follows_the_call_it_belongs_to() {
    let response = generated("generate_response_function_call_signature.json");
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    match response.message.parts.as_slice() {
        [Part::ToolCall(call), Part::Thinking(sig)] => {
            assert_eq!(call.id, "9k3hxx1p");
            assert_eq!(call.name, "check_flight");
            assert!(sig.text.is_empty());
            assert!(sig.signature.as_deref().unwrap().starts_with("CiIBVKhc"));
            assert_eq!(sig.provider.as_deref(), Some("g"));
        }
        other => panic!("unexpected parts {other:?}"),
    }
}

#[test]
fn a_stream_without_a_finish_reason_was_cut() {
    let bytes = fixture("stream_thinking.sse");
    let text = String::from_utf8(bytes).unwrap();
    let cut = &text[..text.rfind("data:").unwrap()];
    let error = fold(cut.as_bytes(), &[7]).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::StreamEndedEarly);
    assert_eq!(error.class(), ErrorClass::Transient);
    assert_eq!(error.provider(), Some("g"));
}

#[test]
fn finish_reasons_map_to_ours() {
    assert_eq!(finish_reason("STOP", false), FinishReason::Stop);
    assert_eq!(finish_reason("STOP", true), FinishReason::ToolCalls);
    assert_eq!(finish_reason("MAX_TOKENS", false), FinishReason::Length);
    for filtered in [
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
    ] {
        assert_eq!(finish_reason(filtered, false), FinishReason::ContentFilter);
    }
    assert_eq!(
        finish_reason("MALFORMED_FUNCTION_CALL", false),
        FinishReason::Other("MALFORMED_FUNCTION_CALL".into())
    );
}

#[test]
fn thinking_controls_follow_the_model_generation() {
    let flash = ModelFamily::of("gemini-2.5-flash");
    let pro = ModelFamily::of("models/gemini-2.5-pro");
    let three = ModelFamily::of("gemini-3-flash-preview");
    let three_pro = ModelFamily::of("gemini-3-pro-preview");
    let json = |level, family| serde_json::to_value(thinking_config(level, &family)).unwrap();
    assert_eq!(
        json(ReasoningLevel::Low, flash),
        serde_json::json!({"thinkingBudget": 2048, "includeThoughts": true})
    );
    assert_eq!(
        json(ReasoningLevel::Off, flash),
        serde_json::json!({"thinkingBudget": 0})
    );
    assert_eq!(json(ReasoningLevel::Max, flash)["thinkingBudget"], 24576);
    assert_eq!(json(ReasoningLevel::Max, pro)["thinkingBudget"], 32768);
    assert_eq!(json(ReasoningLevel::Off, pro)["thinkingBudget"], 128);
    assert_eq!(
        json(ReasoningLevel::Medium, three),
        serde_json::json!({"thinkingLevel": "medium", "includeThoughts": true})
    );
    assert_eq!(json(ReasoningLevel::Off, three)["thinkingLevel"], "minimal");
    assert_eq!(
        json(ReasoningLevel::Minimal, three_pro)["thinkingLevel"],
        "low"
    );
    assert_eq!(
        json(ReasoningLevel::Medium, three_pro)["thinkingLevel"],
        "high"
    );
    assert_eq!(
        json(ReasoningLevel::Budget(5000), three),
        serde_json::json!({"thinkingBudget": 5000, "includeThoughts": true})
    );
    // `off` asks for no thought summaries, even where thinking cannot stop.
    assert_eq!(
        json(ReasoningLevel::Off, three),
        serde_json::json!({"thinkingLevel": "minimal"})
    );
    assert_eq!(
        json(ReasoningLevel::Off, pro),
        serde_json::json!({"thinkingBudget": 128})
    );
    assert_eq!(json(ReasoningLevel::Budget(0), flash)["thinkingBudget"], 0);
    assert_eq!(
        json(ReasoningLevel::Budget(99_999), pro)["thinkingBudget"],
        32768
    );
    let lite = ModelFamily::of("gemini-2.5-flash-lite");
    assert_eq!(json(ReasoningLevel::Budget(1), lite)["thinkingBudget"], 512);
    assert_eq!(json(ReasoningLevel::Max, lite)["thinkingBudget"], 24576);
    // Models without thinking controls get none, whatever the level.
    for id in [
        "gemini-2.0-flash",
        "models/gemini-1.5-flash-8b",
        "gemma-3n-e4b-it",
    ] {
        for level in [ReasoningLevel::Off, ReasoningLevel::Max] {
            assert!(
                thinking_config(level, &ModelFamily::of(id)).is_none(),
                "{id}"
            );
        }
    }
    // Aliases of unknown generation keep budgets; 3.x counts as Gemini 3.
    assert_eq!(
        json(ReasoningLevel::Low, ModelFamily::of("gemini-flash-latest")),
        serde_json::json!({"thinkingBudget": 2048, "includeThoughts": true})
    );
    assert_eq!(
        json(
            ReasoningLevel::Low,
            ModelFamily::of("gemini-3.1-pro-preview")
        ),
        serde_json::json!({"thinkingLevel": "low", "includeThoughts": true})
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_chunking_never_changes_the_fold(
        which in 0usize..STREAMS.len(),
        sizes in proptest::collection::vec(1usize..97, 1..12),
    ) {
        let (stream, _) = STREAMS[which];
        let bytes = fixture(stream);
        let whole = fold(&bytes, &[bytes.len()]).unwrap();
        let chunked = fold(&bytes, &sizes).unwrap();
        prop_assert_eq!(chunked, whole);
    }
}

#[test]
fn a_garbage_data_line_is_a_decode_error() {
    let error = fold(b"data: {not json\r\n\r\n", &[3]).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert_eq!(error.model(), Some("gemini-2.5-flash"));
}

#[test]
fn streams_yield_events_in_order() {
    // The finish event comes last, after usage, once the body has ended.
    let bytes = fixture("stream_text.sse");
    let body = Box::pin(futures::stream::iter(vec![Ok(Bytes::from(bytes))]));
    let events = event_stream_from_bytes(
        body,
        SseDecoder::new(),
        GeminiStream::new(None),
        Target::new("g", "m").unwrap(),
        None,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let events: Vec<_> = runtime.block_on(events.collect::<Vec<_>>());
    let kinds: Vec<_> = events
        .iter()
        .map(|e| match e.as_ref().unwrap() {
            crate::StreamEvent::TextDelta { .. } => "text",
            crate::StreamEvent::Usage { .. } => "usage",
            crate::StreamEvent::Finish { .. } => "finish",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["text", "text", "text", "usage", "finish"]);
}
