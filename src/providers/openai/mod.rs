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

mod azure;
mod config;
mod request;
mod response;
mod stream;
mod wire;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use reqwest::header::{AUTHORIZATION, HeaderMap};

pub(crate) use azure::from_dsn as azure_from_dsn;
pub use azure::{AzureProvider, DEFAULT_API_VERSION as AZURE_DEFAULT_API_VERSION};
pub use config::{
    DEFAULT_BASE_URL, FOREMAN_DEFAULT_TIMEOUT, MaxTokensField, OpenAiConfig, OpenAiOptions,
};

pub(crate) use self::request::ChatCompletions;
use self::stream::{ChunkHandler, ErrorFieldFraming};
use crate::providers::http::HttpSettings;
use crate::providers::http::client::HttpClient;
use crate::providers::http::core::{
    Call, HttpProvider, Protocol, Shared, delegate_provider, key_header,
};
use crate::scheme::BuildContext;
use crate::{Dsn, Error, Provider, Request, Response, Result, Secret, Target};

/// The endpoint, relative to the base URL.
const PATH: &str = "/chat/completions";

/// The built-in `openai` provider, reading its standard variables through
/// `context` when first used (never at construction).
pub(crate) fn builtin(context: &BuildContext) -> Arc<dyn Provider> {
    Arc::new(HttpProvider::lazy(
        "openai",
        context,
        builtin_from_env,
        crate::providers::http::config::default_capabilities(),
    ))
}

/// The built-in's shared part: `OPENAI_API_KEY` (required) and
/// `OPENAI_BASE_URL`.
fn builtin_from_env(_name: &str, context: &BuildContext) -> Result<Shared<ChatCompletions>> {
    let read = |var: &str| {
        context
            .var(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let key = read("OPENAI_API_KEY")
        .ok_or_else(|| Error::missing_credential("openai", "OPENAI_API_KEY"))?;
    let base = read("OPENAI_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    let config = OpenAiConfig::new().base_url(base).api_key(key);
    config.in_context(context).into_shared(protocol)
}

/// Builds the provider `name` from a `openai://` DSN.
pub(crate) fn from_dsn(name: &str, dsn: &Dsn, context: &BuildContext) -> Result<Arc<dyn Provider>> {
    let config = OpenAiConfig::from_dsn(name, dsn)?.in_context(context);
    Ok(Arc::new(OpenAiProvider::new(config)?))
}

/// Builds the provider `name` from a `foreman://` DSN: the OpenAI protocol with
/// a bearer token and a 30-minute default request timeout.
pub(crate) fn foreman_from_dsn(
    name: &str,
    dsn: &Dsn,
    context: &BuildContext,
) -> Result<Arc<dyn Provider>> {
    let config = OpenAiConfig::foreman_from_dsn(name, dsn)?.in_context(context);
    Ok(Arc::new(OpenAiProvider::new(config)?))
}

/// The protocol of a provider for `config`.
fn protocol(config: &OpenAiConfig) -> ChatCompletions {
    let options = &config.options;
    ChatCompletions {
        max_tokens_field: options.max_tokens_field.resolve(config.settings.base_url()),
        max_effort: options.max_reasoning_effort.clone(),
        inline_images: options.inline_images,
        media_limits: config.media_limits,
    }
}

impl Protocol for ChatCompletions {
    type Framing = ErrorFieldFraming;
    type Handler = ChunkHandler;
    const PROTOCOL: &'static str = "openai";

    fn headers(&self, client: &HttpClient) -> Result<HeaderMap> {
        key_header(client, AUTHORIZATION, "Bearer ")
    }

    fn path<'a>(&'a self, _model: &str, _streaming: bool) -> Cow<'a, str> {
        Cow::Borrowed(PATH)
    }

    async fn body(&self, call: Call<'_>, request: &Request, streaming: bool) -> Result<Vec<u8>> {
        let inlined = if self.inline_images {
            request::inline_urls(call.client, request, &self.media_limits).await?
        } else {
            request::Inlined::new()
        };
        request::build_body(self, call.model, request, streaming, &inlined)
    }

    fn answer(&self, body: &[u8], target: &Target, secret: Option<&Secret>) -> Result<Response> {
        response::parse(body, target.provider(), target.model(), secret)
    }

    fn stream(
        &self,
        model: Arc<OnceLock<String>>,
        secret: Option<Secret>,
    ) -> (ErrorFieldFraming, ChunkHandler) {
        (ErrorFieldFraming::new(), ChunkHandler::new(model, secret))
    }
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
    shared: Arc<Shared<ChatCompletions>>,
    inner: HttpProvider<ChatCompletions>,
}

impl OpenAiProvider {
    /// Builds the provider and its HTTP client.
    ///
    /// # Errors
    /// A configuration error when the HTTP client cannot be built (a bad
    /// header) or the API key cannot be sent in a header.
    pub fn new(config: OpenAiConfig) -> Result<Self> {
        let (shared, inner) = config.into_provider(protocol)?;
        Ok(OpenAiProvider { shared, inner })
    }

    /// The server settings.
    pub fn settings(&self) -> &HttpSettings {
        self.shared.client().settings()
    }
}

delegate_provider!(OpenAiProvider);

impl fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OpenAiProvider").field(&self.inner).finish()
    }
}
