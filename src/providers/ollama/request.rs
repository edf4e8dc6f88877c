//! Building the `/api/chat` body from a [`Request`].
//!
//! - The system prompt becomes the first `system` message.
//! - A message's text parts join with `\n` into `content` (always present);
//!   its images go through the media pipeline into `images` (base64).
//! - Assistant tool calls go back as `tool_calls` with the arguments as a
//!   JSON object (a non-object from elsewhere is wrapped, see
//!   [`arguments_object`]); the call id is sent when there is one.
//! - Each tool result becomes its own `tool` message with `tool_name` (from
//!   the result, else from the matching earlier call) and `tool_call_id`.
//!   Ollama has no error flag, so a failed result's content is prefixed
//!   with `Error: `. Results found in a user message (the Anthropic layout)
//!   are sent as `tool` messages before the rest of that message.
//! - Thinking produced by this provider goes back in the assistant's
//!   `thinking` field; thinking from other providers is dropped.
//! - `tool_choice` does not exist in Ollama: `None` sends no tools (so the
//!   model cannot call any), a named tool is the only one offered, and
//!   `Required` is sent like `Auto` (it cannot be enforced).
//! - `think` is a level string only for gpt-oss (harmony) models; other
//!   models get `true`/`false`, see [`think`].

use std::borrow::Cow;

use serde_json::{Value, json};

use super::wire::{
    ChatMessage, ChatRequest, FunctionCallOut, FunctionSpec, ModelOptions, Think, ToolCallOut,
    ToolSpec,
};
use crate::providers::http::client::HttpClient;
use crate::providers::http::media::{self, MediaLimits};
use crate::{
    Message, Part, ReasoningLevel, Request, ResponseFormat, Result, Role, ToolCall, ToolChoice,
    ToolResult,
};

/// What building a body needs from the provider.
pub(super) struct Context<'p> {
    /// This provider's name: its own thinking parts go back.
    pub(super) provider: &'p str,
    pub(super) client: &'p HttpClient,
    pub(super) limits: &'p MediaLimits,
}

/// The body for `model`, streamed or not.
///
/// # Errors
/// An image the media pipeline cannot inline (request-specific).
pub(super) async fn build<'a>(
    cx: &Context<'_>,
    request: &'a Request,
    model: &'a str,
    stream: bool,
) -> Result<ChatRequest<'a>> {
    let mut messages = Vec::with_capacity(request.messages().len() + 1);
    if let Some(system) = request.system_prompt() {
        messages.push(ChatMessage::new("system", Cow::Borrowed(system)));
    }
    let history = request.messages();
    for (at, message) in history.iter().enumerate() {
        push_message(cx, request, &history[..at], message, &mut messages).await?;
    }
    let options = request.model_options();
    let offered = |tool: &&crate::Tool| match request.tool_choice_mode() {
        ToolChoice::None => false,
        ToolChoice::Tool(name) => {
            tool.name == *name || !request.tool_list().iter().any(|t| t.name == *name)
        }
        _ => true,
    };
    Ok(ChatRequest {
        model,
        messages,
        tools: request
            .tool_list()
            .iter()
            .filter(offered)
            .map(|tool| ToolSpec {
                kind: "function",
                function: FunctionSpec {
                    name: &tool.name,
                    description: &tool.description,
                    parameters: match &tool.parameters {
                        Value::Null => Cow::Owned(json!({"type": "object", "properties": {}})),
                        schema => Cow::Borrowed(schema),
                    },
                },
            })
            .collect(),
        format: match request.output_format() {
            ResponseFormat::Json => Some(Cow::Owned(Value::from("json"))),
            ResponseFormat::JsonSchema { schema, .. } => Some(Cow::Borrowed(schema)),
            ResponseFormat::Text => None,
        },
        options: ModelOptions {
            temperature: options.temperature,
            top_p: options.top_p,
            seed: options.seed,
            stop: &options.stop,
            num_predict: options.max_tokens,
        },
        think: request.reasoning_level().map(|level| think(level, model)),
        stream,
    })
}

