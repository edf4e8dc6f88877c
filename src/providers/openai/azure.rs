//! Azure OpenAI: Chat Completions on a resource's deployments. Only the wire
//! differences live here; the body, answers, streams and errors are OpenAI's.
//!
//! - DSN: `azure://KEY@RESOURCE.openai.azure.com?api-version=2024-10-21`
//!   (`azure+http://` for a local test server); `api-version` defaults to
//!   [`DEFAULT_API_VERSION`].
//! - The model id is the deployment name: a call goes to
//!   `{base}/openai/deployments/{model}/chat/completions?api-version=…`.
//! - The key goes in the `api-key` header (sensitive, never in the URL).
//! - `max_completion_tokens` from API version `2024-09-01` on (what the
//!   o-series needs), `max_tokens` before, unless the config fixes one.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{HeaderMap, HeaderName};

use super::request::ChatCompletions;
use super::stream::{ChunkHandler, ErrorFieldFraming};
use super::{MaxTokensField, OpenAiConfig};
use crate::providers::http::HttpSettings;
use crate::providers::http::client::HttpClient;
use crate::providers::http::core::{
    Call, HttpProvider, Protocol, Shared, delegate_provider, key_header,
};
use crate::scheme::BuildContext;
use crate::{Dsn, Provider, Request, Response, Result, Secret, Target};

/// The API version used when the DSN or config names none.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

/// Characters escaped in a deployment name or API version: everything but
/// letters, digits, `-`, `.` and `_`.
const SEGMENT: &percent_encoding::AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

/// The Azure protocol: Chat Completions with Azure's path, query and key header.
#[derive(Debug)]
pub(crate) struct AzureChat {
    chat: ChatCompletions,
    /// Escaped for the query.
    api_version: String,
}

impl Protocol for AzureChat {
    type Framing = ErrorFieldFraming;
    type Handler = ChunkHandler;
    const PROTOCOL: &'static str = "azure";

    fn headers(&self, client: &HttpClient) -> Result<HeaderMap> {
        key_header(client, HeaderName::from_static("api-key"), "")
    }

    fn path<'a>(&'a self, model: &str, _streaming: bool) -> Cow<'a, str> {
        Cow::Owned(format!(
            "/openai/deployments/{}/chat/completions?api-version={}",
            utf8_percent_encode(model, SEGMENT),
            self.api_version
        ))
    }

    async fn body(&self, call: Call<'_>, request: &Request, streaming: bool) -> Result<Vec<u8>> {
        self.chat.body(call, request, streaming).await
    }

    fn answer(&self, body: &[u8], target: &Target, secret: Option<&Secret>) -> Result<Response> {
        self.chat.answer(body, target, secret)
    }

    fn stream(
        &self,
        model: Arc<OnceLock<String>>,
        secret: Option<Secret>,
    ) -> (ErrorFieldFraming, ChunkHandler) {
        self.chat.stream(model, secret)
    }
}

/// An Azure OpenAI resource: its deployments are the models.
///
/// ```
/// use majordomo::providers::openai::{AzureProvider, OpenAiConfig};
/// use majordomo::Provider;
///
/// let config = OpenAiConfig::new()
///     .name("azure")
///     .base_url("https://my-resource.openai.azure.com")
///     .api_key("key-123");
/// let azure = AzureProvider::new(config, "2024-10-21")?;
/// let model = azure.model("my-gpt-4o-deployment")?; // no network call here
/// assert_eq!(model.capabilities().streaming, Some(true));
/// assert!(!format!("{azure:?}").contains("key-123"));
/// # Ok::<(), majordomo::Error>(())
/// ```
#[derive(Clone)]
pub struct AzureProvider {
    shared: Arc<Shared<AzureChat>>,
    inner: HttpProvider<AzureChat>,
}

impl AzureProvider {
    /// A provider for the resource at `config`'s base URL
    /// (`https://RESOURCE.openai.azure.com`) with its key, speaking
    /// `api_version`; every other option of `config` applies as for OpenAI.
    ///
    /// # Errors
    /// A configuration error when the HTTP client cannot be built or the key
    /// cannot be sent in a header.
    pub fn new(config: OpenAiConfig, api_version: impl Into<String>) -> Result<Self> {
        let api_version = api_version.into();
        let max_tokens_field = match config.options.max_tokens_field {
            MaxTokensField::Auto if api_version.as_str() >= "2024-09-01" => {
                MaxTokensField::MaxCompletionTokens
            }
            MaxTokensField::Auto => MaxTokensField::MaxTokens,
            fixed => fixed,
        };
        let (shared, inner) = config.into_provider(|config| AzureChat {
            chat: ChatCompletions {
                max_tokens_field,
                ..super::protocol(config)
            },
            api_version: utf8_percent_encode(&api_version, SEGMENT).to_string(),
        })?;
        Ok(AzureProvider { shared, inner })
    }

    /// The server settings.
    pub fn settings(&self) -> &HttpSettings {
        self.shared.client().settings()
    }
}

/// Builds the provider `name` from an `azure://` DSN.
pub(crate) fn from_dsn(name: &str, dsn: &Dsn, context: &BuildContext) -> Result<Arc<dyn Provider>> {
    // The resource's root: no `/v1` added.
    let config = OpenAiConfig::from_dsn(name, dsn)?
        .base_url(dsn.base_url())
        .in_context(context);
    let version = dsn.option("api-version").unwrap_or(DEFAULT_API_VERSION);
    Ok(Arc::new(AzureProvider::new(config, version)?))
}

delegate_provider!(AzureProvider);

impl fmt::Debug for AzureProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AzureProvider").field(&self.inner).finish()
    }
}
