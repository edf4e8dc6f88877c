//! [`GeminiConfig`]: where the Gemini API is and how to reach it.

use crate::providers::http::ProviderConfig;
use crate::providers::http::config::protocol_options;

/// The Gemini API's default base URL.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

/// The Gemini protocol's own options: none yet (images given by URL are
/// always fetched and sent as bytes under [`ProviderConfig::media_limits`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GeminiOptions {}

protocol_options!(GeminiOptions, "gemini");

/// How to reach Gemini: the shared [`ProviderConfig`] vocabulary for the
/// Gemini API.
///
/// The base URL includes the API version path ([`DEFAULT_BASE_URL`] by
/// default); the key is sent as `x-goog-api-key`, never as `?key=`.
/// [`ProviderConfig::new`] is named `gemini`, with no key.
///
/// ```
/// use majordomo::providers::gemini::{DEFAULT_BASE_URL, GeminiConfig, GeminiProvider};
/// use majordomo::{Capabilities, Provider};
///
/// let config = GeminiConfig::new()
///     .name("g")
///     .api_key("AIza-example")
///     .header("x-goog-user-project", "my-project")
///     .capabilities(Capabilities::unknown().streaming(true).tools(true));
/// assert_eq!(config.http_settings().base_url(), DEFAULT_BASE_URL);
/// assert!(!format!("{config:?}").contains("AIza-example"));
/// let provider = GeminiProvider::new(config)?;
/// assert_eq!(provider.name(), "g");
/// assert_eq!(provider.model("gemini-2.5-flash")?.capabilities().tools, Some(true));
/// # Ok::<(), majordomo::Error>(())
/// ```
pub type GeminiConfig = ProviderConfig<GeminiOptions>;
