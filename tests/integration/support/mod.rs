//! Shared helpers for integration tests.

pub mod call;
pub mod chain;
pub mod http;
pub mod lanes;
#[cfg(feature = "redis")]
pub mod redis_server;
pub mod registry;

use std::time::Duration;

use majordomo::health::HealthConfig;

/// Benches after `threshold` failures for 10 s, doubling each bench round up
/// to `max`.
pub fn doubling_backoff(threshold: u32, max: Duration) -> HealthConfig {
    HealthConfig::default()
        .failure_threshold(threshold)
        .base_cooldown(Duration::from_secs(10))
        .multiplier(2.0)
        .max_cooldown(max)
}
