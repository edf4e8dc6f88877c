//! [`HttpSettings`] (where a provider lives and how long to wait) and
//! [`HttpClient`]: one `reqwest` client per provider instance, so connections
//! are reused across calls and models (ADR 0010).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::errors;
use crate::{Dsn, Error, ErrorClass, Result, Secret};

/// Default time to establish a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on a `generate` call and on a stream's wait for its first event.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// Default bound on the gap between two events of a stream (the DSN option
/// `idle_timeout`). Once a model streams, tokens come many times a second;
/// the longest real pauses (a reasoning phase ending, a large tool call being
/// prepared) last seconds. A minute is ample headroom for those and still
/// ends a dead or trickling stream within a minute, as `Deadlines::idle` does.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default cap on one stream event (an SSE event or an NDJSON line), in bytes.
/// Real events are a few hundred bytes; the largest (an inline image from an
/// image-generating model) are a few MiB. Past the cap the stream ends with a
/// decode error rather than buffering a line that never ends.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 8 * 1024 * 1024;

/// The `User-Agent` of every request.
const USER_AGENT: &str = concat!("majordomo/", env!("CARGO_PKG_VERSION"));

/// Where an HTTP provider's server is and how long to wait for it.
///
/// ```
/// use std::time::Duration;
/// use majordomo::providers::http::HttpSettings;
/// let settings = HttpSettings::new("http://127.0.0.1:8000/v1")
///     .api_key("sk-test")
///     .timeout(Duration::from_secs(30));
/// assert_eq!(settings.base_url(), "http://127.0.0.1:8000/v1");
/// // Between stream events: 60 s by default, or the timeout when shorter.
/// assert_eq!(settings.stream_idle_timeout(), Duration::from_secs(30));
/// let settings = settings.idle_timeout(Duration::from_secs(5)).max_event_size(1 << 20);
/// assert_eq!(settings.stream_idle_timeout(), Duration::from_secs(5));
/// assert!(!format!("{settings:?}").contains("sk-test"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpSettings {
    base_url: String,
    credential: Option<Secret>,
    /// Bound on a whole `generate` call, and on a stream's time to its first
    /// event, the request included (a cap on a whole stream would cut long
    /// answers). The DSN option `timeout`.
    pub request_timeout: Duration,
    /// Bound on the gap between two events of a stream; comments and
    /// keep-alives are not events. The DSN option `idle_timeout`;
    /// `Duration::MAX` turns it off. `None` (the default) means
    /// [`DEFAULT_IDLE_TIMEOUT`], or `request_timeout` when that is shorter: a
    /// caller who gives a stream two seconds for its first event does not
    /// mean to wait a minute between the next ones.
    pub idle_timeout: Option<Duration>,
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
    /// Largest single stream event (SSE event or NDJSON line), in bytes.
    pub max_event_size: usize,
    headers: Vec<(String, String)>,
    /// The host's own client, when given with [`HttpSettings::client`].
    client: Option<reqwest::Client>,
}

impl HttpSettings {
    /// A server at `base_url` (scheme, host, port and base path, e.g.
    /// `https://api.openai.com/v1`), no credential, default timeouts.
    pub fn new(base_url: impl Into<String>) -> Self {
        let mut base_url = base_url.into();
        while base_url.ends_with('/') {
            base_url.pop();
        }
        HttpSettings {
            base_url,
            credential: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            idle_timeout: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
            headers: Vec::new(),
            client: None,
        }
    }

    /// Settings from a DSN: its base URL, credential and the `timeout`,
    /// `idle_timeout` and `connect_timeout` options; `default_timeout` applies
    /// when the DSN gives no `timeout`.
    ///
    /// # Errors
    /// A configuration error naming the variable for a malformed duration.
    pub fn from_dsn(dsn: &Dsn, default_timeout: Duration) -> Result<Self> {
        let mut settings = HttpSettings::new(dsn.base_url());
        settings.credential = dsn.credential().cloned().filter(|c| !c.is_empty());
        settings.request_timeout = dsn.duration_option("timeout")?.unwrap_or(default_timeout);
        if let Some(connect) = dsn.duration_option("connect_timeout")? {
            settings.connect_timeout = connect;
        }
        if let Some(idle) = dsn.duration_option("idle_timeout")? {
            settings.idle_timeout = Some(idle);
        }
        Ok(settings)
    }

