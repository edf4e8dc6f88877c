//! [`AnthropicProvider`] and its models: `POST {base}/v1/messages`, plain or
//! streamed, over one HTTP client per provider instance.

use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use futures::StreamExt as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::config::{AnthropicConfig, DEFAULT_BASE_URL};
use super::stream::{MessagesFraming, MessagesStream};
use super::wire::MessagesResponse;
use super::{request, response};
use crate::providers::http::HttpSettings;
use crate::providers::http::body;
use crate::providers::http::client::HttpClient;
use crate::scheme::BuildContext;
use crate::{Capabilities, Error, EventStream, Model, Provider, Request, Response, Result, Target};

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
    shared: Arc<Shared>,
}

struct Shared {
    config: AnthropicConfig,
    client: ClientSource,
}

enum ClientSource {
    /// Built with the provider.
    Ready(HttpClient),
    /// The built-in provider: key and base URL read through `env` at first
    /// use; a missing key is an error of that call (and read again next time).
    Env {
        context: BuildContext,
        client: OnceLock<HttpClient>,
    },
}

impl AnthropicProvider {
    /// A provider for `config`, with its HTTP client.
    ///
    /// # Errors
    /// A configuration error when a header is malformed or the HTTP client
    /// cannot be built.
    pub fn new(config: AnthropicConfig) -> Result<Self> {
        let client = HttpClient::new(config.http.clone())?;
        Self::check_headers(&config)?;
        Ok(AnthropicProvider {
            shared: Arc::new(Shared {
                config,
                client: ClientSource::Ready(client),
            }),
        })
    }

