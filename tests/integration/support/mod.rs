//! Shared helpers for integration tests.

pub mod call;
pub mod chain;
pub mod http;
pub mod lanes;
#[cfg(feature = "redis")]
pub mod redis_server;
pub mod registry;
