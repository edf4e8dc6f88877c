//! Integration tests: the timeout decorator, and decorators composed under a chain.
//! Paused tokio time and the fake provider throughout: no test sleeps for real.

use std::sync::Arc;
use std::time::Duration;

use crate::support::call::{generate_error, generated, open_error, streamed};
use crate::support::registry::scripted_fake;
use futures::StreamExt as _;
use majordomo::health::{FakeClock, HealthConfig, HealthTracker};
use majordomo::lanes::{LaneLayer, LaneRegistry};
use majordomo::providers::fake::{FakeProvider, Outcome, StreamStep};
use majordomo::{
    Chain, ChainConfig, ChainTarget, Deadlines, Error, ErrorClass, ErrorKind, FinishReason, Layers,
    Model, Provider, Request, StreamEvent, Target, TimeoutLayer, TimeoutProvider,
};
use tokio::time::Instant;

const SECOND: Duration = Duration::from_secs(1);

fn timed(fake: &FakeProvider, deadlines: Deadlines) -> Arc<dyn Model> {
    TimeoutProvider::new(Arc::new(fake.clone()), deadlines)
        .model("m")
        .unwrap()
}

fn stream_deadlines() -> Deadlines {
    Deadlines::none().first_event(30 * SECOND).idle(20 * SECOND)
}

// ===== generate =====

#[tokio::test(start_paused = true)]
async fn generate_is_cut_at_its_deadline_with_a_transient_timeout() {
    let fake = scripted_fake(Outcome::hang());
    fake.push(
        "m",
        Outcome::delay(29 * SECOND, Outcome::text("just in time")),
    );
    let model = timed(&fake, Deadlines::new().generate(30 * SECOND));
    let start = Instant::now();

    let err = generate_error(
        &model,
        Request::new().user("hi").caller("alice").run_id("r1"),
    )
    .await;
    assert_eq!(start.elapsed(), 30 * SECOND);
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.target().unwrap().as_str(), "fake/m");
    assert!(err.message().contains("generate deadline of 30s"), "{err}");
    assert_eq!(err.context().unwrap().caller_id.as_deref(), Some("alice"));

    let reply = generated(&model, Request::new().user("hi")).await;
    assert_eq!(reply.text(), "just in time");
    assert_eq!(start.elapsed(), 59 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn errors_from_the_model_pass_through_unchanged_but_attributed() {
    let fake = scripted_fake(Outcome::error(Error::rate_limited(Some(7 * SECOND))));
    let model = timed(&fake, Deadlines::new());
    let err = generate_error(&model, Request::new().user("hi").run_id("run-1")).await;
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.retry_after(), Some(7 * SECOND));
    assert_eq!(err.message(), "rate limited");
    assert_eq!(err.context().unwrap().run_id.as_deref(), Some("run-1"));
}

// ===== streams =====

#[tokio::test(start_paused = true)]
async fn a_stream_that_never_sends_its_first_event_times_out() {
    let fake = scripted_fake(Outcome::stream_steps([
        StreamStep::Delay(45 * SECOND),
        StreamStep::Event(StreamEvent::text("late")),
    ]));
    let model = timed(&fake, stream_deadlines());
    let start = Instant::now();
    let mut stream = model
        .stream(Request::new().user("hi").caller("bob"))
        .await
        .unwrap();
    let err = stream.next().await.unwrap().unwrap_err();
    assert_eq!(start.elapsed(), 30 * SECOND);
    assert!(err.is_timeout());
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(
        err.message().contains("first-event deadline of 30s"),
        "{err}"
    );
    assert_eq!(err.target().unwrap().as_str(), "fake/m");
    assert_eq!(err.context().unwrap().caller_id.as_deref(), Some("bob"));
    assert!(stream.next().await.is_none(), "a timeout ends the stream");
}

