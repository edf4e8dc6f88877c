//! [`AnthropicProvider`] and the Messages protocol on the provider core:
//! `POST {base}/v1/messages`, plain or streamed, over one HTTP client per
//! provider instance.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::config::{AnthropicConfig, DEFAULT_BASE_URL};
use super::stream::{MessagesFraming, MessagesStream};
use super::wire::MessagesResponse;
use super::{request, response};
use crate::providers::http::client::HttpClient;
use crate::providers::http::core::{
    Call, HttpProvider, Protocol, Shared, delegate_provider, key_header,
};
use crate::providers::http::errors::decode_error;
use crate::scheme::BuildContext;
use crate::{Error, Request, Response, Result, Secret, Target};

/// The Messages endpoint, after a base URL without the API version.
const MESSAGES_PATH: &str = "/v1/messages";

/// The Messages endpoint after `base_url`. The official SDKs take the base
/// without `/v1` (`https://api.anthropic.com`), but gateways often document
/// theirs with it; a base that already ends in `/v1` must not become
/// `/v1/v1/messages`.
fn messages_path(base_url: &str) -> &'static str {
    if base_url.ends_with("/v1") {
        "/messages"
    } else {
        MESSAGES_PATH
    }
}
/// The variable the built-in provider reads its key from.
const KEY_VARIABLE: &str = "ANTHROPIC_API_KEY";
/// The variable the built-in provider reads a base URL from, if set.
const BASE_URL_VARIABLE: &str = "ANTHROPIC_BASE_URL";

/// An Anthropic Messages provider: the public API, or any server speaking the
/// protocol (a gateway, a proxy) through its base URL.
///
/// ```
/// use majordomo::Provider;
/// use majordomo::providers::anthropic::{AnthropicConfig, AnthropicProvider};
/// let provider = AnthropicProvider::new(
///     AnthropicConfig::new().name("claude").api_key("sk-ant-test"),
/// )?;
/// assert_eq!(provider.name(), "claude");
/// let model = provider.model("claude-sonnet-4-5")?; // no network call
/// # let _ = model;
/// # Ok::<(), majordomo::Error>(())
/// ```
#[derive(Clone)]
pub struct AnthropicProvider {
    config: Arc<AnthropicConfig>,
    inner: HttpProvider<Messages>,
}

/// The Messages protocol of one provider instance.
#[derive(Debug)]
pub(crate) struct Messages {
    config: AnthropicConfig,
    /// [`messages_path`] of the base URL.
    path: &'static str,
}

impl Protocol for Messages {
    type Framing = MessagesFraming;
    type Handler = MessagesStream;
    const PROTOCOL: &'static str = "anthropic";

    fn headers(&self, client: &HttpClient) -> Result<HeaderMap> {
        headers(&self.config, client)
    }

    fn accept(&self, _streaming: bool) -> Option<&'static str> {
        None
    }

    fn path<'a>(&'a self, _model: &str, _streaming: bool) -> Cow<'a, str> {
        Cow::Borrowed(self.path)
    }

    async fn body(&self, call: Call<'_>, request: &Request, streaming: bool) -> Result<Vec<u8>> {
        let wire =
            request::build(request, call.model, &self.config, call.client, streaming).await?;
        serde_json::to_vec(&wire)
            .map_err(|e| Error::config(format!("cannot serialize the request: {e}")))
    }

    fn answer(&self, body: &[u8], target: &Target, secret: Option<&Secret>) -> Result<Response> {
        let wire: MessagesResponse = serde_json::from_slice(body)
            .map_err(|e| decode_error("unexpected response body", &e, secret))?;
        Ok(response::into_response(
            wire,
            target.provider(),
            target.model(),
        ))
    }

    fn stream(
        &self,
        model: Arc<OnceLock<String>>,
        secret: Option<Secret>,
    ) -> (MessagesFraming, MessagesStream) {
        (MessagesFraming::new(), MessagesStream::new(secret, model))
    }
}

/// The protocol of a provider for `config`.
fn protocol(config: &AnthropicConfig) -> Messages {
    Messages {
        path: messages_path(config.settings.base_url()),
        config: config.clone(),
    }
}

/// The built-in's shared part: `ANTHROPIC_API_KEY` (required) and
/// `ANTHROPIC_BASE_URL`.
fn builtin_from_env(name: &str, context: &BuildContext) -> Result<Shared<Messages>> {
    let key = context
        .var(KEY_VARIABLE)
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| Error::missing_credential(name, KEY_VARIABLE))?;
    let base = context
        .var(BASE_URL_VARIABLE)
        .map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    let config = AnthropicConfig::new()
        .name(name)
        .base_url(base)
        .api_key(key);
    config.in_context(context).into_shared(protocol)
}

impl AnthropicProvider {
    /// A provider for `config`, with its HTTP client.
    ///
    /// # Errors
    /// A configuration error when a header is malformed or the HTTP client
    /// cannot be built.
    pub fn new(config: AnthropicConfig) -> Result<Self> {
        let (_, inner) = config.clone().into_provider(protocol)?;
        let config = Arc::new(config);
        Ok(AnthropicProvider { inner, config })
    }

    /// The built-in provider: reads `ANTHROPIC_API_KEY` (and
    /// `ANTHROPIC_BASE_URL`) through `context` when first used.
    pub(super) fn from_env(context: &BuildContext) -> Self {
        let config = AnthropicConfig::new();
        AnthropicProvider {
            inner: HttpProvider::lazy(
                &config.name,
                context,
                builtin_from_env,
                config.capabilities.clone(),
            ),
            config: Arc::new(config),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AnthropicConfig {
        &self.config
    }
}

/// The headers of every call: `x-api-key` (when there is a key),
/// `anthropic-version`, and `anthropic-beta` when flags are configured.
/// (`content-type` is set by the HTTP client.)
fn headers(config: &AnthropicConfig, client: &HttpClient) -> Result<HeaderMap> {
    let mut map = key_header(client, HeaderName::from_static("x-api-key"), "")?;
    let version = HeaderValue::from_str(&config.options.version).map_err(|_| {
        Error::config(format!(
            "invalid anthropic-version {:?}: not a header value",
            config.options.version
        ))
    })?;
    map.insert(HeaderName::from_static("anthropic-version"), version);
    if !config.options.betas.is_empty() {
        let betas = config.options.betas.join(",");
        let value = HeaderValue::from_str(&betas).map_err(|_| {
            Error::config(format!(
                "invalid anthropic-beta {betas:?}: not a header value"
            ))
        })?;
        map.insert(HeaderName::from_static("anthropic-beta"), value);
    }
    Ok(map)
}

delegate_provider!(AnthropicProvider);

impl fmt::Debug for AnthropicProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AnthropicProvider")
            .field(&self.inner)
            .finish()
    }
}
