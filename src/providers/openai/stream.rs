//! The streamed answer: SSE `data:` events of `chat.completion.chunk`s ending
//! with `data: [DONE]` (protocol reference §1.4, §6), turned into
//! [`StreamEvent`]s.
//!
//! - Tool calls are keyed by their `index`: the first fragment carries id and
//!   name, later ones only argument text; a call sent whole in one delta
//!   works too. A fragment whose id differs from the call already at its
//!   index starts a new call: Ollama's `/v1` streams every call with
//!   `index: 0` (ollama/ollama#15457). Without an index, a known id continues
//!   its call. [`StreamEvent::ToolCallEnd`] follows once the choice finishes.
//! - Usage may come on any chunk (the `choices: []` chunk that
//!   `include_usage` adds, Groq's `x_groq.usage`); `usage: null` is ignored.
//! - Only choice index 0 is followed when `n > 1`.
//! - [`StreamEvent::Finish`] is emitted at `[DONE]`, after the usage; a body
//!   that ends without `[DONE]` was cut ([`Error::stream_ended_early`]).
//! - Errors in the stream: a `data:` event whose JSON has an `error`
//!   (OpenAI, OpenRouter, newer llama.cpp), an `event: error`, and the
//!   non-standard `error: {...}` SSE field of older llama.cpp servers
//!   ([`ErrorFieldFraming`] makes the latter an `event: error`). A
//!   `finish_reason: "error"` (OpenRouter) is a transient error too.
//!   Undecodable JSON is a decode error (transient).

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use super::response::finish_reason;
use super::wire::ChatChunk;
use crate::providers::http::body::{FrameHandler, Framing};
use crate::providers::http::errors;
use crate::providers::http::{SseDecoder, SseEvent};
use crate::{Error, Result, Secret, StreamEvent};

/// A tool call seen in the stream.
#[derive(Debug)]
struct OpenCall {
    /// The `index` the server gave it.
    wire: u64,
    /// Its id, if the server gave one.
    id: Option<String>,
    /// Not ended yet.
    open: bool,
}

/// The stream state machine for one answer.
#[derive(Debug)]
pub(crate) struct ChunkHandler {
    /// The model the server names in its chunks, shared with the caller that
    /// builds the [`crate::EventStream`].
    model: Arc<OnceLock<String>>,
    secret: Option<Secret>,
    /// Tool calls seen, in order.
    calls: Vec<OpenCall>,
    finish: Option<String>,
    refusal: bool,
    done: bool,
}

impl ChunkHandler {
    pub(super) fn new(model: Arc<OnceLock<String>>, secret: Option<Secret>) -> Self {
        ChunkHandler {
            model,
            secret,
            calls: Vec::new(),
            finish: None,
            refusal: false,
            done: false,
        }
    }

    fn close_calls(&mut self, out: &mut VecDeque<StreamEvent>) {
        for (index, call) in self.calls.iter_mut().enumerate() {
            if call.open {
                call.open = false;
                out.push_back(StreamEvent::ToolCallEnd { index });
            }
        }
    }

    /// Our index of the call a fragment continues, if any.
    fn continued(&self, wire: Option<u64>, id: Option<&str>) -> Option<usize> {
        match (wire, id) {
            (Some(wire), id) => {
                self.calls
                    .iter()
                    .rposition(|c| c.wire == wire)
                    .filter(|&at| match (id, self.calls[at].id.as_deref()) {
                        (Some(new), Some(known)) => new == known,
                        _ => true,
                    })
            }
            (None, Some(id)) => self.calls.iter().rposition(|c| c.id.as_deref() == Some(id)),
            (None, None) => self.calls.len().checked_sub(1),
        }
    }

    fn error_event(&self, data: &str) -> Error {
        let json = match serde_json::from_str::<Value>(data) {
            // `{"error": {...}}`, or the bare error object llama.cpp sends.
            Ok(json) if json.get("error").is_some() => json,
            Ok(json) => serde_json::json!({ "error": json }),
            Err(_) if data.trim().is_empty() => serde_json::json!({ "error": {} }),
            Err(_) => serde_json::json!({ "error": { "message": data.trim() } }),
        };
        errors::from_stream_event(&json, self.secret.as_ref())
    }

    /// A `data:` event read through a `Value` first, as every event once
    /// was: undecodable JSON, an error object, JSON of another shape, or a
    /// chunk that only reads whole (a duplicated key keeps its last value).
    fn reread(&self, data: &str) -> Result<ChatChunk> {
        let secret = self.secret.as_ref();
        let json: Value = serde_json::from_str(data)
            .map_err(|e| errors::decode_error("undecodable stream event", &e, secret))?;
        if json.get("error").is_some_and(|e| !e.is_null()) {
            return Err(errors::from_stream_event(&json, secret));
        }
        serde_json::from_value(json)
            .map_err(|e| errors::decode_error("unexpected stream chunk", &e, secret))
    }

