//! Ollama's native chat API, `POST /api/chat`: a local or remote Ollama
//! server, or ollama.com with a bearer token.
//!
//! - [`OllamaProvider`] / [`OllamaConfig`]: the provider and its builder.
//! - The built-in `ollama` provider reads `OLLAMA_HOST` (`host`,
//!   `host:port`, `http://host:port`, `https://…`; default
//!   `http://127.0.0.1:11434`) and, if set, `OLLAMA_API_KEY` when first used.
//! - `LLM_<NAME>=ollama://host[:port][/path]` builds one from a DSN: plain
//!   HTTP and port 11434 unless the DSN says otherwise (`ollama+https://`);
//!   a credential in the DSN is sent as a bearer token.
//!
//! Mapping (the protocol reference, §4.1): the system prompt is the first
//! `system` message; images are always sent as base64 (URL images are
//! fetched by the media pipeline, since Ollama fetches nothing); tool-call
//! arguments are JSON objects; reasoning levels become `think`; JSON and
//! JSON-schema output become `format`; `stream` is always sent. There is no
//! tool choice in Ollama: `None` offers no tools, a named tool is the only
//! one offered, `Required` cannot be enforced. `think` takes a level
//! (`"low"`, `"medium"`, `"high"`) only for gpt-oss models; others get
//! `true`/`false`, since the servers that brought levels refuse one for
//! other models and older servers take only a boolean. Tool calls without
//! an id (older servers) get `call_<nonce>_0`, `call_<nonce>_1`, …, the
//! nonce unique to the answer, so ids never repeat across the turns of a
//! conversation; a `stop` after tool calls is reported as
//! [`crate::FinishReason::ToolCalls`].
//!
//! **Context overflow is silent by default:** unless asked not to
//! truncate, Ollama drops the oldest messages (keeping the system prompt
//! and the latest turn) to fit the model's context window and answers
//! normally, so a request that is too long does not fail over. A server
//! that refuses instead ("prompt is longer than the context length") gives
//! a request-specific error. `"x" does not support tools` (or thinking,
//! images) is request-specific too, so a chain moves on to a model that can.

mod config;
mod errors;
mod provider;
mod request;
mod response;
mod stream;
mod wire;

use std::sync::Arc;

pub use config::{DEFAULT_BASE_URL, OllamaConfig, OllamaOptions};
pub use provider::OllamaProvider;

use crate::providers::http::{DEFAULT_REQUEST_TIMEOUT, HttpSettings};
use crate::scheme::BuildContext;
use crate::{Dsn, Provider, Result};

/// The built-in `ollama` provider, reading its standard variables through `env`
/// when first used (never at construction).
pub(crate) fn builtin(context: &BuildContext) -> Arc<dyn Provider> {
    Arc::new(OllamaProvider::from_env("ollama", context))
}

/// Builds the provider `name` from a `ollama://` DSN.
pub(crate) fn from_dsn(name: &str, dsn: &Dsn, context: &BuildContext) -> Result<Arc<dyn Provider>> {
    let settings = context.http(HttpSettings::from_dsn(dsn, DEFAULT_REQUEST_TIMEOUT)?);
    let config = OllamaConfig::from_settings(settings).name(name);
    Ok(Arc::new(OllamaProvider::new(config)?))
}
