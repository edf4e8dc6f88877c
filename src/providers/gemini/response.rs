//! Reading Gemini answers: candidate parts become [`StreamEvent`]s (one
//! mapping for whole responses and stream chunks, so both fold the same way),
//! plus finish reasons, usage and a blocked prompt.
//!
//! A `thoughtSignature` on a part becomes a [`crate::Thinking`] part with
//! empty text and the signature, placed right *after* the part it belongs to
//! (the stream fold would merge a signature placed before a function call
//! into a preceding thought summary, losing its position). On the way back
//! the request builder re-attaches it to that same part.

use serde_json::json;

use super::wire::{self, GenerateContentResponse, UsageMetadata};
use crate::{Error, FinishReason, Response, StreamAccumulator, StreamEvent, Usage};

/// Turns candidate parts into events, across the chunks of one answer.
#[derive(Debug, Default)]
pub(crate) struct PartMapper {
    next_tool: usize,
}

impl PartMapper {
    /// True once the answer holds a function call.
    pub(crate) fn saw_tool_calls(&self) -> bool {
        self.next_tool > 0
    }

    /// The events for `parts`, appended to `out`.
    pub(crate) fn push(&mut self, parts: Vec<wire::Part>, out: &mut impl Extend<StreamEvent>) {
        for part in parts {
            let signature = part.thought_signature.filter(|s| !s.is_empty());
            if part.thought == Some(true) {
                let text = part.text.unwrap_or_default();
                if !text.is_empty() || signature.is_some() {
                    out.extend([StreamEvent::ThinkingDelta { text }]);
                }
                if let Some(signature) = signature {
                    out.extend([StreamEvent::ThinkingSignature { signature }]);
                }
                continue;
            }
            if let Some(call) = part.function_call {
                let index = self.next_tool;
                self.next_tool += 1;
                let id = call
                    .id
                    .filter(|id| !id.is_empty())
                    .unwrap_or_else(|| format!("call_{index}"));
                let args = match call.args {
                    Some(v @ serde_json::Value::Object(_)) => v,
                    Some(serde_json::Value::Null) | None => json!({}),
                    Some(other) => other,
                };
                out.extend([
                    StreamEvent::ToolCallStart {
                        index,
                        id,
                        name: call.name,
                    },
                    StreamEvent::ToolCallDelta {
                        index,
                        arguments: args.to_string(),
                    },
                    StreamEvent::ToolCallEnd { index },
                ]);
            } else if let Some(text) = part.text.filter(|t| !t.is_empty()) {
                out.extend([StreamEvent::TextDelta { text }]);
            }
            // Other part kinds (inline output data, code execution) are not
            // part of the contract; their signatures are still kept.
            if let Some(signature) = signature {
                out.extend([
                    StreamEvent::ThinkingDelta {
                        text: String::new(),
                    },
                    StreamEvent::ThinkingSignature { signature },
                ]);
            }
        }
    }
}

/// Gemini's `finishReason` in our terms. `STOP` with function calls is
/// [`FinishReason::ToolCalls`] (Gemini has no separate reason for them).
pub(crate) fn finish_reason(raw: &str, has_tool_calls: bool) -> FinishReason {
    match raw {
        "STOP" if has_tool_calls => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Our usage from `usageMetadata`: output counts thoughts too (Gemini reports
/// them apart from `candidatesTokenCount`; our `output_tokens` includes reasoning).
pub(crate) fn usage(meta: &UsageMetadata) -> Usage {
    let output = match (meta.candidates_token_count, meta.thoughts_token_count) {
        (None, None) => None,
        (c, t) => Some(c.unwrap_or(0) + t.unwrap_or(0)),
    };
    Usage {
        input_tokens: meta.prompt_token_count,
        output_tokens: output,
        cached_input_tokens: meta.cached_content_token_count,
        reasoning_tokens: meta.thoughts_token_count,
    }
}

/// The request-specific error for a prompt Gemini refused to answer.
pub(crate) fn blocked(response: &GenerateContentResponse) -> Option<Error> {
    if !response.candidates.is_empty() {
        return None;
    }
    let feedback = response.prompt_feedback.as_ref()?;
    let reason = feedback.block_reason.as_deref()?;
    let mut message = format!("the prompt was blocked ({reason})");
    if let Some(detail) = feedback.block_reason_message.as_deref() {
        message.push_str(": ");
        message.push_str(detail);
    }
    Some(Error::content_filtered(message))
}

/// The [`Response`] for a whole `generateContent` answer, folded from the
/// same events a stream of it would yield.
///
/// # Errors
/// A content-filter error for a blocked prompt; a decode error for an answer
/// with no candidate at all.
pub(crate) fn to_response(
    response: GenerateContentResponse,
    provider: &str,
    requested_model: &str,
) -> Result<Response, Error> {
    if let Some(error) = blocked(&response) {
        return Err(error);
    }
    let GenerateContentResponse {
        candidates,
        usage_metadata,
        model_version,
        response_id,
        ..
    } = response;
    let Some(candidate) = candidates.into_iter().next() else {
        return Err(Error::decode("the answer has no candidates"));
    };
    let mut events = Vec::new();
    let mut mapper = PartMapper::default();
    if let Some(content) = candidate.content {
        mapper.push(content.parts, &mut events);
    }
    if let Some(meta) = &usage_metadata {
        events.push(StreamEvent::Usage { usage: usage(meta) });
    }
    let reason = candidate.finish_reason.as_deref().unwrap_or("STOP");
    events.push(StreamEvent::finish(finish_reason(
        reason,
        mapper.saw_tool_calls(),
    )));
    let mut acc = StreamAccumulator::new();
    for event in events {
        acc.push(event);
    }
    let model = model_version
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| requested_model.to_owned());
    let mut out = acc.finish(provider, model);
    let mut raw = serde_json::Map::new();
    if let Some(id) = response_id {
        raw.insert("responseId".into(), id.into());
    }
    if let Some(version) = model_version {
        raw.insert("modelVersion".into(), version.into());
    }
    if !raw.is_empty() {
        out.raw = Some(serde_json::Value::Object(raw));
    }
    Ok(out)
}
