//! Integration tests: chain. The failover matrix of design §6 on the fake
//! provider, a fake health clock and paused tokio time: no sleeps, no network.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::StreamExt as _;
use majordomo::health::{Clock, FakeClock, HealthConfig, HealthTracker, TargetHealth};
use majordomo::providers::fake::{FakeProvider, Outcome, StreamStep};
use majordomo::{
    AttemptOutcome, Capabilities, Capability, Chain, ChainConfig, ChainTarget, Classifier,
    DefaultClassifier, Error, ErrorClass, ErrorKind, EventStream, FailoverAction, FailoverEvent,
    FinishReason, Image, Model, Provider, ReasoningLevel, Request, Response, RetryBudget,
    StreamEvent, Target,
};

use crate::support::call::{generate_error, generated, streamed};
use crate::support::chain::{Rig, chain_over};
use crate::support::doubling_backoff;

fn hi() -> Request {
    Request::new().user("hi").caller("user-7").run_id("run-1")
}

/// Two consecutive failures bench a target for 30 s.
fn two_strikes() -> HealthConfig {
    HealthConfig::default()
        .failure_threshold(2)
        .base_cooldown(secs(30))
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn outcomes(attempts: &[majordomo::Attempt]) -> Vec<String> {
    attempts
        .iter()
        .map(|a| {
            let what = match a.outcome {
                AttemptOutcome::Ok => "ok".to_owned(),
                AttemptOutcome::Error => a.class.unwrap().to_string(),
                AttemptOutcome::Skipped => "skipped".to_owned(),
                _ => "?".to_owned(),
            };
            format!("{}:{what}", a.target)
        })
        .collect()
}

// ===== generate: the matrix =====

#[tokio::test(start_paused = true)]
async fn single_transient_then_success_on_the_same_target() {
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .push("a", Outcome::error(Error::overloaded()))
        .push("a", Outcome::text("from a"))
        .set_default("b", Outcome::text("from b"));
    let chain = rig.chain(&["a", "b"], ChainConfig::default());

    let reply = generated(&chain, hi()).await;

    assert_eq!(reply.text(), "from a");
    assert_eq!(
        (reply.provider.as_str(), reply.model.as_str()),
        ("fake", "a")
    );
    assert_eq!(outcomes(&reply.attempts), ["fake/a:transient", "fake/a:ok"]);
    assert_eq!(reply.call_count(), 2);
    assert_eq!((rig.fake.calls("a"), rig.fake.calls("b")), (2, 0));
    assert_eq!(rig.recorder.steps(), ["fake/a:1:retry"]);
    let event = &rig.recorder.events()[0];
    assert_eq!(event.class, Some(ErrorClass::Transient));
    assert_eq!(event.error.as_ref().unwrap().status(), Some(529));
    assert_eq!(event.context.caller_id.as_deref(), Some("user-7"));
    assert!(!event.streaming);
    // The success reset the failure the first attempt recorded.
    assert!(rig.health.state(&rig.target("a")).await.is_clean());
}

/// A healthy first target is called on the chain's plain path; a call that
/// needs more (a failure, a health record to reset, a group, a hedge, a
/// deadline) goes through the failover loop. The steps and records must not
/// depend on which: the same script with and without a deadline (which always
/// takes the loop) gives the same answer, attempts, events and health.
#[tokio::test(start_paused = true)]
async fn the_plain_path_and_the_failover_loop_take_the_same_steps() {
    for deadline in [None, Some(secs(60))] {
        let rig = Rig::new(two_strikes());
        let a = rig.target("a");
        let config = match deadline {
            Some(limit) => ChainConfig::default().deadline(limit),
            None => ChainConfig::default(),
        };
        let chain = rig.chain(&["a", "b"], config);
        rig.fake.set_default("b", Outcome::text("from b"));

        // Healthy: one call, one step.
        rig.fake.push("a", Outcome::text("first"));
        let reply = generated(&chain, hi()).await;
        assert_eq!(
            (reply.text(), outcomes(&reply.attempts)),
            ("first".into(), vec!["fake/a:ok".to_owned()])
        );

        // A record below the bench threshold: the success resets it.
        rig.health.record_failure(&a, None).await;
        rig.fake.push("a", Outcome::text("second"));
        let reply = generated(&chain, hi()).await;
        assert_eq!(outcomes(&reply.attempts), ["fake/a:ok"], "{deadline:?}");
        assert!(rig.health.state(&a).await.is_clean(), "{deadline:?}");

        // A failure on the first call: retried, then advanced, as the table says.
        rig.fake
            .push_all("a", [Outcome::status(503), Outcome::status(503)]);
        let reply = generated(&chain, hi()).await;
        assert_eq!(reply.text(), "from b");
        assert_eq!(
            outcomes(&reply.attempts),
            ["fake/a:transient", "fake/a:transient", "fake/b:ok"],
            "{deadline:?}"
        );
        assert_eq!(rig.recorder.steps(), ["fake/a:1:retry", "fake/a:2:advance"]);
        assert_eq!(rig.benched_for("a").await, Some(secs(30)));

        // A permanent error on the first call stops the chain there.
        rig.recorder.clear();
        rig.health.record_success(&a).await;
        rig.fake.push("a", Outcome::status(401));
        let error = generate_error(&chain, hi()).await;
        assert_eq!(error.class(), ErrorClass::Permanent, "{deadline:?}");
        assert_eq!(outcomes(error.attempts()), ["fake/a:permanent"]);
        assert_eq!(rig.recorder.steps(), ["fake/a:1:give-up"]);
        assert_eq!(rig.fake.calls("b"), 1, "{deadline:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn repeated_transients_bench_and_advance_then_the_bench_is_skipped() {
    let rig = Rig::new(two_strikes());
    rig.fake
        .push_all("a", [Outcome::status(503), Outcome::status(503)])
        .set_default("b", Outcome::text("from b"));
    let chain = rig.chain(&["a", "b"], ChainConfig::default());

    let reply = generated(&chain, hi()).await;
    assert_eq!(reply.text(), "from b");
    assert_eq!(
        outcomes(&reply.attempts),
        ["fake/a:transient", "fake/a:transient", "fake/b:ok"]
    );
    assert_eq!(rig.recorder.steps(), ["fake/a:1:retry", "fake/a:2:advance"]);
    let benched_until = rig.health.now() + secs(30);
    assert_eq!(rig.recorder.events()[1].admitted_at, Some(benched_until));
    assert_eq!(rig.benched_for("a").await, Some(secs(30)));

    // While benched, a is not called at all.
    rig.recorder.clear();
    rig.fake.set_default("a", Outcome::text("from a"));
    let reply = generated(&chain, hi()).await;
    assert_eq!(reply.text(), "from b");
    assert_eq!(rig.fake.calls("a"), 2);
    assert_eq!(outcomes(&reply.attempts), ["fake/a:skipped", "fake/b:ok"]);
    assert_eq!(reply.attempts[0].admitted_at, Some(benched_until));
    assert_eq!(reply.call_count(), 1);
    assert_eq!(rig.recorder.steps(), ["fake/a:0:skip-benched"]);
    assert_eq!(rig.recorder.events()[0].admitted_at, Some(benched_until));
}

#[tokio::test(start_paused = true)]
async fn cooldown_expiry_readmits_and_success_resets() {
    let rig = Rig::new(two_strikes());
    rig.fake
        .push_all("a", [Outcome::status(500), Outcome::status(500)])
        .set_default("b", Outcome::text("from b"));
    let chain = rig.chain(&["a", "b"], ChainConfig::default());
    generated(&chain, hi()).await;
    assert!(rig.benched_for("a").await.is_some());

    rig.clock.advance(secs(29));
    rig.fake.set_default("a", Outcome::text("from a"));
    assert_eq!(generated(&chain, hi()).await.text(), "from b");

    rig.clock.advance(secs(1));
    let reply = generated(&chain, hi()).await;
    assert_eq!(reply.text(), "from a");
    assert_eq!(outcomes(&reply.attempts), ["fake/a:ok"]);
    assert_eq!(
        rig.health.state(&rig.target("a")).await,
        TargetHealth::default()
    );
    assert_eq!(rig.fake.calls("a"), 3);
}

#[tokio::test(start_paused = true)]
async fn backoff_doubles_per_bench_round_is_capped_and_resets_on_success() {
    let health = doubling_backoff(2, secs(25));
    let rig = Rig::new(health);
    rig.fake
        .set_default("a", Outcome::error(Error::overloaded()))
        .set_default("b", Outcome::text("from b"));
    let chain = rig.chain(&["a", "b"], ChainConfig::default());

    // Round 1: two failures (first try and its retry) bench for 10 s.
    generated(&chain, hi()).await;
    assert_eq!(rig.benched_for("a").await, Some(secs(10)));
    assert_eq!(rig.fake.calls("a"), 2);
    // Half-open: after the cooldown one failure re-benches at once, for
    // twice as long, and the retry is not made.
    for (round, cooldown) in [(2, 20), (3, 25), (4, 25)] {
        let waited = rig.benched_for("a").await.unwrap();
        rig.clock.advance(waited);
        rig.recorder.clear();
        generated(&chain, hi()).await;
        assert_eq!(
            rig.benched_for("a").await,
            Some(secs(cooldown)),
            "round {round}"
        );
        assert_eq!(rig.health.state(&rig.target("a")).await.bench_rounds, round);
        assert_eq!(rig.recorder.steps(), ["fake/a:1:advance"], "round {round}");
    }
    assert_eq!(rig.fake.calls("a"), 5);

    // A success resets the rounds: the next bench is back to 10 s.
    rig.clock.advance(secs(25));
    rig.fake.push("a", Outcome::text("from a"));
    assert_eq!(generated(&chain, hi()).await.text(), "from a");
    assert!(rig.health.state(&rig.target("a")).await.is_clean());
    generated(&chain, hi()).await;
    assert_eq!(rig.benched_for("a").await, Some(secs(10)));
}

#[tokio::test(start_paused = true)]
async fn permanent_error_fails_fast_by_default() {
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .push("a", Outcome::status(401))
        .set_default("b", Outcome::text("from b"));
    let chain = rig.chain(&["a", "b"], ChainConfig::default());

    let err = generate_error(&chain, hi()).await;

    assert_eq!(err.status(), Some(401));
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(err.target(), Some(rig.target("a")));
    assert_eq!(err.context().unwrap().caller_id.as_deref(), Some("user-7"));
    assert_eq!(outcomes(err.attempts()), ["fake/a:permanent"]);
    assert_eq!(rig.fake.calls("b"), 0);
    assert_eq!(rig.recorder.steps(), ["fake/a:1:give-up"]);
    assert!(rig.health.snapshot().await.is_empty(), "no health penalty");
}

#[tokio::test(start_paused = true)]
async fn permanent_error_advances_with_advance_on_permanent() {
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .push("a", Outcome::error(Error::config("bad FAKE_API_KEY")))
        .set_default("b", Outcome::text("from b"));
    let chain = rig.chain(
        &["a", "b"],
        ChainConfig::default().advance_on_permanent(true),
    );

    let reply = generated(&chain, hi()).await;

    assert_eq!(reply.text(), "from b");
    assert_eq!(outcomes(&reply.attempts), ["fake/a:permanent", "fake/b:ok"]);
    assert_eq!(rig.fake.calls("a"), 1);
    assert_eq!(rig.recorder.steps(), ["fake/a:1:advance"]);
    assert!(rig.health.snapshot().await.is_empty(), "no health penalty");
}

#[tokio::test(start_paused = true)]
async fn model_not_found_and_request_specific_advance_without_penalty() {
    let rig = Rig::new(HealthConfig::default().failure_threshold(1));
    rig.fake
        .push("a", Outcome::error(Error::model_not_found("a")))
        .push(
            "b",
            Outcome::error(Error::context_length_exceeded("too long")),
        )
        .set_default("c", Outcome::text("from c"));
    let chain = rig.chain(&["a", "b", "c"], ChainConfig::default());

    let reply = generated(&chain, hi()).await;

    assert_eq!(reply.text(), "from c");
    assert_eq!(
        outcomes(&reply.attempts),
        [
            "fake/a:model-not-found",
            "fake/b:request-specific",
            "fake/c:ok"
        ]
    );
    assert_eq!(
        rig.recorder.steps(),
        ["fake/a:1:advance", "fake/b:1:advance"]
    );
    assert!(rig.health.snapshot().await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn transient_retries_zero_disables_retries() {
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .push_all("a", [Outcome::status(503), Outcome::text("from a")])
        .set_default("b", Outcome::text("from b"));
    let chain = rig.chain(&["a", "b"], ChainConfig::default().transient_retries(0));

    let reply = generated(&chain, hi()).await;

    assert_eq!(reply.text(), "from b");
    assert_eq!(rig.fake.calls("a"), 1);
    assert_eq!(rig.recorder.steps(), ["fake/a:1:advance"]);
    assert_eq!(rig.failures("a").await, 1);
}

#[tokio::test(start_paused = true)]
async fn transient_retries_three_retries_three_times() {
    let rig = Rig::new(HealthConfig::default().failure_threshold(10));
    rig.fake
        .push_all(
            "a",
            [
                Outcome::status(503),
                Outcome::status(502),
                Outcome::status(504),
            ],
        )
        .push("a", Outcome::text("from a"));
    let chain = rig.chain(&["a", "b"], ChainConfig::default().transient_retries(3));

    let reply = generated(&chain, hi()).await;
    assert_eq!(reply.text(), "from a");
    assert_eq!(rig.fake.calls("a"), 4);
    assert_eq!(
        rig.recorder.steps(),
        ["fake/a:1:retry", "fake/a:2:retry", "fake/a:3:retry"]
    );

    // With every attempt failing, the fourth failure advances.
    rig.recorder.clear();
    rig.fake
        .set_default("a", Outcome::status(503))
        .set_default("b", Outcome::text("from b"));
    let reply = generated(&chain, hi()).await;
    assert_eq!(reply.text(), "from b");
    assert_eq!(rig.fake.calls("a"), 8);
    assert_eq!(
        rig.recorder.steps(),
        [
            "fake/a:1:retry",
            "fake/a:2:retry",
            "fake/a:3:retry",
            "fake/a:4:advance"
        ]
    );
}

/// A rig benching after two failures, where `a` always answers 503 and `b`
/// answers "from b".
fn a_down_b_up() -> Rig {
    let rig = Rig::new(HealthConfig::default().failure_threshold(2));
    rig.fake
        .set_default("a", Outcome::status(503))
        .set_default("b", Outcome::text("from b"));
    rig
}

#[tokio::test(start_paused = true)]
async fn the_retry_loop_stops_when_the_tracker_benches_mid_request() {
    let rig = a_down_b_up();
    let chain = rig.chain(&["a", "b"], ChainConfig::default().transient_retries(5));

    let reply = generated(&chain, hi()).await;

    assert_eq!(reply.text(), "from b");
    assert_eq!(
        rig.fake.calls("a"),
        2,
        "benched after two failures: no third call"
    );
    assert_eq!(rig.recorder.steps(), ["fake/a:1:retry", "fake/a:2:advance"]);
    assert!(rig.recorder.events()[1].admitted_at.is_some());
}

#[tokio::test(start_paused = true)]
async fn status_529_fails_over_and_benches() {
    let rig = Rig::new(two_strikes());
    rig.fake
        .push_all("a", [Outcome::status(529), Outcome::status(529)])
        .set_default("b", Outcome::text("from b"));
    let chain = rig.chain(&["a", "b"], ChainConfig::default());

    let reply = generated(&chain, hi()).await;

    assert_eq!(reply.text(), "from b");
    assert_eq!(rig.benched_for("a").await, Some(secs(30)));
    assert_eq!(rig.recorder.steps(), ["fake/a:1:retry", "fake/a:2:advance"]);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_with_retry_after_benches_at_once_for_that_long() {
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .push("a", Outcome::error(Error::rate_limited(Some(secs(20)))))
        .set_default("b", Outcome::text("from b"));
    let chain = rig.chain(&["a", "b"], ChainConfig::default().transient_retries(3));

    let reply = generated(&chain, hi()).await;

    assert_eq!(reply.text(), "from b");
    assert_eq!(rig.fake.calls("a"), 1, "benched by Retry-After: no retry");
    assert_eq!(rig.benched_for("a").await, Some(secs(20)));
    assert_eq!(rig.recorder.steps(), ["fake/a:1:advance"]);
    let event = &rig.recorder.events()[0];
    assert_eq!(event.error.as_ref().unwrap().retry_after(), Some(secs(20)));
    assert_eq!(event.admitted_at, Some(rig.health.now() + secs(20)));

    rig.fake.set_default("a", Outcome::text("from a"));
    rig.clock.advance(secs(19));
    assert_eq!(generated(&chain, hi()).await.text(), "from b");
    rig.clock.advance(secs(1));
    assert_eq!(generated(&chain, hi()).await.text(), "from a");
}

#[tokio::test(start_paused = true)]
async fn a_later_shorter_retry_after_never_shortens_a_bench() {
    let rig = Rig::new(HealthConfig::default());
    // Two calls in flight on a: the one answering second has the shorter hint.
    rig.fake
        .push(
            "a",
            Outcome::delay(secs(2), Outcome::error(Error::rate_limited(Some(secs(5))))),
        )
        .push(
            "a",
            Outcome::delay(secs(1), Outcome::error(Error::rate_limited(Some(secs(60))))),
        )
        .set_default("b", Outcome::text("from b"));
    let chain = rig.chain(&["a", "b"], ChainConfig::default());

    let (first, second) = tokio::join!(chain.generate(hi()), chain.generate(hi()));

    assert_eq!(first.unwrap().text(), "from b");
    assert_eq!(second.unwrap().text(), "from b");
    assert_eq!(rig.benched_for("a").await, Some(secs(60)));
    assert_eq!(
        rig.recorder.steps(),
        ["fake/a:1:advance", "fake/a:1:advance"]
    );
}

#[tokio::test(start_paused = true)]
async fn exhaustion_lists_every_attempt_and_benched_target() {
    let rig = Rig::new(HealthConfig::default());
    let a = rig.target("a");
    rig.health.record_failure(&a, Some(secs(60))).await;
    let a_back = rig.health.now() + secs(60);
    rig.fake
        .set_default("a", Outcome::text("never called"))
        .set_default("b", Outcome::status(503))
        .set_default("c", Outcome::error(Error::model_not_found("c")));
    let chain = rig.chain(&["a", "b", "c"], ChainConfig::default());

    let err = generate_error(&chain, hi()).await;

    assert_eq!(err.kind(), ErrorKind::Exhausted);
    assert_eq!(
        outcomes(err.attempts()),
        [
            "fake/a:skipped",
            "fake/b:transient",
            "fake/b:transient",
            "fake/c:model-not-found"
        ]
    );
    assert_eq!(err.attempts()[0].admitted_at, Some(a_back));
    assert_eq!(err.attempts()[0].benched_for, Some(secs(60)));
    let text = err.to_string();
    assert!(text.contains("fake/a skipped: benched for 1m"), "{text}");
    assert!(!text.contains("unix"), "{text}");
    assert!(
        text.contains("fake/b failed (transient): fake/b: HTTP 503"),
        "{text}"
    );
    assert!(text.contains("fake/c failed (model-not-found)"), "{text}");
    assert_eq!(
        err.class(),
        ErrorClass::ModelNotFound,
        "the last error's class"
    );
    assert_eq!(
        err.source_as::<Error>().unwrap().target(),
        Some(rig.target("c"))
    );
    assert_eq!(err.context().unwrap().run_id.as_deref(), Some("run-1"));
    assert_eq!(rig.fake.calls("a"), 0);
    assert_eq!(
        rig.recorder.steps(),
        [
            "fake/a:0:skip-benched",
            "fake/b:1:retry",
            "fake/b:2:advance",
            "fake/c:1:advance",
            "chain:0:give-up"
        ]
    );
    let last = rig.recorder.events().pop().unwrap();
    assert_eq!(last.error.unwrap().kind(), ErrorKind::Exhausted);
}

#[tokio::test(start_paused = true)]
async fn when_every_target_is_benched_the_error_says_when_to_come_back() {
    let rig = Rig::new(HealthConfig::default());
    rig.health
        .record_failure(&rig.target("a"), Some(secs(50)))
        .await;
    rig.health
        .record_failure(&rig.target("b"), Some(secs(20)))
        .await;
    let chain = rig.chain(&["a", "b"], ChainConfig::default());

    let err = generate_error(&chain, hi()).await;

    assert_eq!(err.kind(), ErrorKind::Exhausted);
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.retry_after(), Some(secs(20)));
    assert_eq!(
        outcomes(err.attempts()),
        ["fake/a:skipped", "fake/b:skipped"]
    );
    assert_eq!(rig.fake.total_calls(), 0);
    assert_eq!(
        rig.recorder.steps(),
        [
            "fake/a:0:skip-benched",
            "fake/b:0:skip-benched",
            "chain:0:give-up"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_custom_classifier_overrides_the_default() {
    // A flaky gateway answers 400 when it means "try again".
    let classify = |e: &Error| match e.status() {
        Some(400) => ErrorClass::Transient,
        _ => DefaultClassifier.classify(e),
    };
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .push_all("a", [Outcome::status(400), Outcome::text("from a")])
        .set_default("b", Outcome::text("from b"));
    let chain = rig.chain(&["a", "b"], ChainConfig::default().classifier(classify));

    let reply = generated(&chain, hi()).await;

    assert_eq!(reply.text(), "from a");
    assert_eq!(outcomes(&reply.attempts), ["fake/a:transient", "fake/a:ok"]);
    assert_eq!(rig.recorder.steps(), ["fake/a:1:retry"]);
    assert_eq!(rig.recorder.events()[0].class, Some(ErrorClass::Transient));

    // And the classifier decides what is permanent too.
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .push("a", Outcome::status(503))
        .set_default("b", Outcome::text("from b"));
    let never_retry = |_: &Error| ErrorClass::Permanent;
    let chain = rig.chain(&["a", "b"], ChainConfig::default().classifier(never_retry));
    let err = generate_error(&chain, hi()).await;
    assert_eq!(err.status(), Some(503));
    assert_eq!(rig.recorder.steps(), ["fake/a:1:give-up"]);
    assert!(rig.health.snapshot().await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_chain_of_one_behaves_like_the_bare_model_apart_from_health() {
    let script = || {
        vec![
            Outcome::text("plain"),
            Outcome::tool_call("call_1", "lookup", serde_json::json!({"q": "x"})),
            Outcome::stream([StreamEvent::text("str"), StreamEvent::text("eamed")]),
            Outcome::status(401),
            Outcome::error(Error::model_not_found("solo")),
            Outcome::error(Error::context_length_exceeded("too long")),
            Outcome::error(Error::rate_limited(Some(secs(5)))),
        ]
    };
    let bare_fake = FakeProvider::new("fake");
    bare_fake.push_all("solo", script());
    let bare = bare_fake.model("solo").unwrap();
    let rig = Rig::new(HealthConfig::default());
    rig.fake.push_all("solo", script());
    let chain = rig.chain(&["solo"], ChainConfig::default().transient_retries(0));

    for step in 0..script().len() {
        let want = bare.generate(hi()).await;
        let got = chain.generate(hi()).await;
        match (want, got) {
            (Ok(want), Ok(got)) => {
                assert_eq!(got.message, want.message, "step {step}");
                assert_eq!(got.finish_reason, want.finish_reason, "step {step}");
                assert_eq!((&got.provider, &got.model), (&want.provider, &want.model));
                assert_eq!(outcomes(&got.attempts), ["fake/solo:ok"]);
            }
            (Err(want), Err(got)) => {
                // The chain's error is the model's, or wraps it as the
                // exhausted error's source; class, status and Retry-After agree.
                let inner = got.source_as::<Error>().unwrap_or(&got);
                assert_eq!(inner.to_string(), want.to_string(), "step {step}");
                assert_eq!(got.class(), want.class(), "step {step}");
                assert_eq!(got.status(), want.status(), "step {step}");
                assert_eq!(got.retry_after(), want.retry_after(), "step {step}");
                assert_eq!(got.attempts().len(), 1, "step {step}");
            }
            (want, got) => panic!("step {step}: bare {want:?} but chain {got:?}"),
        }
    }
    assert_eq!(bare_fake.calls("solo"), rig.fake.calls("solo"));
    assert_eq!(
        rig.recorder.steps(),
        [
            "fake/solo:1:give-up",
            "fake/solo:1:advance",
            "chain:0:give-up",
            "fake/solo:1:advance",
            "chain:0:give-up",
            "fake/solo:1:advance",
            "chain:0:give-up"
        ]
    );
    // Apart from health: the chain benched its target for the Retry-After.
    assert_eq!(rig.benched_for("solo").await, Some(secs(5)));
}

#[tokio::test(start_paused = true)]
async fn a_chain_of_one_retries_like_any_chain() {
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .push_all("solo", [Outcome::status(503), Outcome::text("second try")]);
    let chain = rig.chain(&["solo"], ChainConfig::default());
    assert_eq!(generated(&chain, hi()).await.text(), "second try");
    assert_eq!(rig.recorder.steps(), ["fake/solo:1:retry"]);
}

// ===== capabilities and reasoning =====

#[tokio::test(start_paused = true)]
async fn a_target_lacking_a_capability_is_skipped_without_penalty() {
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .set_capabilities("text-only", Capabilities::unknown().images(false))
        .set_default("text-only", Outcome::text("cannot see"))
        .set_default("vision", Outcome::text("a cat"));
    let chain = rig.chain(&["text-only", "vision"], ChainConfig::default());
    let request = Request::new()
        .user_with_image("what is this?", Image::url("https://example.com/cat.png"))
        .caller("user-7");

    let reply = generated(&chain, request.clone()).await;

    assert_eq!(reply.text(), "a cat");
    assert_eq!(rig.fake.calls("text-only"), 0);
    assert_eq!(
        outcomes(&reply.attempts),
        ["fake/text-only:skipped", "fake/vision:ok"]
    );
    assert_eq!(
        reply.attempts[0].error.as_deref(),
        Some("does not support images")
    );
    assert_eq!(rig.recorder.steps(), ["fake/text-only:0:skip-capability"]);
    let event = &rig.recorder.events()[0];
    assert_eq!(
        event.error.as_ref().unwrap().capability(),
        Some(Capability::Images)
    );
    assert!(rig.health.snapshot().await.is_empty());

    // A text request still goes to the first target.
    assert_eq!(generated(&chain, hi()).await.text(), "cannot see");

    // No target able: request-specific, naming the capability.
    let rig2 = Rig::new(HealthConfig::default());
    rig2.fake
        .set_default_capabilities(Capabilities::unknown().images(false));
    let chain = rig2.chain(&["x", "y"], ChainConfig::default());
    let err = generate_error(&chain, request).await;
    assert_eq!(err.kind(), ErrorKind::Exhausted);
    assert_eq!(err.class(), ErrorClass::RequestSpecific);
    assert_eq!(
        err.source_as::<Error>().unwrap().capability(),
        Some(Capability::Images)
    );
    assert_eq!(
        rig2.recorder.steps(),
        [
            "fake/x:0:skip-capability",
            "fake/y:0:skip-capability",
            "chain:0:give-up"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_reasoning_suffix_applies_to_its_target_only() {
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .set_capabilities("plain", Capabilities::unknown().reasoning(false))
        .set_default("plain", Outcome::text("plain"))
        .push("thinker", Outcome::status(503))
        .push("thinker", Outcome::status(503))
        .set_default("thinker", Outcome::text("thought"));
    let chain = rig.chain(&["thinker#high", "plain#off"], ChainConfig::default());

    // The request asks for low reasoning; "thinker" gets high, "plain" gets
    // off and so is not skipped for lacking reasoning.
    let reply = generated(&chain, hi().reasoning(ReasoningLevel::Low)).await;
    assert_eq!(reply.text(), "plain");
    let sent = rig.fake.last_request("thinker").unwrap();
    assert_eq!(sent.reasoning_level(), Some(ReasoningLevel::High));
    let sent = rig.fake.last_request("plain").unwrap();
    assert_eq!(sent.reasoning_level(), Some(ReasoningLevel::Off));
    assert_eq!(chain.to_string(), "fake/thinker#high,fake/plain#off");
}

#[test]
fn chain_capabilities_are_what_some_target_can_serve() {
    let fake = FakeProvider::new("fake");
    fake.set_capabilities(
        "a",
        Capabilities::unknown()
            .images(false)
            .tools(false)
            .context_window(8_000),
    )
    .set_capabilities(
        "b",
        Capabilities::unknown()
            .images(true)
            .tools(false)
            .context_window(128_000),
    )
    .set_capabilities("c", Capabilities::unknown().tools(false));
    let health = HealthTracker::new(HealthConfig::default(), Arc::new(FakeClock::new()));
    let chain = chain_over(&fake, &["a", "b", "c"], &health, ChainConfig::default());
    let caps = chain.capabilities();
    assert_eq!(caps.images, Some(true), "b can");
    assert_eq!(caps.tools, Some(false), "every target declares it cannot");
    assert_eq!(caps.streaming, None, "nobody declared");
    assert_eq!(caps.context_window, Some(128_000));
}

// ===== streams =====

fn stream_of(texts: &[&str]) -> Outcome {
    let mut events: Vec<StreamEvent> = texts.iter().map(|t| StreamEvent::text(*t)).collect();
    events.push(StreamEvent::finish(FinishReason::Stop));
    Outcome::stream(events)
}

async fn collect(stream: EventStream) -> Vec<Result<StreamEvent, Error>> {
    stream.collect().await
}

#[tokio::test(start_paused = true)]
async fn a_stream_fails_over_until_its_first_event() {
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        // Opening fails; then the first item is an error; then empty streams:
        // none of them yielded an event, so all of them fail over.
        .push("a", Outcome::error(Error::overloaded()))
        .push(
            "a",
            Outcome::stream_steps([
                StreamStep::Delay(secs(1)),
                StreamStep::Error(Error::transport("connection reset")),
            ]),
        )
        .push_all("b", [Outcome::stream([]), Outcome::stream([])])
        .push("c", stream_of(&["hel", "lo"]));
    let chain = rig.chain(&["a", "b", "c"], ChainConfig::default());

    let stream = chain.stream(hi()).await.unwrap();

    assert_eq!((stream.provider(), stream.model()), ("fake", "c"));
    assert_eq!(
        outcomes(stream.attempts()),
        [
            "fake/a:transient",
            "fake/a:transient",
            "fake/b:transient",
            "fake/b:transient",
            "fake/c:ok"
        ]
    );
    let reply = stream.into_response().await.unwrap();
    assert_eq!(reply.text(), "hello");
    assert_eq!(
        rig.recorder.steps(),
        [
            "fake/a:1:retry",
            "fake/a:2:advance",
            "fake/b:1:retry",
            "fake/b:2:advance"
        ]
    );
    let events = rig.recorder.events();
    assert!(events.iter().all(|e| e.streaming));
    assert_eq!(
        events[1].error.as_ref().unwrap().kind(),
        ErrorKind::Transport
    );
    assert_eq!(
        events[2].error.as_ref().unwrap().kind(),
        ErrorKind::StreamEndedEarly
    );
    // A target declaring it cannot stream is skipped for streams only.
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .set_capabilities("batch", Capabilities::unknown().streaming(false))
        .set_default("batch", Outcome::text("batch"))
        .set_default("live", stream_of(&["live"]));
    let chain = rig.chain(&["batch", "live"], ChainConfig::default());
    let reply = streamed(&chain, hi()).await;
    assert_eq!(reply.text(), "live");
    assert_eq!(generated(&chain, hi()).await.text(), "batch");
    assert_eq!(rig.recorder.steps(), ["fake/batch:0:skip-capability"]);
}

#[tokio::test(start_paused = true)]
async fn a_stream_error_after_the_first_event_goes_to_the_caller() {
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .push(
            "a",
            Outcome::stream_steps([
                StreamStep::Event(StreamEvent::text("partial ")),
                StreamStep::Error(Error::transport("connection reset")),
            ]),
        )
        .set_default("b", Outcome::text("from b"));
    let chain = rig.chain(&["a", "b"], ChainConfig::default());

    let items = collect(chain.stream(hi()).await.unwrap()).await;

    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().unwrap(), &StreamEvent::text("partial "));
    let err = items[1].as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(err.target(), Some(rig.target("a")));
    assert_eq!(err.context().unwrap().caller_id.as_deref(), Some("user-7"));
    assert_eq!(rig.fake.calls("b"), 0, "no second answer spliced in");
    assert_eq!(rig.recorder.steps(), ["fake/a:1:give-up"]);
    // The cut stream counts against a's health.
    assert_eq!(rig.failures("a").await, 1);
}

#[tokio::test(start_paused = true)]
async fn a_stream_records_success_when_it_ends_cleanly_and_nothing_when_dropped() {
    let rig = Rig::new(HealthConfig::default());
    let a = rig.target("a");
    rig.health.record_failure(&a, None).await;
    rig.fake
        .set_default("a", stream_of(&["one ", "two ", "three"]));
    let chain = rig.chain(&["a"], ChainConfig::default());

    // Dropped after the first event: nothing is known, nothing recorded.
    let mut stream = chain.stream(hi()).await.unwrap();
    assert!(stream.next().await.unwrap().is_ok());
    drop(stream);
    assert_eq!(rig.health.state(&a).await.consecutive_failures, 1);

    // Read to the end: success.
    let reply = streamed(&chain, hi()).await;
    assert_eq!(reply.text(), "one two three");
    assert!(rig.health.state(&a).await.is_clean());
    assert!(rig.recorder.steps().is_empty());
}

// ===== cancellation, deadline, pause, budget, observer =====

#[tokio::test(start_paused = true)]
async fn dropping_the_call_mid_attempt_records_nothing_and_leaves_no_task() {
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .set_default("a", Outcome::hang())
        .set_default("b", Outcome::text("from b"));
    let chain = rig.chain(&["a", "b"], ChainConfig::default());

    let cut = tokio::time::timeout(secs(5), chain.generate(hi())).await;
    assert!(cut.is_err(), "the call was still in flight");
    let cut = tokio::time::timeout(secs(5), chain.stream(hi())).await;
    assert!(cut.is_err());

    assert_eq!(rig.fake.calls("a"), 2);
    assert_eq!(rig.fake.calls("b"), 0);
    assert!(rig.health.snapshot().await.is_empty());
    assert!(rig.recorder.steps().is_empty());
    let metrics = tokio::runtime::Handle::current().metrics();
    assert_eq!(metrics.num_alive_tasks(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_error_stops_the_chain_without_penalty() {
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .push("a", Outcome::error(Error::cancelled()))
        .set_default("b", Outcome::text("from b"));
    let chain = rig.chain(&["a", "b"], ChainConfig::default());

    let err = generate_error(&chain, hi()).await;

    assert!(err.is_cancelled());
    assert_eq!(rig.fake.calls("b"), 0);
    assert_eq!(rig.recorder.steps(), ["fake/a:1:give-up"]);
    assert_eq!(rig.recorder.events()[0].class, Some(ErrorClass::Cancelled));
    assert!(rig.health.snapshot().await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_deadline_covers_every_attempt_and_pause() {
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .set_default("a", Outcome::delay(secs(4), Outcome::status(503)))
        .set_default("b", Outcome::text("from b"));
    let config = ChainConfig::default()
        .retry_pause(secs(3))
        .deadline(secs(10));
    let chain = rig.chain(&["a", "b"], config);
    let started = tokio::time::Instant::now();

    // a fails at 4 s, pauses to 7 s, its retry would fail at 11 s.
    let err = generate_error(&chain, hi()).await;

    assert_eq!(started.elapsed(), secs(10));
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(
        outcomes(err.attempts()),
        ["fake/a:transient", "fake/a:transient"]
    );
    assert!(
        err.attempts()[1]
            .error
            .as_deref()
            .unwrap()
            .contains("deadline")
    );
    assert_eq!(err.context().unwrap().caller_id.as_deref(), Some("user-7"));
    assert_eq!(rig.recorder.steps(), ["fake/a:1:retry", "fake/a:2:give-up"]);
    // The attempt cut by our deadline is not held against a.
    assert_eq!(rig.failures("a").await, 1);
    assert_eq!(rig.fake.calls("b"), 0);
}

#[tokio::test(start_paused = true)]
async fn the_retry_pause_runs_on_tokio_time() {
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .push_all("a", [Outcome::status(503), Outcome::text("from a")]);
    let chain = rig.chain(&["a"], ChainConfig::default().retry_pause(secs(2)));
    let started = tokio::time::Instant::now();
    assert_eq!(generated(&chain, hi()).await.text(), "from a");
    assert_eq!(started.elapsed(), secs(2));
}

#[tokio::test(start_paused = true)]
async fn the_retry_budget_caps_retries_when_everything_fails() {
    let rig = Rig::new(HealthConfig::default().failure_threshold(100));
    rig.fake.set_default_all(Outcome::status(503));
    // Half a retry per call, at least one per window.
    let budget = RetryBudget::new(0.5, 1, secs(10)).unwrap();
    let chain = rig.chain(&["a", "b"], ChainConfig::default().retry_budget(budget));

    for _ in 0..10 {
        let err = generate_error(&chain, hi()).await;
        assert_eq!(err.kind(), ErrorKind::Exhausted);
    }

    // Without a budget: 10 calls × 2 targets × 2 attempts = 40. With it, the
    // retries allowed are max(1, calls / 2): granted at calls 1, 4, 6, 8, 10.
    assert_eq!(rig.fake.total_calls(), 25);
    let events = rig.recorder.events();
    let retries = events
        .iter()
        .filter(|e| e.action == FailoverAction::Retry)
        .count();
    let refused = events.iter().filter(|e| e.retry_budget_exhausted).count();
    assert_eq!(retries, 5);
    assert_eq!(refused, 15);

    // The window slides on the health clock: the old calls expire.
    rig.clock.advance(secs(11));
    rig.recorder.clear();
    generate_error(&chain, hi()).await;
    assert_eq!(
        rig.recorder.steps(),
        [
            "fake/a:1:retry",
            "fake/a:2:advance",
            "fake/b:1:advance",
            "chain:0:give-up"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_observer_cannot_break_the_call() {
    let rig = a_down_b_up();
    let seen = Arc::new(Mutex::new(0));
    let counter = Arc::clone(&seen);
    let observer = move |_: &FailoverEvent| {
        *counter.lock().unwrap() += 1;
        panic!("observer bug");
    };
    let health = rig.health.clone();
    let chain = chain_over(
        &rig.fake,
        &["a", "b"],
        &health,
        ChainConfig::default().observer(observer),
    );

    assert_eq!(generated(&chain, hi()).await.text(), "from b");
    assert_eq!(generated(&chain, hi()).await.text(), "from b");
    assert_eq!(
        *seen.lock().unwrap(),
        3,
        "retry, advance, then skip-benched"
    );
}

// ===== concurrency =====

/// Logs, in order, each call's start and end with the health clock's time, so
/// the test can replay the health rules and compare.
struct Logged {
    inner: Arc<dyn Model>,
    target: Target,
    clock: FakeClock,
    log: Arc<Mutex<Vec<Entry>>>,
}

enum Entry {
    Start(Target, SystemTime),
    End(Target, SystemTime, Option<Error>),
}

#[async_trait]
impl Model for Logged {
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }

    async fn generate(&self, request: Request) -> majordomo::Result<Response> {
        self.log
            .lock()
            .unwrap()
            .push(Entry::Start(self.target.clone(), self.clock.now()));
        let result = self.inner.generate(request).await;
        let error = result.as_ref().err().cloned();
        self.log
            .lock()
            .unwrap()
            .push(Entry::End(self.target.clone(), self.clock.now(), error));
        result
    }
}

/// xorshift64*: a seeded, dependency-free generator for the random script.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

#[tokio::test(start_paused = true)]
async fn a_thousand_concurrent_calls_leave_health_consistent_with_the_outcomes() {
    let health_config = HealthConfig::default()
        .failure_threshold(2)
        .base_cooldown(secs(5))
        .max_cooldown(secs(40));
    let clock = FakeClock::new();
    let health = HealthTracker::new(health_config.clone(), Arc::new(clock.clone()));
    let fake = FakeProvider::new("fake");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let models = ["a", "b", "c"];
    for model in models {
        for _ in 0..2_000 {
            let outcome = match rng.below(20) {
                0..=9 => Outcome::text(format!("from {model}")),
                10..=13 => Outcome::error(Error::overloaded()),
                14 => Outcome::error(Error::rate_limited(Some(secs(1 + rng.below(30))))),
                15 => Outcome::status(500),
                16 => Outcome::error(Error::model_not_found(model)),
                17 => Outcome::error(Error::context_length_exceeded("too long")),
                18 => Outcome::status(401),
                _ => Outcome::error(Error::transport("reset")),
            };
            fake.push(
                model,
                Outcome::delay(Duration::from_millis(rng.below(500)), outcome),
            );
        }
        fake.set_default(model, Outcome::text(format!("from {model}")));
    }
    let log = Arc::new(Mutex::new(Vec::new()));
    let targets = models
        .iter()
        .map(|m| {
            let target = Target::new("fake", m).unwrap();
            let model = Logged {
                inner: fake.model(m).unwrap(),
                target: target.clone(),
                clock: clock.clone(),
                log: Arc::clone(&log),
            };
            ChainTarget::new(target, None, Arc::new(model))
        })
        .collect();
    let events = Arc::new(Mutex::new(0usize));
    let counter = Arc::clone(&events);
    let config =
        ChainConfig::default().observer(move |_: &FailoverEvent| *counter.lock().unwrap() += 1);
    let chain = Chain::new(targets, health.clone(), Arc::new(config));

    // The health clock moves on while the calls run, so benches expire. The
    // test runs under paused tokio time: this sleep is virtual, not real.
    let ticking = clock.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            ticking.advance(secs(1));
        }
    });
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..1_000u64 {
        let chain = chain.clone();
        let start = Duration::from_millis(i % 97 * 10);
        calls.spawn(async move {
            tokio::time::sleep(start).await;
            chain
                .generate(Request::new().user(format!("call {i}")))
                .await
        });
    }
    let results: Vec<_> = calls.join_all().await;
    ticker.abort();

    // Every call ended, and every call made appears once in the step logs.
    assert_eq!(results.len(), 1_000);
    let mut answered = 0;
    let mut made = 0;
    for result in &results {
        let attempts = match result {
            Ok(reply) => {
                answered += 1;
                let last = reply.attempts.last().unwrap();
                assert_eq!(last.outcome, AttemptOutcome::Ok);
                assert_eq!(reply.text(), format!("from {}", last.target.model()));
                &reply.attempts[..]
            }
            Err(err) => {
                assert!(!err.attempts().is_empty());
                err.attempts()
            }
        };
        made += attempts
            .iter()
            .filter(|a| a.outcome != AttemptOutcome::Skipped)
            .count();
    }
    assert!(answered > 500, "most calls find a target: {answered}");
    assert_eq!(made, fake.total_calls());
    assert!(*events.lock().unwrap() > 0);

    // Replay the log through the health rules: no call started while its
    // target was benched, and the tracker ends where the replay does.
    let mut replay: std::collections::HashMap<Target, TargetHealth> = Default::default();
    let log = std::mem::take(&mut *log.lock().unwrap());
    assert_eq!(log.len(), 2 * fake.total_calls());
    for entry in log.iter() {
        match entry {
            Entry::Start(target, now) => {
                let state = replay.entry(target.clone()).or_default();
                assert!(!state.is_benched(*now), "{target} called while benched");
            }
            Entry::End(target, now, error) => {
                let state = replay.entry(target.clone()).or_default();
                match error {
                    None => state.on_success(),
                    Some(e) if e.class() == ErrorClass::Transient => {
                        state.on_failure(*now, &health_config, e.retry_after())
                    }
                    Some(_) => {}
                }
            }
        }
    }
    for model in models {
        let target = Target::new("fake", model).unwrap();
        assert_eq!(
            health.state(&target).await,
            replay.get(&target).copied().unwrap_or_default(),
            "{target}"
        );
    }
}

// ===== through the registry =====

/// A registry on a fake clock with `fake` registered and `recorder` as its observer.
fn registry_with(
    fake: &FakeProvider,
    clock: &FakeClock,
    recorder: &crate::support::chain::Recorder,
) -> majordomo::Registry {
    let recorder = recorder.clone();
    let registry = majordomo::Registry::builder()
        .clock(clock.clone())
        .health_config(two_strikes())
        .env_vars(std::iter::empty::<(String, String)>())
        .without_env()
        .observer(move |event: &FailoverEvent| recorder.push(event))
        .build();
    registry.register_provider(fake.clone());
    registry
}

#[tokio::test(start_paused = true)]
async fn an_alias_element_fails_over_through_its_expanded_targets() {
    let fake = FakeProvider::new("fake");
    let clock = FakeClock::new();
    let recorder = crate::support::chain::Recorder::default();
    let registry = registry_with(&fake, &clock, &recorder);
    registry.register_alias("fast", "fake/a,fake/b").unwrap();
    fake.push_all("a", [Outcome::status(529), Outcome::status(529)])
        .push("b", Outcome::error(Error::model_not_found("b")))
        .set_default("b", Outcome::text("from b"))
        .set_default("c", Outcome::text("from c"));
    let chain = registry.parse("fast, fake/c").unwrap();
    assert_eq!(chain.to_string(), "fake/a,fake/b,fake/c");

    let reply = generated(&chain, hi()).await;
    assert_eq!(reply.text(), "from c");
    assert_eq!(
        outcomes(&reply.attempts),
        [
            "fake/a:transient",
            "fake/a:transient",
            "fake/b:model-not-found",
            "fake/c:ok"
        ]
    );
    assert_eq!(
        recorder.steps(),
        ["fake/a:1:retry", "fake/a:2:advance", "fake/b:1:advance"]
    );

    // The registry's tracker benched a; the next call skips it and b answers.
    recorder.clear();
    let reply = generated(&chain, hi()).await;
    assert_eq!(reply.text(), "from b");
    assert_eq!(recorder.steps(), ["fake/a:0:skip-benched"]);
    assert!(
        registry
            .health()
            .is_benched(&Target::new("fake", "a").unwrap())
            .await
    );

    // Every chain of the registry shares that health: a second spec naming
    // a skips it too.
    recorder.clear();
    let other = registry.parse("fake/a,fake/c").unwrap();
    assert_eq!(generated(&other, hi()).await.text(), "from c");
    assert_eq!(recorder.steps(), ["fake/a:0:skip-benched"]);

    // After the cooldown, a is admitted again.
    clock.advance(secs(30));
    fake.set_default("a", Outcome::text("from a"));
    assert_eq!(generated(&chain, hi()).await.text(), "from a");
}

#[tokio::test(start_paused = true)]
async fn an_alias_suffix_sets_the_reasoning_of_each_expanded_target() {
    let fake = FakeProvider::new("fake");
    let clock = FakeClock::new();
    let recorder = crate::support::chain::Recorder::default();
    let registry = registry_with(&fake, &clock, &recorder);
    registry
        .register_alias("deep", "fake/a,fake/b#low")
        .unwrap();
    fake.push(
        "a",
        Outcome::error(Error::context_length_exceeded("too long")),
    )
    .set_default("b", Outcome::text("from b"));
    let chain = registry.parse("deep#high").unwrap();

    assert_eq!(generated(&chain, hi()).await.text(), "from b");
    let sent_a = fake.last_request("a").unwrap().reasoning_level();
    let sent_b = fake.last_request("b").unwrap().reasoning_level();
    assert_eq!(
        (sent_a, sent_b),
        (Some(ReasoningLevel::High), Some(ReasoningLevel::Low))
    );
    assert_eq!(recorder.steps(), ["fake/a:1:advance"]);
}

#[tokio::test(start_paused = true)]
async fn the_design_sketch_runs_with_the_retry_scripted_too() {
    // design.md's sketch pushes one error for a; the retry would then find no
    // script and the fake answers that with a permanent error, which stops
    // the chain. Scripting the retry's failure gives the sketch's outcome.
    let clock = FakeClock::new();
    let fake = FakeProvider::new("fake");
    fake.push("a", Outcome::error(Error::overloaded()));
    fake.push("a", Outcome::error(Error::overloaded()));
    fake.push("b", Outcome::text("hi from b"));
    let registry = majordomo::Registry::builder()
        .clock(clock.clone())
        .without_env()
        .env_vars(std::iter::empty::<(String, String)>())
        .build();
    registry.register_provider(fake.clone());
    let chain = registry.parse("fake/a,fake/b").unwrap();
    assert_eq!(
        generated(&chain, Request::new().user("hi")).await.text(),
        "hi from b"
    );
    assert_eq!(fake.calls("a"), 2, "one retry, then failover");
}

// ===== tracing =====

#[tokio::test(start_paused = true)]
async fn calls_and_attempts_get_gen_ai_spans() {
    let spans = crate::support::chain::SpanLog::default();
    let _guard = spans.install();
    let rig = Rig::new(HealthConfig::default());
    rig.fake
        .push("a", Outcome::status(503))
        .push("a", Outcome::text("from a"));
    let chain = rig.chain(&["a"], ChainConfig::default());

    generated(&chain, hi()).await;

    let calls = spans.named("gen_ai.chain");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["gen_ai.operation.name"], "chat");
    assert_eq!(calls[0]["majordomo.chain"], "fake/a");
    let attempts = spans.named("gen_ai.attempt");
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["gen_ai.provider.name"], "fake");
    assert_eq!(attempts[0]["gen_ai.request.model"], "a");
    assert_eq!(attempts[0]["error.type"], "transient");
    assert!(!attempts[1].contains_key("error.type"));
}
