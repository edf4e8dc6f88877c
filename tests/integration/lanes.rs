//! Integration tests: lanes (bounded, fair concurrency per model) and the lane decorator.
//! Paused tokio time and the fake provider throughout: no test sleeps for real.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use majordomo::lanes::{Lane, LaneLayer, LaneMap, LaneProvider, LaneRegistry, QueuePolicy};
use majordomo::providers::fake::{FakeProvider, Outcome, StreamStep};
use majordomo::{
    Deadlines, Error, ErrorClass, FinishReason, Layers, Model, Provider, ProviderLayer, Request,
    StreamEvent, TimeoutLayer,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::support::call::{generate_error, generated};
use crate::support::lanes::{Gauge, Gauged, Rng, settle, until_queued};
use crate::support::registry::scripted_fake;

const SECOND: Duration = Duration::from_secs(1);

/// lane decorator → gauge → fake, for model `m`.
struct Rig {
    fake: FakeProvider,
    gauge: Arc<Gauge>,
    lanes: LaneRegistry,
    model: Arc<dyn Model>,
}

fn rig(lanes: LaneRegistry) -> Rig {
    let fake = FakeProvider::new("fake");
    let gauge = Arc::new(Gauge::default());
    let gauged = Arc::new(Gauged {
        inner: Arc::new(fake.clone()),
        gauge: gauge.clone(),
    });
    let provider = LaneProvider::new(gauged, lanes.clone());
    let model = provider.model("m").unwrap();
    Rig {
        fake,
        gauge,
        lanes,
        model,
    }
}

fn caps(cap: i64) -> LaneRegistry {
    LaneRegistry::builder()
        .caps(move |_: &str| Some(cap))
        .build()
}

fn spawn_call(model: &Arc<dyn Model>, request: Request) -> JoinHandle<majordomo::Result<String>> {
    let model = model.clone();
    tokio::spawn(async move { model.generate(request).await.map(|r| r.text()) })
}

/// Spawns a "hi" from `caller` to the rig's model.
fn spawn_as(rig: &Rig, caller: impl Into<Arc<str>>) -> JoinHandle<majordomo::Result<String>> {
    spawn_call(&rig.model, Request::new().user("hi").caller(caller))
}

/// A call ("a") that holds `fake/m`'s one permit and one ("b") queued behind
/// it, with the lane they share.
async fn one_running_one_queued(
    rig: &Rig,
) -> (
    Lane,
    JoinHandle<majordomo::Result<String>>,
    JoinHandle<majordomo::Result<String>>,
) {
    let lane = rig.lanes.lane("fake/m");
    let first = spawn_as(rig, "a");
    settle().await;
    let second = spawn_as(rig, "b");
    until_queued(&lane, 1).await;
    (lane, first, second)
}

/// Submits one call per caller id, in order, each joining the line before the next.
async fn submit_in_order(
    rig: &Rig,
    callers: &[&str],
) -> Vec<JoinHandle<majordomo::Result<String>>> {
    let lane = rig.lanes.lane("fake/m");
    let mut handles = Vec::new();
    for (n, caller) in callers.iter().enumerate() {
        let waiting = lane.stats().queued;
        let busy = lane.stats().running >= lane.stats().cap;
        let request = Request::new()
            .user("hi")
            .caller(*caller)
            .label("n", n.to_string());
        handles.push(spawn_call(&rig.model, request));
        if busy {
            until_queued(&lane, waiting + 1).await;
        } else {
            settle().await;
        }
    }
    handles
}

fn served_labels(fake: &FakeProvider) -> Vec<usize> {
    fake.requests("m")
        .iter()
        .map(|r| r.call_context().labels["n"].parse().unwrap())
        .collect()
}

// ===== cap =====

#[tokio::test(start_paused = true)]
async fn a_lane_never_runs_more_than_its_cap_under_stress() {
    let rig = rig(caps(3));
    let mut rng = Rng::new(0x5eed);
    rig.fake.push_all(
        "m",
        (0..1000).map(|_| Outcome::delay(rng.millis(500), Outcome::text("ok"))),
    );
    let handles: Vec<_> = (0..1000)
        .map(|_| {
            let caller = format!("caller-{}", rng.below(20));
            spawn_as(&rig, caller)
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.await.unwrap().unwrap(), "ok");
    }

    assert_eq!(rig.gauge.peak(), 3, "high-water mark must equal the cap");
    assert_eq!(rig.fake.calls("m"), 1000);
    let stats = rig.lanes.get("fake/m").unwrap().stats();
    assert_eq!((stats.running, stats.queued), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn caps_default_to_one_and_clamp_below_one() {
    let lanes = LaneRegistry::builder()
        .caps(|lane: &str| match lane {
            "zero" => Some(0),
            "negative" => Some(-4),
            "wide" => Some(16),
            _ => None,
        })
        .build();
    let caps: Vec<_> = ["zero", "negative", "wide", "other"]
        .iter()
        .map(|name| lanes.lane(name).stats().cap)
        .collect();
    assert_eq!(caps, [1, 1, 16, 1]);
    assert_eq!(lanes.names(), ["negative", "other", "wide", "zero"]);
    assert!(lanes.get("never-used").is_none());
    assert_eq!(lanes.list().len(), 4);
}

// ===== queue policies =====

#[tokio::test(start_paused = true)]
async fn fair_share_serves_a_light_caller_within_the_first_slots() {
    let rig = rig(LaneRegistry::default());
    rig.fake
        .set_default("m", Outcome::delay(SECOND, Outcome::text("ok")));
    let lane = rig.lanes.lane("fake/m");

    let mut handles: Vec<_> = (0..100).map(|_| spawn_as(&rig, "heavy")).collect();
    until_queued(&lane, 99).await;
    handles.extend((0..5).map(|_| spawn_as(&rig, "light")));
    until_queued(&lane, 104).await;

    let stats = lane.stats();
    assert_eq!(stats.queued_by_caller["heavy"], 99);
    assert_eq!(stats.queued_by_caller["light"], 5);

    for handle in handles {
        handle.await.unwrap().unwrap();
    }
    let order = rig.gauge.order();
    let light: Vec<_> = (0..order.len()).filter(|&i| order[i] == "light").collect();
    // Round-robin between the two callers with work waiting: the light caller
    // gets every other slot once it joins, not slots 101 to 105.
    assert_eq!(light, [2, 4, 6, 8, 10]);
}

//             0    1    2    3    4    5    6    7    8    9
const MIXED: [&str; 10] = ["a", "a", "a", "b", "a", "c", "c", "b", "a", "a"];

/// Submits one-second calls from `callers` in order through a cap-1 lane and
/// returns the submission numbers in the order they were served.
async fn service_order(lanes: LaneRegistry, callers: &[&str]) -> Vec<usize> {
    let rig = rig(lanes);
    rig.fake
        .set_default("m", Outcome::delay(SECOND, Outcome::text("ok")));
    for handle in submit_in_order(&rig, callers).await {
        handle.await.unwrap().unwrap();
    }
    served_labels(&rig.fake)
}

#[tokio::test(start_paused = true)]
async fn fifo_serves_in_arrival_order() {
    let fifo = LaneRegistry::builder().policy(QueuePolicy::Fifo).build();
    let order = service_order(fifo, &MIXED).await;
    assert_eq!(order, (0..MIXED.len()).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn fair_share_rotates_between_callers_in_the_order_they_joined() {
    let order = service_order(LaneRegistry::default(), &MIXED).await;
    // 0 runs at once; then a, b, c take turns, each in its own arrival order.
    assert_eq!(order, [0, 1, 3, 5, 2, 7, 6, 4, 8, 9]);
}

// ===== cancellation, panics =====

#[tokio::test(start_paused = true)]
async fn a_thousand_cancellations_leave_the_lane_empty_and_serving() {
    let rig = rig(caps(4));
    rig.fake.set_default("m", Outcome::hang());
    let mut rng = Rng::new(42);
    let handles: Vec<_> = (0..1000)
        .map(|_| {
            let model = rig.model.clone();
            let budget = rng.millis(50_000);
            let caller = format!("caller-{}", rng.below(20));
            tokio::spawn(async move {
                tokio::time::timeout(
                    budget,
                    model.generate(Request::new().user("hi").caller(caller)),
                )
                .await
            })
        })
        .collect();
    let mut cancelled = 0;
    for handle in handles {
        if handle.await.unwrap().is_err() {
            cancelled += 1;
        }
    }
    assert_eq!(
        cancelled, 1000,
        "every call hangs, so every call is given up"
    );
    let admitted = rig.fake.calls("m");
    assert!(
        admitted > 0 && admitted < 1000,
        "some cancelled while running ({admitted}), the rest while queued"
    );
    assert!(rig.gauge.peak() <= 4);
    assert_eq!(rig.gauge.in_flight(), 0);

    let lane = rig.lanes.get("fake/m").unwrap();
    let stats = lane.stats();
    assert_eq!((stats.running, stats.queued), (0, 0), "{stats:?}");
    assert!(stats.queued_by_caller.is_empty());

    rig.fake.push("m", Outcome::text("still serving"));
    let reply = generated(&rig.model, Request::new().user("hi")).await;
    assert_eq!(reply.text(), "still serving");
}

#[tokio::test(start_paused = true)]
async fn aborting_a_queued_task_frees_its_place_at_once() {
    let rig = rig(LaneRegistry::default());
    rig.fake
        .push("m", Outcome::delay(10 * SECOND, Outcome::text("first")));
    rig.fake.push("m", Outcome::text("third"));
    let (lane, first, second) = one_running_one_queued(&rig).await;
    second.abort();
    assert!(second.await.unwrap_err().is_cancelled());
    assert_eq!(lane.stats().queued, 0, "the aborted call left the line");
    let third = spawn_as(&rig, "c");
    assert_eq!(first.await.unwrap().unwrap(), "first");
    assert_eq!(third.await.unwrap().unwrap(), "third");
    assert_eq!(
        rig.fake.calls("m"),
        2,
        "the aborted call never reached the model"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_model_releases_its_permit() {
    let rig = rig(LaneRegistry::default());
    rig.fake
        .push("m", Outcome::delay(SECOND, Outcome::panic("model blew up")));
    rig.fake.push("m", Outcome::text("after the panic"));
    let (lane, doomed, waiting) = one_running_one_queued(&rig).await;

    assert!(doomed.await.unwrap_err().is_panic());
    assert_eq!(waiting.await.unwrap().unwrap(), "after the panic");
    let stats = lane.stats();
    assert_eq!((stats.running, stats.queued), (0, 0));
}

// ===== reload =====

#[tokio::test(start_paused = true)]
async fn reload_raises_and_lowers_the_cap_while_work_runs() {
    let cap = Arc::new(AtomicI64::new(1));
    let source = cap.clone();
    let rig = rig(LaneRegistry::builder()
        .caps(move |_: &str| Some(source.load(Ordering::SeqCst)))
        .build());
    rig.fake
        .set_default("m", Outcome::delay(10 * SECOND, Outcome::text("ok")));
    let lane = rig.lanes.lane("fake/m");
    let mut handles: Vec<_> = (0..8).map(|i| spawn_as(&rig, format!("c{i}"))).collect();
    until_queued(&lane, 7).await;
    assert_eq!((lane.stats().running, lane.stats().cap), (1, 1));

    // Raised: queued work is admitted at once, before any time passes.
    cap.store(3, Ordering::SeqCst);
    rig.lanes.reload();
    settle().await;
    let stats = lane.stats();
    assert_eq!((stats.cap, stats.running, stats.queued), (3, 3, 5));
    assert_eq!(rig.gauge.in_flight(), 3);

    // Lowered: running work continues; new admissions respect the new cap.
    cap.store(1, Ordering::SeqCst);
    rig.lanes.reload();
    settle().await;
    let stats = lane.stats();
    assert_eq!((stats.cap, stats.running, stats.queued), (1, 3, 5));

    tokio::time::advance(10 * SECOND).await;
    settle().await;
    let stats = lane.stats();
    assert_eq!(
        (stats.running, stats.queued),
        (1, 4),
        "only one admitted under the lowered cap"
    );
    assert_eq!(rig.fake.calls("m"), 4);

    handles.push(spawn_as(&rig, "late"));
    for handle in handles {
        handle.await.unwrap().unwrap();
    }
    assert_eq!(rig.fake.calls("m"), 9);
    assert_eq!(rig.gauge.peak(), 3);
}

// ===== execution deadline =====

#[tokio::test(start_paused = true)]
async fn the_execution_deadline_starts_when_the_call_is_admitted() {
    let rig = rig(LaneRegistry::builder()
        .execution_deadline(10 * SECOND)
        .build());
    rig.fake
        .push("m", Outcome::delay(9 * SECOND, Outcome::text("in time")));
    rig.fake
        .push("m", Outcome::delay(11 * SECOND, Outcome::text("too slow")));
    let lane = rig.lanes.lane("fake/m");
    let start = Instant::now();

    // Someone holds the only slot for a minute: far longer than the deadline.
    let holder = lane.acquire(Some("holder")).await;
    let patient = spawn_as(&rig, "patient");
    until_queued(&lane, 1).await;
    tokio::time::advance(60 * SECOND).await;
    drop(holder);

    assert_eq!(patient.await.unwrap().unwrap(), "in time");
    assert_eq!(start.elapsed(), 69 * SECOND);

    let err = generate_error(
        &rig.model,
        Request::new().user("hi").caller("slow").run_id("r1"),
    )
    .await;
    assert_eq!(start.elapsed(), 79 * SECOND, "cut after 10s of running");
    assert!(err.is_timeout());
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.target().unwrap().as_str(), "fake/m");
    assert_eq!(err.context().unwrap().run_id.as_deref(), Some("r1"));
    assert_eq!(lane.stats().running, 0);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_inside_the_lane_counts_from_admission_not_from_submission() {
    let fake = scripted_fake(Outcome::delay(25 * SECOND, Outcome::text("full budget")));
    let lanes = LaneRegistry::default();
    let provider = Layers::new()
        .layer(LaneLayer::new(lanes.clone()))
        .layer(TimeoutLayer::new(Deadlines::new().generate(30 * SECOND)))
        .wrap(Arc::new(fake.clone()));
    let model = provider.model("m").unwrap();
    let lane = lanes.lane("fake/m");
    let start = Instant::now();

    let holder = lane.acquire(None).await;
    let call = {
        let model = model.clone();
        tokio::spawn(async move { model.generate(Request::new().user("hi")).await })
    };
    until_queued(&lane, 1).await;
    tokio::time::advance(45 * SECOND).await; // queued longer than the 30s budget
    drop(holder);

    assert_eq!(call.await.unwrap().unwrap().text(), "full budget");
    assert_eq!(start.elapsed(), 70 * SECOND);
}

#[tokio::test(start_paused = true)]
async fn a_caller_giving_up_while_queued_leaves_at_once() {
    let rig = rig(LaneRegistry::default());
    rig.fake.set_default("m", Outcome::text("ok"));
    let lane = rig.lanes.lane("fake/m");
    let start = Instant::now();
    let holder = lane.acquire(Some("holder")).await;

    let gave_up = tokio::time::timeout(
        5 * SECOND,
        rig.model
            .generate(Request::new().user("hi").caller("impatient")),
    )
    .await;
    assert!(gave_up.is_err());
    assert_eq!(start.elapsed(), 5 * SECOND);
    let stats = lane.stats();
    assert_eq!((stats.running, stats.queued), (1, 0), "{stats:?}");

    drop(holder);
    assert_eq!(lane.stats().running, 0);
    generated(&rig.model, Request::new().user("hi")).await;
    assert_eq!(rig.fake.calls("m"), 1, "the call that gave up never ran");
}

// ===== streams =====

fn slow_stream() -> Outcome {
    Outcome::stream_steps([
        StreamStep::Event(StreamEvent::text("one ")),
        StreamStep::Delay(10 * SECOND),
        StreamStep::Event(StreamEvent::text("two")),
        StreamStep::Event(StreamEvent::finish(FinishReason::Stop)),
    ])
}

#[tokio::test(start_paused = true)]
async fn a_stream_holds_its_slot_only_while_it_is_being_opened() {
    let rig = rig(LaneRegistry::default());
    rig.fake
        .push("m", Outcome::delay(3 * SECOND, slow_stream()));
    rig.fake.push("m", slow_stream());
    let lane = rig.lanes.lane("fake/m");
    let start = Instant::now();

    let opening = {
        let model = rig.model.clone();
        tokio::spawn(async move { model.stream(Request::new().user("hi").caller("a")).await })
    };
    settle().await;
    assert_eq!(lane.stats().running, 1, "opening holds the slot");
    let first = opening.await.unwrap().unwrap();
    assert_eq!(start.elapsed(), 3 * SECOND);
    assert_eq!(lane.stats().running, 0, "an open stream holds no slot");

    // A second stream opens while the first is still unread.
    let mut second = rig
        .model
        .stream(Request::new().user("hi").caller("b"))
        .await
        .unwrap();
    assert_eq!(start.elapsed(), 3 * SECOND);
    assert_eq!(
        second.next().await.unwrap().unwrap(),
        StreamEvent::text("one ")
    );

    let first = first.into_response().await.unwrap();
    assert_eq!(first.text(), "one two");
    let rest: Vec<_> = second.collect().await;
    assert_eq!(rest.len(), 2);
    assert_eq!(lane.stats().running, 0);
}

// ===== mapping, attribution =====

#[tokio::test(start_paused = true)]
async fn the_lane_map_chooses_lanes_and_lanes_are_created_on_first_use() {
    let fake = FakeProvider::always_text("fake", "ok");
    let lanes = LaneRegistry::default();
    let by_size = LaneMap::from_fn(|target| {
        if target.model().contains("large") {
            "big-gpu".to_owned()
        } else {
            target.as_str().to_owned()
        }
    });
    let provider = LaneLayer::new(lanes.clone())
        .map(by_size)
        .layer(Arc::new(fake));
    let large = provider.model("llama-large").unwrap();
    let small = provider.model("llama-small").unwrap();
    assert!(lanes.names().is_empty(), "minting a model creates no lane");

    generated(&large, Request::new().user("hi")).await;
    generated(&small, Request::new().user("hi")).await;
    generated(
        &provider.model("mixtral-large").unwrap(),
        Request::new().user("hi"),
    )
    .await;
    assert_eq!(lanes.names(), ["big-gpu", "fake/llama-small"]);
    assert_eq!(provider.name(), "fake");
}

#[tokio::test(start_paused = true)]
async fn errors_through_the_lane_keep_class_and_message_and_gain_the_call_context() {
    let rig = rig(LaneRegistry::default());
    rig.fake.push("m", Outcome::error(Error::overloaded()));
    rig.fake.push("m", Outcome::status(400));
    rig.fake.push(
        "m",
        Outcome::stream_steps([
            StreamStep::Event(StreamEvent::text("partial")),
            StreamStep::Error(Error::transport("connection reset")),
        ]),
    );
    let request = || Request::new().user("hi").caller("alice").run_id("run-7");

    let overloaded = generate_error(&rig.model, request()).await;
    assert_eq!(overloaded.class(), ErrorClass::Transient);
    assert_eq!(overloaded.status(), Some(529));
    assert_eq!(overloaded.message(), "overloaded");
    let context = overloaded.context().unwrap();
    assert_eq!(context.caller_id.as_deref(), Some("alice"));
    assert_eq!(context.run_id.as_deref(), Some("run-7"));

    let bad = generate_error(&rig.model, request()).await;
    assert_eq!(bad.class(), ErrorClass::Permanent);
    assert_eq!(bad.message(), "scripted HTTP 400");
    assert_eq!(bad.context().unwrap().caller_id.as_deref(), Some("alice"));

    let mut stream = rig.model.stream(request()).await.unwrap();
    assert!(stream.next().await.unwrap().is_ok());
    let cut = stream.next().await.unwrap().unwrap_err();
    assert_eq!(cut.class(), ErrorClass::Transient);
    assert_eq!(cut.message(), "connection reset");
    assert_eq!(cut.context().unwrap().run_id.as_deref(), Some("run-7"));
    assert!(stream.next().await.is_none());

    // A call without any context is left without one rather than an empty one.
    rig.fake.push("m", Outcome::error(Error::overloaded()));
    let anonymous = generate_error(&rig.model, Request::new().user("hi")).await;
    assert!(anonymous.context().is_none());
}
