//! A scriptable in-process provider for tests — ours and our users'.
//!
//! Per model it keeps a queue of [`Outcome`]s (a response, an error of any
//! class, a stream of events, a delay then an outcome), a default outcome for
//! when the queue is empty, capability overrides, and a record of every request
//! it received. Delays use tokio time, so tests run under paused time and never
//! sleep for real.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> majordomo::Result<()> {
//! use majordomo::{Error, Model, Provider, Request};
//! use majordomo::providers::fake::{FakeProvider, Outcome};
//!
//! let fake = FakeProvider::new("fake");
//! fake.push("m", Outcome::error(Error::overloaded()))
//!     .push("m", Outcome::text("hello"));
//! let model = fake.model("m")?;
//! assert!(model.generate(Request::new().user("hi")).await.is_err());
//! assert_eq!(model.generate(Request::new().user("hi")).await?.text(), "hello");
//! assert_eq!(fake.calls("m"), 2);
//! # Ok(()) }
//! ```

mod outcome;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

pub use outcome::{Outcome, StreamStep};

use crate::sync::LockUnpoisoned as _;
use crate::{Capabilities, Error, EventStream, Model, Provider, Request, Response, Result, Target};

/// A scriptable provider. Clones share their scripts and recordings, so a test
/// keeps one handle and registers another.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> majordomo::Result<()> {
/// use majordomo::providers::fake::{FakeProvider, Outcome};
/// use majordomo::{Error, Model, Registry, Request};
///
/// let fake = FakeProvider::new("fake");
/// fake.push("a", Outcome::error(Error::overloaded()))
///     .push("a", Outcome::error(Error::overloaded()))
///     .set_default("b", Outcome::text("from b"));
/// let registry = Registry::builder().without_env().build();
/// registry.register_provider(fake.clone());
///
/// let reply = registry.parse("fake/a,fake/b")?.generate(Request::new().user("hi")).await?;
/// assert_eq!(reply.text(), "from b");
/// assert_eq!(fake.calls("a"), 2); // one retry, then failover
/// assert_eq!(fake.last_request("b").map(|r| r.messages().len()), Some(1));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FakeProvider {
    inner: Arc<Shared>,
}

struct Shared {
    name: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, VecDeque<Outcome>>,
    defaults: HashMap<String, Outcome>,
    default_all: Option<Outcome>,
    capabilities: HashMap<String, Capabilities>,
    default_capabilities: Capabilities,
    requests: HashMap<String, Vec<Request>>,
    calls: HashMap<String, usize>,
    cancelled: HashMap<String, usize>,
}

