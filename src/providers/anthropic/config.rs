//! [`AnthropicConfig`]: where the Messages API lives and the protocol options.

use crate::providers::http::config::http_config_setters;

use crate::Capabilities;
use crate::providers::http::{HttpSettings, MediaLimits};

/// The public Anthropic API.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The `anthropic-version` header sent unless configured otherwise.
pub const DEFAULT_VERSION: &str = "2023-06-01";
/// `max_tokens` when the request sets none (the Messages API requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// How to reach an Anthropic Messages server and speak to it.
///
/// A chainable builder; [`AnthropicProvider::new`](super::AnthropicProvider::new)
/// turns it into a provider.
///
/// ```
/// use std::time::Duration;
/// use majordomo::providers::anthropic::AnthropicConfig;
/// let config = AnthropicConfig::new()
///     .name("claude")
///     .base_url("https://gateway.example.com/anthropic")
///     .api_key("sk-ant-test")
///     .version("2023-06-01")
///     .default_max_tokens(2048)
///     .beta("token-efficient-tools-2025-02-19")
///     .header("x-gateway-tenant", "team-7")
///     .timeout(Duration::from_secs(120))
///     .connect_timeout(Duration::from_secs(5));
/// assert_eq!(config.provider_name(), "claude");
/// assert_eq!(config.http_settings().base_url(), "https://gateway.example.com/anthropic");
/// assert!(!format!("{config:?}").contains("sk-ant-test"));
///
/// // Or start from whole HTTP settings:
/// use majordomo::providers::http::HttpSettings;
/// let settings = HttpSettings::new("http://localhost:8080").api_key("sk-ant-test");
/// let local = AnthropicConfig::from_settings(settings).name("local");
/// assert_eq!(local.http_settings().base_url(), "http://localhost:8080");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AnthropicConfig {
    pub(super) name: String,
    pub(super) http: HttpSettings,
    pub(super) version: String,
    pub(super) default_max_tokens: u32,
    pub(super) inline_images: bool,
    pub(super) media_limits: MediaLimits,
    pub(super) betas: Vec<String>,
    pub(super) capabilities: Capabilities,
}

impl Default for AnthropicConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl AnthropicConfig {
    http_config_setters! {
        settings: http,
        base_url: "Sets the base URL (the part before `/v1/messages`).",
        api_key: "Sets the API key, sent as `x-api-key`.",
        header: "Adds a header sent with every request (e.g. a gateway's tenant header). `x-api-key`, `anthropic-version` and `anthropic-beta` belong to [`AnthropicConfig::api_key`], [`AnthropicConfig::version`] and [`AnthropicConfig::beta`]: when those send them, they replace a header of the same name given here.",
        media_limits: "Limits on fetching images when [`AnthropicConfig::inline_images`] is on.",
    }

    /// The public API (`https://api.anthropic.com`), provider name `anthropic`,
    /// `anthropic-version: 2023-06-01`, no key.
    pub fn new() -> Self {
        Self::from_settings(HttpSettings::new(DEFAULT_BASE_URL))
    }

    /// The protocol defaults of [`AnthropicConfig::new`] (provider name
    /// `anthropic`), reaching the server of `settings` (base URL before
    /// `/v1/messages`, credential, timeouts, extra headers).
    pub fn from_settings(settings: HttpSettings) -> Self {
        AnthropicConfig {
            name: "anthropic".to_owned(),
            http: settings,
            version: DEFAULT_VERSION.to_owned(),
            default_max_tokens: DEFAULT_MAX_TOKENS,
            inline_images: false,
            media_limits: MediaLimits::default(),
            betas: Vec::new(),
            capabilities: Capabilities::unknown().streaming(true),
        }
    }

    /// The `anthropic-version` header. Default `2023-06-01`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Adds an `anthropic-beta` flag (sent comma-separated).
    pub fn beta(mut self, flag: impl Into<String>) -> Self {
        self.betas.push(flag.into());
        self
    }

    /// `max_tokens` for requests that set none (the API requires it). Default 4096.
    /// With budget thinking on (up to Claude 4.5), a `max_tokens` not above the
    /// thinking budget is raised to the budget plus this value (the API wants
    /// the budget below `max_tokens`); with adaptive thinking (Claude 4.6 on),
    /// only a `max_tokens` the request did not set is raised that way.
    pub fn default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.default_max_tokens = max_tokens.max(1);
        self
    }

    /// Fetch URL images ourselves and send their bytes (base64) instead of
    /// letting Anthropic fetch the URL. Default: off (`source.type: url`).
    pub fn inline_images(mut self, yes: bool) -> Self {
        self.inline_images = yes;
        self
    }

    /// The `anthropic-version` header value.
    pub fn api_version(&self) -> &str {
        &self.version
    }
}
