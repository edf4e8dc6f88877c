//! The one HTTP model (issue 13, ADR 0019): a [`Protocol`] says only what
//! differs between wire formats (the call's path, headers and body from a
//! [`Request`], how to read an answer and one stream event, which error
//! signals its bodies carry); [`HttpProvider`] and its models own the rest
//! once: the client (built with the provider, or lazily from the environment
//! for a built-in), auth headers, media prefetch, body and event limits,
//! `Retry-After` and error mapping (in [`HttpClient`]), the stream driver and
//! its first-event and idle deadlines ([`body::event_stream`]), and the wait
//! for the first event, so that an error before any output is returned where
//! a chain can still fail over.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};

use futures::{FutureExt as _, StreamExt as _};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::body::{self, FrameHandler, Framing};
use super::client::{CallUrl, HttpClient, HttpResponse};
use crate::scheme::BuildContext;
use crate::telemetry::{CallSpan, await_in_span};
use crate::{
    Capabilities, Error, EventStream, Model, Provider, Request, Response, Result, Secret, Target,
};

/// One wire protocol: what a call looks like on the wire, and how its answers
/// read. Everything else is the HTTP model's.
pub(crate) trait Protocol: fmt::Debug + Send + Sync + 'static {
    /// Cuts a streamed body into frames (SSE events, NDJSON lines).
    type Framing: Framing;
    /// Turns frames into events.
    type Handler: FrameHandler<<Self::Framing as Framing>::Frame>;

    /// The protocol's name (`openai`, `anthropic`, `ollama`, `gemini`,
    /// `azure`): on spans and usage records (ADR 0020).
    const PROTOCOL: &'static str;

    /// Whether opening a stream waits for its first event, so that an error
    /// before any output is returned by `stream` itself (where a chain can
    /// still fail over) and the model the server names is known.
    const WAIT_FOR_FIRST_EVENT: bool = true;

    /// Whether errors in a stream go through [`Protocol::refine`] too (read
    /// by protocols that do not wait for the first event).
    const REFINE_STREAM_ERRORS: bool = false;

    /// The headers of every call, built once with the client: credentials
    /// (marked sensitive) and fixed protocol headers.
    ///
    /// # Errors
    /// A configuration error for a value a header cannot carry.
    fn headers(&self, client: &HttpClient) -> Result<HeaderMap>;

    /// The `Accept` header of a call; `None` sends none.
    fn accept(&self, streaming: bool) -> Option<&'static str> {
        Some(if streaming {
            "text/event-stream"
        } else {
            "application/json"
        })
    }

    /// The path of a call for `model`, relative to the base URL (a query
    /// included).
    fn path<'a>(&'a self, model: &str, streaming: bool) -> Cow<'a, str>;

    /// The serialized body of a call. Images the protocol sends as bytes are
    /// fetched through [`crate::providers::http::media`] with `call.client`
    /// (the request's media cache makes that once per chain call).
    ///
    /// # Errors
    /// A configuration error when the request cannot be expressed; the
    /// request-specific error of an image that cannot be fetched.
    fn body<'a>(
        &'a self,
        call: Call<'a>,
        request: &'a Request,
        streaming: bool,
    ) -> impl Future<Output = Result<Vec<u8>>> + Send + 'a;

    /// A whole answer read into a response.
    ///
    /// # Errors
    /// A decode error, or the error the body carries.
    fn answer(&self, body: &[u8], target: &Target, secret: Option<&Secret>) -> Result<Response>;

    /// The framing and handler of one streamed answer. `model` receives the
    /// model the server names, when the protocol's events name it.
    fn stream(
        &self,
        model: Arc<OnceLock<String>>,
        secret: Option<Secret>,
    ) -> (Self::Framing, Self::Handler);

    /// The error of a call that failed before its body, refined with the
    /// protocol's own signals. The default keeps it.
    fn refine(&self, error: Error) -> Error {
        error
    }
}

