//! Building the Messages request body from a [`Request`] (protocol reference §3.2).
//!
//! - The system prompt (and any `System` messages) goes to the top-level `system`.
//! - Roles are only `user` and `assistant`: `Tool` messages become `user` turns
//!   of `tool_result` blocks, placed first in their turn; consecutive turns of
//!   the same role are merged. Blank text blocks and blank stop sequences are
//!   dropped, and a blank tool result is sent as [`EMPTY_RESULT`] (the API
//!   rejects them).
//! - Thinking is sent back only when this provider produced it; tool-call ids
//!   that Anthropic would reject are rewritten by a pure function of the id,
//!   and ids repeated across turns are made unique, a call and its result
//!   always mapping to the same id.
//! - `max_tokens` is always sent. Thinking comes from the reasoning level, in
//!   the form the model takes ([`models`]): a budget, or adaptive thinking
//!   with an effort level. A forced tool choice turns thinking off (the API
//!   rejects the two together); while thinking is on the temperature is
//!   dropped and `top_p` kept within 0.95..=1. Sampling parameters the model
//!   rejects are dropped.
//! - A JSON schema goes to `output_config.format`, made strict the way the API
//!   requires ([`schema::strict`]).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::Value;

use super::config::AnthropicConfig;
use super::models::{self, Sampling, ThinkingStyle};
use super::schema;
use super::wire::{
    Block, ImageSourceWire, MessagesRequest, OutputConfig, OutputFormat, ThinkingConfig,
    WireContent, WireMessage, WireRole, WireTool, WireToolChoice,
};
use crate::providers::http::client::HttpClient;
use crate::providers::http::media;
use crate::{
    Image, ImageSource, Part, ReasoningLevel, Request, ResponseFormat, Result, Role, Thinking,
    ToolCall, ToolChoice,
};

/// The smallest thinking budget the API accepts.
pub(super) const MIN_THINKING_BUDGET: u32 = 1024;

/// The content sent for a tool result that is empty or blank.
pub(super) const EMPTY_RESULT: &str = "(no output)";

/// What the instruction for [`ResponseFormat::Json`] says (the Messages API has
/// no schema-less JSON mode).
pub(super) const JSON_INSTRUCTION: &str =
    "Respond with a single JSON object and nothing else: no prose, no code fences.";

/// Builds the body for `model`. `client` fetches URL images when the config
/// inlines them.
pub(super) async fn build(
    request: &Request,
    model: &str,
    config: &AnthropicConfig,
    client: &HttpClient,
    stream: bool,
) -> Result<MessagesRequest> {
    let mut system: Vec<String> = Vec::new();
    if let Some(prompt) = request.system_prompt().filter(|s| !s.trim().is_empty()) {
        system.push(prompt.to_owned());
    }
    let mut turns: Vec<Turn> = Vec::new();
    for message in request.messages() {
        let role = match message.role {
            Role::System => {
                let text = message.text();
                if !text.trim().is_empty() {
                    system.push(text);
                }
                continue;
            }
            Role::Assistant => WireRole::Assistant,
            // User, Tool, and any role added later: the user side.
            _ => WireRole::User,
        };
        let mut turn = Turn::new(role);
        for part in &message.parts {
            add_part(&mut turn, part, request, config, client).await?;
        }
        if turn.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(last) if last.role == role => last.absorb(turn),
            _ => turns.push(turn),
        }
    }
    unique_tool_ids(&mut turns);
    if matches!(request.output_format(), ResponseFormat::Json) {
        system.push(JSON_INSTRUCTION.to_owned());
    }

    let traits = models::traits(model);
    let options = request.model_options();
    let tools: Vec<WireTool> = request
        .tool_list()
        .iter()
        .map(|tool| WireTool {
            name: tool.name.clone(),
            description: tool.description.clone(),
            input_schema: input_schema(&tool.parameters),
        })
        .collect();
    let choice = request.tool_choice_mode();
    // A forced tool call is rejected while thinking: the caller's demand for a
    // tool call wins over the reasoning level, which only asks for more depth.
    let forced = !tools.is_empty() && matches!(choice, ToolChoice::Required | ToolChoice::Tool(_));
    let tool_choice = if tools.is_empty() {
        None
    } else {
        match choice {
            ToolChoice::None => Some(WireToolChoice::None),
            ToolChoice::Required => Some(WireToolChoice::Any),
            ToolChoice::Tool(name) => Some(WireToolChoice::Tool { name: name.clone() }),
            // `auto` is the default: not sent.
            _ => None,
        }
    };

    let budget = request
        .reasoning_level()
        .and_then(|level| level.token_budget())
        .filter(|_| !forced);
    let mut max_tokens = options
        .max_tokens
        .unwrap_or(config.options.default_max_tokens);
    let mut effort = None;
    let off = matches!(request.reasoning_level(), Some(ReasoningLevel::Off));
    let thinking = match (budget, traits.thinking) {
        (None, _) if off && traits.send_disabled => Some(ThinkingConfig::Disabled),
        (None, _) => None,
        (Some(budget), ThinkingStyle::Budget) => {
            // The budget must be at least 1024 and below max_tokens.
            let budget = budget.max(MIN_THINKING_BUDGET);
            if max_tokens <= budget {
                max_tokens = budget.saturating_add(config.options.default_max_tokens);
            }
            Some(ThinkingConfig::Enabled {
                budget_tokens: budget,
            })
        }
        (Some(budget), ThinkingStyle::Adaptive) => {
            // No budget to fit under max_tokens; without one from the caller,
            // leave the thinking the room the level suggests.
            if options.max_tokens.is_none() && max_tokens <= budget {
                max_tokens = budget.saturating_add(config.options.default_max_tokens);
            }
            effort = Some(models::effort(budget));
            Some(ThinkingConfig::Adaptive {
                display: "summarized",
            })
        }
    };
    let thinking_on = matches!(
        thinking,
        Some(ThinkingConfig::Enabled { .. } | ThinkingConfig::Adaptive { .. })
    );

    // Sampling: 0..=1 for temperature; none while thinking except top_p in
    // 0.95..=1; only one of the two on Claude 4+; none on the newest models.
    let mut temperature = options
        .temperature
        .filter(|t| t.is_finite() && !thinking_on)
        .map(|t| t.clamp(0.0, 1.0));
    let mut top_p = options.top_p.filter(|p| p.is_finite()).map(|p| {
        if thinking_on {
            p.clamp(0.95, 1.0)
        } else {
            p.clamp(0.0, 1.0)
        }
    });
    match traits.sampling {
        Sampling::Any => {}
        Sampling::OneOf => {
            if temperature.is_some() {
                top_p = None;
            }
        }
        Sampling::Unsupported => {
            temperature = None;
            top_p = None;
        }
    }

    let format = match request.output_format() {
        ResponseFormat::JsonSchema { schema, .. } => Some(OutputFormat::JsonSchema {
            schema: schema::strict(schema),
        }),
        _ => None,
    };
    let output_config =
        (effort.is_some() || format.is_some()).then_some(OutputConfig { effort, format });

    Ok(MessagesRequest {
        model: model.to_owned(),
        max_tokens,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        messages: turns.into_iter().map(Turn::into_wire).collect(),
        tools,
        tool_choice,
        thinking,
        temperature,
        top_p,
        // The API rejects stop sequences without a non-whitespace character.
        stop_sequences: options
            .stop
            .iter()
            .filter(|s| !s.trim().is_empty())
            .cloned()
            .collect(),
        output_config,
        stream,
    })
}

