//! Building the Chat Completions request body from a [`Request`].
//!
//! Mapping (protocol reference §1.2):
//! - the system prompt, and system messages, go as role `system` (OpenAI
//!   accepts it for every model; many compatible servers and chat templates
//!   do not know `developer`);
//! - user text and images (`image_url` with the http(s) or `data:` URL, or a
//!   `data:<type>;base64,` URL built from inline bytes);
//! - assistant text and tool calls (`arguments` as a JSON string,
//!   `content: null` when the turn has no text); thinking parts are dropped:
//!   Chat Completions has no field that takes reasoning back;
//! - each tool result as its own `role: tool` message;
//! - tool-call ids that OpenAI would reject (empty, over 40 characters, or
//!   with characters outside `[A-Za-z0-9_-]`, as other providers may produce)
//!   are replaced consistently in calls and results.
//!
//! Reasoning levels map to `reasoning_effort` (see [`reasoning_effort`]).

use std::borrow::Cow;
use std::collections::VecDeque;

use base64::Engine as _;

use super::config::MaxTokensField;
use super::wire::{
    ChatRequest, OutContent, OutFunction, OutFunctionCall, OutImageUrl, OutJsonSchema, OutMessage,
    OutNamed, OutPart, OutResponseFormat, OutTool, OutToolCall, OutToolChoice, StreamOptions,
};
use crate::{
    Error, ImageSource, Message, Part, ReasoningLevel, Request, ResponseFormat, Result, Role,
    ToolChoice,
};

/// The protocol choices of one provider instance.
#[derive(Debug, Clone)]
pub(super) struct Protocol {
    /// Resolved: never [`MaxTokensField::Auto`].
    pub max_tokens_field: MaxTokensField,
    /// The effort sent for [`ReasoningLevel::Max`].
    pub max_effort: String,
}

/// The serialized body for `model`.
pub(super) fn build_body(
    protocol: &Protocol,
    model: &str,
    request: &Request,
    stream: bool,
) -> Result<Vec<u8>> {
    let body = build(protocol, model, request, stream);
    serde_json::to_vec(&body)
        .map_err(|e| Error::config(format!("cannot serialize the request: {e}")))
}

/// The request body, borrowing from `request`.
pub(super) fn build<'a>(
    protocol: &'a Protocol,
    model: &'a str,
    request: &'a Request,
    stream: bool,
) -> ChatRequest<'a> {
    let options = request.model_options();
    let tools: Vec<OutTool<'a>> = request
        .tool_list()
        .iter()
        .map(|t| OutTool {
            kind: "function",
            function: OutFunction {
                name: &t.name,
                description: &t.description,
                parameters: &t.parameters,
            },
        })
        .collect();
    // The spec's default is `none` without tools; a choice without tools is
    // meaningless and some servers reject it.
    let tool_choice = (!tools.is_empty()).then(|| match request.tool_choice_mode() {
        ToolChoice::None => OutToolChoice::Mode("none"),
        ToolChoice::Required => OutToolChoice::Mode("required"),
        ToolChoice::Tool(name) => OutToolChoice::Function {
            kind: "function",
            function: OutNamed { name },
        },
        ToolChoice::Auto => OutToolChoice::Mode("auto"),
    });
    let (max_tokens, max_completion_tokens) = match protocol.max_tokens_field {
        MaxTokensField::MaxCompletionTokens => (None, options.max_tokens),
        _ => (options.max_tokens, None),
    };
    ChatRequest {
        model,
        messages: messages(request),
        temperature: options.temperature,
        top_p: options.top_p,
        stop: &options.stop,
        seed: options.seed,
        max_tokens,
        max_completion_tokens,
        tools,
        tool_choice,
        response_format: response_format(request.output_format()),
        reasoning_effort: request
            .reasoning_level()
            .map(|level| reasoning_effort(level, &protocol.max_effort)),
        stream,
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
    }
}

