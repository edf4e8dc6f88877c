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
//! - each tool result as its own `role: tool` message, before any text of
//!   the same turn (tool messages must follow the assistant's calls);
//! - tool-call `arguments` always as the text of a JSON object: vLLM
//!   (`json.loads`) and Ollama's `/v1` (400 "invalid tool call arguments")
//!   refuse anything else, e.g. the cut-off text of a truncated call;
//! - tool-call ids that OpenAI would reject (empty, over 40 characters, or
//!   with characters outside `[A-Za-z0-9_-]`, as other providers may produce)
//!   are replaced consistently in calls and results.
//!
//! Reasoning levels map to `reasoning_effort` by model family (see
//! [`reasoning_effort`]).

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};

use base64::Engine as _;
use serde_json::Value;

use super::config::MaxTokensField;
use super::wire::{
    ChatRequest, OutContent, OutFunction, OutFunctionCall, OutImageUrl, OutJsonSchema, OutMessage,
    OutNamed, OutPart, OutResponseFormat, OutTool, OutToolCall, OutToolChoice, StreamOptions,
};
use crate::providers::http::MediaLimits;
use crate::providers::http::client::HttpClient;
use crate::providers::http::media;
use crate::{
    Error, ImageSource, Message, Part, ReasoningLevel, Request, ResponseFormat, Result, Role,
    ToolChoice,
};

/// The protocol choices of one provider instance.
#[derive(Debug, Clone)]
pub(crate) struct ChatCompletions {
    /// Resolved: never [`MaxTokensField::Auto`].
    pub max_tokens_field: MaxTokensField,
    /// The effort sent for [`ReasoningLevel::Max`].
    pub max_effort: String,
    /// Fetch `http(s)` image URLs and send them as `data:` URLs.
    pub inline_images: bool,
    /// Limits on those fetches.
    pub media_limits: MediaLimits,
}

/// The bits of a seed that fit a non-negative `i64`.
const SEED_MASK: u64 = i64::MAX as u64;

/// `data:` URLs for the `http(s)` image URLs of a request, by URL (see
/// [`inline_urls`]).
pub(crate) type Inlined = HashMap<String, String>;

/// Fetches every `http(s)` image of `request` (once per call: the request's
/// media cache is shared by its clones) and returns each as a `data:` URL,
/// for servers that take only those (Ollama's `/v1` answers 400 "image URLs
/// are not currently supported"). `data:` URLs and inline bytes need no fetch.
///
/// # Errors
/// The request-specific error of a fetch that failed or was refused.
pub(super) async fn inline_urls(
    client: &HttpClient,
    request: &Request,
    limits: &MediaLimits,
) -> Result<Inlined> {
    let mut inlined = Inlined::new();
    // Only user turns carry images on the wire.
    let sent = |m: &&Message| matches!(m.role, Role::User | Role::Tool);
    for message in request.messages().iter().filter(sent) {
        for part in &message.parts {
            let Part::Image(image) = part else { continue };
            let ImageSource::Url { url } = &image.source else {
                continue;
            };
            let is_data = url
                .get(..5)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("data:"));
            if is_data || inlined.contains_key(url) {
                continue;
            }
            let image = media::inline_image(client, request, image, limits).await?;
            inlined.insert(
                url.clone(),
                format!("data:{};base64,{}", image.media_type, image.base64),
            );
        }
    }
    Ok(inlined)
}

/// The serialized body for `model`; `inlined` replaces image URLs.
pub(super) fn build_body(
    protocol: &ChatCompletions,
    model: &str,
    request: &Request,
    stream: bool,
    inlined: &Inlined,
) -> Result<Vec<u8>> {
    let body = build(protocol, model, request, stream, inlined);
    // Sized for a short conversation, so that most bodies are written
    // without growing the buffer.
    let mut out = Vec::with_capacity(512);
    serde_json::to_writer(&mut out, &body)
        .map_err(|e| Error::config(format!("cannot serialize the request: {e}")))?;
    Ok(out)
}

