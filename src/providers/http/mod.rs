//! Plumbing shared by the HTTP providers (ADR 0010): [`HttpSettings`] and one
//! `reqwest` client per provider instance, the SSE and NDJSON decoders, the
//! mapping of HTTP errors into the crate's classes, and the media pipeline
//! that fetches and inlines images for providers that need bytes.
//!
//! Provider modules use this; hosts use [`ProviderConfig`] and [`HttpSettings`] to configure a
//! provider by hand, and the decoders are public for anyone framing a stream.

pub(crate) mod body;
pub(crate) mod client;
pub(crate) mod config;
pub(crate) mod core;
pub(crate) mod errors;
pub mod media;
mod media_cache;
mod ndjson;
mod sse;
#[cfg(test)]
mod testing;

#[cfg(all(test, feature = "openai"))]
pub(crate) use body::frames_of;
pub use client::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_EVENT_SIZE, DEFAULT_REQUEST_TIMEOUT,
    HttpSettings,
};
pub use config::{ProtocolOptions, ProviderConfig};
pub use errors::MAX_SERVER_RETRY_AFTER;
pub use media::MediaLimits;
pub use ndjson::LineDecoder;
pub use sse::{SseDecoder, SseEvent};
/// Test helpers shared by the providers' unit tests (each feature uses some).
#[cfg(test)]
#[allow(unused_imports)]
pub(crate) use testing::chunk_by;
