//! The protocol table: what differs between the wire protocols, and nothing
//! else. Answers are the recorded or documented fixtures of
//! `tests/fixtures/<protocol>/` (`tests/fixtures/SOURCES.md`); error bodies
//! are fixtures where one was recorded, otherwise the protocol's documented
//! error shape.

use base64::Engine as _;
use std::sync::Arc;

use majordomo::FinishReason;
use majordomo::providers::anthropic::{AnthropicConfig, AnthropicProvider};
use majordomo::providers::gemini::{GeminiConfig, GeminiProvider};
use majordomo::providers::ollama::{OllamaConfig, OllamaProvider};
use majordomo::providers::openai::{AzureProvider, OpenAiConfig, OpenAiProvider};
use majordomo::{Image, ReasoningLevel, Request, Tool};
use serde_json::{Value, json};

use super::{Example, Fault, KEY, NAME, Protocol, Signal, answer, call, thought};
use crate::support::http::fixture;

// ----- building a documented request -----

/// The text of a documented body's `i`-th message.
fn text_at(body: &Value, i: usize) -> &str {
    let content = &body["messages"][i]["content"];
    content
        .as_str()
        .or_else(|| content[0]["text"].as_str())
        .unwrap()
}

/// The documented body's first message, as a request.
fn ask(body: &Value) -> Request {
    Request::new().user(text_at(body, 0))
}

/// The documented body's first tool: `{type: function, function: {…}}`
/// (OpenAI, Ollama) or `{name, description, input_schema}` (Anthropic).
fn tool(body: &Value) -> Tool {
    let spec = &body["tools"][0];
    let (f, parameters) = match spec.get("function") {
        Some(f) => (f, &f["parameters"]),
        None => (spec, &spec["input_schema"]),
    };
    Tool::new(
        f["name"].as_str().unwrap(),
        f["description"].as_str().unwrap(),
        parameters.clone(),
    )
}

/// The documented body's output cap.
fn cap(body: &Value) -> u32 {
    u32::try_from(body["max_tokens"].as_u64().unwrap()).unwrap()
}

/// An inline PNG from base64.
fn png(data: &str) -> Image {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    Image::inline("image/png", bytes)
}

// ----- the shared config setters -----

/// `$config` with the shared setters the `config_setters` scenario asks for.
macro_rules! configured {
    ($config:expr, $settings:expr, $url:expr) => {{
        let config = $config
            .name(NAME)
            .api_key("old-key")
            .header("x-old", "old")
            .capabilities(super::declared())
            .http($settings);
        match $url {
            Some(url) => config.base_url(url),
            None => config,
        }
    }};
}

// ----- OpenAI Chat Completions -----

fn openai_error(kind: &str, message: &str) -> String {
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}}).to_string()
}

fn openai_coded(kind: &str, code: &str, message: &str) -> String {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}}).to_string()
}

fn openai_fault(signal: Signal) -> Option<Fault> {
    let f = |name: &str| fixture(&format!("openai/{name}"));
    Some(match signal {
        Signal::RateLimited => Fault::new(
            429,
            openai_coded(
                "requests",
                "rate_limit_exceeded",
                "Rate limit reached for gpt-4o",
            ),
            "Rate limit reached",
        )
        .code("rate_limit_exceeded"),
        Signal::Unavailable => Fault::new(
            503,
            openai_error(
                "server_error",
                "The engine is currently overloaded, please try again later.",
            ),
            "overloaded",
        ),
        Signal::Overloaded => Fault::new(
            529,
            openai_error("overloaded_error", "Overloaded"),
            "Overloaded",
        ),
        Signal::Internal => Fault::new(
            500,
            openai_error(
                "server_error",
                "The server had an error while processing your request.",
            ),
            "server had an error",
        ),
        Signal::Unauthorized => Fault::new(
            401,
            // The server echoes the key: it must not reach the error.
            openai_coded(
                "invalid_request_error",
                "invalid_api_key",
                &format!("Incorrect API key provided: {KEY}."),
            ),
            "Incorrect API key provided",
        )
        .code("invalid_api_key"),
        Signal::Forbidden => Fault::new(
            403,
            openai_coded(
                "request_forbidden",
                "unsupported_country_region_territory",
                "Country, region, or territory not supported",
            ),
            "not supported",
        ),
        Signal::ModelNotFound => Fault::new(
            404,
            f("error_404_model_not_found.json"),
            "does not exist",
        )
        .code("model_not_found"),
        // What a wrong base URL meets on most servers (Go's default handler).
        Signal::BareNotFound => Fault::new(404, "404 page not found", "404 page not found"),
        Signal::BadRequest => Fault::new(
            400,
            f("error_400_unsupported_parameter.json"),
            "max_completion_tokens",
        ),
        Signal::ContextOverflow => Fault::new(
            400,
            f("error_400_context_length_exceeded.json"),
            "maximum context length",
        )
        .code("context_length_exceeded"),
        // Azure OpenAI's content filter.
        Signal::ContentFilter => Fault::new(
            400,
            r#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400}}"#,
            "content management policy",
        )
        .code("content_filter"),
        Signal::Quota => Fault::new(
            429,
            f("error_429_insufficient_quota.json"),
            "exceeded your current quota",
        ),
        _ => return None,
    })
}

