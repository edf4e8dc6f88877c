//! Ollama's native `/api/chat`.
//!
//! STUB: being built; every call fails with a "not built" error until then.

use std::sync::Arc;

use crate::providers::not_built::NotBuilt;
use crate::registry::EnvLookup;
use crate::{Dsn, Provider, Result};

/// The built-in `ollama` provider, reading its standard variables through `env`
/// when first used (never at construction).
pub(crate) fn builtin(env: &EnvLookup) -> Arc<dyn Provider> {
    let _ = env;
    Arc::new(NotBuilt::new("ollama", "ollama"))
}

/// Builds the provider `name` from a `ollama://` DSN.
pub(crate) fn from_dsn(name: &str, dsn: &Dsn) -> Result<Arc<dyn Provider>> {
    let _ = dsn;
    Ok(Arc::new(NotBuilt::new(name, "ollama")))
}
