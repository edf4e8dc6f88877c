//! [`GeminiProvider`] and the generateContent protocol on the provider core.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{HeaderMap, HeaderName};

use super::config::GeminiConfig;
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
use crate::providers::http::{MediaLimits, SseDecoder};
use crate::scheme;
use crate::{Error, Request, Response, Result, Secret, Target};

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

/// The Gemini API (`generateContent`, `streamGenerateContent`) as a
/// [`Provider`](crate::Provider). Cloning shares the one HTTP client.
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

/// The protocol of a provider for `config`.
fn protocol(config: &GeminiConfig) -> GenerateContent {
    GenerateContent {
        media_limits: config.media_limits,
    }
}

/// The built-in's shared part: the key from [`KEY_VARIABLES`].
fn builtin_from_env(name: &str, context: &scheme::BuildContext) -> Result<Shared<GenerateContent>> {
    let key = KEY_VARIABLES
        .iter()
        .find_map(|var| context.var(var).filter(|v| !v.trim().is_empty()))
        .ok_or_else(|| refine(Error::missing_credential(name, &KEY_VARIABLES.join(" or "))))?;
    let config = GeminiConfig::new().name(name).api_key(key);
    config.in_context(context).into_shared(protocol)
}

impl GeminiProvider {
    /// A provider for `config`, with its HTTP client built once.
    ///
    /// # Errors
    /// A configuration error for a malformed header or a TLS backend that
    /// cannot start.
    pub fn new(config: GeminiConfig) -> Result<Self> {
        let (_, inner) = config.into_provider(protocol)?;
        Ok(GeminiProvider { inner })
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
        }
    }
}

impl fmt::Debug for GeminiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GeminiProvider").field(&self.inner).finish()
    }
}

delegate_provider!(GeminiProvider);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::providers::gemini::DEFAULT_BASE_URL;
    use crate::providers::http::HttpSettings;
    use crate::scheme::EnvLookup;
    use crate::{Capabilities, Provider};
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