    /// Replaces the base URL (a trailing `/` removed), keeping the credential,
    /// timeouts and headers.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        let mut base_url = base_url.into();
        while base_url.ends_with('/') {
            base_url.pop();
        }
        self.base_url = base_url;
        self
    }

    /// Sets the credential (API key or bearer token).
    pub fn api_key(mut self, key: impl Into<Secret>) -> Self {
        let key = key.into();
        self.credential = (!key.is_empty()).then_some(key);
        self
    }

    /// Sets the request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the bound on the gap between two stream events.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// The bound on the gap between two stream events in effect: the one set,
    /// else [`DEFAULT_IDLE_TIMEOUT`] or `request_timeout`, whichever is shorter.
    pub fn stream_idle_timeout(&self) -> Duration {
        self.idle_timeout
            .unwrap_or(DEFAULT_IDLE_TIMEOUT.min(self.request_timeout))
    }

    /// Sets the largest single stream event, in bytes (at least 1).
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.max_event_size = bytes.max(1);
        self
    }

    /// Adds a header sent with every request (e.g. OpenRouter's `X-Title`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends every request through `client`, a `reqwest::Client` the host
    /// configured (proxies, TLS roots, pool, its own default headers),
    /// instead of one the provider builds. The user agent and the headers set
    /// with [`HttpSettings::header`] then go on each request (over the
    /// client's defaults of the same name); the connect and read timeouts are
    /// the client's, while `request_timeout` and the stream deadlines still
    /// bound each call. Image fetches never use it (they must not carry the
    /// provider's credential or headers).
    ///
    /// ```
    /// use majordomo::providers::http::HttpSettings;
    /// let client = reqwest::Client::builder().build().unwrap();
    /// let settings = HttpSettings::new("http://127.0.0.1:8000/v1").client(client);
    /// assert!(settings.has_client());
    /// ```
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// True when the host's own client was given with [`HttpSettings::client`].
    pub fn has_client(&self) -> bool {
        self.client.is_some()
    }

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The credential, if any.
    pub fn credential(&self) -> Option<&Secret> {
        self.credential.as_ref()
    }
}

impl fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSettings")
            .field("base_url", &self.base_url)
            .field("credential", &self.credential.as_ref().map(|_| "***"))
            .field("request_timeout", &self.request_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_event_size", &self.max_event_size)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("host_client", &self.client.is_some())
            .finish()
    }
}

impl crate::BuildContext {
    /// `settings` with the host's client, when there is one.
    pub(crate) fn http(&self, settings: HttpSettings) -> HttpSettings {
        match self.http_client() {
            Some(client) => settings.client(client.clone()),
            None => settings,
        }
    }
}

/// One provider instance's HTTP client. Cloning shares the connection pool.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    settings: HttpSettings,
    /// With the host's client: the user agent and configured headers, sent
    /// on each request since they are not the client's defaults.
    request_headers: Option<HeaderMap>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Where a call goes: parsed once, or text that did not parse (sending it
/// reports the error).
#[derive(Debug, Clone)]
pub(crate) enum CallUrl {
    /// A parsed URL, cloned per call.
    Parsed(reqwest::Url),
    /// A URL that does not parse.
    Text(String),
}

/// A successful answer whose body has not been read yet.
pub struct HttpResponse {
    pub(crate) inner: reqwest::Response,
    pub(crate) secret: Option<Secret>,
    pub(crate) limits: StreamLimits,
}

/// What bounds a stream read from an [`HttpResponse`] (ADR 0015).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamLimits {
    /// When the request was sent: the first-event deadline counts from here.
    pub(crate) started: tokio::time::Instant,
    /// Time from `started` to the first event.
    pub(crate) first_event: Duration,
    /// Time between two events.
    pub(crate) idle: Duration,
    /// Largest single event, in bytes.
    pub(crate) max_event_size: usize,
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.inner.status().as_u16())
            .finish_non_exhaustive()
    }
}

