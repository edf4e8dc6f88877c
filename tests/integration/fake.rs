//! Integration tests: the scriptable fake provider.

use std::time::Duration;

use crate::support::call::{generate_error, generated, streamed};
use crate::support::registry::scripted_fake;
use futures::StreamExt as _;
use majordomo::providers::fake::{FakeProvider, Outcome, StreamStep};
use majordomo::{
    Capabilities, Capability, Error, ErrorClass, FinishReason, Model, Provider, Request,
    StreamEvent, Usage,
};

fn hi() -> Request {
    Request::new().user("hi")
}

#[tokio::test]
async fn outcomes_are_served_in_scripted_order_then_the_default() {
    let fake = scripted_fake(Outcome::text("one"));
    fake.push("m", Outcome::error(Error::overloaded()))
        .push("m", Outcome::text("three"))
        .set_default("m", Outcome::text("default"));
    let model = fake.model("m").unwrap();
    assert_eq!(generated(&model, hi()).await.text(), "one");
    let err = generate_error(&model, hi()).await;
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.provider(), Some("fake"), "the fake fills in its target");
    assert_eq!(err.model(), Some("m"));
    assert_eq!(generated(&model, hi()).await.text(), "three");
    assert_eq!(generated(&model, hi()).await.text(), "default");
    assert_eq!(generated(&model, hi()).await.text(), "default");
    assert_eq!(fake.calls("m"), 5);
    assert_eq!(fake.remaining("m"), 0);
}

#[tokio::test]
async fn an_unscripted_call_fails_like_a_model_the_provider_does_not_serve() {
    let fake = FakeProvider::new("fake");
    let err = generate_error(&fake.model("nothing").unwrap(), hi()).await;
    assert_eq!(err.class(), ErrorClass::ModelNotFound);
    assert_eq!(err.target().unwrap().as_str(), "fake/nothing");
    assert!(err.to_string().contains("no outcome scripted"), "{err}");
}

#[tokio::test]
async fn records_every_request_per_model() {
    let fake = FakeProvider::always_text("fake", "ok");
    let a = fake.model("a").unwrap();
    let b = fake.model("b").unwrap();
    generated(&a, Request::new().user("first").caller("c1")).await;
    generated(&b, Request::new().user("second")).await;
    a.stream(Request::new().user("third")).await.unwrap();
    let seen: Vec<String> = fake
        .requests("a")
        .iter()
        .map(|r| r.messages()[0].text())
        .collect();
    assert_eq!(seen, vec!["first", "third"]);
    assert_eq!(
        fake.requests("a")[0].call_context().caller_id.as_deref(),
        Some("c1")
    );
    assert_eq!(fake.calls("a"), 2);
    assert_eq!(fake.calls("b"), 1);
    assert_eq!(fake.total_calls(), 3);
    assert_eq!(
        fake.last_request("b").unwrap().messages()[0].text(),
        "second"
    );
}

fn scripted_events() -> Vec<StreamEvent> {
    vec![
        StreamEvent::ThinkingDelta {
            text: "let me ".into(),
        },
        StreamEvent::ThinkingDelta {
            text: "think".into(),
        },
        StreamEvent::ThinkingSignature {
            signature: "sig".into(),
        },
        StreamEvent::text("Hel"),
        StreamEvent::text("lo"),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "lookup".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"q\":".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "\"x\"}".into(),
        },
        StreamEvent::ToolCallEnd { index: 0 },
        StreamEvent::Usage {
            usage: Usage::new(10, 0),
        },
        StreamEvent::Usage {
            usage: Usage::default().with_output_tokens(7),
        },
        StreamEvent::finish(FinishReason::ToolCalls),
    ]
}

