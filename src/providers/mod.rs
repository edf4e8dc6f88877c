//! Providers: the scriptable [`fake`] (always built) and the HTTP clients
//! `openai`, `anthropic`, `ollama` and `gemini`, each behind its cargo feature,
//! over the shared `http` plumbing.

pub(crate) mod builtin;
pub mod fake;
mod not_built;

#[cfg(feature = "http")]
pub mod http;

#[cfg(feature = "anthropic")]
pub mod anthropic;
#[cfg(feature = "gemini")]
pub mod gemini;
#[cfg(feature = "ollama")]
pub mod ollama;
#[cfg(feature = "openai")]
pub mod openai;
