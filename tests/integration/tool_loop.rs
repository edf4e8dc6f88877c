//! The tool loop and structured output on the fake provider: through a
//! failover chain, in the instructions fallback, with typed tools and hooks.

use std::sync::{Arc, Mutex};

use majordomo::providers::fake::{FakeProvider, Outcome};
use majordomo::{
    Capabilities, Error, ErrorKind, FinishReason, JsonOptions, Message, Model, ModelExt, Part,
    Registry, Request, ResponseFormat, Role, SchemaMode, StreamEvent, ToolCall, ToolLoop, Toolbox,
    Usage,
};
use serde_json::{Value, json};

use crate::support::registry::{registry_with_env, scripted_fake};

fn registry_with(fake: &FakeProvider) -> Registry {
    let registry = registry_with_env(std::iter::empty::<(String, String)>());
    registry.register_provider(fake.clone());
    registry
}

#[cfg(feature = "schema")]
fn weather_tools() -> Toolbox {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Weather {
        city: String,
    }
    Toolbox::new().function(
        "get_weather",
        "The forecast for a city",
        |w: Weather| async move {
            Ok::<_, String>(json!({"city": w.city, "forecast": "sunny", "celsius": 21}))
        },
    )
}

#[cfg(not(feature = "schema"))]
fn weather_tools() -> Toolbox {
    Toolbox::new().raw(
        majordomo::Tool::new(
            "get_weather",
            "The forecast for a city",
            json!({"type": "object"}),
        ),
        |args| async move {
            Ok(json!({"city": args["city"], "forecast": "sunny", "celsius": 21}).to_string())
        },
    )
}

fn tool_results(message: &Message) -> Vec<(String, String, bool)> {
    message
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolResult(r) => Some((r.call_id.clone(), r.content.clone(), r.is_error)),
            _ => None,
        })
        .collect()
}

/// `a` calls the tool, then fails (twice: it is retried once) at step 2; the
/// chain fails over to `b`, which gets the whole conversation and answers.
async fn failover_between_steps(stream: bool) {
    let fake = FakeProvider::new("fake");
    fake.push(
        "a",
        Outcome::response(
            majordomo::Response::new(
                "",
                "",
                Message::new(
                    Role::Assistant,
                    vec![
                        Part::text("Let me look."),
                        Part::ToolCall(ToolCall::new("c1", "get_weather", json!({"city": "Oslo"}))),
                    ],
                ),
            )
            .with_finish_reason(FinishReason::ToolCalls)
            .with_usage(Usage::new(7, 3)),
        ),
    )
    .push("a", Outcome::error(Error::unavailable()))
    .push("a", Outcome::error(Error::unavailable()))
    .push(
        "b",
        Outcome::response(
            majordomo::Response::text_reply("", "", "Sunny in Oslo.").with_usage(Usage::new(11, 4)),
        ),
    );
    let chain = registry_with(&fake).parse("fake/a,fake/b").unwrap();
    let steps = Arc::new(Mutex::new(Vec::new()));
    let seen = steps.clone();
    let out = ToolLoop::new(weather_tools())
        .stream(stream)
        .observer(move |step| {
            seen.lock()
                .unwrap()
                .push((step.step, step.response.model.clone(), step.results.len()))
        })
        .run(
            &chain,
            Request::new().system("Be brief.").user("Weather in Oslo?"),
        )
        .await
        .unwrap();

    assert_eq!(out.response.text(), "Sunny in Oslo.");
    assert_eq!(out.response.model, "b");
    assert_eq!(out.steps, 2);
    assert_eq!(out.usage, Usage::new(18, 7));
    assert_eq!(
        *steps.lock().unwrap(),
        vec![(1, "a".to_owned(), 1), (2, "b".to_owned(), 0)]
    );
    // The final answer lists the failover: a failed twice, then b answered.
    assert_eq!(out.response.attempts.len(), 3);

    // b received the conversation as a had it: the call and its result.
    let b = fake.last_request("b").unwrap();
    assert_eq!(b.system_prompt(), Some("Be brief."));
    let messages = b.messages();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[1].role, Role::Assistant);
    assert_eq!(messages[1].text(), "Let me look.");
    assert_eq!(messages[1].tool_calls().next().unwrap().id, "c1");
    assert_eq!(messages[2].role, Role::Tool);
    assert_eq!(
        tool_results(&messages[2]),
        vec![(
            "c1".to_owned(),
            r#"{"celsius":21,"city":"Oslo","forecast":"sunny"}"#.to_owned(),
            false
        )]
    );
    assert_eq!(b.tool_list().len(), 1);
    // The transcript is the conversation b saw plus b's answer.
    assert_eq!(out.transcript.len(), 4);
    assert_eq!(&out.transcript[..3], messages);
    assert_eq!(out.transcript[3].text(), "Sunny in Oslo.");
}