#[tokio::test]
async fn a_stream_folds_into_the_same_response_as_generate() {
    let fake = FakeProvider::new("fake");
    fake.set_default("m", Outcome::stream(scripted_events()));
    let model = fake.model("m").unwrap();
    let generated = generated(&model, hi()).await;
    let streamed = streamed(&model, hi()).await;
    assert_eq!(generated, streamed);
    assert_eq!(generated.text(), "Hello");
    let call = generated.tool_calls().next().unwrap();
    assert_eq!(call.arguments, serde_json::json!({"q": "x"}));
    let thinking = generated.message.thinking().next().unwrap();
    assert_eq!(thinking.text, "let me think");
    assert_eq!(thinking.signature.as_deref(), Some("sig"));
    assert_eq!(thinking.provider.as_deref(), Some("fake"));
    assert_eq!(generated.usage.input_tokens, Some(10));
    assert_eq!(generated.usage.output_tokens, Some(7));
    assert_eq!(generated.finish_reason, FinishReason::ToolCalls);
}

#[tokio::test]
async fn a_text_outcome_streams_as_events_that_fold_back() {
    let fake = FakeProvider::new("fake");
    fake.set_default("m", Outcome::text("whole answer"));
    let model = fake.model("m").unwrap();
    let direct = generated(&model, hi()).await;
    let events: Vec<_> = model.stream(hi()).await.unwrap().collect().await;
    assert!(events.iter().all(Result::is_ok));
    assert!(matches!(
        events.last(),
        Some(Ok(StreamEvent::Finish {
            reason: FinishReason::Stop
        }))
    ));
    let folded = streamed(&model, hi()).await;
    assert_eq!(direct, folded);
}

#[tokio::test]
async fn a_mid_stream_error_ends_the_stream_after_the_events_before_it() {
    let fake = scripted_fake(Outcome::stream_steps([
        StreamStep::Event(StreamEvent::text("partial")),
        StreamStep::Error(Error::overloaded()),
        StreamStep::Event(StreamEvent::text("never seen")),
    ]));
    let items: Vec<_> = fake
        .model("m")
        .unwrap()
        .stream(hi())
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(items.len(), 2);
    assert!(matches!(&items[0], Ok(StreamEvent::TextDelta { text }) if text == "partial"));
    assert_eq!(
        items[1].as_ref().unwrap_err().class(),
        ErrorClass::Transient
    );
}

/// A fake whose model `m` answers "late" after `secs` seconds.
fn late_by(secs: u64) -> FakeProvider {
    scripted_fake(Outcome::delay(
        Duration::from_secs(secs),
        Outcome::text("late"),
    ))
}

#[tokio::test(start_paused = true)]
async fn delays_run_on_tokio_time() {
    let fake = late_by(3600);
    let model = fake.model("m").unwrap();
    let started = tokio::time::Instant::now();
    let reply = generated(&model, hi()).await;
    assert_eq!(reply.text(), "late");
    // Paused time auto-advances: an hour passed on tokio's clock, none for real.
    assert_eq!(started.elapsed(), Duration::from_secs(3600));
}

#[tokio::test(start_paused = true)]
async fn a_delayed_call_can_be_cut_by_a_timeout() {
    let fake = late_by(10);
    let model = fake.model("m").unwrap();
    let cut = tokio::time::timeout(Duration::from_secs(1), model.generate(hi())).await;
    assert!(cut.is_err());
    assert_eq!(fake.calls("m"), 1);
}

#[tokio::test]
async fn capability_overrides_are_declared_per_model() {
    let fake = FakeProvider::new("fake");
    fake.set_capabilities(
        "text-only",
        Capabilities::unknown().images(false).tools(true),
    );
    let model = fake.model("text-only").unwrap();
    assert_eq!(model.capabilities().images, Some(false));
    assert_eq!(model.capabilities().supports(Capability::Tools), Some(true));
    assert_eq!(
        model.capabilities().json_schema,
        None,
        "unknown stays unknown"
    );
    let other = fake.model("other").unwrap();
    assert_eq!(other.capabilities(), &Capabilities::unknown());
    let req =
        Request::new().user_with_image("what is this?", majordomo::Image::url("https://x/y.png"));
    assert_eq!(
        model.capabilities().missing_for(&req, false),
        Some(Capability::Images)
    );
    assert_eq!(other.capabilities().missing_for(&req, false), None);
}