pub const OPENAI: Protocol = Protocol {
    name: "openai",
    fixtures: "openai",
    scheme: "openai+http",
    base: "/v1",
    model: "gpt-5.1",
    route: |_, _| "/v1/chat/completions".into(),
    query: |_| None,
    auth: ("authorization", "Bearer "),
    builtin_key: Some(("OPENAI_API_KEY", "openai")),
    builtin_url: Some(("openai", "OPENAI_BASE_URL", "/v1")),
    configured: |settings, url| {
        let config = configured!(OpenAiConfig::new(), settings, url);
        Arc::new(OpenAiProvider::new(config).unwrap())
    },
    stream_type: "text/event-stream",
    delimiter: b"\n\n",
    keep_alive: ": keep-alive\n\n",
    stream_error: |message| {
        format!(
            "data: {}\n\n",
            json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}})
        )
    },
    error_shape: openai_error,
    fault: openai_fault,
    retry_info: false,
    plain: answer(
        "chat_response_basic.json",
        "Hello! How can I assist you today?",
        FinishReason::Stop,
        (19, 10),
    ),
    stream: answer(
        "chat_stream_text.sse",
        "I'm unable to provide real-time weather updates.",
        FinishReason::Stop,
        (14, 30),
    ),
    tools: call(
        "chat_response_tool_calls_doc.json",
        "get_current_weather",
        || json!({"location": "Boston, MA"}),
    ),
    tools_stream: call(
        "chat_stream_tool_call.sse",
        "GetWeatherArgs",
        || json!({"city": "Edinburgh", "country": "UK", "units": "c"}),
    ),
    reasoning: thought(
        "synthetic_response_reasoning_tool_call.json",
        "The user wants the weather.",
        "Checking Zürich.",
    ),
    reasoning_stream: Some(thought(
        "synthetic_stream_reasoning_tool_call.sse",
        "The user wants the weather.",
        "Checking Zürich.",
    )),
    schema: answer(
        "chat_response_json_schema.json",
        r#"{"city":"San Francisco","temperature":65,"units":"f"}"#,
        FinishReason::Stop,
        (79, 14),
    ),
    counterparts: &[
        ("chat_stream_length.sse", "chat_response_length.json", true),
        // The same answer recorded twice: only the call id differs.
        (
            "chat_stream_tool_call.sse",
            "chat_response_tool_call.json",
            false,
        ),
        (
            "synthetic_stream_reasoning_tool_call.sse",
            "synthetic_response_reasoning_tool_call.json",
            true,
        ),
    ],
    truncated: &[
        "chat_stream_length.sse",
        "synthetic_stream_reasoning_tool_call.sse",
    ],
    examples: &[
        // The OpenAPI "Default" example: we send `system` where it says
        // `developer`, which the compatible servers do not all know.
        Example {
            request: "chat_request_basic.json",
            stream: false,
            answer: "chat_response_basic.json",
            build: |b| Request::new().system(text_at(b, 0)).user(text_at(b, 1)),
            adjust: developer_as_system,
        },
        // The "Streaming" example; we ask for the usage chunk too.
        Example {
            request: "chat_request_stream.json",
            stream: true,
            answer: "chat_stream_text.sse",
            build: |b| Request::new().system(text_at(b, 0)).user(text_at(b, 1)),
            adjust: |b| {
                developer_as_system(b);
                b["stream_options"] = json!({"include_usage": true});
            },
        },
        // The "Functions" example.
        Example {
            request: "chat_request_tools.json",
            stream: false,
            answer: "chat_response_tool_calls_doc.json",
            build: |b| ask(b).tool(tool(b)),
            adjust: |_| {},
        },
        // The "Image input" example (an image by URL).
        Example {
            request: "chat_request_image_url.json",
            stream: false,
            answer: "chat_response_image_input.json",
            build: |b| {
                let url = b["messages"][0]["content"][1]["image_url"]["url"].as_str();
                Request::new()
                    .user_with_image(text_at(b, 0), Image::url(url.unwrap()))
                    .max_tokens(cap(b))
            },
            adjust: |_| {},
        },
        // What the SDK sent for `test_parse_pydantic_model` (streamed).
        Example {
            request: "chat_request_json_schema_stream.json",
            stream: true,
            answer: "chat_stream_json_schema.sse",
            build: |b| {
                let schema = &b["response_format"]["json_schema"]["schema"];
                ask(b).json_schema("Location", schema.clone())
            },
            adjust: |b| b["stream_options"] = json!({"include_usage": true}),
        },
    ],
    dialect: |_| {},
};