/// The request body, borrowing from `request`.
pub(super) fn build<'a>(
    protocol: &'a ChatCompletions,
    model: &'a str,
    request: &'a Request,
    stream: bool,
    inlined: &'a Inlined,
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
    let effort = request
        .reasoning_level()
        .and_then(|level| reasoning_effort(level, model, &protocol.max_effort));
    // Read the model id only when there is something to drop.
    let sampled = options.temperature.is_some() || options.top_p.is_some();
    let sampling = !(sampled && refuses_sampling(model, effort));
    if !sampling {
        tracing::debug!(
            target: "majordomo::openai",
            model,
            "temperature/top_p not sent: the model is a reasoning model that refuses them"
        );
    }
    let (max_tokens, max_completion_tokens) = match protocol.max_tokens_field {
        MaxTokensField::MaxCompletionTokens => (None, options.max_tokens),
        _ => (options.max_tokens, None),
    };
    ChatRequest {
        model,
        messages: messages(request, inlined),
        temperature: options.temperature.filter(|_| sampling),
        top_p: options.top_p.filter(|_| sampling),
        stop: &options.stop,
        // The servers read `seed` as a signed 64-bit integer (vLLM validates
        // the range, Ollama's Go decoder fails on overflow): keep 63 bits.
        seed: options.seed.map(|seed| seed & SEED_MASK),
        max_tokens,
        max_completion_tokens,
        tools,
        tool_choice,
        response_format: response_format(request.output_format()),
        reasoning_effort: effort,
        stream,
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
    }
}

/// Whether `model` answers 400 "Unsupported parameter" to `temperature` and
/// `top_p`: OpenAI's reasoning models (o-series, `o1-mini`/`o1-preview`,
/// `gpt-5` and its Codex and Pro variants, and `gpt-5.1`+ unless it runs with
/// effort `none`). The request's values are dropped for them rather than have
/// the call fail; `*-chat*` models and everything else keep them.
pub(super) fn refuses_sampling(model: &str, effort: Option<&str>) -> bool {
    let lower = model.to_ascii_lowercase();
    let id = lower.rsplit('/').next().unwrap_or(&lower);
    let id = id.strip_prefix("ft:").unwrap_or(id);
    match EffortFamily::of(model) {
        EffortFamily::OSeries | EffortFamily::Gpt5 | EffortFamily::Codex { .. } => true,
        EffortFamily::Gpt5Later => effort.is_some_and(|e| e != "none"),
        EffortFamily::Fixed => {
            id.starts_with("o1") || (id.starts_with("gpt-5") && id.contains("pro"))
        }
        EffortFamily::Other => false,
    }
}

/// A reasoning level by name ([`ReasoningLevel::Budget`] resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effort {
    Off,
    Minimal,
    Low,
    Medium,
    High,
    Max,
}

impl Effort {
    /// The named level whose [`ReasoningLevel::token_budget`] is nearest.
    fn of(level: ReasoningLevel) -> Self {
        match level {
            ReasoningLevel::Off | ReasoningLevel::Budget(0) => Effort::Off,
            ReasoningLevel::Minimal | ReasoningLevel::Budget(1..1536) => Effort::Minimal,
            ReasoningLevel::Low | ReasoningLevel::Budget(1536..5120) => Effort::Low,
            ReasoningLevel::Medium | ReasoningLevel::Budget(5120..12288) => Effort::Medium,
            ReasoningLevel::High | ReasoningLevel::Budget(12288..24576) => Effort::High,
            _ => Effort::Max,
        }
    }
}

/// What a model id says about the `reasoning_effort` values its model takes.
/// OpenAI's values are `none|minimal|low|medium|high|xhigh`, but each model
/// takes only some, and answers 400 (`unsupported_value`, or
/// `unsupported_parameter` for a model that does not reason) otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EffortFamily {
    /// Takes no `reasoning_effort`: GPT-3.5/4/4o/4.1, `chatgpt-*`, the
    /// `*-chat*` GPT-5 models, `o1-mini`, `o1-preview`; and `gpt-5-pro`,
    /// which takes only its default, `high`.
    Fixed,
    /// `o1`, `o3`, `o4-mini`… and `codex-mini`: `low|medium|high`.
    OSeries,
    /// `gpt-5`, `gpt-5-mini`, `gpt-5-nano`: `minimal|low|medium|high`
    /// (`none` is refused by every model before `gpt-5.1`).
    Gpt5,
    /// The Codex models of GPT-5 and later: `low|medium|high` (and `xhigh`
    /// after `gpt-5.1-codex-max`), neither `minimal` nor `none`.
    Codex {
        /// `gpt-5.1` or later, where `xhigh` may exist.
        later: bool,
    },
    /// `gpt-5.1` and later: `none|low|medium|high` (and `xhigh` on newer
    /// ones); `minimal` is refused.
    Gpt5Later,
    /// Any other model, on any compatible server: `none|low|medium|high`,
    /// the values every server that reads the field takes (Ollama's `/v1`
    /// refuses `minimal`, `xhigh` and `max`; vLLM and OpenRouter take more).
    Other,
}