    /// The built-in provider: reads `ANTHROPIC_API_KEY` (and
    /// `ANTHROPIC_BASE_URL`) through `env` when first used.
    pub(super) fn from_env(context: &BuildContext) -> Self {
        AnthropicProvider {
            shared: Arc::new(Shared {
                config: AnthropicConfig::new(),
                client: ClientSource::Env {
                    context: context.clone(),
                    client: OnceLock::new(),
                },
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AnthropicConfig {
        &self.shared.config
    }

    fn check_headers(config: &AnthropicConfig) -> Result<()> {
        headers(config, None).map(|_| ())
    }
}

impl Shared {
    fn client(&self) -> Result<&HttpClient> {
        match &self.client {
            ClientSource::Ready(client) => Ok(client),
            ClientSource::Env { context, client } => {
                if let Some(client) = client.get() {
                    return Ok(client);
                }
                let key = context
                    .var(KEY_VARIABLE)
                    .filter(|k| !k.trim().is_empty())
                    .ok_or_else(|| Error::missing_credential(&self.config.name, KEY_VARIABLE))?;
                let base = context
                    .var(BASE_URL_VARIABLE)
                    .map(|b| b.trim().to_owned())
                    .filter(|b| !b.is_empty())
                    .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
                let settings = HttpSettings::new(base)
                    .api_key(key)
                    .timeout(self.config.http.request_timeout)
                    .connect_timeout(self.config.http.connect_timeout);
                let built = HttpClient::new(context.http(settings))?;
                Ok(client.get_or_init(|| built))
            }
        }
    }
}

/// The headers of every call: `x-api-key` (when there is a key),
/// `anthropic-version`, and `anthropic-beta` when flags are configured.
/// (`content-type` is set by the HTTP client.)
fn headers(config: &AnthropicConfig, client: Option<&HttpClient>) -> Result<HeaderMap> {
    let mut map = HeaderMap::new();
    if let Some(key) = client.and_then(HttpClient::credential) {
        let mut value = HeaderValue::from_str(key.expose())
            .map_err(|_| Error::config("the Anthropic API key is not a valid header value"))?;
        value.set_sensitive(true);
        map.insert(HeaderName::from_static("x-api-key"), value);
    }
    let version = HeaderValue::from_str(&config.version).map_err(|_| {
        Error::config(format!(
            "invalid anthropic-version {:?}: not a header value",
            config.version
        ))
    })?;
    map.insert(HeaderName::from_static("anthropic-version"), version);
    if !config.betas.is_empty() {
        let betas = config.betas.join(",");
        let value = HeaderValue::from_str(&betas).map_err(|_| {
            Error::config(format!(
                "invalid anthropic-beta {betas:?}: not a header value"
            ))
        })?;
        map.insert(HeaderName::from_static("anthropic-beta"), value);
    }
    Ok(map)
}

impl Provider for AnthropicProvider {
    fn name(&self) -> &str {
        &self.shared.config.name
    }

    fn model(&self, id: &str) -> Result<Arc<dyn Model>> {
        let target = Target::new(&self.shared.config.name, id)?;
        Ok(Arc::new(AnthropicModel {
            shared: Arc::clone(&self.shared),
            capabilities: self.shared.config.capabilities.clone(),
            target,
        }))
    }
}

impl fmt::Debug for AnthropicProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("AnthropicProvider");
        d.field("name", &self.shared.config.name);
        match &self.shared.client {
            ClientSource::Ready(_) => d.field("config", &self.shared.config),
            ClientSource::Env { .. } => d.field("config", &"from ANTHROPIC_* environment"),
        };
        d.finish()
    }
}

/// One model of an [`AnthropicProvider`].
struct AnthropicModel {
    shared: Arc<Shared>,
    target: Target,
    capabilities: Capabilities,
}

impl AnthropicModel {
    /// The client, headers and serialized body of a call.
    async fn prepare(
        &self,
        request: &Request,
        stream: bool,
    ) -> Result<(&HttpClient, HeaderMap, Vec<u8>)> {
        let config = &self.shared.config;
        let client = self.shared.client()?;
        let headers = headers(config, Some(client))?;
        let wire = request::build(request, self.target.model(), config, client, stream).await?;
        let body = serde_json::to_vec(&wire)
            .map_err(|e| Error::config(format!("cannot serialize the request: {e}")))?;
        Ok((client, headers, body))
    }

    async fn generate_inner(&self, request: Request) -> Result<Response> {
        let (client, headers, body) = self.prepare(&request, false).await?;
        let answer = client
            .post_json(
                messages_path(client.settings().base_url()),
                headers,
                body,
                false,
            )
            .await?;
        let wire: MessagesResponse = answer.json().await?;
        Ok(response::into_response(
            wire,
            self.target.provider(),
            self.target.model(),
        ))
    }

    async fn stream_inner(&self, request: Request) -> Result<EventStream> {
        let (client, headers, body) = self.prepare(&request, true).await?;
        let answer = client
            .post_json(
                messages_path(client.settings().base_url()),
                headers,
                body,
                true,
            )
            .await?;
        let echoed = Arc::new(OnceLock::new());
        let handler = MessagesStream::new(client.credential().cloned(), Arc::clone(&echoed));
        let mut events = Box::pin(body::event_stream(
            answer,
            MessagesFraming::new(),
            handler,
            self.target.clone(),
        ));
        // Read up to the first event (`message_start` comes first), so the
        // stream carries the model the server names, as `generate` does; an
        // error before any output is this call's error.
        let first = match events.next().await {
            Some(Ok(event)) => Some(event),
            Some(Err(e)) => return Err(e),
            None => None,
        };
        let model = echoed
            .get()
            .cloned()
            .unwrap_or_else(|| self.target.model().to_owned());
        let rest = futures::stream::iter(first.map(Ok)).chain(events);
        Ok(EventStream::new(self.target.provider(), model, rest))
    }
}

#[async_trait]
impl Model for AnthropicModel {
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn generate(&self, request: Request) -> Result<Response> {
        self.generate_inner(request)
            .await
            .map_err(|e| e.or_target(&self.target))
    }

    async fn stream(&self, request: Request) -> Result<EventStream> {
        self.stream_inner(request)
            .await
            .map_err(|e| e.or_target(&self.target))
    }
}
