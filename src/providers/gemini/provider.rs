//! [`GeminiConfig`], [`GeminiProvider`] and its models: where the API is, how
//! it is called, and the `Model` implementation.

use crate::providers::http::config::http_config_setters;
use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{HeaderMap, HeaderName};

use super::error::refine;
use super::request::{self, BuildContext};
use super::response;
use super::stream::GeminiStream;
use super::wire::GenerateContentResponse;
use crate::providers::http::client::HttpClient;
use crate::providers::http::core::{
    Call, HttpProvider, Protocol, Shared, delegate_provider, key_header,
};
use crate::providers::http::errors;
use crate::providers::http::{HttpSettings, MediaLimits, SseDecoder};
use crate::scheme;
use crate::{Capabilities, Error, Provider, Request, Response, Result, Secret, Target};

/// The Gemini API's default base URL.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

/// The variables the built-in provider reads its key from, in order. The
/// official SDKs read both; when both are set they prefer `GOOGLE_API_KEY`,
/// while we prefer the variable named for Gemini (`GOOGLE_API_KEY` is a common
/// name for keys of other Google APIs).
pub(crate) const KEY_VARIABLES: [&str; 2] = ["GEMINI_API_KEY", "GOOGLE_API_KEY"];

/// The header carrying the API key. The `?key=` query form is never used: it
/// would put the key in URLs, logs and error texts.
const API_KEY_HEADER: &str = "x-goog-api-key";

/// Characters escaped in a model id used as a path segment: all but the
/// unreserved ones, so `/`, `:`, `?` and `#` cannot change the path.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How to reach Gemini: the provider's name, the HTTP settings (base URL, API
/// key, timeouts, headers), the limits on fetching image URLs and the
/// capabilities its models declare.
///
/// ```
/// use std::time::Duration;
/// use majordomo::providers::gemini::{GeminiConfig, GeminiProvider};
/// use majordomo::providers::http::MediaLimits;
/// use majordomo::{Capabilities, Provider};
///
/// let config = GeminiConfig::new()
///     .name("g")
///     .base_url("https://generativelanguage.googleapis.com/v1beta")
///     .api_key("AIza-example")
///     .timeout(Duration::from_secs(60))
///     .connect_timeout(Duration::from_secs(5))
///     .header("x-goog-user-project", "my-project")
///     .media_limits(MediaLimits::default())
///     .capabilities(Capabilities::unknown().streaming(true).tools(true));
/// assert_eq!(config.provider_name(), "g");
/// assert_eq!(config.http_settings().request_timeout, Duration::from_secs(60));
/// assert!(!format!("{config:?}").contains("AIza-example"));
/// let provider = GeminiProvider::new(config)?;
/// assert_eq!(provider.name(), "g");
/// assert_eq!(provider.model("gemini-2.5-flash")?.capabilities().tools, Some(true));
/// # Ok::<(), majordomo::Error>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct GeminiConfig {
    name: String,
    settings: HttpSettings,
    media_limits: MediaLimits,
    capabilities: Capabilities,
}

impl fmt::Debug for GeminiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `HttpSettings` shows neither the credential nor header values.
        f.debug_struct("GeminiConfig")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .field("media_limits", &self.media_limits)
            .field("capabilities", &self.capabilities)
            .finish()
    }
}

impl Default for GeminiConfig {
    fn default() -> Self {
        GeminiConfig::new()
    }
}

impl GeminiConfig {
    http_config_setters! {
        settings: settings,
        base_url: "The base URL, including the API version path. Default: [`DEFAULT_BASE_URL`].",
        api_key: "The API key, sent as `x-goog-api-key`.",
        header: "Adds a header sent with every request (e.g. `x-goog-user-project`).",
        media_limits: "Limits on fetching images given by URL (size, time). Default: [`MediaLimits::default`].",
    }

    /// A provider named `gemini` at [`DEFAULT_BASE_URL`], with no key, the
    /// default timeouts and media limits, and models declaring streaming only.
    pub fn new() -> Self {
        GeminiConfig::from_settings(HttpSettings::new(DEFAULT_BASE_URL))
    }

    /// A provider named `gemini` with these HTTP settings (base URL such as
    /// `https://generativelanguage.googleapis.com/v1beta`, key, timeouts).
    pub fn from_settings(settings: HttpSettings) -> Self {
        GeminiConfig {
            name: "gemini".to_owned(),
            settings,
            media_limits: MediaLimits::default(),
            // Every model served by generateContent also streams; tools,
            // images, schemas and thinking vary by model.
            capabilities: Capabilities::unknown().streaming(true),
        }
    }
}