/// One turn being assembled: tool results first, then everything else.
struct Turn {
    role: WireRole,
    results: Vec<Block>,
    blocks: Vec<Block>,
}

impl Turn {
    fn new(role: WireRole) -> Self {
        Turn {
            role,
            results: Vec::new(),
            blocks: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.results.is_empty() && self.blocks.is_empty()
    }

    fn absorb(&mut self, other: Turn) {
        self.results.extend(other.results);
        self.blocks.extend(other.blocks);
    }

    fn into_wire(self) -> WireMessage {
        let mut blocks = self.results;
        blocks.extend(self.blocks);
        let content = match blocks.as_slice() {
            [Block::Text { text }] => WireContent::Text(text.clone()),
            _ => WireContent::Blocks(blocks),
        };
        WireMessage {
            role: self.role,
            content,
        }
    }
}

async fn add_part(
    turn: &mut Turn,
    part: &Part,
    request: &Request,
    config: &AnthropicConfig,
    client: &HttpClient,
) -> Result<()> {
    match part {
        Part::Text { text } => {
            // The API rejects text blocks without a non-whitespace character.
            if !text.trim().is_empty() {
                turn.blocks.push(Block::Text { text: text.clone() });
            }
        }
        Part::Image(image) => {
            let source = image_source(image, request, config, client).await?;
            turn.blocks.push(Block::Image { source });
        }
        Part::ToolCall(call) => turn.blocks.push(tool_use(call)),
        Part::ToolResult(result) => turn.results.push(Block::ToolResult {
            tool_use_id: tool_id(&result.call_id).into_owned(),
            // An empty or blank result is rejected (a blank text block, and
            // "content cannot be empty if `is_error` is true").
            content: if result.content.trim().is_empty() {
                EMPTY_RESULT.to_owned()
            } else {
                result.content.clone()
            },
            is_error: result.is_error,
        }),
        Part::Thinking(thinking) => {
            // Thinking goes back only to the provider that produced it, and only
            // in assistant turns.
            if turn.role == WireRole::Assistant
                && thinking.provider.as_deref() == Some(config.name.as_str())
            {
                if let Some(block) = thinking_block(thinking) {
                    turn.blocks.push(block);
                }
            }
        }
    }
    Ok(())
}

fn thinking_block(thinking: &Thinking) -> Option<Block> {
    if let Some(data) = &thinking.redacted {
        return Some(Block::RedactedThinking { data: data.clone() });
    }
    // Unsigned thinking cannot be verified by the API: it would reject the turn.
    let signature = thinking.signature.as_ref().filter(|s| !s.is_empty())?;
    Some(Block::Thinking {
        thinking: thinking.text.clone(),
        signature: signature.clone(),
    })
}

fn tool_use(call: &ToolCall) -> Block {
    let input = match &call.arguments {
        Value::Object(_) => call.arguments.clone(),
        // Arguments kept as text (a cut stream, another provider's string):
        // the API needs an object.
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(parsed @ Value::Object(_)) => parsed,
            _ => Value::Object(serde_json::Map::new()),
        },
        _ => Value::Object(serde_json::Map::new()),
    };
    Block::ToolUse {
        id: tool_id(&call.id).into_owned(),
        name: call.name.clone(),
        input,
    }
}