    fn on_done(&mut self, out: &mut VecDeque<StreamEvent>) {
        self.close_calls(out);
        let reason = finish_reason(self.finish.as_deref(), !self.calls.is_empty(), self.refusal);
        out.push_back(StreamEvent::finish(reason));
        self.done = true;
    }

    fn on_chunk(&mut self, chunk: ChatChunk, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        if let Some(model) = chunk.model.filter(|m| !m.is_empty()) {
            if self.model.get().is_none() {
                let _ = self.model.set(model);
            }
        }
        for choice in chunk.choices {
            if choice.index.unwrap_or(0) != 0 {
                continue;
            }
            if let Some(mut delta) = choice.delta {
                if let Some(reasoning) = delta.reasoning_text() {
                    out.push_back(StreamEvent::ThinkingDelta {
                        text: reasoning.to_owned(),
                    });
                }
                // A string content moves into the event uncopied.
                let content = match delta.content.take() {
                    Some(Value::String(text)) => text,
                    other => {
                        delta.content = other;
                        delta.content_text().into_owned()
                    }
                };
                if !content.is_empty() {
                    out.push_back(StreamEvent::text(content));
                }
                if let Some(refusal) = delta.refusal.as_deref().filter(|r| !r.is_empty()) {
                    self.refusal = true;
                    out.push_back(StreamEvent::text(refusal));
                }
                for call in &delta.tool_calls {
                    let id = call.id.as_deref().filter(|id| !id.is_empty());
                    let index = match self.continued(call.index, id) {
                        Some(index) => index,
                        None => {
                            let index = self.calls.len();
                            self.calls.push(OpenCall {
                                wire: call
                                    .index
                                    .unwrap_or_else(|| u64::try_from(index).unwrap_or(u64::MAX)),
                                id: id.map(str::to_owned),
                                open: true,
                            });
                            let function = call.function.as_ref();
                            out.push_back(StreamEvent::ToolCallStart {
                                index,
                                id: id.unwrap_or_default().to_owned(),
                                name: function.and_then(|f| f.name.clone()).unwrap_or_default(),
                            });
                            index
                        }
                    };
                    if let Some(known) = self.calls.get_mut(index) {
                        if known.id.is_none() {
                            known.id = id.map(str::to_owned);
                        }
                    }
                    if let Some(function) = &call.function {
                        let arguments = function.arguments_text();
                        if !arguments.is_empty() {
                            out.push_back(StreamEvent::ToolCallDelta {
                                index,
                                arguments: arguments.into_owned(),
                            });
                        }
                    }
                }
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                if reason == "error" {
                    return Err(super::response::finish_error());
                }
                self.close_calls(out);
                self.finish = Some(reason);
            }
        }
        if let Some(usage) = chunk.usage.or(chunk.x_groq.and_then(|x| x.usage)) {
            out.push_back(StreamEvent::Usage {
                usage: usage.to_usage(),
            });
        }
        Ok(())
    }
}

impl FrameHandler<SseEvent> for ChunkHandler {
    fn on_frame(&mut self, frame: SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        if frame.event == "error" {
            return Err(self.error_event(&frame.data));
        }
        let data = frame.data.trim();
        if data.is_empty() {
            return Ok(()); // an empty keep-alive
        }
        if data == "[DONE]" {
            self.on_done(out);
            return Ok(());
        }
        // Straight into the chunk type: the usual event is read once. An
        // error event, or one that does not fit the type, is read again
        // through a `Value`, which says which of the two it is.
        let chunk = match serde_json::from_str::<ChatChunk>(data) {
            Ok(chunk) if chunk.error.as_ref().is_none_or(Value::is_null) => chunk,
            _ => self.reread(data)?,
        };
        self.on_chunk(chunk, out)
    }

    fn is_done(&self) -> bool {
        self.done
    }

    /// Some proxies answer `stream: true` with the whole chat completion:
    /// replay it as the events its stream would have carried.
    fn on_whole_body(&mut self, body: &[u8], out: &mut VecDeque<StreamEvent>) -> Result<()> {
        let response = super::response::parse(body, "", "", self.secret.as_ref())?;
        if !response.model.is_empty() {
            let _ = self.model.set(response.model.clone());
        }
        out.extend(crate::response_to_events(&response));
        self.done = true;
        Ok(())
    }
}

/// An [`SseDecoder`] that also understands the non-standard `error:` field
/// older llama.cpp servers send for a mid-stream failure (`error: {json}`
/// followed by `data: [DONE]`): a line starting `error:` is read as
/// `event: error` plus `data:`. The standard decoder drops unknown fields, so
/// without this such a failure would look like a short, clean answer.
#[derive(Debug)]
pub(crate) struct ErrorFieldFraming {
    inner: SseDecoder,
    at_line_start: bool,
    /// Bytes at a line start that may still become `error:`.
    pending: Vec<u8>,
    scratch: Vec<u8>,
}

const ERROR_FIELD: &[u8] = b"error:";

impl ErrorFieldFraming {
    pub(super) fn new() -> Self {
        ErrorFieldFraming {
            inner: SseDecoder::new(),
            at_line_start: true,
            pending: Vec::new(),
            scratch: Vec::new(),
        }
    }
}

