//! Integration tests: the contract types survive a JSON round trip, so hosts can
//! log and persist conversations.

use majordomo::{
    Attempt, ErrorClass, FinishReason, Image, Message, Part, ReasoningLevel, Request, Response,
    Role, Thinking, Tool, ToolCall, ToolChoice, ToolResult, Usage,
};
use serde_json::json;

fn conversation() -> Request {
    Request::new()
        .system("be terse")
        .user("look at these")
        .message(Message::new(
            Role::User,
            vec![
                Part::Image(Image::url("https://example.com/cat.png")),
                Part::Image(Image::inline(
                    "image/png",
                    vec![0x89, b'P', b'N', b'G', 0, 255],
                )),
            ],
        ))
        .message(Message::new(
            Role::Assistant,
            vec![
                Part::Thinking(
                    Thinking::text("hmm")
                        .with_signature("sig==")
                        .with_provider("anthropic"),
                ),
                Part::Thinking(Thinking::redacted("opaque")),
                Part::text("calling a tool"),
                Part::ToolCall(ToolCall::new(
                    "call_1",
                    "lookup",
                    json!({"q": "cats", "n": 2}),
                )),
            ],
        ))
        .tool_results([
            ToolResult::ok("call_1", "3 cats").with_name("lookup"),
            ToolResult::error("call_2", "boom"),
        ])
        .tool(Tool::new(
            "lookup",
            "finds things",
            json!({"type": "object"}),
        ))
        .tool_choice(ToolChoice::Tool("lookup".into()))
        .reasoning(ReasoningLevel::Budget(4096))
        .json_schema("answer", json!({"type": "object"}))
        .temperature(0.5)
        .max_tokens(100)
        .stop("END")
        .seed(7)
        .caller("alice")
        .run_id("run-1")
        .label("team", "search")
}

#[test]
fn a_request_with_every_part_kind_round_trips() {
    let request = conversation();
    let text = serde_json::to_string(&request).unwrap();
    let back: Request = serde_json::from_str(&text).unwrap();
    assert_eq!(request, back);
    // Inline bytes are stored as base64, not as a number array.
    assert!(text.contains("\"iVBORwD/\""), "{text}");
}

#[test]
fn a_response_with_attempts_round_trips() {
    let mut response = Response::new("openai", "gpt-4o", conversation().messages()[2].clone())
        .with_finish_reason(FinishReason::Other("eos_token".into()))
        .with_usage(
            Usage::new(12, 34)
                .with_cached_input_tokens(10)
                .with_reasoning_tokens(5),
        );
    response.attempts = vec![
        Attempt::failed(
            "fake/a".parse().unwrap(),
            ErrorClass::Transient,
            "HTTP 529: overloaded",
        ),
        Attempt::ok("openai/gpt-4o".parse().unwrap()),
    ];
    let text = serde_json::to_string(&response).unwrap();
    let back: Response = serde_json::from_str(&text).unwrap();
    assert_eq!(response, back);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["finish_reason"], "eos_token");
    assert_eq!(value["attempts"][0]["class"], "transient");
}

#[test]
fn reasoning_levels_parse_and_print_and_reject_garbage() {
    for s in ["off", "minimal", "low", "medium", "high", "max", "2048"] {
        let level: ReasoningLevel = s.parse().unwrap();
        assert_eq!(level.to_string(), s);
    }
    for bad in ["", "0", "-1", "hgh", "1e3", "+5", "99999999999"] {
        assert!(bad.parse::<ReasoningLevel>().is_err(), "{bad:?} accepted");
    }
}
