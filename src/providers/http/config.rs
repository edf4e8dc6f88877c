//! [`ProviderConfig`]: the one configuration every HTTP provider takes. The
//! vocabulary they share (name, [`HttpSettings`], media limits, capabilities)
//! is written here once; a protocol adds only its own options, the `O` of
//! `ProviderConfig<O>` (ADR 0022).

use std::sync::Arc;
use std::time::Duration;

use super::client::HttpClient;
use super::core::{HttpProvider, Protocol, Shared};
use super::{HttpSettings, MediaLimits};
use crate::scheme::BuildContext;
use crate::setters::chained_setters;
use crate::{Capabilities, Result, Secret};

mod sealed {
    /// Only this crate's protocols have options.
    pub trait Sealed {}
}

/// A protocol's own options inside a [`ProviderConfig`], and the defaults a
/// new config of that protocol starts from. Implemented by
/// [`OpenAiOptions`](crate::providers::openai::OpenAiOptions),
/// [`AnthropicOptions`](crate::providers::anthropic::AnthropicOptions),
/// [`OllamaOptions`](crate::providers::ollama::OllamaOptions) and
/// [`GeminiOptions`](crate::providers::gemini::GeminiOptions); sealed.
pub trait ProtocolOptions: sealed::Sealed + Clone + std::fmt::Debug + Default {
    /// The registered name of a new config (`openai`, `anthropic`, …).
    const DEFAULT_NAME: &'static str;
    /// The server of a new config.
    const DEFAULT_BASE_URL: &'static str;
}

pub(crate) use sealed::Sealed;

/// Makes `$options` a protocol's [`ProtocolOptions`], named `$name` and
/// served at the protocol module's `DEFAULT_BASE_URL`: the sealing and the
/// two defaults every protocol states the same way.
macro_rules! protocol_options {
    ($options:ty, $name:literal) => {
        impl $crate::providers::http::config::Sealed for $options {}

        impl $crate::providers::http::ProtocolOptions for $options {
            const DEFAULT_NAME: &'static str = $name;
            const DEFAULT_BASE_URL: &'static str = DEFAULT_BASE_URL;
        }
    };
}
pub(crate) use protocol_options;

/// What every model of an HTTP provider declares unless told otherwise:
/// streaming (every model these protocols serve streams); whether it takes
/// tools, images or schemas depends on the model, so it stays undeclared.
pub(crate) fn default_capabilities() -> Capabilities {
    Capabilities::unknown().streaming(true)
}

/// How to reach an HTTP provider's server and speak to it: its registered
/// name, the [`HttpSettings`] (base URL, credential, timeouts, headers, the
/// host's own client), the limits on fetching images, the capabilities its
/// models declare, and the protocol's own options `O`.
///
/// Each protocol names its config with an alias:
/// [`OpenAiConfig`](crate::providers::openai::OpenAiConfig),
/// [`AnthropicConfig`](crate::providers::anthropic::AnthropicConfig),
/// [`OllamaConfig`](crate::providers::ollama::OllamaConfig),
/// [`GeminiConfig`](crate::providers::gemini::GeminiConfig). The setters
/// below are the same for all; each alias's page lists what its protocol adds
/// (and what its base URL and key header mean). Setters take the option's
/// name and return the config; read the shared part with
/// [`provider_name`](ProviderConfig::provider_name) and
/// [`http_settings`](ProviderConfig::http_settings).
///
/// ```
/// use std::time::Duration;
/// use majordomo::providers::http::HttpSettings;
/// use majordomo::providers::ollama::OllamaConfig;
/// use majordomo::providers::openai::OpenAiConfig;
///
/// let config = OpenAiConfig::new()
///     .name("vllm")
///     .base_url("http://127.0.0.1:8000/v1")
///     .api_key("sk-test")
///     .timeout(Duration::from_secs(120))
///     .header("X-Team", "search");
/// assert_eq!(config.provider_name(), "vllm");
/// assert_eq!(config.http_settings().base_url(), "http://127.0.0.1:8000/v1");
/// assert!(!format!("{config:?}").contains("sk-test"));
///
/// // The same vocabulary for every protocol, from whole settings too.
/// let local = OllamaConfig::from_settings(HttpSettings::new("http://gpu-box.lan:11434"));
/// assert_eq!(local.provider_name(), "ollama");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProviderConfig<O> {
    pub(crate) name: String,
    pub(crate) settings: HttpSettings,
    pub(crate) media_limits: MediaLimits,
    pub(crate) capabilities: Capabilities,
    pub(crate) options: O,
}

