//! [`OpenAiConfig`]: where the server is, what the provider instance is
//! called, and the protocol choices that differ between OpenAI and the
//! servers that copy its API.

use std::time::Duration;

use crate::providers::http::config::protocol_options;
use crate::providers::http::{DEFAULT_REQUEST_TIMEOUT, HttpSettings, ProviderConfig};
use crate::setters::chained_setters;
use crate::{Dsn, Result};

/// OpenAI's own API.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// `foreman`'s default request timeout: it queues work for slow local models.
pub const FOREMAN_DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Which request field carries the output-token cap
/// ([`crate::Request::max_tokens`]).
///
/// OpenAI deprecated `max_tokens`, and its reasoning models reject it with
/// 400 `unsupported_parameter`; many compatible servers know only
/// `max_tokens` (Ollama's `/v1` silently ignores `max_completion_tokens`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MaxTokensField {
    /// `max_completion_tokens` when the base URL's host is `api.openai.com`,
    /// `max_tokens` for every other host. The default.
    #[default]
    Auto,
    /// Always `max_tokens`.
    MaxTokens,
    /// Always `max_completion_tokens`.
    MaxCompletionTokens,
}

impl MaxTokensField {
    /// Resolves [`MaxTokensField::Auto`] for a server at `base_url`.
    pub(super) fn resolve(self, base_url: &str) -> MaxTokensField {
        match self {
            MaxTokensField::Auto => {
                let host = url::Url::parse(base_url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
                if host.as_deref() == Some("api.openai.com") {
                    MaxTokensField::MaxCompletionTokens
                } else {
                    MaxTokensField::MaxTokens
                }
            }
            fixed => fixed,
        }
    }
}

/// The OpenAI protocol's own options in an [`OpenAiConfig`]: which field
/// carries the token cap, the effort sent for the maximum reasoning level,
/// and whether image URLs are fetched and inlined.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenAiOptions {
    pub(super) max_tokens_field: MaxTokensField,
    pub(super) max_reasoning_effort: String,
    pub(super) inline_images: bool,
}

impl Default for OpenAiOptions {
    fn default() -> Self {
        OpenAiOptions {
            max_tokens_field: MaxTokensField::Auto,
            max_reasoning_effort: "high".to_owned(),
            inline_images: false,
        }
    }
}

protocol_options!(OpenAiOptions, "openai");

/// Configuration of an [`super::OpenAiProvider`] (and of an
/// [`super::AzureProvider`]): the shared [`ProviderConfig`] vocabulary (name,
/// [`HttpSettings`], media limits, capabilities) plus [`OpenAiOptions`].
///
/// Works against OpenAI and any server that speaks Chat Completions (vLLM,
/// llama.cpp's server, LM Studio, OpenRouter, Groq, Ollama's `/v1`): requests
/// go to `POST {base_url}/chat/completions`, with `Authorization: Bearer`
/// only when a key is set. [`ProviderConfig::new`] is OpenAI itself
/// ([`DEFAULT_BASE_URL`]), named `openai`; media limits apply when
/// [`inline_images`](ProviderConfig::inline_images) is on.
///
/// ```
/// use majordomo::providers::openai::{MaxTokensField, OpenAiConfig, OpenAiProvider};
/// use majordomo::Provider;
///
/// // OpenAI itself.
/// let openai = OpenAiConfig::new().api_key("sk-test");
/// assert_eq!(openai.http_settings().base_url(), "https://api.openai.com/v1");
///
/// // An Ollama `/v1` server: its token-cap field, and image URLs sent as bytes.
/// let config = OpenAiConfig::new()
///     .name("ollama-v1")
///     .base_url("http://127.0.0.1:11434/v1")
///     .max_tokens_field(MaxTokensField::MaxTokens)
///     .inline_images(true);
/// let provider = OpenAiProvider::new(config)?;
/// assert_eq!(provider.name(), "ollama-v1");
/// # Ok::<(), majordomo::Error>(())
/// ```
pub type OpenAiConfig = ProviderConfig<OpenAiOptions>;

/// The OpenAI protocol's options and DSN forms.
impl ProviderConfig<OpenAiOptions> {
    /// A provider named `name` from an `openai://` DSN: base URL
    /// `http[s]://host[:port][/base-path]`, where a DSN with no path gets
    /// `/v1` (the OpenAI SDKs' convention) and an explicit path is used as
    /// given (`openai://host/api/v1`), the DSN's credential as the API
    /// key, `timeout`, `idle_timeout` and `connect_timeout` options, and `inline_images`
    /// (`true`/`false`, see [`ProviderConfig::inline_images`]).
    ///
    /// # Errors
    /// A configuration error for a malformed duration or `inline_images`
    /// option.
    pub fn from_dsn(name: &str, dsn: &Dsn) -> Result<Self> {
        Self::from_dsn_with_timeout(name, dsn, DEFAULT_REQUEST_TIMEOUT)
    }

