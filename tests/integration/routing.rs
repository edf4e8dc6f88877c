//! Integration tests: routing beyond ordered failover (issue 17, ADR 0018):
//! groups in the spec grammar, member selection, affinity, hedging, the
//! all-benched policy and context-window skips. Fake provider, fake health
//! clock, paused tokio time: no sleeps, no network.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt as _;
use majordomo::health::{FakeClock, HealthConfig};
use majordomo::providers::fake::{FakeProvider, Outcome, StreamStep};
use majordomo::{
    AllBenched, AttemptOutcome, Balancer, Capabilities, Chain, ChainConfig, ErrorClass, ErrorKind,
    Model, Registry, Request, Response, RetryBudget, RoutingStrategy, SpecError, SpecErrorKind,
    StreamEvent, Target,
};

use crate::support::call::{generate_error, generated};
use crate::support::chain::Recorder;
use crate::support::registry::{fake_registry, test_registry, with_aliases};

// ===== grammar =====

/// The aliases of the grammar tests: name, spec.
const ALIASES: [(&str, &str); 6] = [
    ("pool", "openai/gpt-4o|fake/gpt-4o"),
    ("single", "anthropic/claude-sonnet-4-5#high"),
    ("weighted", "openai/w*4"),
    ("twice", "pool"),
    ("chain2", "openai/a,openai/b"),
    ("grp-chain", "openai/c|chain2"),
];

fn grammar_registry() -> Registry {
    with_aliases(&ALIASES)
}

fn spec_error(registry: &Registry, spec: &str) -> (SpecErrorKind, usize, String) {
    let err = registry.parse(spec).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Spec, "{spec}: {err}");
    let spec_err = err.source_as::<SpecError>().unwrap();
    (
        spec_err.kind(),
        spec_err.position(),
        spec_err.message().to_owned(),
    )
}

#[test]
fn groups_weights_levels_and_aliases_in_groups_parse_and_round_trip() {
    let registry = grammar_registry();
    let cases = [
        (
            "openai/gpt-4o|fake/gpt-4o,anthropic/claude-sonnet-4-5",
            "openai/gpt-4o|fake/gpt-4o,anthropic/claude-sonnet-4-5",
        ),
        // Weights and levels per member; `*1` is the default and not shown.
        (
            " openai/gpt-4o*3#high | fake/gpt-4o*1 ",
            "openai/gpt-4o*3#high|fake/gpt-4o",
        ),
        // Bare model families inside a group.
        (
            "gpt-4o|claude-haiku-4-5",
            "openai/gpt-4o|anthropic/claude-haiku-4-5",
        ),
        // An alias naming a single target, and one naming a group (spliced).
        (
            "single|pool",
            "anthropic/claude-sonnet-4-5#high|openai/gpt-4o|fake/gpt-4o",
        ),
        ("twice,openai/x", "openai/gpt-4o|fake/gpt-4o,openai/x"),
        // A weight at the use site wins over the alias's own; a level on
        // the alias applies to members without one.
        ("weighted*2|openai/v", "openai/w*2|openai/v"),
        ("weighted|openai/v", "openai/w*4|openai/v"),
        ("pool#low", "openai/gpt-4o#low|fake/gpt-4o#low"),
        // Duplicates go, inside a group and across the chain.
        (
            "openai/a|openai/a|openai/b,openai/b,openai/c",
            "openai/a|openai/b,openai/c",
        ),
        // A group whose members were all seen earlier disappears.
        ("openai/a,openai/a|openai/a", "openai/a"),
    ];
    for (spec, want) in cases {
        let chain = registry
            .parse(spec)
            .unwrap_or_else(|e| panic!("{spec}: {e}"));
        assert_eq!(chain.to_string(), want, "{spec}");
        let again = registry.parse(&chain.to_string()).unwrap();
        assert_eq!(again.to_string(), want, "round trip of {spec}");
    }
    let chain = registry
        .parse("openai/gpt-4o*3|fake/gpt-4o,claude-sonnet-4-5")
        .unwrap();
    let elements: Vec<Vec<String>> = chain
        .elements()
        .map(|members| members.iter().map(ToString::to_string).collect())
        .collect();
    assert_eq!(
        elements,
        [
            vec!["openai/gpt-4o*3", "fake/gpt-4o"],
            vec!["anthropic/claude-sonnet-4-5"]
        ]
    );
    assert_eq!(chain.targets()[0].weight, 3);
    // The flat view lists every member.
    assert_eq!(
        registry.parse_targets("pool,openai/x").unwrap().len(),
        3,
        "parse_targets flattens groups"
    );
}

