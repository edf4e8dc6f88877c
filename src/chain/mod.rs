//! Failover chains: a [`Chain`] tries its targets in order and implements
//! [`Model`], so callers cannot tell a chain from a single model — except that
//! a chain keeps answering when targets fail (design §6, ADR 0006).
//!
//! | error class | chain action | health |
//! | --- | --- | --- |
//! | transient | retry the same target (`transient_retries`, budget), then advance | failure |
//! | model-not-found | advance | none |
//! | request-specific | advance | none |
//! | permanent | return at once (advance with `advance_on_permanent`) | none |
//! | cancelled | return at once | none |

mod budget;
mod config;
mod event;
mod executor;
mod stream;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;

pub use budget::RetryBudget;
pub use config::ChainConfig;
pub use event::{FailoverAction, FailoverEvent, FailoverObserver};

use crate::health::HealthTracker;
use crate::{Capabilities, EventStream, Model, ReasoningLevel, Request, Response, Result, Target};
use executor::Op;
use stream::{StreamOp, Tail};

/// One resolved element of a chain: the target, its `#reasoning` suffix if
/// any, and the model that serves it.
#[derive(Clone)]
#[non_exhaustive]
pub struct ChainTarget {
    /// `provider/model-id`.
    pub target: Target,
    /// The `#level` suffix from the spec; it overrides the request's level for
    /// this target.
    pub reasoning: Option<ReasoningLevel>,
    /// The model to call.
    pub model: Arc<dyn Model>,
}

impl ChainTarget {
    /// A chain element.
    pub fn new(target: Target, reasoning: Option<ReasoningLevel>, model: Arc<dyn Model>) -> Self {
        ChainTarget {
            target,
            reasoning,
            model,
        }
    }
}

impl fmt::Display for ChainTarget {
    /// `provider/model-id` or `provider/model-id#level`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reasoning {
            Some(level) => write!(f, "{}#{level}", self.target),
            None => write!(f, "{}", self.target),
        }
    }
}

impl fmt::Debug for ChainTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainTarget({self})")
    }
}

/// A failover chain over resolved targets.
///
/// For each target in order: skip it while benched; skip it, without
/// penalty, when it declares it lacks a capability the request needs; call it
/// and act on the error's class (see the module table). The `Response` lists
/// every step in `attempts`; when all targets fail the error does
/// ([`crate::ErrorKind::Exhausted`]). Errors returned by a chain carry the
/// request's call context.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> majordomo::Result<()> {
/// use std::sync::Arc;
/// use majordomo::health::{FakeClock, HealthConfig, HealthTracker};
/// use majordomo::providers::fake::{FakeProvider, Outcome};
/// use majordomo::{Chain, ChainConfig, ChainTarget, Error, Model, Provider, Request, Target};
///
/// let fake = FakeProvider::new("fake");
/// fake.push("a", Outcome::error(Error::rate_limited(None)))
///     .push("a", Outcome::error(Error::rate_limited(None)))
///     .push("b", Outcome::text("hi from b"));
/// let targets = ["a", "b"]
///     .iter()
///     .map(|m| Ok(ChainTarget::new(Target::new("fake", m)?, None, fake.model(m)?)))
///     .collect::<majordomo::Result<Vec<_>>>()?;
/// let health = HealthTracker::new(HealthConfig::default(), Arc::new(FakeClock::new()));
/// let chain = Chain::new(targets, health, Arc::new(ChainConfig::default()));
/// let reply = chain.generate(Request::new().user("hi")).await?;
/// assert_eq!(reply.text(), "hi from b");
/// assert_eq!(reply.attempts.len(), 3); // a failed, a retried and failed, b ok
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Chain {
    targets: Arc<[ChainTarget]>,
    health: HealthTracker,
    config: Arc<ChainConfig>,
    capabilities: Capabilities,
}

