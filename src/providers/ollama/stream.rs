//! The NDJSON stream of `/api/chat` (`stream: true`): one `ChatResponse` per
//! line, turned into [`StreamEvent`]s.
//!
//! - `message.thinking` and `message.content` are increments: thinking and
//!   text deltas (thinking first when a line carries both, as a whole answer
//!   orders them).
//! - A tool call arrives complete in one non-final line: start, one delta
//!   with the whole arguments JSON, end. Calls without an id get
//!   `call_<nonce>_<n>` (see [`super::response::tool_call`]).
//! - The line with `done: true` carries `done_reason` and the counts: usage
//!   and finish. It is the terminator; a body that ends before it is a cut
//!   stream (transient), which the driver reports.
//! - A line `{"error": "..."}` ends the stream with that error (transient
//!   unless its text says otherwise); a line that is not a JSON object is a
//!   decode error (transient).

use std::collections::VecDeque;

use super::errors;
use super::response::{answer_nonce, finish_reason, is_error, tool_call, usage};
use super::wire::ChatResponse;
use crate::providers::http::body::FrameHandler;
use crate::{Result, Secret, StreamEvent, Usage};

/// The state of one streamed answer.
#[derive(Debug)]
pub(crate) struct ChatStream {
    tool_calls: usize,
    /// Names this answer in the tool-call ids we make up.
    nonce: String,
    done: bool,
    secret: Option<Secret>,
}

impl ChatStream {
    /// A stream whose error texts are redacted of `secret`.
    pub(super) fn new(secret: Option<Secret>) -> Self {
        ChatStream {
            tool_calls: 0,
            nonce: answer_nonce(),
            done: false,
            secret,
        }
    }
}