/// Azure OpenAI: OpenAI's body, answers, streams and errors on a resource's
/// deployments, with the key in `api-key` and the API version in the query.
/// (A function: a constant cannot take the rest of `OPENAI`, whose answers
/// hold values with destructors.)
pub fn azure() -> Protocol {
    Protocol {
        name: "azure",
        scheme: "azure+http",
        base: "?api-version=2024-10-21",
        route: |model, _| format!("/openai/deployments/{model}/chat/completions"),
        query: |_| Some("api-version=2024-10-21"),
        auth: ("api-key", ""),
        // Azure has no built-in provider: every resource is named by a DSN.
        builtin_key: None,
        builtin_url: None,
        configured: |settings, url| {
            let config = configured!(OpenAiConfig::new(), settings, url);
            Arc::new(AzureProvider::new(config, "2024-10-21").unwrap())
        },
        // API versions from 2024-09-01 on take `max_completion_tokens` only.
        dialect: |body| {
            if let Some(cap) = body.as_object_mut().unwrap().remove("max_tokens") {
                body["max_completion_tokens"] = cap;
            }
        },
        ..OPENAI
    }
}

/// An OpenAPI example with `developer` turned into `system`.
fn developer_as_system(body: &mut Value) {
    for message in body["messages"].as_array_mut().unwrap() {
        if message["role"] == "developer" {
            message["role"] = json!("system");
        }
    }
}

// ----- Anthropic Messages -----

fn anthropic_error(kind: &str, message: &str) -> String {
    json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"})
        .to_string()
}

fn anthropic_fault(signal: Signal) -> Option<Fault> {
    let f = |name: &str| fixture(&format!("anthropic/{name}"));
    let e = anthropic_error;
    Some(match signal {
        Signal::RateLimited => {
            Fault::new(429, f("error_429_rate_limit.json"), "rate limit").code("rate_limit_error")
        }
        Signal::Unavailable => Fault::new(
            503,
            e("api_error", "Service unavailable"),
            "Service unavailable",
        ),
        Signal::Overloaded => {
            Fault::new(529, f("error_529_overloaded.json"), "Overloaded").code("overloaded_error")
        }
        Signal::Internal => Fault::new(
            500,
            e("api_error", "Internal server error"),
            "Internal server error",
        )
        .code("api_error"),
        Signal::Unauthorized => Fault::new(
            401,
            e("authentication_error", &format!("invalid x-api-key: {KEY}")),
            "invalid x-api-key",
        )
        .code("authentication_error"),
        Signal::Forbidden => Fault::new(
            403,
            e(
                "permission_error",
                "Your API key does not have permission to use the specified resource.",
            ),
            "does not have permission",
        ),
        Signal::ModelNotFound => Fault::new(
            404,
            e("not_found_error", "model: claude-sonnet-4-5"),
            "model: claude-sonnet-4-5",
        ),
        Signal::BareNotFound => Fault::new(404, e("not_found_error", "Not Found"), "Not Found"),
        Signal::BadRequest => Fault::new(
            400,
            f("error_400_invalid_request.json"),
            "must have a corresponding `tool_use` block",
        ),
        Signal::TooLarge => Fault::new(
            413,
            e(
                "request_too_large",
                "Request exceeds the maximum allowed number of bytes.",
            ),
            "maximum allowed number of bytes",
        ),
        Signal::ContextOverflow => Fault::new(
            400,
            e(
                "invalid_request_error",
                "prompt is too long: 208656 tokens > 200000 maximum",
            ),
            "prompt is too long",
        ),
        // Anthropic has no content-filter error: a refusal is a 200 answer
        // with `stop_reason: refusal` (read as FinishReason::ContentFilter).
        Signal::ContentFilter => return None,
        Signal::Quota => Fault::new(
            402,
            e("billing_error", "Your credit balance is too low"),
            "credit balance",
        ),
        _ => return None,
    })
}