/// `think` for a reasoning level and model.
///
/// Ollama's documentation: "Most models accept booleans (`true`/`false`).
/// GPT-OSS instead expects one of `low`, `medium`, or `high` … Passing
/// `true`/`false` is ignored for that model." The servers that brought
/// levels (with gpt-oss) answer a level string for any other model with 400
/// `think value "low" is not supported for this model` (`server/routes.go`),
/// and the servers before them took only a boolean. So:
/// - gpt-oss models (an id containing `gpt-oss`) get a level: `Off` and
///   `Minimal` become `"low"` (their trace cannot be turned off), `Max`
///   becomes `"high"`, and a token budget the nearest level (up to 2048
///   tokens low, up to 8192 medium, above that high);
/// - every other model gets `false` for `Off` and `true` for any other level
///   (the server, not the model, would reject a level string).
pub(super) fn think(level: ReasoningLevel, model: &str) -> Think {
    if !takes_think_levels(model) {
        return Think::On(level != ReasoningLevel::Off);
    }
    Think::Level(match level {
        ReasoningLevel::Off | ReasoningLevel::Minimal | ReasoningLevel::Low => "low",
        ReasoningLevel::Medium => "medium",
        ReasoningLevel::High | ReasoningLevel::Max => "high",
        ReasoningLevel::Budget(n) if n <= 2048 => "low",
        ReasoningLevel::Budget(n) if n <= 8192 => "medium",
        ReasoningLevel::Budget(_) => "high",
    })
}

/// True for the models whose `think` takes a level: gpt-oss (Ollama's
/// harmony parser), e.g. `gpt-oss`, `gpt-oss:120b-cloud`,
/// `gpt-oss-safeguard:20b`, `hf.co/unsloth/gpt-oss-20b-GGUF`.
fn takes_think_levels(model: &str) -> bool {
    let model = model.to_ascii_lowercase();
    model.contains("gpt-oss") || model.contains("gptoss")
}

async fn push_message<'a>(
    cx: &Context<'_>,
    request: &'a Request,
    earlier: &'a [Message],
    message: &'a Message,
    out: &mut Vec<ChatMessage<'a>>,
) -> Result<()> {
    let role = match message.role {
        Role::System => "system",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
        Role::User => "user",
    };
    let mut texts: Vec<&'a str> = Vec::new();
    let mut thinking: Vec<&'a str> = Vec::new();
    let mut main = ChatMessage::new(role, Cow::Borrowed(""));
    let mut results = Vec::new();
    for part in &message.parts {
        match part {
            Part::Text { text } => texts.push(text),
            Part::Image(image) => {
                let inline = media::inline_image(cx.client, request, image, cx.limits).await?;
                main.images.push(inline.base64);
            }
            Part::ToolCall(call) => main.tool_calls.push(tool_call(call)),
            Part::ToolResult(result) => results.push(tool_result(earlier, message, result)),
            Part::Thinking(t) => {
                if t.provider.as_deref() == Some(cx.provider)
                    && t.redacted.is_none()
                    && !t.text.is_empty()
                {
                    thinking.push(&t.text);
                }
            }
        }
    }
    main.content = join(&texts, "\n");
    if !thinking.is_empty() && message.role == Role::Assistant {
        main.thinking = Some(join(&thinking, ""));
    }
    let has_content = !main.content.is_empty()
        || !main.images.is_empty()
        || !main.tool_calls.is_empty()
        || main.thinking.is_some();
    let send_main = has_content || results.is_empty();
    if message.role == Role::Assistant {
        // The results answer the calls, so they come after them.
        if send_main {
            out.push(main);
        }
        out.extend(results);
    } else {
        out.extend(results);
        if send_main {
            out.push(main);
        }
    }
    Ok(())
}

fn join<'a>(pieces: &[&'a str], separator: &str) -> Cow<'a, str> {
    match pieces {
        [] => Cow::Borrowed(""),
        [one] => Cow::Borrowed(one),
        many => Cow::Owned(many.join(separator)),
    }
}

