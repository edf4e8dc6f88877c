//! [`OllamaProvider`] and its models: one HTTP client per provider, built at
//! construction, or (for the built-in `ollama`) when first used, from
//! `OLLAMA_HOST`.

use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use super::config::{self, OllamaConfig, Parts};
use super::errors;
use super::request::{self, Context};
use super::response;
use super::stream::ChatStream;
use super::wire::ChatResponse;
use crate::providers::http::LineDecoder;
use crate::providers::http::body::event_stream;
use crate::providers::http::client::{HttpClient, HttpResponse};
use crate::providers::http::media::MediaLimits;
use crate::scheme::BuildContext;
use crate::{Capabilities, Error, EventStream, Model, Provider, Request, Response, Result, Target};

const CHAT_PATH: &str = "/api/chat";

/// Ollama's native chat API (`POST {base}/api/chat`), for a local server,
/// a remote one, or ollama.com (with a bearer token).
///
/// ```
/// use majordomo::Provider;
/// use majordomo::providers::ollama::{OllamaConfig, OllamaProvider};
///
/// let provider = OllamaProvider::new(
///     OllamaConfig::new().name("gpu").base_url("http://gpu-box.lan:11434"),
/// )?;
/// assert_eq!(provider.name(), "gpu");
/// let model = provider.model("llama3.2")?; // no network call here
/// assert_eq!(model.capabilities().streaming, Some(true));
/// # Ok::<(), majordomo::Error>(())
/// ```
///
/// Ollama keeps no credential locally; a call fails only when the server
/// does. Mind that by default Ollama **silently drops the oldest messages**
/// when a conversation exceeds the model's context window (`num_ctx`), so an
/// over-long request succeeds with a truncated prompt rather than failing
/// over; only a server asked not to truncate answers with a context-length
/// error (classified request-specific).
#[derive(Clone)]
pub struct OllamaProvider {
    name: Arc<str>,
    capabilities: Capabilities,
    backend: Arc<Backend>,
}

/// The one client and what each call needs.
struct Shared {
    name: Arc<str>,
    client: HttpClient,
    limits: MediaLimits,
}

enum Backend {
    Ready(Arc<Shared>),
    /// The built-in provider: configured from the environment on first use.
    FromEnv {
        context: BuildContext,
        built: OnceLock<Result<Arc<Shared>>>,
    },
}

impl Backend {
    fn get(&self, name: &str) -> Result<Arc<Shared>> {
        match self {
            Backend::Ready(shared) => Ok(shared.clone()),
            Backend::FromEnv { context, built } => built
                .get_or_init(|| {
                    let host = context.var("OLLAMA_HOST").unwrap_or_default();
                    let mut config = OllamaConfig::from_host(&host).name(name);
                    if let Some(key) = context
                        .var("OLLAMA_API_KEY")
                        .filter(|k| !k.trim().is_empty())
                    {
                        config = config.api_key(key.trim().to_owned());
                    }
                    let settings = context.http(config.http_settings().clone());
                    Shared::new(config.http(settings).into_parts()).map(Arc::new)
                })
                .clone(),
        }
    }
}

impl Shared {
    fn new(parts: Parts) -> Result<Self> {
        Ok(Shared {
            name: Arc::from(parts.name),
            client: HttpClient::new(parts.settings)?,
            limits: parts.media_limits,
        })
    }
}

impl OllamaProvider {
    /// A provider for `config`; its HTTP client (and connection pool) is
    /// built here, once.
    ///
    /// # Errors
    /// A configuration error for a malformed header or a TLS backend that
    /// cannot start.
    pub fn new(config: OllamaConfig) -> Result<Self> {
        let parts = config.into_parts();
        let capabilities = parts.capabilities.clone();
        let shared = Shared::new(parts)?;
        Ok(OllamaProvider {
            name: shared.name.clone(),
            capabilities,
            backend: Arc::new(Backend::Ready(Arc::new(shared))),
        })
    }

    /// The built-in `ollama`: `OLLAMA_HOST` (default `127.0.0.1:11434`) and
    /// the optional `OLLAMA_API_KEY` are read through `env` on first use.
    pub(crate) fn from_env(name: &str, context: BuildContext) -> Self {
        OllamaProvider {
            name: Arc::from(name),
            capabilities: config::default_capabilities(),
            backend: Arc::new(Backend::FromEnv {
                context,
                built: OnceLock::new(),
            }),
        }
    }
}

impl fmt::Debug for OllamaProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("OllamaProvider");
        d.field("name", &self.name);
        match &*self.backend {
            Backend::Ready(shared) => d.field("client", &shared.client),
            Backend::FromEnv { built, .. } => match built.get() {
                Some(Ok(shared)) => d.field("client", &shared.client),
                _ => d.field("client", &"from OLLAMA_HOST on first use"),
            },
        };
        d.finish()
    }
}

impl Provider for OllamaProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn model(&self, id: &str) -> Result<Arc<dyn Model>> {
        Ok(Arc::new(OllamaModel {
            target: Target::new(&self.name, id)?,
            backend: self.backend.clone(),
            capabilities: self.capabilities.clone(),
        }))
    }
}

/// One model of an [`OllamaProvider`].
struct OllamaModel {
    target: Target,
    backend: Arc<Backend>,
    capabilities: Capabilities,
}

impl OllamaModel {
    async fn send(&self, request: &Request, stream: bool) -> Result<(Arc<Shared>, HttpResponse)> {
        let shared = self.backend.get(self.target.provider())?;
        let cx = Context {
            provider: &shared.name,
            client: &shared.client,
            limits: &shared.limits,
        };
        let body = request::build(&cx, request, self.target.model(), stream).await?;
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| Error::config(format!("cannot encode the Ollama request: {e}")))?;
        let headers = request::headers(shared.client.settings())?;
        let answer = shared
            .client
            .post_json(CHAT_PATH, headers, bytes, stream)
            .await
            .map_err(errors::refine)?;
        Ok((shared, answer))
    }

    async fn generate_inner(&self, request: Request) -> Result<Response> {
        let (shared, answer) = self.send(&request, false).await?;
        let wire: ChatResponse = answer.json().await?;
        response::into_response(
            wire,
            &shared.name,
            self.target.model(),
            shared.client.credential(),
        )
    }

    async fn stream_inner(&self, request: Request) -> Result<EventStream> {
        let (shared, answer) = self.send(&request, true).await?;
        let handler = ChatStream::new(shared.client.credential().cloned());
        let events = event_stream(answer, LineDecoder::new(), handler, self.target.clone());
        Ok(EventStream::new(&*shared.name, self.target.model(), events))
    }
}

#[async_trait]
impl Model for OllamaModel {
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