/// The Gemini API (`generateContent`, `streamGenerateContent`) as a
/// [`Provider`]. Cloning shares the one HTTP client.
///
/// ```
/// use majordomo::providers::gemini::{GeminiConfig, GeminiProvider};
/// use majordomo::Provider;
///
/// let gemini = GeminiProvider::new(GeminiConfig::new().api_key("AIza-example"))?;
/// let model = gemini.model("gemini-2.5-flash")?;
/// assert_eq!(model.capabilities().streaming, Some(true));
/// # Ok::<(), majordomo::Error>(())
/// ```
#[derive(Clone)]
pub struct GeminiProvider {
    inner: HttpProvider<GenerateContent>,
    media_limits: MediaLimits,
}

/// The generateContent protocol of one provider instance.
#[derive(Debug)]
pub(crate) struct GenerateContent {
    media_limits: MediaLimits,
}

impl Protocol for GenerateContent {
    type Framing = SseDecoder;
    type Handler = GeminiStream;
    const PROTOCOL: &'static str = "gemini";
    // A Gemini stream is handed out as soon as its head arrives; its errors
    // are refined like a whole answer's.
    const WAIT_FOR_FIRST_EVENT: bool = false;
    const REFINE_STREAM_ERRORS: bool = true;

    fn headers(&self, client: &HttpClient) -> Result<HeaderMap> {
        key_header(client, HeaderName::from_static(API_KEY_HEADER), "")
    }

    fn accept(&self, _streaming: bool) -> Option<&'static str> {
        None
    }

    /// `/models/{id}:{method}`; ids already naming their collection
    /// (`models/…`, `tunedModels/…`) keep it.
    fn path<'a>(&'a self, model: &str, streaming: bool) -> Cow<'a, str> {
        let method = if streaming {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        let (collection, name) = match model.split_once('/') {
            Some((c @ ("models" | "tunedModels"), rest)) => (c, rest),
            _ => ("models", model),
        };
        Cow::Owned(format!(
            "/{collection}/{}:{method}",
            utf8_percent_encode(name, SEGMENT)
        ))
    }

    async fn body(&self, call: Call<'_>, request: &Request, _streaming: bool) -> Result<Vec<u8>> {
        let cx = BuildContext {
            provider: call.provider,
            model: call.model,
            client: call.client,
            media_limits: &self.media_limits,
        };
        let body = request::build(request, &cx).await.map_err(refine)?;
        serde_json::to_vec(&body)
            .map_err(|e| Error::config(format!("cannot encode the request: {e}")))
    }

    fn answer(&self, body: &[u8], target: &Target, secret: Option<&Secret>) -> Result<Response> {
        let wire: GenerateContentResponse = serde_json::from_slice(body)
            .map_err(|e| refine(errors::decode_error("unexpected response body", &e, secret)))?;
        response::to_response(wire, target.provider(), target.model()).map_err(refine)
    }

    fn stream(
        &self,
        _model: Arc<OnceLock<String>>,
        secret: Option<Secret>,
    ) -> (SseDecoder, GeminiStream) {
        (SseDecoder::new(), GeminiStream::new(secret))
    }

    fn refine(&self, error: Error) -> Error {
        refine(error)
    }
}

/// The shared part of a provider named `name` over `settings`.
fn shared(
    name: String,
    settings: HttpSettings,
    media_limits: MediaLimits,
) -> Result<Shared<GenerateContent>> {
    Shared::new(
        name,
        HttpClient::new(settings)?,
        GenerateContent { media_limits },
    )
}

/// The built-in's shared part: the key from [`KEY_VARIABLES`].
fn builtin_from_env(name: &str, context: &scheme::BuildContext) -> Result<Shared<GenerateContent>> {
    let config = GeminiConfig::new().name(name);
    let key = KEY_VARIABLES
        .iter()
        .find_map(|var| context.var(var).filter(|v| !v.trim().is_empty()))
        .ok_or_else(|| refine(Error::missing_credential(name, &KEY_VARIABLES.join(" or "))))?;
    shared(
        config.name,
        context.http(config.settings.api_key(key)),
        config.media_limits,
    )
}

impl GeminiProvider {
    /// A provider for `config`, with its HTTP client built once.
    ///
    /// # Errors
    /// A configuration error for a malformed header or a TLS backend that
    /// cannot start.
    pub fn new(config: GeminiConfig) -> Result<Self> {
        let media_limits = config.media_limits;
        let shared = shared(config.name, config.settings, config.media_limits)?;
        Ok(GeminiProvider {
            inner: HttpProvider::new(Arc::new(shared), config.capabilities),
            media_limits,
        })
    }

    /// The built-in provider: reads the key from [`KEY_VARIABLES`] through
    /// `context` when first used.
    pub(crate) fn from_env(context: scheme::BuildContext) -> Self {
        let config = GeminiConfig::new();
        GeminiProvider {
            inner: HttpProvider::lazy(
                &config.name,
                &context,
                builtin_from_env,
                config.capabilities,
            ),
            media_limits: config.media_limits,
        }
    }
}

