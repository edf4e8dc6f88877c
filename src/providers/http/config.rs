//! The setters every HTTP provider's config shares, written once: a config
//! is a name, [`HttpSettings`](super::HttpSettings) (where the server is, the
//! credential, timeouts, headers, the host's client), media limits and
//! capabilities, plus its protocol's own options.

/// Implements the shared setters and getters on a provider config with the
/// fields `name`, `$settings` (an `HttpSettings`), `media_limits` and
/// `capabilities`. The doc strings say what differs per protocol: where the
/// base URL leads, how the key is sent, which headers the protocol owns, and
/// when images are fetched.
macro_rules! http_config_setters {
    (
        settings: $settings:ident,
        base_url: $base_url_doc:literal,
        api_key: $api_key_doc:literal,
        header: $header_doc:literal,
        media_limits: $media_doc:literal $(,)?
    ) => {
        /// Sets the provider's registered name (the part before `/` in a
        /// spec); errors and responses carry it.
        pub fn name(mut self, name: impl Into<String>) -> Self {
            self.name = name.into();
            self
        }

        /// Replaces the HTTP settings as a whole: base URL, credential,
        /// timeouts, headers and client. The name, media limits, capabilities
        /// and protocol options are kept.
        pub fn http(mut self, settings: $crate::providers::http::HttpSettings) -> Self {
            self.$settings = settings;
            self
        }

        #[doc = $base_url_doc]
        ///
        /// The credential, timeouts and headers already set are kept.
        pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
            self.$settings = self.$settings.with_base_url(base_url);
            self
        }

        #[doc = $api_key_doc]
        pub fn api_key(mut self, key: impl Into<$crate::Secret>) -> Self {
            self.$settings = self.$settings.api_key(key);
            self
        }

        /// Bound on a whole `generate` call and on a stream's wait for its
        /// first event (the gap between later events is
        /// [`HttpSettings::idle_timeout`](crate::providers::http::HttpSettings::idle_timeout)).
        /// Default: 600 s.
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.$settings = self.$settings.timeout(timeout);
            self
        }

        /// Bound on the gap between two stream events. Default: 60 s, or the
        /// timeout when shorter.
        pub fn idle_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.$settings = self.$settings.idle_timeout(timeout);
            self
        }

        /// Bound on establishing a connection. Default: 10 s.
        pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.$settings = self.$settings.connect_timeout(timeout);
            self
        }

        #[doc = $header_doc]
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.$settings = self.$settings.header(name, value);
            self
        }

        /// Sends every request through `client`, a `reqwest::Client` the host
        /// configured (see
        /// [`HttpSettings::client`](crate::providers::http::HttpSettings::client)).
        pub fn http_client(mut self, client: reqwest::Client) -> Self {
            self.$settings = self.$settings.client(client);
            self
        }

        #[doc = $media_doc]
        pub fn media_limits(mut self, limits: $crate::providers::http::MediaLimits) -> Self {
            self.media_limits = limits;
            self
        }

        /// What every model of this provider declares, replacing the
        /// default (streaming only: whether a model takes tools, images or
        /// schemas depends on the model, so it stays undeclared). Declare
        /// more (or less) for a server whose models you know, so a chain can
        /// skip it for requests it cannot serve.
        pub fn capabilities(mut self, capabilities: $crate::Capabilities) -> Self {
            self.capabilities = capabilities;
            self
        }

        /// The provider's registered name.
        pub fn provider_name(&self) -> &str {
            &self.name
        }

        /// The HTTP settings: base URL, credential, timeouts, headers and client.
        pub fn http_settings(&self) -> &$crate::providers::http::HttpSettings {
            &self.$settings
        }
    };
}
pub(crate) use http_config_setters;
