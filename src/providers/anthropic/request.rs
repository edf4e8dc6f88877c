//! Building the Messages request body from a [`Request`] (protocol reference §3.2).
//!
//! - The system prompt (and any `System` messages) goes to the top-level `system`.
//! - Roles are only `user` and `assistant`: `Tool` messages become `user` turns
//!   of `tool_result` blocks, placed first in their turn; consecutive turns of
//!   the same role are merged.
//! - Thinking is sent back only when this provider produced it; tool-call ids
//!   that Anthropic would reject are rewritten by a pure function of the id,
//!   so a call and its result always map to the same id.
//! - `max_tokens` is always sent; extended thinking comes from the reasoning
//!   level, and while it is on a forced tool choice and the temperature are
//!   dropped (the API rejects them).

use std::borrow::Cow;

use serde_json::Value;

use super::config::AnthropicConfig;
use super::wire::{
    Block, ImageSourceWire, MessagesRequest, OutputConfig, OutputFormat, ThinkingConfig,
    WireContent, WireMessage, WireRole, WireTool, WireToolChoice,
};
use crate::providers::http::client::HttpClient;
use crate::providers::http::media;
use crate::{
    Image, ImageSource, Part, Request, ResponseFormat, Result, Role, Thinking, ToolCall, ToolChoice,
};

/// The smallest thinking budget the API accepts.
pub(super) const MIN_THINKING_BUDGET: u32 = 1024;

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
    if let Some(prompt) = request.system_prompt().filter(|s| !s.is_empty()) {
        system.push(prompt.to_owned());
    }
    let mut turns: Vec<Turn> = Vec::new();
    for message in request.messages() {
        let role = match message.role {
            Role::System => {
                let text = message.text();
                if !text.is_empty() {
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
    if matches!(request.output_format(), ResponseFormat::Json) {
        system.push(JSON_INSTRUCTION.to_owned());
    }

    let options = request.model_options();
    let budget = request
        .reasoning_level()
        .and_then(|level| level.token_budget())
        .map(|budget| budget.max(MIN_THINKING_BUDGET));
    let mut max_tokens = options.max_tokens.unwrap_or(config.default_max_tokens);
    if let Some(budget) = budget {
        if max_tokens <= budget {
            max_tokens = budget.saturating_add(config.default_max_tokens);
        }
    }
    let thinking_on = budget.is_some();

    let tools: Vec<WireTool> = request
        .tool_list()
        .iter()
        .map(|tool| WireTool {
            name: tool.name.clone(),
            description: tool.description.clone(),
            input_schema: input_schema(&tool.parameters),
        })
        .collect();
    let tool_choice = if tools.is_empty() {
        None
    } else {
        match request.tool_choice_mode() {
            ToolChoice::None => Some(WireToolChoice::None),
            // A forced choice is rejected while thinking: let the model decide.
            ToolChoice::Required if !thinking_on => Some(WireToolChoice::Any),
            ToolChoice::Tool(name) if !thinking_on => {
                Some(WireToolChoice::Tool { name: name.clone() })
            }
            // `auto` is the default: not sent.
            _ => None,
        }
    };

    let output_config = match request.output_format() {
        ResponseFormat::JsonSchema { schema, .. } => Some(OutputConfig {
            format: OutputFormat::JsonSchema {
                schema: schema.clone(),
            },
        }),
        _ => None,
    };

    Ok(MessagesRequest {
        model: model.to_owned(),
        max_tokens,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        messages: turns.into_iter().map(Turn::into_wire).collect(),
        tools,
        tool_choice,
        thinking: budget.map(|budget_tokens| ThinkingConfig::Enabled { budget_tokens }),
        // Thinking does not allow changing the temperature.
        temperature: options.temperature.filter(|_| !thinking_on),
        // With thinking on, top_p may only be set between 0.95 and 1.
        top_p: options
            .top_p
            .map(|p| if thinking_on { p.clamp(0.95, 1.0) } else { p }),
        stop_sequences: options.stop.clone(),
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
            // The API rejects empty text blocks.
            if !text.is_empty() {
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
            content: result.content.clone(),
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

/// A tool's `input_schema`: its parameters, or an empty object schema.
fn input_schema(parameters: &Value) -> Value {
    match parameters {
        Value::Object(map) if !map.is_empty() => parameters.clone(),
        _ => serde_json::json!({"type": "object", "properties": {}}),
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
        if !config.inline_images && !is_data {
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