/// The credential of `client`, when it has one, as the header `name` with
/// `prefix` before it (`"Bearer "`, or `""`), marked sensitive so that no
/// `Debug` output shows it.
///
/// # Errors
/// A configuration error when the credential has characters a header
/// cannot carry (the error never shows the credential).
pub(crate) fn key_header(client: &HttpClient, name: HeaderName, prefix: &str) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    if let Some(key) = client.credential() {
        let mut value = HeaderValue::from_str(&format!("{prefix}{}", key.expose()))
            .map_err(|_| Error::config("the API key has characters an HTTP header cannot carry"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(headers)
}

/// Implements [`Provider`] for a public provider type by handing every call
/// to its `inner` [`HttpProvider`].
macro_rules! delegate_provider {
    ($ty:ty) => {
        impl $crate::Provider for $ty {
            fn name(&self) -> &str {
                self.inner.name()
            }

            fn model(&self, id: &str) -> $crate::Result<std::sync::Arc<dyn $crate::Model>> {
                self.inner.model(id)
            }
        }
    };
}
pub(crate) use delegate_provider;

/// Who a call is for, as a protocol building its body sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// The provider's name (its own thinking parts go back to it).
    #[cfg_attr(not(any(feature = "ollama", feature = "gemini")), allow(dead_code))]
    pub(crate) provider: &'a str,
    /// The model id.
    pub(crate) model: &'a str,
    /// The provider's client, for media fetches.
    pub(crate) client: &'a HttpClient,
}

/// What every model of a provider instance shares: its name, client, headers
/// and protocol.
pub(crate) struct Shared<P> {
    name: String,
    client: HttpClient,
    /// Every header of a call, built once: `[plain, streaming]`.
    headers: [HeaderMap; 2],
    protocol: P,
}

impl<P: Protocol> Shared<P> {
    /// The client for `settings`-built `client`, with the protocol's headers.
    ///
    /// # Errors
    /// As [`Protocol::headers`].
    pub(crate) fn new(name: String, client: HttpClient, protocol: P) -> Result<Self> {
        let own = protocol
            .headers(&client)
            .map_err(|e| e.with_provider(name.as_str()))?;
        let headers =
            [false, true].map(|streaming| client.call_headers(&own, protocol.accept(streaming)));
        Ok(Shared {
            name,
            client,
            headers,
            protocol,
        })
    }

    /// The HTTP client.
    pub(crate) fn client(&self) -> &HttpClient {
        &self.client
    }

    /// The protocol.
    pub(crate) fn protocol(&self) -> &P {
        &self.protocol
    }
}

/// Builds a built-in provider's shared part (for the provider of that name)
/// from its environment on first use.
type Build<P> = fn(&str, &BuildContext) -> Result<Shared<P>>;

/// Where a model finds its provider's shared part.
enum Source<P> {
    /// Built with the provider.
    Ready(Arc<Shared<P>>),
    /// A built-in: built from the environment on first success. A failure
    /// (a missing key) is not remembered, so setting it later takes effect.
    Lazy {
        context: BuildContext,
        build: Build<P>,
        built: OnceLock<Arc<Shared<P>>>,
    },
}

impl<P: Protocol> Source<P> {
    fn shared(&self, name: &str) -> Result<Arc<Shared<P>>> {
        match self {
            Source::Ready(shared) => Ok(Arc::clone(shared)),
            Source::Lazy {
                context,
                build,
                built,
            } => {
                if let Some(shared) = built.get() {
                    return Ok(Arc::clone(shared));
                }
                let shared = Arc::new(build(name, context)?);
                Ok(Arc::clone(built.get_or_init(|| shared)))
            }
        }
    }
}

/// A provider speaking protocol `P` over HTTP: one client (one connection
/// pool) shared by all its models.
pub(crate) struct HttpProvider<P> {
    name: Arc<str>,
    source: Arc<Source<P>>,
    capabilities: Capabilities,
}

impl<P> Clone for HttpProvider<P> {
    fn clone(&self) -> Self {
        HttpProvider {
            name: Arc::clone(&self.name),
            source: Arc::clone(&self.source),
            capabilities: self.capabilities.clone(),
        }
    }
}

impl<P: Protocol> HttpProvider<P> {
    /// A provider over `shared`, its models declaring `capabilities`.
    pub(crate) fn new(shared: Arc<Shared<P>>, capabilities: Capabilities) -> Self {
        HttpProvider {
            name: Arc::from(shared.name.as_str()),
            source: Arc::new(Source::Ready(shared)),
            capabilities,
        }
    }

    /// A built-in provider `name`, built by `build` from `context` when first
    /// called (never at construction).
    pub(crate) fn lazy(
        name: &str,
        context: &BuildContext,
        build: Build<P>,
        capabilities: Capabilities,
    ) -> Self {
        HttpProvider {
            name: Arc::from(name),
            source: Arc::new(Source::Lazy {
                context: context.clone(),
                build,
                built: OnceLock::new(),
            }),
            capabilities,
        }
    }

    /// The shared part, built now if it is not yet.
    ///
    /// # Errors
    /// A built-in's build error (a missing key).
    #[cfg(all(test, feature = "gemini"))]
    pub(crate) fn built(&self) -> Result<Arc<Shared<P>>> {
        self.source.shared(&self.name)
    }

    /// What every model declares.
    pub(crate) fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// The shared part, when built.
    pub(crate) fn shared(&self) -> Option<&Shared<P>> {
        match &*self.source {
            Source::Ready(shared) => Some(shared),
            Source::Lazy { built, .. } => built.get().map(|s| &**s),
        }
    }
}

impl<P: Protocol> Provider for HttpProvider<P> {
    fn name(&self) -> &str {
        &self.name
    }

    fn model(&self, id: &str) -> Result<Arc<dyn Model>> {
        Ok(Arc::new(HttpModel {
            source: Arc::clone(&self.source),
            target: Target::new(&self.name, id)?,
            capabilities: self.capabilities.clone(),
            urls: Default::default(),
        }))
    }
}

impl<P: Protocol> fmt::Debug for HttpProvider<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("HttpProvider");
        d.field("name", &self.name);
        match self.shared() {
            Some(shared) => d
                .field("settings", shared.client().settings())
                .field("protocol", shared.protocol()),
            None => d.field("client", &"from the environment on first use"),
        };
        d.field("capabilities", self.capabilities()).finish()
    }
}