#[tokio::test]
async fn the_loop_survives_a_failover_between_steps() {
    failover_between_steps(false).await;
}

#[tokio::test]
async fn the_streamed_loop_survives_a_failover_between_steps() {
    failover_between_steps(true).await;
}

#[tokio::test]
async fn streamed_steps_assemble_call_fragments_and_report_events() {
    let fake = scripted_fake(Outcome::stream([
        StreamEvent::ToolCallStart {
            index: 0,
            id: "c1".into(),
            name: "get_weather".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: r#"{"ci"#.into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: r#"ty": "Rome"}"#.into(),
        },
        StreamEvent::ToolCallEnd { index: 0 },
        StreamEvent::finish(FinishReason::ToolCalls),
    ]));
    fake.push(
        "m",
        Outcome::stream([
            StreamEvent::text("Sun"),
            StreamEvent::text("ny."),
            StreamEvent::finish(FinishReason::Stop),
        ]),
    );
    let texts = Arc::new(Mutex::new(String::new()));
    let seen = texts.clone();
    let out = ToolLoop::new(weather_tools())
        .on_event(move |event| {
            if let StreamEvent::TextDelta { text } = event {
                seen.lock().unwrap().push_str(text);
            }
        })
        .run(&fake.model_arc("m"), Request::new().user("Rome?"))
        .await
        .unwrap();
    assert_eq!(*texts.lock().unwrap(), "Sunny.");
    assert_eq!(out.response.text(), "Sunny.");
    assert_eq!(
        tool_results(&out.transcript[2]),
        vec![(
            "c1".to_owned(),
            r#"{"celsius":21,"city":"Rome","forecast":"sunny"}"#.to_owned(),
            false
        )]
    );
}

/// A fake whose model `m` first calls `get_weather` (id `c1`) with `arguments`.
fn rome_call(arguments: Value) -> FakeProvider {
    scripted_fake(Outcome::tool_call("c1", "get_weather", arguments))
}

#[cfg(feature = "schema")]
#[tokio::test]
async fn typed_arguments_that_do_not_fit_go_back_as_an_error_result() {
    let fake = rome_call(json!({"town": "Rome"}));
    fake.push("m", Outcome::text("I could not call it."));
    let model = fake.model_arc("m");
    let out = model
        .run_tools(Request::new().user("Rome?"), &weather_tools())
        .await
        .unwrap();
    let results = tool_results(&out.transcript[2]);
    assert!(results[0].2, "an error result");
    assert!(
        results[0]
            .1
            .contains("invalid arguments for tool \"get_weather\": missing field `city`"),
        "{}",
        results[0].1
    );
    // The model saw the error and the tool's schema from the argument type.
    let second = fake.last_request("m").unwrap();
    assert_eq!(
        second.tool_list()[0].parameters["properties"]["city"]["type"],
        "string"
    );
    assert_eq!(tool_results(&second.messages()[2]), results);
}

#[tokio::test]
async fn a_model_error_mid_loop_is_returned_as_it_is() {
    let fake = rome_call(json!({"city": "Rome"}));
    fake.push("m", Outcome::error(Error::api(400, "bad request")));
    let error = ToolLoop::new(weather_tools())
        .run(&fake.model_arc("m"), Request::new().user("Rome?"))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(400));
}