impl HttpResponse {
    /// The whole body, at most [`MAX_BODY`] bytes.
    ///
    /// # Errors
    /// A transient transport or timeout error when the body cannot be read;
    /// a decode error for a body over the cap.
    pub fn bytes(self) -> impl std::future::Future<Output = Result<Bytes>> {
        // Taken apart here, not in an `async fn`, whose future would hold
        // the whole answer and its parts besides.
        let HttpResponse {
            mut inner, secret, ..
        } = self;
        async move {
            if inner.content_length().is_some_and(|n| n > MAX_BODY as u64) {
                return Err(too_large());
            }
            // Most answers arrive as one chunk: it is handed on without a copy.
            let mut first: Option<Bytes> = None;
            let mut body = Vec::new();
            while let Some(chunk) = inner
                .chunk()
                .await
                .map_err(|e| errors::from_transport(&e, secret.as_ref()))?
            {
                if body.is_empty() && first.is_none() {
                    if chunk.len() > MAX_BODY {
                        return Err(too_large());
                    }
                    first = Some(chunk);
                    continue;
                }
                if let Some(first) = first.take() {
                    body.reserve(first.len() + chunk.len());
                    body.extend_from_slice(&first);
                }
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(first.unwrap_or_else(|| Bytes::from(body)))
        }
    }
}

impl HttpClient {
    /// A client for `settings`: rustls, a connection pool, the connect timeout,
    /// and the request timeout as a bound on each read.
    ///
    /// # Errors
    /// A configuration error when a header is malformed or the TLS backend
    /// cannot start.
    pub fn new(settings: HttpSettings) -> Result<Self> {
        let mut headers = HeaderMap::new();
        for (name, value) in &settings.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::config(format!("invalid header name {name:?}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| Error::config(format!("invalid value for header {name}")))?;
            headers.insert(name, value);
        }
        if let Some(client) = &settings.client {
            let mut request_headers = HeaderMap::new();
            request_headers.insert(
                reqwest::header::USER_AGENT,
                HeaderValue::from_static(USER_AGENT),
            );
            request_headers.extend(headers);
            return Ok(HttpClient {
                client: client.clone(),
                settings,
                request_headers: Some(request_headers),
            });
        }
        // No read or per-request timeout on the client (ADR 0021): each
        // costs reqwest a timer per call or per read, and our own deadlines
        // already bound every wait: one timer over a whole `generate` (see
        // `HttpClient::post`), the headers wait of a stream, and the
        // first-event and idle deadlines of its events (`body::event_stream`).
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .default_headers(headers)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpClient {
            client,
            settings,
            request_headers: None,
        })
    }

    /// The settings the client was built from.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// The credential, if any.
    pub fn credential(&self) -> Option<&Secret> {
        self.settings.credential.as_ref()
    }

    /// `base_url` joined with `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        let mut url = String::with_capacity(self.settings.base_url.len() + path.len());
        url.push_str(&self.settings.base_url);
        url.push_str(path);
        url
    }

    /// The URL of `path`, parsed once by the caller and kept: parsing costs
    /// more than the rest of building a request. A URL that does not parse
    /// stays text, so that sending it reports reqwest's own error.
    pub(crate) fn call_url(&self, path: &str) -> CallUrl {
        let text = self.url(path);
        match reqwest::Url::parse(&text) {
            Ok(url) => CallUrl::Parsed(url),
            Err(_) => CallUrl::Text(text),
        }
    }

    /// The headers of every call: with the host's client, the user agent
    /// and configured headers (they are not its defaults); then `protocol`'s
    /// (credentials); then the JSON content type and `accept`. Built once per
    /// provider and kind of call, and cloned per call.
    pub(crate) fn call_headers(
        &self,
        protocol: &HeaderMap,
        accept: Option<&'static str>,
    ) -> HeaderMap {
        let mut headers = self.request_headers.clone().unwrap_or_default();
        // As reqwest's `RequestBuilder::headers`: each name replaces the
        // same name before it, its own repeated values all kept.
        let mut previous: Option<&HeaderName> = None;
        for (name, value) in protocol {
            if previous == Some(name) {
                headers.append(name, value.clone());
            } else {
                headers.insert(name, value.clone());
            }
            previous = Some(name);
        }
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(accept) = accept {
            headers.insert(reqwest::header::ACCEPT, HeaderValue::from_static(accept));
        }
        headers
    }

