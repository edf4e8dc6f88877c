//! Failover chains: a [`Chain`] tries its targets in order and implements
//! [`Model`], so callers cannot tell a chain from a single model.
//!
//! NOTE: this is the interface the registry builds on. The executor (retries,
//! health, skips, observer) is the chain issue's work; until it lands the chain
//! calls its first target only.

mod config;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

pub use config::ChainConfig;

use crate::health::HealthTracker;
use crate::{
    Capabilities, Error, EventStream, Model, ReasoningLevel, Request, Response, Result, Target,
};

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
        Chain {
            targets: targets.into(),
            health,
            config,
            capabilities: Capabilities::unknown(),
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

    fn first(&self, request: &mut Request) -> Result<&ChainTarget> {
        let first = self
            .targets
            .first()
            .ok_or_else(|| Error::config("empty chain"))?;
        if let Some(level) = first.reasoning {
            request.set_reasoning(Some(level));
        }
        Ok(first)
    }
}

#[async_trait]
impl Model for Chain {
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn generate(&self, mut request: Request) -> Result<Response> {
        let first = self.first(&mut request)?;
        first.model.generate(request).await
    }

    async fn stream(&self, mut request: Request) -> Result<EventStream> {
        let first = self.first(&mut request)?;
        first.model.stream(request).await
    }
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
