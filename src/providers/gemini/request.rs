//! Building a `GenerateContentRequest` from a [`Request`].
//!
//! - Roles: user and tool-result messages become `user` turns, assistant
//!   messages `model` turns; consecutive turns of one role are merged, and
//!   system messages join the system prompt in `systemInstruction`.
//! - Tool calls go back as `functionCall {name, args}`, tool results as
//!   `functionResponse` named after the tool (from [`ToolResult::name`], else
//!   from the latest earlier call with that id: ids such as `call_0` repeat
//!   across turns), whose `response` is always an object. Gemini 3 and later
//!   always issue call ids and ask for them back, so for them both parts also
//!   carry the call's `id` (the SDKs send `id` to the Gemini API, and refuse
//!   it only for Vertex AI); earlier models get none.
//! - Thinking: only parts produced by this provider are sent back. A
//!   signature-only part re-attaches its `thoughtSignature` to the part before
//!   it (see [`super::response`]); a thought summary goes back as
//!   `{text, thought: true}`. For Gemini 3 models, a model turn with function
//!   calls but no signature (history from another provider) gets the
//!   documented validator-skipping signature on its first call, since
//!   Gemini 3 rejects unsigned calls in the current turn.
//! - Reasoning levels: see [`thinking_config`].
//! - Schemas go as JSON Schema (`parametersJsonSchema`, `responseJsonSchema`)
//!   without `$schema` dialect markers, which Gemini's schema handling does
//!   not take (the Gemini CLI strips them for the same reason).
//! - Gemma models served by the Gemini API take no `systemInstruction`
//!   ("Developer instruction is not enabled"): their system prompt becomes
//!   the first text of the first user turn.

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
use crate::structured::walk::each_schema;
use crate::{
    Message, Part, ReasoningLevel, Request, ResponseFormat, Result, Role, ToolChoice, ToolResult,
};

/// The signature Gemini documents for function calls it did not produce
/// (history moved over from another model), which skips its validation.
pub(crate) const FOREIGN_CALL_SIGNATURE: &str = "skip_thought_signature_validator";

/// Largest thinking budget Gemini 2.5 Flash and Flash-Lite accept.
const FLASH_MAX_BUDGET: u32 = 24_576;
/// Smallest non-zero budget Gemini 2.5 Flash-Lite accepts.
const FLASH_LITE_MIN_BUDGET: u32 = 512;
/// Smallest budget Gemini 2.5 Pro accepts (its thinking cannot be turned off).
const PRO_MIN_BUDGET: u32 = 128;
/// Largest budget Gemini 2.5 Pro accepts.
const PRO_MAX_BUDGET: u32 = 32_768;

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
    // Call id to tool name, from the latest assistant turn that used the id.
    let mut calls: HashMap<&str, &str> = HashMap::new();
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
            Role::Assistant => {
                calls.extend(
                    message
                        .tool_calls()
                        .map(|c| (c.id.as_str(), c.name.as_str())),
                );
                "model"
            }
            _ => "user",
        };
        let parts = message_parts(message, request, cx, &family, &calls).await?;
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
    if family.gemma && !system.is_empty() {
        fold_system_prompt(&mut contents, std::mem::take(&mut system));
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
                        .then(|| json_schema(&tool.parameters)),
                })
                .collect(),
        }];
        body.tool_config = Some(tool_config(request.tool_choice_mode()));
    }
    let config = generation_config(request, &family);
    body.generation_config = (!config.is_empty()).then_some(config);
    Ok(body)
}

