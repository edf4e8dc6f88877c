//! The `streamGenerateContent?alt=sse` state machine.
//!
//! Each `data:` line holds a whole `GenerateContentResponse` fragment: text
//! arrives in pieces, function calls arrive whole, `usageMetadata` may ride on
//! any chunk (later ones refine earlier ones). There is no `[DONE]`: the answer
//! is complete once a candidate has carried a `finishReason` and the body then
//! ends. A body that ends before any `finishReason` was cut short. Reading goes
//! on to the end of the body after a `finishReason`, since older models put
//! `finishReason: STOP` on every chunk.

use std::collections::VecDeque;

use super::response::{PartMapper, blocked, finish_reason, usage};
use super::wire::{GenerateContentResponse, UsageMetadata};
use crate::providers::http::SseEvent;
use crate::providers::http::body::FrameHandler;
use crate::providers::http::errors;
use crate::{Error, Result, Secret, StreamEvent};

/// One stream's state.
#[derive(Debug, Default)]
pub(crate) struct GeminiStream {
    mapper: PartMapper,
    finish: Option<String>,
    usage: Option<UsageMetadata>,
    secret: Option<Secret>,
}

impl GeminiStream {
    /// A stream whose in-band errors are redacted of `secret`.
    pub(crate) fn new(secret: Option<Secret>) -> Self {
        GeminiStream {
            secret,
            ..GeminiStream::default()
        }
    }
}

impl FrameHandler<SseEvent> for GeminiStream {
    fn on_frame(&mut self, frame: SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        let data = frame.data.trim();
        // Keep-alives and a proxy's `[DONE]` carry nothing.
        if data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let value: serde_json::Value = serde_json::from_str(data).map_err(|e| {
            errors::decode_error("undecodable stream chunk", &e, self.secret.as_ref())
        })?;
        if value.get("error").is_some_and(|e| !e.is_null()) {
            return Err(errors::from_stream_event(&value, self.secret.as_ref()));
        }
        let chunk: GenerateContentResponse = serde_json::from_value(value).map_err(|e| {
            errors::decode_error("unexpected stream chunk", &e, self.secret.as_ref())
        })?;
        if let Some(error) = blocked(&chunk) {
            return Err(error);
        }
        if let Some(meta) = &chunk.usage_metadata {
            self.usage
                .get_or_insert_with(UsageMetadata::default)
                .merge(meta);
        }
        if let Some(candidate) = chunk.candidates.into_iter().next() {
            if let Some(content) = candidate.content {
                self.mapper.push(content.parts, out);
            }
            if let Some(reason) = candidate.finish_reason.filter(|r| !r.is_empty()) {
                self.finish = Some(reason);
            }
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        // Read to the end of the body: see the module docs.
        false
    }

    /// A whole JSON answer where a stream was asked for (a proxy that ignores
    /// `alt=sse` sends the JSON array of chunks, or one response): each
    /// element is read as one chunk.
    fn on_whole_body(&mut self, body: &[u8], out: &mut VecDeque<StreamEvent>) -> Result<()> {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
            errors::decode_error("undecodable response body", &e, self.secret.as_ref())
        })?;
        let chunks = match value {
            serde_json::Value::Array(items) => items,
            other => vec![other],
        };
        for chunk in chunks {
            let frame = SseEvent {
                data: chunk.to_string(),
                ..SseEvent::default()
            };
            self.on_frame(frame, out)?;
        }
        self.on_end(out)
    }

    fn on_end(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        let Some(reason) = self.finish.take() else {
            return Err(Error::stream_ended_early());
        };
        if let Some(meta) = &self.usage {
            out.push_back(StreamEvent::Usage { usage: usage(meta) });
        }
        out.push_back(StreamEvent::finish(finish_reason(
            &reason,
            self.mapper.saw_tool_calls(),
        )));
        Ok(())
    }
}
