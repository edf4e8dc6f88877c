//! Building a `GenerateContentRequest` from a [`Request`].
//!
//! - Roles: user and tool-result messages become `user` turns, assistant
//!   messages `model` turns; consecutive turns of one role are merged, and
//!   system messages join the system prompt in `systemInstruction`.
//! - Tool calls go back as `functionCall {name, args}` (no `id`: the Gemini
//!   API has rejected it in requests), tool results as `functionResponse`
//!   named after the tool (from [`ToolResult::name`], else from the earlier
//!   call with that id), whose `response` is always an object.
//! - Thinking: only parts produced by this provider are sent back. A
//!   signature-only part re-attaches its `thoughtSignature` to the part before
//!   it (see [`super::response`]); a thought summary goes back as
//!   `{text, thought: true}`. For Gemini 3 models, a model turn with function
//!   calls but no signature (history from another provider) gets the
//!   documented validator-skipping signature on its first call, since
//!   Gemini 3 rejects unsigned calls in the current turn.
//! - Reasoning levels: see [`thinking_config`].

use std::collections::HashMap;

use serde_json::{Value, json};

use super::wire::{
    Blob, Content, FunctionCall, FunctionCallingConfig, FunctionDeclaration, FunctionResponse,
    GenerateContentRequest, GenerationConfig, Part as WirePart, ThinkingConfig, ToolConfig,
    ToolDeclarations,
};
use crate::providers::http::MediaLimits;
use crate::providers::http::client::HttpClient;
use crate::providers::http::media::inline_image;
use crate::{
    Message, Part, ReasoningLevel, Request, ResponseFormat, Result, Role, ToolChoice, ToolResult,
};

/// The signature Gemini documents for function calls it did not produce
/// (history moved over from another model), which skips its validation.
pub(crate) const FOREIGN_CALL_SIGNATURE: &str = "skip_thought_signature_validator";

/// Largest thinking budget Gemini 2.5 Flash and Flash-Lite accept.
const FLASH_MAX_BUDGET: u32 = 24_576;
/// Smallest budget Gemini 2.5 Pro accepts (its thinking cannot be turned off).
const PRO_MIN_BUDGET: u32 = 128;

/// What the builder needs besides the request.
pub(crate) struct BuildContext<'a> {
    /// This provider's registered name: thinking from any other is dropped.
    pub(crate) provider: &'a str,
    /// The model id, for model-family choices (thinking controls, signatures).
    pub(crate) model: &'a str,
    pub(crate) client: &'a HttpClient,
    pub(crate) media_limits: &'a MediaLimits,
}

/// The request body for `request`.
///
/// # Errors
/// A request-specific error when an image cannot be inlined.
pub(crate) async fn build(
    request: &Request,
    cx: &BuildContext<'_>,
) -> Result<GenerateContentRequest> {
    let family = ModelFamily::of(cx.model);
    let tool_names = tool_names(request.messages());
    let mut system: Vec<WirePart> = Vec::new();
    if let Some(prompt) = request.system_prompt().filter(|p| !p.is_empty()) {
        system.push(WirePart::text(prompt));
    }
    let mut contents: Vec<Content> = Vec::new();
    for message in request.messages() {
        let role = match message.role {
            Role::System => {
                system.extend(
                    message
                        .parts
                        .iter()
                        .filter_map(Part::as_text)
                        .filter(|t| !t.is_empty())
                        .map(WirePart::text),
                );
                continue;
            }
            Role::Assistant => "model",
            _ => "user",
        };
        let parts = message_parts(message, request, cx, &tool_names).await?;
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
            _ => contents.push(Content {
                role: Some(role.to_owned()),
                parts,
            }),
        }
    }
    if family.strict_signatures {
        for content in &mut contents {
            if content.role.as_deref() == Some("model") {
                sign_foreign_calls(&mut content.parts);
            }
        }
    }

    let tools = request.tool_list();
    let mut body = GenerateContentRequest {
        contents,
        system_instruction: (!system.is_empty()).then_some(Content {
            role: None,
            parts: system,
        }),
        ..GenerateContentRequest::default()
    };
    if !tools.is_empty() {
        body.tools = vec![ToolDeclarations {
            function_declarations: tools
                .iter()
                .map(|tool| FunctionDeclaration {
                    name: tool.name.clone(),
                    description: tool.description.clone(),
                    parameters_json_schema: (!tool.parameters.is_null())
                        .then(|| tool.parameters.clone()),
                })
                .collect(),
        }];
        body.tool_config = Some(tool_config(request.tool_choice_mode()));
    }
    let config = generation_config(request, &family);
    body.generation_config = (!config.is_empty()).then_some(config);
    Ok(body)
}