    /// POSTs `body` (already serialized JSON) to `url` with `headers` (from
    /// [`HttpClient::call_headers`]). A non-success status becomes the mapped
    /// error, its body read first.
    ///
    /// A stream's wait for its headers is bounded here by the request
    /// timeout. A `generate` is not: its caller bounds the whole exchange,
    /// the answer's body included, with one timer (ADR 0021), as
    /// [`HttpClient::generate_deadline`] does.
    ///
    /// # Errors
    /// Transport, timeout and HTTP errors, classified (design §2).
    pub(crate) async fn post(
        &self,
        url: &CallUrl,
        headers: HeaderMap,
        body: Vec<u8>,
        streaming: bool,
    ) -> Result<HttpResponse> {
        let secret = self.settings.credential.as_ref();
        let started = tokio::time::Instant::now();
        let request = match url {
            CallUrl::Parsed(url) => {
                let mut request = reqwest::Request::new(reqwest::Method::POST, url.clone());
                *request.headers_mut() = headers;
                *request.body_mut() = Some(body.into());
                request
            }
            CallUrl::Text(url) => self
                .client
                .post(url)
                .headers(headers)
                .body(body)
                .build()
                .map_err(|e| errors::from_transport(&e, secret))?,
        };
        let send = self.client.execute(request);
        let response = if streaming {
            // Nothing else bounds the wait for the headers of a stream
            // whose server is silent; the request timeout does.
            match tokio::time::timeout(self.settings.request_timeout, send).await {
                Ok(result) => result.map_err(|e| errors::from_transport(&e, secret))?,
                Err(_) => {
                    return Err(Error::timeout(format!(
                        "no answer within {:?}",
                        self.settings.request_timeout
                    )));
                }
            }
        } else {
            send.await.map_err(|e| errors::from_transport(&e, secret))?
        };
        // A failure's body is read in a box of its own: its reading should
        // not sit in every call's future (ADR 0021).
        let failure = match self.accept(response, started) {
            Accepted::Answer(answer) => return Ok(answer),
            Accepted::Failed(response) => Box::pin(self.failure(response, started)),
        };
        Err(failure.await)
    }

    /// Runs `exchange` (a whole `generate`: request, answer and its body)
    /// within the request timeout: one timer for the call, where reqwest's
    /// own timeouts arm one per request and per read.
    ///
    /// # Errors
    /// `exchange`'s error, or a timeout error once the request timeout passes.
    ///
    /// A plain function, not an `async fn`: that would hold `exchange` twice
    /// in its future, as its argument and inside the timer (ADR 0021).
    pub(crate) fn generate_deadline<T>(
        &self,
        exchange: impl std::future::Future<Output = Result<T>>,
    ) -> impl std::future::Future<Output = Result<T>> {
        use futures::FutureExt as _;
        let limit = self.settings.request_timeout;
        tokio::time::timeout(limit, exchange).map(move |outcome| match outcome {
            Ok(result) => result,
            Err(_) => Err(Error::timeout(format!(
                "request timed out: no answer within {limit:?}"
            ))),
        })
    }