impl FakeProvider {
    /// A fake provider named `name` with nothing scripted. A call with no
    /// scripted outcome and no default fails with a model-not-found error saying
    /// so, as a real provider does for a model it does not serve.
    pub fn new(name: impl Into<String>) -> Self {
        FakeProvider {
            inner: Arc::new(Shared {
                name: name.into(),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// A fake provider named `name` whose every model answers `text`. The
    /// name is explicit so that registering it never silently replaces a
    /// provider of yours.
    pub fn always_text(name: impl Into<String>, text: impl Into<String>) -> Self {
        let fake = FakeProvider::new(name);
        fake.set_default_all(Outcome::text(text));
        fake
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not make the fake unusable: the state is
        // consistent after every statement, so a poisoned lock is safe to reuse.
        self.inner.state.lock_unpoisoned()
    }

    /// Queues `outcome` for the next call to `model`.
    pub fn push(&self, model: &str, outcome: Outcome) -> &Self {
        self.state()
            .scripts
            .entry(model.to_owned())
            .or_default()
            .push_back(outcome);
        self
    }

    /// Queues several outcomes for `model`, in order.
    pub fn push_all(&self, model: &str, outcomes: impl IntoIterator<Item = Outcome>) -> &Self {
        self.state()
            .scripts
            .entry(model.to_owned())
            .or_default()
            .extend(outcomes);
        self
    }

    /// The outcome for `model` once its queue is empty.
    pub fn set_default(&self, model: &str, outcome: Outcome) -> &Self {
        self.state().defaults.insert(model.to_owned(), outcome);
        self
    }

    /// The outcome for any model without a queue entry or its own default.
    pub fn set_default_all(&self, outcome: Outcome) -> &Self {
        self.state().default_all = Some(outcome);
        self
    }

    /// Declares `model`'s capabilities. Applies to models obtained after this call.
    pub fn set_capabilities(&self, model: &str, capabilities: Capabilities) -> &Self {
        self.state()
            .capabilities
            .insert(model.to_owned(), capabilities);
        self
    }

    /// Declares capabilities for models without their own declaration.
    pub fn set_default_capabilities(&self, capabilities: Capabilities) -> &Self {
        self.state().default_capabilities = capabilities;
        self
    }

    /// Calls made to `model` (`generate` and `stream`).
    pub fn calls(&self, model: &str) -> usize {
        self.state().calls.get(model).copied().unwrap_or(0)
    }

    /// Calls to `model` that were cancelled: dropped before they answered,
    /// or (for a stream) before it ended, as a chain drops the loser of a
    /// hedge race or a call past its deadline.
    pub fn cancelled(&self, model: &str) -> usize {
        self.state().cancelled.get(model).copied().unwrap_or(0)
    }

    /// Calls made to every model.
    pub fn total_calls(&self) -> usize {
        self.state().calls.values().sum()
    }

    /// The requests `model` received, in order.
    pub fn requests(&self, model: &str) -> Vec<Request> {
        self.state()
            .requests
            .get(model)
            .cloned()
            .unwrap_or_default()
    }

    /// The last request `model` received.
    pub fn last_request(&self, model: &str) -> Option<Request> {
        self.state()
            .requests
            .get(model)
            .and_then(|r| r.last().cloned())
    }

    /// Outcomes still queued for `model`.
    pub fn remaining(&self, model: &str) -> usize {
        self.state().scripts.get(model).map_or(0, VecDeque::len)
    }

    fn count_cancelled(&self, target: &Target) {
        *self
            .state()
            .cancelled
            .entry(target.model().to_owned())
            .or_default() += 1;
    }

    /// Records the call and takes the outcome for it.
    fn take(&self, model: &str, request: &Request) -> Outcome {
        let mut state = self.state();
        *state.calls.entry(model.to_owned()).or_default() += 1;
        state
            .requests
            .entry(model.to_owned())
            .or_default()
            .push(request.clone());
        if let Some(outcome) = state.scripts.get_mut(model).and_then(VecDeque::pop_front) {
            return outcome;
        }
        if let Some(outcome) = state.defaults.get(model) {
            return outcome.clone();
        }
        if let Some(outcome) = &state.default_all {
            return outcome.clone();
        }
        // An unscripted model behaves like a model the provider does not serve:
        // a chain advances past it without penalty, which is what a test that
        // scripted only the first failure of a target expects.
        Outcome::error(
            Error::new(
                crate::ErrorKind::ModelNotFound,
                format!(
                    "fake provider {:?}: no outcome scripted for model {model:?} and no default set",
                    self.inner.name
                ),
            )
            .with_model(model),
        )
    }
}

impl Provider for FakeProvider {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn model(&self, id: &str) -> Result<Arc<dyn Model>> {
        let target = Target::new(&self.inner.name, id)?;
        let capabilities = {
            let state = self.state();
            state
                .capabilities
                .get(id)
                .cloned()
                .unwrap_or_else(|| state.default_capabilities.clone())
        };
        Ok(Arc::new(FakeModel {
            provider: self.clone(),
            target,
            capabilities,
        }))
    }
}

impl fmt::Debug for FakeProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeProvider")
            .field("name", &self.inner.name)
            .field("calls", &self.total_calls())
            .finish()
    }
}

/// A model of the [`FakeProvider`].
struct FakeModel {
    provider: FakeProvider,
    target: Target,
    capabilities: Capabilities,
}

#[async_trait]
impl Model for FakeModel {
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn protocol(&self) -> Option<&str> {
        Some("fake")
    }

    async fn generate(&self, request: Request) -> Result<Response> {
        let outcome = self.provider.take(self.target.model(), &request);
        let watch = Watch::new(self);
        let result = outcome.into_response(&self.target).await;
        watch.finish();
        result
    }

    async fn stream(&self, request: Request) -> Result<EventStream> {
        let outcome = self.provider.take(self.target.model(), &request);
        let watch = Watch::new(self);
        let stream = match outcome.into_stream(&self.target).await {
            Ok(stream) => stream,
            Err(error) => {
                watch.finish();
                return Err(error);
            }
        };
        // The stream outlives this call: its watch owns what it needs.
        watch.finish();
        let watch = StreamWatch {
            provider: self.provider.clone(),
            target: self.target.clone(),
            finished: false,
        };
        let (provider, model) = (stream.provider().to_owned(), stream.model().to_owned());
        let events = futures::stream::unfold(Some((stream, watch)), |state| async move {
            let (mut stream, watch) = state?;
            match futures::StreamExt::next(&mut stream).await {
                Some(item) => Some((item, Some((stream, watch)))),
                None => {
                    let mut watch = watch;
                    watch.finished = true;
                    None
                }
            }
        });
        Ok(EventStream::new(provider, model, events))
    }
}

/// Counts a call as cancelled when dropped before [`Watch::finish`]. Small
/// (a reference and a flag), so the fake's call futures stay small.
struct Watch<'a> {
    model: &'a FakeModel,
    finished: bool,
}

impl<'a> Watch<'a> {
    fn new(model: &'a FakeModel) -> Self {
        Watch {
            model,
            finished: false,
        }
    }

    fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.model.provider.count_cancelled(&self.model.target);
        }
    }
}

/// [`Watch`] for an open stream, which outlives the call that opened it.
struct StreamWatch {
    provider: FakeProvider,
    target: Target,
    finished: bool,
}

impl Drop for StreamWatch {
    fn drop(&mut self) {
        if !self.finished {
            self.provider.count_cancelled(&self.target);
        }
    }
}
