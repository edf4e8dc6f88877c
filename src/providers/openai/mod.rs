//! OpenAI Chat Completions: OpenAI itself, every OpenAI-compatible server
//! (vLLM, llama.cpp's server, LM Studio, OpenRouter, Groq, Ollama's `/v1`)
//! through its base URL, and `foreman` (the same protocol with long timeouts).
//!
//! - The built-in provider `openai` reads `OPENAI_API_KEY` and
//!   `OPENAI_BASE_URL` (default [`DEFAULT_BASE_URL`]) when first used; a
//!   missing key is a permanent error from the call, never from construction.
//! - DSNs: `openai://key@host/v1`, `openai+http://key@127.0.0.1:8000/v1` (the
//!   base path is used verbatim: requests go to `{base}/chat/completions`);
//!   `foreman[+http]://token@host[:port][/base]` with a 30-minute default
//!   timeout.
//! - By hand: [`OpenAiProvider::new`] with an [`OpenAiConfig`].
//!
//! The request mapping is described in the `request` module docs (system
//! prompt as role `system`, images, tool calls and results, tool choice,
//! `response_format`, `reasoning_effort` by model family, `max_tokens` vs
//! `max_completion_tokens`); the answer and stream mappings in `response`
//! and `stream`. HTTP errors are classified by the shared plumbing.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> majordomo::Result<()> {
//! use majordomo::providers::http::HttpSettings;
//! use majordomo::providers::openai::{OpenAiConfig, OpenAiProvider};
//! use majordomo::{Provider, Request};
//!
//! // A local llama.cpp or vLLM server needs no key.
//! let local = OpenAiProvider::new(
//!     OpenAiConfig::from_settings(HttpSettings::new("http://127.0.0.1:8080/v1")).name("local"),
//! )?;
//! let reply = local
//!     .model("qwen2.5-7b-instruct")?
//!     .generate(Request::new().system("Be brief.").user("Hello"))
//!     .await?;
//! assert_eq!(reply.provider, "local");
//! # Ok(()) }
//! ```

mod config;
mod request;
mod response;
mod stream;
mod wire;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use futures::StreamExt as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};

pub use config::{DEFAULT_BASE_URL, FOREMAN_DEFAULT_TIMEOUT, MaxTokensField, OpenAiConfig};

use self::request::Protocol;
use self::stream::{ChunkHandler, ErrorFieldFraming};
use crate::providers::http::HttpSettings;
use crate::providers::http::body;
use crate::providers::http::client::{HttpClient, HttpResponse};
use crate::scheme::BuildContext;
use crate::{
    Capabilities, Dsn, Error, EventStream, Model, Provider, Request, Response, Result, Target,
};

/// The endpoint, relative to the base URL.
const PATH: &str = "/chat/completions";

/// The built-in `openai` provider, reading its standard variables through `env`
/// when first used (never at construction).
pub(crate) fn builtin(context: &BuildContext) -> Arc<dyn Provider> {
    Arc::new(BuiltinOpenAi {
        lazy: Arc::new(LazyShared {
            context: context.clone(),
            shared: OnceLock::new(),
        }),
        capabilities: config::default_capabilities(),
    })
}

/// Builds the provider `name` from a `openai://` DSN.
pub(crate) fn from_dsn(name: &str, dsn: &Dsn, context: &BuildContext) -> Result<Arc<dyn Provider>> {
    let mut config = OpenAiConfig::from_dsn(name, dsn)?;
    config.settings = context.http(config.settings);
    Ok(Arc::new(OpenAiProvider::new(config)?))
}

/// Builds the provider `name` from a `foreman://` DSN: the OpenAI protocol with
/// a bearer token and a 30-minute default request timeout.
pub(crate) fn foreman_from_dsn(
    name: &str,
    dsn: &Dsn,
    context: &BuildContext,
) -> Result<Arc<dyn Provider>> {
    let mut config = OpenAiConfig::foreman_from_dsn(name, dsn)?;
    config.settings = context.http(config.settings);
    Ok(Arc::new(OpenAiProvider::new(config)?))
}

/// A Chat Completions provider: one HTTP client (one connection pool) shared
/// by all its models.
///
/// ```
/// use majordomo::providers::openai::{OpenAiConfig, OpenAiProvider};
/// use majordomo::Provider;
///
/// let openai = OpenAiProvider::new(OpenAiConfig::new().api_key("sk-test"))?;
/// let model = openai.model("gpt-4o-mini")?; // no network call here
/// assert_eq!(model.capabilities().streaming, Some(true));
/// assert!(!format!("{openai:?}").contains("sk-test"));
/// # Ok::<(), majordomo::Error>(())
/// ```
#[derive(Clone)]
pub struct OpenAiProvider {
    shared: Arc<Shared>,
    capabilities: Capabilities,
}

impl OpenAiProvider {
    /// Builds the provider and its HTTP client.
    ///
    /// # Errors
    /// A configuration error when the HTTP client cannot be built (a bad
    /// header) or the API key cannot be sent in a header.
    pub fn new(config: OpenAiConfig) -> Result<Self> {
        let capabilities = config.capabilities.clone();
        Ok(OpenAiProvider {
            shared: Arc::new(Shared::new(config)?),
            capabilities,
        })
    }

    /// The server settings.
    pub fn settings(&self) -> &HttpSettings {
        self.shared.client.settings()
    }
}