impl FrameHandler<String> for ChatStream {
    fn on_frame(&mut self, line: String, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        let chunk: ChatResponse = serde_json::from_str(&line).map_err(|e| {
            crate::providers::http::errors::decode_error(
                "undecodable line in Ollama stream",
                &e,
                self.secret.as_ref(),
            )
        })?;
        if let Some(error) = chunk.error.as_ref().filter(|e| is_error(e)) {
            return Err(errors::in_band(error, self.secret.as_ref()));
        }
        if let Some(message) = chunk.message {
            if let Some(text) = message.thinking.filter(|t| !t.is_empty()) {
                out.push_back(StreamEvent::ThinkingDelta { text });
            }
            if let Some(text) = message.content.filter(|t| !t.is_empty()) {
                out.push_back(StreamEvent::TextDelta { text });
            }
            for call in message.tool_calls.unwrap_or_default() {
                let index = self.tool_calls;
                let (id, name, arguments) = tool_call(call, &self.nonce, index);
                out.push_back(StreamEvent::ToolCallStart { index, id, name });
                out.push_back(StreamEvent::ToolCallDelta {
                    index,
                    arguments: arguments.to_string(),
                });
                out.push_back(StreamEvent::ToolCallEnd { index });
                self.tool_calls += 1;
            }
        }
        if chunk.done {
            let usage = usage(
                chunk.prompt_eval_count,
                chunk.prompt_eval_cached_count,
                chunk.eval_count,
            );
            if usage != Usage::default() {
                out.push_back(StreamEvent::Usage { usage });
            }
            out.push_back(StreamEvent::finish(finish_reason(
                chunk.done_reason.as_deref(),
                self.tool_calls > 0,
            )));
            self.done = true;
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.done
    }

    /// A whole JSON answer where a stream was asked for is one final line.
    fn on_whole_body(&mut self, body: &[u8], out: &mut VecDeque<StreamEvent>) -> Result<()> {
        self.on_frame(String::from_utf8_lossy(body).into_owned(), out)?;
        self.on_end(out)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use futures::StreamExt as _;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::providers::http::LineDecoder;
    use crate::providers::http::body::event_stream_from_bytes;
    use crate::providers::http::chunk_by;
    use crate::{ErrorClass, ErrorKind, FinishReason, Part, Response, StreamAccumulator, Target};

    const CHAT_STREAM: &[u8] = include_bytes!("../../../tests/fixtures/ollama/chat_stream.ndjson");
    const TOOL_STREAM: &[u8] =
        include_bytes!("../../../tests/fixtures/ollama/chat_stream_tool_call.ndjson");

    /// Feeds `chunks` through the real driver and folds the events, with
    /// the made-up tool-call ids normalized.
    fn fold(chunks: Vec<Vec<u8>>) -> Result<Response> {
        fold_raw(chunks).map(without_nonces)
    }

    /// Feeds `chunks` through the real driver and folds the events.
    fn fold_raw(chunks: Vec<Vec<u8>>) -> Result<Response> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let body = Box::pin(futures::stream::iter(
                chunks.into_iter().map(|c| Ok(Bytes::from(c))),
            ));
            let target = Target::new("ollama", "llama3.2").unwrap();
            let mut events = Box::pin(event_stream_from_bytes(
                body,
                LineDecoder::new(),
                ChatStream::new(None),
                target,
                None,
            ));
            let mut acc = StreamAccumulator::new();
            while let Some(event) = events.next().await {
                acc.push(event?);
            }
            Ok(acc.finish("ollama", "llama3.2"))
        })
    }

    /// `r` with the made-up ids `call_<nonce>_<n>` turned into `call_<n>`, so
    /// two folds of one answer compare equal.
    fn without_nonces(mut r: Response) -> Response {
        for part in &mut r.message.parts {
            if let Part::ToolCall(call) = part {
                let pieces: Vec<&str> = call.id.split('_').collect();
                if let ["call", nonce, n] = pieces[..] {
                    assert!(nonce.len() > 8, "a nonce in {}", call.id);
                    call.id = format!("call_{n}");
                }
            }
        }
        r
    }

    fn expected_text() -> Response {
        let mut r = fold(vec![CHAT_STREAM.to_vec()]).unwrap();
        r.raw = None;
        r
    }

    #[test]
    fn text_stream_folds_into_the_answer() {
        let r = expected_text();
        assert_eq!(r.text(), "The");
        assert_eq!(r.finish_reason, FinishReason::Stop);
        assert_eq!(r.usage.input_tokens, Some(26));
        assert_eq!(r.usage.output_tokens, Some(282));
    }

    #[test]
    fn tool_stream_folds_into_a_call_with_a_generated_id() {
        let r = fold(vec![TOOL_STREAM.to_vec()]).unwrap();
        let calls: Vec<_> = r.tool_calls().collect();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].id, "call_0");
        assert_eq!(calls[0].name, "get_weather");
        assert_eq!(calls[0].arguments, json!({"city": "Tokyo"}));
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(r.usage.input_tokens, Some(169));
        assert_eq!(r.usage.output_tokens, Some(15));
    }

    #[test]
    fn each_streamed_answer_names_its_calls_differently() {
        let ids = || -> Vec<String> {
            let r = fold_raw(vec![TOOL_STREAM.to_vec()]).unwrap();
            r.tool_calls().map(|c| c.id.clone()).collect()
        };
        let (first, second) = (ids(), ids());
        assert_eq!(first.len(), 1);
        assert!(first[0].starts_with("call_") && first[0].ends_with("_0"));
        assert_ne!(first, second, "ids repeat between answers");
    }

    #[test]
    fn one_byte_at_a_time_and_without_the_last_newline() {
        for fixture in [CHAT_STREAM, TOOL_STREAM] {
            let whole = fold(vec![fixture.to_vec()]).unwrap();
            assert_eq!(fold(chunk_by(fixture, &[1])).unwrap(), whole);
            let trimmed = fixture.strip_suffix(b"\n").unwrap_or(fixture);
            assert_eq!(fold(chunk_by(trimmed, &[1])).unwrap(), whole);
        }
    }

    #[test]
    fn thinking_streams_as_this_providers_thinking() {
        let body = concat!(
            r#"{"model":"qwen3","message":{"role":"assistant","content":"","thinking":"Let me "},"done":false}"#,
            "\n",
            r#"{"model":"qwen3","message":{"role":"assistant","content":"","thinking":"think."},"done":false}"#,
            "\n",
            r#"{"model":"qwen3","message":{"role":"assistant","content":"2"},"done":false}"#,
            "\n",
            r#"{"model":"qwen3","message":{"role":"assistant","content":""},"done":true,"done_reason":"length","eval_count":9}"#,
            "\n"
        );
        let r = fold(vec![body.as_bytes().to_vec()]).unwrap();
        match &r.message.parts[..] {
            [Part::Thinking(t), Part::Text { text }] => {
                assert_eq!(t.text, "Let me think.");
                assert_eq!(t.provider.as_deref(), Some("ollama"));
                assert_eq!(text, "2");
            }
            other => panic!("unexpected parts {other:?}"),
        }
        assert_eq!(r.finish_reason, FinishReason::Length);
        assert_eq!(r.usage.input_tokens, None);
        assert_eq!(r.usage.output_tokens, Some(9));
    }

    #[test]
    fn cut_garbage_and_error_lines_end_in_errors() {
        let first_line = CHAT_STREAM.split(|b| *b == b'\n').next().unwrap();
        let cut = fold(vec![first_line.to_vec(), b"\n".to_vec()]).unwrap_err();
        assert_eq!(cut.kind(), ErrorKind::StreamEndedEarly);
        assert_eq!(cut.class(), ErrorClass::Transient);
        assert_eq!(cut.provider(), Some("ollama"));

        let garbage = fold(vec![first_line.to_vec(), b"\nnot json\n".to_vec()]).unwrap_err();
        assert_eq!(garbage.kind(), ErrorKind::Decode);
        assert_eq!(garbage.class(), ErrorClass::Transient);

        let error = fold(vec![
            first_line.to_vec(),
            b"\n{\"error\":\"an error was encountered while running the model\"}\n".to_vec(),
        ])
        .unwrap_err();
        assert_eq!(error.class(), ErrorClass::Transient);
        assert_eq!(
            error.message(),
            "an error was encountered while running the model"
        );
        assert_eq!(error.model(), Some("llama3.2"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_chunking_folds_the_same(sizes in prop::collection::vec(1usize..48, 1..12)) {
            for fixture in [CHAT_STREAM, TOOL_STREAM] {
                let whole = fold(vec![fixture.to_vec()]).unwrap();
                prop_assert_eq!(fold(chunk_by(fixture, &sizes)).unwrap(), whole);
            }
        }
    }
}
