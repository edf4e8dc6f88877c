//! The one integration-test binary (one link step for every area).
//! Each area owns a module; shared helpers live in `support`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod anthropic;
mod chain;
mod chat_example;
// Every HTTP protocol against one scenario list.
#[cfg(all(
    feature = "openai",
    feature = "anthropic",
    feature = "ollama",
    feature = "gemini"
))]
mod conformance;
mod core;
mod dsn;
mod errors;
mod fake;
mod gemini;
mod health;
mod hostile;
mod hostile_props;
mod http_plumbing;
mod lanes;
mod media;
mod ollama;
mod openai;
#[cfg(feature = "redis")]
mod redis_health;
mod registry;
mod routing;
mod serde_roundtrip;
mod setup;
mod spec;
mod structured;
// Uses the conformance harness's loopback servers for every protocol.
#[cfg(all(
    feature = "openai",
    feature = "anthropic",
    feature = "ollama",
    feature = "gemini"
))]
mod telemetry;
mod timeout;
mod tool_loop;
mod toolbox;
mod usage;
