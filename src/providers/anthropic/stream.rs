//! The Messages stream state machine (protocol reference §3.4): SSE events,
//! dispatched on their JSON `type` (never the `event:` name), into
//! [`StreamEvent`]s.
//!
//! - `message_start` gives the model and the input usage; `message_delta`
//!   the stop reason and cumulative usage; `message_stop` ends the stream.
//! - Blocks are tracked by Anthropic's block index; tool calls are numbered by
//!   their position among tool calls (0, 1, …) for [`StreamEvent`]s.
//! - A block cut off without its `content_block_stop` (the answer hit
//!   `max_tokens`) is closed at `message_stop`, its partial JSON kept as is.
//! - `ping`, `citations_delta` and unknown event, block or delta types are
//!   ignored, and so is the streamed input of blocks that are not tool calls
//!   of ours (`server_tool_use`); an `error` event ends the stream with its
//!   classified error.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use super::response::finish_reason;
use super::wire::{DeltaWire, ResponseBlock, StreamEventWire, WireUsage};
use crate::providers::http::body::{FrameHandler, Framing};
use crate::providers::http::errors;
use crate::providers::http::{SseDecoder, SseEvent};
use crate::{Result, Secret, StreamEvent};

/// SSE framing ([`SseDecoder`]) that also takes a last event whose body ended
/// without the blank line after it, when its data is whole JSON: a body that
/// ends right after `data: {"type":"message_stop"}` is complete. A last event
/// cut inside its JSON is still discarded, so the stream counts as cut short.
#[derive(Debug, Default)]
pub(crate) struct MessagesFraming {
    sse: SseDecoder,
}

impl MessagesFraming {
    pub(super) fn new() -> Self {
        MessagesFraming {
            sse: SseDecoder::new(),
        }
    }
}

impl Framing for MessagesFraming {
    type Frame = SseEvent;

    fn feed(&mut self, chunk: &[u8]) {
        self.sse.feed(chunk);
    }

    fn next_frame(&mut self) -> Option<SseEvent> {
        self.sse.next_event()
    }

    fn buffered(&self) -> usize {
        self.sse.buffered()
    }

    fn frame_size(frame: &SseEvent) -> usize {
        <SseDecoder as Framing>::frame_size(frame)
    }

    fn finish(&mut self) -> Option<SseEvent> {
        if let Some(event) = self.sse.next_event() {
            return Some(event);
        }
        if self.sse.is_idle() {
            return None;
        }
        self.sse.feed(b"\n\n");
        let event = self.sse.next_event()?;
        serde_json::from_str::<serde::de::IgnoredAny>(&event.data)
            .is_ok()
            .then_some(event)
    }
}

/// What a content block in progress is.
#[derive(Debug)]
enum BlockState {
    Text,
    Thinking,
    Tool {
        /// Position among this answer's tool calls.
        index: usize,
        /// The `input` given whole in `content_block_start`, if not empty.
        start_input: Option<Value>,
        /// An `input_json_delta` with content has been seen.
        streamed: bool,
        ended: bool,
    },
    Other,
}

/// The stream handler for one Messages answer.
#[derive(Debug)]
pub(crate) struct MessagesStream {
    secret: Option<Secret>,
    model: Arc<OnceLock<String>>,
    blocks: HashMap<u64, BlockState>,
    tool_calls: usize,
    usage: WireUsage,
    stop_reason: Option<String>,
    done: bool,
}

impl MessagesStream {
    /// A handler that redacts `secret` from errors and records the model the
    /// server names in `model`.
    pub(super) fn new(secret: Option<Secret>, model: Arc<OnceLock<String>>) -> Self {
        MessagesStream {
            secret,
            model,
            blocks: HashMap::new(),
            tool_calls: 0,
            usage: WireUsage::default(),
            stop_reason: None,
            done: false,
        }
    }

    fn new_tool(&mut self) -> usize {
        let index = self.tool_calls;
        self.tool_calls += 1;
        index
    }

    fn push_usage(&mut self, usage: Option<WireUsage>, out: &mut VecDeque<StreamEvent>) {
        if let Some(usage) = usage {
            self.usage.merge(&usage);
            out.push_back(StreamEvent::Usage {
                usage: self.usage.to_usage(),
            });
        }
    }

    fn block_start(&mut self, index: u64, block: ResponseBlock, out: &mut VecDeque<StreamEvent>) {
        let state = match block {
            ResponseBlock::Text { text } => {
                if !text.is_empty() {
                    out.push_back(StreamEvent::TextDelta { text });
                }
                BlockState::Text
            }
            ResponseBlock::Thinking {
                thinking,
                signature,
            } => {
                // Always open a fresh reasoning part, even when its text is empty
                // (display "omitted" sends only a signature).
                out.push_back(StreamEvent::ThinkingDelta { text: thinking });
                if let Some(signature) = signature.filter(|s| !s.is_empty()) {
                    out.push_back(StreamEvent::ThinkingSignature { signature });
                }
                BlockState::Thinking
            }
            ResponseBlock::RedactedThinking { data } => {
                out.push_back(StreamEvent::RedactedThinking { data });
                BlockState::Other
            }
            ResponseBlock::ToolUse { id, name, input } => {
                let tool = self.new_tool();
                out.push_back(StreamEvent::ToolCallStart {
                    index: tool,
                    id,
                    name,
                });
                let start_input = match input {
                    Value::Object(map) if map.is_empty() => None,
                    Value::Null => None,
                    other => Some(other),
                };
                BlockState::Tool {
                    index: tool,
                    start_input,
                    streamed: false,
                    ended: false,
                }
            }
            ResponseBlock::Other => BlockState::Other,
        };
        self.blocks.insert(index, state);
    }