#[test]
fn group_mistakes_are_errors_with_positions() {
    let registry = grammar_registry();
    let cases: &[(&str, SpecErrorKind, usize, &str)] = &[
        (
            "openai/a||openai/b",
            SpecErrorKind::EmptyMember,
            9,
            "empty group member",
        ),
        (
            "openai/a|",
            SpecErrorKind::EmptyMember,
            9,
            "empty group member",
        ),
        (
            "x, |openai/a",
            SpecErrorKind::EmptyMember,
            3,
            "empty group member",
        ),
        ("openai/a*0|openai/b", SpecErrorKind::BadWeight, 9, "\"0\""),
        ("openai/a*x", SpecErrorKind::BadWeight, 9, "\"x\""),
        (
            "openai/a|openai/b*1001",
            SpecErrorKind::BadWeight,
            18,
            "1 to 1000",
        ),
        (
            "openai/a|openai/b#high*2",
            SpecErrorKind::BadReasoning,
            18,
            "high*2",
        ),
        (
            "openai/a|chain2",
            SpecErrorKind::ChainAliasInGroup,
            9,
            "\"chain2\"",
        ),
        (
            "openai/a|pool*2",
            SpecErrorKind::GroupInGroup,
            9,
            "\"pool\"",
        ),
        // Inside an alias's body, the position is the element naming it.
        (
            "openai/z, grp-chain",
            SpecErrorKind::ChainAliasInGroup,
            10,
            "\"chain2\"",
        ),
        ("openai/a|nope", SpecErrorKind::UnknownName, 0, "\"nope\""),
    ];
    for &(spec, kind, position, fragment) in cases {
        let (got_kind, got_position, message) = spec_error(&registry, spec);
        assert_eq!(
            (got_kind, got_position),
            (kind, position),
            "{spec}: {message}"
        );
        assert!(message.contains(fragment), "{spec}: {message}");
    }
    // Alias names cannot hold the new operators.
    assert!(registry.register_alias("a|b", "openai/x").is_err());
    assert!(registry.register_alias("a*2", "openai/x").is_err());
}

#[test]
fn pure_parse_exposes_members() {
    let elements = majordomo::spec::parse("pool*2|openai/x#low, fast").unwrap();
    assert!(elements[0].is_group());
    assert!(!elements[1].is_group());
    let members = elements[0].members();
    assert_eq!(members[0].weight(), Some(2));
    assert_eq!(members[1].position(), 7);
    assert_eq!(members[1].reasoning(), Some(majordomo::ReasoningLevel::Low));
    assert_eq!(elements[0].to_string(), "pool*2|openai/x#low");
}

// ===== selection =====

/// A registry over the fake provider `fake` with a fake clock, two-strike
/// benching for 30 s, and `config` (seeded, so picks repeat run to run).
struct Routed {
    registry: Registry,
    fake: FakeProvider,
    clock: FakeClock,
    recorder: Recorder,
}

impl Routed {
    fn new(config: ChainConfig) -> Self {
        let clock = FakeClock::new();
        let recorder = Recorder::default();
        let health = HealthConfig::default()
            .failure_threshold(2)
            .base_cooldown(Duration::from_secs(30));
        let chain = recorder.install(config.routing_seed(17));
        let (registry, fake) = fake_registry(&clock, health, chain);
        Routed {
            registry,
            fake,
            clock,
            recorder,
        }
    }

    /// A rig whose every model answers "ok".
    fn answering_ok(config: ChainConfig) -> Self {
        let rig = Routed::new(config);
        rig.fake.set_default_all(Outcome::text("ok"));
        rig
    }

    /// A rig whose models answer "ok" after their delays in milliseconds.
    fn answering_after(delays: &[(&str, u64)]) -> Self {
        let rig = Routed::new(ChainConfig::default());
        for &(model, ms) in delays {
            rig.fake.set_default(model, ok_after(ms));
        }
        rig
    }