#[tokio::test(start_paused = true)]
async fn time_spent_opening_a_stream_counts_towards_its_first_event() {
    let fake = FakeProvider::new("fake");
    // Opening takes 20s, then the first event needs 15s more: 35s > 30s.
    fake.push(
        "m",
        Outcome::delay(
            20 * SECOND,
            Outcome::stream_steps([
                StreamStep::Delay(15 * SECOND),
                StreamStep::Event(StreamEvent::text("late")),
            ]),
        ),
    );
    // Opening alone outlasts the deadline: the `stream` call itself fails.
    fake.push("m", Outcome::delay(40 * SECOND, Outcome::text("never")));
    let model = timed(&fake, stream_deadlines());
    let start = Instant::now();

    let mut stream = model.stream(Request::new().user("hi")).await.unwrap();
    assert_eq!(start.elapsed(), 20 * SECOND);
    assert!(stream.next().await.unwrap().unwrap_err().is_timeout());
    assert_eq!(start.elapsed(), 30 * SECOND);

    let err = open_error(&model, Request::new().user("hi")).await;
    assert!(err.is_timeout());
    assert_eq!(start.elapsed(), 60 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_goes_quiet_is_cut_by_the_idle_deadline() {
    let fake = scripted_fake(Outcome::stream_steps([
        StreamStep::Event(StreamEvent::text("one")),
        StreamStep::Delay(5 * SECOND),
        StreamStep::Event(StreamEvent::text("two")),
        StreamStep::Delay(25 * SECOND),
        StreamStep::Event(StreamEvent::text("three")),
    ]));
    let model = timed(&fake, stream_deadlines());
    let start = Instant::now();
    let items: Vec<_> = model
        .stream(Request::new().user("hi"))
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), &StreamEvent::text("one"));
    assert_eq!(items[1].as_ref().unwrap(), &StreamEvent::text("two"));
    let err = items[2].as_ref().unwrap_err();
    assert!(err.is_timeout());
    assert!(err.message().contains("idle deadline"), "{err}");
    assert_eq!(
        start.elapsed(),
        25 * SECOND,
        "cut 20s after the second event"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_but_steady_stream_outlives_every_deadline() {
    let fake = FakeProvider::new("fake");
    let mut steps = Vec::new();
    for i in 0..100 {
        steps.push(StreamStep::Delay(19 * SECOND));
        steps.push(StreamStep::Event(StreamEvent::text(format!("{i} "))));
    }
    steps.push(StreamStep::Event(StreamEvent::finish(FinishReason::Stop)));
    fake.push("m", Outcome::stream_steps(steps));
    // The generate deadline (60s) does not apply to streams: this one lasts 1,900s.
    let model = timed(&fake, stream_deadlines().generate(60 * SECOND));
    let start = Instant::now();
    let reply = streamed(&model, Request::new().user("hi")).await;
    assert_eq!(start.elapsed(), 1900 * SECOND);
    assert!(reply.text().starts_with("0 1 2 "));
    assert!(reply.text().ends_with("98 99 "));
}

#[tokio::test(start_paused = true)]
async fn no_deadlines_means_no_timer() {
    let fake = scripted_fake(Outcome::delay(3600 * SECOND, Outcome::text("eventually")));
    let model = timed(&fake, Deadlines::none());
    assert_eq!(
        generated(&model, Request::new().user("hi")).await.text(),
        "eventually"
    );
}

// ===== composition =====

fn chain_over(provider: &Arc<dyn Provider>) -> Chain {
    let target: Target = "fake/m".parse().unwrap();
    let model = provider.model(target.model()).unwrap();
    let health = HealthTracker::new(HealthConfig::default(), Arc::new(FakeClock::new()));
    Chain::new(
        vec![ChainTarget::new(target, None, model)],
        health,
        Arc::new(ChainConfig::default()),
    )
}

/// chain → timeout (30s per generate) → lane (cap 1) → `fake`, for model `m`.
fn chain_timeout_lane(fake: &FakeProvider) -> (LaneRegistry, Chain) {
    let lanes = LaneRegistry::default();
    // Outermost first: timeout, then lane, then the fake.
    let provider = Layers::new()
        .layer(TimeoutLayer::new(Deadlines::new().generate(30 * SECOND)))
        .layer(LaneLayer::new(lanes.clone()))
        .wrap(Arc::new(fake.clone()));
    (lanes, chain_over(&provider))
}

/// The context of `err`, or of the error it wraps (a chain may report an
/// exhausted error with the last attempt's error as its source).
fn context_of(err: &Error) -> Option<&majordomo::CallContext> {
    err.context()
        .or_else(|| err.source_as::<Error>().and_then(Error::context))
}

#[tokio::test(start_paused = true)]
async fn chain_over_timeout_over_lane_over_fake_composes() {
    let fake = FakeProvider::new("fake");
    let (lanes, chain) = chain_timeout_lane(&fake);
    let request = || Request::new().user("hi").caller("carol").run_id("run-9");

    fake.push("m", Outcome::text("through every layer"));
    let reply = generated(&chain, request()).await;
    assert_eq!(reply.text(), "through every layer");
    assert_eq!(lanes.names(), ["fake/m"]);

    // A transient model error keeps its class and gains the call context.
    fake.set_default("m", Outcome::error(Error::overloaded()));
    let err = generate_error(&chain, request()).await;
    assert_eq!(err.class(), ErrorClass::Transient);
    let context = context_of(&err).expect("call context attached");
    assert_eq!(context.caller_id.as_deref(), Some("carol"));
    assert_eq!(context.run_id.as_deref(), Some("run-9"));

    // A permanent one stays permanent.
    fake.set_default("m", Outcome::status(401));
    let err = generate_error(&chain, request()).await;
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(
        context_of(&err).unwrap().caller_id.as_deref(),
        Some("carol")
    );

    // A timeout from the middle of the stack is transient and attributed too.
    fake.set_default("m", Outcome::hang());
    let err = generate_error(&chain, request()).await;
    assert_eq!(err.class(), ErrorClass::Transient);
    let timeout = if err.is_timeout() {
        &err
    } else {
        err.source_as::<Error>().expect("the timeout as source")
    };
    assert!(timeout.is_timeout());
    assert_eq!(timeout.target().unwrap().as_str(), "fake/m");
    assert_eq!(context_of(&err).unwrap().run_id.as_deref(), Some("run-9"));

    let stats = lanes.get("fake/m").unwrap().stats();
    assert_eq!(
        (stats.running, stats.queued),
        (0, 0),
        "timeouts released their slots"
    );
}

#[tokio::test(start_paused = true)]
async fn with_the_timeout_outside_the_lane_queue_time_counts_against_the_deadline() {
    let fake = FakeProvider::new("fake");
    fake.set_default("m", Outcome::text("ok"));
    let (lanes, chain) = chain_timeout_lane(&fake);
    let lane = lanes.lane("fake/m");
    let start = Instant::now();

    let holder = lane.acquire(None).await;
    let err = generate_error(&chain, Request::new().user("hi").caller("dave")).await;
    // Not the target's fault: it was never called (issue 12, ADR 0015).
    assert_eq!(err.class(), ErrorClass::RequestSpecific);
    assert_eq!(context_of(&err).unwrap().caller_id.as_deref(), Some("dave"));
    assert_eq!(fake.calls("m"), 0, "the call never left the queue");
    assert_eq!(lane.stats().queued, 0);
    assert!(start.elapsed() >= 30 * SECOND);
    drop(holder);
}