impl Provider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.shared.name
    }

    fn model(&self, id: &str) -> Result<Arc<dyn Model>> {
        Ok(Arc::new(OpenAiModel {
            source: Source::Ready(Arc::clone(&self.shared)),
            target: Target::new(&self.shared.name, id)?,
            capabilities: self.capabilities.clone(),
        }))
    }
}

impl fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("name", &self.shared.name)
            .field("settings", self.shared.client.settings())
            .field("protocol", &self.shared.protocol)
            .finish()
    }
}

/// What every model of a provider instance shares.
struct Shared {
    name: String,
    client: HttpClient,
    /// `Authorization` (when a key is set), marked sensitive.
    headers: HeaderMap,
    protocol: Protocol,
}

impl Shared {
    fn new(config: OpenAiConfig) -> Result<Self> {
        let mut headers = HeaderMap::new();
        if let Some(key) = config.settings.credential() {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| {
                    Error::config(format!(
                        "the API key of provider {:?} has characters an HTTP header cannot carry",
                        config.name
                    ))
                    .with_provider(config.name.as_str())
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let protocol = Protocol {
            max_tokens_field: config.max_tokens_field.resolve(config.settings.base_url()),
            max_effort: config.max_reasoning_effort,
            inline_images: config.inline_images,
            media_limits: config.media_limits,
        };
        Ok(Shared {
            client: HttpClient::new(config.settings)?,
            name: config.name,
            headers,
            protocol,
        })
    }
}

/// The built-in `openai`: its client is built from the environment at first use.
struct BuiltinOpenAi {
    lazy: Arc<LazyShared>,
    capabilities: Capabilities,
}

struct LazyShared {
    context: BuildContext,
    shared: OnceLock<Arc<Shared>>,
}

impl LazyShared {
    /// The client, built on first success. A missing key is not remembered,
    /// so setting it later takes effect.
    fn get(&self) -> Result<Arc<Shared>> {
        if let Some(shared) = self.shared.get() {
            return Ok(Arc::clone(shared));
        }
        let read = |var: &str| {
            self.context
                .var(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let key = read("OPENAI_API_KEY")
            .ok_or_else(|| Error::missing_credential("openai", "OPENAI_API_KEY"))?;
        let base = read("OPENAI_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let config = OpenAiConfig::new().base_url(base).api_key(key);
        let settings = self.context.http(config.settings.clone());
        let shared = Shared::new(config.http(settings))?;
        Ok(Arc::clone(self.shared.get_or_init(|| Arc::new(shared))))
    }
}

impl Provider for BuiltinOpenAi {
    fn name(&self) -> &str {
        "openai"
    }

    fn model(&self, id: &str) -> Result<Arc<dyn Model>> {
        Ok(Arc::new(OpenAiModel {
            source: Source::Lazy(Arc::clone(&self.lazy)),
            target: Target::new("openai", id)?,
            capabilities: self.capabilities.clone(),
        }))
    }
}

enum Source {
    Ready(Arc<Shared>),
    Lazy(Arc<LazyShared>),
}

impl Source {
    fn shared(&self) -> Result<Arc<Shared>> {
        match self {
            Source::Ready(shared) => Ok(Arc::clone(shared)),
            Source::Lazy(lazy) => lazy.get(),
        }
    }
}

/// One model of a Chat Completions provider.
struct OpenAiModel {
    source: Source,
    target: Target,
    capabilities: Capabilities,
}

impl OpenAiModel {
    async fn send(
        &self,
        shared: &Shared,
        request: &Request,
        streaming: bool,
    ) -> Result<HttpResponse> {
        let inlined = if shared.protocol.inline_images {
            request::inline_urls(&shared.client, request, &shared.protocol.media_limits).await?
        } else {
            request::Inlined::new()
        };
        let body = request::build_body(
            &shared.protocol,
            self.target.model(),
            request,
            streaming,
            &inlined,
        )?;
        let mut headers = shared.headers.clone();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static(if streaming {
                "text/event-stream"
            } else {
                "application/json"
            }),
        );
        shared
            .client
            .post_json(PATH, headers, body, streaming)
            .await
    }
}

#[async_trait]
impl Model for OpenAiModel {
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn generate(&self, request: Request) -> Result<Response> {
        let target = &self.target;
        let shared = self.source.shared().map_err(|e| e.or_target(target))?;
        let answer = self
            .send(&shared, &request, false)
            .await
            .map_err(|e| e.or_target(target))?;
        let bytes = answer.bytes().await.map_err(|e| e.or_target(target))?;
        response::parse(
            &bytes,
            target.provider(),
            target.model(),
            shared.client.credential(),
        )
        .map_err(|e| e.or_target(target))
    }

    async fn stream(&self, request: Request) -> Result<EventStream> {
        let target = &self.target;
        let shared = self.source.shared().map_err(|e| e.or_target(target))?;
        let answer = self
            .send(&shared, &request, true)
            .await
            .map_err(|e| e.or_target(target))?;
        let model = Arc::new(OnceLock::new());
        let handler = ChunkHandler::new(Arc::clone(&model), shared.client.credential().cloned());
        let mut events = Box::pin(body::event_stream(
            answer,
            ErrorFieldFraming::new(),
            handler,
            target.clone(),
        ));
        // Wait for the first event: by then the server has named its model,
        // and an error before any output is returned here, where a chain can
        // still fail over.
        let first = match events.next().await {
            Some(Err(e)) => return Err(e),
            other => other,
        };
        let model = model
            .get()
            .cloned()
            .unwrap_or_else(|| target.model().to_owned());
        Ok(EventStream::new(
            target.provider(),
            model,
            futures::stream::iter(first).chain(events),
        ))
    }
}