impl<O: ProtocolOptions> Default for ProviderConfig<O> {
    /// The same as [`ProviderConfig::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl<O: ProtocolOptions> ProviderConfig<O> {
    /// The protocol's default name and server, no credential, the default
    /// timeouts, media limits and options, and models declaring streaming
    /// only.
    pub fn new() -> Self {
        Self::from_settings(HttpSettings::new(O::DEFAULT_BASE_URL))
    }

    /// As [`ProviderConfig::new`], reaching the server `settings` describe
    /// (base URL, credential, timeouts, headers, client).
    pub fn from_settings(settings: HttpSettings) -> Self {
        ProviderConfig {
            name: O::DEFAULT_NAME.to_owned(),
            settings,
            media_limits: MediaLimits::default(),
            capabilities: default_capabilities(),
            options: O::default(),
        }
    }

    chained_setters! {
        /// Sets the provider's registered name (the part before `/` in a spec);
        /// errors and responses carry it.
        name(name: impl Into<String>) => name = name.into();
        /// Replaces the HTTP settings as a whole: base URL, credential, timeouts,
        /// headers and client. The name, media limits, capabilities and protocol
        /// options are kept.
        http(settings: HttpSettings) => settings = settings;
        /// Limits on fetching images given by URL, for the protocols (or the
        /// `inline_images` option) that send bytes. Default:
        /// [`MediaLimits::default`].
        media_limits(limits: MediaLimits) => media_limits = limits;
        /// What every model of this provider declares, replacing the default
        /// (streaming only: whether a model takes tools, images or schemas
        /// depends on the model, so it stays undeclared). Declare more (or less)
        /// for a server whose models you know, so a chain can skip it for
        /// requests it cannot serve.
        capabilities(capabilities: Capabilities) => capabilities = capabilities;
    }

    /// Sets the base URL: scheme, host, port and base path; the protocol's
    /// endpoint is appended (see the protocol's config alias). The
    /// credential, timeouts and headers already set are kept.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.settings = self.settings.with_base_url(base_url);
        self
    }

    /// Sets the API key, sent in the protocol's key header (never in a URL).
    /// Default: none.
    pub fn api_key(mut self, key: impl Into<Secret>) -> Self {
        self.settings = self.settings.api_key(key);
        self
    }

    /// Bound on a whole `generate` call and on a stream's wait for its first
    /// event (the gap between later events is
    /// [`idle_timeout`](ProviderConfig::idle_timeout)). Default: 600 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings = self.settings.timeout(timeout);
        self
    }

    /// Bound on the gap between two stream events. Default: 60 s, or the
    /// timeout when shorter.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.settings = self.settings.idle_timeout(timeout);
        self
    }

    /// Bound on establishing a connection. Default: 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings = self.settings.connect_timeout(timeout);
        self
    }

    /// Adds a header sent with every request (e.g. OpenRouter's
    /// `HTTP-Referer`, a gateway's tenant header). A header the protocol owns
    /// (its key header, Anthropic's version and beta headers) replaces one of
    /// the same name given here.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings = self.settings.header(name, value);
        self
    }

    /// Sends every request through `client`, a `reqwest::Client` the host
    /// configured (see [`HttpSettings::client`]).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.settings = self.settings.client(client);
        self
    }

    /// The provider's registered name.
    pub fn provider_name(&self) -> &str {
        &self.name
    }

    /// The HTTP settings: base URL, credential, timeouts, headers and client.
    pub fn http_settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// The protocol's own options.
    pub fn options(&self) -> &O {
        &self.options
    }

    /// The shared part of a provider for this config: its name, its HTTP
    /// client, and the protocol `protocol` makes from the config.
    pub(crate) fn into_shared<P: Protocol>(
        self,
        protocol: impl FnOnce(&Self) -> P,
    ) -> Result<Shared<P>> {
        let protocol = protocol(&self);
        Shared::new(self.name, HttpClient::new(self.settings)?, protocol)
    }

    /// A ready provider core for this config (its models declare its
    /// capabilities), speaking the protocol `protocol` makes from it, and its
    /// shared part (for the settings getters of the public providers).
    pub(crate) fn into_provider<P: Protocol>(
        self,
        protocol: impl FnOnce(&Self) -> P,
    ) -> Result<(Arc<Shared<P>>, HttpProvider<P>)> {
        let capabilities = self.capabilities.clone();
        let shared = Arc::new(self.into_shared(protocol)?);
        Ok((Arc::clone(&shared), HttpProvider::new(shared, capabilities)))
    }

    /// The config as the registry builds it: with the host's client from
    /// `context`, when it has one.
    pub(crate) fn in_context(mut self, context: &BuildContext) -> Self {
        self.settings = context.http(self.settings);
        self
    }
}
