//! [`AnthropicConfig`]: where the Messages API lives and the protocol options.

use crate::providers::http::ProviderConfig;
use crate::providers::http::config::protocol_options;
use crate::setters::chained_setters;

/// The public Anthropic API.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The `anthropic-version` header sent unless configured otherwise.
pub const DEFAULT_VERSION: &str = "2023-06-01";
/// `max_tokens` when the request sets none (the Messages API requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The Anthropic protocol's own options in an [`AnthropicConfig`]: the
/// `anthropic-version` and `anthropic-beta` headers, the default
/// `max_tokens`, and whether image URLs are fetched and inlined.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AnthropicOptions {
    pub(super) version: String,
    pub(super) default_max_tokens: u32,
    pub(super) inline_images: bool,
    pub(super) betas: Vec<String>,
}

impl Default for AnthropicOptions {
    fn default() -> Self {
        AnthropicOptions {
            version: DEFAULT_VERSION.to_owned(),
            default_max_tokens: DEFAULT_MAX_TOKENS,
            inline_images: false,
            betas: Vec::new(),
        }
    }
}

protocol_options!(AnthropicOptions, "anthropic");

/// How to reach an Anthropic Messages server and speak to it: the shared
/// [`ProviderConfig`] vocabulary plus [`AnthropicOptions`].
///
/// The base URL is the part before `/v1/messages` (a base ending in `/v1`
/// is not doubled); the key is sent as `x-api-key`; `x-api-key`,
/// `anthropic-version` and `anthropic-beta` belong to
/// [`api_key`](ProviderConfig::api_key), [`version`](ProviderConfig::version)
/// and [`beta`](ProviderConfig::beta), and replace a header of the same name
/// given with [`header`](ProviderConfig::header). [`ProviderConfig::new`] is
/// the public API ([`DEFAULT_BASE_URL`]), named `anthropic`,
/// `anthropic-version: 2023-06-01`, no key. Media limits apply when
/// [`inline_images`](ProviderConfig::inline_images) is on.
/// [`AnthropicProvider::new`](super::AnthropicProvider::new) turns it into a
/// provider.
///
/// ```
/// use majordomo::providers::anthropic::AnthropicConfig;
/// let config = AnthropicConfig::new()
///     .name("claude")
///     .base_url("https://gateway.example.com/anthropic")
///     .api_key("sk-ant-test")
///     .version("2023-06-01")
///     .default_max_tokens(2048)
///     .beta("token-efficient-tools-2025-02-19");
/// assert_eq!(config.api_version(), "2023-06-01");
/// assert!(!format!("{config:?}").contains("sk-ant-test"));
/// ```
pub type AnthropicConfig = ProviderConfig<AnthropicOptions>;

/// The Anthropic protocol's options.
impl ProviderConfig<AnthropicOptions> {
    chained_setters! {
        /// The `anthropic-version` header. Default `2023-06-01`.
        version(version: impl Into<String>) => options.version = version.into();
        /// Fetch URL images ourselves and send their bytes (base64) instead of
        /// letting Anthropic fetch the URL. Default: off (`source.type: url`).
        inline_images(yes: bool) => options.inline_images = yes;
    }

    /// Adds an `anthropic-beta` flag (sent comma-separated).
    pub fn beta(mut self, flag: impl Into<String>) -> Self {
        self.options.betas.push(flag.into());
        self
    }

    /// `max_tokens` for requests that set none (the API requires it). Default 4096.
    /// With budget thinking on (up to Claude 4.5), a `max_tokens` not above the
    /// thinking budget is raised to the budget plus this value (the API wants
    /// the budget below `max_tokens`); with adaptive thinking (Claude 4.6 on),
    /// only a `max_tokens` the request did not set is raised that way.
    pub fn default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.options.default_max_tokens = max_tokens.max(1);
        self
    }

    /// The `anthropic-version` header value.
    pub fn api_version(&self) -> &str {
        &self.options.version
    }
}
