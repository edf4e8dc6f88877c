//! [`LaneProvider`]: the decorator that sends every call of a provider's models
//! through a lane, and [`LaneLayer`], its factory.

use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use super::lane::Lane;
use super::registry::LaneRegistry;
use crate::attribution::{attribute, attribute_stream};
use crate::{
    Capabilities, EventStream, Model, Provider, ProviderLayer, Request, Response, Result, Target,
};

type MapFn = dyn Fn(&Target) -> String + Send + Sync;

/// Which lane a `provider/model` target's calls go through.
///
/// ```
/// use majordomo::Target;
/// use majordomo::lanes::LaneMap;
/// let target: Target = "ollama/llama3".parse()?;
/// assert_eq!(LaneMap::per_model().lane_for(&target), "ollama/llama3");
/// assert_eq!(LaneMap::per_provider().lane_for(&target), "ollama");
/// assert_eq!(LaneMap::shared("gpu").lane_for(&target), "gpu");
/// # Ok::<(), majordomo::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct LaneMap {
    map: Option<Arc<MapFn>>,
}

impl LaneMap {
    /// One lane per `provider/model`, named after it. The default.
    pub fn per_model() -> Self {
        LaneMap { map: None }
    }

    /// One lane per provider, named after it.
    pub fn per_provider() -> Self {
        LaneMap::from_fn(|target| target.provider().to_owned())
    }

    /// Every target through the one lane `name`.
    pub fn shared(name: impl Into<String>) -> Self {
        let name: String = name.into();
        LaneMap::from_fn(move |_| name.clone())
    }

    /// The host's own mapping from target to lane name.
    pub fn from_fn(map: impl Fn(&Target) -> String + Send + Sync + 'static) -> Self {
        LaneMap {
            map: Some(Arc::new(map)),
        }
    }

    /// The lane name for `target`.
    pub fn lane_for(&self, target: &Target) -> String {
        match &self.map {
            Some(map) => map(target),
            None => target.as_str().to_owned(),
        }
    }
}

impl fmt::Debug for LaneMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.map {
            Some(_) => "LaneMap(custom)",
            None => "LaneMap(per_model)",
        })
    }
}

/// Makes [`LaneProvider`]s that share one [`LaneRegistry`] and [`LaneMap`].
#[derive(Debug, Clone)]
pub struct LaneLayer {
    registry: LaneRegistry,
    map: LaneMap,
}

impl LaneLayer {
    /// Lanes from `registry`, one per `provider/model`.
    pub fn new(registry: LaneRegistry) -> Self {
        LaneLayer {
            registry,
            map: LaneMap::per_model(),
        }
    }

    /// Chooses lanes with `map` instead.
    pub fn map(mut self, map: LaneMap) -> Self {
        self.map = map;
        self
    }
}

impl ProviderLayer for LaneLayer {
    fn layer(&self, inner: Arc<dyn Provider>) -> Arc<dyn Provider> {
        Arc::new(LaneProvider::with_map(
            inner,
            self.registry.clone(),
            self.map.clone(),
        ))
    }
}

/// A provider whose models run every `generate` and `stream` call through a
/// lane of a [`LaneRegistry`], queued fairly by the request's caller id
/// ([`crate::CallContext::caller_id`]).
///
/// - `generate` holds its slot for the whole call, bounded by the lane's
///   execution deadline, which starts when the slot is granted.
/// - `stream` holds its slot only while the stream is being opened; reading
///   it afterwards takes no slot, so a slow reader cannot block the lane.
/// - Every error passing through carries the request's call context.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> majordomo::Result<()> {
/// use std::sync::Arc;
/// use majordomo::lanes::{LaneProvider, LaneRegistry};
/// use majordomo::providers::fake::FakeProvider;
/// use majordomo::{Model, Provider, Request};
///
/// let lanes = LaneRegistry::builder().caps(|_: &str| Some(4)).build();
/// let provider = LaneProvider::new(Arc::new(FakeProvider::always_text("fake", "hi")), lanes.clone());
/// let reply = provider.model("m")?.generate(Request::new().user("hello").caller("alice")).await?;
/// assert_eq!(reply.text(), "hi");
/// assert_eq!(lanes.get("fake/m").map(|l| l.stats().running), Some(0));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct LaneProvider {
    inner: Arc<dyn Provider>,
    registry: LaneRegistry,
    map: LaneMap,
}

impl LaneProvider {
    /// Wraps `inner`, one lane per `provider/model`.
    pub fn new(inner: Arc<dyn Provider>, registry: LaneRegistry) -> Self {
        LaneProvider::with_map(inner, registry, LaneMap::per_model())
    }

    /// Wraps `inner`, choosing lanes with `map`.
    pub fn with_map(inner: Arc<dyn Provider>, registry: LaneRegistry, map: LaneMap) -> Self {
        LaneProvider {
            inner,
            registry,
            map,
        }
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &Arc<dyn Provider> {
        &self.inner
    }

    /// The registry the lanes come from.
    pub fn registry(&self) -> &LaneRegistry {
        &self.registry
    }

    /// Unwraps the inner provider.
    pub fn into_inner(self) -> Arc<dyn Provider> {
        self.inner
    }
}

impl Provider for LaneProvider {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn model(&self, id: &str) -> Result<Arc<dyn Model>> {
        let inner = self.inner.model(id)?;
        let target = Target::new(self.inner.name(), id)?;
        Ok(Arc::new(LaneModel {
            lane_name: self.map.lane_for(&target),
            registry: self.registry.clone(),
            lane: OnceLock::new(),
            inner,
            target,
        }))
    }
}

/// One model of a [`LaneProvider`].
struct LaneModel {
    inner: Arc<dyn Model>,
    target: Target,
    registry: LaneRegistry,
    lane_name: String,
    // Lanes are never removed from a registry, so the lane can be looked up
    // once, on the first call (lanes are created on first use, not on mint).
    lane: OnceLock<Lane>,
}

impl LaneModel {
    fn lane(&self) -> &Lane {
        self.lane
            .get_or_init(|| self.registry.lane(&self.lane_name))
    }
}

#[async_trait]
impl Model for LaneModel {
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }

    fn protocol(&self) -> Option<&str> {
        self.inner.protocol()
    }

    async fn generate(&self, request: Request) -> Result<Response> {
        let context = request.call_context().clone();
        let caller = context.caller_id.clone();
        let watch = request.queue_watch().clone();
        self.lane()
            .run_as(caller, &watch, self.inner.generate(request))
            .await
            .map_err(|e| attribute(e.or_target(&self.target), &context))
    }

    async fn stream(&self, request: Request) -> Result<EventStream> {
        let context = request.call_context().clone();
        let caller = context.caller_id.clone();
        // Only opening runs in the lane: the slot is released as soon as the
        // stream is handed back, before the caller reads a single event.
        let watch = request.queue_watch().clone();
        let opened = self
            .lane()
            .run_as(caller, &watch, self.inner.stream(request))
            .await;
        match opened {
            Ok(stream) => Ok(attribute_stream(stream, context)),
            Err(e) => Err(attribute(e.or_target(&self.target), &context)),
        }
    }
}
