//! The built-in tables: which providers `Registry::new()` registers by name,
//! and which DSN schemes it understands.
//!
//! This is the one place an HTTP provider is wired in: when a client lands,
//! replace its [`NotBuilt`] entries below with the real constructor. Rules for
//! entries:
//! - A built-in provider must not fail to construct when its key is missing:
//!   it reads its standard variables (through `env`, never `std::env`) when
//!   first used, and a missing key is a permanent error at call time.
//! - A scheme factory calls [`Dsn::reject_unknown_options`] with the options
//!   its protocol knows, so a typo in an `LLM_*` variable is an error naming
//!   the variable and the option.

use std::sync::Arc;

use super::not_built::NotBuilt;
use crate::registry::{EnvLookup, SchemeFactory};
use crate::{Dsn, Provider, Result};

/// Options every HTTP scheme accepts.
const COMMON_OPTIONS: &[&str] = &["timeout", "connect_timeout"];

/// The providers registered by name: `openai`, `anthropic`, `ollama`, `gemini`.
pub(crate) fn providers(env: &EnvLookup) -> Vec<Arc<dyn Provider>> {
    // Not built yet; the real clients will read OPENAI_API_KEY, OPENAI_BASE_URL,
    // ANTHROPIC_API_KEY, OLLAMA_HOST and GEMINI_API_KEY through `env`.
    let _ = env;
    vec![
        Arc::new(NotBuilt::new("openai", "openai")),
        Arc::new(NotBuilt::new("anthropic", "anthropic")),
        Arc::new(NotBuilt::new("ollama", "ollama")),
        Arc::new(NotBuilt::new("gemini", "gemini")),
    ]
}

/// The DSN schemes: `openai`, `anthropic`, `ollama`, `gemini`, `foreman`.
pub(crate) fn schemes() -> Vec<(&'static str, Arc<dyn SchemeFactory>)> {
    vec![
        ("openai", not_built("openai", &[])),
        ("anthropic", not_built("anthropic", &["version"])),
        ("ollama", not_built("ollama", &[])),
        ("gemini", not_built("gemini", &[])),
        ("foreman", not_built("foreman", &[])),
    ]
}

/// A factory that validates the DSN's options like the real one will, then
/// builds a [`NotBuilt`] placeholder.
fn not_built(
    protocol: &'static str,
    extra_options: &'static [&'static str],
) -> Arc<dyn SchemeFactory> {
    Arc::new(move |name: &str, dsn: &Dsn| -> Result<Arc<dyn Provider>> {
        let known: Vec<&str> = COMMON_OPTIONS
            .iter()
            .chain(extra_options)
            .copied()
            .collect();
        dsn.reject_unknown_options(&known)?;
        for option in COMMON_OPTIONS {
            dsn.duration_option(option)?;
        }
        Ok(Arc::new(NotBuilt::new(name, protocol)))
    })
}
