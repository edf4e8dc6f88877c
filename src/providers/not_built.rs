//! A placeholder for a built-in provider whose HTTP client is compiled out
//! (its cargo feature is off): it resolves like the real one (so specs, aliases and `LLM_*`
//! DSNs naming it parse), and every call fails with a permanent error that says
//! so. It never fails at construction.
// With every provider feature on, nothing needs the placeholder.
#![cfg_attr(
    all(
        feature = "openai",
        feature = "anthropic",
        feature = "ollama",
        feature = "gemini"
    ),
    allow(dead_code)
)]

use std::sync::Arc;

use async_trait::async_trait;

use crate::{Capabilities, Error, ErrorClass, Model, Provider, Request, Response, Result, Target};

/// A provider named `name` that speaks `protocol`, compiled out (its cargo feature is off).
#[derive(Debug, Clone)]
pub(crate) struct NotBuilt {
    name: String,
    protocol: &'static str,
}

impl NotBuilt {
    pub(crate) fn new(name: impl Into<String>, protocol: &'static str) -> Self {
        NotBuilt {
            name: name.into(),
            protocol,
        }
    }
}

impl Provider for NotBuilt {
    fn name(&self) -> &str {
        &self.name
    }

    fn model(&self, id: &str) -> Result<Arc<dyn Model>> {
        let target = Target::new(&self.name, id)?;
        Ok(Arc::new(NotBuiltModel {
            target,
            protocol: self.protocol,
            capabilities: Capabilities::unknown(),
        }))
    }
}

struct NotBuiltModel {
    target: Target,
    protocol: &'static str,
    capabilities: Capabilities,
}

impl NotBuiltModel {
    fn error(&self) -> Error {
        Error::other(
            ErrorClass::Permanent,
            format!(
                "the {} provider is not compiled in: enable majordomo's `{}` cargo feature",
                self.protocol, self.protocol
            ),
        )
        .with_target(&self.target)
    }
}

#[async_trait]
impl Model for NotBuiltModel {
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn generate(&self, _request: Request) -> Result<Response> {
        Err(self.error())
    }
}