/// The `reasoning_effort` for `level`.
///
/// OpenAI's values are `none`, `minimal`, `low`, `medium`, `high` and `xhigh`
/// (support varies by model). The mapping:
///
/// | level | effort |
/// |---|---|
/// | `Off` | `none` |
/// | `Minimal`, `Low`, `Medium`, `High` | the same name |
/// | `Max` | `max_effort` (default `high`; see [`super::OpenAiConfig::max_reasoning_effort`]) |
/// | `Budget(n)` | the level whose [`ReasoningLevel::token_budget`] is nearest to `n`: below 1536 `minimal`, below 5120 `low`, below 12288 `medium`, below 24576 `high`, else as `Max`; `Budget(0)` is `none` |
pub(super) fn reasoning_effort(level: ReasoningLevel, max_effort: &str) -> &str {
    match level {
        ReasoningLevel::Off => "none",
        ReasoningLevel::Minimal => "minimal",
        ReasoningLevel::Low => "low",
        ReasoningLevel::Medium => "medium",
        ReasoningLevel::High => "high",
        ReasoningLevel::Max => max_effort,
        ReasoningLevel::Budget(n) => match n {
            0 => "none",
            1..1536 => "minimal",
            1536..5120 => "low",
            5120..12288 => "medium",
            12288..24576 => "high",
            _ => max_effort,
        },
    }
}

fn response_format(format: &ResponseFormat) -> Option<OutResponseFormat<'_>> {
    match format {
        ResponseFormat::Json => Some(OutResponseFormat::JsonObject),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => Some(OutResponseFormat::JsonSchema {
            json_schema: OutJsonSchema {
                name: schema_name(name),
                schema,
                strict: *strict,
            },
        }),
        ResponseFormat::Text => None,
    }
}

/// A schema name OpenAI accepts: `[a-zA-Z0-9_-]{1,64}`. Other characters
/// become `_`; an empty name becomes `response`.
pub(super) fn schema_name(name: &str) -> Cow<'_, str> {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !name.is_empty() && name.len() <= 64 && name.chars().all(ok) {
        return Cow::Borrowed(name);
    }
    let cleaned: String = name
        .chars()
        .map(|c| if ok(c) { c } else { '_' })
        .take(64)
        .collect();
    if cleaned.is_empty() {
        Cow::Borrowed("response")
    } else {
        Cow::Owned(cleaned)
    }
}

fn messages(request: &Request) -> Vec<OutMessage<'_>> {
    let mut out = Vec::with_capacity(request.messages().len() + 1);
    if let Some(system) = request.system_prompt() {
        out.push(OutMessage::System {
            content: OutContent::Text(system),
        });
    }
    let mut ids = IdMap::default();
    for message in request.messages() {
        push_message(&mut out, message, &mut ids);
    }
    out
}

fn push_message<'a>(out: &mut Vec<OutMessage<'a>>, message: &'a Message, ids: &mut IdMap) {
    match message.role {
        Role::System => {
            let texts: Vec<&str> = message.parts.iter().filter_map(Part::as_text).collect();
            out.push(OutMessage::System {
                content: text_content(&texts),
            });
        }
        Role::Assistant => {
            let mut text = String::new();
            let mut tool_calls = Vec::new();
            for part in &message.parts {
                match part {
                    Part::Text { text: t } => text.push_str(t),
                    Part::ToolCall(call) => tool_calls.push(OutToolCall {
                        id: ids.call(&call.id),
                        kind: "function",
                        function: OutFunctionCall {
                            name: &call.name,
                            arguments: arguments_text(&call.arguments),
                        },
                    }),
                    // Thinking (ours or another provider's), images: no field takes them.
                    _ => {}
                }
            }
            if text.is_empty() && tool_calls.is_empty() {
                return; // e.g. a turn that was only reasoning
            }
            out.push(OutMessage::Assistant {
                content: (!text.is_empty()).then_some(text),
                tool_calls,
            });
        }
        // Tool results become `role: tool` messages, the rest a user
        // message, in order.
        Role::User | Role::Tool => {
            let mut parts: Vec<OutPart<'a>> = Vec::new();
            for part in &message.parts {
                match part {
                    Part::ToolResult(result) => {
                        flush_user(out, &mut parts);
                        out.push(OutMessage::Tool {
                            tool_call_id: ids.result(&result.call_id),
                            content: &result.content,
                        });
                    }
                    Part::Text { text } => parts.push(OutPart::Text { text }),
                    Part::Image(image) => parts.push(OutPart::ImageUrl {
                        image_url: OutImageUrl {
                            url: image_url(&image.source),
                        },
                    }),
                    _ => {}
                }
            }
            if message.role == Role::User && message.parts.is_empty() {
                parts.push(OutPart::Text { text: "" });
            }
            flush_user(out, &mut parts);
        }
    }
}

/// Emits the pending user parts as one message: a plain string for a single
/// text part (what every compatible server takes), else an array of parts.
fn flush_user<'a>(out: &mut Vec<OutMessage<'a>>, parts: &mut Vec<OutPart<'a>>) {
    if parts.is_empty() {
        return;
    }
    let content = match parts.as_slice() {
        [OutPart::Text { text }] => OutContent::Text(text),
        _ => OutContent::Parts(std::mem::take(parts)),
    };
    parts.clear();
    out.push(OutMessage::User { content });
}