fn tool_call(call: &ToolCall) -> ToolCallOut<'_> {
    ToolCallOut {
        id: (!call.id.is_empty()).then_some(call.id.as_str()),
        function: FunctionCallOut {
            name: &call.name,
            arguments: arguments_object(&call.arguments),
        },
    }
}

/// Ollama decodes `arguments` into an object and rejects anything else. An
/// object goes as is; `null` or an empty string is `{}`; a string holding a
/// JSON object (OpenAI-style arguments) is that object; any other value is
/// kept, wrapped as `{"value": <it>}`.
pub(super) fn arguments_object(arguments: &Value) -> Cow<'_, Value> {
    match arguments {
        Value::Object(_) => Cow::Borrowed(arguments),
        Value::Null => Cow::Owned(Value::Object(serde_json::Map::new())),
        Value::String(text) if text.trim().is_empty() => {
            Cow::Owned(Value::Object(serde_json::Map::new()))
        }
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(object @ Value::Object(_)) => Cow::Owned(object),
            _ => Cow::Owned(json!({ "value": text })),
        },
        other => Cow::Owned(json!({ "value": other })),
    }
}

fn tool_result<'a>(
    earlier: &'a [Message],
    message: &'a Message,
    result: &'a ToolResult,
) -> ChatMessage<'a> {
    let content = if result.is_error {
        Cow::Owned(format!("Error: {}", result.content))
    } else {
        Cow::Borrowed(result.content.as_str())
    };
    let mut out = ChatMessage::new("tool", content);
    out.tool_name = result
        .name
        .as_deref()
        .or_else(|| tool_name_for(earlier, message, &result.call_id));
    out.tool_call_id = (!result.call_id.is_empty()).then_some(result.call_id.as_str());
    out
}

/// The name of the latest call with this id: in the same message (a
/// provider that puts calls and results together), else in earlier ones.
fn tool_name_for<'a>(earlier: &'a [Message], message: &'a Message, id: &str) -> Option<&'a str> {
    std::iter::once(message)
        .chain(earlier.iter().rev())
        .find_map(|m| {
            m.tool_calls()
                .filter(|call| call.id == id)
                .last()
                .map(|call| call.name.as_str())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_levels_map_to_accepted_think_values() {
        use ReasoningLevel as L;
        let levels = [
            L::Off,
            L::Minimal,
            L::Low,
            L::Medium,
            L::High,
            L::Max,
            L::Budget(1000),
            L::Budget(4096),
            L::Budget(20000),
        ];
        // gpt-oss takes levels and cannot turn thinking off.
        let gpt_oss = [
            "low", "low", "low", "medium", "high", "high", "low", "medium", "high",
        ];
        for model in [
            "gpt-oss",
            "gpt-oss:120b-cloud",
            "hf.co/unsloth/GPT-OSS-20b-GGUF",
        ] {
            for (level, expected) in levels.iter().zip(gpt_oss) {
                assert_eq!(
                    think(*level, model),
                    Think::Level(expected),
                    "{model} {level}"
                );
            }
        }
        // Every other model: a switch (a level string is a 400 there).
        for model in ["qwen3", "deepseek-r1:8b", "llama3.2"] {
            assert_eq!(think(L::Off, model), Think::On(false), "{model}");
            for level in &levels[1..] {
                assert_eq!(think(*level, model), Think::On(true), "{model} {level}");
            }
        }
    }

    #[test]
    fn arguments_always_become_an_object() {
        let a = |v: Value| arguments_object(&v).into_owned();
        assert_eq!(a(json!({"city": "Paris"})), json!({"city": "Paris"}));
        assert_eq!(a(Value::Null), json!({}));
        assert_eq!(a(json!("")), json!({}));
        assert_eq!(a(json!("{\"city\":\"Paris\"}")), json!({"city": "Paris"}));
        assert_eq!(
            a(json!("{\"city\":\"Par")),
            json!({"value": "{\"city\":\"Par"})
        );
        assert_eq!(a(json!([1, 2])), json!({"value": [1, 2]}));
        assert_eq!(a(json!(7)), json!({"value": 7}));
    }
}