    /// GETs `url` (absolute), for the media pipeline: the answer's head, its
    /// body not read yet.
    ///
    /// The request does not go through this provider's client: an image host
    /// is not the provider, so it must never see the provider's credential or
    /// default headers. One separate client serves every provider's image
    /// fetches: no default headers, no connection pool (an image is fetched
    /// once per call, and no connection outlives the runtime that opened it),
    /// at most a few redirects and only to `http`/`https`. Errors never carry
    /// the URL (its query may hold a token).
    ///
    /// # Errors
    /// Transport and timeout errors.
    pub async fn get_absolute(&self, url: &str, timeout: Duration) -> Result<reqwest::Response> {
        /// Redirects followed before giving up.
        const MAX_REDIRECTS: usize = 5;
        static MEDIA_CLIENT: std::sync::OnceLock<std::result::Result<reqwest::Client, String>> =
            std::sync::OnceLock::new();
        let client = MEDIA_CLIENT.get_or_init(|| {
            let redirects = reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() > MAX_REDIRECTS {
                    attempt.error("too many redirects")
                } else if !matches!(attempt.url().scheme(), "http" | "https") {
                    attempt.error("redirect to a URL that is not http or https")
                } else {
                    attempt.follow()
                }
            });
            reqwest::Client::builder()
                .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
                .pool_max_idle_per_host(0)
                .redirect(redirects)
                .user_agent(USER_AGENT)
                .build()
                .map_err(|e| format!("cannot build the HTTP client for images: {e}"))
        });
        let client = client.as_ref().map_err(|e| Error::config(e.clone()))?;
        let _ = self;
        client
            .get(url)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| errors::from_transport(&e.without_url(), None))
    }

    /// The answer when its status is a success; otherwise the response
    /// back, for [`HttpClient::failure`].
    fn accept(&self, response: reqwest::Response, started: tokio::time::Instant) -> Accepted {
        if !response.status().is_success() {
            return Accepted::Failed(response);
        }
        Accepted::Answer(HttpResponse {
            inner: response,
            secret: self.settings.credential.clone(),
            limits: StreamLimits {
                started,
                first_event: self.settings.request_timeout,
                idle: self.settings.stream_idle_timeout(),
                max_event_size: self.settings.max_event_size,
            },
        })
    }

    /// The error of an answer whose status is not a success.
    async fn failure(&self, response: reqwest::Response, started: tokio::time::Instant) -> Error {
        let status = response.status();
        let secret = self.settings.credential.as_ref();
        let headers = response.headers().clone();
        let url = route_of(response.url());
        // Error bodies are small; a larger one is cut (never read without
        // bound, in size or in time: a body trickling a byte a second is cut
        // at the request timeout), and a failure to read it still leaves the
        // status.
        let deadline = crate::timeout::instant_after(started, self.settings.request_timeout);
        let body = read_capped(response, MAX_ERROR_BODY, deadline).await;
        let error = errors::from_status(status.as_u16(), &headers, &body, secret);
        if status == reqwest::StatusCode::NOT_FOUND && error.class() == ErrorClass::Permanent {
            return Error::api(
                404,
                format!(
                    "POST {url} answered 404 and no model-not-found signal ({}): check the base URL's path",
                    error.message()
                ),
            )
            .with_code(ROUTE_NOT_FOUND)
            .with_class(ErrorClass::Permanent);
        }
        error
    }
}

/// An answer as its status reads it.
enum Accepted {
    /// A success: the answer, its body not read yet.
    Answer(HttpResponse),
    /// Any other status: the response, its body holding the error.
    Failed(reqwest::Response),
}

/// Largest answer body read whole: far above any real chat answer, so a
/// broken or hostile server cannot make us buffer without bound.
pub const MAX_BODY: usize = 32 * 1024 * 1024;

fn too_large() -> Error {
    Error::decode(format!("the answer body is over {MAX_BODY} bytes"))
}

/// The code of a 404 that names no model: a wrong base URL or route. Protocol
/// refinements leave such an error alone (its message quotes "not found").
pub const ROUTE_NOT_FOUND: &str = "route_not_found";

/// `url` without its query or fragment, which may carry a token.
fn route_of(url: &reqwest::Url) -> String {
    let mut route = url.clone();
    route.set_query(None);
    route.set_fragment(None);
    // Credentials travel in headers; a URL with user info is cleaned anyway.
    let _ = route.set_username("");
    let _ = route.set_password(None);
    route.to_string()
}

/// Most of an error body we read.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Up to `cap` bytes of `response`'s body, read until `deadline`; what could
/// be read if it fails or the deadline passes.
async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
    deadline: tokio::time::Instant,
) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, response.chunk()).await {
        let room = cap.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= cap {
            break;
        }
    }
    body
}
