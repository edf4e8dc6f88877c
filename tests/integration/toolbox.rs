//! Integration tests: the toolbox never panics the caller.

use majordomo::{Tool, ToolCall, ToolResult, Toolbox};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Add {
    a: i64,
    b: i64,
}

fn toolbox() -> Toolbox {
    let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]});
    Toolbox::new()
        .typed(Tool::new("add", "adds", schema), |args: Add| async move {
            Ok::<_, String>((args.a + args.b).to_string())
        })
        .raw(
            Tool::new("boom", "panics", json!({"type": "object"})),
            |_args| async move { panic!("handler exploded") },
        )
        .raw(
            Tool::new("fails", "errors", json!({"type": "object"})),
            |_args| async move { Err("disk full".to_owned()) },
        )
}

/// What the toolbox answers a call `id` of `name` with `arguments`.
async fn run(id: &str, name: &str, arguments: Value) -> ToolResult {
    toolbox().execute(&ToolCall::new(id, name, arguments)).await
}

#[tokio::test]
async fn a_good_call_returns_its_result() {
    let result = run("c1", "add", json!({"a": 2, "b": 40})).await;
    assert_eq!(result.call_id, "c1");
    assert_eq!(result.content, "42");
    assert!(!result.is_error);
    assert_eq!(result.name.as_deref(), Some("add"));
}

#[tokio::test]
async fn a_panicking_handler_becomes_an_error_result() {
    let result = run("c2", "boom", json!({})).await;
    assert!(result.is_error);
    assert!(result.content.contains("panicked"), "{}", result.content);
    assert!(result.content.contains("handler exploded"));
}

#[tokio::test]
async fn an_unknown_tool_becomes_an_error_result_listing_the_tools() {
    let result = run("c3", "subtract", json!({})).await;
    assert!(result.is_error);
    assert!(
        result.content.contains("unknown tool \"subtract\""),
        "{}",
        result.content
    );
    assert!(result.content.contains("add"));
}

#[tokio::test]
async fn bad_arguments_become_error_results() {
    let missing = run("c4", "add", json!({"a": 1})).await;
    assert!(missing.is_error);
    assert!(
        missing.content.contains("invalid arguments"),
        "{}",
        missing.content
    );
    assert!(
        missing.content.contains("missing field `b`"),
        "{}",
        missing.content
    );
    let wrong_type = run("c5", "add", json!({"a": "one", "b": 2})).await;
    assert!(wrong_type.is_error);
    let not_object = run("c6", "add", json!("a=1,b=2")).await;
    assert!(not_object.is_error);
    assert!(not_object.content.contains("expected a JSON object"));
}

#[tokio::test]
async fn a_handler_error_is_passed_to_the_model_and_results_keep_call_order() {
    let tools = toolbox();
    let calls = [
        ToolCall::new("x1", "fails", json!({})),
        ToolCall::new("x2", "add", json!({"a": 1, "b": 1})),
    ];
    let results = tools.execute_all(&calls).await;
    assert_eq!(results[0].call_id, "x1");
    assert!(results[0].is_error);
    assert_eq!(results[0].content, "disk full");
    assert_eq!(results[1].content, "2");
    assert_eq!(tools.tools().len(), 3);
}
