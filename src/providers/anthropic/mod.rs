//! Anthropic Messages (`POST {base}/v1/messages`), plain and streamed.
//!
//! - Headers: `x-api-key`, `anthropic-version` (default `2023-06-01`;
//!   [`AnthropicConfig::version`], or `?version=` in a DSN), `content-type`.
//! - Requests: the system prompt as top-level `system`; `user`/`assistant`
//!   turns only (tool results become `user` turns of `tool_result` blocks);
//!   images as base64 or URL sources; tools and tool choice; thinking from the
//!   reasoning level, in the form the model takes (a budget of at least 1024
//!   below `max_tokens` up to Claude 4.5; adaptive thinking with
//!   `output_config.effort` from Claude 4.6 on), and sampling parameters only
//!   where the model accepts them; JSON schema output through
//!   `output_config.format`, made strict as the API requires.
//! - Answers and streams map to the same [`Response`](crate::Response):
//!   text, tool calls, thinking with its signature (sent back on later turns
//!   to this provider only), usage with cache reads and writes counted as
//!   input, and the stop reason.
//!
//! The built-in provider `anthropic` reads `ANTHROPIC_API_KEY` (and
//! `ANTHROPIC_BASE_URL`, if set) when first used; `LLM_<NAME>=anthropic://key@host`
//! builds another.
//!
//! ```
//! use majordomo::{Provider, ReasoningLevel, Request};
//! use majordomo::providers::anthropic::{AnthropicConfig, AnthropicProvider};
//! let provider = AnthropicProvider::new(
//!     AnthropicConfig::new()
//!         .name("claude")
//!         .api_key("sk-ant-test")
//!         .default_max_tokens(2048),
//! )?;
//! let model = provider.model("claude-sonnet-4-5")?;
//! let request = Request::new()
//!     .system("Answer briefly.")
//!     .user("Why is the sky blue?")
//!     .reasoning(ReasoningLevel::Low);
//! // model.generate(request).await? would call the API.
//! # let _ = (model, request);
//! # Ok::<(), majordomo::Error>(())
//! ```

mod config;
mod models;
mod provider;
mod request;
mod response;
mod schema;
mod stream;
mod wire;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use config::{
    AnthropicConfig, AnthropicOptions, DEFAULT_BASE_URL, DEFAULT_MAX_TOKENS, DEFAULT_VERSION,
};
pub use provider::AnthropicProvider;

use crate::providers::http::{DEFAULT_REQUEST_TIMEOUT, HttpSettings};
use crate::scheme::BuildContext;
use crate::{Dsn, Error, Provider, Result};

/// The built-in `anthropic` provider, reading its standard variables through `env`
/// when first used (never at construction).
pub(crate) fn builtin(context: &BuildContext) -> Arc<dyn Provider> {
    Arc::new(AnthropicProvider::from_env(context))
}

/// Builds the provider `name` from a `anthropic://` DSN: its base URL (the
/// base path goes before `/v1/messages`), its credential as the API key, and
/// the `version` option as `anthropic-version`.
pub(crate) fn from_dsn(name: &str, dsn: &Dsn, context: &BuildContext) -> Result<Arc<dyn Provider>> {
    let settings = context.http(HttpSettings::from_dsn(dsn, DEFAULT_REQUEST_TIMEOUT)?);
    let mut config = AnthropicConfig::new().name(name).http(settings);
    if let Some(version) = dsn.option("version") {
        if version.trim().is_empty() {
            return Err(Error::config(format!(
                "{}: the `version` option must not be empty",
                dsn.variable()
            ))
            .with_provider(name));
        }
        config = config.version(version.trim());
    }
    Ok(Arc::new(AnthropicProvider::new(config)?))
}
