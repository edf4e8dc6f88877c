//! Providers: the scriptable [`fake`] (always built) and, behind features, the
//! HTTP clients.

pub(crate) mod builtin;
pub mod fake;
mod not_built;