impl EffortFamily {
    /// The family of `model`, read from its last `/` segment (so
    /// OpenRouter's `openai/o3` is `o3`), case-insensitively, with a
    /// fine-tuned model's `ft:` prefix removed.
    pub(super) fn of(model: &str) -> Self {
        let lower = model.to_ascii_lowercase();
        let id = lower.rsplit('/').next().unwrap_or(&lower);
        let id = id.strip_prefix("ft:").unwrap_or(id);
        if id.starts_with("gpt-3.5")
            || id.starts_with("gpt-4")
            || id.starts_with("chatgpt-")
            || id.starts_with("o1-mini")
            || id.starts_with("o1-preview")
        {
            return EffortFamily::Fixed;
        }
        if id.starts_with("codex-mini") {
            return EffortFamily::OSeries;
        }
        let mut chars = id.chars();
        if chars.next() == Some('o') && chars.next().is_some_and(|c| c.is_ascii_digit()) {
            return EffortFamily::OSeries;
        }
        let Some(rest) = id.strip_prefix("gpt-5") else {
            return EffortFamily::Other;
        };
        let later = match rest.strip_prefix('.') {
            Some(minor) => minor
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n >= 1),
            None if rest.is_empty() || rest.starts_with('-') => false,
            None => return EffortFamily::Other, // e.g. `gpt-50`
        };
        let words: Vec<&str> = rest.split(['-', '.', ':', '_']).collect();
        if words.contains(&"chat") || (!later && words.contains(&"pro")) {
            EffortFamily::Fixed
        } else if words.iter().any(|w| w.starts_with("codex")) {
            EffortFamily::Codex { later }
        } else if later {
            EffortFamily::Gpt5Later
        } else {
            EffortFamily::Gpt5
        }
    }
}

/// The `reasoning_effort` for `level` on `model`, or `None` when the model
/// takes none (the field is then left out).
///
/// The level is first resolved to a name ([`ReasoningLevel::Budget`] to the
/// level whose [`ReasoningLevel::token_budget`] is nearest: below 1536
/// `minimal`, below 5120 `low`, below 12288 `medium`, below 24576 `high`,
/// else `max`; `Budget(0)` is `off`), then mapped to a value the model's
/// [`EffortFamily`] takes, the nearest one where its own is missing:
///
/// | level | `gpt-5.1`+, other models | `gpt-5` | o-series, Codex | GPT-4o & co, `gpt-5-pro`, `*-chat*` |
/// |---|---|---|---|---|
/// | `off` | `none` | `minimal` | `low` | (not sent) |
/// | `minimal` | `low` | `minimal` | `low` | (not sent) |
/// | `low`, `medium`, `high` | the same | the same | the same | (not sent) |
/// | `max` | `max_effort` | `high` | `high` (`max_effort` on Codex after `gpt-5.1`) | (not sent) |
///
/// `max_effort` is [`super::OpenAiConfig::max_reasoning_effort`] (default
/// `high`). Sources: the `ReasoningEffort` docs of OpenAI's SDKs ("All models
/// before `gpt-5.1` default to `medium` reasoning effort, and do not support
/// `none`"; "`gpt-5-pro` … only supports `high`"; "`xhigh` is supported for
/// all models after `gpt-5.1-codex-max`"), OpenAI's 400s for `minimal` on
/// `gpt-5.1` and for `reasoning_effort` on non-reasoning models, and Ollama's
/// `/v1`, which takes only `high|medium|low|none`.
pub(super) fn reasoning_effort<'a>(
    level: ReasoningLevel,
    model: &str,
    max_effort: &'a str,
) -> Option<&'a str> {
    use EffortFamily::*;
    let family = EffortFamily::of(model);
    Some(match (Effort::of(level), family) {
        (_, Fixed) => return None,
        (Effort::Low, _) => "low",
        (Effort::Medium, _) => "medium",
        (Effort::High, _) => "high",
        (Effort::Max, OSeries | Gpt5 | Codex { later: false }) => "high",
        (Effort::Max, _) => max_effort,
        (Effort::Off | Effort::Minimal, Gpt5) => "minimal",
        (Effort::Off | Effort::Minimal, OSeries | Codex { .. }) => "low",
        (Effort::Off, Gpt5Later | Other) => "none",
        (Effort::Minimal, Gpt5Later | Other) => "low",
    })
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
                // OpenAI answers 400 to `strict: true` with a schema strict mode
                // cannot enforce; such a schema is still sent, unenforced.
                strict: *strict && strict_compatible(schema),
            },
        }),
        ResponseFormat::Text => None,
    }
}