impl Chain {
    /// A chain over `targets`, in order.
    pub fn new(targets: Vec<ChainTarget>, health: HealthTracker, config: Arc<ChainConfig>) -> Self {
        let capabilities = combined_capabilities(&targets);
        Chain {
            targets: targets.into(),
            health,
            config,
            capabilities,
        }
    }

    /// The targets, in order.
    pub fn targets(&self) -> &[ChainTarget] {
        &self.targets
    }

    /// The health tracker the chain reports to.
    pub fn health(&self) -> &HealthTracker {
        &self.health
    }

    /// The chain's settings.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }
}

/// A chain serves a request when some target can, because it skips the
/// targets that declare they cannot: a flag is `Some(true)` when any target
/// declares it, `Some(false)` when every target declares it lacking, and
/// unknown otherwise. Sizes are the largest any target declares.
fn combined_capabilities(targets: &[ChainTarget]) -> Capabilities {
    let all: Vec<&Capabilities> = targets.iter().map(|t| t.model.capabilities()).collect();
    let flag = |get: fn(&Capabilities) -> Option<bool>| {
        if all.iter().any(|c| get(c) == Some(true)) {
            Some(true)
        } else if !all.is_empty() && all.iter().all(|c| get(c) == Some(false)) {
            Some(false)
        } else {
            None
        }
    };
    let size = |get: fn(&Capabilities) -> Option<u32>| all.iter().filter_map(|c| get(c)).max();
    Capabilities {
        streaming: flag(|c| c.streaming),
        tools: flag(|c| c.tools),
        images: flag(|c| c.images),
        json_schema: flag(|c| c.json_schema),
        reasoning: flag(|c| c.reasoning),
        context_window: size(|c| c.context_window),
        max_output_tokens: size(|c| c.max_output_tokens),
    }
}

/// `Model::generate`.
struct GenerateOp;

impl Op for GenerateOp {
    type Output = Response;
    const STREAMING: bool = false;

    fn call<'a>(
        &'a self,
        model: &'a dyn Model,
        request: Request,
    ) -> BoxFuture<'a, Result<Self::Output>> {
        model.generate(request)
    }
}

#[async_trait]
impl Model for Chain {
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn generate(&self, mut request: Request) -> Result<Response> {
        request.renew_media_cache();
        let span = tracing::info_span!(
            "gen_ai.chain",
            gen_ai.operation.name = "chat",
            majordomo.chain = %self,
        );
        let answer =
            tracing::Instrument::instrument(self.execute(&GenerateOp, request), span).await?;
        let mut response = answer.output;
        if response.provider.is_empty() {
            response.provider = answer.target.provider().to_owned();
        }
        if response.model.is_empty() {
            response.model = answer.target.model().to_owned();
        }
        response.attempts = answer.attempts;
        Ok(response)
    }

    async fn stream(&self, mut request: Request) -> Result<EventStream> {
        request.renew_media_cache();
        let span = tracing::info_span!(
            "gen_ai.chain",
            gen_ai.operation.name = "chat",
            majordomo.chain = %self,
            majordomo.streaming = true,
        );
        let context = request.call_context().clone();
        let answer =
            tracing::Instrument::instrument(self.execute(&StreamOp, request), span).await?;
        let target = answer.target;
        let provider = non_empty_or(answer.output.rest.provider(), target.provider());
        let model = non_empty_or(answer.output.rest.model(), target.model());
        let tail = Tail {
            health: self.health.clone(),
            config: Arc::clone(&self.config),
            target,
            attempt: answer.attempt,
            context,
            _probe: answer.probe,
        };
        Ok(
            EventStream::new(provider, model, tail.into_stream(answer.output))
                .with_attempts(answer.attempts),
        )
    }
}

fn non_empty_or(value: &str, fallback: &str) -> String {
    if value.is_empty() { fallback } else { value }.to_owned()
}

impl fmt::Display for Chain {
    /// The canonical spec: targets joined by `,`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.targets.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain")
            .field("targets", &self.targets)
            .field("config", &self.config)
            .finish()
    }
}
