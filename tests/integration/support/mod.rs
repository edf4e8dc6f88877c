//! Shared helpers for integration tests.

pub mod lanes;
pub mod registry;
