//! Providers: the scriptable [`fake`] (always built) and, behind features, the
//! HTTP clients.

pub mod fake;