/// A tool's `input_schema`: its parameters, or an empty object schema. The
/// API requires `"type": "object"` at the top, so a schema without a type gets it.
fn input_schema(parameters: &Value) -> Value {
    match parameters {
        Value::Object(map) if !map.is_empty() => {
            let mut map = map.clone();
            map.entry("type")
                .or_insert_with(|| Value::String("object".to_owned()));
            Value::Object(map)
        }
        _ => serde_json::json!({"type": "object", "properties": {}}),
    }
}

/// Makes every `tool_use` id unique across the conversation, as the API
/// requires. Histories from other providers may repeat generated ids (`call_0`
/// in several turns): a repeated id gets `{id}_{n}` (the first `n` from 2 that
/// is not taken), and the `tool_result` blocks of the user turn right after it
/// are mapped to the same replacement, in call order when one turn repeats an
/// id. A pure function of the conversation, so every request of the
/// conversation sends the same ids.
fn unique_tool_ids(turns: &mut [Turn]) {
    let mut used: HashSet<String> = HashSet::new();
    // The ids the last assistant turn gave its calls, by the id they had.
    let mut assigned: HashMap<String, VecDeque<String>> = HashMap::new();
    for turn in turns {
        match turn.role {
            WireRole::Assistant => {
                assigned.clear();
                for block in &mut turn.blocks {
                    let Block::ToolUse { id, .. } = block else {
                        continue;
                    };
                    let original = id.clone();
                    if !used.insert(original.clone()) {
                        let fresh = (2u64..)
                            .map(|n| format!("{original}_{n}"))
                            .find(|candidate| !used.contains(candidate))
                            .unwrap_or_else(|| original.clone());
                        used.insert(fresh.clone());
                        *id = fresh;
                    }
                    assigned.entry(original).or_default().push_back(id.clone());
                }
            }
            WireRole::User => {
                for block in turn.results.iter_mut().chain(turn.blocks.iter_mut()) {
                    let Block::ToolResult { tool_use_id, .. } = block else {
                        continue;
                    };
                    if let Some(ids) = assigned.get_mut(tool_use_id.as_str()) {
                        // Results answer the calls in order; extra results for
                        // the same id go to the last call.
                        let next = if ids.len() > 1 {
                            ids.pop_front()
                        } else {
                            ids.front().cloned()
                        };
                        if let Some(next) = next {
                            *tool_use_id = next;
                        }
                    }
                }
                assigned.clear();
            }
        }
    }
}

async fn image_source(
    image: &Image,
    request: &Request,
    config: &AnthropicConfig,
    client: &HttpClient,
) -> Result<ImageSourceWire> {
    if let ImageSource::Url { url } = &image.source {
        // Anthropic fetches http(s) URLs itself; a `data:` URL is not a URL
        // source it takes, so its bytes are decoded here (no fetch).
        let is_data = url
            .get(..5)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("data:"));
        if !config.options.inline_images && !is_data {
            return Ok(ImageSourceWire::Url { url: url.clone() });
        }
    }
    let inline = media::inline_image(client, request, image, &config.media_limits).await?;
    Ok(ImageSourceWire::Base64 {
        media_type: inline.media_type,
        data: inline.base64,
    })
}

/// `id` when Anthropic accepts it (`^[a-zA-Z0-9_-]+$`), else a rewrite that
/// depends only on `id`: invalid characters become `_`, and a hash of the
/// original keeps distinct ids distinct.
pub(super) fn tool_id(id: &str) -> Cow<'_, str> {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !id.is_empty() && id.chars().all(valid) {
        return Cow::Borrowed(id);
    }
    let cleaned: String = id
        .chars()
        .take(64)
        .map(|c| if valid(c) { c } else { '_' })
        .collect();
    Cow::Owned(format!("{cleaned}_{:016x}", fnv1a(id.as_bytes())))
}

/// FNV-1a, 64 bits: stable across runs and platforms.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids_pass_and_others_map_consistently() {
        assert_eq!(tool_id("toolu_01AbC-9"), "toolu_01AbC-9");
        let a = tool_id("call.1:x");
        assert_eq!(a, tool_id("call.1:x"));
        assert!(a.starts_with("call_1_x_"));
        assert_ne!(tool_id("call.1"), tool_id("call:1"));
        assert!(
            tool_id("")
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        );
        assert!(!tool_id("").is_empty());
    }
}