    /// As [`ProviderConfig::from_dsn`] for a `foreman://` DSN: the DSN's
    /// credential is the bearer token, and the request timeout defaults to
    /// [`FOREMAN_DEFAULT_TIMEOUT`] (30 minutes) unless `?timeout=` says otherwise.
    ///
    /// # Errors
    /// A configuration error for a malformed duration option.
    pub fn foreman_from_dsn(name: &str, dsn: &Dsn) -> Result<Self> {
        Self::from_dsn_with_timeout(name, dsn, FOREMAN_DEFAULT_TIMEOUT)
    }

    fn from_dsn_with_timeout(name: &str, dsn: &Dsn, timeout: Duration) -> Result<Self> {
        let mut settings = HttpSettings::from_dsn(dsn, timeout)?;
        if dsn.base_path().is_empty() {
            settings = settings.with_base_url(format!("{}/v1", dsn.base_url()));
        }
        let inline_images = match dsn.option("inline_images") {
            None => false,
            Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(other) => {
                return Err(crate::Error::config(format!(
                    "option inline_images of provider {name:?} must be true or false, not {other:?}"
                ))
                .with_provider(name));
            }
        };
        Ok(Self::from_settings(settings)
            .name(name)
            .inline_images(inline_images))
    }

    chained_setters! {
        /// Which field carries the output-token cap. Default: [`MaxTokensField::Auto`].
        max_tokens_field(field: MaxTokensField) => options.max_tokens_field = field;
        /// The `reasoning_effort` sent for [`crate::ReasoningLevel::Max`] (and for
        /// budgets nearest to it). Default: `high`, which every OpenAI reasoning
        /// model accepts; set `xhigh` for models that offer it (OpenAI documents
        /// it for models after `gpt-5.1-codex-max`), or `max` for servers that
        /// take it (vLLM, OpenRouter). Models known to stop at `high` (o-series,
        /// `gpt-5`) still get `high`.
        max_reasoning_effort(effort: impl Into<String>) => options.max_reasoning_effort = effort.into();
        /// Fetch `http(s)` image URLs ourselves and send their bytes as `data:`
        /// URLs, for servers that take no image URL (Ollama's `/v1` answers 400
        /// "image URLs are not currently supported"; LM Studio). Default: off
        /// (the URL is sent; OpenAI, vLLM, llama.cpp, OpenRouter and Groq fetch
        /// it themselves). A failed fetch is a request-specific error.
        inline_images(yes: bool) => options.inline_images = yes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_the_field_by_host() {
        let auto = MaxTokensField::Auto;
        assert_eq!(
            auto.resolve("https://api.openai.com/v1"),
            MaxTokensField::MaxCompletionTokens
        );
        assert_eq!(
            auto.resolve("https://API.OpenAI.com:443/v1"),
            MaxTokensField::MaxCompletionTokens
        );
        for other in [
            "http://127.0.0.1:11434/v1",
            "https://openrouter.ai/api/v1",
            "https://api.openai.com.evil.example/v1",
            "not a url",
        ] {
            assert_eq!(auto.resolve(other), MaxTokensField::MaxTokens, "{other}");
        }
        assert_eq!(
            MaxTokensField::MaxCompletionTokens.resolve("http://127.0.0.1/v1"),
            MaxTokensField::MaxCompletionTokens
        );
    }

    #[test]
    fn foreman_waits_thirty_minutes_unless_told() {
        let dsn = Dsn::parse("foreman+http://tok@127.0.0.1:9000").unwrap();
        let config = OpenAiConfig::foreman_from_dsn("f", &dsn).unwrap();
        assert_eq!(
            config.http_settings().request_timeout,
            FOREMAN_DEFAULT_TIMEOUT
        );
        assert_eq!(
            config.http_settings().credential().map(|c| c.expose()),
            Some("tok")
        );
        let dsn = Dsn::parse("openai://k@h/v1").unwrap();
        let config = OpenAiConfig::from_dsn("o", &dsn).unwrap();
        assert_eq!(
            config.http_settings().request_timeout,
            DEFAULT_REQUEST_TIMEOUT
        );
        assert!(!config.options.inline_images);
    }

    #[test]
    fn the_inline_images_option() {
        let config = |dsn: &str| OpenAiConfig::from_dsn("o", &Dsn::parse(dsn).unwrap());
        assert!(
            config("openai+http://127.0.0.1:11434/v1?inline_images=true")
                .unwrap()
                .options
                .inline_images
        );
        assert!(
            !config("openai+http://127.0.0.1:11434/v1?inline_images=false")
                .unwrap()
                .options
                .inline_images
        );
        let err = config("openai://k@h/v1?inline_images=maybe").unwrap_err();
        assert!(err.to_string().contains("inline_images"), "{err}");
        assert_eq!(err.class(), crate::ErrorClass::Permanent);
    }
}