/// Tool-call id to tool name, from every assistant turn.
fn tool_names(messages: &[Message]) -> HashMap<&str, &str> {
    messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| m.tool_calls())
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect()
}

async fn message_parts(
    message: &Message,
    request: &Request,
    cx: &BuildContext<'_>,
    tool_names: &HashMap<&str, &str>,
) -> Result<Vec<WirePart>> {
    let mut out: Vec<WirePart> = Vec::with_capacity(message.parts.len());
    for part in &message.parts {
        match part {
            Part::Text { text } if !text.is_empty() => out.push(WirePart::text(text.clone())),
            Part::Image(image) => {
                let inline = inline_image(cx.client, request, image, cx.media_limits).await?;
                out.push(WirePart {
                    inline_data: Some(Blob {
                        mime_type: inline.media_type,
                        data: inline.base64,
                    }),
                    ..WirePart::default()
                });
            }
            Part::ToolCall(call) => out.push(WirePart {
                function_call: Some(FunctionCall {
                    id: None,
                    name: call.name.clone(),
                    args: Some(args_object(&call.arguments)),
                }),
                ..WirePart::default()
            }),
            Part::ToolResult(result) => out.push(function_response(result, tool_names)),
            Part::Thinking(thinking) => {
                if thinking.provider.as_deref() != Some(cx.provider) || thinking.redacted.is_some()
                {
                    continue; // another provider's, or a form Gemini never produces
                }
                match (&thinking.signature, thinking.text.is_empty()) {
                    (Some(signature), true) => match out.last_mut() {
                        Some(last) if last.thought_signature.is_none() => {
                            last.thought_signature = Some(signature.clone());
                        }
                        _ => out.push(WirePart {
                            text: Some(String::new()),
                            thought_signature: Some(signature.clone()),
                            ..WirePart::default()
                        }),
                    },
                    (signature, false) => out.push(WirePart {
                        text: Some(thinking.text.clone()),
                        thought: Some(true),
                        thought_signature: signature.clone(),
                        ..WirePart::default()
                    }),
                    (None, true) => {}
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// `functionCall.args` must be an object.
fn args_object(arguments: &Value) -> Value {
    match arguments {
        Value::Object(_) => arguments.clone(),
        Value::Null => json!({}),
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({ "input": text }),
        },
        other => json!({ "input": other }),
    }
}

/// A `functionResponse` part; its `response` is always an object: a JSON
/// object result as is, anything else as `{"result": …}`, a failure as
/// `{"error": …}`. Without any known tool name the result goes as text.
fn function_response(result: &ToolResult, tool_names: &HashMap<&str, &str>) -> WirePart {
    let name = result
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .or_else(|| tool_names.get(result.call_id.as_str()).copied());
    let Some(name) = name else {
        let verb = if result.is_error {
            "failed"
        } else {
            "returned"
        };
        return WirePart::text(format!(
            "Tool call {} {verb}: {}",
            result.call_id, result.content
        ));
    };
    let parsed = serde_json::from_str::<Value>(&result.content).ok();
    let response = if result.is_error {
        json!({ "error": parsed.unwrap_or_else(|| Value::String(result.content.clone())) })
    } else {
        match parsed {
            Some(object @ Value::Object(_)) => object,
            Some(value) => json!({ "result": value }),
            None => json!({ "result": result.content }),
        }
    };
    WirePart {
        function_response: Some(FunctionResponse {
            name: name.to_owned(),
            response,
        }),
        ..WirePart::default()
    }
}

/// Gives the first call of a model turn the validator-skipping signature when
/// none of its calls is signed.
fn sign_foreign_calls(parts: &mut [WirePart]) {
    let mut calls = parts.iter_mut().filter(|p| p.function_call.is_some());
    let Some(first) = calls.next() else {
        return;
    };
    if first.thought_signature.is_some() || calls.any(|p| p.thought_signature.is_some()) {
        return;
    }
    first.thought_signature = Some(FOREIGN_CALL_SIGNATURE.to_owned());
}

fn tool_config(choice: &ToolChoice) -> ToolConfig {
    let (mode, allowed) = match choice {
        ToolChoice::None => ("NONE", Vec::new()),
        ToolChoice::Required => ("ANY", Vec::new()),
        ToolChoice::Tool(name) => ("ANY", vec![name.clone()]),
        _ => ("AUTO", Vec::new()),
    };
    ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode,
            allowed_function_names: allowed,
        },
    }
}

fn generation_config(request: &Request, family: &ModelFamily) -> GenerationConfig {
    let options = request.model_options();
    let (response_mime_type, response_json_schema) = match request.output_format() {
        ResponseFormat::Json => (Some("application/json"), None),
        ResponseFormat::JsonSchema { schema, .. } => {
            (Some("application/json"), Some(schema.clone()))
        }
        _ => (None, None),
    };
    GenerationConfig {
        temperature: options.temperature,
        top_p: options.top_p,
        max_output_tokens: options.max_tokens,
        stop_sequences: options.stop.clone(),
        // Gemini's seed is a 32-bit integer.
        seed: options.seed.map(|s| (s % (1 << 31)) as i64),
        response_mime_type,
        response_json_schema,
        thinking_config: request
            .reasoning_level()
            .map(|level| thinking_config(level, family)),
    }
}

/// What the model id says about its thinking controls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ModelFamily {
    /// Gemini 3 and later: `thinkingLevel`, and signed function calls required.
    strict_signatures: bool,
    /// A Pro model: thinking cannot be turned off; Gemini 3 Pro offers only
    /// the `low` and `high` levels.
    pro: bool,
}

impl ModelFamily {
    pub(crate) fn of(model: &str) -> Self {
        let id = model.rsplit('/').next().unwrap_or(model);
        let generation = id
            .strip_prefix("gemini-")
            .map(|rest| {
                rest.bytes()
                    .take_while(u8::is_ascii_digit)
                    .fold(0u32, |n, d| {
                        n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
                    })
            })
            .unwrap_or(0);
        ModelFamily {
            strict_signatures: generation >= 3,
            pro: id.contains("-pro"),
        }
    }
}

/// The thinking controls for `level`, with thought summaries requested.
///
/// - Gemini 3 and later take `thinkingLevel`: `off`/`minimal` → `minimal`
///   (`low` on Pro models, whose lowest level that is; Gemini 3 cannot stop
///   thinking), `low` → `low`, `medium` → `medium` (`high` on Pro), `high` and
///   `max` → `high`. An explicit token budget is sent as `thinkingBudget`,
///   which Gemini 3 still accepts.
/// - Earlier models take `thinkingBudget` from [`ReasoningLevel::token_budget`],
///   capped at 24 576 (the Flash maximum) except on Pro models; `off` → 0
///   (no thoughts), or 128 on Pro models, which cannot turn thinking off.
pub(crate) fn thinking_config(level: ReasoningLevel, family: &ModelFamily) -> ThinkingConfig {
    let with_budget = |budget: u32| ThinkingConfig {
        thinking_budget: Some(budget),
        thinking_level: None,
        include_thoughts: Some(true),
    };
    if let ReasoningLevel::Budget(n) = level {
        return with_budget(n);
    }
    if family.strict_signatures {
        let name = match level {
            ReasoningLevel::Off | ReasoningLevel::Minimal if family.pro => "low",
            ReasoningLevel::Off | ReasoningLevel::Minimal => "minimal",
            ReasoningLevel::Low => "low",
            ReasoningLevel::Medium if family.pro => "high",
            ReasoningLevel::Medium => "medium",
            _ => "high",
        };
        return ThinkingConfig {
            thinking_budget: None,
            thinking_level: Some(name),
            include_thoughts: Some(true),
        };
    }
    match level.token_budget() {
        None if family.pro => with_budget(PRO_MIN_BUDGET),
        None => ThinkingConfig {
            thinking_budget: Some(0),
            thinking_level: None,
            include_thoughts: None,
        },
        Some(budget) if family.pro => with_budget(budget),
        Some(budget) => with_budget(budget.min(FLASH_MAX_BUDGET)),
    }
}