/// One model of an [`HttpProvider`].
struct HttpModel<P> {
    source: Arc<Source<P>>,
    target: Target,
    capabilities: Capabilities,
    /// The call's URL, `[plain, streaming]`, parsed on first use: a
    /// protocol's path depends only on the model and the kind of call.
    urls: [OnceLock<CallUrl>; 2],
}

impl<P: Protocol> HttpModel<P> {
    /// The serialized body of a call.
    ///
    /// Without images nothing is fetched, so the body is built in one poll,
    /// on the stack: the builder's future (sized for image fetches) does not
    /// sit in every call's future. With images it is boxed (ADR 0021).
    async fn body(
        &self,
        shared: &Shared<P>,
        request: &Request,
        streaming: bool,
    ) -> Result<Vec<u8>> {
        let call = Call {
            provider: self.target.provider(),
            model: self.target.model(),
            client: &shared.client,
        };
        if !crate::llm::request::has_images(request.messages()) {
            if let Some(body) = shared
                .protocol
                .body(call, request, streaming)
                .now_or_never()
            {
                return body;
            }
        }
        Box::pin(shared.protocol.body(call, request, streaming)).await
    }

    /// Sends `body`: the URL and headers were built once, and are cloned.
    async fn post(
        &self,
        shared: &Shared<P>,
        body: Vec<u8>,
        streaming: bool,
    ) -> Result<HttpResponse> {
        let protocol = &shared.protocol;
        let url = self.urls[usize::from(streaming)].get_or_init(|| {
            shared
                .client
                .call_url(&protocol.path(self.target.model(), streaming))
        });
        let headers = shared.headers[usize::from(streaming)].clone();
        shared
            .client
            .post(url, headers, body, streaming)
            .await
            .map_err(|e| protocol.refine(e))
    }

    async fn generate_inner(&self, request: &Request, span: &CallSpan) -> Result<Response> {
        let shared = self.source.shared(self.target.provider())?;
        span.server(shared.client.settings().base_url());
        // Building the body (image fetches included) is not part of the
        // request timeout; the exchange after it is, as one deadline.
        let body = self.body(&shared, request, false).await?;
        let bytes = shared
            .client
            .generate_deadline(async {
                let answer = self.post(&shared, body, false).await?;
                answer.bytes().await
            })
            .await?;
        shared
            .protocol
            .answer(&bytes, &self.target, shared.client.credential())
    }

    async fn stream_inner(&self, request: &Request, span: &CallSpan) -> Result<EventStream> {
        let target = &self.target;
        let shared = self.source.shared(target.provider())?;
        span.server(shared.client.settings().base_url());
        let body = self.body(&shared, request, true).await?;
        let answer = self.post(&shared, body, true).await?;
        let model = Arc::new(OnceLock::new());
        let (framing, handler) = shared
            .protocol
            .stream(Arc::clone(&model), shared.client.credential().cloned());
        let mut events = Box::pin(body::event_stream(answer, framing, handler, target.clone()));
        if !P::WAIT_FOR_FIRST_EVENT {
            if P::REFINE_STREAM_ERRORS {
                let refined = events.map(move |item| item.map_err(|e| shared.protocol.refine(e)));
                return Ok(EventStream::new(target.provider(), target.model(), refined));
            }
            return Ok(EventStream::new(target.provider(), target.model(), events));
        }
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

impl<P: Protocol> Model for HttpModel<P> {
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn protocol(&self) -> Option<&str> {
        Some(P::PROTOCOL)
    }

    // The request stays in the call's box and is lent below.
    crate::llm::model::boxed_model_calls! {
        model;
        generate(request) {
            Box::pin(async move {
                let span = CallSpan::start(P::PROTOCOL, &model.target, &request, false);
                let result = await_in_span!(model.generate_inner(&request, &span), span.span())
                    .map(|mut response| {
                        response.protocol = Some(P::PROTOCOL.into());
                        response
                    })
                    .map_err(|e| e.or_target(&model.target));
                span.finish(&result);
                result
            })
        }
        stream(request) {
            Box::pin(async move {
                let span = CallSpan::start(P::PROTOCOL, &model.target, &request, true);
                let result = await_in_span!(model.stream_inner(&request, &span), span.span());
                match result {
                    Ok(stream) => Ok(span.stream(
                        stream.with_protocol(P::PROTOCOL),
                        P::WAIT_FOR_FIRST_EVENT,
                    )),
                    Err(e) => {
                        let e = e.or_target(&model.target);
                        span.failed(&e);
                        Err(e)
                    }
                }
            })
        }
    }
}
