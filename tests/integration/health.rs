//! Integration tests: the health tracker, all on the fake clock.

use std::sync::Arc;
use std::time::Duration;

use majordomo::Target;
use majordomo::health::{Clock, FakeClock, HealthConfig, HealthTracker};

use crate::support::doubling_backoff;

fn tracker(config: HealthConfig) -> (HealthTracker, FakeClock) {
    let clock = FakeClock::new();
    (HealthTracker::new(config, Arc::new(clock.clone())), clock)
}

fn t(s: &str) -> Target {
    s.parse().unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A tracker benching after `threshold` failures for `cooldown` seconds, and
/// `p/a` benched on it (`threshold` failures in a row).
async fn benched(threshold: u32, cooldown: u64) -> (HealthTracker, FakeClock, Target) {
    let config = HealthConfig::default()
        .failure_threshold(threshold)
        .base_cooldown(secs(cooldown));
    let (health, clock) = tracker(config);
    let a = t("p/a");
    for _ in 0..threshold {
        health.record_failure(&a, None).await;
    }
    (health, clock, a)
}

#[tokio::test]
async fn benches_only_when_the_threshold_is_reached() {
    let (health, clock) = tracker(HealthConfig::default().failure_threshold(3));
    let a = t("p/a");
    health.record_failure(&a, None).await;
    health.record_failure(&a, None).await;
    assert!(
        !health.is_benched(&a).await,
        "two failures are below a threshold of three"
    );
    let state = health.record_failure(&a, None).await;
    assert_eq!(state.consecutive_failures, 3);
    assert_eq!(state.bench_rounds, 1);
    assert_eq!(health.admitted_at(&a).await, Some(clock.now() + secs(30)));
}

#[tokio::test]
async fn cooldown_doubles_each_round_and_stops_at_the_cap() {
    let config = doubling_backoff(1, secs(60));
    let (health, clock) = tracker(config);
    let a = t("p/a");
    let mut seen = Vec::new();
    for _ in 0..6 {
        health.record_failure(&a, None).await;
        let until = health.admitted_at(&a).await.expect("benched");
        let cooldown = until.duration_since(clock.now()).unwrap();
        seen.push(cooldown.as_secs());
        clock.advance(cooldown);
        assert!(
            !health.is_benched(&a).await,
            "admitted again once the cooldown ends"
        );
    }
    assert_eq!(seen, vec![10, 20, 40, 60, 60, 60]);
}

#[tokio::test]
async fn success_resets_failures_and_rounds() {
    let (health, clock, a) = benched(2, 10).await;
    clock.advance(secs(10));
    health.record_failure(&a, None).await; // round 2: 20 s
    clock.advance(secs(20));
    health.record_success(&a).await;
    let state = health.state(&a).await;
    assert_eq!(state.consecutive_failures, 0);
    assert_eq!(state.bench_rounds, 0);
    // After the reset it takes the full threshold again, and the cooldown is back to base.
    health.record_failure(&a, None).await;
    assert!(!health.is_benched(&a).await);
    health.record_failure(&a, None).await;
    assert_eq!(health.admitted_at(&a).await, Some(clock.now() + secs(10)));
}

#[tokio::test]
async fn expiry_readmits_but_the_next_failure_rebenches_at_once_with_a_longer_cooldown() {
    let (health, clock, a) = benched(3, 30).await;
    clock.advance(secs(30));
    assert!(!health.is_benched(&a).await, "expiry re-admits");
    assert_eq!(
        health.state(&a).await.consecutive_failures,
        3,
        "expiry keeps the count"
    );
    health.record_failure(&a, None).await;
    assert_eq!(
        health.admitted_at(&a).await,
        Some(clock.now() + secs(60)),
        "one failure after expiry re-benches with the next round's cooldown"
    );
}

#[tokio::test]
async fn retry_after_benches_for_at_least_that_long_even_below_the_threshold() {
    let (health, clock) = tracker(HealthConfig::default().failure_threshold(3));
    let a = t("p/a");
    health.record_failure(&a, Some(secs(20))).await;
    assert_eq!(health.admitted_at(&a).await, Some(clock.now() + secs(20)));
    clock.advance(secs(19));
    assert!(health.is_benched(&a).await);
    clock.advance(secs(1));
    assert!(!health.is_benched(&a).await);
}

#[tokio::test]
async fn retry_after_longer_than_the_cooldown_wins_and_a_shorter_one_never_shortens() {
    let (health, clock) = tracker(
        HealthConfig::default()
            .failure_threshold(1)
            .base_cooldown(secs(30)),
    );
    let a = t("p/a");
    health.record_failure(&a, Some(secs(90))).await;
    let until = clock.now() + secs(90);
    assert_eq!(health.admitted_at(&a).await, Some(until));
    // An in-flight call failing with a short hint does not shorten the bench.
    health.record_failure(&a, Some(secs(5))).await;
    assert_eq!(health.admitted_at(&a).await, Some(until));
}

#[tokio::test]
async fn targets_are_independent() {
    let (health, _clock) = tracker(HealthConfig::default().failure_threshold(1));
    let a = t("p/a");
    let b = t("p/b");
    let other_provider = t("q/a");
    health.record_failure(&a, None).await;
    assert!(health.is_benched(&a).await);
    assert!(!health.is_benched(&b).await);
    assert!(!health.is_benched(&other_provider).await);
    health.record_success(&b).await;
    assert!(
        health.is_benched(&a).await,
        "another target's success changes nothing"
    );
    let snapshot = health.snapshot().await;
    assert_eq!(snapshot.len(), 1);
    assert_eq!(snapshot[0].target, "p/a");
    assert!(snapshot[0].admitted_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_failures_from_many_tasks_all_count() {
    let (health, _clock) = tracker(HealthConfig::default().failure_threshold(1_000_000));
    let a = t("p/a");
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let health = health.clone();
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                health.record_failure(&a, None).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(health.state(&a).await.consecutive_failures, 64 * 50);
    assert!(!health.is_benched(&a).await);
}

#[test]
fn cooldown_formula_matches_the_design() {
    let c = HealthConfig::default()
        .base_cooldown(secs(5))
        .multiplier(3.0)
        .max_cooldown(secs(100));
    assert_eq!(c.cooldown_for_round(1), secs(5));
    assert_eq!(c.cooldown_for_round(2), secs(15));
    assert_eq!(c.cooldown_for_round(3), secs(45));
    assert_eq!(c.cooldown_for_round(4), secs(100));
    assert_eq!(c.cooldown_for_round(u32::MAX), secs(100));
    // A multiplier below one would shrink cooldowns: it acts as one.
    let flat = HealthConfig::default()
        .base_cooldown(secs(5))
        .multiplier(0.5);
    assert_eq!(flat.cooldown_for_round(7), secs(5));
}

#[tokio::test]
async fn no_cap_durations_never_overflow_the_clock() {
    // `Duration::MAX` is the natural "no cap"; a bench must still land on a
    // readable instant, and the fake clock must survive the same jump.
    let config = HealthConfig::default()
        .failure_threshold(1)
        .base_cooldown(Duration::MAX)
        .max_cooldown(Duration::MAX)
        .max_retry_after(Duration::MAX);
    let (health, clock) = tracker(config);
    let a = t("p/a");
    health.record_failure(&a, Some(Duration::MAX)).await;
    health.record_failure(&a, None).await;
    let until = health.admitted_at(&a).await.expect("benched");
    assert!(until > clock.now());
    clock.advance(Duration::MAX);
    clock.advance(Duration::MAX);
    assert!(clock.now() >= until || health.is_benched(&a).await);
}
