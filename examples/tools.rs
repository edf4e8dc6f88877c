//! The tool loop on the fake provider — no keys, no network: a typed tool,
//! two calls in one answer run concurrently, and the final answer.
//!
//! Run: `cargo run --example tools`
//!
//! Swap the fake for a real spec and the same loop runs real tool calls
//! (`cargo run --example chat -- --tools SPEC "Weather in Paris?"`).

#![allow(clippy::print_stdout)] // an example talks to its user

use majordomo::providers::fake::{FakeProvider, Outcome};
use majordomo::{
    Error, FinishReason, Message, Part, Registry, Request, Response, Role, ToolCall, ToolLoop,
    Toolbox,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// The arguments of `get_weather`.
#[derive(Deserialize, JsonSchema)]
struct Weather {
    /// The city to forecast.
    city: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let fake = FakeProvider::new("fake");
    // Step 1: the model calls the tool twice; step 2: it answers.
    let calls = Message::new(
        Role::Assistant,
        vec![
            Part::ToolCall(ToolCall::new("c1", "get_weather", json!({"city": "Paris"}))),
            Part::ToolCall(ToolCall::new("c2", "get_weather", json!({"city": "Oslo"}))),
        ],
    );
    fake.push(
        "m",
        Outcome::response(Response::new("", "", calls).with_finish_reason(FinishReason::ToolCalls)),
    )
    .push(
        "m",
        Outcome::text("Sunny and 21 °C in both Paris and Oslo."),
    );

    let registry = Registry::builder().without_env().build();
    registry.register_provider(fake.clone());
    let model = registry.parse("fake/m")?;

    let tools = Toolbox::new().function(
        "get_weather",
        "The forecast for a city",
        |w: Weather| async move {
            Ok::<_, String>(json!({"city": w.city, "forecast": "sunny", "celsius": 21}))
        },
    );
    let out = ToolLoop::new(tools)
        .max_steps(4)
        .observer(|step| {
            for call in step.response.tool_calls() {
                println!("step {}: {}({})", step.step, call.name, call.arguments);
            }
            for result in step.results {
                println!("step {}: -> {}", step.step, result.content);
            }
        })
        .run(&model, Request::new().user("Weather in Paris and Oslo?"))
        .await?;
    println!("answer: {}", out.response.text());
    println!(
        "{} steps, {} messages in the transcript",
        out.steps,
        out.transcript.len()
    );
    Ok(())
}