pub const ANTHROPIC: Protocol = Protocol {
    name: "anthropic",
    fixtures: "anthropic",
    scheme: "anthropic+http",
    base: "",
    model: "claude-sonnet-4-5",
    route: |_, _| "/v1/messages".into(),
    query: |_| None,
    auth: ("x-api-key", ""),
    builtin_key: Some(("ANTHROPIC_API_KEY", "anthropic")),
    builtin_url: Some(("anthropic", "ANTHROPIC_BASE_URL", "")),
    configured: |settings, url| {
        let config = configured!(AnthropicConfig::new(), settings, url);
        Arc::new(AnthropicProvider::new(config).unwrap())
    },
    stream_type: "text/event-stream",
    delimiter: b"\n\n",
    keep_alive: "event: ping\ndata: {\"type\": \"ping\"}\n\n",
    stream_error: |message| {
        format!(
            "event: error\ndata: {}\n\n",
            json!({"type": "error", "error": {"type": "api_error", "message": message}})
        )
    },
    error_shape: anthropic_error,
    fault: anthropic_fault,
    retry_info: false,
    plain: answer(
        "messages_response_text.json",
        "The weather in San Francisco, CA is currently **Sunny**",
        FinishReason::Stop,
        (770, 25),
    ),
    stream: answer(
        "messages_stream_basic.sse",
        "Hello there!",
        FinishReason::Stop,
        (11, 6),
    ),
    tools: call(
        "messages_response_tool_use.json",
        "get_weather",
        || json!({"location": "San Francisco, CA", "units": "f"}),
    ),
    tools_stream: call(
        "messages_stream_tool_use.sse",
        "get_weather",
        || json!({"location": "San Francisco, CA", "units": "f"}),
    ),
    reasoning: thought(
        "messages_response_thinking.json",
        "Let me count the letter r",
        "There are three r's",
    ),
    reasoning_stream: Some(thought(
        "messages_stream_thinking_signature_refusal.sse",
        "Simple educational question",
        "Hi",
    )),
    schema: answer(
        "messages_response_structured_output.json",
        "{",
        FinishReason::Stop,
        (406, 50),
    ),
    counterparts: &[
        (
            "messages_stream_basic.sse",
            "synthetic_response_stream_basic.json",
            true,
        ),
        (
            "messages_stream_tool_use.sse",
            "synthetic_response_stream_tool_use.json",
            true,
        ),
        (
            "messages_stream_thinking_signature_refusal.sse",
            "synthetic_response_thinking_signature_refusal.json",
            true,
        ),
    ],
    truncated: &["messages_stream_basic.sse", "messages_stream_tool_use.sse"],
    examples: &[
        // The SDK's `examples/images.py` call.
        Example {
            request: "messages_request_image_base64.json",
            stream: false,
            answer: "messages_response_text.json",
            build: |b| {
                let data = b["messages"][0]["content"][1]["source"]["data"].as_str();
                Request::new()
                    .user_with_image(text_at(b, 0), png(data.unwrap()))
                    .max_tokens(cap(b))
            },
            adjust: |_| {},
        },
        // The SDK's `examples/thinking.py` call, on a model that still takes
        // a budget (Claude Sonnet 5 gets adaptive thinking).
        Example {
            request: "messages_request_thinking.json",
            stream: false,
            answer: "messages_response_thinking.json",
            build: |b| {
                ask(b)
                    .max_tokens(cap(b))
                    .reasoning(ReasoningLevel::Budget(1600))
            },
            adjust: |b| b["model"] = json!("claude-sonnet-4-5"),
        },
        // Recorded: a streamed tool call.
        Example {
            request: "messages_request_tools_stream.json",
            stream: true,
            answer: "messages_stream_tool_use.sse",
            build: |b| ask(b).tool(tool(b)).max_tokens(cap(b)),
            adjust: |_| {},
        },
        // Recorded: structured output, plain and streamed.
        Example {
            request: "messages_request_structured_output.json",
            stream: false,
            answer: "messages_response_structured_output.json",
            build: |b| {
                let schema = &b["output_config"]["format"]["schema"];
                ask(b)
                    .max_tokens(cap(b))
                    .json_schema("OrderDetails", schema.clone())
            },
            adjust: |_| {},
        },
        Example {
            request: "messages_request_structured_output_stream.json",
            stream: true,
            answer: "messages_stream_structured_output.sse",
            build: |b| {
                let schema = &b["output_config"]["format"]["schema"];
                ask(b).max_tokens(cap(b)).json_schema("ids", schema.clone())
            },
            adjust: |_| {},
        },
    ],
    dialect: |_| {},
};

