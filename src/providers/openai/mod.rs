//! OpenAI Chat Completions: OpenAI itself, every OpenAI-compatible server (vLLM, llama.cpp, LM Studio, OpenRouter, Groq…) through a base URL, and `foreman`.
//!
//! STUB: being built; every call fails with a "not built" error until then.

use std::sync::Arc;

use crate::providers::not_built::NotBuilt;
use crate::registry::EnvLookup;
use crate::{Dsn, Provider, Result};

/// The built-in `openai` provider, reading its standard variables through `env`
/// when first used (never at construction).
pub(crate) fn builtin(env: &EnvLookup) -> Arc<dyn Provider> {
    let _ = env;
    Arc::new(NotBuilt::new("openai", "openai"))
}

/// Builds the provider `name` from a `openai://` DSN.
pub(crate) fn from_dsn(name: &str, dsn: &Dsn) -> Result<Arc<dyn Provider>> {
    let _ = dsn;
    Ok(Arc::new(NotBuilt::new(name, "openai")))
}

/// Builds the provider `name` from a `foreman://` DSN: the OpenAI protocol with
/// a bearer token and a 30-minute default request timeout.
pub(crate) fn foreman_from_dsn(name: &str, dsn: &Dsn) -> Result<Arc<dyn Provider>> {
    let _ = dsn;
    Ok(Arc::new(NotBuilt::new(name, "foreman")))
}