/// Models that declare no JSON schema mode get JSON mode and the schema in
/// the system prompt; through a chain, a retry that fails over keeps the
/// fed-back turns.
#[tokio::test]
async fn the_instructions_fallback_through_a_chain() {
    let fake = FakeProvider::new("fake");
    fake.set_default_capabilities(Capabilities::unknown().json_schema(false));
    fake.push("a", Outcome::text("{\"n\": \"three\"}"))
        .push("a", Outcome::status(400))
        .push("b", Outcome::text("{\"n\": 3}"));
    let chain = registry_with(&fake).parse("fake/a,fake/b").unwrap();
    let schema =
        json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
    // 400 is permanent: advance on it so the retry fails over.
    let chain = majordomo::Chain::new(
        chain.targets().to_vec(),
        chain.health().clone(),
        Arc::new(majordomo::ChainConfig::default().advance_on_permanent(true)),
    );
    let answer = chain
        .generate_json_value(
            Request::new().system("You count.").user("How many?"),
            schema.clone(),
        )
        .await
        .unwrap();
    assert_eq!(answer.value, json!({"n": 3}));
    assert_eq!(answer.tries, 2);
    assert_eq!(answer.response.model, "b");

    let first = &fake.requests("a")[0];
    assert_eq!(first.output_format(), &ResponseFormat::Json);
    let system = first.system_prompt().unwrap();
    assert!(
        system.starts_with("You count.\n\nRespond with a single JSON value"),
        "{system}"
    );
    assert!(system.contains(&schema.to_string()), "{system}");
    let b = fake.last_request("b").unwrap();
    assert_eq!(b.messages().len(), 3);
    assert_eq!(b.messages()[1].text(), "{\"n\": \"three\"}");
    assert!(
        b.messages()[2]
            .text()
            .contains("the JSON does not match the schema: at /n: expected integer, got a string"),
        "{}",
        b.messages()[2].text()
    );
}

#[tokio::test]
async fn native_or_instructions_as_asked() {
    let fake = FakeProvider::new("fake");
    fake.set_default_all(Outcome::text("[1, 2]"));
    let model = fake.model_arc("m");
    let schema = json!({"type": "array", "items": {"type": "integer"}});
    model
        .generate_json_value_with(
            Request::new().user("x"),
            schema.clone(),
            JsonOptions::new().name("numbers").strict(false),
        )
        .await
        .unwrap();
    assert_eq!(
        fake.last_request("m").unwrap().output_format(),
        &ResponseFormat::JsonSchema {
            name: "numbers".into(),
            schema: schema.clone(),
            strict: false
        }
    );
    model
        .generate_json_value_with(
            Request::new().user("x"),
            schema,
            JsonOptions::new().mode(SchemaMode::Instructions),
        )
        .await
        .unwrap();
    let last = fake.last_request("m").unwrap();
    assert_eq!(last.output_format(), &ResponseFormat::Json);
    assert!(last.system_prompt().unwrap().contains("JSON Schema"));
}

#[tokio::test]
async fn zero_retries_asks_once_and_the_error_keeps_the_raw_text() {
    let fake = FakeProvider::new("fake");
    fake.set_default_all(Outcome::text("nope"));
    let error = fake
        .model_arc("m")
        .generate_json_value_with(
            Request::new().user("x"),
            json!({"type": "object"}),
            JsonOptions::new().retries(0),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidOutput);
    // Asking a chain again would not help: permanent.
    assert_eq!(error.class(), majordomo::ErrorClass::Permanent);
    assert_eq!(error.invalid_output().unwrap().raw, "nope");
    assert_eq!(error.provider(), Some("fake"));
    assert!(
        error
            .to_string()
            .contains("the answer did not fit after 1 try"),
        "{error}"
    );
    assert_eq!(fake.calls("m"), 1);
}

trait ModelArc {
    fn model_arc(&self, id: &str) -> Arc<dyn Model>;
}

impl ModelArc for FakeProvider {
    fn model_arc(&self, id: &str) -> Arc<dyn Model> {
        majordomo::Provider::model(self, id).unwrap()
    }
}