    fn chain(&self, spec: &str) -> Chain {
        self.registry.parse(spec).unwrap()
    }

    async fn bench(&self, model: &str) {
        let target = Target::new("fake", model).unwrap();
        for _ in 0..2 {
            self.registry.health().record_failure(&target, None).await;
        }
        assert!(self.registry.health().is_benched(&target).await);
    }

    /// Calls per model, for `models`.
    fn calls(&self, models: &[&str]) -> Vec<usize> {
        models.iter().map(|m| self.fake.calls(m)).collect()
    }
}

fn hi() -> Request {
    Request::new().user("hi")
}

/// Which model answered each of `n` calls.
async fn answers(chain: &Chain, n: usize, request: impl Fn(usize) -> Request) -> Vec<String> {
    let mut models = Vec::with_capacity(n);
    for i in 0..n {
        models.push(generated(chain, request(i)).await.model);
    }
    models
}

/// What the first attempt of `reply` failed with, or "".
fn first_error(reply: &Response) -> &str {
    reply.attempts[0].error.as_deref().unwrap_or_default()
}

fn count(models: &[String]) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for m in models {
        *counts.entry(m.as_str()).or_default() += 1;
    }
    counts
}

#[test]
fn weights_are_honoured_over_ten_thousand_picks() {
    for strategy in [
        RoutingStrategy::PeakEwma,
        RoutingStrategy::WeightedRandom,
        RoutingStrategy::RoundRobin,
        RoutingStrategy::LeastInFlight,
    ] {
        let balancer = Balancer::new(&[("p/a", 3), ("p/b", 1), ("p/c", 1)], strategy, Some(5));
        let mut counts = [0usize; 3];
        for _ in 0..10_000 {
            counts[balancer.pick(0b111, None).unwrap()] += 1;
        }
        // 60 % / 20 % / 20 %, within 2 points.
        for (count, within) in counts
            .iter()
            .zip([5_800..=6_200, 1_800..=2_200, 1_800..=2_200])
        {
            assert!(within.contains(count), "{strategy}: {counts:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_chain_group_spreads_calls_by_weight() {
    let rig = Routed::answering_ok(ChainConfig::default());
    let chain = rig.chain("fake/a*3|fake/b");
    let models = answers(&chain, 10_000, |_| hi()).await;
    let counts = count(&models);
    assert!((7_300..=7_700).contains(&counts["a"]), "{counts:?}");
    assert_eq!(counts["a"] + counts["b"], 10_000);
}

/// Answers "ok" after `ms` milliseconds.
fn ok_after(ms: u64) -> Outcome {
    Outcome::delay(Duration::from_millis(ms), Outcome::text("ok"))
}

#[tokio::test(start_paused = true)]
async fn a_slow_member_gets_a_minority_after_warm_up() {
    let rig = Routed::answering_after(&[("slow", 400), ("fast1", 20), ("fast2", 25)]);
    let chain = rig.chain("fake/slow|fake/fast1|fake/fast2");
    // Warm-up: every member answers at least once.
    answers(&chain, 20, |_| hi()).await;
    let before = rig.calls(&["slow", "fast1", "fast2"]);
    assert!(before.iter().all(|&n| n > 0), "{before:?}");
    let models = answers(&chain, 1_000, |_| hi()).await;
    let counts = count(&models);
    let slow = counts.get("slow").copied().unwrap_or(0);
    assert!(slow < 50, "slow member got {slow} of 1000: {counts:?}");
    // The two equally fast members share the rest roughly evenly.
    assert!(counts["fast1"] > 300 && counts["fast2"] > 300, "{counts:?}");
}

#[tokio::test(start_paused = true)]
async fn one_slow_answer_does_not_pin_a_member_for_long() {
    // a's first answer is unlucky (2 s); every other answer takes 20 ms.
    let rig = Routed::answering_after(&[("a", 20), ("b", 20)]);
    rig.fake.push("a", ok_after(2_000));
    let chain = rig.chain("fake/a|fake/b");
    answers(&chain, 2, |_| hi()).await;
    // Right after, b takes (nearly) everything...
    let soon = answers(&chain, 200, |_| hi()).await;
    let soon = count(&soon);
    assert!(soon.get("a").copied().unwrap_or(0) <= 2, "{soon:?}");
    // ...but a's score decays with time, so it is tried again and, being as
    // fast as b, gets its share back.
    answers(&chain, 3_000, |_| hi()).await;
    let later = answers(&chain, 500, |_| hi()).await;
    let later = count(&later);
    assert!(later["a"] > 150 && later["b"] > 150, "{later:?}");
}

#[tokio::test(start_paused = true)]
async fn calls_in_flight_spread_concurrent_calls() {
    let rig = Routed::new(ChainConfig::default());
    let later = || Outcome::delay(Duration::from_millis(100), Outcome::text("ok"));
    rig.fake.set_default("a", later()).set_default("b", later());
    let chain = rig.chain("fake/a|fake/b");
    // Warm-up: both answered once, equally fast.
    answers(&chain, 2, |_| hi()).await;
    assert_eq!(rig.calls(&["a", "b"]), [1, 1]);
    // Four calls at once: the in-flight count sends two to each.
    let replies = futures::future::join_all((0..4).map(|_| chain.generate(hi()))).await;
    let models: Vec<String> = replies.into_iter().map(|r| r.unwrap().model).collect();
    let counts = count(&models);
    assert_eq!((counts["a"], counts["b"]), (2, 2), "{counts:?}");
}

#[tokio::test(start_paused = true)]
async fn a_benched_member_gets_no_calls() {
    for strategy in [
        RoutingStrategy::PeakEwma,
        RoutingStrategy::WeightedRandom,
        RoutingStrategy::RoundRobin,
        RoutingStrategy::LeastInFlight,
    ] {
        let rig = Routed::answering_ok(ChainConfig::default().routing(strategy));
        rig.bench("b").await;
        let chain = rig.chain("fake/a|fake/b|fake/c");
        let models = answers(&chain, 500, |_| hi()).await;
        assert_eq!(rig.fake.calls("b"), 0, "{strategy}");
        let counts = count(&models);
        assert!(
            counts["a"] > 150 && counts["c"] > 150,
            "{strategy}: {counts:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_member_failure_fails_over_inside_the_group_before_the_chain_advances() {
    let rig = Routed::new(ChainConfig::default().transient_retries(0));
    rig.fake
        .set_default("a", Outcome::error(majordomo::Error::overloaded()))
        .set_default("b", Outcome::error(majordomo::Error::overloaded()))
        .set_default("c", Outcome::text("from c"))
        .set_default("d", Outcome::text("from d"));
    let chain = rig.chain("fake/a|fake/b|fake/c,fake/d");
    // Whichever member a call picks first, it ends at c, never at d; a and
    // b are benched after their second failure and skipped from then on.
    for _ in 0..10 {
        let reply = generated(&chain, hi()).await;
        assert_eq!(reply.text(), "from c");
        let last = reply.attempts.last().unwrap();
        assert_eq!(
            (last.target.model(), last.outcome),
            ("c", AttemptOutcome::Ok)
        );
    }
    assert_eq!(rig.fake.calls("d"), 0);
    assert_eq!(rig.calls(&["a", "b"]), [2, 2]);

    // When every member fails, the chain moves on.
    rig.fake
        .set_default("c", Outcome::error(majordomo::Error::overloaded()));
    let reply = generated(&chain, hi()).await;
    assert_eq!(reply.text(), "from d");
    // A permanent error still ends the call at once.
    rig.fake.set_default("a", Outcome::status(400));
    rig.fake.set_default("b", Outcome::status(400));
    rig.fake.set_default("c", Outcome::status(400));
    let before = rig.fake.calls("d");
    let err = generate_error(&chain, hi()).await;
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(rig.fake.calls("d"), before);
}

// ===== affinity =====

#[tokio::test(start_paused = true)]
async fn one_key_sticks_to_one_member() {
    let rig = Routed::answering_ok(ChainConfig::default());
    let chain = rig.chain("fake/a|fake/b|fake/c|fake/d");
    let models = answers(&chain, 1_000, |_| hi().affinity("conversation-1")).await;
    let counts = count(&models);
    assert_eq!(counts.len(), 1, "{counts:?}");
}

#[tokio::test(start_paused = true)]
async fn many_keys_spread_across_members() {
    let rig = Routed::answering_ok(ChainConfig::default());
    let chain = rig.chain("fake/a|fake/b|fake/c|fake/d");
    let models = answers(&chain, 1_000, |i| hi().affinity(format!("user-{i}"))).await;
    let counts = count(&models);
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert!(
        counts.values().all(|&n| (170..=330).contains(&n)),
        "{counts:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_key_moves_when_its_member_is_benched_and_returns_on_recovery() {
    let rig = Routed::answering_ok(ChainConfig::default());
    let chain = rig.chain("fake/a|fake/b|fake/c|fake/d");
    let key = || hi().affinity("conversation-7");
    let home = generated(&chain, key()).await.model;
    rig.bench(&home).await;
    let away = generated(&chain, key()).await.model;
    assert_ne!(away, home);
    // Stays on the same stand-in while benched.
    assert_eq!(generated(&chain, key()).await.model, away);
    rig.clock.advance(Duration::from_secs(31));
    assert_eq!(generated(&chain, key()).await.model, home);
    assert_eq!(generated(&chain, key()).await.model, home);
}

// ===== hedging =====

fn budget(ratio: f64, min: u32) -> RetryBudget {
    RetryBudget::new(ratio, min, Duration::from_secs(10)).unwrap()
}

/// Hedging after 100 ms within `budget`; `slow` answers in 1 s, `fast` at once.
fn slow_and_fast(budget: RetryBudget) -> Routed {
    let rig = Routed::new(ChainConfig::default().hedge(Duration::from_millis(100), budget));
    rig.fake
        .set_default(
            "slow",
            Outcome::delay(Duration::from_secs(1), Outcome::text("slow")),
        )
        .set_default("fast", Outcome::text("fast"));
    rig
}

#[tokio::test(start_paused = true)]
async fn a_hedge_wins_the_race_and_the_loser_is_cancelled_unpenalised() {
    let rig = Routed::new(ChainConfig::default().hedge(Duration::from_millis(100), budget(1.0, 1)));
    rig.fake
        .set_default(
            "slow",
            Outcome::delay(Duration::from_secs(10), Outcome::text("slow")),
        )
        .set_default(
            "fast",
            Outcome::delay(Duration::from_millis(50), Outcome::text("fast")),
        );
    let chain = rig.chain("fake/slow,fake/fast");
    let started = tokio::time::Instant::now();
    let reply = generated(&chain, hi()).await;
    assert_eq!(reply.text(), "fast");
    assert_eq!(started.elapsed(), Duration::from_millis(150));
    assert_eq!(rig.fake.cancelled("slow"), 1);
    assert_eq!(rig.fake.cancelled("fast"), 0);
    let slow = Target::new("fake", "slow").unwrap();
    assert!(rig.registry.health().state(&slow).await.is_clean());
    let outcomes: Vec<(String, AttemptOutcome)> = reply
        .attempts
        .iter()
        .map(|a| (a.target.to_string(), a.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("fake/slow".to_owned(), AttemptOutcome::Skipped),
            ("fake/fast".to_owned(), AttemptOutcome::Ok)
        ]
    );
    assert!(first_error(&reply).contains("cancelled"));
    assert!(
        rig.recorder
            .steps()
            .contains(&"fake/fast:1:hedge".to_owned())
    );

    // Inside a group the hedge is another member; a primary that answers
    // first cancels the hedge.
    rig.fake.set_default(
        "g1",
        Outcome::delay(Duration::from_millis(300), Outcome::text("g1")),
    );
    rig.fake.set_default(
        "g2",
        Outcome::delay(Duration::from_secs(5), Outcome::text("g2")),
    );
    let group = rig.chain("fake/g1|fake/g2");
    let mut texts = Vec::new();
    for _ in 0..4 {
        texts.push(generated(&group, hi()).await.text());
    }
    assert!(texts.iter().all(|t| t == "g1"), "{texts:?}");
    assert!(rig.fake.cancelled("g2") >= 1);
    let g2 = Target::new("fake", "g2").unwrap();
    assert!(rig.registry.health().state(&g2).await.is_clean());
}

#[tokio::test(start_paused = true)]
async fn the_hedge_budget_caps_hedges_under_a_slow_provider() {
    let rig = slow_and_fast(budget(0.1, 0));
    let chain = rig.chain("fake/slow,fake/fast");
    let models = answers(&chain, 100, |_| hi()).await;
    let hedged = count(&models).get("fast").copied().unwrap_or(0);
    // 10 % of 100 calls (the fake clock stands still, so all share one window).
    assert_eq!(hedged, 10, "{:?}", count(&models));
    assert_eq!(rig.fake.calls("fast"), 10);
}

#[tokio::test(start_paused = true)]
async fn a_slow_call_with_nothing_to_hedge_with_leaves_the_budget_alone() {
    // A budget of exactly one hedge, shared by every chain of the registry.
    let rig = slow_and_fast(budget(0.0, 1));
    let alone = rig.chain("fake/slow");
    assert_eq!(generated(&alone, hi()).await.text(), "slow");
    let pair = rig.chain("fake/slow,fake/fast");
    assert_eq!(generated(&pair, hi()).await.text(), "fast");
    // Now the budget is spent.
    assert_eq!(generated(&pair, hi()).await.text(), "slow");
}

#[tokio::test(start_paused = true)]
async fn a_stream_never_hedges_after_its_first_event() {
    let rig = Routed::new(ChainConfig::default().hedge(Duration::from_millis(100), budget(1.0, 5)));
    rig.fake
        .set_default(
            "slow",
            Outcome::stream_steps([
                StreamStep::Event(StreamEvent::text("first ")),
                StreamStep::Delay(Duration::from_secs(5)),
                StreamStep::Event(StreamEvent::text("second")),
                StreamStep::Event(StreamEvent::finish(majordomo::FinishReason::Stop)),
            ]),
        )
        .set_default("fast", Outcome::text("fast"));
    let chain = rig.chain("fake/slow,fake/fast");
    let stream = chain.stream(hi()).await.unwrap();
    let text = stream.into_response().await.unwrap().text();
    assert_eq!(text, "first second");
    assert_eq!(rig.fake.calls("fast"), 0);

    // Before its first event a stream does hedge.
    rig.fake.set_default(
        "slow",
        Outcome::stream_steps([
            StreamStep::Delay(Duration::from_secs(5)),
            StreamStep::Event(StreamEvent::text("late")),
        ]),
    );
    let mut stream = chain.stream(hi()).await.unwrap();
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        if let StreamEvent::TextDelta { text: delta } = event.unwrap() {
            text.push_str(&delta);
        }
    }
    assert_eq!(text, "fast");
    assert_eq!(rig.fake.cancelled("slow"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_percentile_delay_hedges_at_the_targets_observed_latency() {
    let rig = Routed::new(ChainConfig::default().hedge(
        majordomo::HedgeDelay::percentile(0.9, Duration::from_secs(30)),
        budget(1.0, 1),
    ));
    let after = |ms| Outcome::delay(Duration::from_millis(ms), Outcome::text("p"));
    // 16 answers between 100 and 175 ms: the p90 is 170 ms.
    rig.fake.push_all("p", (0..16).map(|i| after(100 + 5 * i)));
    rig.fake
        .set_default("p", after(10_000))
        .set_default("q", Outcome::text("q"));
    let chain = rig.chain("fake/p,fake/q");
    // Before 16 samples the fallback (30 s) applies: no hedge.
    let models = answers(&chain, 16, |_| hi()).await;
    assert!(models.iter().all(|m| m == "p"), "{models:?}");
    let started = tokio::time::Instant::now();
    let reply = generated(&chain, hi()).await;
    assert_eq!(reply.model, "q");
    assert_eq!(started.elapsed(), Duration::from_millis(170));
}

// ===== every target benched =====

#[tokio::test(start_paused = true)]
async fn all_benched_fails_by_default_and_probes_the_soonest_when_asked() {
    let rig = Routed::answering_ok(ChainConfig::default());
    rig.bench("a").await;
    rig.clock.advance(Duration::from_secs(10));
    rig.bench("b").await; // benched 10 s after a, so a comes back first
    let chain = rig.chain("fake/b,fake/a");
    let err = generate_error(&chain, hi()).await;
    assert_eq!(err.kind(), ErrorKind::Exhausted);
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(20)));
    assert_eq!(rig.fake.total_calls(), 0);

    let probing =
        Routed::answering_ok(ChainConfig::default().all_benched(AllBenched::ProbeSoonest));
    probing.bench("a").await;
    probing.clock.advance(Duration::from_secs(10));
    probing.bench("b").await;
    let chain = probing.chain("fake/b,fake/a");
    let reply = generated(&chain, hi()).await;
    assert_eq!(reply.model, "a");
    assert_eq!(probing.fake.calls("b"), 0);
    let steps: Vec<AttemptOutcome> = reply.attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(
        steps,
        [
            AttemptOutcome::Skipped,
            AttemptOutcome::Skipped,
            AttemptOutcome::Ok
        ]
    );
}

// ===== context window =====

#[tokio::test(start_paused = true)]
async fn a_target_whose_context_window_is_too_small_is_skipped_without_penalty() {
    let rig = Routed::new(ChainConfig::default());
    rig.fake
        .set_capabilities("small", Capabilities::unknown().context_window(500))
        .set_default_all(Outcome::text("ok"));
    let chain = rig.chain("fake/small,fake/big");
    // About 1,000 tokens by the documented estimate: 4,000 bytes / 4.
    let long = Request::new().user("x".repeat(4_000));
    assert_eq!(majordomo::estimate_input_tokens(&long), 1_000);
    let reply = generated(&chain, long).await;
    assert_eq!(reply.model, "big");
    assert_eq!(rig.fake.calls("small"), 0);
    assert!(first_error(&reply).contains("context window"));
    assert!(
        rig.recorder
            .steps()
            .contains(&"fake/small:0:skip-capability".to_owned())
    );
    // A short request goes to the first target.
    assert_eq!(generated(&chain, hi()).await.model, "small");

    // Alone, the skip is a request-specific error.
    let alone = rig.chain("fake/small");
    let err = generate_error(&alone, Request::new().user("x".repeat(4_000))).await;
    assert_eq!(err.class(), ErrorClass::RequestSpecific);
    assert!(
        rig.registry
            .health()
            .state(&Target::new("fake", "small").unwrap())
            .await
            .is_clean()
    );
}

#[test]
fn the_token_estimate_counts_text_images_tools_and_the_output_cap() {
    let tool = majordomo::Tool::new(
        "get_weather",
        "Weather",
        serde_json::json!({"type": "object"}),
    );
    let request = Request::new()
        .system("s".repeat(400))
        .user_with_image(
            "u".repeat(400),
            majordomo::Image::url("https://example.com/a.png"),
        )
        .tools([tool])
        .max_tokens(100);
    // (400 + 400 + 11 + 7 + 17) / 4 = 208, + 1,500 for the image, + 100 of output.
    assert_eq!(
        majordomo::estimate_input_tokens(&request),
        208 + majordomo::IMAGE_TOKEN_ESTIMATE + 100
    );
}

// ===== round trip, generated =====

fn member() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    (
        prop::sample::select(vec![
            "openai/a",
            "openai/b",
            "fake/c:1",
            "openrouter/x/y",
            "gpt-4o",
        ]),
        prop::option::of(1u32..=5),
        prop::option::of(prop::sample::select(vec!["low", "high", "2048"])),
    )
        .prop_map(|(target, weight, level)| {
            let mut member = target.to_owned();
            if let Some(weight) = weight {
                member.push_str(&format!("*{weight}"));
            }
            if let Some(level) = level {
                member.push_str(&format!("#{level}"));
            }
            member
        })
}

proptest::proptest! {
    #[test]
    fn grouped_specs_round_trip(
        elements in proptest::collection::vec(proptest::collection::vec(member(), 1..4), 1..4)
    ) {
        let registry = test_registry();
        let spec = elements
            .iter()
            .map(|members| members.join(" | "))
            .collect::<Vec<_>>()
            .join(" , ");
        let chain = registry.parse(&spec).unwrap();
        let canonical = chain.to_string();
        let again = registry.parse(&canonical).unwrap();
        proptest::prop_assert_eq!(again.to_string(), canonical.clone());
        let shape = |c: &Chain| {
            c.elements()
                .map(|m| m.iter().map(|t| (t.target.clone(), t.weight, t.reasoning)).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        proptest::prop_assert_eq!(shape(&again), shape(&chain));
        proptest::prop_assert!(!canonical.contains(' '));
    }
}
