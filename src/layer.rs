//! [`ProviderLayer`]: decorators that wrap a [`Provider`] and return a
//! [`Provider`], and [`Layers`], a stack of them with a documented order.
//!
//! This is our counterpart of `tower::Layer`, over trait objects: every model a
//! decorated provider hands out keeps [`crate::Error`] and its class, and a
//! decorator can wrap the returned stream, which a response-future middleware
//! cannot.

use std::fmt;
use std::sync::Arc;

use crate::Provider;

/// Wraps a provider in another provider.
///
/// Implemented by [`crate::TimeoutLayer`] and [`crate::lanes::LaneLayer`];
/// hosts implement it for their own decorators.
pub trait ProviderLayer: Send + Sync {
    /// A provider whose models apply this layer's behaviour around `inner`'s.
    fn layer(&self, inner: Arc<dyn Provider>) -> Arc<dyn Provider>;
}

impl<L: ProviderLayer + ?Sized> ProviderLayer for Arc<L> {
    fn layer(&self, inner: Arc<dyn Provider>) -> Arc<dyn Provider> {
        (**self).layer(inner)
    }
}

/// A stack of [`ProviderLayer`]s applied in one go.
///
/// # Order
///
/// The first layer added is the outermost: it sees each call first and its
/// result last. The order changes behaviour. With the lane outside the
/// timeout, the timeout starts when the call leaves the lane's queue; with the
/// timeout outside the lane, the timeout also bounds the time spent queued (a
/// congested lane then fails over to the chain's next target; a deadline that
/// passes while the call is still queued is request-specific, not transient,
/// because the target never saw the call, so its health does not pay).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> majordomo::Result<()> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use majordomo::lanes::{LaneLayer, LaneRegistry};
/// use majordomo::providers::fake::FakeProvider;
/// use majordomo::{Deadlines, Layers, Model, Provider, Request, TimeoutLayer};
///
/// let lanes = LaneRegistry::default();
/// let provider = Layers::new()
///     .layer(LaneLayer::new(lanes.clone()))
///     .layer(TimeoutLayer::new(Deadlines::new().generate(Duration::from_secs(30))))
///     .wrap(Arc::new(FakeProvider::always_text("fake", "hi")));
/// let reply = provider.model("m")?.generate(Request::new().user("hello")).await?;
/// assert_eq!(reply.text(), "hi");
/// assert_eq!(lanes.names(), ["fake/m"]);
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Layers {
    layers: Vec<Arc<dyn ProviderLayer>>,
}

impl Layers {
    /// An empty stack: [`Layers::wrap`] returns the provider unchanged.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `layer` inside the layers added so far.
    pub fn layer(mut self, layer: impl ProviderLayer + 'static) -> Self {
        self.layers.push(Arc::new(layer));
        self
    }

    /// How many layers the stack holds.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True when the stack holds no layer.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// `provider` wrapped in every layer, the first added outermost.
    pub fn wrap(&self, provider: Arc<dyn Provider>) -> Arc<dyn Provider> {
        self.layers
            .iter()
            .rev()
            .fold(provider, |inner, layer| layer.layer(inner))
    }
}

impl ProviderLayer for Layers {
    fn layer(&self, inner: Arc<dyn Provider>) -> Arc<dyn Provider> {
        self.wrap(inner)
    }
}

impl fmt::Debug for Layers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layers")
            .field("len", &self.layers.len())
            .finish()
    }
}
