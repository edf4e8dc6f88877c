//! Google Gemini: `generateContent` and `streamGenerateContent?alt=sse` of the
//! Gemini API (`https://generativelanguage.googleapis.com/v1beta`).
//!
//! - Auth: the API key goes in the `x-goog-api-key` header, never in the URL.
//! - The built-in `gemini` provider reads `GEMINI_API_KEY` (else
//!   `GOOGLE_API_KEY`) when first used; a missing key is a permanent error
//!   from the call, not from construction. A `gemini://KEY@host/v1beta` DSN
//!   (`gemini+http://` for plain HTTP) names another server.
//! - Mapping details: [`GeminiConfig`] for settings; the module docs of the
//!   request, response and stream mappings (in the source) for the rules on
//!   roles, tool results, thought signatures, reasoning levels, finish
//!   reasons and usage (`output_tokens` counts Gemini's separately reported
//!   thoughts; `reasoning_tokens` is `thoughtsTokenCount`).
//!
//! ```
//! use majordomo::providers::gemini::{GeminiConfig, GeminiProvider};
//! use majordomo::{Provider, Request};
//!
//! let gemini = GeminiProvider::new(
//!     GeminiConfig::new().name("g").api_key("AIza-example"),
//! )?;
//! let model = gemini.model("gemini-2.5-flash")?;
//! // model.generate(Request::new().user("Hello")).await? — needs the network.
//! # let _ = (model, Request::new());
//! # Ok::<(), majordomo::Error>(())
//! ```

mod config;
mod error;
mod provider;
mod request;
mod response;
mod stream;
mod wire;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use config::{DEFAULT_BASE_URL, GeminiConfig, GeminiOptions};
pub use provider::GeminiProvider;

use crate::providers::http::{DEFAULT_REQUEST_TIMEOUT, HttpSettings};
use crate::scheme::BuildContext;
use crate::{Dsn, Provider, Result};

/// The built-in `gemini` provider, reading its standard variables through `env`
/// when first used (never at construction).
pub(crate) fn builtin(context: &BuildContext) -> Arc<dyn Provider> {
    Arc::new(GeminiProvider::from_env(context.clone()))
}

/// Builds the provider `name` from a `gemini://` DSN: its base URL with the
/// API version path (`/v1beta` when the DSN gives no path), its credential as
/// the API key, and the `timeout` / `idle_timeout` / `connect_timeout` options.
pub(crate) fn from_dsn(name: &str, dsn: &Dsn, context: &BuildContext) -> Result<Arc<dyn Provider>> {
    let settings = context.http(HttpSettings::from_dsn(dsn, DEFAULT_REQUEST_TIMEOUT)?);
    let mut config = GeminiConfig::from_settings(settings).name(name);
    if dsn.base_path().is_empty() {
        config = config.base_url(format!("{}/v1beta", dsn.base_url()));
    }
    Ok(Arc::new(GeminiProvider::new(config)?))
}