async fn message_parts(
    message: &Message,
    request: &Request,
    cx: &BuildContext<'_>,
    family: &ModelFamily,
    calls: &HashMap<&str, &str>,
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
                    id: (family.strict_signatures && !call.id.is_empty()).then(|| call.id.clone()),
                    name: call.name.clone(),
                    args: Some(args_object(&call.arguments)),
                }),
                ..WirePart::default()
            }),
            Part::ToolResult(result) => {
                out.push(function_response(result, calls, family.strict_signatures));
            }
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
/// object result as is, anything else as `{"output": …}`, a failure as
/// `{"error": …}` (the keys the API documents for `FunctionResponse.response`).
/// Without any known tool name the result goes as text. With `with_id`, a
/// result answering a known call carries that call's id.
fn function_response(result: &ToolResult, calls: &HashMap<&str, &str>, with_id: bool) -> WirePart {
    let call = calls.get(result.call_id.as_str()).copied();
    let name = result.name.as_deref().filter(|n| !n.is_empty()).or(call);
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
            Some(value) => json!({ "output": value }),
            None => json!({ "output": result.content }),
        }
    };
    WirePart {
        function_response: Some(FunctionResponse {
            id: (with_id && call.is_some() && !result.call_id.is_empty())
                .then(|| result.call_id.clone()),
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

/// Puts the system prompt in front of the first user turn, for models that
/// take no `systemInstruction`.
fn fold_system_prompt(contents: &mut Vec<Content>, system: Vec<WirePart>) {
    let text = system
        .into_iter()
        .filter_map(|p| p.text)
        .collect::<Vec<_>>()
        .join("\n\n");
    match contents.first_mut() {
        Some(first) if first.role.as_deref() == Some("user") => {
            first.parts.insert(0, WirePart::text(text));
        }
        _ => contents.insert(
            0,
            Content {
                role: Some("user".to_owned()),
                parts: vec![WirePart::text(text)],
            },
        ),
    }
}

/// `schema` without its `$schema` dialect markers.
fn json_schema(schema: &Value) -> Value {
    let mut schema = schema.clone();
    each_schema(&mut schema, &mut |map| {
        map.remove("$schema");
    });
    schema
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
            (Some("application/json"), Some(json_schema(schema)))
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
            .and_then(|level| thinking_config(level, family)),
    }
}

/// What the model id says about its thinking controls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ModelFamily {
    /// Gemini 3 and later: `thinkingLevel`, signed function calls required,
    /// call ids echoed.
    strict_signatures: bool,
    /// A Pro model: thinking cannot be turned off; Gemini 2.5 Pro takes
    /// budgets of 128–32 768, Gemini 3 Pro only the `low` and `high` levels.
    pro: bool,
    /// A Flash-Lite model: Gemini 2.5 Flash-Lite takes budgets of 512–24 576
    /// (or 0).
    flash_lite: bool,
    /// No thinking controls at all (Gemini 1.x and 2.0, Gemma): the API
    /// answers 400 "thinking_config is not supported" to any `thinkingConfig`.
    no_thinking: bool,
    /// Gemma: no `systemInstruction`.
    gemma: bool,
}

impl ModelFamily {
    pub(crate) fn of(model: &str) -> Self {
        let id = model.rsplit('/').next().unwrap_or(model);
        let gemma = id.starts_with("gemma-");
        // `gemini-2.5-…` → (2, 5); `gemini-3-…` → (3, 0); aliases such as
        // `gemini-flash-latest` → (0, 0), unknown.
        let version = id.strip_prefix("gemini-").map_or((0, 0), |rest| {
            let number = |s: &str| {
                s.bytes().take_while(u8::is_ascii_digit).fold(0u32, |n, d| {
                    n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
                })
            };
            let major = number(rest);
            let minor = rest
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .strip_prefix('.')
                .map_or(0, number);
            (major, minor)
        });
        ModelFamily {
            strict_signatures: version.0 >= 3,
            pro: id.contains("-pro"),
            flash_lite: id.contains("flash-lite"),
            no_thinking: gemma || (version.0 > 0 && version < (2, 5)),
            gemma,
        }
    }
}

/// The thinking controls for `level`, with thought summaries requested
/// unless the level is `off`; `None` for models that take none (Gemini 1.x
/// and 2.0, Gemma), which would reject any.
///
/// - Gemini 3 and later take `thinkingLevel`: `off`/`minimal` → `minimal`
///   (`low` on Pro models, whose lowest level that is; Gemini 3 cannot stop
///   thinking), `low` → `low`, `medium` → `medium` (`high` on Pro), `high` and
///   `max` → `high`. An explicit token budget is sent as `thinkingBudget`,
///   which Gemini 3 still accepts.
/// - Earlier models take `thinkingBudget` from [`ReasoningLevel::token_budget`],
///   kept within the model's documented range, since the API rejects others
///   with 400 "The thinking budget (N) is invalid": 1–24 576 (Flash),
///   512–24 576 (Flash-Lite), 128–32 768 (Pro). `off` (or a budget of 0) → 0,
///   no thoughts, or 128 on Pro models, which cannot turn thinking off.
pub(crate) fn thinking_config(
    level: ReasoningLevel,
    family: &ModelFamily,
) -> Option<ThinkingConfig> {
    if family.no_thinking {
        return None;
    }
    let off = matches!(level, ReasoningLevel::Off | ReasoningLevel::Budget(0));
    let include_thoughts = (!off).then_some(true);
    if family.strict_signatures {
        if let ReasoningLevel::Budget(n @ 1..) = level {
            return Some(ThinkingConfig {
                thinking_budget: Some(n),
                thinking_level: None,
                include_thoughts,
            });
        }
        let name = match level {
            _ if off && family.pro => "low",
            _ if off => "minimal",
            ReasoningLevel::Minimal if family.pro => "low",
            ReasoningLevel::Minimal => "minimal",
            ReasoningLevel::Low => "low",
            ReasoningLevel::Medium if family.pro => "high",
            ReasoningLevel::Medium => "medium",
            _ => "high",
        };
        return Some(ThinkingConfig {
            thinking_budget: None,
            thinking_level: Some(name),
            include_thoughts,
        });
    }
    let (min, max) = if family.pro {
        (PRO_MIN_BUDGET, PRO_MAX_BUDGET)
    } else if family.flash_lite {
        (FLASH_LITE_MIN_BUDGET, FLASH_MAX_BUDGET)
    } else {
        (1, FLASH_MAX_BUDGET)
    };
    let budget = match level.token_budget().filter(|_| !off) {
        None if family.pro => PRO_MIN_BUDGET,
        None => 0,
        Some(budget) => budget.clamp(min, max),
    };
    Some(ThinkingConfig {
        thinking_budget: Some(budget),
        thinking_level: None,
        include_thoughts,
    })
}