impl Framing for ErrorFieldFraming {
    type Frame = SseEvent;

    fn feed(&mut self, chunk: &[u8]) {
        self.scratch.clear();
        let mut rest = chunk;
        while !rest.is_empty() {
            if !self.at_line_start {
                // Copy up to and including the next line end in one go.
                match memchr::memchr2(b'\n', b'\r', rest) {
                    Some(end) => {
                        self.scratch.extend_from_slice(&rest[..=end]);
                        rest = &rest[end + 1..];
                        self.at_line_start = true;
                    }
                    None => {
                        self.scratch.extend_from_slice(rest);
                        rest = &[];
                    }
                }
                continue;
            }
            let b = rest[0];
            rest = &rest[1..];
            self.pending.push(b);
            if self.pending == ERROR_FIELD {
                self.scratch.extend_from_slice(b"event: error\ndata:");
                self.pending.clear();
                self.at_line_start = false;
            } else if !ERROR_FIELD.starts_with(&self.pending) {
                self.scratch.append(&mut self.pending);
                self.at_line_start = b == b'\n' || b == b'\r';
            }
        }
        self.inner.feed(&self.scratch);
    }

    fn next_frame(&mut self) -> Option<SseEvent> {
        self.inner.next_event()
    }

    fn finish(&mut self) -> Option<SseEvent> {
        None
    }

    fn buffered(&self) -> usize {
        self.inner.buffered() + self.pending.len()
    }

    fn frame_size(frame: &SseEvent) -> usize {
        <SseDecoder as Framing>::frame_size(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FinishReason;

    fn frames(chunks: &[&[u8]]) -> Vec<SseEvent> {
        crate::providers::http::frames_of(ErrorFieldFraming::new(), chunks)
    }

    #[test]
    fn the_error_field_becomes_an_error_event_across_any_split() {
        let bytes =
            b"data: {\"a\":1}\n\nerror: {\"code\":500,\"message\":\"boom\"}\n\ndata: [DONE]\n\n";
        for size in 1..bytes.len() {
            let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
            let events = frames(&chunks);
            assert_eq!(events.len(), 3, "size {size}");
            assert_eq!(events[0].event, "");
            assert_eq!(events[1].event, "error");
            assert_eq!(events[1].data, "{\"code\":500,\"message\":\"boom\"}");
            assert_eq!(events[2].data, "[DONE]");
        }
    }

    #[test]
    fn lines_that_only_start_like_error_are_untouched() {
        let events = frames(&[b"errors: x\ndata: err\n\n: error: comment\n\ndata: y\r\n\r\n"]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event, "");
        assert_eq!(events[0].data, "err");
        assert_eq!(events[1].data, "y");
    }

    #[test]
    fn events_read_directly_keep_every_reading_of_the_value_path() {
        let data = |json: &str| SseEvent {
            data: json.into(),
            ..SseEvent::default()
        };
        let mut h = ChunkHandler::new(Arc::default(), None);
        let mut out = VecDeque::new();
        // A duplicated key reads whole (the last value wins), as it did
        // through a `Value`.
        h.on_frame(
            data(r#"{"choices":[{"index":0,"delta":{"content":"a"}}],"choices":[{"index":0,"delta":{"content":"b"}}]}"#),
            &mut out,
        )
        .unwrap();
        assert!(matches!(out.pop_front(), Some(StreamEvent::TextDelta { text }) if text == "b"));
        // `"error": null` is a plain chunk.
        h.on_frame(
            data(r#"{"error":null,"choices":[{"index":0,"delta":{"content":"c"}}]}"#),
            &mut out,
        )
        .unwrap();
        assert!(matches!(out.pop_front(), Some(StreamEvent::TextDelta { text }) if text == "c"));
        // An error object is the error it carries.
        let e = h
            .on_frame(data(r#"{"error":{"code":429,"message":"slow"}}"#), &mut out)
            .unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::Transient, "{e:?}");
        assert!(e.message().contains("slow"), "{e:?}");
        // Undecodable JSON and a chunk of the wrong shape are decode errors.
        let e = h.on_frame(data("{not json"), &mut out).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Decode);
        assert!(e.message().contains("undecodable stream event"), "{e:?}");
        let e = h
            .on_frame(data(r#"{"choices":"many"}"#), &mut out)
            .unwrap_err();
        assert!(e.message().contains("unexpected stream chunk"), "{e:?}");
    }

    #[test]
    fn stop_with_tool_calls_pending_is_tool_calls() {
        let mut h = ChunkHandler::new(Arc::default(), None);
        let mut out = VecDeque::new();
        h.on_frame(
            SseEvent {
                data: r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}]}"#.into(),
                ..SseEvent::default()
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(
            finish_reason(h.finish.as_deref(), !h.calls.is_empty(), h.refusal),
            FinishReason::ToolCalls
        );
        assert!(!h.is_done());
    }
}
