//! Shared helpers for integration tests.

pub mod chain;
pub mod http;
pub mod lanes;
pub mod registry;