impl fmt::Debug for GeminiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("GeminiProvider");
        d.field("name", &self.inner.name());
        match self.inner.shared() {
            Some(shared) => d.field("client", shared.client()),
            None => d.field("client", &"from environment"),
        };
        d.field("media_limits", &self.media_limits)
            .field("capabilities", self.inner.capabilities())
            .finish()
    }
}

delegate_provider!(GeminiProvider);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::scheme::EnvLookup;
    use std::time::Duration;

    fn lookup(vars: &'static [(&'static str, &'static str)]) -> EnvLookup {
        Arc::new(move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_config_getters_show_what_the_builder_set() {
        let config = GeminiConfig::default();
        assert_eq!(config.provider_name(), "gemini");
        assert_eq!(config.http_settings().base_url(), DEFAULT_BASE_URL);
        assert!(config.http_settings().credential().is_none());

        let config = GeminiConfig::new()
            .name("g")
            .api_key("AIza-secret-123")
            .base_url("http://127.0.0.1:1/v1beta/")
            .timeout(Duration::from_secs(7))
            .connect_timeout(Duration::from_secs(3));
        assert_eq!(config.provider_name(), "g");
        let settings = config.http_settings();
        assert_eq!(settings.base_url(), "http://127.0.0.1:1/v1beta");
        assert_eq!(settings.credential().unwrap().expose(), "AIza-secret-123");
        assert_eq!(settings.request_timeout, Duration::from_secs(7));
        assert_eq!(settings.connect_timeout, Duration::from_secs(3));
        assert!(!format!("{config:?}").contains("AIza-secret-123"));
    }

    #[test]
    fn http_replaces_the_key_url_timeouts_and_headers() {
        let config = GeminiConfig::new()
            .api_key("old-key")
            .timeout(Duration::from_secs(7))
            .header("x-old", "secret-header-value")
            .http(HttpSettings::new("http://127.0.0.1:2/v1beta"));
        let settings = config.http_settings();
        assert_eq!(settings.base_url(), "http://127.0.0.1:2/v1beta");
        assert!(settings.credential().is_none());
        assert_eq!(
            settings.request_timeout,
            crate::providers::http::DEFAULT_REQUEST_TIMEOUT
        );
        assert!(!format!("{settings:?}").contains("x-old"));
        let with_header = GeminiConfig::new().header("x-new", "secret-header-value");
        let debug = format!("{with_header:?}");
        assert!(debug.contains("x-new"), "{debug}");
        assert!(!debug.contains("secret-header-value"), "{debug}");
    }

    #[test]
    fn models_declare_streaming_unless_capabilities_are_given() {
        let model = GeminiProvider::new(GeminiConfig::new())
            .unwrap()
            .model("gemini-2.5-flash")
            .unwrap();
        assert_eq!(
            model.capabilities(),
            &Capabilities::unknown().streaming(true)
        );
        let declared = Capabilities::unknown()
            .streaming(true)
            .tools(true)
            .images(false)
            .context_window(1_048_576);
        let provider =
            GeminiProvider::new(GeminiConfig::new().capabilities(declared.clone())).unwrap();
        assert_eq!(
            provider.model("gemini-2.5-flash").unwrap().capabilities(),
            &declared
        );
        let builtin = GeminiProvider::from_env(scheme::BuildContext::new(lookup(&[])));
        assert_eq!(
            builtin.model("gemini-2.5-pro").unwrap().capabilities(),
            &Capabilities::unknown().streaming(true)
        );
    }

    #[test]
    fn the_builtin_key_comes_from_gemini_then_google_variables() {
        let key = |vars| {
            let provider = GeminiProvider::from_env(scheme::BuildContext::new(lookup(vars)));
            let shared = provider.inner.built();
            shared.map(|s| s.client().credential().map(|k| k.expose().to_owned()))
        };
        assert_eq!(
            key(&[("GOOGLE_API_KEY", "google-key")]).unwrap().as_deref(),
            Some("google-key")
        );
        assert_eq!(
            key(&[
                ("GOOGLE_API_KEY", "google-key"),
                ("GEMINI_API_KEY", "gemini-key")
            ])
            .unwrap()
            .as_deref(),
            Some("gemini-key")
        );
        let error = key(&[("GEMINI_API_KEY", " ")]).unwrap_err();
        assert!(error.message().contains("GEMINI_API_KEY or GOOGLE_API_KEY"));
    }

    #[test]
    fn the_builtin_reads_its_environment_only_when_used() {
        let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&reads);
        let env: EnvLookup = Arc::new(move |_: &str| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Some("k-123456".to_owned())
        });
        let provider = GeminiProvider::from_env(scheme::BuildContext::new(env));
        let _model = provider.model("gemini-2.5-flash").unwrap();
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 0);
        provider.inner.built().unwrap();
        provider.inner.built().unwrap();
        assert_eq!(
            reads.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "built once"
        );
    }
}