/// Whether OpenAI's strict mode accepts `schema`: every object closes its
/// properties (`additionalProperties: false`) and lists all of them in
/// `required`, all the way down.
pub(super) fn strict_compatible(schema: &serde_json::Value) -> bool {
    use serde_json::Value;
    let Value::Object(node) = schema else {
        return true;
    };
    if let Some(Value::Object(properties)) = node.get("properties") {
        let closed = node.get("additionalProperties") == Some(&Value::Bool(false));
        let required: Vec<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !closed || !properties.keys().all(|k| required.contains(&k.as_str())) {
            return false;
        }
        if !properties.values().all(strict_compatible) {
            return false;
        }
    } else if node.get("type").and_then(Value::as_str) == Some("object")
        && node.get("additionalProperties") != Some(&Value::Bool(false))
    {
        return false;
    }
    let nested = ["items", "additionalProperties", "not"]
        .iter()
        .filter_map(|k| node.get(*k))
        .all(strict_compatible);
    let lists = ["anyOf", "oneOf", "allOf", "prefixItems"]
        .iter()
        .filter_map(|k| node.get(*k).and_then(Value::as_array))
        .all(|items| items.iter().all(strict_compatible));
    let maps = ["$defs", "definitions"]
        .iter()
        .filter_map(|k| node.get(*k).and_then(Value::as_object))
        .all(|defs| defs.values().all(strict_compatible));
    nested && lists && maps
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

fn messages<'a>(request: &'a Request, inlined: &'a Inlined) -> Vec<OutMessage<'a>> {
    let mut out = Vec::with_capacity(request.messages().len() + 1);
    if let Some(system) = request.system_prompt() {
        out.push(OutMessage::System {
            content: OutContent::Text(system),
        });
    }
    let mut ids = IdMap::default();
    for message in request.messages() {
        push_message(&mut out, message, &mut ids, inlined);
    }
    out
}

fn push_message<'a>(
    out: &mut Vec<OutMessage<'a>>,
    message: &'a Message,
    ids: &mut IdMap,
    inlined: &'a Inlined,
) {
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
        // Tool results become `role: tool` messages, first: they must
        // directly follow the assistant turn that made the calls. The rest
        // (text, images) follows as one user message.
        Role::User | Role::Tool => {
            for part in &message.parts {
                if let Part::ToolResult(result) = part {
                    out.push(OutMessage::Tool {
                        tool_call_id: ids.result(&result.call_id),
                        content: &result.content,
                    });
                }
            }
            let mut parts: Vec<OutPart<'a>> = Vec::new();
            for part in &message.parts {
                match part {
                    Part::Text { text } => parts.push(OutPart::Text { text }),
                    Part::Image(image) => parts.push(OutPart::ImageUrl {
                        image_url: OutImageUrl {
                            url: image_url(&image.source, inlined),
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

fn image_url<'a>(source: &'a ImageSource, inlined: &'a Inlined) -> Cow<'a, str> {
    match source {
        ImageSource::Url { url } => Cow::Borrowed(inlined.get(url).unwrap_or(url)),
        ImageSource::Inline { media_type, data } => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(data);
            Cow::Owned(format!("data:{media_type};base64,{encoded}"))
        }
    }
}

/// Tool arguments as the JSON string the wire wants, always the text of a
/// JSON object: an object as is; `null` or empty text as `{}`; text that
/// holds a JSON object as that text; anything else (the cut-off text of a
/// truncated call, a bare value) kept, wrapped as `{"value": ...}`.
fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::Object(_) => arguments.to_string(),
        Value::Null => "{}".to_owned(),
        Value::String(text) if text.trim().is_empty() => "{}".to_owned(),
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(_)) => text.clone(),
            _ => serde_json::json!({ "value": text }).to_string(),
        },
        other => serde_json::json!({ "value": other }).to_string(),
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
        for model in ["gpt-5", "gpt-5.1", "o3", "qwen3:8b"] {
            for level in [
                ReasoningLevel::Minimal,
                ReasoningLevel::Low,
                ReasoningLevel::Medium,
                ReasoningLevel::High,
                ReasoningLevel::Max,
            ] {
                let budget = ReasoningLevel::Budget(level.token_budget().unwrap());
                assert_eq!(
                    reasoning_effort(budget, model, "xhigh"),
                    reasoning_effort(level, model, "xhigh"),
                    "{model} {level}"
                );
            }
        }
        let other = |n| reasoning_effort(ReasoningLevel::Budget(n), "m", "high");
        assert_eq!(other(0), Some("none"));
        assert_eq!(other(1), Some("low"));
        assert_eq!(other(4000), Some("low"));
        assert_eq!(other(6000), Some("medium"));
        assert_eq!(other(100_000), Some("high"));
        assert_eq!(
            reasoning_effort(ReasoningLevel::Budget(1), "gpt-5-mini", "high"),
            Some("minimal")
        );
    }

    #[test]
    fn model_families_by_id() {
        use EffortFamily::*;
        let cases = [
            ("gpt-4o", Fixed),
            ("gpt-4o-mini-2024-07-18", Fixed),
            ("gpt-4.1-nano", Fixed),
            ("gpt-3.5-turbo", Fixed),
            ("chatgpt-4o-latest", Fixed),
            ("ft:gpt-4o-mini-2024-07-18:acme::abc123", Fixed),
            ("openai/gpt-4o", Fixed),
            ("o1-mini", Fixed),
            ("o1-preview-2024-09-12", Fixed),
            ("gpt-5-chat-latest", Fixed),
            ("gpt-5.1-chat-latest", Fixed),
            ("gpt-5-pro", Fixed),
            ("gpt-5-pro-2025-10-06", Fixed),
            ("o1", OSeries),
            ("o3-mini", OSeries),
            ("O4-Mini", OSeries),
            ("openai/o3", OSeries),
            ("o3-pro", OSeries),
            ("codex-mini-latest", OSeries),
            ("gpt-5", Gpt5),
            ("gpt-5-mini", Gpt5),
            ("gpt-5-nano-2025-08-07", Gpt5),
            ("gpt-5-codex", Codex { later: false }),
            ("gpt-5.1-codex", Codex { later: true }),
            ("gpt-5.1-codex-max", Codex { later: true }),
            ("gpt-5.1", Gpt5Later),
            ("gpt-5.2-2025-12-11", Gpt5Later),
            ("gpt-5.4-mini", Gpt5Later),
            ("gpt-5.2-pro", Gpt5Later),
            ("gpt-50", Other),
            ("gpt-oss:20b", Other),
            ("openai/gpt-oss-120b", Other),
            ("qwen3:8b", Other),
            ("deepseek-r1", Other),
            ("omni-moderation-latest", Other),
            ("", Other),
        ];
        for (model, family) in cases {
            assert_eq!(EffortFamily::of(model), family, "{model}");
        }
    }

    #[test]
    fn every_family_gets_only_values_it_takes() {
        let takes = |model: &str| -> &[&str] {
            match EffortFamily::of(model) {
                EffortFamily::Fixed => &[],
                EffortFamily::OSeries | EffortFamily::Codex { later: false } => {
                    &["low", "medium", "high"]
                }
                EffortFamily::Gpt5 => &["minimal", "low", "medium", "high"],
                EffortFamily::Codex { later: true } => &["low", "medium", "high", "xhigh"],
                EffortFamily::Gpt5Later => &["none", "low", "medium", "high", "xhigh"],
                EffortFamily::Other => &["none", "low", "medium", "high"],
            }
        };
        let levels = [
            ReasoningLevel::Off,
            ReasoningLevel::Minimal,
            ReasoningLevel::Low,
            ReasoningLevel::Medium,
            ReasoningLevel::High,
            ReasoningLevel::Max,
            ReasoningLevel::Budget(1),
            ReasoningLevel::Budget(1_000_000),
        ];
        for model in [
            "gpt-4o",
            "o3",
            "gpt-5",
            "gpt-5-codex",
            "gpt-5.1",
            "gpt-5.1-codex",
            "llama3",
        ] {
            for level in levels {
                let effort = reasoning_effort(level, model, "high");
                let ok = match effort {
                    None => takes(model).is_empty(),
                    Some(e) => takes(model).contains(&e),
                };
                assert!(ok, "{model} {level}: {effort:?}");
            }
        }
        // `xhigh` only where it may exist.
        assert_eq!(
            reasoning_effort(ReasoningLevel::Max, "o3", "xhigh"),
            Some("high")
        );
        assert_eq!(
            reasoning_effort(ReasoningLevel::Max, "gpt-5", "xhigh"),
            Some("high")
        );
        assert_eq!(
            reasoning_effort(ReasoningLevel::Max, "gpt-5.2", "xhigh"),
            Some("xhigh")
        );
    }

    #[test]
    fn arguments_are_always_a_json_object() {
        let cases = [
            (serde_json::json!({"a": 1}), r#"{"a":1}"#),
            (Value::Null, "{}"),
            (Value::String(String::new()), "{}"),
            (Value::String(r#"{"b": 2}"#.into()), r#"{"b": 2}"#),
            (
                Value::String(r#"{"city": "Par"#.into()),
                r#"{"value":"{\"city\": \"Par"}"#,
            ),
            (serde_json::json!([1, 2]), r#"{"value":[1,2]}"#),
            (Value::String("[1]".into()), r#"{"value":"[1]"}"#),
        ];
        for (arguments, text) in cases {
            let sent = arguments_text(&arguments);
            assert_eq!(sent, text, "{arguments}");
            assert!(
                serde_json::from_str::<Value>(&sent).unwrap().is_object(),
                "{sent}"
            );
        }
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

    #[test]
    fn strict_mode_only_for_schemas_it_can_enforce() {
        use serde_json::json;
        let closed = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "tags": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}},
                    "required": ["name"],
                    "additionalProperties": false
                }}
            },
            "required": ["city", "tags"],
            "additionalProperties": false
        });
        assert!(strict_compatible(&closed));
        let mut open = closed.clone();
        open["additionalProperties"] = json!(true);
        assert!(!strict_compatible(&open));
        let mut optional = closed.clone();
        optional["required"] = json!(["city"]);
        assert!(!strict_compatible(&optional));
        let mut nested_open = closed;
        nested_open["properties"]["tags"]["items"]
            .as_object_mut()
            .unwrap()
            .remove("additionalProperties");
        assert!(!strict_compatible(&nested_open));
        assert!(strict_compatible(&json!({"type": "string"})));
        assert!(!strict_compatible(&json!({"type": "object"})));
    }

    #[test]
    fn sampling_is_dropped_only_for_reasoning_models() {
        for model in [
            "o3",
            "o4-mini",
            "o1-mini",
            "gpt-5",
            "gpt-5-mini",
            "gpt-5-codex",
            "gpt-5-pro",
            "openai/o3",
        ] {
            assert!(refuses_sampling(model, None), "{model}");
        }
        for model in [
            "gpt-4o",
            "gpt-4.1-mini",
            "gpt-5-chat-latest",
            "llama3.2",
            "qwen2.5:7b",
        ] {
            assert!(!refuses_sampling(model, None), "{model}");
        }
        assert!(!refuses_sampling("gpt-5.1", None));
        assert!(!refuses_sampling("gpt-5.1", Some("none")));
        assert!(refuses_sampling("gpt-5.1", Some("low")));
    }
}
