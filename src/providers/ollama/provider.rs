//! [`OllamaProvider`] and the native chat protocol on the provider core: one
//! HTTP client per provider, built at construction, or (for the built-in
//! `ollama`) when first used, from `OLLAMA_HOST`.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use super::config::OllamaConfig;
use super::errors;
use super::request::{self, Context};
use super::response;
use super::stream::ChatStream;
use super::wire::ChatResponse;
use crate::providers::http::LineDecoder;
use crate::providers::http::client::HttpClient;
use crate::providers::http::config::default_capabilities;
use crate::providers::http::core::{
    Call, HttpProvider, Protocol, Shared, delegate_provider, key_header,
};
use crate::providers::http::errors::decode_error;
use crate::providers::http::media::MediaLimits;
use crate::scheme::BuildContext;
use crate::{Error, Request, Response, Result, Secret, Target};

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
    inner: HttpProvider<NativeChat>,
}

/// Ollama's native chat protocol: NDJSON streams, images always as bytes.
#[derive(Debug)]
pub(crate) struct NativeChat {
    limits: MediaLimits,
}

impl Protocol for NativeChat {
    type Framing = LineDecoder;
    type Handler = ChatStream;
    const PROTOCOL: &'static str = "ollama";
    // An Ollama stream is handed out as soon as its head arrives.
    const WAIT_FOR_FIRST_EVENT: bool = false;

    fn headers(&self, client: &HttpClient) -> Result<reqwest::header::HeaderMap> {
        key_header(client, reqwest::header::AUTHORIZATION, "Bearer ")
    }

    fn accept(&self, _streaming: bool) -> Option<&'static str> {
        None
    }

    fn path<'a>(&'a self, _model: &str, _streaming: bool) -> Cow<'a, str> {
        Cow::Borrowed(CHAT_PATH)
    }

    async fn body(&self, call: Call<'_>, request: &Request, streaming: bool) -> Result<Vec<u8>> {
        let cx = Context {
            provider: call.provider,
            client: call.client,
            limits: &self.limits,
        };
        let body = request::build(&cx, request, call.model, streaming).await?;
        serde_json::to_vec(&body)
            .map_err(|e| Error::config(format!("cannot encode the Ollama request: {e}")))
    }

    fn answer(&self, body: &[u8], target: &Target, secret: Option<&Secret>) -> Result<Response> {
        let wire: ChatResponse = serde_json::from_slice(body)
            .map_err(|e| decode_error("unexpected response body", &e, secret))?;
        response::into_response(wire, target.provider(), target.model(), secret)
    }

    fn stream(
        &self,
        _model: Arc<OnceLock<String>>,
        secret: Option<Secret>,
    ) -> (LineDecoder, ChatStream) {
        (LineDecoder::new(), ChatStream::new(secret))
    }

    fn refine(&self, error: Error) -> Error {
        errors::refine(error)
    }
}

/// The protocol of a provider for `config`.
fn protocol(config: &OllamaConfig) -> NativeChat {
    NativeChat {
        limits: config.media_limits,
    }
}

/// The built-in's shared part: `OLLAMA_HOST` and the optional `OLLAMA_API_KEY`.
fn builtin_from_env(name: &str, context: &BuildContext) -> Result<Shared<NativeChat>> {
    let host = context.var("OLLAMA_HOST").unwrap_or_default();
    let mut config = OllamaConfig::from_host(&host).name(name);
    if let Some(key) = context
        .var("OLLAMA_API_KEY")
        .filter(|k| !k.trim().is_empty())
    {
        config = config.api_key(key.trim().to_owned());
    }
    config.in_context(context).into_shared(protocol)
}

impl OllamaProvider {
    /// A provider for `config`; its HTTP client (and connection pool) is
    /// built here, once.
    ///
    /// # Errors
    /// A configuration error for a malformed header or a TLS backend that
    /// cannot start.
    pub fn new(config: OllamaConfig) -> Result<Self> {
        let (_, inner) = config.into_provider(protocol)?;
        Ok(OllamaProvider { inner })
    }

    /// The built-in `ollama`: `OLLAMA_HOST` (default `127.0.0.1:11434`) and
    /// the optional `OLLAMA_API_KEY` are read through `context` on first use.
    pub(crate) fn from_env(name: &str, context: &BuildContext) -> Self {
        OllamaProvider {
            inner: HttpProvider::lazy(name, context, builtin_from_env, default_capabilities()),
        }
    }
}

impl fmt::Debug for OllamaProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OllamaProvider").field(&self.inner).finish()
    }
}

delegate_provider!(OllamaProvider);