    fn block_delta(&mut self, index: u64, delta: DeltaWire, out: &mut VecDeque<StreamEvent>) {
        match delta {
            DeltaWire::TextDelta { text } => {
                if !text.is_empty() {
                    out.push_back(StreamEvent::TextDelta { text });
                }
            }
            DeltaWire::ThinkingDelta { thinking } => {
                if !thinking.is_empty() {
                    out.push_back(StreamEvent::ThinkingDelta { text: thinking });
                }
            }
            DeltaWire::SignatureDelta { signature } => {
                if !signature.is_empty() {
                    out.push_back(StreamEvent::ThinkingSignature { signature });
                }
            }
            DeltaWire::InputJsonDelta { partial_json } => {
                let tool = match self.blocks.get_mut(&index) {
                    Some(BlockState::Tool {
                        index, streamed, ..
                    }) => {
                        if !partial_json.is_empty() {
                            *streamed = true;
                        }
                        *index
                    }
                    // The input of a server tool (`server_tool_use`, e.g. web
                    // search) or another block that is not a tool call of ours.
                    Some(_) => return,
                    None => {
                        // Arguments for a block that never started: keep them
                        // under a tool call of their own rather than drop them.
                        let tool = self.new_tool();
                        self.blocks.insert(
                            index,
                            BlockState::Tool {
                                index: tool,
                                start_input: None,
                                streamed: true,
                                ended: false,
                            },
                        );
                        tool
                    }
                };
                if !partial_json.is_empty() {
                    out.push_back(StreamEvent::ToolCallDelta {
                        index: tool,
                        arguments: partial_json,
                    });
                }
            }
            DeltaWire::Other => {}
        }
    }

    fn block_stop(&mut self, index: u64, out: &mut VecDeque<StreamEvent>) {
        if let Some(state) = self.blocks.get_mut(&index) {
            close(state, out);
        }
    }

    /// Closes every tool call still open (cut by `max_tokens`), in call order.
    fn close_all(&mut self, out: &mut VecDeque<StreamEvent>) {
        let mut open: Vec<&mut BlockState> = self
            .blocks
            .values_mut()
            .filter(|s| matches!(s, BlockState::Tool { ended: false, .. }))
            .collect();
        open.sort_by_key(|s| match s {
            BlockState::Tool { index, .. } => *index,
            _ => usize::MAX,
        });
        for state in open {
            close(state, out);
        }
    }
}

/// Ends a block: a tool call gets its whole `input` (if it came whole in
/// `content_block_start`) and its end event.
fn close(state: &mut BlockState, out: &mut VecDeque<StreamEvent>) {
    if let BlockState::Tool {
        index,
        start_input,
        streamed,
        ended,
    } = state
    {
        if *ended {
            return;
        }
        if !*streamed {
            if let Some(input) = start_input.take() {
                out.push_back(StreamEvent::ToolCallDelta {
                    index: *index,
                    arguments: input.to_string(),
                });
            }
        }
        out.push_back(StreamEvent::ToolCallEnd { index: *index });
        *ended = true;
    }
}

impl FrameHandler<SseEvent> for MessagesStream {
    fn on_frame(&mut self, frame: SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        if frame.data.trim().is_empty() {
            return Ok(());
        }
        let event: StreamEventWire = serde_json::from_str(&frame.data).map_err(|e| {
            errors::decode_error("undecodable stream event", &e, self.secret.as_ref())
        })?;
        match event {
            StreamEventWire::MessageStart { message } => {
                if let Some(model) = message.model.filter(|m| !m.is_empty()) {
                    let _ = self.model.set(model);
                }
                self.push_usage(message.usage, out);
            }
            StreamEventWire::ContentBlockStart {
                index,
                content_block,
            } => self.block_start(index, content_block, out),
            StreamEventWire::ContentBlockDelta { index, delta } => {
                self.block_delta(index, delta, out);
            }
            StreamEventWire::ContentBlockStop { index } => self.block_stop(index, out),
            StreamEventWire::MessageDelta { delta, usage } => {
                if delta.stop_reason.is_some() {
                    self.stop_reason = delta.stop_reason;
                }
                self.push_usage(usage, out);
            }
            StreamEventWire::MessageStop => {
                self.close_all(out);
                let reason = finish_reason(self.stop_reason.as_deref(), self.tool_calls > 0);
                out.push_back(StreamEvent::Finish { reason });
                self.done = true;
            }
            StreamEventWire::Error { error } => {
                let json = serde_json::json!({"type": "error", "error": error});
                return Err(errors::from_stream_event(&json, self.secret.as_ref()));
            }
            StreamEventWire::Ping | StreamEventWire::Unknown => {}
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.done
    }

    /// Some proxies answer `stream: true` with the whole Messages response:
    /// replay it as the events its stream would have carried.
    fn on_whole_body(&mut self, body: &[u8], out: &mut VecDeque<StreamEvent>) -> Result<()> {
        let json: Value = match serde_json::from_slice::<Value>(body) {
            Ok(json) if json.get("type").and_then(Value::as_str) == Some("message") => json,
            _ => return crate::providers::http::body::whole_body_error(body),
        };
        let wire: super::wire::MessagesResponse = serde_json::from_value(json).map_err(|e| {
            errors::decode_error("unexpected response body", &e, self.secret.as_ref())
        })?;
        if let Some(model) = wire.model.clone().filter(|m| !m.is_empty()) {
            let _ = self.model.set(model);
        }
        let response = super::response::into_response(wire, "", "");
        out.extend(crate::response_to_events(&response));
        self.done = true;
        Ok(())
    }
}