fn text_content<'a>(texts: &[&'a str]) -> OutContent<'a> {
    match texts {
        [] => OutContent::Text(""),
        [one] => OutContent::Text(one),
        many => OutContent::Parts(many.iter().map(|text| OutPart::Text { text }).collect()),
    }
}

fn image_url(source: &ImageSource) -> Cow<'_, str> {
    match source {
        ImageSource::Url { url } => Cow::Borrowed(url),
        ImageSource::Inline { media_type, data } => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(data);
            Cow::Owned(format!("data:{media_type};base64,{encoded}"))
        }
    }
}

/// Tool arguments as the JSON string the wire wants. Arguments kept as a
/// string (invalid JSON from an earlier turn) are sent as that text.
fn arguments_text(arguments: &serde_json::Value) -> String {
    match arguments {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => "{}".to_owned(),
        other => other.to_string(),
    }
}

/// Replaces tool-call ids OpenAI would reject, the same way in a call and in
/// its result. Ids that are fine pass through untouched.
#[derive(Debug, Default)]
struct IdMap {
    /// Ids given to calls that had none, waiting for their results (in order).
    unanswered_empty: VecDeque<String>,
    generated: usize,
}

impl IdMap {
    fn call<'a>(&mut self, id: &'a str) -> Cow<'a, str> {
        if id.is_empty() {
            let fresh = self.fresh();
            self.unanswered_empty.push_back(fresh.clone());
            return Cow::Owned(fresh);
        }
        sanitized(id)
    }

    fn result<'a>(&mut self, id: &'a str) -> Cow<'a, str> {
        if id.is_empty() {
            return Cow::Owned(
                self.unanswered_empty
                    .pop_front()
                    .unwrap_or_else(|| self.fresh()),
            );
        }
        sanitized(id)
    }

    fn fresh(&mut self) -> String {
        self.generated += 1;
        format!("call_mj{}", self.generated)
    }
}

/// `id` when OpenAI accepts it, else `call_` and a stable 64-bit hash of it.
fn sanitized(id: &str) -> Cow<'_, str> {
    let ok = id.len() <= 40
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        return Cow::Borrowed(id);
    }
    // FNV-1a: stable across runs and platforms, unlike `DefaultHasher`.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    Cow::Owned(format!("call_{hash:016x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_map_to_the_nearest_named_level() {
        for level in [
            ReasoningLevel::Minimal,
            ReasoningLevel::Low,
            ReasoningLevel::Medium,
            ReasoningLevel::High,
            ReasoningLevel::Max,
        ] {
            let budget = ReasoningLevel::Budget(level.token_budget().unwrap());
            assert_eq!(
                reasoning_effort(budget, "xhigh"),
                reasoning_effort(level, "xhigh"),
                "{level}"
            );
        }
        assert_eq!(
            reasoning_effort(ReasoningLevel::Budget(1), "high"),
            "minimal"
        );
        assert_eq!(
            reasoning_effort(ReasoningLevel::Budget(4000), "high"),
            "low"
        );
        assert_eq!(
            reasoning_effort(ReasoningLevel::Budget(100_000), "high"),
            "high"
        );
        assert_eq!(reasoning_effort(ReasoningLevel::Off, "high"), "none");
    }

    #[test]
    fn schema_names_are_sanitized() {
        assert_eq!(schema_name("Location"), "Location");
        assert_eq!(schema_name("my schema/v1"), "my_schema_v1");
        assert_eq!(schema_name(""), "response");
        assert_eq!(schema_name(&"x".repeat(80)).len(), 64);
    }

    #[test]
    fn ids_are_kept_or_replaced_consistently() {
        let mut ids = IdMap::default();
        assert_eq!(ids.call("call_abc"), "call_abc");
        let long = "toolu_".to_owned() + &"a".repeat(60);
        let mapped = ids.call(&long).into_owned();
        assert!(mapped.len() <= 40 && mapped.starts_with("call_"));
        assert_eq!(ids.result(&long), mapped);
        assert_eq!(ids.result("models/x:1"), sanitized("models/x:1"));
        let first = ids.call("").into_owned();
        let second = ids.call("").into_owned();
        assert_ne!(first, second);
        assert_eq!(ids.result(""), first);
        assert_eq!(ids.result(""), second);
    }
}