// ----- Ollama /api/chat -----

fn ollama_error(_kind: &str, message: &str) -> String {
    json!({ "error": message }).to_string()
}

fn ollama_fault(signal: Signal) -> Option<Fault> {
    let f = |name: &str| fixture(&format!("ollama/{name}"));
    let e = |message: &str| ollama_error("", message);
    Some(match signal {
        Signal::RateLimited => Fault::new(429, e("too many requests"), "too many requests"),
        Signal::Unavailable => Fault::new(
            503,
            e("server busy, please try again.  maximum pending requests exceeded"),
            "server busy",
        ),
        Signal::Internal => Fault::new(
            500,
            f("error_body.json"),
            "the model failed to generate a response",
        ),
        Signal::Unauthorized => Fault::new(
            401,
            json!({"error": format!("unauthorized: key {KEY} is not valid"),
                   "signin_url": "https://ollama.com/connect?x"})
            .to_string(),
            "unauthorized",
        ),
        Signal::ModelNotFound => Fault::new(404, f("error_404_model_not_found.json"), "not found"),
        // Ollama's router (gin) on an unknown path.
        Signal::BareNotFound => Fault::new(404, "404 page not found", "404 page not found"),
        Signal::BadRequest => Fault::new(400, e("invalid options: num_predict"), "invalid options"),
        Signal::ContextOverflow => Fault::new(
            400,
            e("the prompt is longer than the context length currently available to the model"),
            "context length",
        ),
        // A local server: no 529, no 403, no content filter, no quota.
        _ => return None,
    })
}

pub const OLLAMA: Protocol = Protocol {
    name: "ollama",
    fixtures: "ollama",
    scheme: "ollama+http",
    base: "",
    model: "qwen3",
    route: |_, _| "/api/chat".into(),
    query: |_| None,
    auth: ("authorization", "Bearer "),
    builtin_key: None,
    builtin_url: Some(("ollama", "OLLAMA_HOST", "")),
    configured: |settings, url| {
        let config = configured!(OllamaConfig::new(), settings, url);
        Arc::new(OllamaProvider::new(config).unwrap())
    },
    stream_type: "application/x-ndjson",
    delimiter: b"\n",
    keep_alive: "\n",
    stream_error: |message| format!("{}\n", json!({ "error": message })),
    error_shape: ollama_error,
    fault: ollama_fault,
    retry_info: false,
    plain: answer(
        "chat_response.json",
        "Hello! How are you today?",
        FinishReason::Stop,
        (26, 298),
    ),
    stream: answer("chat_stream.ndjson", "The", FinishReason::Stop, (26, 282)),
    tools: call(
        "chat_response_tool_call.json",
        "get_weather",
        || json!({"city": "Tokyo"}),
    ),
    tools_stream: call(
        "chat_stream_tool_call.ndjson",
        "get_weather",
        || json!({"city": "Tokyo"}),
    ),
    reasoning: thought(
        "chat_response_thinking.json",
        "Okay, the user wants to know",
        "There are three r's",
    ),
    reasoning_stream: None,
    schema: answer(
        "chat_response_format_json_schema.json",
        "{",
        FinishReason::Stop,
        (0, 0),
    ),
    // The paced NDJSON stream of `ollama.rs` folds into its whole answer.
    counterparts: &[],
    truncated: &["chat_stream.ndjson", "chat_stream_tool_call.ndjson"],
    examples: &[
        // `docs/api.md` § "Chat request (No streaming)".
        Example {
            request: "chat_request_nostream.json",
            stream: false,
            answer: "chat_response.json",
            build: ask,
            adjust: |_| {},
        },
        // § "Chat request (Streaming)": we say `stream: true` explicitly.
        Example {
            request: "chat_request_stream.json",
            stream: true,
            answer: "chat_stream.ndjson",
            build: ask,
            adjust: |b| b["stream"] = json!(true),
        },
        // § "Chat request (No streaming, with tools)" and its streamed twin.
        Example {
            request: "chat_request_tools.json",
            stream: false,
            answer: "chat_response_tool_call.json",
            build: |b| ask(b).tool(tool(b)),
            adjust: |_| {},
        },
        Example {
            request: "chat_request_tools_stream.json",
            stream: true,
            answer: "chat_stream_tool_call.ndjson",
            build: |b| ask(b).tool(tool(b)),
            adjust: |_| {},
        },
        // § "Chat request (with images)": raw base64.
        Example {
            request: "chat_request_images_base64.json",
            stream: false,
            answer: "chat_response_images.json",
            build: |b| {
                let data = b["messages"][0]["images"][0].as_str();
                Request::new().user_with_image(text_at(b, 0), png(data.unwrap()))
            },
            adjust: |b| b["stream"] = json!(false),
        },
        // § "Chat request (Reproducible outputs)": options; a float temperature.
        Example {
            request: "chat_request_options.json",
            stream: false,
            answer: "chat_response.json",
            build: |b| ask(b).seed(101).temperature(0.0),
            adjust: |b| {
                b["stream"] = json!(false);
                b["options"]["temperature"] = json!(0.0);
            },
        },
        // § "Chat request (Structured outputs)": the schema in `format`.
        Example {
            request: "chat_request_format_json_schema.json",
            stream: false,
            answer: "chat_response_format_json_schema.json",
            build: |b| {
                ask(b)
                    .temperature(0.0)
                    .json_schema("availability", b["format"].clone())
            },
            adjust: |b| b["options"]["temperature"] = json!(0.0),
        },
        // `docs/openapi.yaml`'s thinking sample: a level, for gpt-oss.
        Example {
            request: "chat_request_think.json",
            stream: false,
            answer: "chat_response_thinking.json",
            build: |b| ask(b).reasoning(ReasoningLevel::Low),
            adjust: |b| b["stream"] = json!(false),
        },
    ],
    dialect: |_| {},
};

// ----- Gemini generateContent -----

fn gemini_error(status: &str, message: &str) -> String {
    json!({"error": {"code": 400, "message": message, "status": status}}).to_string()
}

fn gemini_fault(signal: Signal) -> Option<Fault> {
    let f = |name: &str| fixture(&format!("gemini/{name}"));
    Some(match signal {
        Signal::RateLimited => Fault::new(
            429,
            f("error_429_resource_exhausted.json"),
            "You exceeded your current quota",
        )
        .code("RESOURCE_EXHAUSTED"),
        Signal::Unavailable => {
            Fault::new(503, f("error_503_unavailable.json"), "overloaded").code("UNAVAILABLE")
        }
        Signal::Internal => {
            Fault::new(500, f("error_500_internal.json"), "internal").code("INTERNAL")
        }
        Signal::GatewayTimeout => Fault::new(
            504,
            f("error_504_deadline_exceeded.json"),
            "Deadline expired",
        )
        .code("DEADLINE_EXCEEDED"),
        // An invalid key is a 400 on Gemini, not a 401.
        Signal::Unauthorized => Fault::new(
            400,
            f("error_400_api_key_invalid.json"),
            "API key not valid",
        )
        .code("API_KEY_INVALID"),
        Signal::Forbidden => Fault::new(
            403,
            f("error_403_permission_denied.json"),
            "unregistered callers",
        )
        .code("PERMISSION_DENIED"),
        Signal::ModelNotFound => {
            Fault::new(404, f("error_404_model_not_found.json"), "is not found").code("NOT_FOUND")
        }
        // Google's front end on an unknown path.
        Signal::BareNotFound => Fault::new(
            404,
            "<!DOCTYPE html><html lang=en><title>Error 404 (Not Found)!!1</title><p>The requested URL was not found on this server.</p></html>",
            "Not Found",
        ),
        Signal::BadRequest => Fault::new(
            400,
            f("error_400_failed_precondition.json"),
            "User location is not supported",
        )
        .code("FAILED_PRECONDITION"),
        Signal::ContextOverflow => Fault::new(
            400,
            f("error_400_input_token_count.json"),
            "exceeds the maximum number of tokens",
        )
        .code("INVALID_ARGUMENT"),
        // A blocked prompt is a 200 answer with `promptFeedback.blockReason`.
        Signal::ContentFilter => {
            Fault::new(200, f("generate_response_blocked_prompt.json"), "SAFETY")
        }
        // Gemini's 429 names billing in its message, yet is a rate window: no
        // quota signal of its own.
        _ => return None,
    })
}

pub const GEMINI: Protocol = Protocol {
    name: "gemini",
    fixtures: "gemini",
    scheme: "gemini+http",
    base: "/v1beta",
    model: "gemini-2.5-flash",
    route: |model, stream| {
        let method = if stream {
            "streamGenerateContent"
        } else {
            "generateContent"
        };
        format!("/v1beta/models/{model}:{method}")
    },
    query: |stream| stream.then_some("alt=sse"),
    auth: ("x-goog-api-key", ""),
    builtin_key: Some(("GEMINI_API_KEY", "gemini")),
    builtin_url: None,
    configured: |settings, url| {
        let config = configured!(GeminiConfig::new(), settings, url);
        Arc::new(GeminiProvider::new(config).unwrap())
    },
    stream_type: "text/event-stream",
    delimiter: b"\r\n\r\n",
    keep_alive: ": keep-alive\r\n\r\n",
    stream_error: |message| {
        format!(
            "data: {}\r\n\r\n",
            json!({"error": {"code": 503, "message": message, "status": "UNAVAILABLE"}})
        )
    },
    error_shape: gemini_error,
    fault: gemini_fault,
    retry_info: true,
    plain: answer(
        "generate_response_text.json",
        "```python\n# Example list",
        FinishReason::Stop,
        (9, 87),
    ),
    stream: answer(
        "stream_text.sse",
        "```python\n# Example list",
        FinishReason::Stop,
        (9, 87),
    ),
    tools: call(
        "generate_response_function_call.json",
        "find_theaters",
        || json!({"movie": "Barbie", "location": "Mountain View, CA"}),
    ),
    tools_stream: call(
        "stream_function_call.sse",
        "check_flight",
        || json!({"flight": "AA100"}),
    ),
    reasoning: thought(
        "generate_response_thinking.json",
        "**Here's how I'm thinking about this:**",
        "This is a fun one!",
    ),
    reasoning_stream: Some(thought(
        "stream_thinking.sse",
        "**Here's how I'm thinking about this:**",
        "This is a fun one!",
    )),
    schema: answer(
        "generate_response_json_schema.json",
        r#"[{"recipe_name":"Chocolate Chip Cookies"},"#,
        FinishReason::Stop,
        (0, 0),
    ),
    counterparts: &[
        ("stream_text.sse", "generate_response_text.json", true),
        (
            "stream_thinking.sse",
            "generate_response_thinking.json",
            true,
        ),
        (
            "stream_function_call.sse",
            "generate_response_function_call_signature.json",
            true,
        ),
    ],
    truncated: &[
        "stream_text.sse",
        "stream_thinking.sse",
        "stream_function_call.sse",
    ],
    examples: &[],
    dialect: |_| {},
};
